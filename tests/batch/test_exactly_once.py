"""Exactly-once job creation against servers that lose answers, lag, and lie in listings.

Every batch here checks the ground truth the server kept: one job per source (no duplicate),
each source's outcome names the job created with its own token (no wrong adoption), one outcome
per source, and a job that may exist is never reported as a plain failure.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from typing import Any

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
    ServerError,
    Timeouts,
)
from gladia_async.testing import FaultPlan, FaultRule, run_emulator

from ..hostile import API_KEY, FakeGladia, Job, serve_fake

UTC = dt.timezone.utc

pytestmark = pytest.mark.reliability

#: Seconds the listing lags behind writes; the bar is 5 s (run once with
#: GLADIA_TEST_LISTING_LAG=5), the suite uses less to stay fast.
LAG = float(os.environ.get("GLADIA_TEST_LISTING_LAG", "1.0"))
SOURCES = 500
FAST_POLL = PollPolicy(interval_initial=0.01, interval_max=0.05, deadline=30)
RETRY = RetryPolicy(attempts=4, backoff_initial=0.001, backoff_max=0.01, retry_after_max=0.05)
RECONCILE = ReconcilePolicy(lookup_initial=0.2, lookup_max=0.5, horizon=LAG + 1.5)


def _session(url: str, **kwargs: Any) -> GladiaSession:
    kwargs.setdefault("reconcile", RECONCILE)
    return GladiaSession(
        api_key=API_KEY, base_url=url, poll=FAST_POLL, retry=RETRY, max_concurrency=100, **kwargs
    )


def _sources(n: int = SOURCES) -> list[str]:
    return [f"https://example.com/audio/{i}.wav" for i in range(n)]


async def _batch(fake: FakeGladia, n: int = SOURCES, **session: Any) -> list[Outcome]:
    async with serve_fake(fake) as url, _session(url, **session) as gladia:
        async with gladia.transcribe_many(_sources(n)) as run:
            return [outcome async for outcome in run]


def _assert_exactly_once(fake: FakeGladia, outcomes: list[Outcome], n: int = SOURCES) -> None:
    assert sorted(o.index for o in outcomes) == list(range(n)), "one outcome per source"
    by_token = fake.jobs_by_token()
    duplicates = {t: ids for t, ids in by_token.items() if len(ids) > 1}
    assert duplicates == {}, f"{len(duplicates)} sources got more than one job"
    wrong = [o for o in outcomes if o.job_id is not None and fake.token_of(o.job_id) != o.token]
    assert wrong == [], f"{len(wrong)} sources adopted another source's job"
    for o in outcomes:
        if not o.ok and o.token in by_token:
            # The job exists: the outcome must say so, never look like a plain failure.
            assert isinstance(o.error, JobUnconfirmedError) or o.job_id is not None, o.error


async def test_503_after_create_and_a_lagging_listing() -> None:
    fake = FakeGladia(error_after_create=0.3, listing_lag=LAG, seed=1)
    outcomes = await _batch(fake)
    _assert_exactly_once(fake, outcomes)
    assert all(o.ok for o in outcomes), {type(o.error).__name__ for o in outcomes if not o.ok}
    assert len(fake.jobs) == SOURCES
    assert fake.create_requests == SOURCES, "a 503 after create is reconciled, never re-sent"


async def test_commit_after_the_clients_timeout() -> None:
    fake = FakeGladia(slow_commit=0.2, hang=1.0, commit_delay=0.6, listing_lag=LAG / 2, seed=2)
    timeouts = Timeouts(request=0.3)
    outcomes = await _batch(fake, timeouts=timeouts)
    _assert_exactly_once(fake, outcomes)
    assert all(o.ok for o in outcomes), {type(o.error).__name__ for o in outcomes if not o.ok}
    assert len(fake.jobs) == SOURCES


async def test_a_listing_that_ignores_the_token_filter_hands_over_no_other_job() -> None:
    fake = FakeGladia(error_after_create=0.3, ignore_filter=True, listing_lag=LAG / 2, seed=3)
    outcomes = await _batch(fake, n=200)
    _assert_exactly_once(fake, outcomes, n=200)
    assert all(o.ok for o in outcomes), {type(o.error).__name__ for o in outcomes if not o.ok}


async def test_failing_lookups_never_turn_an_existing_job_into_a_plain_failure() -> None:
    fake = FakeGladia(error_after_create=0.3, failing_lookups=0.5, listing_lag=LAG / 2, seed=4)
    outcomes = await _batch(fake, n=300)
    _assert_exactly_once(fake, outcomes, n=300)
    failed = [o for o in outcomes if not o.ok]
    assert all(isinstance(o.error, JobUnconfirmedError) for o in failed)


async def test_lookups_that_always_fail_report_unconfirmed_jobs_with_their_token() -> None:
    fake = FakeGladia(error_after_create=1.0, failing_lookups=1.0, seed=5)
    reconcile = ReconcilePolicy(lookup_initial=0.05, lookup_max=0.1, horizon=0.3)
    outcomes = await _batch(fake, n=20, reconcile=reconcile)
    _assert_exactly_once(fake, outcomes, n=20)
    assert len(fake.jobs) == 20, "an unconfirmed job is never created again"
    for o in outcomes:
        assert isinstance(o.error, JobUnconfirmedError)
        assert o.error.token == o.token and o.token is not None
        assert isinstance(o.error.__cause__, ServerError), "the root cause is chained"


async def test_a_job_confirmed_absent_is_created_again() -> None:
    # The 503 comes from a proxy before the job is created: lookups find nothing, so the
    # reconcile creates the job again (and only then).
    fake = FakeGladia(refuse_first=1)
    reconcile = ReconcilePolicy(lookup_initial=0.05, lookup_max=0.1, horizon=0.2)
    async with serve_fake(fake) as url, _session(url, reconcile=reconcile) as gladia:
        created = await gladia.submit("https://example.com/a.wav", idempotency_token="tok-1")
    assert [j.id for j in fake.jobs] == [created.id]
    assert fake.create_requests == 2


async def test_single_submit_with_a_token_adopts_the_job_a_503_hid() -> None:
    fake = FakeGladia(error_after_create=1.0, listing_lag=0.3)
    async with serve_fake(fake) as url, _session(url) as gladia:
        created = await gladia.submit("https://example.com/a.wav", idempotency_token="tok-42")
    assert [j.id for j in fake.jobs] == [created.id]
    assert fake.jobs[0].custom_metadata["gladia_async_token"] == "tok-42"


async def test_submit_without_a_token_never_repeats_a_creation_after_a_5xx() -> None:
    fake = FakeGladia(error_after_create=1.0)
    async with serve_fake(fake) as url, _session(url) as gladia:
        with pytest.raises(ServerError):
            await gladia.submit("https://example.com/a.wav")
    assert fake.create_requests == 1 and len(fake.jobs) == 1


async def test_one_last_lookup_before_reporting_finds_a_job_listed_late() -> None:
    # Every lookup within the horizon fails; the last one, after a pause, succeeds.
    fake = FakeGladia(error_after_create=1.0, lookups_fail_for=0.8)
    reconcile = ReconcilePolicy(lookup_initial=0.05, lookup_max=1.0, horizon=0.3)
    async with serve_fake(fake) as url, _session(url, reconcile=reconcile) as gladia:
        created = await gladia.submit("https://example.com/a.wav", idempotency_token="late")
    assert [j.id for j in fake.jobs] == [created.id]


async def test_a_lookup_cut_short_by_max_scan_rules_nothing_out() -> None:
    # A listing that ignores the filter and is longer than max_scan cannot prove the job absent.
    fake = FakeGladia(error_after_create=1.0, ignore_filter=True, listing_lag=60)
    for i in range(30):
        fake.jobs.append(
            Job(id=f"old-{i}", created=-1e9, custom_metadata={}, created_at=dt.datetime.now(UTC))
        )
    reconcile = ReconcilePolicy(lookup_initial=0.02, lookup_max=0.05, horizon=0.1, max_scan=10)
    async with serve_fake(fake) as url, _session(url, reconcile=reconcile) as gladia:
        with pytest.raises(JobUnconfirmedError):
            await gladia.submit("https://example.com/a.wav", idempotency_token="scan")
    assert fake.create_requests == 1, "never created again on an inconclusive lookup"


async def test_a_408_after_create_is_reconciled_not_taken_as_a_refusal() -> None:
    fake = FakeGladia(error_after_create=1.0, error_status=408)
    reconcile = ReconcilePolicy(lookup_initial=0.05, lookup_max=0.1, horizon=0.3)
    async with serve_fake(fake) as url, _session(url, reconcile=reconcile) as gladia:
        created = await gladia.submit("https://example.com/a.wav", idempotency_token="t408")
    assert [j.id for j in fake.jobs] == [created.id]


async def test_creation_attempts_are_capped_when_the_job_is_never_created() -> None:
    fake = FakeGladia(refuse_all=True)
    reconcile = ReconcilePolicy(attempts=3, lookup_initial=0.01, lookup_max=0.02, horizon=0.05)
    async with serve_fake(fake) as url, _session(url, reconcile=reconcile) as gladia:
        with anyio.fail_after(5), pytest.raises(ServerError):
            # Confirmed absent after every attempt: the plain error, safe to submit again.
            await gladia.submit("https://example.com/a.wav", idempotency_token="never")
    assert fake.create_requests == 3


async def test_lookups_back_off_until_the_horizon() -> None:
    fake = FakeGladia(error_after_create=1.0, listing_lag=60)
    reconcile = ReconcilePolicy(attempts=1, lookup_initial=0.05, lookup_max=0.4, horizon=1.5)
    async with serve_fake(fake) as url, _session(url, reconcile=reconcile) as gladia:
        with pytest.raises(ServerError):
            await gladia.submit("https://example.com/a.wav", idempotency_token="slow")
    lookups = fake.requests - fake.create_requests
    # 0.05, 0.1, 0.2, 0.4, 0.4, 0.35 (the rest of the horizon), then the last lookup: 7.
    assert 4 <= lookups <= 9, lookups


# -- listings that ignore the token filter -------------------------------------------------
# A listing that ignores its custom_metadata filter never makes a batch pay twice.
#
# The token lookup trusts a listing only where it shows it honours the filter (every job it lists
# carries the token). A listing that returns other jobs, or stops at its most recent ones, is no
# proof that a job is absent: the source is then reported :class:`JobUnconfirmedError` (with its
# token), never created again.

#: The issue's bar: 200 URL sources against the hostile listing; fewer on the emulator, whose
#: account limits pace a batch (the fault rule is what that test is about).
FILTER_SOURCES = 200
EMULATED = 40
FILTER_POLL = PollPolicy(interval_initial=0.02, interval_max=0.1, deadline=60)
FILTER_RECONCILE = ReconcilePolicy(lookup_initial=0.05, lookup_max=0.2, horizon=0.6)


async def _filter_batch(url: str, key: str, n: int) -> list[Outcome]:
    async with GladiaSession(
        api_key=key, base_url=url, poll=FILTER_POLL, retry=RETRY, reconcile=FILTER_RECONCILE
    ) as gladia:
        async with gladia.transcribe_many(_sources(n)) as run:
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
            outcomes = await _filter_batch(emu.url, emu.api_key, EMULATED)
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
            outcomes = await _filter_batch(url, API_KEY, FILTER_SOURCES)
    tokens = Counter({token: len(ids) for token, ids in fake.jobs_by_token().items()})
    _assert_one_job_and_one_outcome_each(tokens, outcomes, FILTER_SOURCES)
    assert any(not o.ok for o in outcomes), "some creations could not be confirmed"
