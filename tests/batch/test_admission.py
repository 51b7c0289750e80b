"""The admission window: AIMD on 429s, driven by a fake clock against the emulator's scheduler,
then whole batches against a full account (the emulator's plan limits and 429 faults)."""

from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from gladia_async import (
    TOKEN_KEY,
    GladiaSession,
    InvalidInput,
    Outcome,
    PollPolicy,
    TranscriptionOptions,
)
from gladia_async._batch.admission import AdmissionTicket, AdmissionWindow
from gladia_async.testing import AccountLimits, FaultPlan, FaultRule, ManualClock, run_emulator
from gladia_async.testing._limits import AccountLimitReached, JobScheduler

from ..conftest import FAST_POLL, FAST_RETRY, write_wav


def run_batch(
    jobs: int, limits: AccountLimits, *, duration: float = 1.0, initial: int = 4
) -> tuple[float, int, AdmissionWindow]:
    """Submit ``jobs`` through a window against an account; return (makespan, 429s, window).

    Discrete events on a manual clock: the batch creates whenever the window lets it, jobs
    finish when the account's FIFO schedule says, and the batch sees it at once.
    """
    clock = ManualClock()
    window = AdmissionWindow(initial=initial, clock=clock)
    account = JobScheduler(limits)
    running: list[tuple[float, int, AdmissionTicket]] = []
    order = itertools.count()
    created = refused = 0
    while created < jobs or running:
        assert clock() < 10 * jobs * duration, "the batch stopped making progress"
        while created < jobs and (ticket := window.try_acquire()) is not None:
            try:
                _, finish = account.admit(clock(), 0.0, duration)
            except AccountLimitReached as exc:
                refused += 1
                window.rejected(ticket, float(exc.header))
            else:
                window.accepted(ticket)
                created += 1
                heapq.heappush(running, (finish, next(order), ticket))
            assert window.in_use <= window.limit or window.paused_for > 0 or refused
        moments = [running[0][0]] if running else []
        if created < jobs and window.paused_for > 0:
            moments.append(clock() + window.paused_for)
        clock.advance(max(0.0, min(moments) - clock()))
        while running and running[0][0] <= clock():
            window.release(heapq.heappop(running)[2])
    return clock(), refused, window


def test_a_paid_account_is_kept_busy_at_its_floor_with_few_refusals() -> None:
    jobs = 2000
    makespan, refused, window = run_batch(jobs, AccountLimits.for_plan("paid"))
    floor = math.ceil(jobs / 25) * 1.0
    assert makespan <= 1.05 * floor, (makespan, floor)
    assert refused / jobs < 0.05, refused
    assert window.limit >= 25  # never starved the 25 processing slots


def test_a_small_account_is_not_stormed() -> None:
    jobs = 300
    makespan, refused, window = run_batch(jobs, AccountLimits.for_plan("free"), initial=25)
    floor = math.ceil(jobs / 3) * 1.0
    assert refused / jobs < 0.15, refused  # AIMD at a window of 3 probes every few jobs
    assert makespan <= 1.1 * floor, (makespan, floor)
    assert 1 <= window.limit <= 6


def test_a_refusal_halves_the_window_once_per_round_and_pauses() -> None:
    clock = ManualClock()
    window = AdmissionWindow(initial=8, clock=clock)
    tickets = [window.try_acquire() for _ in range(8)]
    assert all(tickets) and window.try_acquire() is None  # full
    for ticket in tickets[:5]:  # one burst, one congestion event
        assert ticket is not None
        window.rejected(ticket, retry_after=2.0)
    assert window.limit == 4
    assert window.in_use == 3  # refused creations hold nothing
    assert window.try_acquire() is None  # paused by Retry-After
    clock.advance(2.0)
    assert window.try_acquire() is not None and window.in_use == 4
    assert window.try_acquire() is None  # and now limited by the halved window


def test_the_window_never_drops_below_its_floor() -> None:
    clock = ManualClock()
    window = AdmissionWindow(initial=4, clock=clock)
    for _ in range(20):
        clock.advance(1.0)
        ticket = window.try_acquire()
        assert ticket is not None
        window.rejected(ticket, retry_after=0.5)
    assert window.limit == 1
    clock.advance(1.0)
    assert window.try_acquire() is not None  # one job at a time still goes through


