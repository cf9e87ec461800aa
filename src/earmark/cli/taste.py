"""Your taste: ``rate``, ``ratings import/export``, ``taste``, ``review``, ``recommend``,
``similar`` and ``playlist``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from earmark.catalog import Catalog, ratings
from earmark.catalog.candidates import is_candidate_ref
from earmark.catalog.ratings import answer_words, describe_rating
from earmark.catalog.tracks import Track, song_name
from earmark.cli.app import (
    EXIT_SOME_FAILED,
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
    progress_bar,
)
from earmark.cli.discover import rate_candidate
from earmark.errors import EarmarkError
from earmark.settings import EMBEDDING_MODEL as DEFAULT_EMBEDDING
from earmark.settings import TASTE_HALF_LIFE_DAYS as DEFAULT_HALF_LIFE_DAYS
from earmark.taste.active import LIKELY, STRATEGIES
from earmark.taste.ratings_io import (
    ImportItem,
    RatingsImportReport,
    export_ratings,
    import_ratings,
    rate_file,
    write_m3u,
)

# torch and scikit-learn are imported inside the commands that use them, so that every
# command (and --help) starts in half a second rather than three.
if TYPE_CHECKING:
    from earmark.taste.recommend import CatalogWriter, QuerySong
    from earmark.taste.review import Answer, Proposal, Retrained, ReviewSession, Round

ratings_app = typer.Typer(help="Import and export ratings.", no_args_is_help=True)
app.add_typer(ratings_app, name="ratings")


Strategy = StrEnum("Strategy", {s: s for s in STRATEGIES})


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"


HalfLifeOption = Annotated[float, typer.Option(
    "--half-life", help="Days after which a rating counts half (tastes drift); 0: no decay.")]
FromOption = Annotated[Path | None, typer.Option(
    "--from", help="Only songs in this folder (scanned and embedded first when new).",
    exists=True, file_okay=False)]
TopOption = Annotated[int, typer.Option("--top", min=1, help="How many songs.")]


def _half_life(days: float) -> float | None:
    return days if days > 0 else None


def _roots(folder: Path | None) -> list[Path]:
    """The folders paths are shown relative to (:func:`~earmark.cli.app.display_path`)."""
    return [] if folder is None else [folder]


def _song_cell(song: Track | QuerySong, roots: list[Path]) -> str:
    """A table cell naming a song: ``Artist - Title`` and, dimmed below, where it is."""
    return f"{escape(song_name(song))}\n[dim]{escape(display_path(song.path, roots))}[/]"


# --- rate and import/export --------------------------------------------------------------------


@app.command("rate")
def rate_command(
    file: Annotated[str, typer.Argument(
        help="The song (added to the catalog if new), or an inbox candidate: c12 or its "
             "address (earmark inbox).")],
    answer: Annotated[str, typer.Argument(help="like, dislike, skip, or 1-5 stars.")],
    into: Annotated[Path | None, typer.Option(
        "--into", help="For an inbox candidate you like: the library folder it moves into, "
                       "named from its tags.", file_okay=False)] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rate one song. The latest rating counts; earlier ones stay in the history. An inbox
    candidate you like moves into --into DIR, one you dislike is deleted, and the taste
    model is retrained."""
    try:
        verdict, stars = ratings.parse_rating(answer)
    except ValueError as exc:
        fail(escape(str(exc)), code=2)
    if is_candidate_ref(file) and not os.path.exists(file):
        rate_candidate(db, file, verdict, stars, into, as_json)
        return
    with open_catalog(db) as catalog:
        item = rate_file(catalog, file, verdict, stars, "user")
    if as_json:
        _emit_item(item)
    if item.status == "failed":
        fail(escape(f"{item.path}: {item.reason}"))
    if as_json:
        return
    if item.status == "unchanged":
        said = describe_rating(item.verdict, item.stars)
        console.print(f"already rated {said}: {escape(item.path)}", highlight=False)
        return
    console.print(f"rated {describe_rating(verdict, stars)}: {escape(item.path)}", highlight=False)
    if item.replaced:
        console.print(f"[yellow]this replaces your earlier rating ({item.replaced}); the "
                      "latest rating counts, the earlier one stays in the history[/]")


