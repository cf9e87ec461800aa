"""Decoding real music in every format: rates, channels, offsets, streaming, bad files."""

from __future__ import annotations

import shutil
import subprocess
import wave

import numpy as np
import pytest

from earmark.audio import (
    check_audio,
    decode_audio,
    frame_chunks,
    probe_audio,
    song_chunks,
    stream_audio,
)
from earmark.errors import (
    AudioError,
    CorruptAudioError,
    EmptyFileError,
    NotAudioError,
    UnreadableFileError,
    UnsupportedCodecError,
)
from music import FORMATS, gtzan_clip, transcode

LOSSLESS = ("flac", "wav", "aiff")


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_decodes_to_mono_16k(music_files, fmt):
    path = music_files[fmt]
    info = probe_audio(path)
    assert info.sample_rate in (44100, 48000)  # Opus always decodes at 48 kHz
    assert info.channels == 2
    assert info.duration == pytest.approx(4.0, abs=0.1)
    y = decode_audio(path, 16000)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == pytest.approx(64000, abs=1600)
    assert 0.05 < np.abs(y).max() < 1.1  # real music; lossy decoders may overshoot 1.0 a little
    assert np.isfinite(y).all()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_lossy_formats_sound_like_the_lossless_original(music_files, fmt):
    ref = decode_audio(music_files["flac"], 16000)
    y = decode_audio(music_files[fmt], 16000)
    n = min(len(ref), len(y)) - 4000
    # Encoders add a little delay; find it, then the waveforms must agree closely.
    lags = range(-1200, 1201, 1)
    a = ref[2000 : 2000 + n - 2400]
    best = max(lags, key=lambda lag: float(np.dot(a, y[2000 + lag : 2000 + lag + len(a)])))
    b = y[2000 + best : 2000 + best + len(a)]
    corr = np.corrcoef(a, b)[0, 1]
    assert corr > (0.999 if fmt in LOSSLESS else 0.97), (fmt, corr, best)


def test_lossless_formats_are_sample_identical(music_files):
    flac = decode_audio(music_files["flac"], mono=False)
    for fmt in ("wav", "aiff"):
        other = decode_audio(music_files[fmt], mono=False)
        assert other.shape == flac.shape == (2, flac.shape[1])
        np.testing.assert_array_equal(other, flac)


def test_native_rate_stereo_and_mono_downmix(music_files):
    stereo = decode_audio(music_files["wav"], mono=False)
    mono = decode_audio(music_files["wav"])
    assert stereo.shape[0] == 2 and len(mono) == stereo.shape[1]
    np.testing.assert_allclose(mono, stereo.mean(axis=0), atol=2e-5)


def test_resampling_keeps_the_band_and_rejects_aliases(tmp_path):
    """1 kHz + 11 kHz tones at 44.1 kHz → 16 kHz: the 1 kHz tone keeps its level, the 11 kHz
    one (above the new Nyquist) must not fold back to 5 kHz."""
    sr = 44100
    t = np.arange(2 * sr) / sr
    x = 0.4 * np.sin(2 * np.pi * 1000 * t) + 0.4 * np.sin(2 * np.pi * 11000 * t)
    path = tmp_path / "tones.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sr)
        out.writeframes((x * 32767).astype("<i2").tobytes())
    y = decode_audio(path, 16000)[4000:-4000]
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y)))) / (np.hanning(len(y)).sum() / 2)
    freqs = np.fft.rfftfreq(len(y), 1 / 16000)
    level_1k = spectrum[np.argmin(np.abs(freqs - 1000))]
    alias = spectrum[np.argmin(np.abs(freqs - 5000))]
    assert level_1k == pytest.approx(0.4, rel=0.01)
    assert 20 * np.log10(alias / level_1k) < -90


@pytest.mark.parametrize("fmt", ["flac", "mp3", "m4a", "ogg"])
def test_offset_and_duration_seek_to_the_right_samples(music_files, fmt):
    whole = decode_audio(music_files[fmt], 16000)
    part = decode_audio(music_files[fmt], 16000, offset=1.5, duration=2.0)
    assert len(part) == 32000
    start = 24000
    # Away from the resampler's edges the excerpt is the same signal as the whole decode.
    a, b = part[400:-400], whole[start + 400 : start + 32000 - 400]
    assert np.corrcoef(a, b)[0, 1] > 0.999


def test_offset_past_the_end_gives_no_samples(music_files):
    assert decode_audio(music_files["flac"], 16000, offset=60.0).size == 0


def test_stream_blocks_concatenate_to_the_whole_decode(music_files):
    whole = decode_audio(music_files["mp3"], 16000)
    blocks = list(stream_audio(music_files["mp3"], 16000, block_seconds=0.5))
    assert all(len(b) == 8000 for b in blocks[:-1])
    np.testing.assert_allclose(np.concatenate(blocks), whole, atol=1e-6)


def test_real_song_odd_rate_and_channels(tmp_path):
    src = gtzan_clip("jazz", 0)
    path = transcode(src, tmp_path / "odd.ogg", "ogg", seconds=3, rate=32000, channels=1)
    y = decode_audio(path, 22050)
    assert len(y) == pytest.approx(3 * 22050, abs=200)


