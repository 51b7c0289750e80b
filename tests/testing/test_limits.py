"""The emulator's account limits: N jobs processing, M queued, 429 with Retry-After beyond."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import Counter

import aiohttp
import pytest

from gladia_async import (
    GladiaSession,
    RateLimitError,
    RetryPolicy,
    TranscriptionOptions,
    UnprocessableEntityError,
    structure,
)
from gladia_async.testing import (
    AccountLimits,
    ManualClock,
    run_emulator,
    start_emulator_process,
)
from gladia_async.testing._limits import AccountLimitReached, JobScheduler

from ..conftest import FAST_POLL

ONE_TRY = RetryPolicy(attempts=1)


def url(n: int) -> str:
    return f"https://example.com/audio/{n}.wav"


async def refused_for(emu: object, n: int) -> int:
    """Create a job with a raw POST, expect a 429; return its ``Retry-After`` seconds.

    (A session honours the 429 by pausing for ``Retry-After``: real seconds, while these tests
    drive a manual clock.)
    """
    async with aiohttp.ClientSession(headers=emu.headers) as http:  # type: ignore[attr-defined]
        create = f"{emu.url}/v2/pre-recorded"  # type: ignore[attr-defined]
        async with http.post(create, json={"audio_url": url(n)}) as response:
            assert response.status == 429, await response.text()
            return int(response.headers["Retry-After"])


def statuses(emu: object, ids: list[str]) -> list[str]:
    return [emu.emulator.job_status(i) for i in ids]  # type: ignore[attr-defined]


async def test_a_paid_account_processes_25_queues_300_and_refuses_the_next() -> None:
    clock = ManualClock()
    async with run_emulator(plan="paid", clock=clock, job_duration=60) as emu:
        async with GladiaSession(
            api_key=emu.api_key, base_url=emu.url, retry=ONE_TRY, poll=FAST_POLL
        ) as gladia:
            ids = [(await gladia.submit(url(n))).id for n in range(325)]
            assert Counter(statuses(emu, ids)) == {"processing": 25, "queued": 300}
            with pytest.raises(RateLimitError) as refused:
                await gladia.submit(url(325))
    assert refused.value.status == 429
    assert refused.value.retry_after == 60.0  # the oldest queued job starts in 60 s
    assert emu.emulator.job_count() == 325  # the refused creation created nothing
    assert emu.stats.jobs_rejected == 1


async def test_jobs_start_in_creation_order_as_slots_free() -> None:
    clock = ManualClock()
    limits = AccountLimits(max_processing=2, max_queued=2)
    async with run_emulator(plan=limits, clock=clock, job_duration=10) as emu:
        async with GladiaSession(api_key=emu.api_key, base_url=emu.url, retry=ONE_TRY) as gladia:
            ids = [(await gladia.submit(url(n))).id for n in range(4)]
            assert statuses(emu, ids) == ["processing", "processing", "queued", "queued"]
            assert await refused_for(emu, 4) == 10
            clock.advance(10)
            assert statuses(emu, ids) == ["done", "done", "processing", "processing"]
            ids += [(await gladia.submit(url(n))).id for n in (4, 5)]
            assert statuses(emu, ids)[4:] == ["queued", "queued"]
            clock.advance(9.999)
            assert statuses(emu, ids)[2:] == ["processing", "processing", "queued", "queued"]
            clock.advance(0.001)
            assert statuses(emu, ids) == ["done"] * 4 + ["processing"] * 2
            clock.advance(10)
            assert statuses(emu, ids) == ["done"] * 6
            # The account is empty again: the next job processes at once.
            last = (await gladia.submit(url(6))).id
            assert emu.emulator.job_status(last) == "processing"


async def test_a_free_account_processes_three_and_refuses_the_fourth() -> None:
    clock = ManualClock()
    async with run_emulator(plan="free", clock=clock, job_duration=5) as emu:
        async with GladiaSession(api_key=emu.api_key, base_url=emu.url, retry=ONE_TRY) as gladia:
            ids = [(await gladia.submit(url(n))).id for n in range(3)]
            assert await refused_for(emu, 3) == 5  # no queue: until a slot frees
            clock.advance(5)
            fourth = (await gladia.submit(url(3))).id
    assert statuses(emu, ids) == ["done"] * 3
    assert emu.emulator.job_status(fourth) == "processing"


async def test_the_429_is_spec_shaped_with_whole_seconds_in_retry_after() -> None:
    clock = ManualClock()
    limits = AccountLimits(max_processing=1, max_queued=0)
    async with run_emulator(plan=limits, clock=clock, job_duration=2.5) as emu:
        async with aiohttp.ClientSession(headers=emu.headers) as http:
            create = f"{emu.url}/v2/pre-recorded"
            async with http.post(create, json={"audio_url": url(0)}) as first:
                assert first.status == 201
            clock.advance(0.2)  # 2.3 s left: whole seconds round up
            async with http.post(create, json={"audio_url": url(1)}) as second:
                body = await second.json()
                assert second.status == 429
                assert second.headers["Retry-After"] == "3"
    assert body["statusCode"] == 429
    assert body["path"] == "/v2/pre-recorded"
    assert "processing" in body["message"] and "free" not in body["message"]
    assert set(body) >= {"timestamp", "request_id", "message"}


async def test_invalid_requests_are_reported_before_the_limit() -> None:
    clock = ManualClock()
    limits = AccountLimits(max_processing=1, max_queued=0)
    async with run_emulator(plan=limits, clock=clock, job_duration=5) as emu:
        async with GladiaSession(api_key=emu.api_key, base_url=emu.url, retry=ONE_TRY) as gladia:
            await gladia.submit(url(0))
            with pytest.raises(UnprocessableEntityError):
                # Parsed, not built: the SDK's own check of custom_metadata does not run, so
                # the request reaches the emulator.
                too_long = structure({"custom_metadata": {"x": "y" * 2100}}, TranscriptionOptions)
                await gladia.submit(url(1), too_long)
    assert emu.stats.jobs_rejected == 0


async def test_queue_delay_counts_as_queued_time() -> None:
    clock = ManualClock()
    limits = AccountLimits(max_processing=1, max_queued=1)
    async with run_emulator(plan=limits, clock=clock, job_duration=2, queue_delay=1) as emu:
        async with GladiaSession(api_key=emu.api_key, base_url=emu.url, retry=ONE_TRY) as gladia:
            first = (await gladia.submit(url(0))).id
            assert emu.emulator.job_status(first) == "queued"
            assert await refused_for(emu, 1) == 1  # the one queue place is taken
            clock.advance(1)
            assert emu.emulator.job_status(first) == "processing"
            second = (await gladia.submit(url(1))).id  # waits for the slot (free at t=3)
            clock.advance(1.999)
            assert emu.emulator.job_status(second) == "queued"
            clock.advance(0.001)
            assert statuses(emu, [first, second]) == ["done", "processing"]


async def test_a_fixed_retry_after_is_sent_verbatim() -> None:
    limits = AccountLimits(max_processing=1, max_queued=0, retry_after=7)
    async with run_emulator(plan=limits, clock=ManualClock(), job_duration=100) as emu:
        async with GladiaSession(api_key=emu.api_key, base_url=emu.url, retry=ONE_TRY) as gladia:
            await gladia.submit(url(0))
            with pytest.raises(RateLimitError) as refused:
                await gladia.submit(url(1))
    assert refused.value.retry_after == 7.0


async def test_without_a_plan_there_is_no_limit() -> None:
    async with run_emulator(clock=ManualClock(), job_duration=100) as emu:
        async with GladiaSession(api_key=emu.api_key, base_url=emu.url, retry=ONE_TRY) as gladia:
            ids = [(await gladia.submit(url(n))).id for n in range(40)]
    assert Counter(statuses(emu, ids)) == {"processing": 40}
    assert emu.emulator.limits is None


def test_plan_presets_and_overrides() -> None:
    assert AccountLimits.for_plan("paid") == AccountLimits(
        max_processing=25, max_queued=300, name="paid"
    )
    assert AccountLimits.for_plan("free").max_processing == 3
    big = AccountLimits.for_plan("enterprise", max_processing=400, max_queued=5000)
    assert (big.max_processing, big.max_queued, big.name) == (400, 5000, "enterprise")
    assert AccountLimits.for_plan(max_processing=2, max_queued=0).name == "custom"
    with pytest.raises(ValueError, match="unknown plan"):
        AccountLimits.for_plan("gold")
    with pytest.raises(ValueError, match="both"):
        AccountLimits.for_plan(max_processing=2)
    with pytest.raises(ValueError):
        AccountLimits(max_processing=0, max_queued=1)
    with pytest.raises(TypeError):
        AccountLimits(max_processing=True, max_queued=1)


def test_the_scheduler_never_runs_more_than_n_at_once() -> None:
    # A burst, then arrivals every 0.3 s for a while: at no moment do more than N jobs overlap.
    scheduler = JobScheduler(AccountLimits(max_processing=3, max_queued=4))
    admitted: list[tuple[float, float]] = []
    refused = 0
    now = 0.0
    for n in range(200):
        now = 0.0 if n < 10 else (n - 10) * 0.3
        try:
            admitted.append(scheduler.admit(now, 0.0, 1.0 + (n % 3) * 0.5))
        except AccountLimitReached as exc:
            refused += 1
            assert exc.retry_after > 0
    assert refused > 0 and len(admitted) > 100
    starts = [start for start, _ in admitted]
    assert starts == sorted(starts)  # FIFO
    moments = sorted({t for pair in admitted for t in pair})
    for moment in moments:
        running = sum(1 for start, finish in admitted if start <= moment < finish)
        assert running <= 3


def _post(base: str, key: str, n: int) -> tuple[int, str | None]:
    request = urllib.request.Request(
        f"{base}/v2/pre-recorded",
        data=json.dumps({"audio_url": url(n)}).encode(),
        headers={"x-gladia-key": key, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, None
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers.get("Retry-After")


def test_the_command_line_takes_a_plan() -> None:
    with start_emulator_process(plan="free", job_duration=30, max_queued=1) as proc:
        answers = [_post(proc.url, proc.api_key, n) for n in range(5)]
    assert answers[:4] == [(201, None)] * 4
    status, retry_after = answers[4]
    assert status == 429 and retry_after is not None and int(retry_after) >= 1
