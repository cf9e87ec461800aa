"""Batches: plan tag changes for catalog tracks, carry them out with a journal, undo them.

``plan_track`` decides per file what would change (nothing is written); ``apply_plans`` writes
the planned files one by one through :mod:`earmark.tags.write`, journalling each change in the
catalog *before* the file is replaced and updating the track row after; ``undo`` restores what
the journal says was there, in the form it was there (the same ID3 version, no tag container
where the file had none, an MP4's numeric ``gnre`` atom), and keeps what someone else changed
since (see :func:`undo`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from earmark.catalog import Catalog, journal, tracks
from earmark.catalog.tracks import Track
from earmark.errors import EarmarkError, TagWriteError
from earmark.tagging import policy as pol
from earmark.tagging.sources import Source
from earmark.tags import write
from earmark.tags.read import existing_genres, read_tags
from earmark.types import Outcome, ProgressFn


@dataclass(frozen=True)
class FieldChange:
    """One field of one file: ``key`` in the file's format, values before/after (``None`` =
    absent), and the confidence of each new value that came from a prediction."""

    field: str
    key: str
    old: list[str] | None
    new: list[str] | None
    confidence: dict[str, float] = field(default_factory=dict)


#: Every status a file ends ``earmark tag`` in, in the order summaries list them:
#: ``planned`` (a preview: changes to write), ``written``, ``kept`` (the file keeps what it
#: has: fill mode and it has a value, or it already holds the chosen values),
#: ``below-threshold`` (no prediction reaches ``--min-confidence``), ``skipped`` (nothing to
#: write by design: silent audio, no value in the vocabulary, an override that says never),
#: ``failed`` (it could not, or safely would not, be written: damaged, read-only, changed
#: since the scan, no predictions, a write error). Only ``failed`` makes the run exit 1.
TAG_STATUSES = ("planned", "written", "kept", "below-threshold", "skipped", "failed")

#: The statuses of a file that nothing will be written into, worst first: a plan with several
#: fields takes the worst of its fields' statuses.
_NOT_WRITTEN = ("failed", "skipped", "below-threshold", "kept")


@dataclass
class TrackPlan:
    """What writing would do to one file.

    ``status`` is one of :data:`TAG_STATUSES` (``planned`` when there are ``changes``);
    ``reason`` says why in words for a person ("kept existing genre 'Jazz' (mode fill)",
    "album consensus: Rock (8 songs)"), ``cause`` the same without the file's own values, so
    a summary can count files per cause ("kept existing genre (mode fill)"); ``note`` what
    else the write changes (an ID3v2.3 tag saved as ID3v2.4).
    """

    path: str
    track_id: int | None
    changes: list[FieldChange] = field(default_factory=list)
    status: str = "planned"
    reason: str | None = None
    cause: str | None = None
    expect_hash: str | None = None
    id3_version: int = 4
    note: str | None = None

    def stop(self, status: str, reason: str, cause: str | None = None) -> TrackPlan:
        """Mark the file as not to be written (``status`` from :data:`_NOT_WRITTEN`), with no
        changes; ``cause`` defaults to ``reason``."""
        self.status, self.reason, self.cause = status, reason, cause or reason
        self.changes = []
        return self


@dataclass(frozen=True)
class TrackResult(Outcome):
    """Outcome per file: a status of :data:`TAG_STATUSES` but ``planned`` (batch writes), or
    ``restored``, ``not written`` or ``refused`` (undo). ``reason`` says why, for every status
    of a batch write and for undo's failures, or for ``restored`` when only part of the file
    was put back; ``cause`` is the plan's (see :class:`TrackPlan`)."""

    STATUSES: ClassVar[frozenset[str]] = frozenset(
        {*TAG_STATUSES, "restored", "not written", "refused"} - {"planned"})

    changes: tuple[FieldChange, ...] = ()
    cause: str | None = None


