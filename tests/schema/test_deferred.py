"""A job's ``result`` and ``request_params`` are built on first read, invisibly.

Bodies the transport parses (below 64 KiB, and every listing page) keep those two blocks as
the parsed dict until they are read (``_schema.deferred._LazyField``). Whatever the user does with
the job (read, compare, hash, repr, pickle, evolve, serialize) must give what an eager parse
gives; a malformed block is reported on that first read as a ``ResponseFormatError``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import attrs
import orjson

from gladia_async import (
    GladiaSession,
    ResponseFormatError,
    TranscriptionJob,
    TranscriptionOptions,
    unstructure,
)
from gladia_async._schema import models as m
from gladia_async._schema.converter import _CONSUME_FROM_BYTES, loads_or_raise, structure
from gladia_async._schema.deferred import _Deferred

from ..conftest import write_wav

#: A finished job's top-level fields, for bodies built by hand.
_JOB: dict[str, Any] = {
    "id": "45463597-20b7-4af7-b3b3-f5fb778203ab",
    "request_id": "G-45463597",
    "version": 2,
    "status": "done",
    "created_at": "2026-01-01T00:00:00.000Z",
    "kind": "pre-recorded",
}


def _slot(job: TranscriptionJob, name: str) -> Any:
    """What the slot holds, without going through the lazy descriptor."""
    return type(job).__dict__[name].slot.__get__(job, type(job))


async def _done_job(gladia: GladiaSession, tmp_path: Path) -> TranscriptionJob:
    created = await gladia.submit(
        await gladia.upload(write_wav(tmp_path / "a.wav")), TranscriptionOptions(sentences=True)
    )
    await gladia.wait(created)
    return await gladia.get(created)


async def test_a_fetched_job_defers_its_blocks_and_reads_like_an_eager_one(
    gladia: GladiaSession, tmp_path: Path
) -> None:
    job = await _done_job(gladia, tmp_path)
    assert type(_slot(job, "result")) is _Deferred, "deferred until read"
    assert type(_slot(job, "request_params")) is _Deferred
    raw = unstructure(job)  # serializing reads through: the full JSON, as received
    eager = structure(raw, TranscriptionJob)  # the public helper never defers
    assert type(_slot(eager, "result")) is m.TranscriptionResult

    fresh = loads_or_raise(orjson.dumps(raw), TranscriptionJob)
    assert type(_slot(fresh, "result")) is _Deferred
    assert fresh == eager and repr(fresh) == repr(eager)
    assert isinstance(fresh.result, m.TranscriptionResult)
    assert type(_slot(fresh, "result")) is m.TranscriptionResult, "built once, then stored"
    assert fresh.result is fresh.result
    assert fresh.result.transcription is not None
    assert fresh.result.transcription.full_transcript
    assert fresh.request_params is not None and fresh.request_params.sentences is True

    again = loads_or_raise(orjson.dumps(raw), TranscriptionJob)
    assert pickle.loads(pickle.dumps(again)) == eager
    assert attrs.evolve(again, error_code=None) == eager
    assert unstructure(again) == raw


async def test_a_listing_page_defers_every_job(gladia: GladiaSession, tmp_path: Path) -> None:
    job = await _done_job(gladia, tmp_path)
    async with gladia.iter_jobs(page_size=5) as jobs:
        listed = [j async for j in jobs]
    (same,) = [j for j in listed if j.id == job.id]
    assert type(_slot(same, "result")) is _Deferred
    assert same == job


def test_a_large_body_is_built_eagerly() -> None:
    word = {"word": "x", "start": 0.0, "end": 0.1, "confidence": 0.9}
    utterance = {
        "start": 0.0,
        "end": 1.0,
        "confidence": 0.9,
        "channel": 0,
        "words": [word] * 2000,
        "text": "x",
        "language": "en",
    }
    body = {
        **_JOB,
        "result": {
            "metadata": {
                "audio_duration": 1.0,
                "number_of_distinct_channels": 1,
                "billing_time": 1.0,
                "transcription_time": 1.0,
            },
            "transcription": {
                "full_transcript": "x",
                "languages": ["en"],
                "utterances": [utterance],
            },
        },
    }
    raw = orjson.dumps(body)
    assert len(raw) >= _CONSUME_FROM_BYTES
    job = loads_or_raise(raw, TranscriptionJob)
    assert type(_slot(job, "result")) is m.TranscriptionResult
    assert job.result is not None and job.result.transcription is not None
    assert len(job.result.transcription.utterances[0].words or []) == 2000


def test_a_block_of_the_wrong_kind_fails_the_parse_itself() -> None:
    body = {**_JOB, "result": ["not", "an", "object"]}
    try:
        loads_or_raise(orjson.dumps(body), TranscriptionJob)
    except ResponseFormatError as exc:
        assert "$.result" in str(exc)
    else:  # pragma: no cover - the assertion below reports it
        raise AssertionError("a non-object result must fail at parse time")
