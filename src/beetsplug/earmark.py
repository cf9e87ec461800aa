"""beets plugin: fill genres in a beets library from earmark's predictions.

Enable it with ``plugins: earmark`` in beets' config, then run ``beet earmark [QUERY]``. Genres
come from earmark's catalog (``earmark scan`` + ``earmark embed`` store per-song predictions);
with ``--compute`` (or ``compute: yes``) songs earmark has not analysed yet are scanned and run
through the pretrained tagger first. Genres pass through earmark's tag policy (vocabulary,
aliases, per-artist/album overrides, confidence and count limits, fill/overwrite/merge) and go
into beets' multi-valued ``genres`` field; beets writes them into the files as it writes any
field (when its ``import.write`` setting or ``-w`` says so).

Configuration (all optional)::

    earmark:
        db: ~/.local/share/earmark/catalog.sqlite   # default: earmark's default catalog
        model: MSD_musicnn       # predictions to use (a trained classifier's name works too)
        mode: fill               # fill | overwrite | merge
        min_confidence: 0.3
        max_genres: 2
        config: null             # earmark vocabulary/overrides file (JSON or TOML)
        compute: no              # analyse songs earmark has no predictions for
"""

from __future__ import annotations

import os

from beets import ui
from beets.plugins import BeetsPlugin

from earmark.catalog import Catalog, tracks
from earmark.catalog.predictions import is_silent
from earmark.errors import EarmarkError
from earmark.models.registry import MODEL_NAMES
from earmark.tagging.policy import choose_genres, load_policy, new_values
from earmark.tagging.sources import (
    SILENT,
    ensure_predictions,
    load_prediction,
)


class EarmarkPlugin(BeetsPlugin):
    def __init__(self) -> None:
        super().__init__()
        self.config.add({
            "db": None,
            "model": "MSD_musicnn",
            "mode": "fill",
            "min_confidence": 0.3,
            "max_genres": 2,
            "config": None,
            "compute": False,
        })

    def commands(self) -> list[ui.Subcommand]:
        command = ui.Subcommand("earmark", help="fill genres from earmark's predictions")
        command.parser.add_option("-p", "--pretend", action="store_true",
                                  help="show what would change, change nothing")
        command.parser.add_option("-m", "--mode", choices=("fill", "overwrite", "merge"),
                                  help="fill (only songs without genres), overwrite or merge")
        command.parser.add_option("-c", "--compute", action="store_true", default=None,
                                  help="analyse songs earmark has no predictions for")
        command.func = self._command
        return [command]

    def _policy(self, mode: str | None):
        path = self.config["config"].get()
        return load_policy(os.path.expanduser(path) if path else None).with_(
            mode=mode or self.config["mode"].as_str(),
            min_confidence=self.config["min_confidence"].as_number(),
            max_values=self.config["max_genres"].get(int),
        )

    def _command(self, lib, opts, args) -> None:
        try:
            policy = self._policy(opts.mode)
        except EarmarkError as exc:
            raise ui.UserError(f"earmark: {exc}") from exc
        model = self.config["model"].as_str()
        compute = self.config["compute"].get(bool) if opts.compute is None else opts.compute
        db = self.config["db"].get()
        with Catalog(os.path.expanduser(db) if db else None) as catalog:
            items = list(lib.items(args))
            rows = self._tracks(catalog, items, compute and model in MODEL_NAMES, model)
            write = ui.should_write() and not opts.pretend
            for item, track in zip(items, rows, strict=True):
                self._update(catalog, item, track, model, policy, opts.pretend, write)

    def _tracks(self, catalog: Catalog, items: list, compute: bool, model: str) -> list:
        """earmark's catalog row for each item (scanned and analysed first with ``compute``)."""
        from earmark.ingest.scan import add_file

        rows = []
        for item in items:
            path = os.fsdecode(item.path)
            track = tracks.get_track(catalog, path)
            if compute and (track is None or track.status != "ok"):
                try:
                    track = add_file(catalog, path, verify=False)
                except EarmarkError as exc:  # one item the catalog cannot hold; go on
                    self._log.warning("earmark could not add {}: {}", path, exc)
                    track = None
            rows.append(track)
        if compute:
            wanted = [t.id for t in rows if t is not None and t.status == "ok"]
            for path, reason in ensure_predictions(catalog, model, wanted):
                self._log.warning("earmark could not analyse {}: {}", path, reason)
        return rows

    def _update(self, catalog, item, track, model, policy, pretend: bool, write: bool) -> None:
        path = os.fsdecode(item.path)
        if track is None:
            self._log.info("{}: not in earmark's catalog (run `earmark scan`, or use "
                           "--compute)", path)
            return
        if is_silent(catalog, track.id):
            self._log.info("{}: {}", path, SILENT)
            return
        predictions = load_prediction(catalog, track.id, model, "genres")
        if predictions is None:
            self._log.info("{}: no {} genre predictions (run `earmark embed`, or use "
                           "--compute)", path, model)
            return
        chosen = choose_genres(predictions, policy, item.artist, item.album)
        old = list(item.genres or [])
        genres = new_values(old or None, [genre for genre, _ in chosen], policy)
        if genres is None:
            return
        item.genres = genres
        ui.show_model_changes(item, fields=["genres"])
        if not pretend:
            item.try_sync(write=write, move=False)