def summarise(items: Iterable[TrackPlan | TrackResult]) -> list[tuple[str, int, dict[str, int]]]:
    """``[(status, files, {cause: files})]`` in :data:`TAG_STATUSES` order, for the statuses
    present: what a summary line of ``earmark tag`` counts."""
    counts: dict[str, dict[str, int]] = {}
    for item in items:
        causes = counts.setdefault(item.status, {})
        key = item.cause or item.reason or ""
        causes[key] = causes.get(key, 0) + 1
    order = [*TAG_STATUSES, *sorted(set(counts) - set(TAG_STATUSES))]
    return [(status, sum(counts[status].values()), counts[status])
            for status in order if status in counts]


def _known_hash(catalog: Catalog, track: Track, current: str) -> bool:
    """The file is as the catalog recorded it, or as earmark itself last wrote it."""
    if current == track.content_hash:
        return True
    last = journal.latest_write(catalog, track.path)
    return last is not None and last.new_hash == current


def plan_track(
    catalog: Catalog,
    track: Track,
    sources: Mapping[str, Source],
    policy: pol.TagPolicy,
    *,
    id3v23: bool = False,
    upgrade_id3: bool = False,
) -> TrackPlan:
    """Plan the changes ``sources`` (field -> source, fields from :data:`write.FIELDS`) imply.

    Genres pass through :func:`policy.choose_genres` (vocabulary, overrides, limits); moods and
    instruments through :func:`policy.choose_labels` with the policy's vocabularies; then
    :func:`policy.new_values` applies the fill/overwrite/merge mode to what the file holds (in
    fill mode, a genre in any of the file's tag blocks counts: :func:`existing_genres`). Each
    key of :func:`write.field_keys` gets its own change (a WAV's genre goes into ID3 ``TCON``
    and RIFF INFO ``IGNR``). A file that is damaged, read-only, untaggable, or changed since it
    was scanned is skipped.

    ID3 tags keep their version and every frame as stored (v2.3 stays v2.3; ``id3v23`` saves
    v2.4 tags as v2.3). A tag holding frames ID3v2.3 cannot (:func:`write.v24_only_frames`, as
    iTunes writes) is skipped when it would be saved as v2.3, and so is an ID3v2.2 tag (which
    mutagen cannot write), unless ``upgrade_id3``: then the first is saved as ID3v2.4, the
    second as ID3v2.3. Whenever the version changes, ``note`` says so and names the frames the
    conversion changes or drops (:func:`write.id3_conversion`).
    """
    plan = TrackPlan(track.path, track.id)
    if track.status != "ok":
        return plan.stop("failed", f"not readable as audio: {track.error or 'unknown error'}",
                         "not readable as audio")
    try:
        problem = write.check_writable(os.path.realpath(plan.path))
        if problem:
            return plan.stop("failed", problem)
        current = write.content_hash(plan.path)
        if not _known_hash(catalog, track, current):
            return plan.stop("failed", "changed since it was scanned; run `earmark scan` first")
        plan.expect_hash = current
        audio = write.open_tags(plan.path)
        tagged = write.describe(audio, plan.path)
        plan.id3_version = write.write_version(tagged, id3v23)
        if tagged.id3_version == 2 and not upgrade_id3:
            return plan.stop("failed", write.ID3V22_REFUSED)
        lost = (write.v24_only_frames(audio.tags)
                if plan.id3_version == 3 and tagged.id3_version in (3, 4) else [])
        if lost and not upgrade_id3:
            return plan.stop("failed", (
                f"its ID3v2.{tagged.id3_version} tag holds frames only ID3v2.4 defines "
                f"({', '.join(lost)}), "
                + ("as iTunes writes them; earmark writes into such a tag only when told which "
                   "version to keep" if tagged.id3_version == 3 else
                   "which saving it as ID3v2.3 would drop")
                + "; pass --upgrade-id3 to save this tag as ID3v2.4 (undo puts back what was "
                "there)"), f"its ID3v2.{tagged.id3_version} tag holds frames only ID3v2.4 defines")
        if lost:
            plan.id3_version = 4
        keys = {f: write.field_keys(audio, f, plan.id3_version) for f in sources}
        if tagged.id3_version is not None and tagged.id3_version != plan.id3_version:
            plan.note = _conversion_note(audio.tags, tagged.id3_version, plan.id3_version,
                                         lost, {key for field in keys.values() for key in field})
        elif lost:
            plan.note = f"ID3 tag kept as ID3v2.4, not v2.3, to keep {', '.join(lost)}"
        # Planned from what players show (decoded genre references, a lone ID3v1 tag's
        # fields); the journal keeps the values as stored (write.prepare_write).
        olds = write.shown_values(audio, [key for field in keys.values() for key in field],
                                  plan.id3_version)
        decisions = [_plan_field(track, name, source, policy, keys[name], olds, plan)
                     for name, source in sources.items()]
        plan.changes = [change for decision in decisions for change in decision.changes]
        worst = min(decisions, key=lambda d: (
            _NOT_WRITTEN.index(d.status) if d.status in _NOT_WRITTEN else len(_NOT_WRITTEN)))
        if worst.status == "failed" or not plan.changes:
            return plan.stop(worst.status, _field_reasons(decisions), worst.cause)
        plan.reason = _field_reasons(decisions)
        plan.cause = next(d.cause for d in decisions if d.status == "planned")
        plan.note = _join_notes(plan.note, _id3v1_note(audio, plan.changes))
    except (EarmarkError, OSError) as exc:
        if isinstance(exc, EarmarkError):
            return plan.stop("failed", str(exc))
        return plan.stop("failed", f"cannot read: {exc}", "cannot read the file")
    return plan


