"""Reading (:mod:`.read`) and safely writing (:mod:`.write`) the tags inside music files.

The only home of mutagen in earmark.
"""
