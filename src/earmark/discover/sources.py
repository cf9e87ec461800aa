"""Where candidates come from: yt-dlp behind one provider class, and the seeds a crawl starts
from (a search, a file of URLs, a feed, a downloads folder, queries built from your likes).

:class:`Provider` is the only yt-dlp user in earmark. It lists a source without downloading
(``extract_flat``: a feed, a page with ``<audio>``, a playlist or a search become entries) and
downloads one entry's audio only into the staging folder. Every request goes out with earmark's
user agent, without cookies (unless a cookies file is given), at most one request per
``delay`` seconds to a host, with a socket timeout; nothing yt-dlp says reaches the terminal
(a logger keeps it for the failure reason). yt-dlp's errors become :class:`SourceError` with
a reason a person can read (``not found (HTTP 404)``, ``timed out ...``, ``too large ...``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from yt_dlp import YoutubeDL
from yt_dlp.networking.exceptions import HTTPError, TransportError
from yt_dlp.utils import UnsupportedError, YoutubeDLError, unsmuggle_url

import earmark
from earmark.audio import AUDIO_EXTENSIONS
from earmark.catalog import Catalog
from earmark.catalog.ratings import current_ratings
from earmark.catalog.tracks import tracks_by_id
from earmark.errors import EarmarkError
from earmark.ingest.scan import find_audio_files
from earmark.ingest.textfiles import read_text

USER_AGENT = f"earmark/{earmark.__version__} (music discovery for one listener)"

class SourceError(EarmarkError):
    """A listing or download that failed; ``reason`` says why in words, ``url`` what."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class Entry:
    """One thing a source listed: ``url`` to download; ``page`` it is shown on, when another
    address; ``playlist`` the feed, page, playlist or search it was listed in; ``title``,
    ``uploader`` and ``duration`` (seconds) when the site says."""

    url: str
    title: str | None = None
    uploader: str | None = None
    duration: float | None = None
    page: str | None = None
    playlist: str | None = None


@dataclass(frozen=True)
class Download:
    """A downloaded entry: the staged file and yt-dlp's sanitized info dict."""

    path: Path
    info: dict


def search_url(query: str, n: int) -> str:
    """yt-dlp's search address for the first ``n`` YouTube results of ``query``
    (``ytsearch5:QUERY``)."""
    return f"ytsearch{n}:{query}"