@dataclass
class _FieldDecision:
    """What one field of one file gets: a status of :data:`TAG_STATUSES`, why, and the
    changes (only for ``planned``)."""

    field: str
    status: str
    reason: str
    cause: str
    changes: list[FieldChange] = field(default_factory=list)


def _shown(values: list[str] | None) -> str:
    """Values as reasons quote them: ``'Rock; Pop'``, or ``nothing``."""
    return "nothing" if values is None else repr("; ".join(values))


def _scores(scored: Iterable[tuple[str, float]]) -> str:
    return ", ".join(f"{label} {confidence:.2f}" for label, confidence in scored)


def _plan_field(track: Track, name: str, source: Source, policy: pol.TagPolicy,
                keys: list[str], olds: dict[str, list[str] | None],
                plan: TrackPlan) -> _FieldDecision:
    """Decide one field of one file, with the reason a person reads (see :class:`TrackPlan`).

    Fill mode keeps a value the file has before asking the source (a file with a genre need
    not be listened to). A source's :class:`EarmarkError` (silent audio) skips the field with
    its message; no predictions at all fail it. A source may explain its values with
    ``source.explain(track, chosen) -> (reason, cause) | None`` (the album consensus of
    :class:`~earmark.tagging.albums.AlbumPooling`; a learned model's "learned from your tags:
    412 songs").
    """
    # A value in any tag block (an APEv2 Genre on an MP3, a WAV's INFO IGNR, a second ID3v2
    # tag) is one the file has: fill mode must not add a conflicting one, and merge adds to
    # all of them, so every block ends up with the same values.
    held = [v for key in keys for v in olds[key] or []]
    if name == "genre":
        held += existing_genres(plan.path)
    existing = pol.split_values(held)
    if policy.mode == "fill" and existing:
        return _FieldDecision(name, "kept",
                              f"kept existing {name} {_shown(existing)} (mode fill)",
                              f"kept existing {name} (mode fill)")
    try:
        predictions = source(track)
    except EarmarkError as exc:
        return _FieldDecision(name, "skipped", str(exc), str(exc))
    if predictions is None:
        reason = f"no {name} predictions for this track"
        return _FieldDecision(name, "failed", reason, reason)
    if name == "genre":
        chosen = pol.choose_genres(predictions, policy, track.artist, track.album)
        vocabulary = None
    else:
        vocabulary = policy.moods if name == "mood" else policy.instruments
        chosen = pol.choose_labels(predictions, vocabulary, policy)
    if not chosen:
        return _nothing_chosen(track, name, predictions, vocabulary, policy)
    values = [label for label, _ in chosen]
    changes = []
    for key in keys:
        # A key that holds one string (RIFF INFO) gets the values joined.
        joined = policy.with_(separator=policy.separator or "; ")
        new = pol.new_values(olds[key], values, joined if write.single_valued(key) else policy,
                             held)
        if new is not None:
            changes.append(FieldChange(name, key, olds[key], new, dict(chosen)))
    if not changes:
        return _FieldDecision(name, "kept", f"already holds {_shown(values)}",
                              f"already holds the chosen {name}s")
    explain = getattr(source, "explain", None)
    explained = explain(track, values) if explain is not None else None
    if explained is not None:
        reason, cause = explained
    elif name == "genre" and pol.override_for(policy, track.artist, track.album) is not None:
        reason = cause = "set for its artist/album in the tag config"
    else:
        reason, cause = f"predicted {_scores(chosen)}", "predicted"
    return _FieldDecision(name, "planned", reason, cause, changes)


