"""journal: what the batch journal costs a batch, with and without it in the same run.

The emulator (own process) adds 20 ms per response and takes 0.2 s per job. Each source (a
URL: the upload stage is left out, so the journal's share is as large as it gets) goes
``transcribe_many`` (200 in flight, one session of 64 connections), with and without
``journal=PATH`` (a fresh journal per round: each source gets ``record_job`` and
``record_final``). Without a journal each source is first looked up by its token (a rerun
without journal adopts that way); with a fresh journal the journal says it is new.
Rounds alternate without/with, so both see the same machine.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import anyio

from ._common import CaseResult, run_case_cli

LATENCY = 0.02
JOB_DURATION = 0.2
IN_FLIGHT = 200
WITH = "with journal"
WITHOUT = "without journal"


async def _batch(url: str, key: str, count: int, journal_path: Path | None, round: str) -> float:
    from gladia_async import GladiaSession, PollPolicy

    poll = PollPolicy(interval_initial=0.2, interval_max=0.4, deadline=600)
    sources = [f"https://example.com/bench/{n}.wav" for n in range(count)]
    async with GladiaSession(api_key=key, base_url=url, max_concurrency=64, poll=poll) as g:
        start = time.perf_counter()
        # A namespace per round: no round adopts the jobs of another (same URLs).
        async with g.transcribe_many(
            sources, journal=journal_path, namespace=round, max_in_flight=IN_FLIGHT
        ) as outcomes:
            async for outcome in outcomes:
                assert outcome.ok and outcome.resumed is None, outcome.error
        return time.perf_counter() - start


def run(quick: bool = False, sources: int | None = None) -> CaseResult:
    from gladia_async.testing import start_emulator_process

    count = sources or (2000 if quick else 10_000)
    rounds = 2 if quick else 3
    result = CaseResult(
        name="journal",
        title="Batch journal overhead",
        setup=(
            f"{count:,} URL sources, submit -> wait, {IN_FLIGHT} in flight, 64 connections; "
            f"emulator in its own process, {LATENCY * 1000:g} ms latency, {JOB_DURATION:g} s "
            f"jobs; {rounds} interleaved rounds"
        ),
    )
    without: list[float] = []
    with_journal: list[float] = []
    with start_emulator_process(latency=LATENCY, job_duration=JOB_DURATION) as emu:
        for n in range(rounds):
            without.append(anyio.run(_batch, emu.url, emu.api_key, count, None, f"{n}-without"))
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / f"round{n}.journal"
                with_journal.append(
                    anyio.run(_batch, emu.url, emu.api_key, count, path, f"{n}-with")
                )
    result.add(WITHOUT, "batch wall time", "s", without, baseline=WITHOUT)
    result.add(WITH, "batch wall time", "s", with_journal, baseline=WITHOUT)
    result.goal(
        "journal costs <= 5% wall time", result.ratio(WITH, "batch wall time", WITHOUT), 1.05
    )
    return result


if __name__ == "__main__":
    run_case_cli("bench_journal", run)