class _Log:
    """yt-dlp's logger: keeps every message (so a failure can say what happened, and nothing
    reaches stderr)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def debug(self, message: str) -> None:
        self.lines.append(message)

    info = warning = error = debug


class _TooLarge(Exception):
    """Raised from a progress hook when a download without a declared size grows too big."""


@dataclass
class Provider:
    """yt-dlp, opened as ``with YoutubeDL(options) as ydl:`` for each listing and download.

    Parameters
    ----------
    timeout : socket timeout in seconds (a server that does not answer fails the item).
    max_filesize : bytes; a larger download is refused (from its declared size before, or
        while it streams when none is declared). ``None``: no limit.
    delay : seconds between two requests to the same host (politeness).
    cookies : a Netscape cookies file to send; ``None`` sends no cookie at all, not even
        one a site set a moment before.
    user_agent : the ``User-Agent`` header.
    """

    timeout: float = 20.0
    max_filesize: int | None = None
    delay: float = 1.0
    cookies: Path | None = None
    user_agent: str = USER_AGENT
    _last: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    def options(self, **extra: object) -> dict:
        """The yt-dlp options of every call (``extra`` added): quiet, audio only, no cache,
        no retries beyond one, earmark's user agent, the timeout and size limit."""
        opts = {
            "quiet": True, "no_warnings": True, "noprogress": True, "cachedir": False,
            "socket_timeout": self.timeout, "retries": 1, "extractor_retries": 0,
            "restrictfilenames": True, "format": "bestaudio/best",
            "http_headers": {"User-Agent": self.user_agent},
            # yt-dlp sleeps this long before each download: the gap between the request that
            # looked at an address and the one that downloads it.
            "sleep_interval": self.delay, "sleep_interval_requests": self.delay,
            "max_filesize": self.max_filesize, "noplaylist": False,
        }
        if self.cookies is not None:
            opts["cookiefile"] = str(self.cookies)
        return opts | extra

    def list(self, url: str) -> list[Entry]:
        """The entries at ``url`` without downloading them: a feed's enclosures, a page's
        ``<audio>`` sources (or, when it embeds none, the audio files it links to), a
        playlist's or search's results, or the one media file ``url`` is.

        Raises :class:`SourceError` (not found, timed out, nothing playable there...).
        """
        try:
            info = self._extract(url, _Log(), download=False, extract_flat="in_playlist")
        except SourceError as exc:
            if exc.reason != NO_MEDIA:
                raise
            entries = self._linked_audio(url)
            if not entries:
                raise
            return entries
        if info.get("_type") not in ("playlist", "multi_video"):
            return [_entry(info, None)]
        listed = info.get("webpage_url") or url
        return [_entry(e, listed) for e in info.get("entries") or [] if e]

    def download(self, url: str, stem: Path) -> Download:
        """Download the audio of ``url`` to ``stem`` plus its extension (yt-dlp resumes a
        partial ``.part`` file left there by a killed run).

        Raises :class:`SourceError` with the reason; nothing is left at ``stem`` then.
        """
        seen = {"bytes": 0}

        def guard(status: dict) -> None:
            seen["bytes"] = status.get("downloaded_bytes") or seen["bytes"]
            if self.max_filesize is not None and seen["bytes"] > self.max_filesize:
                raise _TooLarge

        outtmpl = str(stem) + ".%(ext)s"
        log = _Log()
        try:
            info = self._extract(url, log, download=True, outtmpl={"default": outtmpl},
                                 progress_hooks=[guard])
        except _TooLarge:
            _remove_partial(stem)
            raise SourceError(url, self._too_large()) from None
        except SourceError:
            _remove_partial(stem)
            raise
        files = [d.get("filepath") for d in info.get("requested_downloads") or []]
        files = [Path(f) for f in files if f and os.path.isfile(f)]
        if not files:
            _remove_partial(stem)
            said = " ".join(log.lines)
            raise SourceError(url, self._too_large() if "larger than max-filesize" in said
                              else "the download produced no file")
        return Download(files[0], info)

    def _too_large(self) -> str:
        return f"too large: over {describe_size(self.max_filesize)} (--max-filesize)"

    def _extract(self, url: str, log: _Log, *, download: bool, **extra: object) -> dict:
        self._wait(url)
        try:
            with YoutubeDL(self.options(logger=log, **extra)) as ydl:
                if self.cookies is None:
                    # A cookie the site sets would otherwise go back with the next request.
                    ydl.cookiejar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
                info = ydl.extract_info(url, download=download)
                return ydl.sanitize_info(info)
        except YoutubeDLError as exc:  # DownloadError, and a request yt-dlp refuses to make
            raise SourceError(url, self.reason(exc)) from None
        finally:
            self._last[_host(url)] = time.monotonic()

    def _wait(self, url: str) -> None:
        last = self._last.get(_host(url))
        if last is not None:
            time.sleep(max(0.0, last + self.delay - time.monotonic()))

    def _linked_audio(self, url: str) -> list[Entry]:
        """The audio files a page links to with ``<a href>`` (yt-dlp leaves plain links
        alone: a page without embedded media is an "Unsupported URL" to it)."""
        self._wait(url)
        try:
            with YoutubeDL(self.options(logger=_Log())) as ydl:
                if self.cookies is None:
                    ydl.cookiejar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
                with ydl.urlopen(url) as response:
                    if "html" not in (response.headers.get("Content-Type") or ""):
                        return []
                    text = response.read().decode("utf-8", "replace")
        except (YoutubeDLError, OSError):
            return []
        finally:
            self._last[_host(url)] = time.monotonic()
        links = _Links()
        links.feed(text)
        found = dict.fromkeys(urljoin(url, h) for h in links.hrefs
                              if urlsplit(h).path.lower().endswith(tuple(AUDIO_EXTENSIONS)))
        return [Entry(link, page=url, playlist=url) for link in found]

    def reason(self, exc: YoutubeDLError) -> str:
        """yt-dlp's error in words: ``not found (HTTP 404)``, ``HTTP error 503``, ``timed out
        (no answer within 20 s)``, ``no media found at this address``, else ``extractor
        error: ...`` with its message."""
        exc_info = getattr(exc, "exc_info", None)
        cause = exc_info[1] if exc_info else exc
        if isinstance(cause, HTTPError):
            return ("not found (HTTP 404)" if cause.status == 404
                    else f"HTTP error {cause.status}")
        text = re.sub(r"^ERROR: ", "", str(exc))
        # yt-dlp adds its "please report this issue on github..." to unexpected errors: a
        # request to file a bug there is no reason a listener can use.
        text = re.sub(r"[;.]?\s*please report this issue on .*$", "", text,
                      flags=re.IGNORECASE | re.DOTALL)
        if isinstance(cause, TransportError) or "timed out" in text:
            if "timed out" in text.lower():
                return f"timed out (no answer within {self.timeout:g} s)"
            return f"connection failed: {text}"
        if isinstance(cause, UnsupportedError) or text.startswith("Unsupported URL"):
            return NO_MEDIA
        return f"extractor error: {text}"


#: The reason of an address where yt-dlp (and the links on the page) found nothing to play.
NO_MEDIA = "no media found at this address"