def _nothing_chosen(track: Track, name: str, predictions: pol.Scored,
                    vocabulary: dict[str, str] | None, policy: pol.TagPolicy) -> _FieldDecision:
    """Why no value of the field is written although the source has predictions."""
    if name == "genre" and pol.override_for(policy, track.artist, track.album) == []:
        reason = "its artist/album is never tagged (an empty list in the tag config)"
        return _FieldDecision(name, "skipped", reason, reason)
    best = pol.best_in_vocabulary(predictions, vocabulary, policy)
    if best is None:
        reason = f"no {name} in this model's vocabulary"
        return _FieldDecision(name, "skipped", reason, reason)
    bar = f"below --min-confidence {policy.min_confidence:.2f}"
    return _FieldDecision(name, "below-threshold", f"{bar} (best: {_scores([best])})", bar)


def _field_reasons(decisions: list[_FieldDecision]) -> str:
    """The plan's reason: the fields' reasons, each named when there are several fields."""
    if len(decisions) == 1:
        return decisions[0].reason
    return "; ".join(f"{d.field}: {d.reason}" for d in decisions)


def _join_notes(*notes: str | None) -> str | None:
    return "; ".join(note for note in notes if note) or None


def _id3v1_note(audio, changes: list[FieldChange]) -> str | None:
    """What an ID3v1 tag, which writes keep byte for byte, still says after a genre change."""
    old = write.id3v1_values(audio).get("TCON")
    new = {value for change in changes if change.field == "genre" for value in change.new}
    if not old or not new or set(old) <= new:
        return None
    return (f"the ID3v1 tag is kept as it was and still says genre {'; '.join(old)} (players "
            "that read only ID3v1 show that)")


def _conversion_note(tags, old: int, new: int, lost: list[str], written: set[str]) -> str:
    """``TrackPlan.note`` for a tag saved in another ID3 version: why, and what it does to the
    frames not ``written`` (:func:`write.id3_conversion`)."""
    why = {2: " (mutagen cannot write ID3v2.2)", 3: f", to keep {', '.join(lost)}",
           4: " (--id3v23)"}[old]
    changes = write.id3_conversion(tags, new, written)
    if not changes:
        return f"ID3v2.{old} tag saved as ID3v2.{new}{why}; every other frame kept as it was"
    # Undo puts a tag back into v2.3 without converting its frames (write._convert_id3).
    undone = " (undo puts back ID3v2.3 but not these)" if new == 4 else ""
    return f"ID3v2.{old} tag saved as ID3v2.{new}{why}; other frames: {changes}{undone}"


def _refresh_track(catalog: Catalog, path: str, digest: str) -> None:
    """Record the file's new size, time, hash and tags so it does not look changed later."""
    track = tracks.get_track(catalog, path)
    if track is None:
        return
    st = os.stat(path)
    tracks.record_track(catalog, {
        **track.to_dict(), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "content_hash": digest,
        **read_tags(path).track_columns(),
    })


def _listed(value: str | None) -> list[str] | None:
    return None if value is None else [value]


