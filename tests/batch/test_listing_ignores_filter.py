"""A listing that ignores its custom_metadata filter never makes a batch pay twice.

The token lookup trusts a listing only where it shows it honours the filter (every job it lists
carries the token). A listing that returns other jobs, or stops at its most recent ones, is no
proof that a job is absent: the source is then reported :class:`JobUnconfirmedError` (with its
token), never created again.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import anyio
import pytest

from gladia_async import (
    TOKEN_KEY,
    GladiaSession,
    JobUnconfirmedError,
    Outcome,
    PollPolicy,
    ReconcilePolicy,
    RetryPolicy,
)
from gladia_async.testing import FaultPlan, FaultRule, run_emulator

from ..hostile import API_KEY, FakeGladia, Job, serve_fake

pytestmark = pytest.mark.reliability

#: The issue's bar: 200 URL sources against the hostile listing; fewer on the emulator, whose
#: account limits pace a batch (the fault rule is what that test is about).
SOURCES = 200
EMULATED = 40
POLL = PollPolicy(interval_initial=0.02, interval_max=0.1, deadline=60)
RETRY = RetryPolicy(attempts=4, backoff_initial=0.001, backoff_max=0.01, retry_after_max=0.05)
RECONCILE = ReconcilePolicy(lookup_initial=0.05, lookup_max=0.2, horizon=0.6)


def _urls(n: int) -> list[str]:
    return [f"https://example.com/audio/{i}.wav" for i in range(n)]


async def _batch(url: str, key: str, n: int) -> list[Outcome]:
    async with GladiaSession(
        api_key=key, base_url=url, poll=POLL, retry=RETRY, reconcile=RECONCILE
    ) as gladia:
        async with gladia.transcribe_many(_urls(n)) as run:
            return [outcome async for outcome in run]


def _assert_one_job_and_one_outcome_each(
    tokens: Counter[str], outcomes: list[Outcome], n: int
) -> None:
    assert sorted(o.index for o in outcomes) == list(range(n)), "one outcome per source"
    twice = {token: n for token, n in tokens.items() if n > 1}
    assert twice == {}, f"{len(twice)} sources got two jobs"
    for o in outcomes:
        assert o.ok or isinstance(o.error, JobUnconfirmedError), o.error
        if not o.ok:
            assert isinstance(o.error, JobUnconfirmedError)
            assert o.error.token == o.token is not None


async def test_emulator_listing_that_ignores_the_filter_and_loses_answers() -> None:
    # The emulator's fault rule: the listing drops the filter and answers its first page.
    faults = FaultPlan.of(
        FaultRule(route="POST /v2/pre-recorded", kind="reset_after_body", probability=0.3),
        FaultRule(route="GET /v2/*", kind="ignore_metadata_filter"),
        seed=22,
    )
    async with run_emulator(job_duration=0.05, faults=faults) as emu:
        with anyio.fail_after(120):
            outcomes = await _batch(emu.url, emu.api_key, EMULATED)
        jobs = list(emu.emulator.jobs.values())
    tokens = Counter(job["custom_metadata"][TOKEN_KEY] for job in jobs)
    _assert_one_job_and_one_outcome_each(tokens, outcomes, EMULATED)
    lost = sum(1 for f in faults.history if f.rule.kind == "reset_after_body")
    assert lost > 5, "the fault fired as planned"


async def test_hostile_listing_that_lists_other_jobs_and_lags_rules_nothing_out() -> None:
    # The listing lists every job whatever the filter, and lags 60 s behind writes: a lookup
    # sees 20 older jobs of the account, never its own. Not seen is not absent.
    fake = FakeGladia(
        error_after_create=0.3, drop_after_create=True, ignore_filter=True, listing_lag=60, seed=22
    )
    now = dt.datetime.now(dt.timezone.utc)
    fake.jobs.extend(
        Job(id=f"old-{i}", created=-1e9, custom_metadata={}, created_at=now) for i in range(20)
    )
    async with serve_fake(fake) as url:
        with anyio.fail_after(120):
            outcomes = await _batch(url, API_KEY, SOURCES)
    tokens = Counter({token: len(ids) for token, ids in fake.jobs_by_token().items()})
    _assert_one_job_and_one_outcome_each(tokens, outcomes, SOURCES)
    assert any(not o.ok for o in outcomes), "some creations could not be confirmed"