def _emit_item(item: ImportItem) -> None:
    """The JSON line ``rate`` and ``ratings import`` print per song."""
    emit_json({"path": item.path, "action": item.status, "verdict": item.verdict,
               "stars": item.stars, "replaced": item.replaced, "reason": item.reason})


def _print_import(report: RatingsImportReport, as_json: bool) -> None:
    if as_json:
        for item in report.items:
            _emit_item(item)
        for note in report.notes:
            err_console.print(escape(note), highlight=False)
        return
    table = Table(title=f"ratings import ({report.kind})", header_style="bold")
    table.add_column("result")
    table.add_column("songs", justify="right")
    kinds = {"liked": "rated: liked", "disliked": "rated: disliked",
             "neither": "rated: neither (3 stars, skip)"}
    for kind, n in report.rated_kinds().items():
        if n:
            table.add_row(kinds[kind], str(n))
    for status in ("unchanged", "unrated", "failed"):
        if report.count(status):
            table.add_row(status, str(report.count(status)))
    console.print(table)
    changed = [i for i in report.items if i.replaced]
    if changed:
        console.print(f"[yellow]{len(changed)} song(s) had a different earlier rating; the "
                      "imported one now counts, the earlier one stays in the history[/]")
    for item in report.failed:
        err_console.print(f"[red]failed[/] {escape(item.path)}: {escape(str(item.reason))}",
                          highlight=False)
    for note in report.notes:
        err_console.print(f"[yellow]{escape(note)}[/]", highlight=False)


