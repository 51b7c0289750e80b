"""``to_dict()`` / ``to_json()`` on every model: the converter's output, losslessly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gladia_async import GladiaSession, TranscriptionJob, TranscriptionOptions
from gladia_async._schema import models as models
from gladia_async._schema.converter import structure, unstructure
from gladia_async._schema.deferred import _Deferred

from ..conftest import write_wav

RICH = TranscriptionOptions(
    sentences=True,
    diarization=True,
    subtitles=True,
    summarization=True,
    translation=True,
    translation_config={"target_languages": ["fr"]},
    custom_metadata={"team": "speech", "n": 3, "nested": {"ok": None}},
)


def _slot(job: TranscriptionJob, name: str) -> Any:
    return type(job).__dict__[name].slot.__get__(job, type(job))


def check_round_trip(model: models.GladiaModel) -> dict[str, Any]:
    data = model.to_dict()
    assert data == unstructure(model)
    assert structure(data, type(model)) == model
    assert json.loads(model.to_json()) == data
    return data


async def _raw_job(emu: Any, job_id: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{emu.url}/v2/pre-recorded/{job_id}", headers={"x-gladia-key": emu.api_key}
        ) as response,
    ):
        body: dict[str, Any] = await response.json()
    return body


async def test_a_finished_job_round_trips_while_its_fields_are_deferred(
    gladia: GladiaSession, emu: Any, tmp_path: Path
) -> None:
    uploaded = await gladia.upload(write_wav(tmp_path / "a.wav"))
    check_round_trip(uploaded)
    created = await gladia.submit(uploaded, RICH)
    check_round_trip(created)
    await gladia.wait(created)
    job = await gladia.get(created)
    assert type(_slot(job, "result")) is _Deferred
    data = job.to_dict()  # read through the deferred fields, as unstructure does
    raw = await _raw_job(emu, job.id)
    assert data["result"] == raw["result"]
    assert data["request_params"] == raw["request_params"]
    assert data["custom_metadata"] == {"team": "speech", "n": 3, "nested": {"ok": None}}
    assert set(data) == set(raw)
    check_round_trip(job)


async def test_listed_jobs_and_options_round_trip(gladia: GladiaSession, tmp_path: Path) -> None:
    await gladia.transcribe(write_wav(tmp_path / "a.wav"), RICH)
    async with gladia.iter_jobs(max_items=5) as jobs:
        async for job in jobs:
            check_round_trip(job)
    assert check_round_trip(RICH)["translation_config"] == {"target_languages": ["fr"]}


def test_unknown_keys_and_explicit_nulls_survive() -> None:
    body = {
        "id": "45463597-20b7-4af7-b3b3-f5fb778203ab",
        "request_id": "G-45463597",
        "version": 2,
        "status": "queued",
        "created_at": "2026-01-01T00:00:00.000Z",
        "kind": "pre-recorded",
        "completed_at": None,
        "custom_metadata": None,
        "error_code": None,
        "next_month_field": {"a": [1, 2]},
    }
    job = structure(body, TranscriptionJob)
    assert job.to_dict() == body
    assert json.loads(job.to_json()) == body


@pytest.mark.parametrize(
    "cls",
    [
        c
        for c in vars(models).values()
        if isinstance(c, type) and issubclass(c, models.GladiaModel) and c is not models.GladiaModel
    ],
)
def test_every_model_has_to_dict_and_to_json(cls: type[models.GladiaModel]) -> None:
    assert cls.to_dict is models.GladiaModel.to_dict
    assert cls.to_json is models.GladiaModel.to_json
