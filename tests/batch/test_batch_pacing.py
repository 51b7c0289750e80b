"""Batch polls paced by the queue ahead: jobs far back polled rarely, finished ones seen soon."""

from __future__ import annotations

import time

from gladia_async import GladiaSession, PollPolicy
from gladia_async.testing import AccountLimits, run_emulator

# One job at a time, 0.05 s each: 60 jobs queue for up to 3 s behind each other.
JOBS = 60
DURATION = 0.05
LIMITS = AccountLimits(max_processing=1, max_queued=100)
# The policy alone would poll every job every 20 ms for as long as it waits in the queue.
EAGER = PollPolicy(interval_initial=0.02, interval_max=0.02, deadline=60)


async def run_queued_batch() -> tuple[float, list[float], int]:
    """Return (polls per job, seen-finished lag of each job in seconds, jobs done)."""
    sources = [f"https://example.com/pacing/{n}.wav" for n in range(JOBS)]
    lags: list[float] = []
    async with run_emulator(plan=LIMITS, job_duration=DURATION) as emu:
        async with GladiaSession(api_key=emu.api_key, base_url=emu.url, poll=EAGER) as gladia:
            async with gladia.transcribe_many(sources) as outcomes:
                async for outcome in outcomes:
                    assert outcome.ok, outcome.error
                    assert outcome.job is not None and outcome.job.completed_at is not None
                    lags.append(time.time() - outcome.job.completed_at.timestamp())
        polls = emu.stats.polls
    return polls / JOBS, lags, len(lags)


async def test_a_queued_batch_polls_by_the_queue_ahead_and_sees_jobs_finish_soon() -> None:
    polls_per_job, lags, done = await run_queued_batch()
    assert done == JOBS
    # Paced by the quickest recent job only (no queue estimate): ~16 polls per job; here ~4-5.
    assert polls_per_job < 10, polls_per_job
    # Seen finished soon after the emulator finished it (generous: 10 jobs' worth of time).
    lags.sort()
    assert lags[len(lags) // 2] < 10 * DURATION, lags
