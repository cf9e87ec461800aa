"""``earmark label``, and learning the library's own genres for ``tag --learn`` and
``genre --learn``: parse, call :mod:`earmark.learn.library_genres`, print."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from earmark.catalog import Catalog
from earmark.catalog.predictions import load_predictions
from earmark.catalog.tracks import select_tracks
from earmark.cli.app import (
    EXIT_FAILED,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    DbOption,
    JsonOption,
    app,
    console,
    display_path,
    emit_json,
    err_console,
    fail,
    json_path,
    open_catalog,
    progress_bar,
)
from earmark.models.registry import LEARNED
from earmark.tagging.policy import TagPolicy, load_policy

if TYPE_CHECKING:  # the learning modules load torch and scikit-learn: only when used
    from earmark.learn.library_genres import LearnReport


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def print_report(report: LearnReport, as_json: bool = False) -> None:
    """The learning report: songs learned from, per-genre precision/recall/support, genres
    left out with the reason (as one ``{"report": ...}`` JSON line with ``as_json``)."""
    if as_json:
        emit_json({"report": report.to_dict()})
        return
    folds = (f"{report.folds}-fold cross-validation grouped by album and artist, at "
             f"confidence {report.threshold:.2f}") if report.folds else "not cross-validated"
    err_console.print(f"{report.reason} ({folds})", highlight=False)
    table = Table("genre", "songs", "precision", "recall", "note", "learned",
                  header_style="bold", title="genres in your library")
    for genre in report.genres:
        table.add_row(escape(genre.genre), str(genre.songs), _score(genre.precision),
                      _score(genre.recall), escape(genre.caveat or ""),
                      "yes" if genre.learned else "[yellow]no[/]")
    err_console.print(table)
    if any(genre.caveat for genre in report.genres):
        from earmark.learn.library_genres import NOISY_SCORES

        err_console.print(NOISY_SCORES, highlight=False)
    for genre in report.left_out:
        err_console.print(f"[yellow]not learned[/] {escape(genre.genre)}: "
                          f"{escape(genre.reason or '')}", highlight=False, soft_wrap=True)
    for path, reason in report.failed:
        err_console.print(f"[red]failed[/] {escape(display_path(path))}: {escape(reason)}",
                          highlight=False)


def _learn(catalog: Catalog, paths: list[Path] | None, policy: TagPolicy, as_json: bool
           ) -> LearnReport:
    """Learn with the vocabulary of ``policy``, print the report; exit 3 when no genre could
    be learned (the report says why)."""
    from earmark.learn.library_genres import learn_genres

    report = learn_genres(
        catalog, paths,
        aliases=policy.aliases, canonical=policy.canonical, parents=policy.parents,
        threshold=policy.min_confidence, stages=progress_bar)
    print_report(report, as_json)
    if not report.learned:
        fail("no genre of your library could be learned (see the reasons above)", EXIT_FAILED)
    return report


def learn_before_tagging(catalog: Catalog, paths: list[Path] | None, policy: TagPolicy
                         ) -> TagPolicy:
    """``tag --learn``: learn the library's genres, store them as model ``learned`` and
    return ``policy`` with the learned genres added to its canonical names (the library's
    own vocabulary is written, e.g. a genre the default list lacks). The report goes to
    stderr as text, so ``--json`` keeps one object per file on stdout (each file's reason
    says "learned from your tags: ...")."""
    report = _learn(catalog, paths, policy, as_json=False)
    if not policy.canonical:
        return policy
    extra = [g for g in report.learned if g.casefold() not in
             {c.casefold() for c in policy.canonical}]
    return policy.with_(canonical=(*policy.canonical, *extra))


def show_learned_genres(paths: list[Path], db: Path | None, top: int, min_confidence: float,
                        as_json: bool) -> None:
    """``genre --learn``: learn the library's genres and show them for the songs in
    ``paths`` (a song with genres of its own shows those, as it was learned from)."""
    policy = load_policy().with_(min_confidence=min_confidence)
    with open_catalog(db) as catalog:
        report = _learn(catalog, paths, policy, as_json)
        songs = select_tracks(catalog, paths)
        rows = [(t, load_predictions(catalog, t.id, "genres", LEARNED)) for t in songs]
    table = None if as_json else Table("song", "genres", header_style="bold")
    learned = set(report.predicted)
    for track, payload in rows:
        genres = [(g, c) for g, c in (payload or [])[:top] if c >= min_confidence]
        source = report.reason if track.id in learned else "its own genre tags or labels"
        if as_json:
            emit_json({"path": json_path(track.path), "learned": track.id in learned,
                       "reason": source,
                       "genres": [{"genre": g, "confidence": round(c, 4)} for g, c in genres]})
        elif track.id in learned:
            text = ", ".join(f"{escape(g)} [dim]{c:.2f}[/]" for g, c in genres)
            table.add_row(escape(display_path(track.path, paths)), text or "[dim]unsure[/]")
        else:
            table.add_row(escape(display_path(track.path, paths)),
                          f"[dim]{escape(track.genre or 'labelled')} (learned from)[/]")
    if table is not None:
        console.print(table)


@app.command("label")
def label_command(
    items: Annotated[list[str] | None, typer.Argument(
        help="Music files or folders, then the genre: FILE... GENRE.")] = None,
    remove: Annotated[bool, typer.Option(
        "--remove", help="Take the genre label off these files.")] = False,
    list_labels: Annotated[bool, typer.Option(
        "--list", help="List the genre labels you gave, then stop.")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Label songs with a genre of your own: labels join the songs' genre tags when
    `earmark tag --learn` or `earmark genre --learn` learns your library's genres (five songs
    teach a new genre). Files not in the catalog yet are added."""
    from earmark.learn.library_genres import label_songs, user_labels

    if list_labels:
        with open_catalog(db) as catalog:
            labels = user_labels(catalog)
        for path, genre in labels:
            if as_json:
                emit_json({"path": json_path(path), "genre": genre})
            else:
                console.print(f"{escape(display_path(path))}  {escape(genre)}", highlight=False)
        if not labels and not as_json:
            err_console.print("no genre labels yet: `earmark label FILE... GENRE` gives some")
        return
    if not items or len(items) < 2:
        fail("give one or more music files or folders, then the genre: "
             "earmark label FILE... GENRE (or --list)", code=EXIT_USAGE)
    *paths, genre = items
    policy = load_policy()
    try:
        with open_catalog(db) as catalog:
            outcome = label_songs(catalog, paths, genre, remove=remove, aliases=policy.aliases,
                                  canonical=policy.canonical)
    except ValueError as exc:
        fail(escape(str(exc)), code=EXIT_USAGE)
    roots = [Path(p) for p in paths]
    for item in outcome:
        if as_json:
            emit_json({"path": json_path(item.path), "status": item.status,
                       "genre": item.genre, "reason": item.reason})
        else:
            colour = {"failed": "red", "unchanged": "yellow"}.get(item.status, "green")
            reason = f": {escape(item.reason)}" if item.reason else ""
            console.print(f"[{colour}]{item.status}[/] {escape(display_path(item.path, roots))}"
                          f" ({escape(item.genre or '')}){reason}", highlight=False)
    if not outcome:
        fail("no audio files found", EXIT_FAILED)
    failed = sum(1 for item in outcome if item.status == "failed")
    if failed == len(outcome):
        fail(f"no song could be labelled ({failed} failed, each said above)", EXIT_FAILED)
    if failed:
        raise typer.Exit(EXIT_SOME_FAILED)
