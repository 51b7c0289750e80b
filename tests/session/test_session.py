"""The session's operations against the emulator: uploads, jobs, errors, bad input."""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from gladia_async import (
    TOKEN_KEY,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    GladiaError,
    GladiaSession,
    GladiaTimeout,
    InvalidInput,
    JobFailedError,
    JobStatus,
    JobUnconfirmedError,
    NotFoundError,
    PermissionDeniedError,
    PollPolicy,
    RetryPolicy,
    TranscriptionOptions,
    UnprocessableEntityError,
)
from gladia_async.models import DiarizationConfig, LanguageConfig, TranscriptionLanguageCode
from gladia_async.testing import FaultPlan, FaultRule, ManualClock, run_emulator

from ..conftest import FAST_POLL, FAST_RETRY, open_connections, write_wav
from ..hostile import serve

API_KEY = "test-key"


async def test_upload_from_path_reports_metadata(gladia: GladiaSession, wav: Path) -> None:
    audio = await gladia.upload(wav)
    assert audio.audio_metadata.filename == "call.wav"
    assert audio.audio_metadata.size == wav.stat().st_size
    assert audio.audio_metadata.audio_duration == pytest.approx(2.0, abs=0.01)
    assert audio.audio_url.startswith("http")


async def test_upload_from_bytes_file_object_and_async_iterable(
    gladia: GladiaSession, wav: Path
) -> None:
    data = wav.read_bytes()

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 10_000):
            yield data[i : i + 10_000]

    from_bytes = await gladia.upload(data, filename="b.wav")
    with wav.open("rb") as handle:
        from_file = await gladia.upload(handle)
        assert not handle.closed, "the caller's file must stay open"
    from_stream = await gladia.upload(chunks(), filename="s.wav")
    sizes = {a.audio_metadata.size for a in (from_bytes, from_file, from_stream)}
    assert sizes == {len(data)}
    assert from_stream.audio_metadata.filename == "s.wav"


async def test_upload_url_imports_without_sending_a_file(gladia: GladiaSession, emu: Any) -> None:
    audio = await gladia.upload("https://example.com/audio/meeting.mp3")
    assert audio.audio_metadata.filename.endswith("meeting.mp3")
    recorded = [r for r in emu.requests if r.path == "/v2/upload"]
    assert recorded and "multipart" not in recorded[-1].headers.get("Content-Type", "")


async def test_submit_wait_returns_the_finished_job(gladia: GladiaSession, wav: Path) -> None:
    audio = await gladia.upload(wav)
    created = await gladia.submit(audio, TranscriptionOptions(diarization=True))
    done = await gladia.wait(created)
    assert done.id == created.id
    assert done.status == JobStatus.DONE
    assert done.created_at.tzinfo is not None and done.completed_at is not None
    assert done.result is not None and done.result.transcription is not None
    assert done.result.transcription.full_transcript
    assert done.request_params is not None and done.request_params.diarization is True


async def test_transcribe_in_one_call_and_url_skips_upload(
    gladia: GladiaSession, emu: Any, wav: Path
) -> None:
    job = await gladia.transcribe(wav)
    assert job.status == JobStatus.DONE
    uploads = emu.stats.uploads
    from_url = await gladia.transcribe(job.file.source or "https://example.com/a.wav")
    assert from_url.status == JobStatus.DONE
    assert emu.stats.uploads == uploads, "a URL must not be uploaded again"


async def test_same_audio_gives_the_same_transcript(gladia: GladiaSession, wav: Path) -> None:
    first = await gladia.transcribe(wav)
    second = await gladia.transcribe(wav)
    assert first.result and second.result
    assert first.result.transcription and second.result.transcription
    assert first.result.transcription.full_transcript == second.result.transcription.full_transcript


async def test_get_delete_and_not_found(gladia: GladiaSession, wav: Path) -> None:
    job = await gladia.transcribe(wav)
    assert (await gladia.get(job.id)).id == job.id
    await gladia.delete(job)
    with pytest.raises(NotFoundError) as caught:
        await gladia.get(job.id)
    assert caught.value.status == 404 and caught.value.request_id


async def test_delete_of_a_running_job_is_forbidden(wav: Path) -> None:
    clock = ManualClock()
    async with (
        run_emulator(clock=clock, job_duration=10) as emu,
        GladiaSession(api_key=emu.api_key, base_url=emu.url, retry=FAST_RETRY) as gladia,
    ):
        created = await gladia.submit(await gladia.upload(wav))
        with pytest.raises(PermissionDeniedError) as caught:
            await gladia.delete(created)
        assert caught.value.status == 403
        clock.advance(11)
        assert (await gladia.get(created)).status == JobStatus.DONE
        await gladia.delete(created)


