"""earmark discover: sources of new music, the crawl, the inbox of candidates.

yt-dlp lives here and nowhere else.
"""