def test_after_a_refusal_the_window_grows_by_one_per_round() -> None:
    clock = ManualClock()
    window = AdmissionWindow(initial=16, clock=clock)
    first = window.try_acquire()
    assert first is not None
    window.rejected(first, retry_after=0)
    assert window.limit == 8
    held: list[AdmissionTicket] = []
    for _ in range(20):  # fill the window
        ticket = window.try_acquire()
        if ticket is None:
            break
        window.accepted(ticket)
        held.append(ticket)
    assert window.limit == 8 and window.in_use == 8
    accepted = 0
    while window.limit < 9 and accepted < 100:  # full: one finishes, the next is accepted
        window.release(held.pop(0))
        ticket = window.try_acquire()
        assert ticket is not None
        window.accepted(ticket)
        held.append(ticket)
        accepted += 1
    assert 7 <= accepted <= 9  # one window's worth of accepted creations per +1


def test_slow_start_doubles_until_the_first_refusal() -> None:
    window = AdmissionWindow(initial=2, clock=ManualClock())
    for _ in range(6):
        ticket = window.try_acquire()
        assert ticket is not None
        window.accepted(ticket)
    assert window.limit == 8


async def test_a_window_waited_for_grows_on_every_acceptance() -> None:
    # Answers often arrive back to back, before the tasks waiting for a place have run: each
    # acceptance must still count as evidence (the window was the constraint), not only the
    # first one after which the window looks "not full".
    window = AdmissionWindow(initial=4, clock=ManualClock())
    tickets = [window.try_acquire() for _ in range(4)]
    got: list[AdmissionTicket] = []

    async def wait_for_a_place() -> None:
        got.append(await window.acquire())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(wait_for_a_place)
            await wait_all_tasks_blocked()
            for ticket in tickets:
                assert ticket is not None
                window.accepted(ticket)
            assert window.limit == 8  # four acceptances, four more places
            await wait_all_tasks_blocked()
            assert len(got) == 4
            tg.cancel_scope.cancel()


def test_an_idle_window_does_not_grow() -> None:
    window = AdmissionWindow(initial=10, clock=ManualClock())
    for _ in range(50):  # one job at a time: the window is never the constraint
        ticket = window.try_acquire()
        assert ticket is not None
        window.accepted(ticket)
        window.release(ticket)
    assert window.limit == 10


def test_release_is_idempotent() -> None:
    window = AdmissionWindow(initial=2, clock=ManualClock())
    ticket = window.try_acquire()
    assert ticket is not None
    window.release(ticket)
    window.release(ticket)
    assert window.in_use == 0


async def test_acquire_waits_for_a_place_to_free() -> None:
    window = AdmissionWindow(initial=1)
    first = await window.acquire()
    got: list[AdmissionTicket] = []

    async def second() -> None:
        got.append(await window.acquire())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(second)
            await wait_all_tasks_blocked()
            assert got == []  # blocked while the only place is held
            window.release(first)
    assert len(got) == 1 and window.in_use == 1


async def test_acquire_waits_out_a_429_pause() -> None:
    window = AdmissionWindow(initial=2)
    ticket = await window.acquire()
    window.rejected(ticket, retry_after=0.2)
    with anyio.fail_after(5):
        started = anyio.current_time()
        await window.acquire()
        assert anyio.current_time() - started >= 0.15


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"initial": 0}, "initial"),
        ({"minimum": 0}, "minimum"),
        ({"initial": 2, "minimum": 3}, "initial"),
        ({"maximum": 1, "initial": 5}, "maximum"),
        ({"decrease": 1.0}, "decrease"),
        ({"initial": True}, "initial"),
    ],
)
def test_bad_settings_name_their_argument(kwargs: dict[str, object], argument: str) -> None:
    with pytest.raises(InvalidInput) as info:
        AdmissionWindow(**kwargs)  # type: ignore[arg-type]
    assert info.value.argument == argument


# -- a batch against a full account --------------------------------------------------------