async def test_download_audio_streams_the_original_bytes(
    gladia: GladiaSession, wav: Path, tmp_path: Path
) -> None:
    job = await gladia.transcribe(wav)
    out = tmp_path / "out"
    out.mkdir()
    dest = await gladia.download_audio(job, out / "back.wav")
    assert dest.read_bytes() == wav.read_bytes()
    assert [p.name for p in out.iterdir()] == ["back.wav"], "no temporary file is left"


async def test_job_error_raises_job_failed_with_code(wav: Path) -> None:
    faults = FaultPlan(seed=1, rules=[FaultRule(route="*", kind="job_error", error_code=500)])
    async with (
        run_emulator(job_duration=0.02, faults=faults) as emu,
        GladiaSession(api_key=emu.api_key, base_url=emu.url, poll=FAST_POLL) as gladia,
    ):
        with pytest.raises(JobFailedError) as caught:
            await gladia.transcribe(wav)
        assert caught.value.error_code == 500
        final = await gladia.wait(caught.value.job_id, raise_on_error=False)
        assert final.status == JobStatus.ERROR


# -- error statuses ------------------------------------------------------------------------


async def test_wrong_key_raises_authentication_error_without_the_key(emu: Any) -> None:
    secret = "wrong-key-123456"
    async with GladiaSession(api_key=secret, base_url=emu.url) as gladia:
        with pytest.raises(AuthenticationError) as caught:
            await gladia.get("45463597-20b7-4af7-b3b3-f5fb778203ab")
    error = caught.value
    assert error.status == 401 and error.request_id and error.path
    assert secret not in str(error) and secret not in repr(error.body)
    assert "GLADIA_API_KEY" in str(error), "the message says what to do next"


async def test_server_validation_error_carries_validation_errors(gladia: GladiaSession) -> None:
    # An unknown language code passes the client (open enums) but not the server.
    options = TranscriptionOptions(
        language_config=LanguageConfig(languages=[TranscriptionLanguageCode("xx-not-a-code")])
    )
    with pytest.raises(BadRequestError) as caught:
        await gladia.submit("https://example.com/a.wav", options)
    assert caught.value.status == 400
    assert caught.value.validation_errors


async def test_unprocessable_options_raise_422(gladia: GladiaSession) -> None:
    options = TranscriptionOptions(
        diarization=True, diarization_config=DiarizationConfig(min_speakers=5, max_speakers=2)
    )
    with pytest.raises(UnprocessableEntityError) as caught:
        await gladia.submit("https://example.com/a.wav", options)
    assert caught.value.status == 422


@pytest.mark.parametrize(
    ("status", "error_name"),
    [
        (400, "BadRequestError"),
        (403, "PermissionDeniedError"),
        (404, "NotFoundError"),
        (413, "PayloadTooLargeError"),
        (422, "UnprocessableEntityError"),
        (429, "RateLimitError"),
        (500, "ServerError"),
        (503, "ServerError"),
    ],
)
async def test_each_error_status_maps_to_its_type(status: int, error_name: str, wav: Path) -> None:
    faults = FaultPlan(
        seed=0, rules=[FaultRule(route="POST /v2/upload", kind="status", status=status)]
    )
    async with (
        run_emulator(faults=faults) as emu,
        GladiaSession(api_key=emu.api_key, base_url=emu.url, retry=FAST_RETRY) as gladia,
    ):
        with pytest.raises(Exception) as caught:
            await gladia.upload(wav)
    assert type(caught.value).__name__ == error_name
    assert caught.value.status == status  # type: ignore[attr-defined]
    assert caught.value.path == "/v2/upload"  # type: ignore[attr-defined]


# -- bad input: typed errors before any request --------------------------------------------


def _requests(emu: Any) -> int:
    return int(emu.stats.requests_total)


