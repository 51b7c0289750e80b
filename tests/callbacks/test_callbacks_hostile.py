"""Callbacks under hostile senders: forged events, borrowed tokens, floods and hang-ups.

Every sender here is a stranger written in the test (raw aiohttp requests or raw sockets), not
the SDK's helpers: the receiver owes it nothing but a refusal that costs little.
"""

from __future__ import annotations

import logging
import tracemalloc
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import orjson
import pytest

from gladia_async import CallbackReceiver
from gladia_async import models as m
from gladia_async._callbacks.receiver import DEFAULT_MAX_BODY_BYTES
from gladia_async._schema.converter import converter
from gladia_async.testing import ManualClock, run_emulator

from ..hostile.senders import flood, hang_up_mid_body
from .test_callbacks import Inbox, serve_aiohttp, serve_asgi, session_for, success_body

pytestmark = pytest.mark.reliability

MB = 1 << 20
JOB_SUFFIX = "-20b7-4af7-b3b3-f5fb778203ab"


async def forge(url: str, body: dict[str, Any], method: str = "POST") -> int:
    """A stranger's delivery: one plain aiohttp request with ``body`` as JSON."""
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method, url, data=orjson.dumps(body), headers={"content-type": "application/json"}
        ) as resp,
    ):
        await resp.read()
        return resp.status


def forged_success(job_id: str) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(success_body(job_id))
    body["custom_metadata"] = {"paid": True}
    return body


# -- verify=True: the API's word, never the sender's ----------------------------------------


async def test_verify_delivers_the_refetched_job_and_the_genuine_callback_is_not_lost(
    wav: Path,
) -> None:
    clock = ManualClock()
    inbox = Inbox()
    async with (
        run_emulator(job_duration=5.0, clock=clock) as emu,
        session_for(emu) as gladia,
    ):
        receiver = CallbackReceiver(inbox, session=gladia, verify=True)
        async with serve_aiohttp(receiver) as url:
            created = await gladia.submit(await gladia.upload(wav), custom_metadata={"paid": False})
            # Before the job is done, a forgery is refused and takes nobody's place.
            assert await forge(url, forged_success(created.id)) == 503
            clock.advance(5.0)
            job = await gladia.get(created)
            assert str(job.status) == "done" and job.result is not None
            # After it is done, the stranger's text is replaced by the API's.
            assert await forge(url, forged_success(created.id)) == 200
            assert await forge(url, forged_success(created.id), method="PUT") == 200
            # The genuine callback, as the service sends it, is answered 2xx: nothing is lost.
            genuine = {
                "id": created.id,
                "event": "transcription.success",
                "payload": converter.unstructure(job.result),
                "custom_metadata": job.custom_metadata,
            }
            assert await forge(url, genuine) == 200
    [delivery] = inbox.deliveries
    assert isinstance(delivery.event, m.CallbackTranscriptionSuccessPayload)
    assert delivery.event.payload == job.result, "the event is the re-fetched job's result"
    assert delivery.event.payload.transcription is not None
    assert delivery.event.payload.transcription.full_transcript != "forged words"
    assert delivery.event.custom_metadata == {"paid": False}
    assert delivery.result == job.result and delivery.job == job
    assert receiver.stats["duplicates"] == 2


async def test_verify_rebuilds_an_error_callback_from_the_job() -> None:
    inbox = Inbox()
    async with run_emulator() as emu, session_for(emu) as gladia:
        [failed] = emu.emulator.seed_jobs(1, status="error")
        receiver = CallbackReceiver(inbox, session=gladia, verify=True)
        async with serve_aiohttp(receiver) as url:
            lie = {
                "id": failed,
                "event": "transcription.error",
                "error": {"code": 402, "message": "pay the attacker at evil.example"},
            }
            assert await forge(url, lie) == 200
        job = await gladia.get(failed)
    [delivery] = inbox.deliveries
    assert isinstance(delivery.event, m.CallbackTranscriptionErrorPayload)
    assert delivery.event.error.code == job.error_code
    assert "evil" not in delivery.event.error.message


async def test_verify_refuses_what_a_refetch_cannot_confirm() -> None:
    inbox = Inbox()
    async with run_emulator() as emu, session_for(emu) as gladia:
        [done] = emu.emulator.seed_jobs(1, status="done")
        [live] = emu.emulator.seed_jobs(1, kind="live", status="done")
        receiver = CallbackReceiver(inbox, session=gladia, verify=True)
        transcript = {
            "session_id": live,
            "created_at": "2024-01-01T00:00:00Z",
            "type": "transcript",
            "data": {
                "id": "u1",
                "is_final": True,
                "utterance": {
                    "start": 0.0,
                    "end": 1.0,
                    "confidence": 1.0,
                    "channel": 0,
                    "words": [],
                    "text": "wire the money",
                    "language": "en",
                },
            },
        }
        end = {"session_id": live, "created_at": "2024-01-01T00:00:00Z", "type": "end_session"}
        async with serve_aiohttp(receiver) as url:
            signed = receiver.callback_url(url)
            statuses = [
                await forge(url, {"id": live, "event": "live.transcript", "payload": transcript}),
                # A valid token does not make a live message confirmable under verify=True.
                await forge(
                    signed, {"id": live, "event": "live.transcript", "payload": transcript}
                ),
                await forge(url, {"id": live, "event": "live.end_session", "payload": end}),
                await forge(url, {"id": done, "event": "transcription.archived"}),
                await forge(url, {"event": "transcription.archived", "payload": {"id": done}}),
                # A webhook-only event in a callback's shape.
                await forge(url, {"id": done, "event": "transcription.created"}),
            ]
    assert statuses == [403] * 6
    assert inbox.deliveries == []
    assert receiver.stats["rejected"] == 6


