"""Audio duration and channels from a file's headers: no decoding, a few kilobytes read.

WAV (RIFF, RF64/BW64 with ``ds64``, ``WAVE_FORMAT_EXTENSIBLE``, chunks in any order, the
streaming headers whose ``data`` size is 0 or 0xFFFFFFFF), FLAC (``STREAMINFO``) and
WebM/Matroska (``Segment/Info/Duration``) are read with the standard library. MP3, M4A/MP4 and
Ogg (Vorbis, Opus) are read by ``mutagen`` when it is installed (``pip install
gladia-async[audio]``); without it their duration is unknown.

The promise is "unknown, never wrong": a format this module does not know, a header it cannot
read, a file that lies about itself, all give ``duration=None``, so a pre-flight check never
refuses a file on a guess. Nothing here raises, whatever the bytes.
"""

from __future__ import annotations

import io
import math
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import attrs

__all__ = ["AudioInfo", "probe_audio"]

#: The most bytes one probe may read (mutagen's MP4 atom walk reads ``moov``, which for a
#: long file is a few hundred kilobytes); past it the duration is unknown.
MAX_PROBE_BYTES = 4 * 1024 * 1024
#: WAV and Matroska headers are walked at most this many elements deep into the file.
_MAX_CHUNKS = 256


@attrs.frozen(kw_only=True)
class AudioInfo:
    """What a file's headers say: ``duration`` in seconds and ``channels``, when readable.

    ``format`` is the container recognised from the first bytes (``"wav"``, ``"flac"``,
    ``"mp3"``, ``"mp4"``, ``"ogg"``, ``"opus"``, ``"webm"``, ``"matroska"``), ``None`` when
    unrecognised; ``size`` is the number of bytes of audio. ``duration`` and ``channels`` are
    ``None`` when the headers do not say (or cannot be trusted): unknown, never a guess.
    """

    duration: float | None
    channels: int | None
    format: str | None
    size: int


class _Unreadable(Exception):
    """The header cannot be read: the duration is unknown."""


class _Reader:
    """Positioned reads from a file object, counted and capped at :data:`MAX_PROBE_BYTES`."""

    def __init__(self, handle: IO[bytes], start: int, size: int) -> None:
        self._handle = handle
        self._start = start
        self.size = size
        self.bytes_read = 0

    def read_at(self, offset: int, count: int) -> bytes:
        if offset < 0 or count < 0 or offset >= self.size:
            return b""
        count = min(count, self.size - offset)
        if self.bytes_read + count > MAX_PROBE_BYTES:
            raise _Unreadable("probe budget exhausted")
        self._handle.seek(self._start + offset)
        data = self._handle.read(count)
        if not isinstance(data, (bytes, bytearray)):
            raise _Unreadable("file object returned no bytes")
        self.bytes_read += len(data)
        return bytes(data)


class _MutagenFile(io.RawIOBase):
    """The probed range as a file object for mutagen, every read going through the budget."""

    def __init__(self, reader: _Reader) -> None:
        self._reader = reader
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._reader.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._reader.size - self._pos
        data = self._reader.read_at(self._pos, size)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def probe_audio(source: object, *, filename: str | None = None) -> AudioInfo:
    """Return what the headers of ``source`` (a path, ``bytes`` or a binary file object) say.

    Reads a few kilobytes (never more than 4 MiB), never decodes, never raises for what the
    bytes contain: an unknown format or an unreadable header gives ``duration=None``. A file
    object is read from its current position and left there. ``filename`` is unused by the
    sniffing (the bytes decide) and kept for callers that know a name only.
    """
    del filename
    if isinstance(source, (str, os.PathLike)):
        path = Path(os.fspath(source))
        try:
            with path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                return _probe(handle, 0, size)
        except (OSError, ValueError):
            return AudioInfo(duration=None, channels=None, format=None, size=_size_of(path))
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return _probe(io.BytesIO(data), 0, len(data))
    fileobj: Any = source
    try:
        start = fileobj.tell()
        end = fileobj.seek(0, io.SEEK_END)
    except Exception:  # a file object of any kind: unknown, never an error
        return AudioInfo(duration=None, channels=None, format=None, size=0)
    try:
        return _probe(fileobj, start, max(0, end - start))
    finally:
        try:
            fileobj.seek(start)
        except Exception:  # the caller's file: prepare_audio checks it again itself
            pass


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _probe(handle: IO[bytes], start: int, size: int) -> AudioInfo:
    return _probe_counted(_Reader(handle, start, size))


