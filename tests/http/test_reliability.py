"""Reliability and security guarantees, proven against the emulator's fault injection.

Run alone with ``pytest -m reliability``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import itertools
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web

from gladia_async import (
    AuthenticationError,
    GladiaSession,
    GladiaTimeout,
    InvalidInput,
    JobStatus,
    Limits,
    NotFoundError,
    PollPolicy,
    ReconcilePolicy,
    ResponseFormatError,
    RetryPolicy,
    ServerError,
    Timeouts,
)
from gladia_async.testing import FaultPlan, FaultRule, run_emulator

from ..conftest import FAST_POLL, FAST_RETRY, open_connections, pending_tasks, write_wav

pytestmark = pytest.mark.reliability

JOB_ID = "45463597-20b7-4af7-b3b3-f5fb778203ab"
FAST_RECONCILE = ReconcilePolicy(attempts=8, lookup_initial=0.05, lookup_max=0.2, horizon=0.5)


def _session(emu: Any, **kwargs: Any) -> GladiaSession:
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("poll", FAST_POLL)
    return GladiaSession(api_key=emu.api_key, base_url=emu.url, **kwargs)


# -- a faulty service, a whole batch ----------------------------------------------------------


async def test_batch_survives_twenty_percent_mixed_faults(tmp_path: Path) -> None:
    data = write_wav(tmp_path / "x.wav", seconds=0.2).read_bytes()
    paths = []
    for i in range(300):
        path = tmp_path / f"f{i:03d}.wav"
        path.write_bytes(data)
        paths.append(path)
    each = 0.2 / 8  # eight fault kinds sharing 20% of the requests of every route
    kinds: list[dict[str, Any]] = [
        {"kind": "status", "status": 429, "retry_after": 0.01},
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 503},
        {"kind": "html_502"},
        {"kind": "reset_before_body"},
        {"kind": "reset_after_body"},
        {"kind": "truncated_json"},
        {"kind": "malformed_json"},
    ]
    rules = [
        FaultRule(route=route, probability=each / (1 - i * each), **spec)
        for route in ("POST /v2/upload", "POST /v2/pre-recorded", "GET /v2/pre-recorded/{id}")
        for i, spec in enumerate(kinds)
    ]
    retry = RetryPolicy(attempts=8, backoff_initial=0.001, backoff_max=0.02, retry_after_max=0.02)
    async with (
        run_emulator(job_duration=0.02, faults=FaultPlan(seed=2026, rules=rules)) as emu,
        # The emulator lists a job at once: a short reconcile horizon is enough.
        _session(emu, retry=retry, max_concurrency=32, reconcile=FAST_RECONCILE) as gladia,
    ):
        async with gladia.transcribe_many(paths) as run:
            outcomes = [o async for o in run]
        created = emu.stats.jobs_created
        injected = emu.stats.faults_injected
    assert injected > 100, "faults really were injected"
    assert len(outcomes) == 300 and sorted(o.index for o in outcomes) == list(range(300))
    assert [o.error for o in outcomes if not o.ok] == []
    assert created == 300, "no duplicate job"
    assert len({o.job_id for o in outcomes}) == 300


# -- retry policy -----------------------------------------------------------------------------


async def test_retryable_statuses_are_retried_until_success(wav: Path) -> None:
    for status in (408, 429, 500, 502, 503, 504):
        faults = FaultPlan(
            rules=[FaultRule(route="GET *", kind="status", status=status, sequence=[True, True])]
        )
        async with run_emulator(faults=faults) as emu, _session(emu) as gladia:
            job = await gladia.transcribe(wav)
            assert job.status == JobStatus.DONE, status


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_never_retried(status: int) -> None:
    faults = FaultPlan(rules=[FaultRule(route="GET *", kind="status", status=status)])
    async with run_emulator(faults=faults) as emu, _session(emu) as gladia:
        with pytest.raises(Exception) as caught:
            await gladia.get(JOB_ID)
        assert caught.value.status == status  # type: ignore[attr-defined]
        assert emu.stats.requests_total == 1


async def test_job_creation_is_not_retried_after_it_may_have_reached_the_server() -> None:
    faults = FaultPlan(rules=[FaultRule(route="POST *", kind="status", status=500)])
    async with run_emulator(faults=faults) as emu, _session(emu) as gladia:
        with pytest.raises(ServerError):
            await gladia.submit("https://example.com/a.wav")
        assert emu.stats.requests_total == 1


async def test_job_creation_is_retried_after_429() -> None:
    faults = FaultPlan(
        rules=[FaultRule(route="POST *", kind="status", status=429, sequence=[True])]
    )
    async with run_emulator(faults=faults) as emu, _session(emu) as gladia:
        await gladia.submit("https://example.com/a.wav")
        assert emu.stats.jobs_created == 1 and emu.stats.requests_total == 2


@pytest.mark.parametrize("http_date", [False, True])
async def test_retry_after_is_honoured(http_date: bool) -> None:
    wait = 1.0 if http_date else 0.3  # an HTTP-date has whole seconds
    faults = FaultPlan(
        rules=[
            FaultRule(
                route="GET *",
                kind="status",
                status=429,
                retry_after=wait,
                retry_after_http_date=http_date,
                sequence=[True],
            )
        ]
    )
    retry = RetryPolicy(backoff_initial=0.001, backoff_max=0.001, retry_after_max=5)
    async with run_emulator(faults=faults) as emu, _session(emu, retry=retry) as gladia:
        started = time.monotonic()
        with pytest.raises(NotFoundError):
            await gladia.get(JOB_ID)
        elapsed = time.monotonic() - started
    assert emu.stats.requests_total == 2
    assert elapsed >= wait - 1.0 if http_date else elapsed >= wait * 0.95


def test_retry_after_parses_seconds_and_http_dates() -> None:
    policy = RetryPolicy(retry_after_max=120)
    assert policy.retry_after("3") == 3
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)
    parsed = policy.retry_after(email.utils.format_datetime(later, usegmt=True))
    assert parsed is not None and 28 <= parsed <= 30
    assert policy.retry_after("soon") is None
    assert policy.retry_after("100000") == 120, "capped"


def test_backoff_is_capped_exponential_with_jitter() -> None:
    policy = RetryPolicy(backoff_initial=0.1, backoff_max=1.0)
    samples = [policy.backoff(n) for n in range(1, 12) for _ in range(20)]
    assert all(0 <= s <= 1.0 for s in samples)
    assert len(set(samples)) > 100, "jittered"
    assert max(policy.backoff(1) for _ in range(200)) <= 0.1


async def test_total_deadline_is_respected() -> None:
    faults = FaultPlan(rules=[FaultRule(route="GET *", kind="status", status=503)])
    retry = RetryPolicy(attempts=1000, backoff_initial=0.05, backoff_max=0.05, deadline=0.3)
    async with run_emulator(faults=faults) as emu, _session(emu, retry=retry) as gladia:
        with anyio.fail_after(3):
            # The deadline ends the call: with the last 503, or cutting an attempt in flight.
            with pytest.raises((ServerError, GladiaTimeout)) as caught:
                await gladia.get(JOB_ID)
        if isinstance(caught.value, GladiaTimeout):
            assert isinstance(caught.value.__cause__, ServerError)
        assert emu.stats.requests_total < 50


# -- timeouts ---------------------------------------------------------------------------------


async def test_a_hung_server_raises_a_typed_timeout_within_the_bound() -> None:
    faults = FaultPlan(rules=[FaultRule(route="GET *", kind="delay", delay=30)])
    timeouts = Timeouts(request=0.3, read=0.3)
    async with (
        run_emulator(faults=faults) as emu,
        _session(emu, timeouts=timeouts, retry=RetryPolicy(attempts=1)) as gladia,
    ):
        with anyio.fail_after(5):
            with pytest.raises(GladiaTimeout):
                await gladia.get(JOB_ID)
        assert open_connections(gladia) == 0


async def test_a_stalled_download_raises_a_typed_timeout(tmp_path: Path) -> None:
    faults = FaultPlan(rules=[FaultRule(route="GET */file", kind="delay", delay=30)])
    async with run_emulator(faults=faults) as emu:
        async with _session(emu, retry=RetryPolicy(attempts=1)) as gladia:
            job = await gladia.transcribe(write_wav(tmp_path / "a.wav"))
        timeouts = Timeouts(read=0.3)  # no total for transfers: only the stall bound
        async with _session(emu, timeouts=timeouts, retry=RetryPolicy(attempts=1)) as gladia:
            with anyio.fail_after(5):
                with pytest.raises(GladiaTimeout):
                    await gladia.download_audio(job, tmp_path / "back.wav")
            assert open_connections(gladia) == 0
        # Neither the file nor its temporary copy (".back.wav.*") is left behind.
        assert [p.name for p in tmp_path.iterdir() if "back" in p.name] == []


async def test_poll_and_transcribe_deadlines(wav: Path) -> None:
    async with run_emulator(job_duration=60) as emu, _session(emu) as gladia:
        created = await gladia.submit("https://example.com/a.wav")
        with anyio.fail_after(5):
            with pytest.raises(GladiaTimeout, match="still"):
                await gladia.wait(created, timeout=0.2)
            with pytest.raises(GladiaTimeout):
                await gladia.transcribe(wav, timeout=0.2)


# -- cancellation -----------------------------------------------------------------------------


async def _cancel_during(action: Callable[[GladiaSession], Awaitable[Any]], **emu: Any) -> None:
    async with run_emulator(**emu) as running, _session(running) as gladia:
        with anyio.move_on_after(0.2) as scope:
            await action(gladia)
        assert scope.cancelled_caught, "the action was still running"
        assert pending_tasks() == set()
        assert open_connections(gladia) == 0


async def test_cancel_mid_upload_leaves_nothing_behind(tmp_path: Path) -> None:
    big = tmp_path / "big.wav"
    with big.open("wb") as f:
        f.truncate(200 * 1024 * 1024)

    async def slow_reader(gladia: GladiaSession) -> None:
        await gladia.upload(big)

    faults = FaultPlan(rules=[FaultRule(route="POST /v2/upload", kind="delay", delay=10)])
    await _cancel_during(slow_reader, faults=faults, storage="discard")


async def test_cancel_mid_poll_leaves_nothing_behind() -> None:
    async def poll(gladia: GladiaSession) -> None:
        created = await gladia.submit("https://example.com/a.wav")
        await gladia.wait(created)

    await _cancel_during(poll, job_duration=60)


async def test_cancel_mid_listing_leaves_nothing_behind() -> None:
    async def walk(gladia: GladiaSession) -> None:
        async with gladia.iter_jobs(page_size=5) as jobs:
            async for _ in jobs:
                pass

    async with run_emulator(latency=0.05) as emu:
        emu.emulator.seed_jobs(1000)
        async with _session(emu) as gladia:
            with anyio.move_on_after(0.3):
                await walk(gladia)
            assert pending_tasks() == set()
            assert open_connections(gladia) == 0


# -- malformed responses ----------------------------------------------------------------------


async def _serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def _job(**overrides: Any) -> dict[str, Any]:
    job = {
        "id": JOB_ID,
        "request_id": "G-1",
        "version": 2,
        "status": "done",
        "created_at": "2026-01-01T00:00:00.000Z",
        "kind": "pre-recorded",
        "post_session_metadata": {},
    }
    job.update(overrides)
    return job


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        ("<html><body>502 Bad Gateway</body></html>", "text/html", 502, ServerError),
        ('{"id": "4546', "application/json", 200, ResponseFormatError),
        ('{"status": "done"}', "application/json", 200, ResponseFormatError),
        ('{"id": 5, "status": [], "created_at": 3}', "application/json", 200, ResponseFormatError),
        ("[]", "application/json", 200, ResponseFormatError),
    ],
)
async def test_malformed_responses_raise_typed_errors(
    body: str, content_type: str, status: int, error: type[Exception]
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body, status=status, content_type=content_type)

    runner = await _serve(handler)
    port = runner.addresses[0][1]
    try:
        async with GladiaSession(
            api_key="k", base_url=f"http://127.0.0.1:{port}", retry=FAST_RETRY
        ) as gladia:
            with pytest.raises(error) as caught:
                await gladia.get(JOB_ID)
        assert not isinstance(caught.value, (AttributeError, KeyError))
    finally:
        await runner.cleanup()


async def test_unknown_enum_values_and_extra_fields_are_tolerated() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(_job(status="archived", brand_new_field={"x": 1}))

    runner = await _serve(handler)
    port = runner.addresses[0][1]
    try:
        async with GladiaSession(api_key="k", base_url=f"http://127.0.0.1:{port}") as gladia:
            job = await gladia.get(JOB_ID)
        assert job.status.value == "archived" and job.status != JobStatus.DONE
    finally:
        await runner.cleanup()


# -- secrets ----------------------------------------------------------------------------------

SECRET = "sk-very-secret-0123456789"


async def test_key_never_in_repr_logs_or_errors(
    caplog: pytest.LogCaptureFixture, wav: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    faults = FaultPlan(rules=[FaultRule(route="GET *", kind="status", status=500)])
    async with run_emulator(api_keys=(SECRET,), faults=faults) as emu:
        gladia = GladiaSession(api_key=SECRET, base_url=emu.url, retry=FAST_RETRY)
        texts = [repr(gladia), str(gladia), repr(gladia.transport)]
        async with gladia:
            await gladia.upload(wav)
            for call in (gladia.get(JOB_ID), gladia.wait(JOB_ID)):
                with pytest.raises(ServerError) as caught:
                    await call
                texts += [str(caught.value), repr(caught.value)]
                texts.append("".join(traceback.format_exception(caught.value)))
        async with GladiaSession(api_key="wrong-" + SECRET, base_url=emu.url) as wrong:
            with pytest.raises(AuthenticationError) as auth:
                await wrong.upload(wav)
            texts.append("".join(traceback.format_exception(auth.value)))
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.args) for record in caplog.records]
    assert caplog.records, "DEBUG logging captured something"
    assert not [t for t in texts if SECRET in t]


async def test_redirects_to_another_origin_get_no_key(tmp_path: Path) -> None:
    seen: list[dict[str, str]] = []

    async def storage(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(body=b"RIFFaudio")

    storage_runner = await _serve(storage)
    storage_port = storage_runner.addresses[0][1]

    async def api(request: web.Request) -> web.Response:
        assert request.headers.get("x-gladia-key") == SECRET
        raise web.HTTPFound(f"http://localhost:{storage_port}/bucket/audio.wav")

    api_runner = await _serve(api)
    port = api_runner.addresses[0][1]
    try:
        async with GladiaSession(api_key=SECRET, base_url=f"http://127.0.0.1:{port}") as gladia:
            dest = await gladia.download_audio(JOB_ID, tmp_path / "a.wav")
        assert dest.read_bytes() == b"RIFFaudio"
        assert seen and all("x-gladia-key" not in {k.lower() for k in h} for h in seen)
        assert all(SECRET not in str(h) for h in seen)
    finally:
        await api_runner.cleanup()
        await storage_runner.cleanup()


def test_tls_verification_is_on_by_default() -> None:
    gladia = GladiaSession(api_key="k")
    assert gladia.base_url.startswith("https://")
    assert gladia.transport.verify_ssl is True


# -- bad input table --------------------------------------------------------------------------

BAD_CALLS: list[tuple[str, Callable[[GladiaSession, Path], Any], str]] = [
    ("upload int", lambda g, p: g.upload(42), "source"),
    ("upload missing", lambda g, p: g.upload(p / "nope.wav"), "source"),
    ("upload dir", lambda g, p: g.upload(p), "source"),
    ("submit none", lambda g, p: g.submit(None), "audio"),
    ("submit path", lambda g, p: g.submit(str(p)), "audio"),
    (
        "submit metadata",
        lambda g, p: g.submit("https://a.b/c", custom_metadata=[1]),
        "custom_metadata",
    ),
    ("get non-uuid", lambda g, p: g.get("abc"), "job"),
    ("get int", lambda g, p: g.get(5), "job"),
    ("delete empty", lambda g, p: g.delete(""), "job"),
    ("wait negative", lambda g, p: g.wait(JOB_ID, timeout=-1), "timeout"),
    ("download dir", lambda g, p: g.download_audio(JOB_ID, p), "dest"),
    ("download no folder", lambda g, p: g.download_audio(JOB_ID, p / "x" / "y.wav"), "dest"),
    ("download bad id", lambda g, p: g.download_audio("x", p / "a.wav"), "job"),
    ("transcribe empty", lambda g, p: g.transcribe(b""), "source"),
    ("delete_jobs without a filter", lambda g, p: g.delete_jobs(), "filters"),
    ("delete_jobs zero", lambda g, p: g.delete_jobs(all=True, concurrency=0), "concurrency"),
    (
        "delete_jobs naive",
        lambda g, p: g.delete_jobs(after_date=dt.datetime(2026, 1, 1)),
        "after_date",
    ),
]


@pytest.mark.parametrize(("name", "call", "argument"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
async def test_bad_arguments_raise_typed_errors_before_any_request(
    name: str, call: Callable[[GladiaSession, Path], Any], argument: str, tmp_path: Path
) -> None:
    async with run_emulator() as emu, _session(emu) as gladia:
        with pytest.raises(InvalidInput) as caught:
            await call(gladia, tmp_path)
        assert caught.value.argument == argument
        assert argument in str(caught.value)
        assert emu.stats.requests_total == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_concurrency": 0},
        {"max_concurrency": "8"},
        {"api": "v1"},
    ],
)
def test_bad_session_options(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        GladiaSession(api_key="k", **kwargs)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Timeouts(connect=-1),
        lambda: RetryPolicy(attempts=0),
        lambda: PollPolicy(interval_initial=-0.5),
        lambda: Limits(uploads=0),
    ],
)
def test_bad_config_values(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        make()


def test_default_polling_is_fast_then_backs_off_to_the_cap() -> None:
    policy = PollPolicy()
    waits = [policy.interval(n) for n in range(60)]
    assert waits[:3] == [0.5, 0.5, 0.5], "a one-second job is seen after two polls"
    assert all(b >= a for a, b in itertools.pairwise(waits)), "never speeds up again"
    assert max(waits) == policy.interval_max
    elapsed, polls = 0.0, 0
    while elapsed < 600:
        elapsed += policy.interval(polls)
        polls += 1
    assert polls < 150, "a ten-minute job stays cheap"
