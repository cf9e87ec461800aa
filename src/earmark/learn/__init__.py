"""Training your own models: training runs (:mod:`.train`), evaluation and reports
(:mod:`.evaluate`) and hyper-parameter search (:mod:`.tune`)."""