def _write_journalled(
    catalog: Catalog, batch_id: str, track_id: int | None, path: str,
    new: dict[str, list[str] | None], id3_version: int, expect_hash: str | None,
) -> write.PreparedWrite:
    prepared = write.prepare_write(path, new, id3_version=id3_version, expect_hash=expect_hash)
    if prepared.unchanged:
        write.discard_write(prepared)
        return prepared
    changes = {key: (prepared.old[key], prepared.new[key]) for key in prepared.new}
    if prepared.old_container != prepared.new_container:
        changes[journal.CONTAINER] = (_listed(prepared.old_container),
                                      _listed(prepared.new_container))
    try:
        ids = journal.record_write(
            catalog, batch_id, track_id, path, changes, prepared.old_hash, prepared.new_hash,
        )
    except BaseException:
        write.discard_write(prepared)
        raise
    try:
        write.commit_write(prepared)
    except TagWriteError:
        journal.forget_entries(catalog, ids)
        raise
    _refresh_track(catalog, path, prepared.new_hash)
    return prepared


def apply_plans(
    catalog: Catalog,
    plans: Iterable[TrackPlan],
    *,
    batch_id: str | None = None,
    progress: ProgressFn | None = None,
) -> tuple[str, list[TrackResult]]:
    """Write every planned change; returns ``(batch_id, results)`` in plan order.

    Each file is written on its own (a failure skips that file only). Temporary copies left in a
    file's folder by an interrupted earlier run are removed first.
    """
    plans = list(plans)
    batch_id = batch_id or journal.new_batch_id()
    results: list[TrackResult] = []
    cleaned: set[str] = set()
    for done, plan in enumerate(plans, start=1):
        if plan.status != "planned":
            results.append(TrackResult(plan.path, plan.status, plan.reason, cause=plan.cause))
        else:
            folder = os.path.dirname(os.path.realpath(plan.path))
            if folder not in cleaned:
                write.remove_leftovers(folder)
                cleaned.add(folder)
            try:
                prepared = _write_journalled(catalog, batch_id, plan.track_id, plan.path,
                                             {c.key: c.new for c in plan.changes},
                                             plan.id3_version, plan.expect_hash)
            except (EarmarkError, OSError) as exc:
                results.append(TrackResult(plan.path, "failed", str(exc), cause="write failed"))
            else:
                # The values as stored already were the new ones (planning compares them as
                # players show them).
                results.append(
                    TrackResult(plan.path, "kept", "the file already holds these values",
                                cause="already holds the chosen values")
                    if prepared.unchanged else
                    TrackResult(plan.path, "written", plan.reason, tuple(plan.changes),
                                cause=plan.cause))
        if progress is not None:
            progress(done, len(plans), plan.path)
    return batch_id, results


def undo(
    catalog: Catalog, entries: Iterable[journal.JournalEntry], *,
    progress: ProgressFn | None = None,
) -> list[TrackResult]:
    """Restore the values the given journal entries replaced, file by file.

    A file as earmark last wrote it gets back what it held, in the same form: the same ID3
    version, no tag container if earmark created it, an MP4's numeric ``gnre`` atom. Entries
    whose write never reached the file (an interrupted run) are just marked undone. A file
    someone else changed since is restored only if the keys earmark wrote still hold earmark's
    values: then just those keys are put back, the other changes stay, and ``reason`` says so;
    otherwise it is refused with a reason naming the key that differs, and left alone.
    """
    by_path: dict[str, list[journal.JournalEntry]] = {}
    for entry in sorted(entries, key=lambda e: e.id):
        by_path.setdefault(entry.path, []).append(entry)
    results = []
    for done, (path, selected) in enumerate(by_path.items(), start=1):
        results.append(_undo_file(catalog, path, selected))
        if progress is not None:
            progress(done, len(by_path), path)
    return results


def undo_batch(catalog: Catalog, batch_id: str | None = None, *,
               progress: ProgressFn | None = None) -> list[TrackResult]:
    """Undo one ``earmark tag`` batch (``None``: the last one written, as ``undo --last``) with
    :func:`undo`; ``[]`` when there is nothing to undo (no batch, or it is undone already)."""
    batch_id = batch_id or journal.last_batch(catalog)
    selected = journal.entries(catalog, batch_id=batch_id) if batch_id else []
    return undo(catalog, selected, progress=progress) if selected else []


