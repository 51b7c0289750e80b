"""A journal that cannot be opened or written stops the batch at once, with one typed error.

Every case drives the real ``transcribe_many`` (and the real CLI in a subprocess): a journal
locked by another run, a file that is not SQLite, scribbled first pages, a truncated file,
another program's database, a newer schema, an unwritable folder, a full disk. Each ends well
under the 15 s bar with :class:`JournalError` (never a hang, never an untyped exception), and
the CLI says it in one line with exit code 1.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from gladia_async import BatchJournal, GladiaSession, JournalError, Outcome
from gladia_async._batch import lock as _lock
from gladia_async._batch.store import connect
from gladia_async._cli.resume import JOURNAL_NAME
from gladia_async.testing import run_emulator, start_emulator_process

from ..conftest import FAST_POLL, FAST_RETRY, write_wav

pytestmark = pytest.mark.reliability

#: The issue's bar for each failure: an answer in under 15 s.
BAR = 15.0
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


def _not_sqlite(path: Path) -> None:
    path.write_bytes(b"this is a shopping list, not a database\n" * 200)


def _journal_with_rows(path: Path) -> None:
    connect(path, "normal").close()  # a real journal, as a batch leaves it
    with sqlite3.connect(path) as db:  # a checkpoint: the WAL folded into the main file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _scribbled(path: Path) -> None:
    _journal_with_rows(path)
    with open(path, "r+b") as f:
        f.write(os.urandom(4096))


def _truncated(path: Path) -> None:
    _journal_with_rows(path)
    with open(path, "r+b") as f:
        f.truncate(50)


def _other_schema(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE sources (id INTEGER PRIMARY KEY, name TEXT)")


def _newer_schema(path: Path) -> None:
    _journal_with_rows(path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE journal_meta SET value = '99' WHERE name = 'schema'")


def _foreign_schema_value(path: Path) -> None:
    _journal_with_rows(path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE journal_meta SET value = 'v-next' WHERE name = 'schema'")


BROKEN: dict[str, Callable[[Path], None]] = {
    "not sqlite": _not_sqlite,
    "scribbled first pages": _scribbled,
    "truncated": _truncated,
    "another program's database": _other_schema,
    "a newer schema": _newer_schema,
    "a schema that is not a number": _foreign_schema_value,
}


async def _run_batch(emu: Any, sources: list[Any], journal: Path) -> list[Outcome]:
    async with GladiaSession(
        api_key=emu.api_key, base_url=emu.url, poll=FAST_POLL, retry=FAST_RETRY
    ) as gladia:
        async with gladia.transcribe_many(sources, journal=journal) as outcomes:
            return [outcome async for outcome in outcomes]


@pytest.mark.parametrize("damage", list(BROKEN), ids=list(BROKEN))
async def test_a_journal_that_cannot_open_raises_journal_error_at_once(
    tmp_path: Path, damage: str
) -> None:
    journal = tmp_path / "batch.journal"
    BROKEN[damage](journal)
    sources = _wavs(tmp_path / "audio", 3)
    async with run_emulator(job_duration=0.02) as emu:
        with anyio.fail_after(BAR), pytest.raises(JournalError):
            await _run_batch(emu, sources, journal)
    assert emu.emulator.jobs == {}, "nothing is spent before the journal is open"


async def test_a_journal_held_by_another_run_raises_at_once(tmp_path: Path) -> None:
    journal = tmp_path / "batch.journal"
    sources = _wavs(tmp_path / "audio", 3)
    async with run_emulator(job_duration=0.02) as emu, BatchJournal.open(journal):
        with anyio.fail_after(BAR), pytest.raises(JournalError, match="in use by another"):
            await _run_batch(emu, sources, journal)
    assert emu.emulator.jobs == {}


async def test_a_symlink_to_a_held_journal_is_held_too(tmp_path: Path) -> None:
    journal = tmp_path / "batch.journal"
    link = tmp_path / "link.journal"
    link.symlink_to(journal)
    sources = _wavs(tmp_path / "audio", 2)
    async with run_emulator(job_duration=0.02) as emu, BatchJournal.open(journal):
        with anyio.fail_after(BAR), pytest.raises(JournalError, match="in use by another"):
            await _run_batch(emu, sources, link)
    assert emu.emulator.jobs == {}


async def test_an_unwritable_folder_raises_journal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    sources = _wavs(tmp_path / "audio", 2)
    if os.geteuid() == 0:  # root writes into read-only folders: refuse the way the OS would

        def refused(*args: Any, **kwargs: Any) -> Any:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(_lock, "open", refused, raising=False)
        monkeypatch.setattr(sqlite3, "connect", refused)
    folder.chmod(0o500)
    try:
        async with run_emulator(job_duration=0.02) as emu:
            with anyio.fail_after(BAR), pytest.raises(JournalError, match="writable"):
                await _run_batch(emu, sources, folder / "batch.journal")
    finally:
        folder.chmod(0o700)
    assert emu.emulator.jobs == {}


async def test_a_full_disk_mid_batch_stops_the_batch_with_journal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "batch.journal"
    sources = _wavs(tmp_path / "audio", 6)
    writes = 0
    real = BatchJournal._commit

    def full_after_two(self: BatchJournal, batch: list[Any]) -> None:
        nonlocal writes
        writes += 1
        if writes > 2:  # the options record and one more, then the disk is full
            for item in batch:
                item.error = self._error(sqlite3.OperationalError("database or disk is full"))
                item.done = True
            return
        real(self, batch)

    monkeypatch.setattr(BatchJournal, "_commit", full_after_two)
    async with run_emulator(job_duration=0.02) as emu:
        started = time.monotonic()
        with anyio.fail_after(BAR), pytest.raises(JournalError, match="disk is full"):
            await _run_batch(emu, sources, journal)
    assert time.monotonic() - started < BAR
    # It stopped: not every source went on to be created without a record.
    assert len(emu.emulator.jobs) < len(sources)


# -- the command line -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    with start_emulator_process(job_duration=0.1) as proc:
        yield proc


def _cli(emulator: Any, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "GLADIA_API_KEY": emulator.api_key, "GLADIA_API_URL": emulator.url}
    started = time.monotonic()
    proc = subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return proc, time.monotonic() - started


def _one_line_error(proc: subprocess.CompletedProcess[str], elapsed: float) -> str:
    assert elapsed < BAR, f"took {elapsed:.1f}s"
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [
        line
        for line in proc.stderr.splitlines()
        if line.startswith("gladia-async:") and not line.startswith("gladia-async: estimate:")
    ]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("damage", ["not sqlite", "scribbled first pages"])
def test_cli_on_a_broken_journal_says_so_in_one_line(
    emulator: Any, tmp_path: Path, damage: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    BROKEN[damage](out / JOURNAL_NAME)
    audio = _wavs(tmp_path / "audio", 3)[0].parent
    proc, elapsed = _cli(emulator, "transcribe", str(audio), "--out", str(out))
    line = _one_line_error(proc, elapsed)
    assert "journal" in line, line


def test_cli_second_run_on_a_held_out_folder_ends_at_once(emulator: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    audio = _wavs(tmp_path / "audio", 3)[0].parent

    async def while_held() -> tuple[subprocess.CompletedProcess[str], float]:
        async with BatchJournal.open(out / JOURNAL_NAME):  # the first run, still going
            return await anyio.to_thread.run_sync(
                lambda: _cli(emulator, "transcribe", str(audio), "--out", str(out))
            )

    proc, elapsed = anyio.run(while_held)
    line = _one_line_error(proc, elapsed)
    assert "in use by another batch" in line, line


def test_batch_status_on_a_corrupt_journal_is_one_line(emulator: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    _scribbled(out / JOURNAL_NAME)
    proc, elapsed = _cli(emulator, "batch", "status", str(out))
    line = _one_line_error(proc, elapsed)
    assert "journal" in line, line


def test_a_clean_exit_leaves_no_lock_file(emulator: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    audio = _wavs(tmp_path / "audio", 2)[0].parent
    proc, _ = _cli(emulator, "transcribe", str(audio), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / JOURNAL_NAME).exists()
    assert not (out / f"{JOURNAL_NAME}.lock").exists(), "the lock file is removed on exit"
