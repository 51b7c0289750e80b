"""Batch transcription: every outcome once, failures per file, exactly-once job creation,
cancellation, and polls paced by what the batch learnt of its jobs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from gladia_async import (
    AuthenticationError,
    BatchRun,
    GladiaSession,
    InvalidInput,
    JobFailedError,
    Outcome,
    PollPolicy,
    Progress,
    TranscriptionOptions,
)
from gladia_async.testing import AccountLimits, FaultPlan, FaultRule, run_emulator

from ..conftest import FAST_POLL, FAST_RETRY, open_connections, pending_tasks, write_wav


async def collect(run: BatchRun) -> list[Outcome]:
    """Every outcome of a batch, read inside the block that owns it."""
    async with run:
        return [outcome async for outcome in run]


def _session(emu: Any, **kwargs: Any) -> GladiaSession:
    return GladiaSession(
        api_key=emu.api_key, base_url=emu.url, poll=FAST_POLL, retry=FAST_RETRY, **kwargs
    )


@pytest.fixture
def small_wavs(tmp_path: Path) -> list[Path]:
    one = write_wav(tmp_path / "one.wav", seconds=0.2)
    data = one.read_bytes()
    paths = []
    for i in range(500):
        path = tmp_path / f"f{i:03d}.wav"
        path.write_bytes(data)
        paths.append(path)
    return paths


# -- every source reported once ------------------------------------------------------------


async def test_five_hundred_files_each_reported_once(small_wavs: list[Path]) -> None:
    progress: list[Progress] = []
    async with run_emulator(job_duration=0.05) as emu, _session(emu, max_concurrency=32) as gladia:
        outcomes = await collect(
            gladia.transcribe_many(
                small_wavs, on_progress=lambda p: progress.append(attrs.evolve(p))
            )
        )
        created = emu.stats.jobs_created
    assert len(outcomes) == 500
    assert sorted(o.index for o in outcomes) == list(range(500))
    assert {str(o.source) for o in outcomes} == {str(p) for p in small_wavs}
    assert all(o.ok for o in outcomes)
    assert created == 500
    assert progress and progress[-1].done == 500 and progress[-1].failed == 0
    assert (progress[-1].uploaded, progress[-1].submitted, progress[-1].seen) == (500, 500, 500)


async def test_sources_may_be_an_async_iterable(tmp_path: Path) -> None:
    paths = [write_wav(tmp_path / f"a{i}.wav", seconds=0.2) for i in range(5)]

    async def walk() -> AsyncIterator[str]:
        for p in paths:
            yield str(p)

    async with run_emulator(job_duration=0.02) as emu, _session(emu) as gladia:
        outcomes = await collect(gladia.transcribe_many(walk()))
    assert sorted(str(o.source) for o in outcomes) == sorted(map(str, paths))


async def test_url_sources_are_imported_not_uploaded() -> None:
    urls = [f"https://example.com/audio/{i}.wav" for i in range(5)]
    async with run_emulator(job_duration=0.02) as emu, _session(emu) as gladia:
        run = gladia.transcribe_many(urls)
        outcomes = await collect(run)
        assert all(o.ok for o in outcomes)
        assert emu.stats.uploads == 0 and run.progress.uploaded == 0


async def test_lost_responses_create_no_duplicate_jobs(tmp_path: Path) -> None:
    paths = [write_wav(tmp_path / f"l{i}.wav", seconds=0.2) for i in range(30)]
    faults = FaultPlan(
        seed=7,
        rules=[FaultRule(route="POST /v2/pre-recorded", kind="reset_after_body", probability=0.5)],
    )
    async with run_emulator(job_duration=0.02, faults=faults) as emu, _session(emu) as gladia:
        outcomes = await collect(gladia.transcribe_many(paths))
        created = emu.stats.jobs_created
    assert len(outcomes) == 30 and all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert created == 30, "each lost response was reconciled, not re-created"
    assert len({o.job_id for o in outcomes}) == 30


# -- failures: per source, or the whole batch for a refused key ----------------------------


async def test_mixed_failures_are_reported_per_file(tmp_path: Path) -> None:
    good = [write_wav(tmp_path / f"g{i}.wav", seconds=0.2) for i in range(4)]
    missing = tmp_path / "missing.wav"
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    faults = FaultPlan(
        seed=3,
        rules=[
            FaultRule(
                route="POST /v2/pre-recorded",
                kind="job_error",
                error_code=500,
                sequence=[False, True],
            )
        ],
    )
    async with run_emulator(job_duration=0.02, faults=faults) as emu, _session(emu) as gladia:
        run = gladia.transcribe_many([*map(str, good), str(missing), str(empty)])
        outcomes = {str(o.source): o for o in await collect(run)}
    assert len(outcomes) == 6
    assert (run.progress.done, run.progress.failed, run.progress.in_flight) == (3, 3, 0)
    assert isinstance(outcomes[str(missing)].error, InvalidInput)
    assert isinstance(outcomes[str(empty)].error, InvalidInput)
    job_errors = [o for o in outcomes.values() if isinstance(o.error, JobFailedError)]
    assert len(job_errors) == 1 and job_errors[0].job_id is not None
    assert sum(o.ok for o in outcomes.values()) == 3


async def test_a_source_that_breaks_mid_read_is_its_own_outcome(tmp_path: Path) -> None:
    good = write_wav(tmp_path / "good.wav", seconds=0.2)

    async def broken() -> AsyncIterator[bytes]:
        yield b"RIFF"
        raise RuntimeError("disk went away")

    async with run_emulator(job_duration=0.02) as emu, _session(emu) as gladia:
        outcomes = await collect(gladia.transcribe_many([str(good), broken()]))
    assert len(outcomes) == 2
    by_ok = {o.ok: o for o in outcomes}
    assert by_ok[True].source == str(good)
    assert by_ok[False].error is not None


async def test_wrong_key_stops_the_batch_fast(small_wavs: list[Path]) -> None:
    async with (
        run_emulator() as emu,
        GladiaSession(api_key="wrong", base_url=emu.url, retry=FAST_RETRY) as gladia,
    ):
        with pytest.raises(AuthenticationError):
            await collect(gladia.transcribe_many(small_wavs))
        assert emu.stats.requests_total < 100, "401 must not be retried for every file"


async def test_batch_options_are_checked_before_any_request(small_wavs: list[Path]) -> None:
    async with run_emulator() as emu, _session(emu) as gladia:
        with pytest.raises(InvalidInput):
            gladia.transcribe_many(small_wavs, TranscriptionOptions(diarization="x"))  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            gladia.transcribe_many("one-file.wav")
        assert emu.stats.requests_total == 0


# -- leaving the block cancels the work ----------------------------------------------------


async def test_breaking_out_cancels_everything(small_wavs: list[Path], tmp_path: Path) -> None:
    # The missing file fails at once; the emulator's jobs take 60 s, so all else is in flight.
    sources = [tmp_path / "missing.wav", *small_wavs[:50]]
    async with run_emulator(job_duration=60) as emu, _session(emu, max_concurrency=16) as gladia:
        with anyio.fail_after(5):
            async with gladia.transcribe_many(sources) as outcomes:
                async for first in outcomes:
                    assert isinstance(first.error, InvalidInput)
                    break
        assert pending_tasks() == set()
        assert open_connections(gladia) == 0


async def test_cancelling_the_consumer_cancels_in_flight_work(small_wavs: list[Path]) -> None:
    async with run_emulator(job_duration=5) as emu, _session(emu, max_concurrency=16) as gladia:
        submitted: list[int] = []

        def on_progress(p: Progress) -> None:
            submitted.append(p.submitted)

        with anyio.move_on_after(0.5) as scope:
            async with gladia.transcribe_many(small_wavs[:40], on_progress=on_progress) as run:
                async for _ in run:
                    pass
        assert scope.cancelled_caught
        assert pending_tasks() == set()
        assert open_connections(gladia) == 0
        assert max(submitted) > 0, "work was under way when cancelled"


# -- poll pacing: learnt from the jobs seen finished ---------------------------------------


async def test_polling_learns_from_finished_jobs(tmp_path: Path) -> None:
    """With a 10 ms poll interval and 0.3 s jobs, blind polling costs ~30 polls per job."""
    data = write_wav(tmp_path / "x.wav", seconds=0.2).read_bytes()
    paths = []
    for i in range(60):
        (tmp_path / f"p{i}.wav").write_bytes(data)
        paths.append(tmp_path / f"p{i}.wav")

    async def slowly() -> AsyncIterator[Path]:
        for i, path in enumerate(paths):
            if i == 10:  # the first jobs finish before the rest start
                await anyio.sleep(0.5)
            yield path

    async with run_emulator(job_duration=0.3) as emu, _session(emu) as gladia:
        outcomes = await collect(gladia.transcribe_many(slowly()))
        polls = emu.stats.polls
    assert all(o.ok for o in outcomes)
    assert polls / len(paths) < 10


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