# -- per-job tokens bind to their job ---------------------------------------------------------


async def test_a_per_job_token_is_refused_for_another_job(wav: Path) -> None:
    inbox = Inbox()
    secret = "k" * 32
    async with (
        run_emulator(job_duration=60) as emu,
        session_for(emu) as gladia,
    ):
        receiver = CallbackReceiver(inbox, secret=secret, session=gladia)
        async with serve_aiohttp(receiver) as url:
            audio = await gladia.upload(wav)
            options_a = receiver.options(url, per_job=True)
            options_b = receiver.options(url, per_job=True)
            job_a = await gladia.submit(audio, options_a)
            job_b = await gladia.submit(audio, options_b)
            assert options_a.callback_config is not None and options_b.callback_config is not None
            url_a, url_b = options_a.callback_config.url, options_b.callback_config.url
            # A's token used first, before A's own callback ever came: still not B's.
            borrowed = await forge(url_a, forged_success(job_b.id))
            own = await forge(url_b, forged_success(job_b.id))
            again = await forge(url_a, forged_success(job_b.id))
            # A receiver restarted with the same secret remembers nothing, and still refuses.
            restarted = CallbackReceiver(inbox, secret=secret, session=gladia)
            query_a = url_a.split("?", 1)[1]
            after_restart = await restarted.receive(
                orjson.dumps(forged_success(job_b.id)), query=query_a
            )
            rightful = await restarted.receive(
                orjson.dumps(forged_success(job_a.id)), query=query_a
            )
    assert [borrowed, again, after_restart.status] == [401, 401, 401]
    assert [own, rightful.status] == [200, 200]
    assert [d.job_id for d in inbox.deliveries] == [job_b.id, job_a.id]


async def test_without_a_session_a_per_job_token_serves_only_its_first_job() -> None:
    inbox = Inbox()
    receiver = CallbackReceiver(inbox)
    job_a, job_b = "0" * 8 + JOB_SUFFIX, "1" * 8 + JOB_SUFFIX
    async with serve_aiohttp(receiver) as url:
        signed = receiver.callback_url(url, per_job=True)
        first = await forge(signed, forged_success(job_a))
        other = await forge(signed, forged_success(job_b))
    assert (first, other) == (200, 401)
    assert [d.job_id for d in inbox.deliveries] == [job_a]


# -- the token before the body, the body with a cap -------------------------------------------


async def _flood_peak(
    url: str, senders: int, megabytes: int, *, chunked: bool
) -> tuple[int, list[Any]]:
    """Traced memory growth at its peak while ``senders`` strangers each push ``megabytes``."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        answers: list[Any] = []

        async def one() -> None:
            answers.append(await flood(url, megabytes, chunked=chunked))

        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for _ in range(senders):
                    tg.start_soon(one)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return peak, answers


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_anonymous_floods_are_refused_before_their_body_is_read(chunked: bool) -> None:
    inbox = Inbox()
    receiver = CallbackReceiver(inbox)
    async with serve_aiohttp(receiver) as url:
        peak, answers = await _flood_peak(url, 8, 60, chunked=chunked)
    # 8 x 60 MB read whole would be 480 MB and more; the refusal needs almost nothing.
    assert peak < 24 * MB, f"8 anonymous 60 MB bodies cost {peak / MB:.0f} MB"
    assert [status for status, _ in answers] == [401] * 8
    assert inbox.deliveries == []


async def test_bodies_read_for_verification_stop_at_the_cap() -> None:
    inbox = Inbox()
    async with run_emulator() as emu, session_for(emu) as gladia:
        receiver = CallbackReceiver(inbox, session=gladia, verify=True)
        async with serve_aiohttp(receiver) as url:
            peak, answers = await _flood_peak(url, 8, 60, chunked=True)
    bound = 8 * 2 * DEFAULT_MAX_BODY_BYTES + 24 * MB
    assert peak < bound, f"8 verified 60 MB bodies cost {peak / MB:.0f} MB (cap {bound / MB:.0f})"
    assert [status for status, _ in answers] == [413] * 8
    assert inbox.deliveries == []


async def test_the_asgi_receiver_refuses_an_anonymous_flood_before_reading_it() -> None:
    inbox = Inbox()
    receiver = CallbackReceiver(inbox, max_body_bytes=2 * MB)
    async with serve_asgi(receiver.asgi_app()) as base:
        anonymous, _ = await flood(f"{base}/gladia", 60, chunked=True)
        signed = receiver.callback_url(f"{base}/gladia")
        too_big, _ = await flood(signed, 60, chunked=True)
        declared, _ = await flood(signed, 60)
    assert (anonymous, too_big, declared) == (401, 413, 413)
    assert inbox.deliveries == []


@pytest.mark.parametrize("server", ["aiohttp", "asgi"])
async def test_a_sender_that_hangs_up_mid_body_costs_one_calm_line(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = CallbackReceiver(Inbox())
    senders = 6
    serving = serve_aiohttp(receiver) if server == "aiohttp" else serve_asgi(receiver.asgi_app())
    async with serving as url:
        signed = receiver.callback_url(url)
        for n in range(senders):
            await hang_up_mid_body(signed, chunked=bool(n % 2))

        def calm() -> list[logging.LogRecord]:
            return [r for r in caplog.records if "hung up" in r.getMessage()]

        # The receiver logs after the socket closed: a bounded look, not a race.
        with anyio.fail_after(10):
            while len(calm()) < senders:  # noqa: ASYNC110
                await anyio.sleep(0.01)
    noisy = [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]
    assert noisy == [], [r.getMessage() for r in noisy]
    assert len(calm()) == senders, "one line per sender"
    assert all("\n" not in r.getMessage() for r in calm())
