"""``earmark radio SONG``: a queue of songs like SONG, the ones you will like first
(:mod:`earmark.taste.radio`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from earmark.catalog.tracks import song_name
from earmark.cli.app import (
    DbOption,
    JsonOption,
    app,
    check_output_path,
    console,
    display_path,
    emit_json,
    err_console,
    fail,
    json_path,
    open_catalog,
)
from earmark.cli.taste import note_left_out, query_writer
from earmark.settings import EMBEDDING_MODEL as DEFAULT_EMBEDDING
from earmark.taste.ratings_io import write_m3u


@app.command("radio")
def radio_command(
    song: Annotated[Path, typer.Argument(
        help="The seed: a song of the catalog, or any file (analysed, not added).")],
    db: DbOption = None,
    top: Annotated[int, typer.Option("--top", min=1, help="How many songs to queue.")] = 20,
    m3u8: Annotated[Path | None, typer.Option(
        "--m3u8", dir_okay=False,
        help="Also write the seed and its queue as an M3U8 playlist to this file.")] = None,
    as_json: JsonOption = False,
) -> None:
    """A radio from SONG: songs that sound like it, weighted by how much your taste model
    expects you to like them, never the same artist twice in a row, never a song you
    disliked."""
    from earmark.taste.radio import radio
    from earmark.taste.recommend import query_song, taste_for_query
    if m3u8 is not None:
        check_output_path(m3u8)
    # Read-only: the writer lock is taken only for what must be stored (the seed's embedding,
    # a retrained taste model), so the radio answers while another command writes.
    writer = query_writer(db)
    with open_catalog(db, write=False) as catalog:
        seed = query_song(catalog, song, DEFAULT_EMBEDDING, writer)
        taste = taste_for_query(catalog, writer, DEFAULT_EMBEDDING, required=False)
        queue = radio(catalog, seed, top, taste=taste.model, model=DEFAULT_EMBEDDING)
    if not queue:
        fail("no other songs with embeddings to play after it (earmark embed computes them)")
    if taste.model is None:
        err_console.print("no taste model yet (rate a few songs): ordered by similarity alone",
                          highlight=False)
    note_left_out(taste.stale)
    if m3u8 is not None:
        for path, reason in write_m3u(m3u8, [seed, *(item.track for item in queue)]):
            err_console.print(f"[yellow]left out[/] {escape(repr(path))}: {escape(reason)}",
                              highlight=False)
    if as_json:
        for item in queue:
            emit_json({**item.to_dict(), "path": json_path(item.path)})
        return
    table = Table(title=f"radio from {escape(song_name(seed))}", header_style="bold")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("similar", justify="right", no_wrap=True)
    table.add_column("like", justify="right", no_wrap=True)
    table.add_column("song", overflow="fold")
    for number, item in enumerate(queue, start=1):
        like = "" if item.p_like is None else f"{item.p_like:.0%}"
        table.add_row(str(number), f"{item.similarity:.2f}", like,
                      f"{escape(song_name(item.track))}\n[dim]"
                      f"{escape(display_path(item.path))}[/]")
    console.print(table)
    if m3u8 is not None:
        console.print(f"{len(queue) + 1} songs written to {escape(str(m3u8))}", highlight=False)
