#!/usr/bin/env python3
"""Drive Gladia's official SDK (gladiaio-sdk 2.2.1) against our emulator; count the steps passed.

Usage (from the repository root). gladiaio-sdk 2.2.1 pins a ``certifi`` the package index lacks,
so install its requirements first, then the SDK itself without them::

    pip install dataclasses-json httpx marshmallow pyee websockets certifi
    pip install --no-deps gladiaio-sdk==2.2.1
    python tools/official_sdk_probe.py [-v]

The official SDK is generated from a newer spec than ours and is what many users already run:
whatever it sends, the emulator must answer as the service does. Each step is one request shape
or one answer shape it relies on: the pre-recorded flow with the async client and again with
the sync one, then a live session that the emulator drops mid-stream and the SDK resumes (every
byte acknowledged, the kept audio equal to the sent audio). Exit status 0 when every step
passes; CI (``.ci/run``) runs it.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
import struct
import sys
import tempfile
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gladia_async.testing import run_emulator

EXTERNAL = "https://files.example.com/audio/meeting.mp3"
#: Live: 6 s of 16 kHz 16-bit mono, sent in 100 ms chunks; the emulator drops the socket twice.
LIVE_BYTES = 192_000
LIVE_CHUNK = 3_200
LIVE_DROPS = (64_000, 130_001)


class Step(Protocol):
    async def __call__(self, name: str, check: Callable[[], Awaitable[Any]]) -> None: ...


class _Threaded:
    """The sync client, each call run in a worker thread (the emulator runs on this loop)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call


def _wav(seconds: float = 2.0, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(6000 * math.sin(2 * math.pi * 440 * n / rate)))
                for n in range(int(rate * seconds))
            )
        )
    return buffer.getvalue()


