"""Callbacks and webhooks: pushed results reach the app authenticated, typed and only once."""

from __future__ import annotations

import contextlib
import hmac
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import orjson
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from gladia_async import (
    CallbackReceiver,
    Delivery,
    GladiaSession,
    GladiaTimeout,
    InvalidInput,
    JobFailedError,
    MalformedCallbackError,
    TranscriptionOptions,
    UnknownEvent,
    parse_callback,
    parse_webhook,
)
from gladia_async import models as m
from gladia_async._callbacks.receiver import TOKEN_PARAM
from gladia_async.testing import CallbackFaults, FaultPlan, FaultRule, run_emulator

from ..conftest import FAST_POLL, FAST_RETRY, pending_tasks, write_wav

JOB_ID = "45463597-20b7-4af7-b3b3-f5fb778203ab"


# -- helpers --------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve_aiohttp(receiver: CallbackReceiver, path: str = "/gladia") -> AsyncIterator[str]:
    """Serve ``receiver`` on a free loopback port with aiohttp.web; yield its URL."""
    app = web.Application()
    app.add_routes(receiver.aiohttp_routes(path))
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}{path}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def serve_asgi(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port; yield its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        with anyio.fail_after(10):
            # uvicorn exposes readiness only as a flag.
            while not server.started:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
    sock.close()


class Inbox:
    """A handler that records every delivery and can wait for a number of them."""

    def __init__(self, fail_first: int = 0) -> None:
        self.deliveries: list[Delivery] = []
        self.fail_first = fail_first
        self.calls = 0
        self._changed = anyio.Event()

    async def __call__(self, delivery: Delivery) -> None:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise RuntimeError("the app's database is down")
        self.deliveries.append(delivery)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        with anyio.fail_after(timeout):
            while len(self.deliveries) < count:
                await self._changed.wait()
        return self.deliveries


async def post(url: str, body: bytes, method: str = "POST") -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.request(method, url, data=body) as resp:
        return resp.status, orjson.loads(await resp.read())


async def delivery_records(emu: Any, count: int, timeout: float = 10.0) -> list[Any]:
    """The emulator's delivery records, once there are ``count`` of them."""
    # The emulator records an attempt after the receiver answered: a bounded look, not a race.
    with anyio.fail_after(timeout):
        while len(emu.emulator.deliveries) < count:  # noqa: ASYNC110
            await anyio.sleep(0.01)
    return list(emu.emulator.deliveries)


def success_body(job_id: str = JOB_ID) -> bytes:
    result = {
        "metadata": {
            "audio_duration": 1.0,
            "number_of_distinct_channels": 1,
            "billing_time": 1.0,
            "transcription_time": 1.0,
        },
        "transcription": {"full_transcript": "forged words", "languages": ["en"], "utterances": []},
    }
    return orjson.dumps({"id": job_id, "event": "transcription.success", "payload": result})


def session_for(emu: Any) -> GladiaSession:
    return GladiaSession(api_key=emu.api_key, base_url=emu.url, poll=FAST_POLL, retry=FAST_RETRY)


# -- parsing --------------------------------------------------------------------------------


def test_parse_callback_returns_typed_success_and_error() -> None:
    event = parse_callback(success_body())
    assert isinstance(event, m.CallbackTranscriptionSuccessPayload)
    assert event.id == JOB_ID
    assert event.payload.transcription is not None
    assert event.payload.transcription.full_transcript == "forged words"

    error = parse_callback(
        orjson.dumps(
            {
                "id": JOB_ID,
                "event": "transcription.error",
                "error": {"code": 500, "message": "boom"},
                "custom_metadata": {"user": "ada"},
            }
        )
    )
    assert isinstance(error, m.CallbackTranscriptionErrorPayload)
    assert error.error.code == 500
    assert error.custom_metadata == {"user": "ada"}


def test_parse_callback_live_message() -> None:
    body = {
        "id": JOB_ID,
        "event": "live.end_session",
        "payload": {
            "session_id": JOB_ID,
            "created_at": "2024-01-01T00:00:00Z",
            "type": "end_session",
        },
    }
    event = parse_callback(orjson.dumps(body))
    assert isinstance(event, m.CallbackLiveEndSessionMessage)
    assert event.payload.session_id == JOB_ID


@pytest.mark.parametrize(
    ("event", "cls"),
    [
        ("transcription.created", m.WebhookTranscriptionCreatedPayload),
        ("transcription.success", m.WebhookTranscriptionSuccessPayload),
        ("transcription.error", m.WebhookTranscriptionErrorPayload),
        ("live.start_session", m.WebhookLiveStartSessionPayload),
        ("live.start_recording", m.WebhookLiveStartRecordingPayload),
        ("live.end_recording", m.WebhookLiveEndRecordingPayload),
        ("live.end_session", m.WebhookLiveEndSessionPayload),
    ],
)
def test_parse_webhook_returns_each_spec_event_typed(event: str, cls: type) -> None:
    parsed = parse_webhook(orjson.dumps({"event": event, "payload": {"id": JOB_ID}}))
    assert isinstance(parsed, cls)
    assert parsed.payload.id == JOB_ID  # type: ignore[union-attr]


def test_unknown_events_come_back_generic_not_as_a_crash() -> None:
    body = {"id": JOB_ID, "event": "audio.translated", "x": 1}
    callback = parse_callback(orjson.dumps(body))
    assert callback == UnknownEvent(event="audio.translated", id=JOB_ID, body=body)
    webhook = parse_webhook(orjson.dumps({"event": "live.paused", "payload": {"id": JOB_ID}}))
    assert isinstance(webhook, UnknownEvent)
    assert webhook.id == JOB_ID


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"id": "x"}',
        b'{"event": 3, "id": "x"}',
        b'{"event": "transcription.success"}',  # a callback names its job
        b'{"event": "transcription.success", "id": "x", "payload": "nope"}',
        b'{"event": "transcription.error", "id": "x", "error": {"code": "many"}}',
    ],
)
def test_malformed_callback_bodies_raise_a_typed_error(body: bytes) -> None:
    with pytest.raises(MalformedCallbackError):
        parse_callback(body)