CREATE = "POST /v2/pre-recorded"
POLL = "GET /v2/pre-recorded/{id}"
RETRY_AFTER = 3.0


async def _batch(
    emu: Any, paths: list[Path], options: TranscriptionOptions | None = None
) -> list[Outcome]:
    async with (
        GladiaSession(
            api_key=emu.api_key, base_url=emu.url, poll=FAST_POLL, retry=FAST_RETRY
        ) as gladia,
        gladia.transcribe_many(paths, options) as outcomes,
    ):
        return [outcome async for outcome in outcomes]


def _wavs(tmp_path: Path, n: int) -> list[Path]:
    data = write_wav(tmp_path / "one.wav", seconds=0.05).read_bytes()
    paths = []
    for i in range(n):
        path = tmp_path / f"f{i:03d}.wav"
        path.write_bytes(data + bytes([i % 256]))  # distinct files
        paths.append(path)
    return paths


async def test_a_refused_creation_waits_in_the_window_while_the_batch_keeps_polling() -> None:
    # 2 processing, no queue: of 4 creations sent at once, 2 are refused with Retry-After 3 s.
    plan = AccountLimits(max_processing=2, max_queued=0, retry_after=RETRY_AFTER)
    poll = PollPolicy(interval_initial=0.05, interval_max=0.05)
    async with run_emulator(job_duration=0.3, plan=plan) as emu:
        emulator = emu.emulator
        creations_when_delivered = []
        async with (
            GladiaSession(api_key=emu.api_key, base_url=emu.url, poll=poll) as gladia,
            gladia.transcribe_many([f"{emu.url}/audio/{i}.wav" for i in range(4)]) as outcomes,
        ):
            async for outcome in outcomes:
                assert outcome.ok, outcome.error
                creations_when_delivered.append(emulator.stats.requests_by_route[CREATE])
        requests = list(emulator.requests)
        rejected = emulator.stats.jobs_rejected
    creations = [r.at for r in requests if r.route == CREATE]
    assert rejected == 2 and len(creations) == 6, "each refused creation sent once more"
    first_refusal, resent = creations[2], creations[4]
    # The window waited out the Retry-After before sending again (a lower bound: load only
    # delays), and the session was not paused meanwhile: the accepted jobs were polled and
    # delivered before any refused creation was sent again.
    assert resent - first_refusal >= RETRY_AFTER - 0.1
    paused = (first_refusal + 0.1, first_refusal + RETRY_AFTER - 0.5)
    assert any(paused[0] < r.at < paused[1] for r in requests if r.route == POLL)
    assert creations_when_delivered[:2] == [4, 4], "delivered while the refusals waited"


async def test_rate_limit_slows_the_batch_instead_of_failing(tmp_path: Path) -> None:
    paths = [write_wav(tmp_path / f"r{i}.wav", seconds=0.2) for i in range(10)]
    faults = FaultPlan(
        seed=11,
        rules=[
            FaultRule(
                route="POST /v2/upload",
                kind="status",
                status=429,
                retry_after=0.05,
                sequence=[True, True, True],
            )
        ],
    )
    async with run_emulator(job_duration=0.02, faults=faults) as emu:
        outcomes = await _batch(emu, paths)
    assert all(o.ok for o in outcomes)


async def test_a_free_account_gets_the_whole_batch_with_few_refusals(tmp_path: Path) -> None:
    paths = _wavs(tmp_path, 50)
    async with run_emulator(job_duration=0.05, plan="free") as emu:
        with anyio.fail_after(120):
            outcomes = await _batch(emu, paths, TranscriptionOptions(diarization=True))
        rejected = emu.emulator.stats.jobs_rejected
        tokens = Counter(job["custom_metadata"][TOKEN_KEY] for job in emu.emulator.jobs.values())
    assert sorted(o.index for o in outcomes) == list(range(50))
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok][:3]
    assert set(tokens.values()) == {1}
    # AIMD at a window of 3 probes every few jobs (about 10 refusals for 50 jobs); a batch
    # that ignores the account is refused 175 times here.
    assert rejected <= 20, rejected