@ratings_app.command("import")
def import_command(
    source: Annotated[Path, typer.Argument(
        help="A folder with good/ and bad/ (or like/ and dislike/) sub-folders, an M3U/M3U8 "
             "playlist of favourites, a ratings export (CSV/JSON lines), or music whose tags "
             "hold ratings (POPM, FMPS_RATING, RATING).")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import ratings; unknown songs are added to the catalog. Exit 1 if some files failed."""
    with open_catalog(db) as catalog, progress_bar("importing") as advance:
        report = import_ratings(catalog, source, progress=advance)
    _print_import(report, as_json)
    if report.failed:
        raise typer.Exit(EXIT_SOME_FAILED)


@ratings_app.command("export")
def export_command(
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File to write (default: standard output).", dir_okay=False)
    ] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="csv or json (lines).")
                   ] = ExportFormat.csv,
    history: Annotated[bool, typer.Option(
        "--history", help="Every rating ever made, not only each song's current one.")] = False,
    db: DbOption = None,
) -> None:
    """Export ratings as CSV or JSON lines ('ratings import' reads them back); times are ISO
    8601 with the UTC offset. Exit 3, writing nothing, when there is no rating."""
    if output is not None:
        check_output_path(output)
    with open_catalog(db, write=False) as catalog:
        if not ratings.count_ratings(catalog):
            fail("no ratings to export: rate songs with earmark rate, earmark review or "
                 "earmark ratings import")
        if output is None:
            n = export_ratings(catalog, sys.stdout, fmt.value, history)
        else:
            with open(output, "w", encoding="utf-8", newline="") as handle:
                n = export_ratings(catalog, handle, fmt.value, history)
            err_console.print(f"{n} rating(s) written to {escape(str(output))}", highlight=False)


# --- the model ---------------------------------------------------------------------------------


def _quality(info: dict) -> str:
    cv = info.get("cv") or {}
    n = f"{cv.get('n_ratings', '?')} ratings ({cv.get('n_liked')} liked, " \
        f"{cv.get('n_disliked')} disliked)"
    if cv.get("roc_auc_mean") is None:
        return f"{n}; not measurable yet: {cv.get('note', '')}"
    text = (f"{n}; cross-validated ROC-AUC {cv['roc_auc_mean']:.2f} ± "
            f"{cv['roc_auc_std']:.2f}, accuracy {cv['accuracy_mean']:.2f} ± "
            f"{cv['accuracy_std']:.2f} ({cv['folds']} folds)")
    if cv["roc_auc_mean"] < 0.6:
        text += (" [yellow]- hardly better than chance so far: rate more songs (earmark review "
                 "picks the informative ones)[/]")
    return text


def _prepare(catalog: Catalog, folder: Path | None, unrated: bool = False,
             writer: CatalogWriter | None = None) -> None:
    """Scan ``--from``, embed what is missing (with progress bars) and report failures: the
    rated songs and those under ``--from``, and with ``unrated`` every unrated song that could
    be proposed for review (see :func:`earmark.taste.recommend.embed_for_query`). With a
    ``writer`` (a query that opened the catalog read-only) the writer lock is taken for these
    writes alone; without one the command holds it already."""
    from earmark.taste.recommend import embed_for_query, scan_for_query
    if folder is not None:
        with progress_bar("scanning") as advance:
            scanned = scan_for_query(catalog, writer, folder, advance)
        for path, reason in scanned.failed:
            err_console.print(f"[red]unreadable[/] {escape(path)}: {escape(reason)}",
                              highlight=False)
        note_left_out(scanned.left_out)
    with progress_bar("embedding") as advance:
        embedded = embed_for_query(catalog, writer, folder, DEFAULT_EMBEDDING, advance,
                                   unrated=unrated)
    for path, reason in embedded.failed:
        err_console.print(f"[red]not embedded[/] {escape(display_path(path, _roots(folder)))}: "
                          f"{escape(reason)}", highlight=False)
    note_left_out(embedded.left_out)


def note_left_out(text: str | None) -> None:
    """Say on stderr what a query left out, when it did."""
    if text:
        err_console.print(f"[yellow]note:[/] {escape(text)}", highlight=False, soft_wrap=True)


def query_writer(db: Path | None) -> CatalogWriter:
    """The catalog for a query's short writes (:class:`~earmark.taste.recommend.
    CatalogWriter`): the writer lock held only while one is made."""
    return partial(open_catalog, db)


@app.command("taste")
def taste_command(
    db: DbOption = None,
    half_life: HalfLifeOption = DEFAULT_HALF_LIFE_DAYS,
    as_json: JsonOption = False,
) -> None:
    """Retrain the taste model on the current ratings and show how well it predicts them."""
    from earmark.taste.model import taste_model_path, train_taste
    with open_catalog(db) as catalog:
        _prepare(catalog, None)
        model = train_taste(catalog, DEFAULT_EMBEDDING, _half_life(half_life))
    if as_json:
        emit_json(model.info)
        return
    console.print(f"taste model: {_quality(model.info)}", highlight=False)
    console.print(f"saved to {escape(str(taste_model_path(catalog)))}", highlight=False)
    stars = model.info.get("stars_cv")
    if stars:
        console.print(f"stars: mean absolute error {stars['mae_mean']:.2f} ± "
                      f"{stars['mae_std']:.2f} (always guessing the average: "
                      f"{stars['baseline_mae']:.2f})", highlight=False)


# --- review ------------------------------------------------------------------------------------


def player_command(path: str, start: float, seconds: float) -> list[str] | None:
    """Command line playing ``seconds`` of ``path`` from ``start`` with the first player found
    (ffplay, mpv, paplay), or ``None`` when there is none."""
    if shutil.which("ffplay"):
        return ["ffplay", "-nodisp", "-autoexit", "-loglevel", "quiet", "-ss", f"{start:.1f}",
                "-t", f"{seconds:g}", path]
    if shutil.which("mpv"):
        return ["mpv", "--no-video", "--really-quiet", f"--start={start:.1f}",
                f"--length={seconds:g}", path]
    if shutil.which("paplay"):
        return ["paplay", path]  # cannot seek: plays from the start until the answer stops it
    return None


def play_excerpt(track: Track, seconds: float) -> subprocess.Popen | None:
    """Start playing ``seconds`` of a track in the background; ``None`` without a player."""
    duration = track.duration or 0.0
    # A third of the way in is usually past the intro and into the song proper.
    start = max(0.0, min(duration / 3, duration - seconds))
    command = player_command(track.path, start, seconds)
    if command is None:
        return None
    try:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    except OSError:
        return None


def stop_player(player: subprocess.Popen | None) -> None:
    """Stop an excerpt still playing (and reap the process)."""
    if player is not None and player.poll() is None:
        player.terminate()
        try:
            player.wait(timeout=2)
        except subprocess.TimeoutExpired:
            player.kill()
            player.wait()


def _show(catalog: Catalog, track: Track, p_like: float | None, position: str) -> None:
    from earmark.taste.recommend import top_tags
    lines = [f"[bold]{escape(song_name(track))}[/]  [dim]{position}[/]"]
    if track.album:
        lines.append(f"album: {escape(track.album)}")
    tags = top_tags(catalog, track.id, DEFAULT_EMBEDDING, n=5)
    if tags:
        lines.append("tags: " + escape(", ".join(tags)))
    if p_like is not None:
        lines.append(f"earmark's guess: {p_like:.0%} likely you like it")
    lines.append(f"[dim]{escape(track.path)}[/]")
    console.print("\n".join(lines), highlight=False)


_KEYS = "(l)ike (d)islike (s)kip 1-5 stars (r)eplay (q)uit"


def _read_answer(prompt: str) -> str:
    """One key press on a terminal (no Enter needed), else one line of standard input.

    Raises ``EOFError`` at the end of input (or Ctrl-D on a terminal).
    """
    if not sys.stdin.isatty() or sys.platform == "win32":
        return console.input(prompt)
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        # Keys arrive one by one (Ctrl-C still interrupts). Set before the prompt shows and
        # without flushing, so a key pressed as soon as the prompt appears is not lost.
        tty.setcbreak(fd, termios.TCSANOW)
        console.print(prompt, end="")
        key = os.read(fd, 1).decode("utf-8", errors="replace")
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
    if key in ("", "\x04"):
        raise EOFError
    console.print(key if key.isprintable() else "")
    return key


def _ask(track: Track, play: bool, seconds: float) -> str | None:
    """An answer from the terminal (re-asked until valid); ``None`` to stop the review."""
    player = play_excerpt(track, seconds) if play else None
    try:
        while True:
            try:
                answer = _read_answer(f"{_KEYS}: ").strip().lower()
            except (EOFError, KeyboardInterrupt):
                console.print()
                return None
            if not answer:
                continue
            if answer in ("q", "quit"):
                return None
            if answer in ("r", "replay"):
                stop_player(player)
                player = play_excerpt(track, seconds) if play else None
                continue
            try:
                ratings.parse_rating(answer)
                return answer
            except ValueError:
                console.print(f"[yellow]?[/] type one of {_KEYS}")
    finally:
        stop_player(player)


@app.command("review")
def review_command(
    db: DbOption = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Songs per round.")] = 10,
    strategy: Annotated[Strategy, typer.Option(
        help="How songs are chosen: mixed (uncertain and varied), uncertain, diverse, random."
    )] = Strategy.mixed,
    answers: Annotated[Path | None, typer.Option(
        "--answers", help="Answer from this file instead of the keyboard: CSV lines "
                          "'path,answer' or one answer per line, in proposal order. An "
                          f"answer is one of: {answer_words()}. Answers that rate no song "
                          "are listed with the reason.",
        exists=True, dir_okay=False)] = None,
    folder: FromOption = None,
    rounds: Annotated[int | None, typer.Option(
        help="Stop after this many rounds (default: until you quit or nothing is left).")
    ] = None,
    play: Annotated[bool, typer.Option(
        "--play/--no-play", help="Play an excerpt of each song (ffplay, mpv or paplay).")
    ] = True,
    excerpt: Annotated[float, typer.Option(help="Seconds of each excerpt.")] = 20.0,
    half_life: HalfLifeOption = DEFAULT_HALF_LIFE_DAYS,
    seed: Annotated[int | None, typer.Option(help="Seed of random choices.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Rate the songs that teach the taste model most; it retrains after each batch.

    Without --answers, asks on the terminal and plays an excerpt when a player is installed.
    Songs without an embedding are analysed first. Exit 1 when some answers of --answers
    could not be used (each is listed with why), 3 when none could.
    """
    from earmark.taste.review import (
        FileAnswers,
        ReviewSession,
        Round,
        nothing_to_review,
        run_review,
    )
    try:
        file_answers = FileAnswers(answers) if answers is not None else None
    except EarmarkError as exc:
        fail(escape(str(exc)), code=2)
    with open_catalog(db) as catalog:
        _prepare(catalog, folder, unrated=True)
        source = file_answers
        if source is None:
            if play and player_command("", 0, 1) is None:
                err_console.print("no audio player found (ffplay, mpv, paplay): showing songs only")
                play = False
            source = TerminalAnswers(catalog, play, excerpt)
        session = ReviewSession(catalog, batch=batch, strategy=strategy.value, folder=folder,
                                half_life_days=_half_life(half_life), seed=seed,
                                embedding_model=DEFAULT_EMBEDDING)
        for event in run_review(session, source, rounds):
            if isinstance(event, Round) and event.number == 1 and not event.proposals:
                fail(escape("nothing to review: "
                            + nothing_to_review(catalog, folder, DEFAULT_EMBEDDING)))
            _print_review_event(event, as_json, echo=answers is not None)
        unused = file_answers.unused(session) if file_answers is not None else []
    err_console.print(f"{session.rated} song(s) rated in this review")
    for item in unused:
        colour = "red" if item.status == "unusable" else "yellow"
        err_console.print(f"[{colour}]answer not used[/] {escape(display_path(item.path))}: "
                          f"{escape(item.reason)}", highlight=False, soft_wrap=True)
    if any(item.status == "unusable" for item in unused):
        if not session.rated:
            fail(f"none of the answers in {escape(display_path(answers))} could be used")
        raise typer.Exit(EXIT_SOME_FAILED)


class TerminalAnswers:
    """A person at the terminal answers (see :class:`earmark.taste.review.AnswerSource`):
    each song is shown, an excerpt plays, one key press answers."""

    def __init__(self, catalog: Catalog, play: bool, seconds: float):
        self.catalog, self.play, self.seconds = catalog, play, seconds

    def answer(self, proposal: Proposal) -> str:
        from earmark.taste.review import QUIT
        _show(self.catalog, proposal.track, proposal.p_like,
              f"{proposal.position}/{proposal.of}")
        return _ask(proposal.track, self.play, self.seconds) or QUIT

    def another_round(self, session: ReviewSession) -> bool:
        try:
            return console.input("another round? [Y/n] ").strip().lower() in ("", "y", "yes")
        except (EOFError, KeyboardInterrupt):
            return False


def _print_review_event(event: Round | Answer | Retrained, as_json: bool, echo: bool) -> None:
    """A round's heading, an answer (as JSON, or echoed when answers come from a file) or how
    the retrained model does."""
    from earmark.taste.review import Answer, Round
    if isinstance(event, Round):
        if not event.proposals:
            err_console.print("no unrated songs with embeddings left to propose (earmark "
                              "embed computes the embeddings of scanned songs)")
        elif not as_json:
            how = "cold start: varied songs" if event.cold_start else event.strategy
            console.rule(f"round {event.number}: {len(event.proposals)} songs ({how})")
    elif isinstance(event, Answer):
        if as_json:
            emit_json(event.to_dict())
        elif echo:
            console.print(f"{describe_rating(event.verdict, event.stars)}: "
                          f"{escape(song_name(event.proposal.track))}", highlight=False)
    elif event.model is None:
        err_console.print(f"[yellow]no taste model yet:[/] {escape(event.reason)}",
                          highlight=False)
    else:
        err_console.print(f"retrained: {_quality(event.model.info)}", highlight=False)


# --- recommend, similar, playlist --------------------------------------------------------------


@app.command("recommend")
def recommend_command(
    db: DbOption = None,
    folder: FromOption = None,
    top: TopOption = 20,
    half_life: HalfLifeOption = DEFAULT_HALF_LIFE_DAYS,
    as_json: JsonOption = False,
) -> None:
    """Unrated songs you will probably like, best first, each with a reason (the liked songs
    it resembles, or for a low score the disliked ones)."""
    from earmark.taste.recommend import recommend, taste_for_query
    writer = query_writer(db)
    with open_catalog(db, write=False) as catalog:
        _prepare(catalog, folder, writer=writer)
        taste = taste_for_query(catalog, writer, DEFAULT_EMBEDDING, _half_life(half_life))
        found = recommend(catalog, taste.model, top, folder)
    if not found:
        fail("no unrated songs with embeddings to recommend"
             + (f" in {escape(str(folder))}" if folder else " (earmark embed computes them)"))
    err_console.print(f"taste model: {_quality(taste.model.info)}", highlight=False)
    note_left_out(taste.stale)
    if as_json:
        for item in found:
            emit_json({**item.to_dict(), "path": json_path(item.path)})
        return
    table = Table(header_style="bold")
    table.add_column("like", justify="right", no_wrap=True)
    table.add_column("song", overflow="fold", ratio=1)
    table.add_column("why", overflow="fold", ratio=1)
    for item in found:
        table.add_row(f"{item.score:.0%}", _song_cell(item.track, _roots(folder)),
                      escape(item.reason))
    console.print(table)


@app.command("similar")
def similar_command(
    song: Annotated[Path, typer.Argument(
        help="A song: one of the catalog, or any file (analysed, not added to the catalog).")],
    db: DbOption = None,
    folder: FromOption = None,
    top: TopOption = 10,
    as_json: JsonOption = False,
) -> None:
    """The songs that sound nearest to SONG (cosine similarity of embeddings)."""
    from earmark.taste.recommend import query_song, similar
    writer = query_writer(db)
    with open_catalog(db, write=False) as catalog:
        if folder is not None:
            _prepare(catalog, folder, writer=writer)
        query = query_song(catalog, song, DEFAULT_EMBEDDING, writer)
        found = similar(catalog, query, top, DEFAULT_EMBEDDING, folder)
    if not found:
        fail("no other songs with embeddings to compare with")
    if as_json:
        for track, sim in found:
            emit_json({"path": json_path(track.path), "similarity": round(sim, 4),
                       "artist": track.artist, "title": track.title})
        return
    table = Table(title=f"like {escape(song_name(query))}", header_style="bold")
    table.add_column("similarity", justify="right", no_wrap=True)
    table.add_column("song", overflow="fold")
    for track, sim in found:
        table.add_row(f"{sim:.2f}", _song_cell(track, _roots(folder)))
    console.print(table)


@app.command("playlist")
def playlist_command(
    output: Annotated[Path, typer.Argument(help="The M3U8 file to write.", dir_okay=False)],
    seed: Annotated[Path | None, typer.Option(
        "--seed", help="Songs like this one instead of your top recommendations (any file: "
                       "it is analysed, not added to the catalog).")] = None,
    db: DbOption = None,
    folder: FromOption = None,
    top: TopOption = 20,
    min_score: Annotated[float, typer.Option(
        "--min-score", min=0.0, max=1.0,
        help="Top recommendations only: leave out songs with a lower predicted liking (0-1). "
             f"The default, {LIKELY:g}, keeps the songs the calibrated taste model thinks you "
             "more likely like than not; 0 keeps every unrated song.")] = LIKELY,
    include_disliked: Annotated[bool, typer.Option(
        "--include-disliked", help="With --seed: let songs you disliked (dislike, 1-2 stars) "
                                   "into the playlist too.")] = False,
    half_life: HalfLifeOption = DEFAULT_HALF_LIFE_DAYS,
) -> None:
    """Write an M3U8 playlist of your top recommendations, or of songs like --seed.

    Songs you disliked never enter it unless --include-disliked (with --seed) says so: a
    recommendation playlist holds unrated songs only.
    """
    from earmark.taste.recommend import (
        best_score,
        query_song,
        recommend,
        similar,
        taste_for_query,
    )
    if include_disliked and seed is None:
        fail("--include-disliked goes with --seed: a playlist of recommendations holds only "
             "songs you have not rated", code=2)
    check_output_path(output)
    nothing = "no songs to put in the playlist: no other songs with embeddings" + (
        f" in {escape(str(folder))}" if folder else " (earmark embed computes them)")
    writer = query_writer(db)
    stale = None
    with open_catalog(db, write=False) as catalog:
        _prepare(catalog, folder, writer=writer)
        if seed is not None:
            query = query_song(catalog, seed, DEFAULT_EMBEDDING, writer)
            like_seed = similar(catalog, query, top - 1, DEFAULT_EMBEDDING, folder,
                                exclude_disliked=not include_disliked)
            if not like_seed:
                fail(nothing)
            songs = [query, *(track for track, _ in like_seed)]
        else:
            taste = taste_for_query(catalog, writer, DEFAULT_EMBEDDING, _half_life(half_life))
            stale = taste.stale
            songs = [item.track for item in recommend(catalog, taste.model, top, folder,
                                                      min_score=min_score)]
            if not songs:
                best = best_score(catalog, taste.model, folder)
                fail(nothing if best is None else (
                    f"no unrated song reaches --min-score {min_score:g} (the best scores "
                    f"{best:.2f}): lower it, or rate more songs (earmark review)"))
    note_left_out(stale)
    left_out = write_m3u(output, songs)
    for path, reason in left_out:
        err_console.print(f"[yellow]left out[/] {escape(repr(path))}: {escape(reason)}",
                          highlight=False)
    console.print(f"{len(songs) - len(left_out)} songs written to {escape(str(output))}",
                  highlight=False)
