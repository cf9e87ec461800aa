"""The one rule for decoding the text files a person hands to earmark: dataset tables,
playlists, ratings exports, review answers, tag configs.

UTF-8 (with or without a byte-order mark) and UTF-16 with a byte-order mark (Excel's "Unicode
Text", Windows Notepad's "Unicode") are read as they are; anything else that is text is read as
Windows-1252, the encoding Excel's "CSV" and old Windows players write, with a warning naming
the first non-UTF-8 byte so a person can check the accents. (Charset guessers weigh dozens of
encodings; the files people hand over are these three.) Binary data is refused.
"""

from __future__ import annotations

import codecs
import io
from itertools import chain
from pathlib import Path
from typing import BinaryIO, TextIO

from earmark.errors import InputFileError


def _first_undecodable(handle: BinaryIO, encoding: str) -> tuple[int, int] | None:
    """``(line, byte)`` of the first byte ``encoding`` cannot decode, or ``None``; reads the
    whole binary ``handle`` block by block, so a 300 MB table is never held in memory."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    for block in chain(iter(lambda: handle.read(1 << 20), b""), [b""]):  # b"": the end
        try:
            decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            # exc.object is what the decoder held: a few pending bytes (never a newline)
            # and this block
            return line + exc.object.count(b"\n", 0, exc.start), exc.object[exc.start]
        line += block.count(b"\n")
    return None


def text_encoding(path: str | Path, save_as: str = "UTF-8") -> tuple[str, str | None]:
    """``(encoding, warning)`` to read the text file ``path`` with (see the module's rule);
    ``warning`` is ``None`` unless the encoding was guessed.

    ``save_as`` names the encoding a person should save the file in, as their program calls
    it (``"CSV UTF-8"`` for a spreadsheet). Raises :class:`~earmark.errors.InputFileError` for
    binary data or text in none of the three encodings, and ``OSError`` when it cannot be read.
    """
    with open(path, "rb") as handle:
        return _encoding_of(handle, Path(path), save_as)


def _encoding_of(handle: BinaryIO, path: Path, save_as: str) -> tuple[str, str | None]:
    """:func:`text_encoding` of the binary ``handle`` (at its start) of ``path``."""
    head = handle.read(8192)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        handle.seek(0)
        bad = _first_undecodable(handle, "utf-16")
        if bad is not None:
            raise InputFileError(f"{path} is damaged UTF-16 text (undecodable bytes "
                                 f"around line {bad[0]}); save it as {save_as}")
        return "utf-16", None
    if b"\0" in head:
        raise InputFileError(f"{path} is binary data, not text (save it as {save_as})")
    handle.seek(0)
    bad = _first_undecodable(handle, "utf-8")
    if bad is None:
        return "utf-8-sig", None
    handle.seek(0)
    if _first_undecodable(handle, "cp1252") is not None:
        raise InputFileError(f"{path} is neither UTF-8 nor Windows-1252 text (byte "
                             f"0x{bad[1]:02x} on line {bad[0]}); save it as {save_as}")
    return "cp1252", (f"{path.name} is not UTF-8 (byte 0x{bad[1]:02x} on line {bad[0]}): read "
                      f"as Windows-1252, as Excel and older Windows programs save text; check "
                      f"accented names, or save it as {save_as}")


def open_text(path: str | Path, warnings: list[str], save_as: str = "UTF-8") -> TextIO:
    """Open a text file for reading in its encoding (see :func:`text_encoding`), with
    ``newline=""`` as the csv module wants; a guess is appended to ``warnings``."""
    encoding, warning = text_encoding(path, save_as)
    if warning:
        warnings.append(warning)
    return open(path, newline="", encoding=encoding)


def read_text(path: str | Path, save_as: str = "UTF-8") -> tuple[str, str | None]:
    """``(text, warning)``: the whole text file in its encoding (see :func:`text_encoding`),
    line breaks as written; ``warning`` says when the encoding was guessed. The file is read
    from disk once: its encoding is found in the bytes already read."""
    data = Path(path).read_bytes()
    encoding, warning = _encoding_of(io.BytesIO(data), Path(path), save_as)
    return data.decode(encoding), warning
