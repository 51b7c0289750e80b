"""Tests of the local Gladia emulator (``gladia_async.testing``), through raw aiohttp."""

from __future__ import annotations

import asyncio
import email.utils
import io
import time
import wave
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import orjson
import pytest
import pytest_asyncio

from gladia_async.testing import (
    FaultPlan,
    FaultRule,
    GladiaEmulator,
    ManualClock,
    RunningEmulator,
    build_result,
    run_emulator,
)

ERROR_KEYS = {"timestamp", "path", "request_id", "statusCode", "message"}
EXTERNAL = "https://files.example.com/audio/meeting.mp3"


def make_wav(seconds: float, channels: int = 1, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\x01\x00" * channels * int(rate * seconds))
    return buffer.getvalue()


def wav_form(data: bytes, filename: str = "clip.wav") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("audio", data, filename=filename, content_type="audio/wav")
    return form


def assert_error(body: dict[str, Any], status: int, path: str) -> None:
    assert ERROR_KEYS <= set(body)
    assert body["statusCode"] == status
    assert body["path"] == path
    assert body["request_id"].startswith("G-") and len(body["request_id"]) == 10
    assert body["timestamp"].endswith("Z")
    datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest_asyncio.fixture
async def emu(clock: ManualClock) -> AsyncIterator[RunningEmulator]:
    async with run_emulator(clock=clock, job_duration=2.0, queue_delay=1.0) as running:
        yield running


@pytest_asyncio.fixture
async def http(emu: RunningEmulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=emu.headers) as session:
        yield session


async def create_job(
    http: aiohttp.ClientSession, emu: RunningEmulator, **body: Any
) -> dict[str, Any]:
    body.setdefault("audio_url", EXTERNAL)
    async with http.post(f"{emu.url}/v2/pre-recorded", json=body) as resp:
        assert resp.status == 201, await resp.text()
        data: dict[str, Any] = await resp.json()
        return data


# ------------------------------------------------------------------------- auth
async def test_auth_missing_and_invalid_key(emu: RunningEmulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{emu.url}/v2/pre-recorded") as resp:
            assert resp.status == 401
            body = await resp.json()
            assert_error(body, 401, "/v2/pre-recorded")
            assert body["message"] == "gladia key not found"
        async with session.post(
            f"{emu.url}/v2/transcription",
            json={"audio_url": EXTERNAL},
            headers={"x-gladia-key": "nope"},
        ) as resp:
            assert resp.status == 401
            body = await resp.json()
            assert_error(body, 401, "/v2/transcription")
            assert body["message"] == "invalid gladia key"
    assert emu.stats.jobs_created == 0
    assert [r.route for r in emu.requests] == ["GET /v2/pre-recorded", "POST /v2/transcription"]
    assert emu.requests[1].headers["x-gladia-key"] == "nope"


# ----------------------------------------------------------------------- upload
async def test_upload_wav_metadata(emu: RunningEmulator, http: aiohttp.ClientSession) -> None:
    data = make_wav(2.5, channels=2)
    async with http.post(f"{emu.url}/v2/upload", data=wav_form(data)) as resp:
        assert resp.status == 200
        body = await resp.json()
    meta = body["audio_metadata"]
    assert body["audio_url"] == f"{emu.url}/file/{meta['id']}"
    assert meta["filename"] == "clip.wav"
    assert meta["extension"] == "wav"
    assert meta["size"] == len(data)
    assert meta["audio_duration"] == pytest.approx(2.5)
    assert meta["number_of_channels"] == 2
    assert emu.stats.uploads == 1
    assert emu.emulator.uploads[meta["id"]]["size"] == len(data)


async def test_upload_errors(emu: RunningEmulator, http: aiohttp.ClientSession) -> None:
    url = f"{emu.url}/v2/upload"
    async with http.post(url, data=b"x", headers={"Content-Type": "multipart/form-data"}) as resp:
        assert resp.status == 400
        body = await resp.json()
        assert_error(body, 400, "/v2/upload")
        assert body["message"] == "Content-Type is missing Multipart Boundary."
    form = aiohttp.FormData()
    form.add_field("other", b"abc", filename="x.wav")
    async with http.post(url, data=form) as resp:
        assert resp.status == 400
    async with http.post(url, data=wav_form(b"", "empty.wav")) as resp:
        assert resp.status == 400
    async with http.post(url, data=wav_form(b"just some text", "notes.txt")) as resp:
        assert resp.status == 422
        assert_error(await resp.json(), 422, "/v2/upload")
    assert emu.stats.uploads == 0


async def test_upload_too_large(clock: ManualClock) -> None:
    async with run_emulator(clock=clock, max_upload_bytes=10_000, storage="discard") as emu:
        async with aiohttp.ClientSession(headers=emu.headers) as http:
            form = wav_form(make_wav(1.0))
            async with http.post(f"{emu.url}/v2/upload", data=form) as resp:
                assert resp.status == 413
                assert_error(await resp.json(), 413, "/v2/upload")


async def test_url_import(emu: RunningEmulator, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{emu.url}/v2/upload", json={"audio_url": EXTERNAL}) as resp:
        assert resp.status == 200
        first = await resp.json()
    async with http.post(f"{emu.url}/v2/upload", json={"audio_url": EXTERNAL}) as resp:
        second = await resp.json()
    meta = first["audio_metadata"]
    assert meta["filename"] == "meeting.mp3" and meta["extension"] == "mp3"
    assert meta["source"] == EXTERNAL
    for key in ("audio_duration", "size", "number_of_channels"):
        assert meta[key] == second["audio_metadata"][key]  # deterministic
    # A URL of one of the emulator's own uploads resolves to that upload.
    async with http.post(f"{emu.url}/v2/upload", data=wav_form(make_wav(1.5))) as resp:
        own = await resp.json()
    async with http.post(f"{emu.url}/v2/upload", json={"audio_url": own["audio_url"]}) as resp:
        imported = (await resp.json())["audio_metadata"]
    assert imported["audio_duration"] == pytest.approx(1.5)
    async with http.post(f"{emu.url}/v2/upload", json={"audio_url": "ftp://x/y"}) as resp:
        assert resp.status == 422
    async with http.post(f"{emu.url}/v2/upload", json={"url": EXTERNAL}) as resp:
        assert resp.status == 400
        assert "property url should not exist" in (await resp.json())["validation_errors"]


# ------------------------------------------------------------------- validation
async def test_validation_400(emu: RunningEmulator, http: aiohttp.ClientSession) -> None:
    body = {
        "audio_url": EXTERNAL,
        "language_config": {"languages": ["xx"], "code_switching": "yes"},
        "diarization_config": {"min_speakers": -1},
        "subtitles_config": {"formats": []},
        "unknown_option": True,
        "diarization": "true",
    }
    async with http.post(f"{emu.url}/v2/pre-recorded", json=body) as resp:
        assert resp.status == 400
        error = await resp.json()
    assert_error(error, 400, "/v2/pre-recorded")
    messages = error["validation_errors"]
    assert "property unknown_option should not exist" in messages
    assert 'Field "diarization" must be a boolean value' in messages
    assert 'Field "language_config.code_switching" must be a boolean value' in messages
    assert any(m.startswith('Field "language_config.languages.0" must be one of') for m in messages)
    assert 'Field "diarization_config.min_speakers" must not be less than 0' in messages
    assert 'Field "subtitles_config.formats" must contain at least 1 elements' in messages
    async with http.post(f"{emu.url}/v2/pre-recorded", json={}) as resp:
        assert resp.status == 400
        assert 'Field "audio_url" should not be empty' in (await resp.json())["validation_errors"]
    async with http.post(f"{emu.url}/v2/pre-recorded", data=b"{not json") as resp:
        assert resp.status == 400
    assert emu.stats.jobs_created == 0


@pytest.mark.parametrize(
    "body",
    [
        {"audio_url": "not a url"},
        {"audio_url": "http://127.0.0.1:1/file/00000000-0000-4000-8000-000000000000"},
        {"audio_url": EXTERNAL, "diarization_config": {"min_speakers": 4, "max_speakers": 2}},
        {"audio_url": EXTERNAL, "custom_metadata": {"blob": "x" * 2100}},
        {"audio_url": EXTERNAL, "translation": True},
    ],
)
async def test_validation_422(
    emu: RunningEmulator, http: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    if "127.0.0.1:1" in body["audio_url"]:
        body = {"audio_url": body["audio_url"].replace("http://127.0.0.1:1", emu.url)}
    async with http.post(f"{emu.url}/v2/transcription", json=body) as resp:
        assert resp.status == 422, await resp.text()
        assert_error(await resp.json(), 422, "/v2/transcription")


# -------------------------------------------------------------------- lifecycle
async def test_lifecycle_with_manual_clock(
    emu: RunningEmulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    job = await create_job(
        http,
        emu,
        custom_metadata={"user": "a"},
        subtitles=True,
        subtitles_config={"formats": ["srt", "vtt"]},
        diarization=True,
        summarization=True,
        translation=True,
        translation_config={"target_languages": ["fr"]},
        sentences=True,
    )
    assert job["result_url"] == f"{emu.url}/v2/pre-recorded/{job['id']}"
    seen = []
    for step in (0.0, 0.5, 0.6, 1.0, 1.0):
        clock.advance(step)
        async with http.get(job["result_url"]) as resp:
            assert resp.status == 200
            seen.append(await resp.json())
    assert [s["status"] for s in seen] == ["queued", "queued", "processing", "processing", "done"]
    done = seen[-1]
    assert done["kind"] == "pre-recorded" and done["version"] == 2
    assert done["request_id"] == "G-" + job["id"][:8]
    assert done["custom_metadata"] == {"user": "a"}
    assert done["completed_at"] is not None and done["error_code"] is None
    params = done["request_params"]
    assert params["audio_url"] == EXTERNAL
    assert params["named_entity_recognition"] is False  # defaults echoed
    assert params["language_config"] == {"languages": [], "code_switching": False}
    assert params["subtitles_config"]["style"] == "default"
    assert done["file"]["source"] == EXTERNAL
    result = done["result"]
    assert result["metadata"]["audio_duration"] == done["file"]["audio_duration"]
    transcription = result["transcription"]
    assert transcription["full_transcript"]
    utterance = transcription["utterances"][0]
    assert {"start", "end", "confidence", "channel", "words", "text", "language", "speaker"} <= set(
        utterance
    )
    assert [s["format"] for s in transcription["subtitles"]] == ["srt", "vtt"]
    assert transcription["subtitles"][0]["subtitles"].startswith("1\n00:00:00,000 --> ")
    assert transcription["subtitles"][1]["subtitles"].startswith("WEBVTT")
    assert result["translation"]["results"][0]["languages"] == ["fr"]
    assert result["summarization"]["success"] is True
    for block in ("translation", "summarization"):
        assert {"success", "is_empty", "exec_time", "error", "results"} <= set(result[block])
    # The twin route serves the same job; same result every time.
    async with http.get(f"{emu.url}/v2/transcription/{job['id']}") as resp:
        assert (await resp.json())["result"] == result
    assert emu.stats.polls == 6
    assert emu.stats.jobs_created == 1


async def test_unknown_and_malformed_ids(emu: RunningEmulator, http: aiohttp.ClientSession) -> None:
    for job_id in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
        async with http.get(f"{emu.url}/v2/pre-recorded/{job_id}") as resp:
            assert resp.status == 404
            assert_error(await resp.json(), 404, f"/v2/pre-recorded/{job_id}")


async def test_delete(
    emu: RunningEmulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    job = await create_job(http, emu)
    async with http.delete(job["result_url"]) as resp:
        assert resp.status == 403
        assert_error(await resp.json(), 403, urlsplit(job["result_url"]).path)
    clock.advance(3.0)
    async with http.delete(job["result_url"]) as resp:
        assert resp.status == 202
        assert await resp.read() == b""
    async with http.delete(job["result_url"]) as resp:
        assert resp.status == 404
    async with http.get(job["result_url"]) as resp:
        assert resp.status == 404
    assert emu.stats.deletes == 1


async def test_file_download(
    emu: RunningEmulator, http: aiohttp.ClientSession, tmp_path: Any
) -> None:
    data = make_wav(1.0)
    async with http.post(f"{emu.url}/v2/upload", data=wav_form(data, "voice.wav")) as resp:
        uploaded = await resp.json()
    job = await create_job(http, emu, audio_url=uploaded["audio_url"])
    async with http.get(f"{job['result_url']}/file") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert "voice.wav" in resp.headers["Content-Disposition"]
        assert await resp.read() == data
    external = await create_job(http, emu)
    async with http.get(f"{external['result_url']}/file") as resp:
        assert resp.status == 404


@pytest.mark.parametrize("storage", ["discard", "dir"])
async def test_file_storage_modes(storage: str, tmp_path: Any) -> None:
    target = tmp_path if storage == "dir" else "discard"
    async with run_emulator(storage=target) as emu:
        async with aiohttp.ClientSession(headers=emu.headers) as http:
            data = make_wav(1.0)
            async with http.post(f"{emu.url}/v2/upload", data=wav_form(data)) as resp:
                uploaded = await resp.json()
            assert uploaded["audio_metadata"]["audio_duration"] == pytest.approx(1.0)
            job = await create_job(http, emu, audio_url=uploaded["audio_url"])
            async with http.get(f"{job['result_url']}/file") as resp:
                if storage == "dir":
                    assert resp.status == 200 and await resp.read() == data
                else:
                    assert resp.status == 404


# ---------------------------------------------------------------------- listing
async def walk(http: aiohttp.ClientSession, url: str) -> tuple[list[dict[str, Any]], list[str]]:
    items: list[dict[str, Any]] = []
    urls: list[str] = []
    next_url: str | None = url
    while next_url is not None:
        urls.append(next_url)
        async with http.get(next_url) as resp:
            assert resp.status == 200, await resp.text()
            page = await resp.json()
        items.extend(page["items"])
        next_url = page["next"]
    return items, urls


async def test_list_paging_newest_first(emu: RunningEmulator, http: aiohttp.ClientSession) -> None:
    ids = emu.emulator.seed_jobs(250)
    items, urls = await walk(http, f"{emu.url}/v2/pre-recorded?limit=100")
    assert len(urls) == 3
    assert [item["id"] for item in items] == ids[::-1]
    created = [item["created_at"] for item in items]
    assert created == sorted(created, reverse=True)
    for url in urls[1:]:
        assert url.startswith(f"{emu.url}/v2/pre-recorded?")
    async with http.get(f"{emu.url}/v2/pre-recorded") as resp:
        page = await resp.json()
    assert len(page["items"]) == 20
    assert page["first"] == f"{emu.url}/v2/pre-recorded?offset=0&limit=20"
    assert parse_qs(urlsplit(page["next"]).query)["offset"] == ["20"]


async def test_list_absolute_urls_follow_host(emu: RunningEmulator) -> None:
    emu.emulator.seed_jobs(3)
    port = urlsplit(emu.url).port
    async with aiohttp.ClientSession(headers=emu.headers) as http:
        async with http.get(
            f"{emu.url}/v2/transcription?limit=1&status=done",
            headers={"Host": f"emulator.test:{port}"},
        ) as resp:
            page = await resp.json()
    assert page["next"].startswith(f"http://emulator.test:{port}/v2/transcription?status=done")
    assert page["current"].startswith(f"http://emulator.test:{port}/")
    async with run_emulator(public_url="https://api.example.test/") as pub:
        pub.emulator.seed_jobs(2)
        async with aiohttp.ClientSession(headers=pub.headers) as http:
            async with http.get(f"{pub.url}/v2/pre-recorded?limit=1") as resp:
                page = await resp.json()
    assert page["next"].startswith("https://api.example.test/v2/pre-recorded?")


async def test_list_filters(emu: RunningEmulator, http: aiohttp.ClientSession) -> None:
    start = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
    gladia = emu.emulator
    done = gladia.seed_jobs(
        10,
        created_at_start=start,
        spacing=timedelta(hours=6),
        custom_metadata=lambda i: {"user": f"u{i % 2}", "plan": {"tier": i % 3}},
    )
    errors = gladia.seed_jobs(
        5,
        status="error",
        created_at_start=start + timedelta(days=10),
        custom_metadata={"user": "u0", "n": 123},
    )
    live = gladia.seed_jobs(4, kind="live", created_at_start=start + timedelta(days=20))

    async def ids(path: str, **params: Any) -> set[str]:
        items, _ = await walk(http, str(emu.url + path + "?" + _query(params)))
        return {item["id"] for item in items}

    assert await ids("/v2/pre-recorded") == set(done + errors)
    assert await ids("/v2/pre-recorded", status="error") == set(errors)
    assert await ids("/v2/pre-recorded", status=["done", "error"]) == set(done + errors)
    assert await ids("/v2/pre-recorded", status="done,error") == set(done + errors)
    assert await ids("/v2/live") == set(live)
    assert await ids("/v2/transcription") == set(done + errors + live)
    assert await ids("/v2/transcription", kind="live") == set(live)
    assert await ids("/v2/transcription", kind=["live", "pre-recorded"], status="error") == set(
        errors
    )
    # 10 jobs every 6 h from 2024-03-01T12:00Z: day 1 holds indexes 0, 1 (12:00, 18:00).
    assert await ids("/v2/pre-recorded", date="2024-03-01") == set(done[:2])
    assert await ids(
        "/v2/pre-recorded", after_date="2024-03-01T23:59:59Z", before_date="2024-03-03T00:00:00Z"
    ) == set(done[2:6])
    meta = orjson.dumps({"user": "u1"}).decode()
    assert await ids("/v2/pre-recorded", custom_metadata=meta) == set(done[1::2])
    nested = orjson.dumps({"user": "u0", "plan": {"tier": 0}}).decode()
    assert await ids("/v2/pre-recorded", custom_metadata=nested) == {done[0], done[6]}
    as_text = orjson.dumps({"n": "123"}).decode()
    assert await ids("/v2/pre-recorded", custom_metadata=as_text) == set(errors)
    live_item = (await _page(http, f"{emu.url}/v2/live?limit=1"))["items"][0]
    assert live_item["kind"] == "live"
    assert live_item["request_params"]["encoding"] == "wav/pcm"
    assert "messages" in live_item["result"]
    for params in (
        {"before_date": "yesterday"},
        {"status": "finished"},
        {"offset": "-1"},
        {"limit": "0"},
        {"custom_metadata": "[1]"},
    ):
        async with http.get(f"{emu.url}/v2/pre-recorded?{_query(params)}") as resp:
            assert resp.status == 400
            body = await resp.json()
            assert_error(body, 400, "/v2/pre-recorded")
            assert body["validation_errors"]


def _query(params: dict[str, Any]) -> str:
    from urllib.parse import urlencode

    return urlencode(params, doseq=True)


async def _page(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(url) as resp:
        assert resp.status == 200
        page: dict[str, Any] = await resp.json()
        return page


async def test_list_stable_when_jobs_added_mid_walk(
    emu: RunningEmulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    ids = emu.emulator.seed_jobs(250)
    seen: list[str] = []
    page = await _page(http, f"{emu.url}/v2/pre-recorded?limit=100")
    seen += [item["id"] for item in page["items"]]
    clock.advance(1.0)
    added = [(await create_job(http, emu))["id"] for _ in range(7)]
    while page["next"] is not None:
        page = await _page(http, page["next"])
        seen += [item["id"] for item in page["items"]]
    assert seen == ids[::-1]
    fresh = await _page(http, f"{emu.url}/v2/pre-recorded?limit=10")
    assert [item["id"] for item in fresh["items"][:7]] == added[::-1]


# ----------------------------------------------------------------------- faults
async def test_fault_status_429_retry_after(emu: RunningEmulator) -> None:
    emu.emulator.faults = FaultPlan(
        rules=[
            FaultRule(
                route="POST /v2/pre-recorded",
                kind="status",
                status=429,
                retry_after=2.0,
                sequence=[True, False],
            ),
            FaultRule(
                route="GET *",
                kind="status",
                status=503,
                retry_after=5,
                retry_after_http_date=True,
                max_count=1,
            ),
        ]
    )
    async with aiohttp.ClientSession(headers=emu.headers) as http:
        body = {"audio_url": EXTERNAL}
        async with http.post(f"{emu.url}/v2/pre-recorded", json=body) as resp:
            assert resp.status == 429
            assert resp.headers["Retry-After"] == "2"
            assert_error(await resp.json(), 429, "/v2/pre-recorded")
        job = await create_job(http, emu)
        async with http.get(job["result_url"]) as resp:
            assert resp.status == 503
            when = email.utils.parsedate_to_datetime(resp.headers["Retry-After"])
            assert when.timestamp() > time.time()
        async with http.get(job["result_url"]) as resp:
            assert resp.status == 200
    assert emu.stats.jobs_created == 1
    assert emu.stats.faults_injected == 2


async def test_fault_html_502_and_delay(emu: RunningEmulator) -> None:
    emu.emulator.faults = FaultPlan(
        rules=[
            FaultRule(route="GET /v2/pre-recorded", kind="html_502", sequence=[True]),
            FaultRule(route="GET /v2/live", kind="delay", delay=0.2),
        ]
    )
    async with aiohttp.ClientSession(headers=emu.headers) as http:
        async with http.get(f"{emu.url}/v2/pre-recorded") as resp:
            assert resp.status == 502
            assert resp.content_type == "text/html"
            assert "502 Bad Gateway" in await resp.text()
        timeout = aiohttp.ClientTimeout(total=0.05)
        with pytest.raises(asyncio.TimeoutError):  # not the builtin TimeoutError on 3.10
            async with http.get(f"{emu.url}/v2/live", timeout=timeout) as resp:
                await resp.read()
        async with http.get(f"{emu.url}/v2/live") as resp:
            assert resp.status == 200


async def test_fault_resets(emu: RunningEmulator) -> None:
    emu.emulator.faults = FaultPlan(
        rules=[
            FaultRule(route="POST /v2/pre-recorded", kind="reset_before_body", sequence=[True]),
            FaultRule(
                route="POST /v2/pre-recorded", kind="reset_after_body", sequence=[False, True]
            ),
        ]
    )
    async with aiohttp.ClientSession(headers=emu.headers) as http:
        body = {"audio_url": EXTERNAL}
        with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            async with http.post(f"{emu.url}/v2/pre-recorded", json=body) as resp:
                await resp.read()
        assert emu.stats.jobs_created == 0
        with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            async with http.post(f"{emu.url}/v2/pre-recorded", json=body) as resp:
                await resp.read()
        # The lost response: the job exists although the client never saw it.
        assert emu.stats.jobs_created == 1
        assert emu.emulator.job_count() == 1
        await create_job(http, emu)
    assert emu.stats.jobs_created == 2


async def test_fault_truncated_and_malformed_json(emu: RunningEmulator) -> None:
    emu.emulator.faults = FaultPlan(
        rules=[
            FaultRule(route="POST /v2/pre-recorded", kind="truncated_json", sequence=[True]),
            FaultRule(route="POST /v2/pre-recorded", kind="malformed_json", sequence=[False, True]),
        ]
    )
    async with aiohttp.ClientSession(headers=emu.headers) as http:
        for _ in range(2):
            async with http.post(
                f"{emu.url}/v2/pre-recorded", json={"audio_url": EXTERNAL}
            ) as resp:
                assert resp.status == 201
                raw = await resp.read()
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(raw)
    assert emu.stats.jobs_created == 2  # the operations were performed


async def test_fault_job_error(
    emu: RunningEmulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    emu.emulator.faults = FaultPlan(
        rules=[
            FaultRule(
                route="POST /v2/pre-recorded", kind="job_error", error_code=503, sequence=[True]
            )
        ]
    )
    failing = await create_job(http, emu)
    fine = await create_job(http, emu)
    clock.advance(3.0)
    bad = await _page(http, failing["result_url"])
    assert bad["status"] == "error" and bad["error_code"] == 503 and bad["result"] is None
    assert bad["completed_at"] is not None
    assert (await _page(http, fine["result_url"]))["status"] == "done"


async def test_fault_plan_seeded_replay() -> None:
    rules = [
        FaultRule(route="GET *", kind="status", status=500, probability=0.3),
        FaultRule(route="*", kind="delay", delay=0.0, probability=0.5),
    ]

    async def run(plan: FaultPlan) -> list[int]:
        statuses = []
        async with run_emulator(faults=plan) as emu:
            async with aiohttp.ClientSession(headers=emu.headers) as http:
                for _ in range(40):
                    async with http.get(f"{emu.url}/v2/pre-recorded?limit=1") as resp:
                        statuses.append(resp.status)
        return statuses

    first = await run(FaultPlan(seed=7, rules=rules))
    second = await run(FaultPlan(seed=7, rules=rules))
    other = await run(FaultPlan(seed=8, rules=rules))
    assert first == second
    assert 500 in first and 200 in first
    assert first != other
    plan = FaultPlan(seed=7, rules=rules)
    picks = [plan.pick("GET /v2/pre-recorded") for _ in range(20)]
    plan.reset()
    assert [plan.pick("GET /v2/pre-recorded") for _ in range(20)] == picks
    assert FaultPlan.from_json(orjson.dumps(plan.to_dict())).to_dict() == plan.to_dict()


# ------------------------------------------------------------------ misc / perf
async def test_stats_and_request_log(emu: RunningEmulator, http: aiohttp.ClientSession) -> None:
    await create_job(http, emu)
    await create_job(http, emu)
    async with http.get(f"{emu.url}/v2/nope") as resp:
        assert resp.status == 404
        assert_error(await resp.json(), 404, "/v2/nope")
    stats = emu.stats
    assert stats.jobs_created == 2
    assert stats.requests_total == 3
    assert stats.requests_by_route["POST /v2/pre-recorded"] == 2
    assert emu.requests[-1].path == "/v2/nope"


def test_bounded_request_log() -> None:
    gladia = GladiaEmulator(max_recorded_requests=5)
    assert gladia.requests.maxlen == 5


def test_build_result_is_deterministic() -> None:
    options = {
        "subtitles": True,
        "sentences": True,
        "diarization": True,
        "named_entity_recognition": True,
        "sentiment_analysis": True,
        "audio_to_llm": True,
        "audio_to_llm_config": {"prompts": ["Summarize"]},
    }
    small = build_result(seed="a", duration=30, channels=2, options=options)
    assert small == build_result(seed="a", duration=30, channels=2, options=options)
    assert small != build_result(seed="b", duration=30, channels=2, options=options)
    assert {u["channel"] for u in small["transcription"]["utterances"]} == {0, 1}
    words = sum(len(u["words"]) for u in small["transcription"]["utterances"])
    assert words == 75
    # The documented shape (spec/ERRATA.md), not the spec's string.
    assert isinstance(small["sentiment_analysis"]["results"], list)
    assert {"text", "sentiment", "emotion", "start", "end"} <= set(
        small["sentiment_analysis"]["results"][0]
    )
    assert small["audio_to_llm"]["results"][0]["results"]["prompt"] == "Summarize"
    # Speed is the benchmarks' business (a timed unit test fails on a loaded machine).
    big = build_result(seed="long", duration=3 * 3600, channels=1, options={})
    assert sum(len(u["words"]) for u in big["transcription"]["utterances"]) == 27000


def test_seed_100k_jobs() -> None:
    gladia = GladiaEmulator()
    gladia.seed_jobs(100_000)
    assert gladia.job_count() == 100_000 and gladia.job_count(status="done") == 100_000


async def test_list_the_last_pages_of_100k_jobs() -> None:
    async with run_emulator() as emu:
        emu.emulator.seed_jobs(100_000)
        async with aiohttp.ClientSession(headers=emu.headers) as http:
            url: str | None = f"{emu.url}/v2/pre-recorded?limit=100&offset=99000"
            count = 0
            while url is not None:
                page = await _page(http, url)
                count += len(page["items"])
                url = page["next"]
            assert count == 1000


def test_start_emulator_process(tmp_path: Any) -> None:
    import urllib.error
    import urllib.request

    from gladia_async.testing import start_emulator_process

    plan = FaultPlan(rules=[FaultRule(route="GET /v2/live", kind="status", status=418)])
    with start_emulator_process(api_keys=["k1"], seed_jobs=3, faults=plan) as proc:
        assert proc.url.startswith("http://127.0.0.1:")
        request = urllib.request.Request(f"{proc.url}/v2/pre-recorded", headers=proc.headers)
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert len(orjson.loads(resp.read())["items"]) == 3
        live = urllib.request.Request(f"{proc.url}/v2/live", headers=proc.headers)
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(live, timeout=5)
        assert info.value.code == 418
        info.value.close()
        process = proc.process
    assert process.poll() is not None
