"""``earmark list``: find songs in the catalog, the same search as the web app's library."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from earmark.catalog.search import RATINGS, SORTS, SongQuery, search_songs
from earmark.catalog.tracks import song_name
from earmark.cli.app import (
    EXIT_USAGE,
    DbOption,
    JsonOption,
    app,
    console,
    display_path,
    emit_json,
    fail,
    json_path,
    open_catalog,
    require_catalog,
)

#: Songs fetched per catalog query while listing (the pages the web app shows, one by one).
_PAGE = 500


@app.command("list")
def list_command(
    query: Annotated[str, typer.Argument(
        help="Words to find in title, artist, album or path (each a prefix; all must match).",
        show_default=False)] = "",
    genre: Annotated[str | None, typer.Option(help="Only songs whose file has this genre.")
                     ] = None,
    tag: Annotated[str | None, typer.Option(help="Only songs with this predicted tag.")] = None,
    rating: Annotated[str | None, typer.Option(
        help=f"Only songs rated so: {', '.join(RATINGS)} (like: a like or 4-5 stars; dislike: "
        "a dislike or 1-2 stars; a number: at least that many stars).")] = None,
    min_liking: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Only songs whose predicted liking is at least this (0-1).")
        ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only songs that failed to scan.")
                      ] = False,
    playable: Annotated[bool, typer.Option(
        "--playable", help="Only songs that scanned well (the opposite of --failed).")] = False,
    analysed: Annotated[bool | None, typer.Option(
        "--analysed/--not-analysed", help="Only songs with (or without) an embedding of the "
        "file as it is now (the default model), as `earmark stats` counts them.",
        show_default=False)] = None,
    untagged: Annotated[bool, typer.Option(
        "--untagged", help="Only songs whose file has no genre tag.")] = False,
    sort: Annotated[str, typer.Option(help=f"Order: {', '.join(SORTS)}.")] = "artist",
    desc: Annotated[bool, typer.Option("--desc", help="Reverse the order.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many songs.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the catalog's songs that match, with their rating and predicted liking."""
    require_catalog(db)
    if failed and playable:
        fail("--failed and --playable exclude each other", EXIT_USAGE)
    try:
        song_query = SongQuery(text=query, genre=genre, tag=tag, rating=rating,
                               min_liking=min_liking,
                               status="error" if failed else "ok" if playable else None,
                               analysed=analysed, untagged=untagged)
        if sort not in SORTS:
            raise ValueError(f"unknown sort {sort!r}; use one of {', '.join(SORTS)}")
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    table = Table(header_style="bold")
    for column in ("artist", "title", "album", "genre", "rating", "liking", "file"):
        table.add_column(column, overflow="fold")
    shown, after = 0, None
    with open_catalog(db, write=False) as catalog:
        while limit is None or shown < limit:
            size = _PAGE if limit is None else min(_PAGE, limit - shown)
            page = search_songs(catalog, song_query, sort=sort, descending=desc, limit=size,
                                after=after)
            for row in page.songs:
                track = row.track
                opinion = " ".join(filter(None, [row.verdict,
                                                 f"{row.stars}*" if row.stars else None]))
                liking = None if row.liking is None else round(row.liking, 3)
                if as_json:
                    emit_json({"path": json_path(track.path), "id": track.id,
                               "name": song_name(track), "title": track.title,
                               "artist": track.artist, "album": track.album,
                               "genre": track.genre, "status": track.status,
                               "verdict": row.verdict, "stars": row.stars, "liking": liking})
                else:
                    table.add_row(*(escape(v or "") for v in (
                        track.artist, track.title, track.album, track.genre, opinion,
                        None if liking is None else f"{liking:.0%}",
                        display_path(track.path))))
            shown += len(page.songs)
            if (after := page.next_cursor) is None:
                break
    if not shown:
        fail("no song matches" + (f" {query!r}" if query else "") + " in the catalog")
    if not as_json:
        console.print(table)