async def test_bad_sources_fail_before_any_request(
    gladia: GladiaSession, emu: Any, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    cases: list[tuple[Any, str]] = [
        (tmp_path / "missing.wav", "no such file"),
        (tmp_path, "directory"),
        (empty, "empty"),
        (b"", "empty"),
        ("", "empty"),
        (None, "unsupported"),
        (12, "unsupported"),
        (io.StringIO("text"), "text mode"),
    ]
    with (tmp_path / "w.wav").open("wb") as write_only:
        write_only.write(b"abc")
        cases.append((write_only, "not readable"))
        for source, words in cases:
            with pytest.raises(InvalidInput, match=words) as caught:
                await gladia.upload(source)
            assert caught.value.argument == "source"
    assert _requests(emu) == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
async def test_unreadable_file_fails_before_any_request(
    gladia: GladiaSession, emu: Any, tmp_path: Path
) -> None:
    locked = write_wav(tmp_path / "locked.wav")
    locked.chmod(0)
    with pytest.raises(InvalidInput, match="not readable"):
        await gladia.upload(locked)
    assert _requests(emu) == 0


async def test_bad_submit_arguments_fail_before_any_request(
    gladia: GladiaSession, emu: Any
) -> None:
    url = "https://example.com/a.wav"
    bad: list[tuple[Any, Any, str]] = [
        (None, None, "audio"),
        ("not a url", None, "audio"),
        (url, {"diarization": True}, "options"),
        (url, TranscriptionOptions(diarization="yes"), "options.diarization"),  # type: ignore[arg-type]
        (
            url,
            TranscriptionOptions(diarization_config=DiarizationConfig(min_speakers="2")),  # type: ignore[arg-type]
            "options.diarization_config.min_speakers",
        ),
    ]
    for audio, options, argument in bad:
        with pytest.raises(InvalidInput) as caught:
            await gladia.submit(audio, options)
        assert caught.value.argument == argument
    for job_id in ["", "123", None, "45463597-20b7-4af7-b3b3"]:
        with pytest.raises(InvalidInput):
            await gladia.get(job_id)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        await gladia.wait("45463597-20b7-4af7-b3b3-f5fb778203ab", timeout=-1)
    assert _requests(emu) == 0


async def test_transcribe_checks_options_before_uploading(
    gladia: GladiaSession, emu: Any, wav: Path
) -> None:
    with pytest.raises(InvalidInput):
        await gladia.transcribe(wav, TranscriptionOptions(diarization=1))  # type: ignore[arg-type]
    assert _requests(emu) == 0


def test_missing_key_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLADIA_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="GLADIA_API_KEY"):
        GladiaSession()


def test_key_and_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLADIA_API_KEY", "env-key-abcdef")
    monkeypatch.setenv("GLADIA_API_URL", "http://127.0.0.1:9")
    session = GladiaSession()
    assert session.base_url == "http://127.0.0.1:9"
    assert "env-key-abcdef" not in repr(session)


async def test_session_closes_its_pool_on_exit(emu: Any, wav: Path) -> None:
    async with GladiaSession(api_key=emu.api_key, base_url=emu.url) as gladia:
        await gladia.upload(wav)
        connector = gladia.transport.connector
        assert connector is not None and not connector.closed
        assert open_connections(gladia) == 0
    assert connector.closed