def test_malformed_webhook_body_raises_a_typed_error() -> None:
    with pytest.raises(MalformedCallbackError):
        parse_webhook(b'{"event": "transcription.success", "payload": {}}')


# -- URLs and options -----------------------------------------------------------------------


def test_callback_url_carries_a_token_and_options_enable_the_callback() -> None:
    receiver = CallbackReceiver(secret="s" * 32)
    url = receiver.callback_url("http://127.0.0.1:9/hook?tenant=7")
    assert url == f"http://127.0.0.1:9/hook?tenant=7&{TOKEN_PARAM}={'s' * 32}"
    options = receiver.options(
        "http://127.0.0.1:9/hook",
        TranscriptionOptions(diarization=True),
        method="PUT",
        per_job=True,
    )
    assert options.diarization is True
    assert options.callback is True
    assert options.callback_config is not None
    assert options.callback_config.method == m.CallbackMethod.PUT
    per_job = options.callback_config.url
    assert "s" * 32 not in per_job, "a per-job URL never reveals the secret"
    token = per_job.split(f"{TOKEN_PARAM}=")[1]
    assert receiver.token_is_valid(token)
    assert not CallbackReceiver(secret="t" * 32).token_is_valid(token)


def test_bad_receiver_arguments_are_refused_up_front() -> None:
    with pytest.raises(InvalidInput, match="secret"):
        CallbackReceiver(secret="short")
    with pytest.raises(InvalidInput, match="session"):
        CallbackReceiver(verify=True)
    with pytest.raises(InvalidInput, match="url"):
        CallbackReceiver().callback_url("ftp://example.com/x")
    with pytest.raises(InvalidInput, match="method"):
        CallbackReceiver().callback_config("http://127.0.0.1/x", method="GET")  # type: ignore[arg-type]


def test_the_secret_never_shows_in_the_repr() -> None:
    receiver = CallbackReceiver(secret="hunter2-hunter2-hunter2")
    assert "hunter2" not in repr(receiver)


