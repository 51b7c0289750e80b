"""Configuration value objects: timeouts, retries, polling, connection limits."""

from __future__ import annotations

import email.utils
import random
import time
from datetime import timezone
from typing import Any

import attrs

__all__ = ["Limits", "PollPolicy", "RetryPolicy", "Timeouts"]


def _non_negative(_: Any, attribute: Any, value: Any) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Timeouts:
    """Per-operation time limits in seconds; ``None`` means no limit.

    ``connect`` bounds opening a connection; ``request`` bounds one ordinary HTTP request end
    to end (headers and body); ``upload`` bounds an upload or download end to end (none by
    default: their size makes them slow by nature), and ``read`` bounds the wait between two
    reads of such a streamed transfer, so a stalled one still fails.
    """

    connect: float | None = attrs.field(default=10.0, validator=_non_negative)
    read: float | None = attrs.field(default=60.0, validator=_non_negative)
    request: float | None = attrs.field(default=120.0, validator=_non_negative)
    upload: float | None = attrs.field(default=None, validator=_non_negative)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how long to retry a failed request.

    Retries ``retry_statuses`` and connection errors with capped exponential backoff and full
    jitter, honouring the server's ``Retry-After``. A non-idempotent POST is retried only when
    the request provably did not reach the server (the connection failed before sending).
    ``deadline`` bounds the total time spent on one call including all its retries.
    """

    attempts: int = attrs.field(default=5, validator=attrs.validators.ge(1))
    backoff_initial: float = attrs.field(default=0.25, validator=_non_negative)
    backoff_max: float = attrs.field(default=20.0, validator=_non_negative)
    backoff_multiplier: float = attrs.field(default=2.0, validator=attrs.validators.ge(1.0))
    retry_after_max: float = attrs.field(default=60.0, validator=_non_negative)
    deadline: float | None = attrs.field(default=300.0, validator=_non_negative)
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
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(header)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            seconds = when.timestamp() - time.time()
        return min(max(seconds, 0.0), self.retry_after_max)


NO_RETRY = RetryPolicy(attempts=1)


@attrs.frozen(kw_only=True)
class PollPolicy:
    """How ``wait`` polls a job: start fast, back off to ``interval_max``, stop at ``deadline``.

    The defaults poll every 0.5 s for the first three polls, then 1.25x longer each time up
    to 5 s: a one-second job costs two polls, a ten-minute job about 130.
    """

    interval_initial: float = attrs.field(default=0.5, validator=_non_negative)
    interval_max: float = attrs.field(default=5.0, validator=_non_negative)
    multiplier: float = attrs.field(default=1.25, validator=attrs.validators.ge(1.0))
    deadline: float | None = attrs.field(default=3600.0, validator=_non_negative)
    #: Polls made at ``interval_initial`` before backing off: short jobs are noticed quickly.
    steady_polls: int = attrs.field(default=3, validator=attrs.validators.ge(1))

    def interval(self, poll_number: int) -> float:
        """Return the wait before poll number ``poll_number`` (0-based)."""
        growth = max(0, poll_number - self.steady_polls + 1)
        return min(self.interval_max, self.interval_initial * self.multiplier**growth)


@attrs.frozen(kw_only=True)
class Limits:
    """Connection and concurrency bounds shared by everything one session does.

    ``max_connections`` caps the aiohttp connection pool; ``uploads``, ``submissions`` and
    ``polls`` cap how many of each run at once in batch work.
    """

    max_connections: int = attrs.field(default=100, validator=attrs.validators.ge(1))
    uploads: int = attrs.field(default=8, validator=attrs.validators.ge(1))
    submissions: int = attrs.field(default=16, validator=attrs.validators.ge(1))
    polls: int = attrs.field(default=32, validator=attrs.validators.ge(1))
