"""Resumable batches: deterministic tokens and the journal's resume rules."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gladia_async import (
    TOKEN_KEY,
    BatchJournal,
    GladiaSession,
    InvalidInput,
    Outcome,
    TranscriptionOptions,
    source_identity,
)
from gladia_async.testing import run_emulator

from ..conftest import FAST_POLL, FAST_RETRY, write_wav

OPTIONS = TranscriptionOptions(diarization=True)


def _wavs(tmp_path: Path, n: int) -> list[Path]:
    one = write_wav(tmp_path / "one.wav", seconds=0.05)
    data = one.read_bytes()
    paths = []
    for i in range(n):
        path = tmp_path / f"f{i:03d}.wav"
        path.write_bytes(data + bytes([i % 256]))  # distinct files
        paths.append(path)
    return paths


async def _batch(emu: Any, sources: list[Any], **kwargs: Any) -> list[Outcome]:
    async with GladiaSession(
        api_key=emu.api_key, base_url=emu.url, poll=FAST_POLL, retry=FAST_RETRY
    ) as gladia:
        async with gladia.transcribe_many(sources, OPTIONS, **kwargs) as outcomes:
            return [outcome async for outcome in outcomes]


def _tokens(emu: Any) -> Counter[str]:
    return Counter(job["custom_metadata"][TOKEN_KEY] for job in emu.emulator.jobs.values())


async def test_tokens_are_derived_from_the_source_and_options(tmp_path: Path) -> None:
    paths = _wavs(tmp_path, 3)
    async with run_emulator(job_duration=0.02) as emu:
        outcomes = await _batch(emu, paths)
    for outcome in outcomes:
        assert outcome.token == source_identity(outcome.source, OPTIONS).token
    assert set(_tokens(emu)) == {o.token for o in outcomes}


async def test_a_rerun_without_a_journal_adopts_its_jobs_by_token(tmp_path: Path) -> None:
    paths = _wavs(tmp_path, 6)
    async with run_emulator(job_duration=0.02) as emu:
        first = await _batch(emu, paths)
        uploads = emu.emulator.stats.uploads
        again = await _batch(emu, paths)
        assert emu.emulator.stats.uploads == uploads, "a rerun uploaded again"
    assert all(o.ok for o in first + again)
    assert {o.resumed for o in first} == {None}
    assert {o.resumed for o in again} == {"adopted"}
    assert {o.job_id for o in again} == {o.job_id for o in first}
    assert set(_tokens(emu).values()) == {1}, "duplicate jobs"


async def test_another_namespace_does_not_adopt(tmp_path: Path) -> None:
    paths = _wavs(tmp_path, 2)
    async with run_emulator(job_duration=0.02) as emu:
        await _batch(emu, paths)
        other = await _batch(emu, paths, namespace="second pass")
    assert {o.resumed for o in other} == {None}
    assert len(emu.emulator.jobs) == 4


async def test_a_journalled_batch_skips_what_finished(tmp_path: Path) -> None:
    paths = _wavs(tmp_path, 5)
    journal = tmp_path / "batch.journal"
    async with run_emulator(job_duration=0.02) as emu:
        first = await _batch(emu, paths, journal=journal)
        stats = emu.emulator.stats
        uploads, listings = stats.uploads, len(emu.emulator.jobs)
        again = await _batch(emu, paths, journal=journal)
        assert stats.uploads == uploads and len(emu.emulator.jobs) == listings
    assert {o.resumed for o in again} == {"skipped"}
    assert sorted((o.index, o.job_id) for o in again) == sorted((o.index, o.job_id) for o in first)
    assert all(o.ok and o.job is not None and o.job.result is not None for o in again)
    async with BatchJournal.open(journal) as opened:
        summary = await opened.summary()
    assert summary.done == 5 and summary.pending_job_ids == ()


async def test_a_changed_file_is_redone(tmp_path: Path) -> None:
    paths = _wavs(tmp_path, 3)
    journal = tmp_path / "batch.journal"
    async with run_emulator(job_duration=0.02) as emu:
        first = await _batch(emu, paths, journal=journal)
        paths[1].write_bytes(paths[1].read_bytes() + b"more audio")
        os.utime(paths[1], ns=(1, 1))
        again = await _batch(emu, paths, journal=journal)
    by_index = {o.index: o for o in again}
    assert by_index[1].resumed is None and by_index[1].changed
    assert by_index[1].job_id not in {o.job_id for o in first}
    assert {by_index[0].resumed, by_index[2].resumed} == {"skipped"}
    assert len(emu.emulator.jobs) == 4


async def test_a_journalled_upload_is_reused_not_uploaded_again(tmp_path: Path) -> None:
    paths = _wavs(tmp_path, 2)
    journal = tmp_path / "batch.journal"
    async with run_emulator(job_duration=0.02) as emu:
        async with GladiaSession(api_key=emu.api_key, base_url=emu.url) as gladia:
            uploaded = await gladia.upload(paths[0])
        async with BatchJournal.open(journal) as opened:
            await opened.record_upload(source_identity(paths[0], OPTIONS), uploaded)
        outcomes = await _batch(emu, paths, journal=journal)
        assert emu.emulator.stats.uploads == 2  # the hand-made one and paths[1]'s
    by_index = {o.index: o for o in outcomes}
    assert by_index[0].ok and by_index[0].resumed == "reused_upload"
    assert by_index[1].ok and by_index[1].resumed is None
    assert by_index[0].job is not None and by_index[0].job.file is not None
    assert uploaded.audio_url.endswith(by_index[0].job.file.id)


async def test_a_refused_old_upload_is_uploaded_once_more(tmp_path: Path) -> None:
    paths = _wavs(tmp_path, 1)
    journal = tmp_path / "batch.journal"
    async with run_emulator(job_duration=0.02) as emu:
        async with BatchJournal.open(journal) as opened:
            gone = f"{emu.url}/file/00000000-0000-0000-0000-000000000000"
            await opened.record_upload(source_identity(paths[0], OPTIONS), gone)
        [outcome] = await _batch(emu, paths, journal=journal)
        assert emu.emulator.stats.uploads == 1
    assert outcome.ok and outcome.resumed is None


async def test_a_job_created_before_a_crash_is_adopted_not_recreated(tmp_path: Path) -> None:
    paths = _wavs(tmp_path, 1)
    journal = tmp_path / "batch.journal"
    identity = source_identity(paths[0], OPTIONS)
    async with run_emulator(job_duration=0.3) as emu:
        async with GladiaSession(api_key=emu.api_key, base_url=emu.url) as gladia:
            uploaded = await gladia.upload(paths[0])
            created = await gladia.submit(uploaded, OPTIONS)  # no token: only the journal knows
        async with BatchJournal.open(journal) as opened:
            await opened.record_upload(identity, uploaded)
            await opened.record_job(identity, created.id)
        [outcome] = await _batch(emu, paths, journal=journal)
    assert outcome.ok and outcome.resumed == "adopted" and outcome.job_id == created.id
    assert len(emu.emulator.jobs) == 1


async def test_a_stream_source_keeps_a_random_token(tmp_path: Path) -> None:
    [path] = _wavs(tmp_path, 1)
    async with run_emulator(job_duration=0.02) as emu:
        with path.open("rb") as stream:
            [outcome] = await _batch(emu, [stream], journal=tmp_path / "j")
    assert outcome.ok and outcome.token != source_identity(path, OPTIONS).token


async def test_batch_arguments_are_checked_before_any_request(tmp_path: Path) -> None:
    async with GladiaSession(api_key="k", base_url="http://127.0.0.1:9") as gladia:
        with pytest.raises(InvalidInput, match="journal"):
            gladia.transcribe_many([], journal=3)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="namespace"):
            gladia.transcribe_many([], namespace=None)  # type: ignore[arg-type]
