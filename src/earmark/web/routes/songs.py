"""One song: its page (``/songs/{id}``) and the JSON it is made of, each over the library call
the command line makes for the same thing.

The page itself only reads the catalog (the song's row, file tags and rating history), so it
answers at once; what takes longer is fetched by the page as it loads: genres and tags
(:func:`earmark.tagging.lookup.song_genres` / ``song_tags``, as ``earmark genre`` and
``earmark tags``), similar songs (:func:`earmark.taste.recommend.similar`, ``earmark
similar``), the radio (:func:`earmark.taste.radio.radio`, ``earmark radio``) and the two
pictures (:func:`earmark.tagging.song_images.song_image`). A rating is saved at once
(:func:`earmark.catalog.ratings.add_rating`, ``earmark rate``).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, Field

from earmark.catalog import Catalog, ratings
from earmark.catalog.paths import display_path, library_folder
from earmark.catalog.tracks import Track, song_name
from earmark.errors import EarmarkError
from earmark.models.registry import BOTH
from earmark.settings import EMBEDDING_MODEL
from earmark.tagging.lookup import song_genres, song_tags
from earmark.tagging.song_images import song_image
from earmark.tagging.sources import resolve_genre_model
from earmark.taste.radio import NEIGHBOURHOOD, liking_model, radio
from earmark.taste.ratings_io import m3u_text
from earmark.taste.recommend import QuerySong, similar, stored_query
from earmark.web.deps import Catalogs, Settings, SongId, render, song_track

router = APIRouter(tags=["songs"])

#: How many songs one radio request may queue, and how many queued ids it may carry (no more
#: than the radio ever plays).
MAX_RADIO = 100
MAX_QUEUED = NEIGHBOURHOOD
#: Labels shown per kind on the song page.
SHOWN_LABELS = 10


def song_summary(track: Track) -> dict:
    """The fields of a song in every list of this app (similar songs, radio, review)."""
    return {"id": track.id, "name": song_name(track), "title": track.title,
            "artist": track.artist, "album": track.album, "duration": track.duration,
            "path": track.path}


def rating_dict(rating: ratings.Rating | None) -> dict | None:
    """A rating as JSON: ``{verdict, stars, source, rated_at, text}``, ``None`` for none."""
    if rating is None:
        return None
    return {**rating.to_dict(), "text": rating.describe()}


def _seed(catalog: Catalog, track: Track) -> QuerySong:
    """The song as a query for similar songs and the radio: its stored embedding."""
    query = stored_query(catalog, track, EMBEDDING_MODEL)
    if query is None:
        raise HTTPException(409, f"song {track.id} has no {EMBEDDING_MODEL} embedding yet: "
                                 "run earmark embed, then reload")
    return query


def _details(catalog: Catalog, track: Track) -> dict:
    history = ratings.rating_history(catalog, track.id)
    folder = library_folder(catalog)
    shown = display_path(track.path, [folder] if folder else [])
    return {"song": {**track.to_dict(), "name": song_name(track), "shown_path": shown},
            "file_tags": track.tags,
            "rating": rating_dict(ratings.latest_opinion(history)),
            "history": [rating_dict(r) for r in reversed(history)]}


@router.get("/songs/{song_id}", response_class=HTMLResponse)
def song_page(request: Request, catalogs: Catalogs, song_id: int = SongId) -> HTMLResponse:
    """The song page: player, pictures, labels, file tags, rating buttons and history,
    similar songs and the radio."""
    with catalogs.read() as catalog:
        details = _details(catalog, song_track(catalog, song_id))
    return render(request, "song.html", details)


@router.get("/api/songs/{song_id}")
def song_details(catalogs: Catalogs, song_id: int = SongId) -> dict:
    """``{"song": {track fields, name, shown_path (relative to the library's folder)},
    "file_tags": {...}, "rating": current or null,
    "history": [ratings, newest first]}``; 404 for an id not in the catalog."""
    with catalogs.read() as catalog:
        return _details(catalog, song_track(catalog, song_id))


def _scored(labels: list[tuple[str, float]]) -> list[dict]:
    return [{"label": label, "confidence": round(float(p), 4)}
            for label, p in labels[:SHOWN_LABELS]]


@router.get("/api/songs/{song_id}/labels")
def song_labels(catalogs: Catalogs, song_id: int = SongId) -> dict:
    """Predicted genres (both pretrained taggers, calibrated, as ``earmark genre``) and tags
    (``MSD_musicnn``, as ``earmark tags``) with confidences in [0, 1], most confident first:
    ``{"genres": [{label, confidence}], "tags": [...], "stored": bool, "reason": str|null}``.
    Stored answers are read; a song without them is analysed once and they are stored."""
    with catalogs.read() as catalog:
        track = song_track(catalog, song_id)
        genres = next(song_genres([track.path], resolve_genre_model(catalog, BOTH), catalog))
        tags = next(song_tags([track.path], EMBEDDING_MODEL, catalog))
    failed = next((a.reason for a in (genres, tags) if a.status == "failed"), None)
    silent = "the audio is silent: nothing to hear" if genres.silent else None
    return {"genres": _scored(genres.labels), "tags": _scored(tags.labels),
            "stored": genres.status == tags.status == "stored", "reason": failed or silent}


@router.get("/api/songs/{song_id}/similar")
def similar_songs(catalogs: Catalogs, song_id: int = SongId,
                  top: Annotated[int, Query(ge=1, le=MAX_RADIO)] = 10) -> dict:
    """``{"songs": [{id, name, ..., similarity}]}``: the ``top`` nearest songs (cosine
    similarity of embeddings, as ``earmark similar``); 409 when the song has no embedding."""
    with catalogs.read() as catalog:
        found = similar(catalog, _seed(catalog, song_track(catalog, song_id)), top,
                        EMBEDDING_MODEL)
    return {"songs": [{**song_summary(t), "similarity": round(s, 4)} for t, s in found]}


def _queued(after: str) -> list[int]:
    """The ids of ``after`` (``"3,17,5"``), in order; 422 for anything else."""
    if not after:
        return []
    if not re.fullmatch(r"\d{1,19}(,\d{1,19})*", after) or after.count(",") >= MAX_QUEUED:
        raise HTTPException(422, f"after: up to {MAX_QUEUED} song ids separated by commas")
    return [int(i) for i in after.split(",")]


def _radio(catalog: Catalog, song_id: int, count: int, after: str
           ) -> tuple[Track, list, bool]:
    track = song_track(catalog, song_id)
    taste = liking_model(catalog, EMBEDDING_MODEL)
    queue = radio(catalog, _seed(catalog, track), count, _queued(after), taste,
                  EMBEDDING_MODEL)
    return track, queue, taste is not None


Count = Annotated[int, Query(ge=1, le=MAX_RADIO)]
After = Annotated[str, Query(max_length=MAX_QUEUED * 20)]


@router.get("/api/songs/{song_id}/radio")
def radio_queue(catalogs: Catalogs, song_id: int = SongId, count: Count = 20,
                after: After = "") -> dict:
    """The next ``count`` songs of the radio from this song, after the ids already queued
    (``after=3,17,5``, in play order): ``{"songs": [{id, name, ..., similarity, p_like,
    score}], "liking": bool}`` (``liking``: a taste model weighted the order). An empty list:
    nothing more to play."""
    with catalogs.read() as catalog:
        _, queue, liking = _radio(catalog, song_id, count, after)
    return {"songs": [{**song_summary(item.track), **item.to_dict()} for item in queue],
            "liking": liking}


@router.get("/api/songs/{song_id}/radio.m3u8")
def radio_playlist(catalogs: Catalogs, song_id: int = SongId, count: Count = 50,
                   after: After = "") -> Response:
    """The song and its radio queue as an M3U8 download (absolute paths, for Navidrome,
    Jellyfin or a phone that sees the same folders)."""
    with catalogs.read() as catalog:
        track, queue, _ = _radio(catalog, song_id, count, after)
    text, _ = m3u_text([track, *(item.track for item in queue)])
    name = re.sub(r"[^A-Za-z0-9 ._-]+", "_", song_name(track))[:80].strip() or "radio"
    return Response(text, media_type="audio/x-mpegurl; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="radio - {name}.m3u8"'})


@router.get("/api/songs/{song_id}/images/{kind}.png", response_class=FileResponse)
def song_picture(kind: Literal["spectrogram", "taggram"], catalogs: Catalogs,
                 settings: Settings, song_id: int = SongId) -> FileResponse:
    """The song's mel spectrogram or taggram as PNG, drawn once per file content; 404 for an
    unknown id, 422 when the song cannot be decoded."""
    with catalogs.read() as catalog:
        track = song_track(catalog, song_id)
    try:
        image = song_image(track, kind, settings.cache_dir / "song-images")
    except EarmarkError as exc:
        raise HTTPException(422, f"song {song_id}: {exc}") from exc
    return FileResponse(image, media_type="image/png")


class RatingBody(BaseModel):
    """A rating from a page: ``rating`` like, dislike, skip or 1-5 (or a short spelling,
    :func:`earmark.catalog.ratings.parse_rating`); ``source`` the page it came from."""

    rating: str = Field(max_length=10)
    source: Literal["song", "review"] = "song"


@router.post("/api/songs/{song_id}/rating")
def rate_song(body: RatingBody, catalogs: Catalogs, song_id: int = SongId) -> dict:
    """Save a rating at once (history kept, as ``earmark rate``): ``{"saved": rating,
    "rating": the song's current opinion}``; 404 for an unknown id, 422 for a bad rating."""
    try:
        verdict, stars = ratings.parse_rating(body.rating)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    source = "web" if body.source == "song" else "review"
    with catalogs.write() as catalog:
        song_track(catalog, song_id)
        saved = ratings.add_rating(catalog, song_id, verdict, stars, source=source)
    with catalogs.read() as catalog:
        current = ratings.current_rating(catalog, song_id)
    return {"saved": rating_dict(saved), "rating": rating_dict(current)}