def test_tokens_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("gladia_async._callbacks.receiver.hmac.compare_digest", spy)
    receiver = CallbackReceiver(secret="s" * 32)
    assert receiver.token_is_valid("s" * 32)
    assert not receiver.token_is_valid("s" * 31 + "x")
    per_job = receiver.callback_url("http://127.0.0.1/x", per_job=True).split("=")[1]
    assert receiver.token_is_valid(per_job)
    assert len(calls) >= 3, "every token check goes through hmac.compare_digest"


# -- end to end: emulator -> receiver -------------------------------------------------------


async def test_aiohttp_receiver_gets_the_jobs_callback_parsed_and_matched(wav: Path) -> None:
    inbox = Inbox()
    receiver = CallbackReceiver(inbox)
    async with (
        run_emulator(job_duration=0.05) as emu,
        serve_aiohttp(receiver) as url,
        session_for(emu) as gladia,
    ):
        audio = await gladia.upload(wav)
        created = await gladia.submit(audio, receiver.options(url), custom_metadata={"order": 42})
        [delivery] = await inbox.wait_for(1)
        job = await gladia.get(created)
    assert delivery.kind == "callback"
    assert delivery.name == "transcription.success"
    assert delivery.job_id == created.id
    assert isinstance(delivery.event, m.CallbackTranscriptionSuccessPayload)
    assert delivery.event.custom_metadata == {"order": 42}
    assert delivery.result == job.result


async def test_asgi_receiver_in_fastapi_gets_a_put_callback(wav: Path) -> None:
    from fastapi import FastAPI

    inbox = Inbox()
    receiver = CallbackReceiver(inbox)
    app = FastAPI()
    app.mount("/gladia", receiver.asgi_app())
    async with (
        run_emulator(job_duration=0.05) as emu,
        serve_asgi(app) as base,
        session_for(emu) as gladia,
    ):
        created = await gladia.submit(
            await gladia.upload(wav),
            receiver.options(f"{base}/gladia/callback", method="PUT", per_job=True),
        )
        [delivery] = await inbox.wait_for(1)
        records = await delivery_records(emu, 1)
    assert delivery.job_id == created.id
    assert delivery.name == "transcription.success"
    assert [(r.method, r.status) for r in records] == [("PUT", 200)]


async def test_error_payload_reaches_the_handler_typed(wav: Path) -> None:
    inbox = Inbox()
    receiver = CallbackReceiver(inbox)
    faults = FaultPlan(
        rules=[FaultRule(route="POST /v2/pre-recorded", kind="job_error", error_code=422)]
    )
    async with (
        run_emulator(job_duration=0.05, faults=faults) as emu,
        serve_aiohttp(receiver) as url,
        session_for(emu) as gladia,
    ):
        created = await gladia.submit(await gladia.upload(wav), receiver.options(url))
        [delivery] = await inbox.wait_for(1)
    assert delivery.job_id == created.id
    assert delivery.name == "transcription.error"
    assert isinstance(delivery.event, m.CallbackTranscriptionErrorPayload)
    assert delivery.event.error.code == 422


async def test_deprecated_callback_url_is_posted_too(wav: Path) -> None:
    inbox = Inbox()
    receiver = CallbackReceiver(inbox)
    async with (
        run_emulator(job_duration=0.05) as emu,
        serve_aiohttp(receiver) as url,
        session_for(emu) as gladia,
    ):
        created = await gladia.submit(
            await gladia.upload(wav),
            TranscriptionOptions(callback_url=receiver.callback_url(url)),
        )
        [delivery] = await inbox.wait_for(1)
    assert delivery.job_id == created.id


async def test_duplicate_deliveries_reach_the_handler_once_and_are_answered_2xx(
    wav: Path,
) -> None:
    inbox = Inbox()
    receiver = CallbackReceiver(inbox)
    async with (
        run_emulator(job_duration=0.05, callback_faults=CallbackFaults(duplicates=3)) as emu,
        serve_aiohttp(receiver) as url,
        session_for(emu) as gladia,
    ):
        await gladia.submit(await gladia.upload(wav), receiver.options(url))
        records = await delivery_records(emu, 4)
    assert [r.status for r in records] == [200, 200, 200, 200]
    assert len(inbox.deliveries) == 1
    assert receiver.stats["duplicates"] == 3


