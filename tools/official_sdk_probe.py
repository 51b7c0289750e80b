#!/usr/bin/env python3
"""Drive Gladia's official SDK (gladiaio-sdk 2.2.1) against our emulator; count the steps passed.

Usage (from the repository root, with the SDK installed: ``pip install --no-deps
gladiaio-sdk==2.2.1 dataclasses-json httpx marshmallow pyee websockets certifi``)::

    python tools/official_sdk_probe.py [-v]

The official SDK is generated from a newer spec than ours and is what many users already run:
whatever it sends, the emulator must answer as the service does. Each step is one request shape
or one answer shape it relies on. Exit status 0 when every step passes.
"""

from __future__ import annotations

import asyncio
import io
import math
import struct
import sys
import tempfile
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gladia_async.testing import run_emulator

EXTERNAL = "https://files.example.com/audio/meeting.mp3"


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


async def probe(verbose: bool = False) -> tuple[int, int, list[str]]:
    """Run every step; return (passed, total, failure descriptions)."""
    from gladiaio_sdk import GladiaClient

    results: list[tuple[str, str | None]] = []
    async with run_emulator(job_duration=0.05) as emu:
        client = GladiaClient(api_key=emu.api_key, api_url=emu.url).pre_recorded_v2_async()
        state: dict[str, Any] = {}

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
                job = await done({"custom_metadata": {"user": "42", "team": "a"}})
                state["tagged"] = job.id
                return job.custom_metadata == {"user": "42", "team": "a"}

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
            page = await client.list({"custom_metadata": {"user": "42"}})
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

        await client._http_client.close()
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
