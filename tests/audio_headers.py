"""Audio headers written by hand for the pre-flight tests: sparse files, no real samples."""

from __future__ import annotations

import struct
from pathlib import Path


def wav_header(
    data_size: int,
    *,
    rate: int = 16_000,
    channels: int = 1,
    bits: int = 16,
    tag: int = 1,
    data_field: int | None = None,
) -> bytes:
    """A canonical 44-byte WAV header for ``data_size`` bytes of samples."""
    align = channels * bits // 8
    field = data_size if data_field is None else data_field
    return (
        b"RIFF"
        + struct.pack("<I", min(36 + data_size, 0xFFFFFFFF))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, tag, channels, rate, rate * align, align, bits)
        + b"data"
        + struct.pack("<I", min(field, 0xFFFFFFFF))
    )


def sparse_wav(path: Path, seconds: float, *, rate: int = 16_000, channels: int = 1) -> Path:
    """A WAV file of ``seconds`` of 16-bit audio: header written, the rest a hole (truncate)."""
    size = int(seconds * rate * channels * 2)
    with path.open("wb") as out:
        out.write(wav_header(size, rate=rate, channels=channels))
        out.truncate(44 + size)
    return path