async def test_a_failing_handler_gets_a_500_and_the_retry_is_handled_once(wav: Path) -> None:
    inbox = Inbox(fail_first=2)
    receiver = CallbackReceiver(inbox)
    async with (
        run_emulator(job_duration=0.05, callback_backoff=0.01) as emu,
        serve_aiohttp(receiver) as url,
        session_for(emu) as gladia,
    ):
        await gladia.submit(await gladia.upload(wav), receiver.options(url))
        await inbox.wait_for(1)
        records = await delivery_records(emu, 3)
    assert [r.status for r in records] == [500, 500, 200]
    assert len(inbox.deliveries) == 1


async def test_a_forged_callback_never_reaches_the_handler(wav: Path) -> None:
    inbox = Inbox()
    receiver = CallbackReceiver(inbox)
    async with serve_aiohttp(receiver) as url:
        no_token = await post(url, success_body())
        wrong = await post(f"{url}?{TOKEN_PARAM}=guess-guess-guess-guess", success_body())
        other = CallbackReceiver().callback_url(url, per_job=True)
        forged_per_job = await post(other, success_body())
        genuine = await post(receiver.callback_url(url), success_body())
    assert [no_token[0], wrong[0], forged_per_job[0]] == [401, 401, 401]
    assert genuine[0] == 200
    assert [d.job_id for d in inbox.deliveries] == [JOB_ID]


async def test_malformed_bodies_get_400_from_both_receivers() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    inbox = Inbox()
    receiver = CallbackReceiver(inbox)
    app = Starlette(routes=[Mount("/hooks", app=receiver.asgi_app())])
    async with serve_aiohttp(receiver) as aio_url, serve_asgi(app) as base:
        for url in (aio_url, f"{base}/hooks/gladia"):
            signed = receiver.callback_url(url)
            for body in (b"{", b"[]", b'{"id": "x", "event": "transcription.success"}'):
                status, answer = await post(signed, body)
                assert status == 400, (url, body)
                assert "error" in answer
    assert inbox.deliveries == []
    assert receiver.stats["malformed"] == 6


async def test_webhooks_with_verify_refetch_the_job_before_the_handler(wav: Path) -> None:
    inbox = Inbox()
    async with (
        run_emulator(job_duration=0.05) as emu,
        session_for(emu) as gladia,
    ):
        receiver = CallbackReceiver(inbox, session=gladia, verify=True)
        async with serve_aiohttp(receiver) as url:
            emu.emulator.callbacks.webhook_urls.append(url)
            created = await gladia.submit(await gladia.upload(wav))
            polls_before = emu.stats.polls
            deliveries = await inbox.wait_for(2)
            polls_after = emu.stats.polls
    assert [(d.kind, d.name) for d in deliveries] == [
        ("webhook", "transcription.created"),
        ("webhook", "transcription.success"),
    ]
    assert {d.job_id for d in deliveries} == {created.id}
    assert polls_after - polls_before == 2, "each webhook was verified by one GET of its job"
    success = deliveries[1]
    assert success.job is not None and str(success.job.status) == "done"
    assert success.result is not None and success.result == success.job.result


async def test_verify_rejects_a_forged_webhook_for_a_job_that_is_not_done(wav: Path) -> None:
    inbox = Inbox()
    async with (
        run_emulator(job_duration=30) as emu,
        session_for(emu) as gladia,
    ):
        receiver = CallbackReceiver(inbox, session=gladia, verify=True)
        async with serve_aiohttp(receiver) as url:
            created = await gladia.submit(await gladia.upload(wav))
            forged = orjson.dumps({"event": "transcription.success", "payload": {"id": created.id}})
            not_done = await post(url, forged)
            unknown = await post(url, success_body())
            not_an_id = await post(
                url, orjson.dumps({"event": "transcription.success", "payload": {"id": "../x"}})
            )
            unverifiable = await post(
                url, orjson.dumps({"event": "brand.new", "payload": {"id": created.id}})
            )
    assert [unknown[0], not_an_id[0], unverifiable[0]] == [403, 403, 403]
    assert not_done[0] == 503, "the job exists: a genuine sender that raced the API retries"
    assert inbox.deliveries == []


