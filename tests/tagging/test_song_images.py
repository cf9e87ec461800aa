"""A song's pictures for the song page (issue 14): real PNGs drawn from real audio, once per
file content."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from earmark.catalog import Catalog
from earmark.errors import EarmarkError
from earmark.ingest.scan import add_file
from earmark.tagging.song_images import KINDS, song_image

pytestmark = pytest.mark.slow


def _picture(path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("L"), dtype=np.float64)


@pytest.mark.parametrize("kind", KINDS)
def test_song_image_is_a_png_drawn_once_per_content(kind, music_copy, tmp_path):
    song = music_copy("flac")
    with Catalog(tmp_path / "catalog.sqlite") as catalog:
        track = add_file(catalog, song)
    folder = tmp_path / "images"
    image = song_image(track, kind, folder)
    assert image.parent == folder and track.content_hash in image.name
    pixels = _picture(image)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 300
    assert pixels.std() > 10  # a drawn picture, not a blank canvas
    # Bounded: the song page shows both pictures above the genres, tags and radio.
    assert pixels.shape[0] <= 450, pixels.shape
    drawn_at = image.stat().st_mtime_ns
    assert song_image(track, kind, folder) == image  # the second page view reuses it
    assert image.stat().st_mtime_ns == drawn_at
    assert [p.name for p in folder.iterdir()] == [image.name]  # no scratch file left


def test_song_image_of_an_unplayable_song_or_unknown_kind_is_refused(music_copy, tmp_path):
    broken = music_copy("mp3", "broken.mp3")
    broken.write_bytes(b"not audio at all" * 100)
    with Catalog(tmp_path / "catalog.sqlite") as catalog:
        track = add_file(catalog, broken)
    assert track.status == "error"
    with pytest.raises(EarmarkError, match="not playable"):
        song_image(track, "spectrogram", tmp_path / "images")
    with pytest.raises(ValueError, match="no picture 'waveform'"):
        song_image(track, "waveform", tmp_path / "images")
    assert not (tmp_path / "images").exists()
