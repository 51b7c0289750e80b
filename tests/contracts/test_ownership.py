"""Ownership: the work of a batch or a listing never outlives the block that owns it.

Also the batch's flow rules: back-pressure, a failing source iterable, the ``on_progress``
policy and the stage limits, each observed server-side.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web

from gladia_async import (
    GladiaSession,
    Limits,
    Outcome,
    ReconcilePolicy,
    RetryPolicy,
    UsageError,
)
from gladia_async.testing import run_emulator

from ..conftest import FAST_POLL, FAST_RETRY, open_connections, pending_tasks, write_wav
from ..hostile import API_KEY, FakeGladia, serve, serve_fake


def _session(emu: Any, **kwargs: Any) -> GladiaSession:
    kwargs.setdefault("poll", FAST_POLL)
    kwargs.setdefault("retry", FAST_RETRY)
    return GladiaSession(api_key=emu.api_key, base_url=emu.url, **kwargs)


def _urls(n: int) -> list[str]:
    return [f"https://example.com/audio/{i}.wav" for i in range(n)]


# -- batches -------------------------------------------------------------------------------


async def test_a_batch_iterated_without_async_with_refuses_before_any_request() -> None:
    async with run_emulator() as emu, _session(emu) as gladia:
        run = gladia.transcribe_many(_urls(5))
        with pytest.raises(UsageError, match="async with"):
            async for _ in run:
                pass
        assert pending_tasks() == set()
        assert emu.stats.requests_total == 0


async def test_aclose_cancels_the_batch_and_waits_for_it() -> None:
    started = anyio.Event()

    def on_progress(progress: Any) -> None:
        if progress.submitted >= 5:
            started.set()

    async with run_emulator(job_duration=60) as emu, _session(emu) as gladia:
        async with gladia.transcribe_many(_urls(20), on_progress=on_progress) as run:
            delivered: list[Outcome] = []

            async def consume() -> None:
                delivered.extend([o async for o in run])

            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(consume)
                    await started.wait()
                    began = anyio.current_time()
                    await run.aclose()
                    assert anyio.current_time() - began < 2, "aclose() waited for the jobs"
            assert delivered == []
            assert pending_tasks() == set(), "aclose() left work running"
            assert open_connections(gladia) == 0
            polls = emu.stats.polls
        assert emu.stats.polls == polls


async def test_a_slow_consumer_bounds_the_finished_but_undelivered_outcomes() -> None:
    async with run_emulator(job_duration=0) as emu, _session(emu, max_concurrency=32) as gladia:
        delivered = 0
        worst = 0
        async with gladia.transcribe_many(_urls(120), max_in_flight=10) as run:
            async for _ in run:
                delivered += 1
                worst = max(worst, run.undelivered, emu.stats.jobs_created - delivered)
                await anyio.sleep(0.005)  # the slow consumer
        assert delivered == 120
        assert worst <= 10, f"{worst} outcomes finished ahead of a consumer with max_in_flight=10"
        assert worst >= 5, "the bound was reached: the test exercised it"


async def test_a_failing_source_iterable_delivers_what_it_started_then_raises() -> None:
    async def sources() -> AsyncIterator[str]:
        for i, url in enumerate(_urls(100)):
            if i == 20:
                raise RuntimeError("the source listing broke")
            yield url

    async with run_emulator(job_duration=0.02) as emu, _session(emu) as gladia:
        outcomes: list[Outcome] = []
        with pytest.raises(RuntimeError, match="source listing broke"):
            async with gladia.transcribe_many(sources()) as run:
                async for outcome in run:
                    outcomes.append(outcome)
        assert sorted(o.index for o in outcomes) == list(range(20))
        assert all(o.ok for o in outcomes)
        assert emu.stats.jobs_created == 20
        assert pending_tasks() == set()


async def test_an_on_progress_error_is_logged_once_and_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    def broken(progress: Any) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("progress bar bug")

    caplog.set_level(logging.WARNING, logger="gladia_async")
    async with run_emulator(job_duration=0.01) as emu, _session(emu) as gladia:
        async with gladia.transcribe_many(_urls(10), on_progress=broken) as run:
            outcomes = [o async for o in run]
    assert len(outcomes) == 10 and all(o.ok for o in outcomes)
    assert calls > 10, "the callback keeps being called"
    records = [r for r in caplog.records if "on_progress" in r.getMessage()]
    assert len(records) == 1 and records[0].exc_info is not None


async def test_max_concurrency_bounds_the_requests_the_server_sees() -> None:
    fake = FakeGladia(
        delays={"POST /v2/pre-recorded": 0.03, "GET /v2/pre-recorded/{id}": 0.03}, job_duration=0
    )
    async with (
        serve_fake(fake) as url,
        GladiaSession(
            api_key=API_KEY, base_url=url, poll=FAST_POLL, retry=FAST_RETRY, max_concurrency=4
        ) as gladia,
    ):
        async with gladia.transcribe_many(_urls(40)) as run:
            outcomes = [o async for o in run]
    assert all(o.ok for o in outcomes)
    assert 3 <= fake.max_in_flight["*"] <= 4


async def test_the_upload_limit_bounds_concurrent_uploads(tmp_path: Path) -> None:
    data = write_wav(tmp_path / "a.wav", seconds=0.1).read_bytes()
    fake = FakeGladia(delays={"POST /v2/upload": 0.05})
    limits = Limits(max_connections=20, uploads=2, submissions=8, polls=8)
    async with (
        serve_fake(fake) as url,
        GladiaSession(
            api_key=API_KEY, base_url=url, poll=FAST_POLL, retry=FAST_RETRY, limits=limits
        ) as gladia,
    ):
        async with gladia.transcribe_many([data] * 12) as run:
            outcomes = [o async for o in run]
    assert all(o.ok for o in outcomes)
    assert fake.max_in_flight["POST /v2/upload"] == 2


async def test_the_submission_and_poll_limits_bound_their_stages() -> None:
    fake = FakeGladia(
        delays={"POST /v2/pre-recorded": 0.03, "GET /v2/pre-recorded/{id}": 0.03}, job_duration=0.1
    )
    limits = Limits(max_connections=20, uploads=8, submissions=3, polls=2)
    async with (
        serve_fake(fake) as url,
        GladiaSession(
            api_key=API_KEY, base_url=url, poll=FAST_POLL, retry=FAST_RETRY, limits=limits
        ) as gladia,
    ):
        async with gladia.transcribe_many(_urls(30)) as run:
            outcomes = [o async for o in run]
    assert all(o.ok for o in outcomes)
    assert fake.max_in_flight["POST /v2/pre-recorded"] == 3
    assert fake.max_in_flight["GET /v2/pre-recorded/{id}"] == 2


# -- listings ------------------------------------------------------------------------------


def _stuck_second_page() -> tuple[web.Application, list[str]]:
    """A listing whose first page answers at once and whose second page never answers."""
    asked: list[str] = []

    async def listing(request: web.Request) -> web.Response:
        asked.append(request.query.get("offset", "0"))
        if request.query.get("offset", "0") != "0":
            await asyncio.Event().wait()
        next_url = request.url.with_query({"offset": "1", "limit": "1"})
        return web.json_response(
            {
                "first": str(request.url),
                "current": str(request.url),
                "next": str(next_url),
                "items": [],
            }
        )

    app = web.Application()
    app.router.add_get("/v2/transcription", listing)
    return app, asked


async def test_leaving_a_listing_cancels_its_prefetch() -> None:
    app, asked = _stuck_second_page()
    async with serve(app) as url, GladiaSession(api_key=API_KEY, base_url=url) as gladia:
        began = anyio.current_time()
        with anyio.fail_after(3):
            async with gladia.iter_pages() as pages:
                async for _ in pages:
                    break
        assert anyio.current_time() - began < 2, "leaving waited for the stuck prefetch"
        assert asked == ["0", "1"], "the prefetch was under way"
        assert pending_tasks() == set()
        assert open_connections(gladia) == 0


async def test_a_listing_without_async_with_has_no_background_task() -> None:
    app, asked = _stuck_second_page()
    async with serve(app) as url, GladiaSession(api_key=API_KEY, base_url=url) as gladia:
        pages = gladia.iter_pages()
        async for _ in pages:
            assert pending_tasks() == set(), "no prefetch outside async with"
            break
        assert asked == ["0"]
        assert open_connections(gladia) == 0


# -- cancellation at random points of every public operation -------------------------------


def _operations(tmp_path: Path, wav: Path) -> dict[str, Callable[[GladiaSession], Awaitable[Any]]]:
    async def transcribe(g: GladiaSession) -> Any:
        return await g.transcribe(wav)

    async def wait(g: GladiaSession) -> Any:
        return await g.wait(await g.submit("https://example.com/a.wav"))

    async def walk(g: GladiaSession) -> Any:
        async with g.iter_jobs(page_size=5) as jobs:
            return [j async for j in jobs]

    async def batch(g: GladiaSession) -> Any:
        async with g.transcribe_many([wav] * 6 + _urls(6)) as run:
            return [o async for o in run]

    async def delete_jobs(g: GladiaSession) -> Any:
        return await g.delete_jobs(all=True)

    async def download(g: GladiaSession) -> Any:
        job = await g.transcribe("https://example.com/a.wav")
        return await g.download_audio(job, tmp_path / "out" / "back.wav")

    return {
        "transcribe": transcribe,
        "wait": wait,
        "iter_jobs": walk,
        "transcribe_many": batch,
        "delete_jobs": delete_jobs,
        "download_audio": download,
    }


@pytest.fixture
def loop_problems() -> Iterator[list[str]]:
    """Warnings and loop-reported errors (asyncio debug mode on) seen during the test."""
    problems: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield problems
        gc.collect()
    problems.extend(f"{w.category.__name__}: {w.message}" for w in caught)


@pytest.mark.reliability
@pytest.mark.parametrize(
    "name",
    ["transcribe", "wait", "iter_jobs", "transcribe_many", "delete_jobs", "download_audio"],
)
async def test_cancellation_at_random_points_leaves_nothing_behind(
    name: str, tmp_path: Path, loop_problems: list[str]
) -> None:
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 10.0  # debug mode's slowness reports are not our concern
    reported: list[str] = []
    loop.set_exception_handler(lambda _, context: reported.append(str(context.get("message"))))
    wav = write_wav(tmp_path / "a.wav", seconds=0.2)
    (tmp_path / "out").mkdir()
    operation = _operations(tmp_path, wav)[name]
    rng = random.Random(name)
    try:
        async with run_emulator(job_duration=0.2, latency=0.01) as emu:
            emu.emulator.seed_jobs(30)
            for _ in range(6):
                async with _session(emu) as gladia:
                    with anyio.move_on_after(rng.uniform(0.0, 0.25)):
                        await operation(gladia)
                    assert pending_tasks() == set(), name
                    assert open_connections(gladia) == 0, name
                assert list((tmp_path / "out").iterdir()) == [], "a temp file was left"
    finally:
        loop.set_exception_handler(None)
    gc.collect()
    assert reported == []
    assert loop_problems == []


@pytest.mark.reliability
async def test_cancelling_a_reconcile_leaves_nothing_behind() -> None:
    fake = FakeGladia(error_after_create=1.0, listing_lag=10)
    reconcile = ReconcilePolicy(lookup_initial=0.01, lookup_max=0.02, horizon=5)
    async with (
        serve_fake(fake) as url,
        GladiaSession(
            api_key=API_KEY, base_url=url, retry=RetryPolicy(attempts=2), reconcile=reconcile
        ) as gladia,
    ):
        with anyio.move_on_after(0.3) as scope:
            await gladia.submit("https://example.com/a.wav", idempotency_token="t-1")
        assert scope.cancelled_caught
        assert pending_tasks() == set()
        assert open_connections(gladia) == 0
    assert len(fake.jobs) == 1
