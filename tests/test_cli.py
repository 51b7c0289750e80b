"""The command line, driven as a subprocess against an emulator process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gladia_async.testing import start_emulator_process

from .conftest import write_wav

CLI = [sys.executable, "-m", "gladia_async"]


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    with start_emulator_process(job_duration=0.2) as proc:
        yield proc


def run(emulator: Any, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GLADIA_API_KEY": emulator.api_key, "GLADIA_API_URL": emulator.url}
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    audio = tmp_path / "audio"
    audio.mkdir()
    for i in range(4):
        write_wav(audio / f"clip{i}.wav", seconds=0.5)
    return audio


def test_transcribe_a_folder_writes_results(emulator: Any, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(emulator, "transcribe", str(folder), "--out", str(out), "--subtitles", "srt,vtt")
    assert result.returncode == 0, result.stderr
    jsons = sorted(out.glob("*.json"))
    assert len(jsons) == 4
    job = json.loads(jsons[0].read_text())
    assert job["status"] == "done" and job["result"]["transcription"]["full_transcript"]
    assert len(list(out.glob("*.srt"))) == 4 and len(list(out.glob("*.vtt"))) == 4
    assert "| 4 | 4 | 0 |" in result.stderr, "summary table"
    assert emulator.api_key not in result.stdout + result.stderr


def test_failed_files_give_a_non_zero_exit_and_are_listed(
    emulator: Any, folder: Path, tmp_path: Path
) -> None:
    (folder / "notes.txt").write_text("not audio")
    result = run(emulator, "transcribe", str(folder), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "FAILED" in result.stderr and "notes.txt" in result.stderr
    assert len(list((tmp_path / "out").glob("*.json"))) == 4


def test_jobs_get_delete_download(emulator: Any, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(emulator, "transcribe", str(folder / "clip0.wav"), "--out", str(out)).returncode == 0
    job_id = json.loads(next(out.glob("*.json")).read_text())["id"]

    listing = run(emulator, "jobs", "--json", "--status", "done", "--limit", "500")
    assert listing.returncode == 0, listing.stderr
    ids = [json.loads(line)["id"] for line in listing.stdout.splitlines()]
    assert job_id in ids

    table = run(emulator, "jobs", "--limit", "2")
    assert table.returncode == 0 and len(table.stdout.splitlines()) == 3  # header + 2 rows

    got = run(emulator, "get", job_id)
    assert got.returncode == 0 and json.loads(got.stdout)["id"] == job_id

    dest = tmp_path / "back.wav"
    downloaded = run(emulator, "download", job_id, "--out", str(dest))
    assert downloaded.returncode == 0, downloaded.stderr
    assert dest.read_bytes() == (folder / "clip0.wav").read_bytes()

    deleted = run(emulator, "delete", job_id)
    assert deleted.returncode == 0 and f"deleted {job_id}" in deleted.stdout
    assert run(emulator, "get", job_id).returncode == 1


@pytest.mark.parametrize(
    "args",
    [
        ["transcribe", "/nonexistent/file.wav"],
        ["transcribe", "x.wav", "--concurrency", "0"],
        ["jobs", "--after", "yesterday"],
        ["jobs", "--status", "finished"],
        ["jobs", "--metadata", "novalue"],
        ["get", "not-a-job-id"],
        ["frobnicate"],
    ],
)
def test_bad_arguments_exit_2_with_one_clear_line(
    emulator: Any, args: list[str], tmp_path: Path
) -> None:
    if args[:2] == ["transcribe", "x.wav"]:
        write_wav(tmp_path / "x.wav")
        args = ["transcribe", str(tmp_path / "x.wav"), *args[2:]]
    result = run(emulator, *args)
    assert result.returncode == 2
    assert result.stderr.strip(), "says what is wrong"
    assert "Traceback" not in result.stderr


def test_missing_key_is_a_usage_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GLADIA_API_KEY"}
    result = subprocess.run(
        [*CLI, "jobs"], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2 and "GLADIA_API_KEY" in result.stderr


def test_ctrl_c_keeps_finished_results_and_prints_a_summary(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    for i in range(30):
        write_wav(audio / f"c{i:02d}.wav", seconds=0.2)
    out = tmp_path / "out"
    with start_emulator_process(job_duration=0.5, latency=0.05) as emu:
        env = {**os.environ, "GLADIA_API_KEY": emu.api_key, "GLADIA_API_URL": emu.url}
        proc = subprocess.Popen(
            [*CLI, "transcribe", str(audio), "--out", str(out), "--concurrency", "2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not (out.exists() and any(out.glob("*.json"))):  # wait for a first result
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no result within 30 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    written = list(out.glob("*.json"))
    assert 1 <= len(written) < 30
    for path in written:
        assert json.loads(path.read_text())["status"] == "done", "complete files only"
    assert "interrupted" in stderr and "| 30 |" in stderr


def test_live_streams_a_wav_file_and_prints_final_transcripts(
    emulator: Any, tmp_path: Path
) -> None:
    wav = write_wav(tmp_path / "speech.wav", seconds=5.0)
    result = run(emulator, "live", str(wav))
    assert result.returncode == 0, result.stderr
    finals = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert len(finals) >= 2  # one per 2 s utterance of the emulator
    assert "session " in result.stdout
    assert "..." in result.stderr  # partial transcripts


def test_live_refuses_a_file_that_is_not_a_wav(emulator: Any, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.wav"
    bogus.write_text("not audio")
    result = run(emulator, "live", str(bogus))
    assert result.returncode == 2
    assert "FILE.wav" in result.stderr