async def test_verify_answers_503_when_the_api_cannot_be_asked() -> None:
    inbox = Inbox()
    async with (
        run_emulator(
            job_duration=0.05,
            faults=FaultPlan(rules=[FaultRule(route="GET /v2/pre-recorded/{id}", status=500)]),
        ) as emu,
        session_for(emu) as gladia,
    ):
        receiver = CallbackReceiver(inbox, session=gladia, verify=True)
        reply = await receiver.receive(
            orjson.dumps({"event": "transcription.success", "payload": {"id": JOB_ID}})
        )
    assert reply.status == 503, "the sender should retry later"
    assert inbox.deliveries == []


async def test_out_of_order_webhooks_each_reach_the_handler(wav: Path) -> None:
    inbox = Inbox()
    receiver = CallbackReceiver(inbox)
    async with (
        run_emulator(job_duration=0.05, callback_faults=CallbackFaults(out_of_order=True)) as emu,
        serve_aiohttp(receiver) as url,
        session_for(emu) as gladia,
    ):
        emu.emulator.callbacks.webhook_urls.append(receiver.callback_url(url))
        await gladia.submit(await gladia.upload(wav))
        deliveries = await inbox.wait_for(2)
    assert [d.name for d in deliveries] == ["transcription.success", "transcription.created"]


async def test_dedupe_forgets_after_its_window() -> None:
    now = [0.0]
    inbox = Inbox()
    receiver = CallbackReceiver(inbox, dedupe_window=60, clock=lambda: now[0])
    query = receiver.callback_url("http://127.0.0.1/x").split("?")[1]
    assert (await receiver.receive(success_body(), query=query)).status == 200
    now[0] = 59.0
    assert (await receiver.receive(success_body(), query=query)).status == 200
    assert len(inbox.deliveries) == 1
    now[0] = 61.0
    assert (await receiver.receive(success_body(), query=query)).status == 200
    assert len(inbox.deliveries) == 2


async def test_the_emulator_only_sends_to_loopback(wav: Path) -> None:
    async with run_emulator(job_duration=0.05, webhook_urls=["http://192.0.2.1/hook"]) as emu:
        async with session_for(emu) as gladia:
            await gladia.submit(await gladia.upload(wav))
        [record] = await delivery_records(emu, 1)
    assert record.status is None and "loopback" in (record.error or "")


# -- waiting by callback --------------------------------------------------------------------


async def test_wait_by_callback_costs_no_poll(wav: Path) -> None:
    receiver = CallbackReceiver()
    async with (
        run_emulator(job_duration=0.05) as emu,
        serve_aiohttp(receiver) as url,
        session_for(emu) as gladia,
    ):
        created = await gladia.submit(await gladia.upload(wav), receiver.options(url))
        result = await receiver.wait(created, session=gladia, fallback_after=30, timeout=20)
        polls = emu.stats.polls
        job = await gladia.get(created)
    assert result == job.result
    assert polls == 0


async def test_wait_by_callback_falls_back_to_polling_when_the_callback_is_lost(
    wav: Path,
) -> None:
    receiver = CallbackReceiver()
    async with (
        run_emulator(job_duration=0.05, callback_faults=CallbackFaults(lose=1.0)) as emu,
        serve_aiohttp(receiver) as url,
        session_for(emu) as gladia,
    ):
        created = await gladia.submit(await gladia.upload(wav), receiver.options(url))
        started = time.monotonic()
        result = await receiver.wait(created, session=gladia, fallback_after=0.3, timeout=20)
        elapsed = time.monotonic() - started
        assert emu.emulator.deliveries[0].error == "lost (fault)"
        assert emu.stats.polls >= 1
    assert result.transcription is not None
    assert 0.3 <= elapsed < 5.0, "the result came by polling soon after the fallback delay"


async def test_wait_by_callback_raises_job_failed_for_an_error_callback(wav: Path) -> None:
    receiver = CallbackReceiver()
    faults = FaultPlan(
        rules=[FaultRule(route="POST /v2/pre-recorded", kind="job_error", error_code=500)]
    )
    async with (
        run_emulator(job_duration=0.05, faults=faults) as emu,
        serve_aiohttp(receiver) as url,
        session_for(emu) as gladia,
    ):
        created = await gladia.submit(await gladia.upload(wav), receiver.options(url))
        with pytest.raises(JobFailedError) as caught:
            await receiver.wait(created, session=gladia, fallback_after=30, timeout=20)
        assert emu.stats.polls == 0
    assert caught.value.job_id == created.id


