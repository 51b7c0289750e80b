"""When a batch polls its jobs: learnt from the jobs it has seen finish, shared by all polls.

A just-created job is never done, so polling at once would only cost a request. Once jobs have
finished, the first poll of a new one waits as long as the quickest recent job took
(server-side ``completed_at - created_at``), so most jobs are seen done on their first poll;
but when the account queues the batch's jobs, the queue ahead of a job (the batch's jobs
created before it and not seen finished, at the rate jobs finish) is the better guess once it
is the shorter one: recent jobs may have waited behind a longer queue than this one does.
While the job is not done, the next poll waits at least half of its expected remaining time,
so a job far back in the queue costs a few polls, not one per interval.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import anyio

from .._schema.models import TranscriptionJob

__all__ = ["PollPacing"]

#: Completions the batch's finishing rate is measured over, and how many it needs first.
_RATE_WINDOW = 64
_RATE_MIN_SAMPLES = 2
#: Shares of a job's expected remaining time waited before its first and its next polls:
#: below 1, so an estimate a little too long (a burst of finishes just seen) is not waited out.
_FIRST_POLL_SHARE = 0.8
_NEXT_POLL_SHARE = 0.5


class PollPacing:
    """What one batch has learnt of its jobs' times, for the first and next poll of each."""

    def __init__(self) -> None:
        # Processing times of the batch's most recent jobs (seconds), for the first poll.
        self._durations: deque[float] = deque(maxlen=32)
        # For the expected wait of a job (see expected_wait): jobs given to a wait so far, jobs
        # seen finished, and when the most recent ones were seen finished (anyio's clock).
        self._waiting_seq = 0
        self._seen_finished = 0
        self._completions: deque[float] = deque(maxlen=_RATE_WINDOW)

    def next_seq(self) -> int:
        """The rank of the next job waited for among the batch's jobs."""
        seq = self._waiting_seq
        self._waiting_seq += 1
        return seq

    def expected_wait(self, seq: int) -> float | None:
        """Seconds until the job ``seq`` (its rank among the batch's jobs) is expected done.

        The account finishes jobs first in, first out, at the rate the batch sees them finish
        (the most recent ones, on the client's clock: an adopted job that finished long ago
        cannot make the rate look slow): a job with ``k`` of the batch's jobs still ahead of
        it is done in about ``(k + 1) / rate``. None until the rate is known.
        """
        times = self._completions
        if len(times) < _RATE_MIN_SAMPLES:
            return None
        span = max(times) - min(times)
        if span <= 0:
            return None
        rate = (len(times) - 1) / span
        ahead = max(0, seq - self._seen_finished)
        return (ahead + 1) / rate

    def finished_seen(self, state: TranscriptionJob | None) -> None:
        self._seen_finished += 1
        self._completions.append(anyio.current_time())
        if state is not None and state.completed_at is not None:
            self._durations.append((state.completed_at - state.created_at).total_seconds())

    def first_delay(self, seq: int, interval: float) -> float:
        """Seconds before the first poll of job ``seq``, at least the policy's ``interval``."""
        first = interval
        quickest = min(self._durations) if self._durations else None
        expected = self.expected_wait(seq)
        if expected is not None and (quickest is None or expected * _FIRST_POLL_SHARE < quickest):
            first = max(first, expected * _FIRST_POLL_SHARE)
        elif quickest is not None:
            first = max(first, quickest)
        return first

    def pace(self, seq: int) -> Callable[[], float]:
        """The least wait before each next poll of job ``seq`` (read when the poll is due)."""

        def pace() -> float:
            remaining = self.expected_wait(seq)
            return 0.0 if remaining is None else remaining * _NEXT_POLL_SHARE

        return pace