async def prerecorded(step: Step, client: Any, user: str) -> None:
    """The pre-recorded flow: upload, create, poll, options, list, download, delete."""
    state: dict[str, Any] = {}

    async def done(options: dict[str, Any]) -> Any:
        body = {"audio_url": state.get("audio_url", EXTERNAL), **options}
        return await client.create_and_poll(body, interval=0.02, timeout=20)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "call.wav"
        path.write_bytes(_wav())

        async def upload() -> bool:
            uploaded = await client.upload_file(path)
            state["audio_url"] = uploaded.audio_url
            return uploaded.audio_metadata.filename == "call.wav"

        await step("upload a file", upload)

        async def create() -> bool:
            created = await client.create({"audio_url": state["audio_url"]})
            state["job_id"] = created.id
            return bool(created.result_url)

        await step("create a job", create)

        async def poll() -> bool:
            job = await client.poll(state["job_id"], interval=0.02, timeout=20)
            return job.status == "done" and bool(job.result.transcription.full_transcript)

        await step("poll it to done, read the transcript", poll)

        async def get() -> bool:
            job = await client.get(state["job_id"])
            return job.file is not None and job.request_params is not None

        await step("get it: file and request_params", get)

        for model in ("solaria-1", "solaria-3", "solaria-fusion"):

            async def with_model(model: str = model) -> bool:
                job = await done({"model": model})
                return job.request_params.model == model

            await step(f"model {model} accepted and echoed", with_model)

        async def default_model() -> bool:
            job = await done({})
            return job.request_params.model == "solaria-1"

        await step("default model echoed", default_model)

        async def diarization() -> bool:
            job = await done({"diarization": True, "diarization_config": {"max_speakers": 3}})
            return job.result.transcription.utterances[0].speaker is not None

        await step("diarization", diarization)

        async def translation_with_subtitles() -> bool:
            job = await done(
                {
                    "translation": True,
                    "translation_config": {"target_languages": ["fr"]},
                    "subtitles": True,
                    "subtitles_config": {"formats": ["srt"]},
                }
            )
            first = job.result.translation.results[0]
            return bool(first.subtitles) and first.subtitles[0].format == "srt"

        await step("subtitles inside translation results", translation_with_subtitles)

        async def sentiment() -> bool:
            job = await done({"sentiment_analysis": True})
            # The official model types these results as a string, so it turns the list the
            # docs show into its Python repr; gladia-async reads a typed union instead.
            return "sentiment" in str(job.result.sentiment_analysis.results)

        await step("sentiment_analysis", sentiment)

        async def sentences() -> bool:
            job = await done({"sentences": True})
            return bool(job.result.sentences.results)

        await step("sentences", sentences)

        async def pii() -> bool:
            options = {
                "pii_redaction": True,
                "pii_redaction_config": {"entity_types": ["GDPR"]},
            }
            job = await done(options)
            return job.status == "done"

        await step("pii_redaction entity_types as a list", pii)

        for flag in ("punctuation_enhanced", "summarization", "named_entity_recognition"):

            async def with_flag(flag: str = flag) -> bool:
                job = await done({flag: True})
                return getattr(job.request_params, flag) is True

            await step(f"{flag} echoed", with_flag)

        async def metadata() -> bool:
            job = await done({"custom_metadata": {"user": user, "team": "a"}})
            state["tagged"] = job.id
            return job.custom_metadata == {"user": user, "team": "a"}

        await step("custom_metadata echoed", metadata)

    async def list_all() -> bool:
        page = await client.list({"limit": 100})
        state["all"] = {item.id for item in page.items}
        return len(page.items) >= 10

    await step("list jobs", list_all)

    async def list_status() -> bool:
        page = await client.list({"status": ["done"], "limit": 100})
        return all(item.status == "done" for item in page.items) and bool(page.items)

    await step("list by status", list_status)

    async def list_metadata() -> bool:
        page = await client.list({"custom_metadata": {"user": user}})
        return [item.id for item in page.items] == [state["tagged"]]

    await step("list by custom_metadata (bracket form)", list_metadata)

    async def list_nothing() -> bool:
        page = await client.list({"custom_metadata": {"user": "nobody"}})
        return page.items == []

    await step("a filter matching nothing lists nothing", list_nothing)

    async def paginate() -> bool:
        page = await client.list({"limit": 2})
        seen = [item.id for item in page.items]
        while page.next:
            page = await client.list({"url": page.next})
            seen += [item.id for item in page.items]
        return len(seen) == len(set(seen)) == len(state["all"])

    await step("follow next links", paginate)

    async def get_file() -> bool:
        return await client.get_file(state["job_id"]) == _wav()

    await step("download the job's audio", get_file)

    async def delete() -> bool:
        return await client.delete(state["job_id"])

    await step("delete a job", delete)

    async def deleted() -> bool:
        try:
            await client.get(state["job_id"])
        except Exception:  # its own error type for a 404
            return True
        return False

    await step("a deleted job is gone", deleted)

    async def rejected() -> bool:
        try:
            await client.create({"audio_url": EXTERNAL, "diarization": "yes"})
        except Exception:
            return True
        return False

    await step("a wrong type is a 400", rejected)


