"""concurrency: 2,000 one-second jobs at a paid account's limits, against the floor.

The emulator (own process) runs with ``--plan paid`` (25 processing, 300 queued, 429 with
``Retry-After`` beyond), 20 ms per response and 1 s per job. The floor is
``ceil(jobs / 25) x 1 s``: the account cannot go faster. Reported: wall time (ratio to the
floor) and refused (429) creations per job.

Contenders: ``transcribe_many`` (URL sources, its own admission window, polls every 0.5 s),
and the admission window driven by hand: every job takes a place in an
:class:`AdmissionWindow` (AIMD on 429), ``submit`` (one attempt, so the window sees every
429), then polls ``get`` every 0.5 s (the first poll after 1 s) until done, and gives the
place back.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field

import anyio

from ._common import CaseResult, run_case_cli

LATENCY = 0.02
JOB_DURATION = 1.0
PROCESSING = 25
CONTENDER = "admission window + session"
BATCH = "transcribe_many"


@dataclass
class BatchTrace:
    """What one ``transcribe_many`` run did, per job, on the emulator's and the client's clocks."""

    wall: float
    rejected: int
    done: int
    requests: int
    #: Seconds from the batch's start: when the emulator completed each job, and when the
    #: batch delivered its outcome (seen finished).
    completed: list[float] = field(default_factory=list)
    seen: list[float] = field(default_factory=list)

    def notes(self, floor: float) -> list[str]:
        """Where the wall time went: the emulator's last completion, and the seen-lag."""
        if not self.completed:
            return []
        lags = sorted(s - c for s, c in zip(self.seen, self.completed, strict=True))
        last = max(self.completed)
        return [
            f"transcribe_many: last job completed on the emulator at {last:.2f} s "
            f"({last / floor:.3f}x floor), batch done at {self.wall:.2f} s; "
            f"seen finished after completion: median {statistics.median(lags):.2f} s, "
            f"p90 {lags[int(len(lags) * 0.9)]:.2f} s, max {lags[-1]:.2f} s; "
            f"{self.requests / max(1, self.done):.1f} requests per job"
        ]


async def _batch(url: str, key: str, jobs: int) -> BatchTrace:
    from gladia_async import GladiaSession, PollPolicy

    poll = PollPolicy(interval_initial=0.5, interval_max=0.5, deadline=600)
    sources = [f"https://example.com/bench/{n}.wav" for n in range(jobs)]
    done = 0
    completed: list[float] = []
    seen: list[float] = []
    async with GladiaSession(api_key=key, base_url=url, max_concurrency=64, poll=poll) as g:
        start, epoch = time.perf_counter(), time.time()
        async with g.transcribe_many(sources) as outcomes:
            async for outcome in outcomes:
                done += outcome.ok
                job = outcome.job
                if job is not None and job.completed_at is not None:
                    # Same machine: the emulator's timestamps are on this wall clock.
                    completed.append(job.completed_at.timestamp() - epoch)
                    seen.append(time.time() - epoch)
        wall = time.perf_counter() - start
        return BatchTrace(
            wall=wall,
            rejected=outcomes.admission.rejected_count,
            done=done,
            requests=g.transport.requests_sent,
            completed=completed,
            seen=seen,
        )


async def _drive(url: str, key: str, jobs: int) -> tuple[float, int, int]:
    from gladia_async import GladiaSession, RateLimitError, RetryPolicy
    from gladia_async._batch.admission import AdmissionWindow

    window = AdmissionWindow()
    done = 0
    async with GladiaSession(
        api_key=key, base_url=url, max_concurrency=64, retry=RetryPolicy(attempts=1)
    ) as gladia:

        async def one(n: int) -> None:
            nonlocal done
            while True:
                ticket = await window.acquire()
                try:
                    created = await gladia.submit(f"https://example.com/bench/{n}.wav")
                except RateLimitError as exc:
                    window.rejected(ticket, exc.retry_after)
                    continue
                window.accepted(ticket)
                break
            try:
                await anyio.sleep(JOB_DURATION)
                while True:
                    job = await gladia.get(created.id)
                    if job.status.value in ("done", "error"):
                        break
                    await anyio.sleep(0.5)
                done += 1
            finally:
                window.release(ticket)

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for n in range(jobs):
                tg.start_soon(one, n)
        return time.perf_counter() - start, window.rejected_count, done


def run(quick: bool = False, jobs: int | None = None) -> CaseResult:
    from gladia_async.testing import start_emulator_process

    count = jobs or (500 if quick else 2000)
    floor = math.ceil(count / PROCESSING) * JOB_DURATION
    result = CaseResult(
        name="concurrency",
        title="Batch at the account's concurrency limits",
        setup=(
            f"{count:,} jobs of {JOB_DURATION:g} s; emulator in its own process, --plan paid "
            f"({PROCESSING} processing, 300 queued), {LATENCY * 1000:g} ms latency; "
            f"floor ceil({count} / {PROCESSING}) x {JOB_DURATION:g} s = {floor:g} s"
        ),
    )
    walls: list[float] = []
    refused: list[float] = []
    with start_emulator_process(
        plan="paid", latency=LATENCY, job_duration=JOB_DURATION, storage="discard"
    ) as emu:
        wall, rejected, done = anyio.run(_drive, emu.url, emu.api_key, count)
        trace = anyio.run(_batch, emu.url, emu.api_key, count)
    batch_wall, batch_rejected, batch_done = trace.wall, trace.rejected, trace.done
    result.notes.extend(trace.notes(floor))
    if done != count:
        result.notes.append(f"only {done} of {count} jobs finished")
    if batch_done != count:
        result.notes.append(f"transcribe_many: only {batch_done} of {count} jobs finished")
    walls.append(wall)
    refused.append(rejected / count)
    result.add("floor", "batch wall time", "s", [floor], baseline="floor")
    result.add(CONTENDER, "batch wall time", "s", walls, baseline="floor")
    result.add(CONTENDER, "429 per job", "", refused)
    result.add(BATCH, "batch wall time", "s", [batch_wall], baseline="floor")
    result.add(BATCH, "429 per job", "", [batch_rejected / count])
    result.goal(
        f"wall time <= 1.05x floor ({floor:g} s)",
        result.ratio(CONTENDER, "batch wall time", "floor"),
        1.05,
    )
    result.goal("< 0.05 refused creations per job", refused[0], 0.05)
    result.goal(
        f"transcribe_many wall time <= 1.05x floor ({floor:g} s)",
        result.ratio(BATCH, "batch wall time", "floor"),
        1.05,
    )
    result.goal("transcribe_many: < 0.05 refused creations per job", batch_rejected / count, 0.05)
    return result


if __name__ == "__main__":
    run_case_cli("bench_admission", run)