async def test_wait_by_callback_times_out_with_a_typed_error(wav: Path) -> None:
    receiver = CallbackReceiver()
    async with (
        run_emulator(job_duration=60) as emu,
        serve_aiohttp(receiver) as url,
        session_for(emu) as gladia,
    ):
        created = await gladia.submit(await gladia.upload(wav), receiver.options(url))
        started = time.monotonic()
        with pytest.raises(GladiaTimeout):
            await receiver.wait(created, session=gladia, fallback_after=0.1, timeout=0.5)
        assert time.monotonic() - started < 5
    assert receiver._waiters == {}, "a timed-out wait leaves no waiter behind"


async def test_live_webhooks_are_verified_against_the_live_job() -> None:
    inbox = Inbox()
    async with run_emulator(job_duration=0.05) as emu, session_for(emu) as gladia:
        [live_id] = emu.emulator.seed_jobs(1, kind="live", status="done")
        receiver = CallbackReceiver(inbox, session=gladia, verify=True)
        real = orjson.dumps({"event": "live.end_session", "payload": {"id": live_id}})
        forged = orjson.dumps({"event": "live.end_session", "payload": {"id": JOB_ID}})
        assert (await receiver.receive(real)).status == 200
        assert (await receiver.receive(forged)).status == 403
    [delivery] = inbox.deliveries
    assert delivery.job is not None and delivery.job.id == live_id


# -- batches over callbacks -----------------------------------------------------------------


async def test_a_500_file_batch_over_callbacks_needs_under_0_1_polls_per_job() -> None:
    files = 500
    async with anyio.TemporaryDirectory() as folder:
        wav_bytes = write_wav(Path(folder) / "a.wav", seconds=0.2).read_bytes()
    receiver = CallbackReceiver()
    results: dict[int, str] = {}
    async with (
        run_emulator(job_duration=0.2) as emu,
        serve_aiohttp(receiver) as url,
        GladiaSession(
            api_key=emu.api_key,
            base_url=emu.url,
            poll=FAST_POLL,
            retry=FAST_RETRY,
            max_concurrency=32,
        ) as gladia,
    ):
        limiter = anyio.CapacityLimiter(32)

        async def one(index: int) -> None:
            async with limiter:
                uploaded = await gladia.upload(wav_bytes, filename=f"f{index}.wav")
                job = await gladia.submit(
                    uploaded, receiver.options(url), custom_metadata={"index": index}
                )
            result = await receiver.wait(job, session=gladia, fallback_after=10, timeout=60)
            assert result.transcription is not None
            results[index] = job.id

        async with anyio.create_task_group() as tg:
            for index in range(files):
                tg.start_soon(one, index)
        requests = gladia.transport.requests_sent
        polls = emu.stats.polls
        records = await delivery_records(emu, files)
    assert len(results) == files and len(set(results.values())) == files
    assert polls / files < 0.1
    assert requests / files < 2.1, "upload + creation, and (almost) nothing else"
    assert {r.job_id for r in records} == set(results.values())


async def test_a_large_callback_body_is_read_whole_by_both_receivers() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    inbox = Inbox()
    receiver = CallbackReceiver(inbox)
    big = orjson.loads(success_body())
    big["payload"]["transcription"]["full_transcript"] = "word " * 400_000  # 2 MB
    app = Starlette(routes=[Mount("/hooks", app=receiver.asgi_app())])
    async with serve_aiohttp(receiver) as aio_url, serve_asgi(app) as base:
        for n, url in enumerate((aio_url, f"{base}/hooks/gladia")):
            big["id"] = f"{JOB_ID[:-1]}{n}"
            status, _ = await post(receiver.callback_url(url), orjson.dumps(big))
            assert status == 200
    assert [len(d.result.transcription.full_transcript) for d in inbox.deliveries] == [  # type: ignore[union-attr]
        2_000_000,
        2_000_000,
    ]