def _probe_counted(reader: _Reader) -> AudioInfo:
    """The probe itself, on a counted reader (tests read ``reader.bytes_read``)."""
    unknown = AudioInfo(duration=None, channels=None, format=None, size=reader.size)
    try:
        head = reader.read_at(0, 64)
        kind = _detect(head, reader)
        if kind is None:
            return unknown
        parse = _PARSERS.get(kind, _with_mutagen)
        try:
            duration, channels = parse(reader, kind)
        except _Unreadable:
            duration, channels = None, None
        return AudioInfo(
            duration=_sane_duration(duration),
            channels=channels if channels is not None and 0 < channels <= 255 else None,
            format=kind,
            size=reader.size,
        )
    except Exception:  # garbage in, "unknown" out: a header never makes a call fail
        return unknown


def _sane_duration(value: float | None) -> float | None:
    if value is None or not math.isfinite(value) or value > 1e8:
        return None
    rounded = round(float(value), 6)
    return rounded if rounded > 0 else None  # under a microsecond: a header that lies


def _id3_end(reader: _Reader) -> int:
    """Offset past an ID3v2 tag at the start (0 when there is none)."""
    head = reader.read_at(0, 10)
    if len(head) == 10 and head[:3] == b"ID3" and all(b < 0x80 for b in head[6:10]):
        size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
        return 10 + size + (10 if head[5] & 0x10 else 0)
    return 0


def _detect(head: bytes, reader: _Reader) -> str | None:
    if head[8:12] == b"WAVE" and head[:4] in (b"RIFF", b"RF64", b"BW64"):
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "opus" if b"OpusHead" in head else "ogg"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in head else "matroska"
    if head[:3] == b"ID3":
        after = reader.read_at(_id3_end(reader), 4)
        return "flac" if after == b"fLaC" else "mp3"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return "mp3"  # an MPEG audio frame sync (layer bits set: not ADTS AAC)
    return None


# -- WAV ---------------------------------------------------------------------------------------

_WAVE_PCM, _WAVE_FLOAT, _WAVE_EXTENSIBLE = 1, 3, 0xFFFE


def _wav(reader: _Reader, _kind: str) -> tuple[float | None, int | None]:
    riff = reader.read_at(0, 4)
    offset = 12
    fmt: tuple[int, int, int, int, int] | None = None  # tag, channels, rate, byte rate, align
    ds64_data: int | None = None
    fact_samples: int | None = None
    data: tuple[int, int] | None = None  # (offset of the samples, their size)
    for _ in range(_MAX_CHUNKS):
        header = reader.read_at(offset, 8)
        if len(header) < 8:
            break
        chunk_id = header[:4]
        (chunk_size,) = struct.unpack("<I", header[4:])
        body = offset + 8
        if chunk_id == b"ds64":
            fields = reader.read_at(body, 16)
            if len(fields) == 16:
                _riff_size, ds64_data = struct.unpack("<QQ", fields)
        elif chunk_id == b"fmt ":
            fields = reader.read_at(body, 14)
            if len(fields) < 14:
                raise _Unreadable("fmt chunk cut short")
            fmt = struct.unpack("<HHIIH", fields)
        elif chunk_id == b"fact":
            fields = reader.read_at(body, 4)
            if len(fields) == 4:
                (fact_samples,) = struct.unpack("<I", fields)
        elif chunk_id == b"data":
            available = max(0, reader.size - body)
            if riff in (b"RF64", b"BW64") and chunk_size == 0xFFFFFFFF and ds64_data is not None:
                chunk_size = ds64_data
            if chunk_size in (0, 0xFFFFFFFF):
                # A header written before the length was known (a stream, a recorder that
                # crashed): the samples run to the end of the file.
                data = (body, available)
                break
            data = (body, min(chunk_size, available))
            if fmt is not None:
                break
        offset = body + chunk_size + (chunk_size & 1)
        if offset >= reader.size:
            break
    if fmt is None or data is None:
        raise _Unreadable("no fmt or data chunk")
    tag, channels, rate, byte_rate, align = fmt
    if tag not in (_WAVE_PCM, _WAVE_FLOAT, _WAVE_EXTENSIBLE) and fact_samples and rate:
        return fact_samples / rate, channels  # compressed WAV: the fact chunk counts samples
    if byte_rate <= 0:
        byte_rate = rate * align
    if byte_rate <= 0:
        return None, channels
    return data[1] / byte_rate, channels


# -- FLAC --------------------------------------------------------------------------------------