def test_frame_chunks_pads_and_keeps_every_sample():
    x = np.arange(10, dtype=np.float32)
    chunks = frame_chunks(x, 4)
    assert chunks.shape == (3, 4)
    np.testing.assert_array_equal(chunks.ravel()[:10], x)
    assert frame_chunks(x, 4, pad=False).shape == (2, 4)
    assert frame_chunks(x, 4, 2).shape == (4, 4)
    assert frame_chunks(x[:3], 4).shape == (1, 4)
    assert frame_chunks(x[:0], 4).shape == (0, 4)
    mel = np.ones((96, 10))
    assert frame_chunks(mel, 4).shape == (3, 96, 4)


def test_song_chunks_keep_whole_chunks_and_pad_only_a_short_song():
    x = np.arange(1, 11, dtype=np.float32)
    np.testing.assert_array_equal(song_chunks(x, 4), [[1, 2, 3, 4], [5, 6, 7, 8]])
    np.testing.assert_array_equal(song_chunks(x[:3], 4), [[1, 2, 3, 0]])
    assert song_chunks(x[:8], 4).shape == (2, 4)


# --- bad input: each case gets its own clear error -------------------------------------------


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp3"
    path.write_bytes(b"")
    with pytest.raises(EmptyFileError, match="empty"):
        decode_audio(path)


def test_text_file_with_audio_extension(tmp_path):
    path = tmp_path / "notes.flac"
    path.write_text("these are my shopping notes, not music\n" * 50)
    with pytest.raises(NotAudioError, match="not an audio file"):
        probe_audio(path)


def test_image_with_audio_extension_has_no_audio_stream(tmp_path):
    png = tmp_path / "cover.png"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.imsave(png, np.random.default_rng(0).random((16, 16)))
    path = tmp_path / "cover.mp3"
    path.write_bytes(png.read_bytes())
    with pytest.raises(NotAudioError):
        decode_audio(path)


def test_truncated_flac_is_detected(music_copy):
    path = music_copy("flac")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    check = check_audio(path)
    assert check.decoded_seconds < check.info.duration - 1.0


def test_file_cut_inside_the_header(music_copy):
    path = music_copy("m4a")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(AudioError):
        decode_audio(path)


def test_corrupted_middle_is_reported_not_fatal(music_copy):
    path = music_copy("flac")
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(1)
    mid = len(data) // 2
    data[mid : mid + 4000] = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    check = check_audio(path)
    assert check.bad_packets > 0
    y = decode_audio(path, 16000)  # players skip damaged frames; so does decoding
    assert len(y) > 16000 * 2


def test_unknown_codec_in_a_valid_container(music_copy):
    path = music_copy("wav")
    data = bytearray(path.read_bytes())
    fmt_chunk = data.index(b"fmt ")
    data[fmt_chunk + 8 : fmt_chunk + 10] = (0x7A7A).to_bytes(2, "little")  # no such codec
    path.write_bytes(bytes(data))
    with pytest.raises(UnsupportedCodecError, match="unsupported"):
        decode_audio(path)


def test_missing_file_and_symlink_loop(tmp_path):
    with pytest.raises(UnreadableFileError, match="not found"):
        decode_audio(tmp_path / "nope.mp3")
    loop = tmp_path / "loop.mp3"
    loop.symlink_to(loop)
    with pytest.raises(UnreadableFileError, match="loop"):
        decode_audio(loop)


def test_decode_errors_are_audio_errors_with_reasons(tmp_path):
    path = tmp_path / "garbage.ogg"
    path.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(AudioError) as info:
        decode_audio(path)
    assert info.value.reason and info.value.path == str(path)
    assert isinstance(info.value, NotAudioError | CorruptAudioError)


@pytest.mark.parametrize(
    "codec,channels",
    [("pcm_u8", 2), ("pcm_s16le", 2), ("pcm_s24le", 2), ("pcm_s32le", 1), ("pcm_f32le", 2),
     ("pcm_f64le", 2), ("pcm_s16le", 6)],
)
def test_sample_formats_match_ffmpeg_decoding(tmp_path, codec, channels):
    """Every PCM sample format and a 5.1 layout give exactly what the ffmpeg CLI decodes."""
    src = gtzan_clip("disco", 2)
    path = tmp_path / f"{codec}.wav"
    ffmpeg = shutil.which("ffmpeg")
    subprocess.run([ffmpeg, "-v", "error", "-y", "-t", "2", "-i", str(src), "-ac",
                    str(channels), "-c:a", codec, str(path)], check=True)
    raw = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-f", "f32le", "-c:a",
                          "pcm_f32le", "-"], check=True, capture_output=True).stdout
    reference = np.frombuffer(raw, "<f4").reshape(-1, channels).T
    ours = decode_audio(path, mono=False)
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, atol=1e-7)
    np.testing.assert_allclose(decode_audio(path), reference.mean(axis=0), atol=1e-6)
