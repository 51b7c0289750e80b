"""Every source of a batch gets exactly one typed outcome, and a rerun never pays twice.

Through the real ``transcribe_many`` and the real CLI: a rerun whose journal lacks the earlier
jobs finds them by token; one damaged journal row fails only its source; paths the batch
cannot name (a symlink loop, a NUL, a name that is not UTF-8) fail alone; a job whose deferred
``result`` is malformed is that source's failure, journalled as failed; a rerun with other
options says so before spending; an async iterable yielding ``str`` fails before any request.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from gladia_async import (
    TOKEN_KEY,
    BatchJournal,
    GladiaError,
    GladiaSession,
    InvalidInput,
    JournalError,
    Outcome,
    ResponseFormatError,
    TranscriptionOptions,
    source_identity,
)
from gladia_async.testing import run_emulator

from ..conftest import FAST_POLL, FAST_RETRY, write_wav
from ..hostile import API_KEY, FakeGladia, Job, serve_fake

pytestmark = pytest.mark.reliability

CLI = [sys.executable, "-m", "gladia_async"]


def _wavs(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data = write_wav(folder / "seed.wav", seconds=0.05).read_bytes()
    (folder / "seed.wav").unlink()
    paths = []
    for i in range(n):
        path = folder / f"f{i:02d}.wav"
        path.write_bytes(data + bytes([i]))
        paths.append(path)
    return paths


async def _batch(
    url: str, key: str, sources: list[Any], options: TranscriptionOptions | None = None, **kw: Any
) -> list[Outcome]:
    async with GladiaSession(api_key=key, base_url=url, poll=FAST_POLL, retry=FAST_RETRY) as g:
        async with g.transcribe_many(sources, options, **kw) as outcomes:
            return [outcome async for outcome in outcomes]


def _tokens(emu: Any) -> Counter[str]:
    return Counter(job["custom_metadata"][TOKEN_KEY] for job in emu.emulator.jobs.values())


# -- a rerun whose journal does not know the earlier jobs ------------------------------------


@pytest.mark.parametrize("first_run", ["without a journal", "journal deleted"])
async def test_a_rerun_finds_earlier_jobs_the_journal_does_not_know(
    tmp_path: Path, first_run: str
) -> None:
    sources = _wavs(tmp_path / "audio", 5)
    journal = tmp_path / "batch.journal"
    async with run_emulator(job_duration=0.02) as emu:
        first = journal if first_run == "journal deleted" else None
        await _batch(emu.url, emu.api_key, sources, journal=first)
        if first is not None:
            journal.unlink()
        outcomes = await _batch(emu.url, emu.api_key, sources, journal=journal)
    assert len(emu.emulator.jobs) == 5, "5 jobs stay 5"
    assert set(_tokens(emu).values()) == {1}, "one job per source"
    assert all(o.ok and o.resumed == "adopted" for o in outcomes)


# -- one damaged journal row -----------------------------------------------------------------


async def test_one_damaged_journal_row_fails_only_its_source(tmp_path: Path) -> None:
    sources = _wavs(tmp_path / "audio", 4)
    journal = tmp_path / "batch.journal"
    async with run_emulator(job_duration=0.02) as emu:
        async with GladiaSession(api_key=emu.api_key, base_url=emu.url, retry=FAST_RETRY) as g:
            async with BatchJournal.open(journal) as opened:
                for path in sources:  # uploaded, not created: a rerun submits the uploads
                    await opened.record_upload(source_identity(path), await g.upload(path))
        damaged = source_identity(sources[1])
        with sqlite3.connect(journal) as db:
            db.execute("UPDATE sources SET audio_meta = '{not json' WHERE key = ?", (damaged.key,))
        outcomes = await _batch(emu.url, emu.api_key, sources, journal=journal)
    by_source = {o.source: o for o in outcomes}
    assert len(outcomes) == 4
    bad = by_source[sources[1]]
    assert isinstance(bad.error, JournalError) and "damaged" in str(bad.error)
    assert all(by_source[p].ok for p in sources if p != sources[1])


# -- paths the batch cannot name -------------------------------------------------------------


def _unnameable(folder: Path) -> list[Any]:
    folder.mkdir(parents=True, exist_ok=True)
    loop = folder / "loop.wav"
    loop.symlink_to(loop)
    odd = os.path.join(os.fsencode(folder), b"caf\xe9-\xff.wav")  # not UTF-8
    good = _wavs(folder, 1)[0]
    with open(odd, "wb") as f:
        f.write(good.read_bytes())
    return [loop, str(folder / "nul\x00.wav"), os.fsdecode(odd)]


@pytest.mark.parametrize("with_journal", [False, True], ids=["no journal", "journal"])
async def test_paths_the_batch_cannot_name_each_get_one_typed_outcome(
    tmp_path: Path, with_journal: bool
) -> None:
    sources = _unnameable(tmp_path / "audio")
    journal = tmp_path / "batch.journal" if with_journal else None
    async with run_emulator(job_duration=0.02) as emu:
        with anyio.fail_after(30):
            outcomes = await _batch(emu.url, emu.api_key, sources, journal=journal)
    assert sorted(o.index for o in outcomes) == [0, 1, 2], "exactly one outcome each"
    for o in outcomes:
        assert o.ok or isinstance(o.error, GladiaError), repr(o.error)
    by_index = {o.index: o for o in outcomes}
    assert isinstance(by_index[0].error, InvalidInput)  # the symlink loop
    assert isinstance(by_index[1].error, InvalidInput)  # the NUL


# -- a result malformed deep inside ----------------------------------------------------------


class _MalformedResults(FakeGladia):
    """Every third job comes back done with a result malformed deep inside (utterances: 42)."""

    broken_every: int = 3

    def _job_json(self, job: Job) -> dict[str, Any]:
        body = super()._job_json(job)
        if body["status"] == "done":
            body["result"] = {
                "metadata": {
                    "audio_duration": 1.0,
                    "number_of_distinct_channels": 1,
                    "billing_time": 1.0,
                    "transcription_time": 1.0,
                },
                "transcription": {"full_transcript": "hi", "languages": ["en"], "utterances": []},
            }
            if self.jobs.index(job) % self.broken_every == 1:
                body["result"]["transcription"]["utterances"] = 42  # not a list
        return body


async def test_a_malformed_deferred_result_is_the_sources_failure(tmp_path: Path) -> None:
    sources = _wavs(tmp_path / "audio", 6)
    journal = tmp_path / "batch.journal"
    fake = _MalformedResults()
    async with serve_fake(fake) as url:
        outcomes = await _batch(url, API_KEY, sources, journal=journal)
        again = await _batch(url, API_KEY, sources, journal=journal)
    failed = [o for o in outcomes if not o.ok]
    assert len(outcomes) == 6 and len(failed) == 2
    assert all(isinstance(o.error, ResponseFormatError) for o in failed)
    for o in outcomes:
        if o.ok:
            assert o.job is not None and o.job.result is not None  # readable, no surprise
    async with BatchJournal.open(journal, exclusive=False) as opened:
        summary = await opened.summary()
    assert (summary.done, summary.failed) == (4, 2), "the journal records the two as failed"
    assert sum(not o.ok for o in again) == 2, "a rerun reports them, it does not stop at them"
    assert len(fake.jobs) == 6


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GLADIA_API_KEY": API_KEY, "GLADIA_API_URL": url}
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def test_cli_prints_a_failure_for_a_malformed_result_and_goes_on(tmp_path: Path) -> None:
    folder = _wavs(tmp_path / "audio", 6)[0].parent
    out = tmp_path / "out"
    fake = _MalformedResults()
    async with serve_fake(fake) as url:
        proc = await anyio.to_thread.run_sync(
            lambda: _cli(url, "transcribe", str(folder), "--out", str(out))
        )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(list(out.glob("*.json"))) == 4, "the four readable results are written"
    assert proc.stderr.count("unexpected answer from the API") == 2, proc.stderr


async def test_cli_unnameable_paths_fail_alone_with_exit_1(tmp_path: Path) -> None:
    folder = tmp_path / "audio"
    _unnameable(folder)
    out = tmp_path / "out"
    async with serve_fake(FakeGladia()) as url:
        proc = await anyio.to_thread.run_sync(
            lambda: _cli(url, "transcribe", str(folder), "--out", str(out))
        )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stderr
    assert "loop.wav" in proc.stderr, proc.stderr


# -- a rerun with other options --------------------------------------------------------------


async def test_a_rerun_with_other_options_stops_before_spending(tmp_path: Path) -> None:
    folder = _wavs(tmp_path / "audio", 3)[0].parent
    out = tmp_path / "out"
    fake = FakeGladia()
    async with serve_fake(fake) as url:

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return _cli(url, "transcribe", str(folder), "--out", str(out), *args)

        first = await anyio.to_thread.run_sync(cli)
        assert first.returncode == 0, first.stderr
        requests = fake.requests
        refused = await anyio.to_thread.run_sync(lambda: cli("--diarization"))
        assert fake.requests == requests, "nothing sent, nothing spent"
        accepted = await anyio.to_thread.run_sync(
            lambda: cli("--diarization", "--accept-changed-options")
        )
        same = await anyio.to_thread.run_sync(cli)  # the first options: resumed, no question
    assert refused.returncode == 2, refused.stderr
    assert "Traceback" not in refused.stderr
    line = refused.stderr.strip().splitlines()[-1]
    assert "3 of 3 sources" in line and "diarization" in line, line
    assert "--accept-changed-options" in line, line
    assert accepted.returncode == 0, accepted.stderr
    assert same.returncode == 0, same.stderr
    assert len(fake.jobs) == 6, "3 jobs per set of options, none twice"


async def test_the_sdk_says_which_sources_would_be_transcribed_again(tmp_path: Path) -> None:
    sources = _wavs(tmp_path / "audio", 3)
    journal = tmp_path / "batch.journal"
    async with run_emulator(job_duration=0.02) as emu:
        await _batch(emu.url, emu.api_key, sources[:2], journal=journal)
    other = TranscriptionOptions(diarization=True)
    async with BatchJournal.open(journal, exclusive=False) as opened:
        change = await opened.changed_options([source_identity(p, other) for p in sources], other)
        same = await opened.changed_options([source_identity(p) for p in sources])
    assert change.count == 2 and change.fields == ("diarization",)
    assert set(change.sources) == {str(p.resolve()) for p in sources[:2]}
    assert not same


# -- an async iterable that yields str -------------------------------------------------------


async def test_an_async_iterable_of_str_is_refused_before_the_request() -> None:
    async def text() -> AsyncIterator[Any]:
        yield "RIFF...."

    async with run_emulator() as emu:
        async with GladiaSession(api_key=emu.api_key, base_url=emu.url, retry=FAST_RETRY) as g:
            with pytest.raises(InvalidInput, match="yielded str"):
                await g.upload(text())
        assert emu.emulator.stats.requests_by_route.get("POST /v2/upload", 0) == 0
