"""``earmark discover`` (crawl for new music your taste model likes) and ``earmark inbox`` (what
it brought back). Verdicts go through ``earmark rate c12 like --into DIR`` (cli/taste.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from earmark.catalog import candidates as store
from earmark.cli.app import (
    EXIT_INTERRUPTED,
    EXIT_SOME_FAILED,
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
from earmark.cli.engines import AddressOption, EngineOption

if TYPE_CHECKING:
    from earmark.catalog.candidates import Candidate
    from earmark.discover.crawl import CrawlReport
    from earmark.discover.inbox import VerdictOutcome


def _say(text: str, err: bool = False) -> None:
    """One message line (Rich markup), never wrapped: paths stay whole."""
    (err_console if err else console).print(text, highlight=False, soft_wrap=True)


def _duration(text: str | None) -> float | None:
    """``90``, ``90s``, ``30m``, ``2h`` -> seconds (``None`` for none)."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise typer.BadParameter(f"not a duration: {text!r} (e.g. 90s, 30m, 2h)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _size(text: str) -> int | None:
    from earmark.discover.sources import parse_size

    if text.strip().lower() in ("0", "none"):
        return None
    try:
        return parse_size(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command("discover")
def discover_command(
    youtube: Annotated[list[str] | None, typer.Option(
        "--youtube", metavar="QUERY",
        help="Search YouTube for QUERY (audio only); repeatable.")] = None,
    urls: Annotated[Path | None, typer.Option(
        "--urls", help="A file of addresses, one a line: tracks, playlists, channels, pages "
                       "with audio, feeds.", exists=True, dir_okay=False)] = None,
    feed: Annotated[list[str] | None, typer.Option(
        "--feed", metavar="URL", help="An RSS/Atom feed (a podcast); repeatable.")] = None,
    folder: Annotated[Path | None, typer.Option(
        "--folder", help="A downloads folder: its audio files are candidates (copied, never "
                         "changed).", exists=True, file_okay=False)] = None,
    watch: Annotated[bool, typer.Option(
        "--watch", help="With --folder: keep watching it for new files until the time "
                        "budget ends or Ctrl-C.")] = False,
    from_likes: Annotated[bool, typer.Option(
        "--from-likes", help="Search for the artists and genres of the songs you like.")
    ] = False,
    min_score: Annotated[float, typer.Option(
        "--min-score", min=0.0, max=1.0, help="P(like) from which a candidate joins the inbox."
    )] = 0.5,
    keep: Annotated[bool, typer.Option(
        "--keep", help="Keep the files of candidates scored below --min-score.")] = False,
    max_candidates: Annotated[int, typer.Option(
        "--max-candidates", min=1, help="New addresses taken into the crawl in this run.")] = 50,
    max_downloads: Annotated[int, typer.Option(
        "--max-downloads", min=1, help="Downloads in this run.")] = 20,
    max_duration: Annotated[float, typer.Option(
        "--max-duration", min=0, help="Skip songs longer than this many seconds (0: no limit)."
    )] = 1200,
    max_filesize: Annotated[str, typer.Option(
        "--max-filesize", metavar="SIZE",
        help="Refuse downloads larger than this (50M, 1G; 0: no limit).")] = "100M",
    delay: Annotated[float, typer.Option(
        "--delay", min=0, help="Seconds between two requests to one site.")] = 2.0,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=0.1, help="Seconds a site may stay silent before the item fails.")
    ] = 20.0,
    time_budget: Annotated[str | None, typer.Option(
        "--time-budget", metavar="DURATION", help="Stop after this long (90s, 30m, 2h).")] = None,
    per_source: Annotated[int, typer.Option(
        "--per-source", min=1, help="Entries taken from each feed, playlist or search; a "
                                    "liked one brings in the rest.")] = 10,
    staging: Annotated[Path | None, typer.Option(
        "--staging", help="Where downloads wait (default: <catalog>-staging beside the "
                          "catalog).", file_okay=False)] = None,
    cookies: Annotated[Path | None, typer.Option(
        "--cookies", help="A cookies file (Netscape format) to send; by default none is sent.",
        exists=True, dir_okay=False)] = None,
    engine: EngineOption = None,
    address: AddressOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Crawl for new music: download candidates (audio only), score them with your taste model
    and keep those above --min-score in the inbox (earmark inbox). High scorers bring in more
    from where they came. Interrupted runs go on where they stopped. Respect the sites' terms
    and copyright."""
    from earmark.discover.crawl import Crawl, Limits, Seed, unfinished
    from earmark.discover.sources import Provider, likes_queries, read_url_file

    if watch and folder is None:
        fail("--watch watches a --folder", code=2)
    budget = _duration(time_budget)
    limits = Limits(max_candidates=max_candidates, max_downloads=max_downloads,
                    max_duration=max_duration or None, max_filesize=_size(max_filesize),
                    delay=delay, timeout=timeout, time_budget=budget, per_source=per_source)
    seeds = [Seed("search", q) for q in youtube or []]
    if urls is not None:
        addresses, warning = read_url_file(urls)
        if warning:
            _say(f"[yellow]{escape(warning)}[/]", err=True)
        seeds += [Seed("url", a) for a in addresses]
    seeds += [Seed("feed", f) for f in feed or []]
    if folder is not None:
        seeds.append(Seed("folder", str(folder)))
    with open_catalog(db) as catalog:
        if from_likes:
            queries = likes_queries(catalog)
            if not queries:
                fail("--from-likes: no liked song has an artist, genre or title tag to "
                     "search for")
            seeds += [Seed("likes", q) for q in queries]
        if not seeds and not unfinished(catalog):
            fail("nothing to discover: give a source (--youtube, --urls, --feed, --folder, "
                 "--from-likes); no earlier crawl is waiting to go on")
        provider = Provider(timeout=timeout, max_filesize=limits.max_filesize, delay=delay,
                            cookies=cookies)
        with progress_bar("discovering", max_downloads) as advance:
            crawl = Crawl(catalog, limits, min_score=min_score, keep=keep, staging=staging,
                          provider=provider, progress=advance)
            try:
                report = crawl.run(seeds, watch=5.0 if watch else None)
            except KeyboardInterrupt:
                # Ctrl-C is how a --watch run ends: say what this run did, not the generic
                # "N of M songs done" (M would be --max-downloads, a bound, not the work).
                _say(_interrupted(crawl.report), err=True)
                raise typer.Exit(EXIT_INTERRUPTED) from None
    _print_crawl(report, as_json, [folder] if folder is not None else [])
    if keep and report.count("rejected") and not as_json:
        _say(f"{report.count('rejected')} scored below --min-score kept in the staging folder: "
             "earmark inbox --kept lists them")
    if report.failed or report.failed_seeds:
        raise typer.Exit(EXIT_SOME_FAILED)


def _interrupted(report: CrawlReport) -> str:
    """The one line Ctrl-C leaves: what this run did; the catalog has it all, so a rerun
    goes on."""
    return (f"interrupted: {report.downloads} download(s), {report.count('inbox')} new in the "
            "inbox; everything is kept: run it again to go on")


def _address(url: str, roots: list[Path], as_json: bool) -> str:
    """A candidate's address as shown: a downloads-folder song as its path (relative to the
    folder given, or absolute in JSON), anything else as its URL."""
    from earmark.discover.crawl import local_path

    path = local_path(url)
    if path is None:
        return url
    return json_path(path) if as_json else display_path(path, roots)


def _print_crawl(report: CrawlReport, as_json: bool, roots: list[Path]) -> None:
    if as_json:
        for item in report.items:
            emit_json({"path": _address(item.path, roots, True),
                       "candidate": f"c{item.candidate_id}",
                       "status": item.status, "score": _rounded(item.score),
                       "title": item.title, "reason": item.reason})
        for label, reason in report.failed_seeds:
            emit_json({"path": label, "status": "failed", "reason": reason})
        if report.stopped:  # for the person watching; stdout keeps one object a candidate
            _say(f"stopped: {escape(report.stopped)}; run it again to go on", err=True)
        return
    for label, reason in report.failed_seeds:
        _say(f"[red]failed[/] {escape(label)}: {escape(reason)}", err=True)
    for item in report.items:
        if item.status in ("failed", "skipped", "duplicate"):
            _say(f"{item.status} c{item.candidate_id} {escape(_address(item.path, roots, False))}"
                 f": {escape(item.reason or '')}", err=True)
    if report.items:
        table = Table(title="discover", header_style="bold")
        table.add_column("result")
        table.add_column("candidates", justify="right")
        for status in ("inbox", "rejected", "duplicate", "skipped", "failed"):
            if report.count(status):
                table.add_row(status, str(report.count(status)))
        console.print(table)
    elif not (report.failed_seeds or report.added or report.stopped):
        # An empty table would look like a fault.
        _say("nothing new: every address these sources list was seen before")
    _say(f"{report.added} new address(es) found, {report.downloads} download(s); "
         f"staging folder: {escape(display_path(report.staging))}")
    if report.stopped:
        _say(f"stopped: {escape(report.stopped)}; run it again to go on")
    best = max((i for i in report.items if i.status == "inbox"), key=lambda i: i.score or 0,
               default=None)
    if best is not None:
        _say(f"earmark inbox lists them; earmark rate c{best.candidate_id} like --into DIR "
             f"keeps one, earmark rate c{best.candidate_id} dislike deletes it")


def _rounded(score: float | None) -> float | None:
    return None if score is None else round(score, 4)


def candidate_json(candidate: Candidate) -> dict:
    """The JSON object ``earmark inbox --json`` prints for a candidate."""
    from earmark.taste.ratings_io import iso_time

    return {"candidate": candidate.ref, "path": json_path(candidate.file) if candidate.file
            else None, "url": candidate.url, "page": candidate.page,
            "source": candidate.source, "status": candidate.status, "title": candidate.title,
            "uploader": candidate.uploader, "duration": candidate.duration,
            "score": _rounded(candidate.score), "reason": candidate.reason,
            "found_at": iso_time(candidate.found_at),
            "fetched_at": iso_time(candidate.fetched_at) if candidate.fetched_at else None}


@app.command("inbox")
def inbox_command(
    kept: Annotated[bool, typer.Option(
        "--kept", help="Also the candidates scored below --min-score whose files "
                       "discover --keep kept.")] = False,
    db: DbOption = None, as_json: JsonOption = False) -> None:
    """List what earmark discover brought back, best first, with where each came from and
    why it scored as it did. Judge them with earmark rate c12 like|dislike --into DIR."""
    with open_catalog(db, write=False) as catalog:
        waiting = store.inbox(catalog, kept=kept)
    if not waiting:
        fail("the inbox is empty: earmark discover fills it")
    if as_json:
        for candidate in waiting:
            emit_json(candidate_json(candidate))
        return
    table = Table(title=f"inbox ({len(waiting)}{', kept rejected ones too' if kept else ''})",
                  header_style="bold")
    for column in ("id", "score", "song", "from", "why"):
        # Addresses fold onto the next line rather than end in "...": two cut at the same
        # width (the feed's, the song's) would read the same.
        table.add_column(column, justify="right" if column == "score" else "left",
                         overflow="fold")
    for candidate in waiting:
        song = candidate.title or Path(candidate.url).name
        if candidate.uploader:
            song += f"\n[dim]{escape(candidate.uploader)}[/]"
        table.add_row(candidate.ref, f"{candidate.score:.2f}", song,
                      f"{escape(candidate.source)}\n"
                      f"[dim]{escape(_address(candidate.url, [], False))}[/]",
                      escape(candidate.reason or ""))
    console.print(table)


def rate_candidate(db: Path | None, ref: str, verdict: str | None, stars: int | None,
                   into: Path | None, as_json: bool) -> None:
    """``earmark rate CANDIDATE ...``: the verdict, then the taste model retrained."""
    from earmark.discover.inbox import judge, retrain

    with open_catalog(db) as catalog:
        outcome = judge(catalog, ref, verdict, stars, into=into)
        model = retrain(catalog) if outcome.status != "failed" else None
    _print_verdict(outcome, as_json)
    if outcome.status == "failed":
        fail(escape(f"{outcome.candidate}: {outcome.reason}"),
             code=2 if "--into" in (outcome.reason or "") else 3)
    if model is not None and not as_json:
        auc = model.info.get("cv", {}).get("roc_auc_mean")
        said = f" (cross-validated AUC {auc:.2f})" if isinstance(auc, float) else ""
        _say(f"taste model retrained on your ratings{said}")


def _print_verdict(outcome: VerdictOutcome, as_json: bool) -> None:
    if as_json:
        emit_json({"path": outcome.path, "candidate": outcome.candidate,
                   "action": outcome.status, "reason": outcome.reason})
        return
    if outcome.status == "liked":
        _say(f"liked {outcome.candidate}: moved to {escape(outcome.path)}")
    elif outcome.status == "disliked":
        _say(f"disliked {outcome.candidate}: deleted (the rating is kept)")
    elif outcome.status == "kept":
        _say(f"rated {outcome.candidate}: it stays in the inbox")
