"""Account limits for the emulator: at most N jobs processing, M queued, 429 beyond.

Gladia's docs (limits and specifications, concurrency) give per-plan defaults: a **paid**
account processes at most 25 pre-recorded jobs at once and queues at most 300 more; a **free**
account processes 3; **enterprise** limits are set per contract. An emulator given a plan
schedules its jobs the way such an account does:

* Jobs start processing in creation order (FIFO) as soon as one of the ``max_processing`` slots
  is free (and their ``queue_delay`` has passed); until then their status is ``queued``.
  Because every job's duration is known when it is created, each job's start and finish times
  are fixed at creation (list scheduling), so statuses stay a pure function of the clock and a
  :class:`~gladia_async.testing.ManualClock` drives them deterministically.
* A creation that would have to wait while ``max_queued`` jobs are already queued is refused
  with **429** and a ``Retry-After`` header (whole seconds, at least 1: the time until the
  oldest queued job starts processing and frees a place), and creates nothing. Validation
  errors (400/422) are reported before the limit is checked.

*Emulator choices*, where the docs are silent: the free plan's queue is 0 (the strictest
reading: the 4th concurrent job is refused); the enterprise preset is 100 processing and
2,000 queued (override either number); the 429's message text; live sessions and jobs made by
``seed_jobs`` (frozen statuses) never count against the limits; the monthly usage limit of the
free plan and the API-wide request rate limit are not emulated.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

__all__ = ["PLANS", "AccountLimitReached", "AccountLimits", "JobScheduler"]

#: Preset limits per plan name: (max_processing, max_queued).
PLANS: dict[str, tuple[int, int]] = {
    "free": (3, 0),
    "paid": (25, 300),
    "enterprise": (100, 2000),
}


@dataclass(frozen=True)
class AccountLimits:
    """The emulated account's limits: ``max_processing`` jobs at once, ``max_queued`` waiting.

    ``retry_after`` fixes the 429's ``Retry-After`` seconds; ``None`` computes it from the
    schedule. Build one from a plan name with :meth:`for_plan`.
    """

    max_processing: int
    max_queued: int
    name: str = "custom"
    retry_after: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.max_processing, bool) or not isinstance(self.max_processing, int):
            raise TypeError("max_processing must be an integer")
        if isinstance(self.max_queued, bool) or not isinstance(self.max_queued, int):
            raise TypeError("max_queued must be an integer")
        if self.max_processing < 1:
            raise ValueError("max_processing must be at least 1")
        if self.max_queued < 0:
            raise ValueError("max_queued must be at least 0")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must be >= 0")

    @classmethod
    def for_plan(
        cls,
        plan: str | None = None,
        *,
        max_processing: int | None = None,
        max_queued: int | None = None,
    ) -> AccountLimits:
        """Return the limits of ``plan`` (``free``, ``paid``, ``enterprise``), numbers overridden.

        Without a plan, both numbers are required.
        """
        if plan is None:
            if max_processing is None or max_queued is None:
                raise ValueError("without a plan, give both max_processing and max_queued")
            return cls(max_processing=max_processing, max_queued=max_queued)
        try:
            processing, queued = PLANS[plan]
        except KeyError:
            raise ValueError(f"unknown plan {plan!r}; expected one of {sorted(PLANS)}") from None
        return cls(
            max_processing=processing if max_processing is None else max_processing,
            max_queued=queued if max_queued is None else max_queued,
            name=plan,
        )


class AccountLimitReached(Exception):
    """A job creation the account's limits refuse; ``retry_after`` is in seconds."""

    def __init__(self, limits: AccountLimits, retry_after: float) -> None:
        self.limits = limits
        self.retry_after = retry_after
        super().__init__(
            f"Too many requests: the account already has {limits.max_processing} "
            f"transcriptions processing and {limits.max_queued} queued, the most its "
            f"{limits.name} plan allows; retry later"
        )

    @property
    def header(self) -> str:
        """The ``Retry-After`` header value: whole seconds, at least 1."""
        return str(max(1, math.ceil(self.retry_after - 1e-9)))


class JobScheduler:
    """Start and finish times for new jobs under :class:`AccountLimits` (FIFO list scheduling).

    ``admit(now, queue_delay, duration)`` returns ``(start, finish)`` for a job created at
    ``now``, or raises :class:`AccountLimitReached`. Times are on the emulator's clock, which
    never goes backwards.
    """

    def __init__(self, limits: AccountLimits) -> None:
        self.limits = limits
        # When each processing slot is next free; its minimum only ever grows.
        self._slots: list[float] = [-math.inf] * limits.max_processing
        # Start times of jobs admitted but not yet started, oldest first (non-decreasing).
        self._waiting: deque[float] = deque()
        self.rejected = 0

    def _expire(self, now: float) -> None:
        waiting = self._waiting
        while waiting and waiting[0] <= now:
            waiting.popleft()

    def queued(self, now: float) -> int:
        """Jobs admitted and not yet processing at ``now``."""
        self._expire(now)
        return len(self._waiting)

    def admit(self, now: float, queue_delay: float, duration: float) -> tuple[float, float]:
        """Return ``(start, finish)`` for a new job, or raise :class:`AccountLimitReached`."""
        self._expire(now)
        slot_free = self._slots[0]
        start = max(now + queue_delay, slot_free)
        if start > now and len(self._waiting) >= self.limits.max_queued:
            self.rejected += 1
            if self.limits.retry_after is not None:
                wait = self.limits.retry_after
            elif self._waiting:
                wait = self._waiting[0] - now  # the oldest queued job starts: a place frees
            else:
                wait = max(slot_free - now, queue_delay)  # no queue at all: a slot must free
            raise AccountLimitReached(self.limits, wait)
        finish = start + duration
        heapq.heapreplace(self._slots, finish)
        if start > now:
            self._waiting.append(start)
        return start, finish
