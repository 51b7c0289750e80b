"""Configuration value objects: timeouts, retries, polling, connection limits."""

from __future__ import annotations

import email.utils
import math
import random
import time
from datetime import timezone

import attrs

from .checks import at_least_one_setting, non_negative_setting, positive_int_setting

__all__ = [
    "MAX_AUDIO_BYTES",
    "MAX_AUDIO_DURATION",
    "MAX_AUDIO_DURATION_ENTERPRISE",
    "Limits",
    "PollPolicy",
    "RetryPolicy",
    "Timeouts",
]

#: Longest audio Gladia transcribes in one job (docs, supported files & duration): 135 minutes.
MAX_AUDIO_DURATION = 135 * 60.0
#: The same on an enterprise plan: 4 h 15.
MAX_AUDIO_DURATION_ENTERPRISE = 4 * 3600.0 + 15 * 60.0
#: Largest audio file Gladia accepts: "Audio files must not exceed 1000 MB".
MAX_AUDIO_BYTES = 1000 * 1000 * 1000


@attrs.frozen(kw_only=True)
class Timeouts:
    """Per-operation time limits in seconds; ``None`` means no limit.

    In httpx's shape: ``connect`` bounds opening a connection; ``read`` bounds the wait for the
    next bytes from the server, and a streamed download must deliver 64 KiB within ``read``
    seconds (so a server dripping bytes fails too); ``write`` fails an upload whose body made no
    progress for that long (the server stopped reading); ``pool`` bounds the wait for a free
    connection of the pool (``None``: as long as the call's deadline allows), reported as
    :class:`~gladia_async.PoolTimeout` and never retried. ``request`` bounds one ordinary HTTP
    request end to end; ``upload`` bounds an upload or download end to end (none by default:
    their size makes them slow by nature, and the stall bounds above keep them moving).
    Every call is bounded as a whole by ``RetryPolicy.deadline``.
    """

    connect: float | None = attrs.field(default=10.0, validator=non_negative_setting)
    read: float | None = attrs.field(default=60.0, validator=non_negative_setting)
    write: float | None = attrs.field(default=60.0, validator=non_negative_setting)
    pool: float | None = attrs.field(default=None, validator=non_negative_setting)
    request: float | None = attrs.field(default=120.0, validator=non_negative_setting)
    upload: float | None = attrs.field(default=None, validator=non_negative_setting)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how long to retry a failed request.

    Retries ``retry_statuses`` and connection errors with capped exponential backoff and full
    jitter, honouring the server's ``Retry-After``. A non-idempotent POST is retried only when
    the request provably did not reach the server (the connection failed before sending).
    ``deadline`` bounds the total time of one call on one clock: every attempt, backoff, body
    read, the session-wide 429 pause and the wait for a pooled connection count against it.
    """

    attempts: int = attrs.field(default=5, validator=positive_int_setting)
    backoff_initial: float = attrs.field(default=0.25, validator=non_negative_setting)
    backoff_max: float = attrs.field(default=20.0, validator=non_negative_setting)
    backoff_multiplier: float = attrs.field(default=2.0, validator=at_least_one_setting)
    retry_after_max: float = attrs.field(default=60.0, validator=non_negative_setting)
    deadline: float | None = attrs.field(default=300.0, validator=non_negative_setting)
    retry_statuses: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Return the wait before retry number ``attempt`` (1-based), with full jitter."""
        cap = min(self.backoff_max, self.backoff_initial * self.backoff_multiplier ** (attempt - 1))
        return (rng or random).uniform(0, cap)

    def retry_after(self, header: str | None) -> float | None:
        """Parse a ``Retry-After`` header (seconds or HTTP-date) into seconds, capped."""
        if not header:
            return None
        header = header.strip()
        try:
            seconds = float(header)
            if not math.isfinite(seconds):
                return None  # "nan", "inf": not a delay a server can mean
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(header)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            try:
                seconds = when.timestamp() - time.time()
            except (OverflowError, OSError, ValueError):
                return None
        return min(max(seconds, 0.0), self.retry_after_max)


NO_RETRY = RetryPolicy(attempts=1)


@attrs.frozen(kw_only=True)
class PollPolicy:
    """How ``wait`` polls a job: start fast, back off to ``interval_max``, stop at ``deadline``.

    The defaults poll every 0.5 s for the first three polls, then 1.25x longer each time up
    to 5 s: a one-second job costs two polls, a ten-minute job about 130.
    """

    interval_initial: float = attrs.field(default=0.5, validator=non_negative_setting)
    interval_max: float = attrs.field(default=5.0, validator=non_negative_setting)
    multiplier: float = attrs.field(default=1.25, validator=at_least_one_setting)
    deadline: float | None = attrs.field(default=3600.0, validator=non_negative_setting)
    #: Polls made at ``interval_initial`` before backing off: short jobs are noticed quickly.
    steady_polls: int = attrs.field(default=3, validator=positive_int_setting)

    def interval(self, poll_number: int) -> float:
        """Return the wait before poll number ``poll_number`` (0-based)."""
        growth = max(0, poll_number - self.steady_polls + 1)
        return min(self.interval_max, self.interval_initial * self.multiplier**growth)


@attrs.frozen(kw_only=True)
class Limits:
    """Connection and concurrency bounds shared by everything one session does.

    ``max_connections`` caps the aiohttp connection pool; ``uploads``, ``submissions`` and
    ``polls`` cap how many of each run at once in batch work. ``max_response_bytes`` caps a
    JSON response body, counted after decompression (the default holds a transcript of well
    over ten hours); streamed downloads are not capped.

    ``max_audio_duration`` (seconds; ``None``: no check) and ``max_audio_bytes`` are the audio
    Gladia accepts, checked before anything is sent: 135 minutes and 1000 MB by default (the
    documented limits); ``MAX_AUDIO_DURATION_ENTERPRISE`` (4 h 15) for an enterprise plan.
    A file whose duration its headers do not tell is never refused on its duration.

    With ``GladiaSession(connector=...)`` the connector's own limit caps the sockets, and
    ``max_connections`` caps how many requests the session has in flight at once.
    """

    max_connections: int = attrs.field(default=100, validator=positive_int_setting)
    uploads: int = attrs.field(default=8, validator=positive_int_setting)
    submissions: int = attrs.field(default=16, validator=positive_int_setting)
    polls: int = attrs.field(default=32, validator=positive_int_setting)
    max_response_bytes: int = attrs.field(default=256 * 1024 * 1024, validator=positive_int_setting)
    max_audio_duration: float | None = attrs.field(
        default=MAX_AUDIO_DURATION, validator=non_negative_setting
    )
    max_audio_bytes: int = attrs.field(default=MAX_AUDIO_BYTES, validator=positive_int_setting)