#: How :meth:`Provider.reason` begins the reasons of failures that may pass: the server was
#: silent, unreachable, overloaded or asked to slow down. The catalog keeps only the reason,
#: so the next run tells these from lasting ones (a 404, too large, not audio) by it.
TRANSIENT_REASONS = ("timed out", "connection failed", "HTTP error 5", "HTTP error 429",
                     "HTTP error 408")


def is_transient(reason: str | None) -> bool:
    """Whether a failure's ``reason`` (as :meth:`Provider.reason` words it) may pass, so the
    address is worth trying again on a later run: a timeout, a connection that failed, HTTP
    5xx, 408 or 429. A 404, a file too large or not audio, no media: ``False``."""
    return bool(reason) and reason.startswith(TRANSIENT_REASONS)


def describe_size(size: int | None) -> str:
    """A byte count for a person: ``50 MB`` (powers of 1000, as the option is written)."""
    if size is None:
        return "no limit"
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} bytes"


def parse_size(text: str) -> int:
    """``50M``, ``1.5G``, ``800k`` or a number of bytes -> bytes. Raises ``ValueError``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)[bB]?\s*", text)
    if not match:
        raise ValueError(f"not a size: {text!r} (e.g. 50M, 1G, 800k)")
    scale = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _remove_partial(stem: Path) -> None:
    for leftover in stem.parent.glob(stem.name + ".*"):
        leftover.unlink(missing_ok=True)


def _entry(info: dict, playlist: str | None) -> Entry:
    # A feed's entries carry their address smuggled (yt-dlp's way of passing hints along).
    url, _ = unsmuggle_url(info.get("url") or info.get("webpage_url") or "")
    page = info.get("webpage_url")
    if page:
        page, _ = unsmuggle_url(page)
    duration = info.get("duration")
    return Entry(url=url, title=info.get("title"),
                 uploader=info.get("uploader") or info.get("channel"),
                 duration=float(duration) if duration else None,
                 page=page if page and page != url else None, playlist=playlist)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


# --- seeds --------------------------------------------------------------------------------------


def read_url_file(path: str | Path) -> tuple[list[str], str | None]:
    """The URLs of a file of one URL per line (blank lines and ``#`` comments skipped), and
    the warning when it was read as Windows-1252 (every text file earmark reads may be UTF-8,
    UTF-16 with a byte-order mark, or else Windows-1252). Raises ``OSError`` when it cannot
    be read."""
    text, warning = read_text(path)
    lines = text.splitlines()
    return [line.strip() for line in lines
            if line.strip() and not line.lstrip().startswith("#")], warning


def folder_files(folder: str | Path, settled: float = 0.0) -> Iterator[Path]:
    """The audio files in a downloads folder, as a scan finds them (hidden files and partial
    downloads such as ``.part`` and ``.crdownload`` are not audio files to it), leaving out
    those modified less than ``settled`` seconds ago: a program that writes a download in
    place (not beside it, renamed at the end) may still be writing them."""
    now = time.time()
    for path, problem in find_audio_files([folder]):
        if problem is not None:
            continue
        if settled > 0:  # no stat otherwise: a file dated in the future is not "recent" then
            try:
                if now - os.stat(path).st_mtime < settled:
                    continue
            except OSError:  # gone meanwhile
                continue
        yield Path(path)


def likes_queries(catalog: Catalog, n: int = 5) -> list[str]:
    """Search queries from the songs you like, as Cormorant's seed keywords: the artists of
    your liked songs, then their genres (``jazz music``), then the titles of liked songs
    without an artist; within each, the most liked first, ties by the latest like; each
    once, whatever its case; at most ``n``."""
    current = current_ratings(catalog)
    liked = sorted((i for i, r in current.items() if r.label == 1),
                   key=lambda i: -current[i].rated_at)
    songs = tracks_by_id(catalog, liked)
    ordered = [songs[i] for i in liked if i in songs]
    queries = _most_common(s.artist for s in ordered)
    queries += [f"{g} music" for g in _most_common(
        g for s in ordered for g in (s.genre or "").split(";"))]
    queries += _most_common(s.title for s in ordered if not s.artist)
    return list(dict.fromkeys(queries))[:n]


def _most_common(values: Iterable[str | None]) -> list[str]:
    """Distinct non-empty ``values`` (case-insensitively, spelled as first seen), most
    frequent first, ties in the order first seen."""
    counts: dict[str, int] = {}
    spelling: dict[str, str] = {}
    for value in values:
        value = (value or "").strip()
        if value:
            key = value.casefold()
            counts[key] = counts.get(key, 0) + 1
            spelling.setdefault(key, value)
    return [spelling[k] for k in sorted(counts, key=lambda k: -counts[k])]
