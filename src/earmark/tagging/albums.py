"""One genre decision per album: the songs of an album pool their evidence.

Songs belong to one album when they share the album and album-artist tags (album and artist
when there is no album artist), else when they lie in the same folder without album tags and
that folder looks like an album (:class:`AlbumKeys`): its songs name at most one artist (album
artist, else artist; songs without one name none) and there are at most
:data:`FOLDER_ALBUM_MAX` of them. The songs of any other folder (a folder of singles, a flat
dump of a whole library) are decided alone, as with ``--per-track``. The album's genre
evidence is the mean of its songs' genre confidences (every genre the source scored; a genre a
song's source left out counts 0). A song whose own evidence strongly disagrees keeps its own:
when its confidence in the album's best genre is below :data:`DISSENT_RATIO` times its
confidence in its own best genre. The album is then pooled again without those songs, so a
mixed album (a compilation) is not forced into one genre: each song keeps its own unless the
others really sound alike.

On the 48 shared GTZAN clips the MSD tagger covers, pseudo-albums of three neighbouring clips
raise top-1 accuracy from 58 % per track to 69 % (``bench/bench_genre_albums.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from earmark.catalog.tracks import Track
from earmark.errors import EarmarkError
from earmark.tagging.policy import TagPolicy, canonical_genre
from earmark.tagging.sources import Scored, Source

#: A song keeps its own genres when its confidence in the album's best genre is below this
#: fraction of its confidence in its own best one (0.5: the album's genre is less than half as
#: likely as the song's own, by the song's own evidence).
DISSENT_RATIO = 0.5

#: Album-artist keys as the tag readers store them (ID3, Vorbis/APEv2, MP4, ASF), lower-case.
_ALBUM_ARTIST_KEYS = ("tpe2", "albumartist", "album artist", "album_artist", "aart",
                      "wm/albumartist")

#: The most songs a folder without album tags may hold and still be taken for one album. A CD
#: holds at most 99 tracks (the Red Book limit), and real albums, double albums and box-set
#: discs included, stay well below that; a folder with more is a collection, not a record.
#: The bound also keeps a planning page small: ``tag`` plans an album in one page, so a flat
#: folder of 100,000 untagged songs taken for one album would be held whole.
FOLDER_ALBUM_MAX = 99

AlbumKey = tuple[str, ...]


def album_artist(track: Track) -> str | None:
    """The album-artist tag the last scan read from the file, or ``None``."""
    raw = {key.lower(): values for key, values in (track.tags or {}).get("raw", {}).items()}
    for key in _ALBUM_ARTIST_KEYS:
        for value in raw.get(key) or []:
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def album_key(track: Track) -> AlbumKey:
    """What groups a track with its album: ``("album", album artist or artist, album)``
    (lower-case) when it has an album tag, else ``("folder", its folder)``; whether that
    folder stands for an album is for :class:`AlbumKeys` to say."""
    if track.album and track.album.strip():
        return ("album", _artist(track), track.album.strip().lower())
    return ("folder", os.path.dirname(track.path))


def _artist(track: Track) -> str:
    """The artist a song names for its album (album artist, else artist), lower-case; ``""``
    when it names none."""
    return (album_artist(track) or track.artist or "").strip().lower()


@dataclass
class _Folder:
    """What decides whether a folder without album tags is an album: its song count, the
    first artist a song named, and whether another song named a different one."""

    songs: int = 0
    artist: str = ""
    several_artists: bool = False


class AlbumKeys:
    """The album keys of a stream of tracks, with the folders that do not look like albums
    left out; :meth:`add` each track, then :meth:`keys`.

    Only what a folder needs is kept per folder (its song count and first artist), so the
    tracks themselves can be read and dropped a page at a time.
    """

    def __init__(self) -> None:
        self._keys: list[AlbumKey] = []
        self._folders: dict[AlbumKey, _Folder] = {}

    def add(self, track: Track) -> None:
        """Take the next track's key (:func:`album_key`)."""
        key = album_key(track)
        self._keys.append(key)
        if key[0] != "folder":
            return
        folder = self._folders.setdefault(key, _Folder())
        folder.songs += 1
        artist = _artist(track)
        if artist and not folder.artist:
            folder.artist = artist
        elif artist and artist != folder.artist:
            folder.several_artists = True

    def keys(self) -> list[AlbumKey | None]:
        """Each added track's key, in order; ``None`` for a song decided alone: one in a
        folder without album tags whose songs name different artists, or which holds more
        than :data:`FOLDER_ALBUM_MAX` songs."""
        alone = {key for key, folder in self._folders.items()
                 if folder.several_artists or folder.songs > FOLDER_ALBUM_MAX}
        return [None if key in alone else key for key in self._keys]