async def test_one_session_serves_concurrent_web_handlers(emu: Any, wav: Path) -> None:
    """The web-app pattern: a session opened at start-up, shared by every request handler."""
    from aiohttp import ClientSession, web

    gladia_key = web.AppKey("gladia", GladiaSession)

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        async with GladiaSession(api_key=emu.api_key, base_url=emu.url, poll=FAST_POLL) as g:
            app[gladia_key] = g
            yield

    async def handler(request: web.Request) -> web.Response:
        job = await request.app[gladia_key].transcribe(wav)
        return web.json_response({"id": job.id, "status": job.status.value})

    app = web.Application()
    app.cleanup_ctx.append(lifespan)
    app.router.add_get("/t", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        async with ClientSession() as client:

            async def call() -> dict[str, str]:
                async with client.get(f"http://127.0.0.1:{port}/t") as response:
                    assert response.status == 200
                    body: dict[str, str] = await response.json()
                    return body

            import asyncio

            results = await asyncio.gather(*(call() for _ in range(20)))
        assert {r["status"] for r in results} == {"done"}
        assert len({r["id"] for r in results}) == 20
    finally:
        await runner.cleanup()


# -- deadlines (issue 10, session side) ----------------------------------------------------


async def test_wait_polls_once_more_at_the_deadline() -> None:
    # Polls at 0 s and 1 s see the job running; it is done at 1.3 s. The next poll (2 s)
    # would cross the 2 s deadline: one last poll is made just before it instead.
    policy = PollPolicy(interval_initial=1.0, interval_max=5, deadline=None)
    async with (
        run_emulator(job_duration=1.3) as emu,
        GladiaSession(api_key=emu.api_key, base_url=emu.url, poll=policy) as gladia,
    ):
        created = await gladia.submit("https://example.com/a.wav")
        began = anyio.current_time()
        job = await gladia.wait(created, timeout=2.0)
        assert job.status == JobStatus.DONE
        assert anyio.current_time() - began <= 2.0
        assert emu.stats.polls == 3


async def test_the_first_three_polls_are_at_the_initial_interval() -> None:
    policy = PollPolicy(interval_initial=0.05, multiplier=10, interval_max=0.6, deadline=None)
    async with (
        run_emulator(job_duration=1.0) as emu,
        GladiaSession(api_key=emu.api_key, base_url=emu.url, poll=policy) as gladia,
    ):
        created = await gladia.submit("https://example.com/a.wav")
        await gladia.wait(created)
        times = [r.at for r in emu.requests if r.method == "GET"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 4
    assert max(gaps[:3]) < 0.4, "three polls at the initial interval"
    assert gaps[3] >= 0.5, "then backing off: no fourth poll at the initial interval"


async def _hanging_server(route: str) -> Any:
    """A server that accepts ``route`` and never answers; everything else 404s."""
    from aiohttp import web

    async def hang(request: web.Request) -> web.Response:
        await request.read()
        await anyio.sleep_forever()
        raise AssertionError

    app = web.Application()
    method, path = route.split(" ")
    app.router.add_route(method, path, hang)
    return serve(app)


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("route", "call"),
    [
        ("GET /v2/pre-recorded/{id}", "wait"),
        ("POST /v2/upload", "transcribe-file"),
        ("POST /v2/pre-recorded", "transcribe-url"),
    ],
)
async def test_a_call_against_a_server_that_never_answers_ends_at_its_timeout(
    route: str, call: str, wav: Path
) -> None:
    async with (
        await _hanging_server(route) as url,
        GladiaSession(api_key=API_KEY, base_url=url) as gladia,
    ):
        began = anyio.current_time()
        with anyio.fail_after(10), pytest.raises(GladiaTimeout):
            if call == "wait":
                await gladia.wait("45463597-20b7-4af7-b3b3-f5fb778203ab", timeout=1)
            elif call == "transcribe-file":
                await gladia.transcribe(wav, timeout=1)
            else:
                await gladia.transcribe("https://example.com/a.wav", timeout=1)
        assert anyio.current_time() - began < 1.5
        assert open_connections(gladia) == 0


@pytest.mark.reliability
async def test_a_deadline_during_creation_with_a_token_reports_an_unconfirmed_job() -> None:
    async with (
        await _hanging_server("POST /v2/pre-recorded") as url,
        GladiaSession(api_key=API_KEY, base_url=url) as gladia,
    ):
        with anyio.fail_after(10), pytest.raises(JobUnconfirmedError) as caught:
            await gladia.transcribe("https://example.com/a.wav", timeout=0.5, idempotency_token="t")
    assert caught.value.token == "t"


@pytest.mark.parametrize("timeout", [-1, 0, float("nan"), float("inf"), True, "5"])
async def test_bad_timeouts_fail_before_any_request(
    gladia: GladiaSession, emu: Any, timeout: Any
) -> None:
    url = "https://example.com/a.wav"
    with pytest.raises(InvalidInput) as caught:
        await gladia.transcribe(url, timeout=timeout)
    assert caught.value.argument == "timeout"
    with pytest.raises(InvalidInput):
        gladia.transcribe_many([url, url], timeout=timeout)
    with pytest.raises(InvalidInput):
        await gladia.wait("45463597-20b7-4af7-b3b3-f5fb778203ab", timeout=timeout)
    assert _requests(emu) == 0


async def test_bad_idempotency_tokens_fail_before_any_request(
    gladia: GladiaSession, emu: Any
) -> None:
    for token in ["", "   ", "a\nb", "x" * 300, 12]:
        with pytest.raises(InvalidInput) as caught:
            await gladia.submit("https://example.com/a.wav", idempotency_token=token)  # type: ignore[arg-type]
        assert caught.value.argument == "idempotency_token"
    assert _requests(emu) == 0


async def test_custom_metadata_is_merged_over_the_options_metadata(
    gladia: GladiaSession,
) -> None:
    options = TranscriptionOptions(custom_metadata={"user": "42", "team": "a"})
    created = await gladia.submit(
        "https://example.com/a.wav", options, custom_metadata={"team": "b"}
    )
    job = await gladia.get(created)
    assert job.custom_metadata == {"user": "42", "team": "b"}
    async with gladia.transcribe_many(["https://example.com/b.wav"], options) as run:
        (outcome,) = [o async for o in run]
    assert outcome.job is not None and outcome.job.custom_metadata is not None
    assert outcome.job.custom_metadata["user"] == "42"
    assert outcome.job.custom_metadata[TOKEN_KEY] == outcome.token


async def test_a_failed_download_leaves_no_file_behind(wav: Path, tmp_path: Path) -> None:
    faults = FaultPlan(rules=[FaultRule(route="GET */file", kind="reset_after_body")])
    out = tmp_path / "out"
    out.mkdir()
    async with (
        run_emulator(job_duration=0.02, faults=faults) as emu,
        GladiaSession(
            api_key=emu.api_key, base_url=emu.url, poll=FAST_POLL, retry=RetryPolicy(attempts=1)
        ) as gladia,
    ):
        job = await gladia.transcribe(wav)
        with pytest.raises(GladiaError):
            await gladia.download_audio(job, out / "back.wav")
    assert list(out.iterdir()) == [], "neither the file nor its temporary copy is left"