async def test_bodies_over_the_cap_get_413_and_never_reach_the_handler() -> None:
    inbox = Inbox()
    receiver = CallbackReceiver(inbox, max_body_bytes=1000)
    async with serve_aiohttp(receiver) as url:
        status, _ = await post(receiver.callback_url(url), b" " * 5000 + success_body())
    assert status == 413
    assert inbox.deliveries == []


async def test_repeated_live_messages_are_not_taken_for_duplicates() -> None:
    inbox = Inbox()
    receiver = CallbackReceiver(inbox)
    query = receiver.callback_url("http://127.0.0.1/x").split("?")[1]

    def speech_start(at: float) -> bytes:
        message = {
            "session_id": JOB_ID,
            "created_at": "2024-01-01T00:00:00Z",
            "type": "speech_start",
            "data": {"time": at, "channel": 0},
        }
        return orjson.dumps({"id": JOB_ID, "event": "live.speech_start", "payload": message})

    for body in (speech_start(1.0), speech_start(2.5), speech_start(1.0)):
        assert (await receiver.receive(body, query=query)).status == 200
    assert [d.event.payload.data.time for d in inbox.deliveries] == [1.0, 2.5]


async def test_two_waits_for_one_job_both_get_the_callback(wav: Path) -> None:
    receiver = CallbackReceiver()
    async with (
        run_emulator(job_duration=0.2) as emu,
        serve_aiohttp(receiver) as url,
        session_for(emu) as gladia,
    ):
        created = await gladia.submit(await gladia.upload(wav), receiver.options(url))
        results: list[Any] = []

        async def wait() -> None:
            results.append(await receiver.wait(created, session=gladia, timeout=20))

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            tg.start_soon(wait)
        polls = emu.stats.polls
    assert len(results) == 2 and results[0] == results[1]
    assert polls == 0
    assert receiver._finals == {} and receiver._waiters == {}


async def test_the_emulator_stops_sending_when_it_stops(wav: Path) -> None:
    receiver = CallbackReceiver()
    async with serve_aiohttp(receiver) as url:
        async with run_emulator(job_duration=30) as emu, session_for(emu) as gladia:
            await gladia.submit(await gladia.upload(wav), receiver.options(url))
            assert emu.emulator.callbacks._task is not None, "a job with a callback to send"
        assert emu.emulator.callbacks._task is None
        assert [t for t in pending_tasks() if "CallbackDispatcher" in repr(t)] == []


async def test_callbacks_follow_the_emulators_clock(wav: Path) -> None:
    from gladia_async.testing import ManualClock

    clock = ManualClock()
    inbox = Inbox()
    receiver = CallbackReceiver(inbox)
    async with (
        run_emulator(job_duration=5.0, clock=clock) as emu,
        serve_aiohttp(receiver) as url,
        session_for(emu) as gladia,
    ):
        created = await gladia.submit(await gladia.upload(wav), receiver.options(url))
        clock.advance(4.9)
        with anyio.move_on_after(0.3):  # several dispatcher ticks: nothing is due yet
            await inbox.wait_for(1)
        assert inbox.deliveries == []
        clock.advance(0.1)
        [delivery] = await inbox.wait_for(1)
    assert delivery.job_id == created.id


async def test_the_emulators_dispatcher_sends_other_parts_messages_too() -> None:
    inbox = Inbox()
    receiver = CallbackReceiver(inbox)
    async with run_emulator() as emu, serve_aiohttp(receiver) as url:
        message = {
            "session_id": JOB_ID,
            "created_at": "2024-01-01T00:00:00Z",
            "type": "speech_end",
            "data": {"time": 1.5, "channel": 0},
        }
        emu.emulator.callbacks.send(
            receiver.callback_url(url),
            {"id": JOB_ID, "event": "live.speech_end", "payload": message},
            event="live.speech_end",
            job_id=JOB_ID,
        )
        [delivery] = await inbox.wait_for(1)
    assert isinstance(delivery.event, m.CallbackLiveSpeechEndMessage)


