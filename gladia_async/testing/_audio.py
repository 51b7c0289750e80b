"""Audio sniffing for uploads: format detection, WAV header parsing, size-based estimates."""

from __future__ import annotations

import hashlib
import posixpath
import struct
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

__all__ = ["AudioInfo", "InvalidAudio", "info_from_url", "sniff"]

# Bytes per second, from the docs' "estimated file size (1 hour)" table.
_BYTES_PER_HOUR_MB = {
    "3g2": 300,
    "3gp": 300,
    "aac": 60,
    "ac3": 215,
    "avi": 800,
    "eac3": 215,
    "flac": 260,
    "flv": 400,
    "m4a": 60,
    "x-m4a": 60,
    "m4v": 800,
    "mkv": 800,
    "matroska": 800,
    "webm": 800,
    "mov": 800,
    "mp2": 120,
    "mp3": 120,
    "mp4": 800,
    "ogg": 60,
    "opus": 30,
    "wav": 510,
    "wmv": 800,
    "weba": 60,
    "oga": 60,
}
SUPPORTED_EXTENSIONS = frozenset(_BYTES_PER_HOUR_MB)
HEADER_BYTES = 64 * 1024


class InvalidAudio(ValueError):
    """The content is not a supported (or not a well-formed) audio/video file."""


@dataclass(frozen=True)
class AudioInfo:
    extension: str
    audio_duration: float
    number_of_channels: int


def _bytes_per_second(extension: str) -> float:
    return _BYTES_PER_HOUR_MB.get(extension, 57.6) * 1_000_000 / 3600.0


def _detect(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "opus" if b"OpusHead" in head[:128] else "ogg"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand.startswith(b"M4A"):
            return "m4a"
        if brand.startswith(b"qt"):
            return "mov"
        if brand.startswith(b"3g2"):
            return "3g2"
        if brand.startswith(b"3gp"):
            return "3gp"
        return "mp4"
    if head[:4] == b"\x1aE\xdf\xa3":
        return "webm" if b"webm" in head[:64] else "mkv"
    if head[:3] == b"FLV":
        return "flv"
    if head[:4] == b"\x30\x26\xb2\x75":
        return "wmv"
    if head[:2] == b"\x0b\x77":
        return "ac3"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:
            return "aac"
        if head[1] & 0xE0 == 0xE0:
            return "mp3"
    return None


def _parse_wav(head: bytes, size: int) -> AudioInfo:
    offset = 12
    channels = 0
    byte_rate = 0
    while offset + 8 <= len(head):
        chunk_id = head[offset : offset + 4]
        (chunk_size,) = struct.unpack_from("<I", head, offset + 4)
        body = offset + 8
        if chunk_id == b"fmt ":
            if body + 16 > len(head):
                break
            _fmt, channels, _rate, byte_rate = struct.unpack_from("<HHII", head, body)
        elif chunk_id == b"data":
            if channels <= 0 or byte_rate <= 0:
                raise InvalidAudio("Invalid WAV file: missing or corrupt fmt chunk")
            available = max(0, size - body)
            data_size = available if chunk_size in (0, 0xFFFFFFFF) else min(chunk_size, available)
            return AudioInfo("wav", round(data_size / byte_rate, 6), channels)
        offset = body + chunk_size + (chunk_size & 1)
    raise InvalidAudio("Invalid WAV file: no data chunk found in the header")


def _extension_of(filename: str) -> str:
    _, dot, ext = filename.rpartition(".")
    return ext.lower() if dot else ""


def sniff(head: bytes, size: int, filename: str) -> AudioInfo:
    """Identify an uploaded file from its first bytes, total size and filename.

    WAV: duration and channels from the RIFF header. Other recognised formats (magic bytes
    or a supported extension): duration estimated from size with the docs' bitrates, mono.
    Raises :class:`InvalidAudio` for unrecognised content or a corrupt WAV header.
    """
    detected = _detect(head)
    if detected == "wav":
        return _parse_wav(head, size)
    extension = detected or _extension_of(filename)
    if extension not in SUPPORTED_EXTENSIONS:
        raise InvalidAudio("The uploaded file is not a supported audio or video file")
    if extension == "wav":
        raise InvalidAudio("Invalid WAV file: missing RIFF/WAVE header")
    return AudioInfo(extension, round(size / _bytes_per_second(extension), 6), 1)


@dataclass(frozen=True)
class UrlInfo:
    filename: str
    extension: str
    size: int
    audio_duration: float
    number_of_channels: int


def info_from_url(url: str) -> UrlInfo:
    """Deterministic metadata for an external URL (the emulator never fetches it)."""
    path = urlsplit(url).path
    filename = unquote(posixpath.basename(path)) or "audio"
    extension = _extension_of(filename)
    if extension not in SUPPORTED_EXTENSIONS:
        extension = "mp4"  # e.g. a video page of an online service
    digest = int.from_bytes(hashlib.sha256(url.encode()).digest()[:8], "big")
    duration = round(10.0 + (digest % 59_000) / 100.0, 3)
    size = int(duration * _bytes_per_second(extension))
    return UrlInfo(filename, extension, size, duration, 1 + (digest >> 20) % 2)
