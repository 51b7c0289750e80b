"""What a batch will cost before it is sent: durations from the files' headers, no request.

Gladia bills pre-recorded audio by its duration; an audio whose channels carry different
content is billed once per channel, identical channels once (docs, "Multiple channels"). The
headers tell the channels, not whether they differ, so :attr:`Estimate.billed_hours` counts
every channel: an upper bound, exact for mono files. Nothing here needs an API key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import anyio.to_thread
import attrs

from .._core.audio_info import AudioInfo, probe_audio
from .._core.config import Limits
from .._http.uploads import describe_limit, describe_seconds, is_url

__all__ = ["Estimate", "FileEstimate", "estimate", "estimate_async"]


@attrs.frozen(kw_only=True)
class FileEstimate:
    """One source of an :class:`Estimate`: its headers' facts and whether Gladia takes it.

    ``duration``/``channels`` are ``None`` when the headers do not tell (a URL, an unknown
    format); ``refusal`` says why the source is over a limit (``None``: within them).
    """

    source: str
    duration: float | None
    channels: int | None
    format: str | None
    size: int
    refusal: str | None = None

    @property
    def billed_seconds(self) -> float | None:
        """Seconds billed at most: the duration times the channels (``None`` if unknown)."""
        if self.duration is None:
            return None
        return self.duration * (self.channels or 1)


@attrs.frozen(kw_only=True)
class Estimate:
    """Durations and billed hours of a set of sources, from their headers.

    ``duration`` sums the known durations (seconds); :attr:`unknown` lists the sources whose
    duration the headers do not tell, :attr:`over_limits` those Gladia would refuse.
    """

    files: tuple[FileEstimate, ...]
    limits: Limits

    @property
    def duration(self) -> float:
        """Total known duration, in seconds."""
        return sum(f.duration for f in self.files if f.duration is not None)

    @property
    def billed_hours(self) -> float:
        """Hours billed at most: each known duration times its channels (see module doc)."""
        return sum(f.billed_seconds or 0.0 for f in self.files) / 3600.0

    @property
    def unknown(self) -> tuple[FileEstimate, ...]:
        """Sources whose duration is unknown (not counted in the totals)."""
        return tuple(f for f in self.files if f.duration is None)

    @property
    def over_limits(self) -> tuple[FileEstimate, ...]:
        """Sources over ``Limits.max_audio_duration`` or ``Limits.max_audio_bytes``."""
        return tuple(f for f in self.files if f.refusal is not None)

    def summary(self) -> str:
        """One line for people: files, total duration, billed hours, unknowns, refusals."""
        parts = [
            f"{len(self.files)} file{'s' if len(self.files) != 1 else ''}",
            f"{describe_seconds(self.duration)} of audio",
            f"up to {self.billed_hours:.2f} billed hours",
        ]
        if self.unknown:
            parts.append(f"{len(self.unknown)} of unknown duration (not counted)")
        if self.over_limits:
            parts.append(f"{len(self.over_limits)} over the limits")
        return ", ".join(parts)

    def as_json(self) -> dict[str, object]:
        """The estimate as JSON data (what ``gladia-async estimate --json`` prints)."""
        return {
            "files": len(self.files),
            "duration_seconds": round(self.duration, 3),
            "billed_hours": round(self.billed_hours, 4),
            "billing_note": "channels counted as billed separately (identical channels are "
            "billed once by Gladia, so this is an upper bound)",
            "unknown_duration": [f.source for f in self.unknown],
            "over_limits": [{"source": f.source, "reason": f.refusal} for f in self.over_limits],
            "limits": {
                "max_audio_duration_seconds": self.limits.max_audio_duration,
                "max_audio_bytes": self.limits.max_audio_bytes,
            },
            "per_file": [
                {
                    "source": f.source,
                    "duration_seconds": f.duration,
                    "channels": f.channels,
                    "format": f.format,
                    "size": f.size,
                    "billed_seconds": f.billed_seconds,
                    "over_limits": f.refusal,
                }
                for f in self.files
            ],
        }


def _refusal(info: AudioInfo, limits: Limits) -> str | None:
    if info.size > limits.max_audio_bytes:
        return f"{info.size:,} bytes, over the {limits.max_audio_bytes / 1e6:,.0f} MB limit"
    limit = limits.max_audio_duration
    if limit is not None and info.duration is not None and info.duration > limit:
        return f"lasts {describe_seconds(info.duration)}, over the {describe_limit(limit)} limit"
    return None


def _one(source: object, limits: Limits) -> FileEstimate:
    if is_url(source):
        info = AudioInfo(duration=None, channels=None, format=None, size=0)
        name = str(source)
    elif isinstance(source, (str, os.PathLike)):
        info = probe_audio(source)
        name = os.fspath(source)
    else:
        info = probe_audio(source)
        raw = getattr(source, "name", None)
        name = Path(raw).name if isinstance(raw, str) else type(source).__name__
    return FileEstimate(
        source=name,
        duration=info.duration,
        channels=info.channels,
        format=info.format,
        size=info.size,
        refusal=_refusal(info, limits),
    )


def estimate(sources: Iterable[object], *, limits: Limits | None = None) -> Estimate:
    """Return the durations and billed hours of ``sources``, read from their headers.

    ``sources`` are what ``transcribe_many`` takes: paths, ``bytes``, binary file objects and
    URLs (a URL's duration is unknown: it is not fetched). Reads a few kilobytes per file and
    sends nothing; no API key needed. ``limits`` (default :class:`Limits`) decides which files
    are over the limits. Blocking file IO: from async code, use :func:`estimate_async`.
    """
    chosen = limits or Limits()
    return Estimate(files=tuple(_one(source, chosen) for source in sources), limits=chosen)


async def estimate_async(sources: Iterable[object], *, limits: Limits | None = None) -> Estimate:
    """:func:`estimate` in a worker thread, so the event loop keeps running meanwhile."""
    listed = list(sources)
    return await anyio.to_thread.run_sync(lambda: estimate(listed, limits=limits))
