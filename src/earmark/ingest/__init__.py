"""Bringing music into the catalog: the scan pipeline (:mod:`.scan`) and labelled-dataset
importers (:mod:`.importers`)."""
