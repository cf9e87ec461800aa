"""``earmark stats`` and ``earmark map``: the whole library at a glance (the web app's dashboard
and explore page show the same)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from earmark.analysis.map import LAID_OUT, map_cache_path
from earmark.catalog.stats import library_stats
from earmark.catalog.tracks import tracks_by_id
from earmark.cli.app import (
    DbOption,
    JsonOption,
    app,
    check_output_path,
    console,
    emit_json,
    fail,
    json_path,
    open_catalog,
    require_catalog,
)
from earmark.settings import EMBEDDING_MODEL


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "—"


@app.command("stats")
def stats_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """The library in numbers: songs analysed, not analysed yet, failed and without a genre
    tag; likes and dislikes; the genres of its tags; the taste model's cross-validated quality
    after each retrain (the last five; --json prints it as one object, with every retrain).

    Only reads (never waits for a running scan or embed; the counts are as of now). Exit code
    3 when there is no catalog or it holds no song.
    """
    require_catalog(db)
    # The taste package loads scikit-learn: imported here so every other command starts fast.
    from earmark.taste.retrain import quality_history, stats_report

    with open_catalog(db, write=False) as catalog:
        stats = library_stats(catalog)
        history = quality_history(catalog)
    if not stats.songs:
        fail("the catalog has no songs; scan a folder first (`earmark scan FOLDER`)")
    if as_json:
        emit_json(stats_report(stats, history))
        return
    table = Table(title="library", header_style="bold", show_header=False)
    table.add_column("what")
    table.add_column("songs", justify="right")
    table.add_column("share", justify="right")
    playable = stats.songs - stats.failed
    for what, n, whole in [
            ("songs", stats.songs, stats.songs),
            (f"analysed ({stats.embedding_model})", stats.analysed, playable),
            ("not analysed yet (earmark embed)", stats.not_analysed, playable),
            ("failed (earmark info FILE says why)", stats.failed, stats.songs),
            ("without a genre tag (earmark tag)", stats.untagged, playable),
            ("rated", stats.rated, stats.songs),
            ("liked", stats.liked, stats.rated),
            ("disliked", stats.disliked, stats.rated)]:
        table.add_row(what, str(n), _percent(n, whole))
    console.print(table)
    if stats.genres:
        shown = ", ".join(f"{escape(g)} {n}" for g, n in stats.genres[:10])
        more = f" and {len(stats.genres) - 10} more" if len(stats.genres) > 10 else ""
        console.print(f"genres: {shown}{more}", highlight=False)
    for run in history[-5:]:
        when = datetime.fromtimestamp(run.trained_at).isoformat(" ", "minutes")
        quality = (f"ROC AUC {run.roc_auc_mean:.2f}, accuracy {run.accuracy_mean:.2f}"
                   if run.roc_auc_mean is not None else run.note or "not measured")
        console.print(f"taste model {when}: {run.n_ratings} ratings, {quality}",
                      highlight=False)


@app.command("map")
def map_command(
    out: Annotated[Path | None, typer.Option(
        "--out", help="Save the map as a PNG image.", dir_okay=False)] = None,
    colour: Annotated[str, typer.Option(
        "--colour", "--color", help="Colour the songs by genre, rating or liking "
                                    "(predicted liking).")] = "genre",
    model: Annotated[str, typer.Option(help="Embeddings to lay out.")] = EMBEDDING_MODEL,
    laid_out: Annotated[int, typer.Option(
        min=4, help="Lay out at most this many songs with t-SNE (a random sample); the "
                    "others are placed beside their nearest sampled song.")] = LAID_OUT,
    refresh: Annotated[bool, typer.Option(
        "--refresh", help="Lay the map out again even if the cached one is current.")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """A 2-D map of the library: songs that sound alike sit together (t-SNE of their
    embeddings). The layout is cached beside the catalog until the embeddings change, so
    the web app's explore page shows it at once. --json prints each song's position, genre,
    rating and predicted liking.

    Exit code 3 when no song has an embedding yet (run `earmark embed`).
    """
    # scikit-learn (taste): see stats.
    from earmark.taste.explore import COLOUR_BY, map_points

    if colour not in COLOUR_BY:
        fail(f"--colour takes {', '.join(COLOUR_BY)}, not {escape(colour)!r}", code=2)
    if out is not None:
        check_output_path(out)
    with open_catalog(db) as catalog:
        points = map_points(catalog, model, laid_out=laid_out, refresh=refresh)
        cache = map_cache_path(catalog, model)
        found = tracks_by_id(catalog, points.ids) if as_json else {}
    if not points.ids:
        fail(f"no song has a {escape(model)} embedding yet; run `earmark embed` first")
    if as_json:
        for i, track_id in enumerate(points.ids):
            emit_json({"path": json_path(found[track_id].path), "id": track_id,
                       "x": points.x[i],
                       "y": points.y[i], "genre": points.genre[i],
                       "rating": points.rating[i], "liking": points.liking[i]})
    else:
        console.print(f"{len(points.ids)} songs on the map: {escape(points.method)}; "
                      f"cached in {escape(str(cache))}", highlight=False)
    if out is not None:
        # torch (the figures' mel front end): only for the picture.
        from earmark.analysis.figures import plot_map

        plot_map(np.column_stack([points.x, points.y]), points.colours(colour), out,
                 title=points.method, legend="P(like)" if colour == "liking" else colour)
        if not as_json:
            console.print(f"map saved to {escape(str(out))}", highlight=False)