def _flac(reader: _Reader, _kind: str) -> tuple[float | None, int | None]:
    start = _id3_end(reader)
    block = reader.read_at(start + 4, 4 + 34)
    if reader.read_at(start, 4) != b"fLaC" or len(block) < 38 or block[0] & 0x7F != 0:
        raise _Unreadable("no STREAMINFO block first")
    info = int.from_bytes(block[4 + 10 : 4 + 18], "big")
    rate = info >> 44
    channels = ((info >> 41) & 0x7) + 1
    total = info & ((1 << 36) - 1)
    if rate == 0 or total == 0:  # 0 samples: "unknown" in the FLAC format
        return None, channels
    return total / rate, channels


# -- WebM / Matroska (EBML) ---------------------------------------------------------------------

_SEGMENT, _INFO, _TIMESCALE, _DURATION = 0x18538067, 0x1549A966, 0x2AD7B1, 0x4489
_CLUSTER = 0x1F43B675


def _vint(reader: _Reader, offset: int, *, keep_marker: bool) -> tuple[int, int, bool]:
    """An EBML variable-length integer: (value, length, all value bits set = unknown size)."""
    first = reader.read_at(offset, 1)
    if not first or first[0] == 0:
        raise _Unreadable("bad EBML number")
    length = 9 - first[0].bit_length()
    raw = reader.read_at(offset, length)
    if len(raw) < length:
        raise _Unreadable("EBML number cut short")
    value = int.from_bytes(raw, "big")
    if not keep_marker:
        value &= (1 << (7 * length)) - 1
    return value, length, value == (1 << (7 * length)) - 1


def _element(reader: _Reader, offset: int) -> tuple[int, int, int, bool]:
    """(id, offset of the body, size of the body, size unknown) of the element at ``offset``."""
    element_id, id_len, _ = _vint(reader, offset, keep_marker=True)
    size, size_len, unknown = _vint(reader, offset + id_len, keep_marker=False)
    return element_id, offset + id_len + size_len, size, unknown


def _matroska(reader: _Reader, _kind: str) -> tuple[float | None, int | None]:
    _, body, size, unknown = _element(reader, 0)  # the EBML header
    if unknown:
        raise _Unreadable("EBML header of unknown size")
    element_id, offset, segment_size, unknown = _element(reader, body + size)
    if element_id != _SEGMENT:
        raise _Unreadable("no Segment after the EBML header")
    end = reader.size if unknown else min(reader.size, offset + segment_size)
    for _ in range(_MAX_CHUNKS):
        if offset >= end:
            break
        element_id, body, size, unknown = _element(reader, offset)
        if element_id == _INFO and not unknown:
            return _matroska_info(reader, body, body + size), None
        if element_id == _CLUSTER or unknown:
            break  # the media starts (or cannot be skipped) before any Info: unknown
        offset = body + size
    return None, None


def _matroska_info(reader: _Reader, offset: int, end: int) -> float | None:
    scale = 1_000_000  # nanoseconds per tick: Matroska's default TimecodeScale
    duration: float | None = None
    for _ in range(_MAX_CHUNKS):
        if offset >= end:
            break
        element_id, body, size, unknown = _element(reader, offset)
        if unknown or size > 8:
            if element_id in (_TIMESCALE, _DURATION):
                raise _Unreadable("malformed Info")
        elif element_id == _TIMESCALE:
            scale = int.from_bytes(reader.read_at(body, size), "big")
        elif element_id == _DURATION:
            raw = reader.read_at(body, size)
            if size == 4:
                (duration,) = struct.unpack(">f", raw)
            elif size == 8:
                (duration,) = struct.unpack(">d", raw)
        offset = body + size
    if duration is None or scale <= 0:
        return None
    return duration * scale / 1e9


# -- the rest, through mutagen --------------------------------------------------------------------


def _with_mutagen(reader: _Reader, kind: str) -> tuple[float | None, int | None]:
    try:
        import mutagen  # an optional extra, imported when a file needs it
    except ImportError:
        return None, None
    try:
        found = mutagen.File(_MutagenFile(reader))
    except _Unreadable:
        raise
    except Exception:  # mutagen raises its own errors (and some others) on bad headers
        return None, None
    stream = getattr(found, "info", None)
    duration = getattr(stream, "length", None)
    channels = getattr(stream, "channels", None)
    if kind == "mp3" and getattr(stream, "sketchy", False):
        duration = None  # mutagen's own word: no valid frame found where it looked
    return (
        float(duration) if isinstance(duration, (int, float)) else None,
        channels if isinstance(channels, int) else None,
    )


_PARSERS: dict[str, Callable[[_Reader, str], tuple[float | None, int | None]]] = {
    "wav": _wav,
    "flac": _flac,
    "webm": _matroska,
    "matroska": _matroska,
}