def _live_audio() -> bytes:
    """Distinct, deterministic bytes: a skipped or duplicated byte cannot go unseen."""
    out = bytearray()
    counter = 0
    while len(out) < LIVE_BYTES:
        out += hashlib.sha256(counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(out[:LIVE_BYTES])


async def live(step: Step, gladia: Any, emu: Any) -> None:
    """A live session dropped twice mid-stream by the emulator and resumed by the SDK."""
    from gladiaio_sdk import WebSocketRetryOptions

    hub = emu.emulator.live
    hub.faults.drop_at_bytes = list(LIVE_DROPS)
    client = gladia.live_v2_async(ws_retry=WebSocketRetryOptions(delay=lambda attempt: 0.05))
    sent = _live_audio()
    state: dict[str, Any] = {"acked_end": 0, "connected": 0, "types": []}
    connected = asyncio.Event()
    ended = asyncio.Event()

    def on_message(message: Any) -> None:
        state["types"].append(message.type)
        if message.type == "audio_chunk" and getattr(message, "acknowledged", False):
            state["acked_end"] = max(state["acked_end"], int(message.data.byte_range[1]))
        if message.type == "post_final_transcript":
            state["final"] = message

    def on_connected(_: Any) -> None:
        state["connected"] += 1
        connected.set()

    def on_ended(message: Any) -> None:
        state["ended"] = message
        ended.set()

    options = {
        "encoding": "wav/pcm",
        "sample_rate": 16_000,
        "bit_depth": 16,
        "channels": 1,
        "messages_config": {
            "receive_acknowledgments": True,
            "receive_final_transcripts": True,
            "receive_post_processing_events": True,
        },
    }
    session = client.start_session(options)
    session.on("message", on_message)
    session.on("connected", on_connected)
    session.on("ended", on_ended)

    async def start() -> bool:
        state["id"] = await session.get_session_id()
        await asyncio.wait_for(connected.wait(), 10)
        return bool(state["id"])

    await step("start a session and connect", start)

    async def stream() -> bool:
        for offset in range(0, len(sent), LIVE_CHUNK):
            session.send_audio(sent[offset : offset + LIVE_CHUNK])
            await asyncio.sleep(0.002)  # a live source: the drops land mid-stream
        session.stop_recording()
        await asyncio.wait_for(ended.wait(), 20)
        return state["ended"].code == 1000

    await step("stream 6 s, stop, the session ends with 1000", stream)

    async def dropped_and_resumed() -> bool:
        kept = hub.sessions[state["id"]]
        return kept.drops == len(LIVE_DROPS) and state["connected"] == len(LIVE_DROPS) + 1

    await step(
        f"dropped {len(LIVE_DROPS)} times mid-stream, resumed each time", dropped_and_resumed
    )

    async def every_byte_acknowledged() -> bool:
        if state["acked_end"] != LIVE_BYTES:
            raise AssertionError(f"{state['acked_end']:,} of {LIVE_BYTES:,} bytes acknowledged")
        return True

    await step(f"{LIVE_BYTES:,} of {LIVE_BYTES:,} bytes acknowledged", every_byte_acknowledged)

    async def kept_byte_for_byte() -> bool:
        kept = hub.sessions[state["id"]]
        if kept.kept_bytes != LIVE_BYTES:
            raise AssertionError(f"the emulator kept {kept.kept_bytes:,} bytes")
        return bytes(kept.audio) == sent

    await step("the emulator kept the sent audio byte for byte", kept_byte_for_byte)

    async def final_transcript() -> bool:
        final = state.get("final")
        return final is not None and bool(final.data.transcription.full_transcript)

    await step("post_final_transcript received", final_transcript)

    async def job_done() -> bool:
        job = await client.get(state["id"])
        return job.status == "done"

    await step("the live job is done", job_done)
    await client._http_client.close()


async def probe(verbose: bool = False) -> tuple[int, int, list[str]]:
    """Run every step; return (passed, total, failure descriptions)."""
    from gladiaio_sdk import GladiaClient

    results: list[tuple[str, str | None]] = []
    async with run_emulator(job_duration=0.05) as emu:
        gladia = GladiaClient(api_key=emu.api_key, api_url=emu.url)

        async def step(name: str, check: Callable[[], Awaitable[Any]]) -> None:
            try:
                outcome = await check()
                error = None if outcome is not False else "check failed"
            except Exception as exc:  # a probe: every failure is a finding
                error = f"{type(exc).__name__}: {str(exc)[:160]}"
            results.append((name, error))
            if verbose:
                print(
                    f"{'ok  ' if error is None else 'FAIL'} {name}"
                    + (f": {error}" if error else "")
                )

        def prefixed(label: str) -> Step:
            async def named(name: str, check: Callable[[], Awaitable[Any]]) -> None:
                await step(f"{label}: {name}", check)

            return named

        client = gladia.pre_recorded_v2_async()
        await prerecorded(prefixed("async"), client, user="42")
        await client._http_client.close()
        sync_client = gladia.pre_recorded_v2()
        await prerecorded(prefixed("sync"), _Threaded(sync_client), user="43")
        sync_client._http_client.close()
        await live(prefixed("live"), gladia, emu)
    failures = [f"{name}: {error}" for name, error in results if error is not None]
    return len(results) - len(failures), len(results), failures


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    passed, total, failures = asyncio.run(probe(verbose="-v" in args))
    for failure in failures:
        print(f"FAIL {failure}")
    print(f"official SDK against the emulator: {passed} of {total} steps passed")
    return 0 if passed == total else 1


if __name__ == "__main__":
    sys.exit(main())
