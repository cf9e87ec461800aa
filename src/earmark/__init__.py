"""earmark: listen to a music library.

Decode any audio file, compute the one mel front end every model uses, keep what is known about a
library in a SQLite catalog, tag genres with pretrained models and learn one listener's taste.
Everything is a library call; the ``earmark`` command line is a thin layer on top.
"""

__version__ = "0.1.0"
