"""``gladia-async batch status OUT``: the journal's state, pending job ids, how to resume.

Driven as a user would: ``python -m gladia_async`` in a subprocess.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from gladia_async import BatchJournal, TranscriptionOptions
from gladia_async._batch.identity import source_identity
from gladia_async._cli.resume import JOURNAL_NAME

from ..conftest import write_wav

CLI = [sys.executable, "-m", "gladia_async"]


def status(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLADIA_")}
    return subprocess.run(
        [*CLI, "batch", "status", *args],
        env=env,  # no key, no URL: the command never contacts the API
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _journal_in_every_state(out: Path) -> dict[str, str]:
    """A journal as a killed batch leaves it: 2 done, 1 failed, 2 created, 1 uploaded."""
    audio = out.parent / "audio"
    audio.mkdir()
    options = TranscriptionOptions()
    names = ["done1", "done2", "failed", "created1", "created2", "uploaded"]
    ids = {name: f"00000000-0000-4000-8000-00000000000{i}" for i, name in enumerate(names)}
    out.mkdir()
    async with BatchJournal.open(out / JOURNAL_NAME) as journal:
        for name in names:
            identity = source_identity(write_wav(audio / f"{name}.wav", 0.05), options)
            await journal.record_upload(identity, f"https://files.example/{name}")
            if name == "uploaded":
                continue
            await journal.record_job(identity, ids[name])
            if name.startswith("done"):
                await journal.record_final(identity, status="done", job_id=ids[name])
            elif name == "failed":
                await journal.record_final(
                    identity, status="error", error="audio unreadable", error_code=422
                )
    return ids


async def test_status_counts_every_state_lists_pending_jobs_and_says_how_to_resume(
    tmp_path: Path,
) -> None:
    out = tmp_path / "transcripts"
    ids = await _journal_in_every_state(out)
    result = status(str(out))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert f"journal: {out / JOURNAL_NAME}" in text
    counts = {
        label.strip(): int(number)
        for label, number in (
            line.rsplit(maxsplit=1) for line in text.splitlines() if line.startswith("  ")
        )
    }
    assert counts == {
        "done": 2,
        "failed": 1,
        "created, not finished": 2,
        "uploaded, not created": 1,
        "not started": 0,
    }
    assert f"pending job ids: {ids['created1']} {ids['created2']}" in text
    assert "failed: " in text and "failed.wav: audio unreadable" in text
    assert f"to resume: run the same `gladia-async transcribe ... --out {out}` command" in text
    assert result.stderr == ""


async def test_status_json_is_one_object_with_the_same_counts(tmp_path: Path) -> None:
    out = tmp_path / "transcripts"
    ids = await _journal_in_every_state(out)
    result = status(str(out / JOURNAL_NAME), "--json")  # the journal file itself also works
    assert result.returncode == 0, result.stderr
    data = orjson.loads(result.stdout)
    assert {k: data[k] for k in ("total", "done", "failed", "created", "uploaded", "new")} == {
        "total": 6,
        "done": 2,
        "failed": 1,
        "created": 2,
        "uploaded": 1,
        "new": 0,
    }
    assert data["pending_job_ids"] == [ids["created1"], ids["created2"]]
    assert [f["error_code"] for f in data["failed_sources"]] == [422]


def test_a_folder_without_a_journal_is_a_usage_error_in_one_line(tmp_path: Path) -> None:
    result = status(str(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no batch journal" in lines[0] and "Traceback" not in lines[0]
    assert not (tmp_path / JOURNAL_NAME).exists(), "status never creates a journal"


async def test_status_after_a_finished_transcribe_says_every_source_is_done(
    emu: Any, tmp_path: Path
) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    for i in range(3):
        write_wav(audio / f"clip{i}.wav", seconds=0.05)
    out = tmp_path / "out"
    env = {**os.environ, "GLADIA_API_KEY": emu.api_key, "GLADIA_API_URL": emu.url}
    proc = await asyncio.create_subprocess_exec(
        *CLI, "transcribe", str(audio), "--out", str(out), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    result = await asyncio.to_thread(status, str(out), "--json")
    data = orjson.loads(result.stdout)
    assert (data["total"], data["done"], data["pending_job_ids"]) == (3, 3, [])
    text = (await asyncio.to_thread(status, str(out))).stdout
    assert "every recorded source is finished" in text and "to resume" not in text