def album_pages(keys: Sequence[AlbumKey | None], page_size: int
                ) -> Iterator[list[int]]:
    """Positions of ``keys`` (each song's key from :meth:`AlbumKeys.keys`, ``None`` for a
    song decided alone) in pages of about ``page_size`` songs that never split an album: a
    page is cut only between two albums, once it holds ``page_size`` songs, so it holds at
    most ``page_size - 1`` songs plus one whole album. Albums come in key order, a page's songs
    album by album and in their order within ``keys``; songs decided alone keep their order.

    Every position appears in exactly one page. Raises ``ValueError`` when ``page_size`` < 1.
    """
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, not {page_size}")
    # () sorts songs decided alone before every album, in their own order.
    order = sorted(range(len(keys)), key=lambda i: (keys[i] or (), i))
    page: list[int] = []
    for position in order:
        key = keys[position]
        if len(page) >= page_size and (key is None or key != keys[page[-1]]):
            yield page
            page = []
        page.append(position)
    if page:
        yield page


def _top(scores: dict[str, float]) -> str:
    return max(scores, key=lambda label: scores[label])


def _mean(members: list[dict[str, float]]) -> dict[str, float]:
    labels = {label for scores in members for label in scores}
    return {label: sum(s.get(label, 0.0) for s in members) / len(members) for label in labels}


@dataclass(frozen=True)
class AlbumDecision:
    """The pooled evidence of one album: ``scores`` (label -> mean confidence) over the
    ``pooled`` songs that agree, ``size`` songs with evidence in all."""

    scores: dict[str, float]
    pooled: int
    size: int

    @property
    def genre(self) -> str:
        """The album's most confident label."""
        return _top(self.scores)


def _agrees(scores: dict[str, float], genre: str) -> bool:
    return scores.get(genre, 0.0) >= DISSENT_RATIO * scores[_top(scores)]


def pool_album(evidence: list[dict[str, float]]) -> tuple[AlbumDecision | None, list[bool]]:
    """Pool the songs of one album.

    Parameters
    ----------
    evidence : per song, label -> confidence (0..1); each song scores at least one label.

    Returns
    -------
    (decision, agrees)
        ``decision`` is ``None`` when fewer than two songs agree (nothing to pool);
        ``agrees[i]`` says whether song ``i`` takes the album's decision.
    """
    if len(evidence) < 2:
        return None, [False] * len(evidence)
    genre = _top(_mean(evidence))
    members = [scores for scores in evidence if _agrees(scores, genre)]
    if 2 <= len(members) < len(evidence):
        genre = _top(_mean(members))  # again without the songs that disagreed
    agrees = [_agrees(scores, genre) for scores in evidence]
    members = [scores for scores, ok in zip(evidence, agrees, strict=True) if ok]
    if len(members) < 2:
        return None, [False] * len(evidence)
    return AlbumDecision(_mean(members), len(members), len(evidence)), agrees


class AlbumPooling:
    """A genre source that gives every song of an album the album's pooled evidence.

    ``source`` gives each song's own evidence (see :mod:`earmark.tagging.sources`); ``tracks``
    are the songs to decide together, ``keys`` their album keys (:meth:`AlbumKeys.keys`, over
    every song of the job: whether a folder is an album depends on all its songs; ``None``
    for a song decided alone). A song without evidence
    (``None``, or the source's :class:`~earmark.errors.EarmarkError` such as silent audio)
    takes no part and gets what its source says. :meth:`explain` gives the reason shown for a
    planned song; ``policy`` spells the album's genre there as the vocabulary does.
    """

    def __init__(self, source: Source, tracks: Iterable[Track],
                 keys: Iterable[AlbumKey | None], policy: TagPolicy):
        self.source = source
        self.policy = policy
        self._decisions: dict[int, AlbumDecision] = {}
        self._dissent: dict[int, AlbumDecision] = {}
        albums: dict[AlbumKey, list[tuple[Track, dict[str, float]]]] = {}
        for track, key in zip(tracks, keys, strict=True):
            if key is None:
                continue
            try:
                scored = source(track)
            except EarmarkError:
                continue
            if scored:
                albums.setdefault(key, []).append((track, dict(scored)))
        for members in albums.values():
            decision, agrees = pool_album([scores for _, scores in members])
            if decision is None:
                continue
            for (track, _), ok in zip(members, agrees, strict=True):
                (self._decisions if ok else self._dissent)[track.id] = decision

    def __call__(self, track: Track) -> Scored | None:
        decision = self._decisions.get(track.id)
        if decision is None:
            return self.source(track)
        return sorted(decision.scores.items(), key=lambda item: -item[1])

    def explain(self, track: Track, chosen: list[str]) -> tuple[str, str] | None:
        """Why ``track`` gets ``chosen``, as ``(reason, cause)`` (see
        :class:`~earmark.tagging.plan.TrackPlan`): the album's consensus, or its own evidence
        against the album's; ``None`` for a song decided alone."""
        if track.id in self._decisions:
            decision = self._decisions[track.id]
            return (f"album consensus: {'; '.join(chosen)} ({decision.pooled} songs)",
                    "album consensus")
        if track.id in self._dissent:
            decision = self._dissent[track.id]
            genre = canonical_genre(decision.genre, self.policy) or decision.genre
            return (f"its own genre, unlike the rest of its album ({decision.pooled} of "
                    f"{decision.size} songs sound like {genre})", "its own genre, unlike its album")
        return None
