"""Listening to songs: whole-song musicnn analysis (:mod:`.songs`), batch embedding into the
catalog (:mod:`.embed`), predictions of trained models (:mod:`.predict`) and figures
(:mod:`.figures`)."""