async def test_a_cancelled_wait_leaves_nothing_behind(wav: Path) -> None:
    receiver = CallbackReceiver()
    async with (
        run_emulator(job_duration=60) as emu,
        serve_aiohttp(receiver) as url,
        session_for(emu) as gladia,
    ):
        created = await gladia.submit(await gladia.upload(wav), receiver.options(url))
        with anyio.move_on_after(0.3) as scope:
            await receiver.wait(created, session=gladia, fallback_after=0.05)
        assert scope.cancelled_caught
        assert receiver._waiters == {} and receiver._waiting == {}
        # The emulator's own dispatcher (server side, waiting to send the callback) is not ours.
        assert {t for t in pending_tasks() if "CallbackDispatcher" not in repr(t)} == set()


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_events = st.sampled_from(
    [
        "transcription.success",
        "transcription.error",
        "live.transcript",
        "live.end_session",
        "transcription.created",
        "x.unknown",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    event=_events,
    job_id=st.text(max_size=5) | st.integers(-(2**63), 2**63 - 1),
    payload=_json,
    extra=st.dictionaries(st.sampled_from(["error", "custom_metadata", "payload"]), _json),
)
def test_any_json_body_parses_or_raises_the_typed_error(
    event: str, job_id: Any, payload: Any, extra: dict[str, Any]
) -> None:
    for body in (
        {"id": job_id, "event": event, "payload": payload, **extra},
        {"event": event, "payload": payload, **extra},
    ):
        raw = orjson.dumps(body)
        for parse in (parse_callback, parse_webhook):
            try:
                parse(raw)
            except MalformedCallbackError:
                pass


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=64))
def test_any_bytes_parse_or_raise_the_typed_error(raw: bytes) -> None:
    for parse in (parse_callback, parse_webhook):
        try:
            parse(raw)
        except MalformedCallbackError:
            pass


async def test_the_asgi_app_answers_405_to_other_methods() -> None:
    inbox = Inbox()
    receiver = CallbackReceiver(inbox)
    async with serve_asgi(receiver.asgi_app()) as base:
        async with aiohttp.ClientSession() as http, http.get(f"{base}/x") as resp:
            status = resp.status
    assert status == 405
    assert inbox.deliveries == []


# -- batches and wait_result by callback -----------------------------------------------------


async def test_a_batch_via_callbacks_polls_nothing_and_every_source_gets_its_result(
    tmp_path: Path,
) -> None:
    paths = [write_wav(tmp_path / f"c{i}.wav", seconds=0.1 + i / 100) for i in range(6)]
    receiver = CallbackReceiver()
    async with (
        run_emulator(job_duration=0.05) as emu,
        serve_aiohttp(receiver) as url,
        session_for(emu) as gladia,
    ):
        batch = gladia.transcribe_many(paths, via=receiver, callback_url=url, fallback_after=30)
        async with batch as outcomes:
            got = [outcome async for outcome in outcomes]
        polls = emu.stats.polls
    assert sorted(o.index for o in got) == list(range(6))
    assert all(o.ok and o.result is not None and o.job is None for o in got)
    assert polls == 0, "the batch polled although every callback came"


async def test_a_batch_via_callbacks_falls_back_to_polling_when_callbacks_are_lost(
    tmp_path: Path,
) -> None:
    paths = [write_wav(tmp_path / f"c{i}.wav", seconds=0.1 + i / 100) for i in range(3)]
    receiver = CallbackReceiver()
    async with (
        run_emulator(job_duration=0.05, callback_faults=CallbackFaults(lose=1.0)) as emu,
        serve_aiohttp(receiver) as url,
        session_for(emu) as gladia,
    ):
        with anyio.fail_after(20):
            batch = gladia.transcribe_many(
                paths, via=receiver, callback_url=url, fallback_after=0.2
            )
            async with batch as outcomes:
                got = [outcome async for outcome in outcomes]
    assert len(got) == 3 and all(o.ok and o.result is not None for o in got)


async def test_wait_result_returns_the_callbacks_result(wav: Path) -> None:
    receiver = CallbackReceiver()
    async with (
        run_emulator(job_duration=0.05) as emu,
        serve_aiohttp(receiver) as url,
        session_for(emu) as gladia,
    ):
        created = await gladia.submit(await gladia.upload(wav), receiver.options(url))
        result = await gladia.wait_result(created, via=receiver, timeout=20)
        job = await gladia.get(created)
    assert result == job.result
    with pytest.raises(InvalidInput, match="callback_url"):
        gladia.transcribe_many([wav], via=receiver)