def _undo_file(catalog: Catalog, path: str, selected: list[journal.JournalEntry]) -> TrackResult:
    newest = journal.latest_write(catalog, path)
    if newest is not None and newest.id not in {e.id for e in selected}:
        return TrackResult(path, "refused", "a later earmark write changed this file; undo that "
                                            "first")
    try:
        current = write.content_hash(path)
    except FileNotFoundError:
        # A move that scan recognised carries the journal along (tracks.move_track), so a file
        # missing here moved or was deleted behind the catalog's back.
        return TrackResult(path, "refused", (
            "file moved or deleted since earmark wrote it; run `earmark scan` on its folder so "
            "earmark can find it"))
    except OSError as exc:
        return TrackResult(path, "refused", f"cannot read: {exc.strerror or exc}")
    # The file holds what it held before the newest writes: they were interrupted before the
    # file was replaced, or someone put the old file back (a restored backup).
    never = []
    while selected and selected[-1].new_hash != current and selected[-1].old_hash == current:
        batch = selected[-1].batch_id
        while selected and selected[-1].batch_id == batch:
            never.append(selected.pop())
    if not selected:
        journal.mark_undone(catalog, [e.id for e in never])
        _refresh_track(catalog, path, current)
        return TrackResult(path, "not written", (
            "the file already holds what it had before this write (an interrupted run, or "
            "restored by someone else); nothing to restore"))
    restore: dict[str, list[str] | None] = {}  # the oldest value of each key: what was there
    left: dict[str, list[str] | None] = {}  # the newest: what earmark left in the file
    for entry in selected:
        restore.setdefault(entry.field, entry.old)
        left[entry.field] = entry.new
    container = restore.pop(journal.CONTAINER, ())  # () = earmark never changed the container
    reason = None
    if selected[-1].new_hash != current:
        keys = list(restore)
        try:
            now, form = write.current_tags(path, keys)
        except EarmarkError as exc:
            return TrackResult(path, "refused", str(exc))
        differs = [key for key in keys if now[key] != left[key]]
        if differs:
            key = differs[0]
            before = (f"{key} was empty: remove it in your tag editor if you want it so"
                      if restore[key] is None else
                      f"{key} held {_shown(restore[key])}: set it in your tag editor, or write "
                      "genres again with `earmark tag FILE --mode overwrite`")
            return TrackResult(path, "refused", (
                f"changed by someone else since earmark wrote it, {key} included (it holds "
                f"{_shown(now[key])}, earmark wrote {_shown(left[key])}); undo would overwrite "
                f"that change, so nothing was restored. Before earmark, {before}"))
        if container != () and form != (left[journal.CONTAINER] or [None])[0]:
            container = ()  # the other program changed the container too: leave it to them
        reason = "restored earmark's fields; the other changes to this file were kept"
    target = container[0] if container else None
    if target == "ID3v2.2":
        reason = ((reason + "; ") if reason else "") + (
            "the old values were put back in ID3v2.3 (mutagen cannot write ID3v2.2)")
    try:
        prepared = write.write_keys(
            path, restore, expect_hash=current, keep_frames=True,
            id3_version=int(target[-1]) if target in ("ID3v2.3", "ID3v2.4") else None,
            drop_empty_container=container is None)
    except (EarmarkError, OSError) as exc:
        return TrackResult(path, "refused", str(exc))
    journal.mark_undone(catalog, [e.id for e in selected + never])
    _refresh_track(catalog, path, current if prepared.unchanged else prepared.new_hash)
    changes = [FieldChange(key, key, prepared.old[key], values)
               for key, values in restore.items()]
    if container != ():
        changes.append(FieldChange("tag container", journal.CONTAINER,
                                   _listed(prepared.old_container),
                                   _listed(prepared.new_container)))
    return TrackResult(path, "restored", reason, tuple(changes))
