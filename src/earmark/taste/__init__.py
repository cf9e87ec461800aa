"""One listener's taste: the taste model (:mod:`.model`), active learning (:mod:`.active`),
recommendations (:mod:`.recommend`) and ratings in and out of files and playlists
(:mod:`.ratings_io`).

Nothing is imported here: the command line imports :mod:`.active` and :mod:`.ratings_io` at
start-up, and the model's scikit-learn must not come with them.
"""
