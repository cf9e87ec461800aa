"""A song's audio, by catalog id only: the file as it is when a browser plays its format, else
a FLAC copy made once (:mod:`earmark.audio.transcode`); both answer HTTP Range requests (206)
so the player can seek. No request parameter ever becomes a path: the path comes from the
catalog row of the id.
"""

from __future__ import annotations

import os

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from earmark.audio.decode import content_hash
from earmark.audio.transcode import TRANSCODED_TYPE, browser_type, transcode_for_browser
from earmark.errors import AudioError
from earmark.web.deps import Catalogs, Settings, SongId, song_track

router = APIRouter(tags=["audio"])


@router.get("/api/songs/{song_id}/audio", response_class=FileResponse)
def song_audio(song_id: int = SongId, *, catalogs: Catalogs, settings: Settings) -> FileResponse:
    """The song's audio with Range support; 404 for an id not in the catalog or a file gone
    from disk (with the reason), 422 when the file cannot be decoded for the browser."""
    with catalogs.read() as catalog:
        track = song_track(catalog, song_id)
    try:
        stat = os.stat(track.path)
    except OSError as exc:
        raise HTTPException(404, f"the file of song {song_id} is gone from disk "
                                 f"({track.path}: {exc.strerror}); run earmark scan") from exc
    media_type = browser_type(track.path, track.container, track.codec)
    if media_type is not None:
        return FileResponse(track.path, media_type=media_type, stat_result=stat)
    # The catalog's hash names the copy while the file is as scanned; a file changed since is
    # hashed again, so an old copy is never served for new audio.
    key = (track.content_hash if track.unchanged(stat) and track.content_hash
           else content_hash(track.path))
    try:
        copy = transcode_for_browser(track.path, settings.cache_dir, key)
    except AudioError as exc:
        raise HTTPException(422, f"song {song_id} cannot be played: {exc.reason}") from exc
    return FileResponse(copy, media_type=TRANSCODED_TYPE)
