"""How many jobs a batch keeps submitted: as many as the account accepts, learnt from its 429s.

Gladia caps how many jobs an account may have in the system (paid: 25 processing + 300
queued); a creation beyond is refused with 429. A batch does not know its account's plan, so
an :class:`AdmissionWindow` learns it the way TCP learns a path's capacity:

* **Slow start**: from ``initial``, every accepted creation widens the window by one (it
  doubles per round) until the first refusal.
* **Multiplicative decrease**: a 429 halves the window (``decrease``), at most once per round:
  refusals of creations admitted before the last decrease are the same congestion event.
  Never below ``minimum`` (1). The refusal's ``Retry-After`` pauses every new creation.
* **Additive increase**: after the first refusal, an accepted creation widens the window by
  ``1 / window``: one more job per round of accepted creations.
* A window that is neither full nor waited for does not grow (an idle window proves nothing
  about the account).

A place is held from before the creation request until the job is finished (the account counts
the job until then): ``ticket = await window.acquire()``, then ``window.accepted(ticket)`` or
``window.rejected(ticket, retry_after)`` (which frees the place), and ``window.release(ticket)``
when the job is done, failed, or given up.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import anyio
import attrs

from .._core.checks import check_minimum
from .._core.errors import InvalidInput

__all__ = ["AdmissionTicket", "AdmissionWindow"]


@attrs.define(eq=False)
class AdmissionTicket:
    """One place in the window, from ``acquire()`` until ``release()`` (or a refusal)."""

    epoch: int
    held: bool = True


class AdmissionWindow:
    """An AIMD limit on jobs in the account: grows on accepted creations, halves on 429.

    ``initial`` places to start with, never fewer than ``minimum``, never more than
    ``maximum`` (None: unbounded); ``decrease`` multiplies the window on a refusal;
    ``default_pause`` is the pause after a 429 without ``Retry-After``. ``clock`` (seconds,
    monotonic) is injectable for tests; waiting uses the real clock.
    """

    def __init__(
        self,
        *,
        initial: int = 25,
        minimum: int = 1,
        maximum: int | None = None,
        decrease: float = 0.5,
        default_pause: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        low = check_minimum(minimum, "minimum", 1)
        start = check_minimum(initial, "initial", low)
        if maximum is not None:
            check_minimum(maximum, "maximum", start)
        factor = check_minimum(decrease, "decrease", 0.0)
        if not 0.0 < factor < 1.0:
            raise InvalidInput("decrease", f"must be between 0 and 1, got {decrease!r}")
        self._minimum = low
        self._maximum = float(maximum) if maximum is not None else math.inf
        self._decrease = factor
        self._default_pause = check_minimum(default_pause, "default_pause", 0.0)
        self._clock = clock
        self._window = start
        self._slow_start = True
        self._epoch = 0
        self._in_use = 0
        self._blocked = False
        self._paused_until = -math.inf
        self._changed = anyio.Event()
        #: Counters for progress lines and benchmarks.
        self.accepted_count = 0
        self.rejected_count = 0

    def __repr__(self) -> str:
        return (
            f"AdmissionWindow(limit={self.limit}, in_use={self._in_use}, "
            f"window={self._window:.2f}, slow_start={self._slow_start})"
        )

    @property
    def limit(self) -> int:
        """How many jobs may be in the account now (the window, rounded down)."""
        return max(int(self._minimum), math.floor(self._window))

    @property
    def in_use(self) -> int:
        """Places held: creations in flight plus jobs created and not finished."""
        return self._in_use

    @property
    def paused_for(self) -> float:
        """Seconds until creations may resume after a 429 (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    # -- taking and giving back places ----------------------------------------------------

    def try_acquire(self) -> AdmissionTicket | None:
        """Return a place if one is free and no 429 pause is running, else None."""
        if self._in_use >= self.limit:
            self._blocked = True  # demand beyond the window: evidence for widening it
            return None
        if self._clock() < self._paused_until:
            return None
        self._in_use += 1
        if self._in_use < self.limit:
            self._blocked = False  # room to spare: the window is not the constraint now
        return AdmissionTicket(self._epoch)

    async def acquire(self) -> AdmissionTicket:
        """Return a place, waiting for one to free and for any 429 pause to end."""
        while True:
            ticket = self.try_acquire()
            if ticket is not None:
                return ticket
            pause = self.paused_for
            if pause > 0:
                await anyio.sleep(pause)
            else:
                await self._changed.wait()

    def release(self, ticket: AdmissionTicket) -> None:
        """Give the place back: the job finished, failed, or the batch gave it up."""
        if ticket.held:
            ticket.held = False
            self._in_use -= 1
            self._wake()

    # -- what the account said -------------------------------------------------------------

    def accepted(self, ticket: AdmissionTicket) -> None:
        """The creation was accepted (201): widen the window; the place stays held."""
        self.accepted_count += 1
        if not self._blocked and self._in_use + 1 < self.limit:
            # The window was not the constraint (no creation found it full since it last had
            # room to spare): no evidence for more.
            return
        step = 1.0 if self._slow_start else 1.0 / self._window
        self._window = min(self._maximum, self._window + step)
        self._wake()

    def rejected(self, ticket: AdmissionTicket, retry_after: float | None = None) -> None:
        """The creation was refused (429): shrink once per round, pause, free the place."""
        self.rejected_count += 1
        pause = self._default_pause if retry_after is None else max(0.0, float(retry_after))
        self._paused_until = max(self._paused_until, self._clock() + pause)
        if ticket.epoch == self._epoch:
            # The first refusal of this round: the window was too wide by about this much.
            self._window = max(self._minimum, self._window * self._decrease)
            self._slow_start = False
            self._epoch += 1
        self.release(ticket)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()
