"""The command line, driven as a user drives it: through pipes, in a pseudo-terminal, with Ctrl-C.

Most tests run ``python -m gladia_async`` as a subprocess against an emulator (a process for
the module, or the in-process ``emu`` fixture when a test needs to count the requests made).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import fcntl
import json
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import anyio
import pytest

from gladia_async import (
    AuthenticationError,
    ConfigurationError,
    ConnectionFailed,
    GladiaTimeout,
    JobFailedError,
    NotFoundError,
    PermissionDeniedError,
    UnprocessableEntityError,
    __version__,
)
from gladia_async._cli.inputs import expand_sources, output_stems
from gladia_async._cli.messages import explain
from gladia_async._cli.parser import build_parser
from gladia_async._cli.resume import JOURNAL_NAME
from gladia_async._cli.transcribe import cancel_on_ctrl_c
from gladia_async.testing import FaultPlan, FaultRule, start_emulator_process

from ..conftest import write_wav

CLI = [sys.executable, "-m", "gladia_async"]
EMULATOR = [sys.executable, "-m", "gladia_async.testing"]
#: Advice only a Python caller can follow; a shell user must never be told these.
PYTHON_ADVICE = ("GladiaSession", "wait(", "api_key=", "base_url", "Timeouts.", "gladia_async.")


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    with start_emulator_process(job_duration=0.2) as proc:
        yield proc


def env_for(emulator: Any, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return {**env, "GLADIA_API_KEY": emulator.api_key, "GLADIA_API_URL": emulator.url, **extra}


def run(
    emulator: Any, *args: str, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env=env_for(emulator, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def arun(emu: Any, *args: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run the CLI against the in-process emulator without blocking its event loop."""
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        env=env_for(emu),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def one_clear_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    audio = tmp_path / "audio"
    audio.mkdir()
    for i in range(4):
        write_wav(audio / f"clip{i}.wav", seconds=0.5)
    return audio


# -- transcribe: what gets sent, where results go ---------------------------------------------


def test_transcribe_a_folder_sends_only_audio_and_video_and_says_what_it_skipped(
    emulator: Any, folder: Path, tmp_path: Path
) -> None:
    (folder / "notes.md").write_text("# not audio")
    (folder / "readme.txt").write_text("not audio")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / ".hidden").mkdir()
    write_wav(folder / ".hidden" / "secret.wav", seconds=0.2)
    (folder / "sub").mkdir()
    write_wav(folder / "sub" / "clip0.wav", seconds=0.2)
    out = tmp_path / "out"
    result = run(emulator, "transcribe", str(folder), "--out", str(out), "--subtitles", "srt,vtt")
    # Sending any of the skipped files would fail with a 422 and exit 1.
    assert result.returncode == 0, result.stderr
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json"))
    assert names == [f"clip{i}.json" for i in range(4)] + ["sub/clip0.json"]
    job = json.loads((out / "clip0.json").read_text())
    assert job["status"] == "done" and job["result"]["transcription"]["full_transcript"]
    assert job["file"]["filename"] == "clip0.wav", "clip0.json holds clip0.wav's result"
    assert len(list(out.rglob("*.srt"))) == 5 and len(list(out.rglob("*.vtt"))) == 5
    assert "skipped 4 entries" in result.stderr
    assert "2 not audio or video" in result.stderr and "1 hidden" in result.stderr
    assert "5 files: 5 done, 0 failed" in result.stderr, "plain summary when not a terminal"
    assert "|---|" not in result.stderr
    assert emulator.api_key not in result.stdout + result.stderr


def test_a_folder_with_nothing_to_send_is_a_usage_error(emulator: Any, tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("x")
    result = run(emulator, "transcribe", str(tmp_path))
    assert result.returncode == 2
    line = one_clear_line(result.stderr)
    assert "no audio or video files" in line and "1 not audio or video" in line


def test_a_rerun_overwrites_its_results_and_leaves_no_stale_files(
    emulator: Any, folder: Path, tmp_path: Path
) -> None:
    out = folder / "transcripts"  # inside the folder walked: never walked itself
    first = run(emulator, "transcribe", str(folder), "--out", str(out), "--subtitles", "srt")
    assert first.returncode == 0, first.stderr
    ids_before = {json.loads(p.read_text())["id"] for p in out.glob("*.json")}
    # Other options (no subtitles): the rerun would pay again, so it must be accepted.
    asked = run(emulator, "transcribe", str(folder), "--out", str(out))
    assert asked.returncode == 2 and "--accept-changed-options" in asked.stderr, asked.stderr
    second = run(emulator, "transcribe", str(folder), "--out", str(out), "--accept-changed-options")
    assert second.returncode == 0, second.stderr
    assert "skipped" not in second.stderr, "the results folder is not an input"
    results = sorted(p.name for p in out.iterdir() if not p.name.startswith(JOURNAL_NAME))
    assert results == [f"clip{i}.json" for i in range(4)]
    ids_after = {json.loads(p.read_text())["id"] for p in out.glob("*.json")}
    assert ids_after.isdisjoint(ids_before), "every file holds the second run's job"


def test_output_names_are_collision_free_and_do_not_depend_on_order() -> None:
    keys = {
        "a/call.wav": PurePosixPath("call.wav"),
        "a/call.mp3": PurePosixPath("call.mp3"),
        "b/call.wav": PurePosixPath("call.wav"),
        "a/sub/call.wav": PurePosixPath("sub/call.wav"),
        "a/meeting.wav": PurePosixPath("meeting.wav"),
    }
    names = output_stems(keys)
    assert len(set(names.values())) == len(keys), names
    assert names["a/meeting.wav"] == "meeting" and names["a/sub/call.wav"] == "sub/call"
    assert names["a/call.mp3"] == "call.mp3"
    assert names["a/call.wav"].startswith("call.wav-") and names["b/call.wav"].startswith(
        "call.wav-"
    )
    assert output_stems(dict(reversed(list(keys.items())))) == names
    assert output_stems({"x/../../etc.wav": PurePosixPath("../../etc.wav")}) == {
        "x/../../etc.wav": "etc"
    }, "a name never leaves --out"


def test_urls_are_named_after_their_last_path_segment() -> None:
    sources = expand_sources(
        [
            "https://cdn.example.com/calls/a%20b.mp3?sig=1",
            "https://example.com/",
            "https://x.io/a b.mp3",
        ]
    )
    names = sources.names
    assert names["https://example.com/"] == "audio"
    first, second = (
        names["https://cdn.example.com/calls/a%20b.mp3?sig=1"],
        names["https://x.io/a b.mp3"],
    )
    assert first != second and first.startswith("a b.mp3-") and second.startswith("a b.mp3-")


def test_same_named_files_in_one_folder_get_distinct_results(emulator: Any, tmp_path: Path) -> None:
    write_wav(tmp_path / "talk.wav", seconds=0.2)
    (tmp_path / "talk.mp3").write_bytes((tmp_path / "talk.wav").read_bytes())
    out = tmp_path / "out"
    result = run(
        emulator,
        "transcribe",
        str(tmp_path / "talk.wav"),
        str(tmp_path / "talk.mp3"),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    files = {json.loads(p.read_text())["file"]["filename"]: p.name for p in out.glob("*.json")}
    assert files == {"talk.wav": "talk.wav.json", "talk.mp3": "talk.mp3.json"}


def test_failed_files_exit_1_and_say_why_in_shell_terms(
    emulator: Any, folder: Path, tmp_path: Path
) -> None:
    fake = tmp_path / "fake.wav"
    fake.write_text("this is a text file, not a WAV")
    out = tmp_path / "out"
    result = run(emulator, "transcribe", str(folder / "clip0.wav"), str(fake), "--out", str(out))
    assert result.returncode == 1
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and str(fake) in failed[0]
    assert "not a readable audio or video file" in failed[0]
    assert "audio URL" not in failed[0], "the file was uploaded, no URL was involved"
    assert [p.name for p in out.glob("*.json")] == ["clip0.json"]


# -- checks before spending ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--language", "klingon"], "--language: 'klingon'"),
        (["--language", "en-US"], "did you mean en?"),
        (["--language", "fre"], "did you mean fr"),
        (["--subtitles", "pdf"], "--subtitles: 'pdf'"),
        (["--timeout", "-1"], "--timeout"),
        (["--timeout", "0"], "--timeout"),
        (["--timeout", "nan"], "--timeout"),
        (["--concurrency", "0"], "--concurrency"),
        (["--options-json", "{OPTIONS}"], "subtitles_config.formats[0]: 'pdf'"),
        (["--options-json", "{BADFIELD}"], "did you mean diarization?"),
    ],
)
async def test_bad_option_values_fail_before_any_request(
    emu: Any, tmp_path: Path, flags: list[str], expected: str
) -> None:
    wav = write_wav(tmp_path / "a.wav", seconds=0.2)
    (tmp_path / "opts.json").write_text('{"subtitles_config": {"formats": ["pdf"]}}')
    (tmp_path / "bad.json").write_text('{"diarisation": true}')
    flags = [
        f.replace("{OPTIONS}", str(tmp_path / "opts.json")).replace(
            "{BADFIELD}", str(tmp_path / "bad.json")
        )
        for f in flags
    ]
    code, _, stderr = await arun(emu, "transcribe", str(wav), "--out", str(tmp_path / "o"), *flags)
    assert code == 2
    assert expected.lower() in one_clear_line(stderr).lower()
    assert emu.stats.requests_total == 0, "nothing was sent"
    assert not (tmp_path / "o").exists()


async def test_language_codes_are_case_insensitive(emu: Any, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", seconds=0.2)
    out = tmp_path / "o"
    code, _, stderr = await arun(emu, "transcribe", str(wav), "--out", str(out), "--language", "EN")
    assert code == 0, stderr
    job = json.loads((out / "a.json").read_text())
    assert job["request_params"]["language_config"]["languages"] == ["en"]
    assert emu.stats.uploads == 1


async def test_a_refused_key_stops_before_any_upload(emu: Any, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", seconds=0.2)
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "transcribe",
        str(wav),
        "--out",
        str(tmp_path / "o"),
        env={**env_for(emu), "GLADIA_API_KEY": "wrong-key"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2, "a refused key is a usage error (docs/guides/cli.md)"
    line = one_clear_line(err.decode())
    assert "GLADIA_API_KEY" in line and "--api-key" in line
    assert not any(advice in line for advice in PYTHON_ADVICE)
    assert "wrong-key" not in err.decode(), "the key is never echoed"
    assert emu.stats.uploads == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize("command", [["transcribe", "{WAV}"], ["jobs"]])
def test_a_refused_connection_fails_fast_with_one_clear_line(
    tmp_path: Path, command: list[str]
) -> None:
    wav = write_wav(tmp_path / "a.wav", seconds=0.2)
    args = [str(wav) if a == "{WAV}" else a for a in command]
    env = {**os.environ, "GLADIA_API_KEY": "k", "GLADIA_API_URL": f"http://127.0.0.1:{free_port()}"}
    started = time.monotonic()
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert elapsed < 6, f"took {elapsed:.1f}s; the SDK's default retries take 11-13 s"
    errors = [line for line in result.stderr.splitlines() if "could not connect" in line]
    assert errors and "GLADIA_API_URL" in errors[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "url", ["not a url", "localhost:8080", "ftp://example.com", "http://[::1", "http://h:99999"]
)
def test_a_malformed_api_url_is_one_line_naming_the_variable(tmp_path: Path, url: str) -> None:
    env = {**os.environ, "GLADIA_API_KEY": "k", "GLADIA_API_URL": url}
    result = subprocess.run([*CLI, "jobs"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    line = one_clear_line(result.stderr)
    assert "GLADIA_API_URL" in line and not any(advice in line for advice in PYTHON_ADVICE)
    flag = subprocess.run(
        [*CLI, "jobs", "--api-url", url], env=env, capture_output=True, text=True, timeout=30
    )
    assert flag.returncode == 2 and "--api-url" in one_clear_line(flag.stderr)


@pytest.mark.parametrize(
    "args",
    [
        ["transcribe", "/nonexistent/file.wav"],
        ["jobs", "--after", "yesterday"],
        ["jobs", "--status", "finished"],
        ["jobs", "--metadata", "novalue"],
        ["jobs", "--limit", "-1"],
        ["get", "not-a-job-id"],
        ["delete", "not-a-job-id"],
        ["delete", "45463597-20b7-4af7-b3b3-f5fb778203ab", "nope"],
        ["download", "not-a-job-id", "--out", "x.wav"],
        ["frobnicate"],
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(emulator: Any, args: list[str]) -> None:
    result = run(emulator, *args)
    assert result.returncode == 2
    assert result.stderr.strip(), "says what is wrong"
    assert "Traceback" not in result.stderr


def test_missing_key_is_a_usage_error_said_for_the_shell(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GLADIA_API_KEY"}
    result = subprocess.run([*CLI, "jobs"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    line = one_clear_line(result.stderr)
    assert "GLADIA_API_KEY" in line and "--api-key" in line and "gladia-async emulator" in line
    assert not any(advice in line for advice in PYTHON_ADVICE)


async def test_a_job_not_finished_in_time_says_how_to_check_it_later(
    emu: Any, tmp_path: Path
) -> None:
    emu.emulator.job_duration = 60
    wav = write_wav(tmp_path / "a.wav", seconds=0.2)
    code, _, stderr = await arun(
        emu, "transcribe", str(wav), "--timeout", "1", "--out", str(tmp_path / "o")
    )
    assert code == 1
    failed = [line for line in stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1
    assert "gladia-async get " in failed[0] and "--timeout" in failed[0]
    assert not any(advice in failed[0] for advice in PYTHON_ADVICE)


async def test_a_timeout_prints_the_pending_job_ids_and_a_rerun_adopts_them(
    emu: Any, tmp_path: Path
) -> None:
    emu.emulator.job_duration = 3
    wav = write_wav(tmp_path / "a.wav", seconds=0.2)
    args = ("transcribe", str(wav), "--out", str(tmp_path / "o"))
    code, _, stderr = await arun(emu, *args, "--timeout", "0.5")
    assert code == 1
    [job_id] = list(emu.emulator.jobs)
    assert f"1 jobs still pending: {job_id}" in stderr
    assert "run the same command again to resume" in stderr
    code, _, stderr = await arun(emu, *args)
    assert code == 0, stderr
    assert "1 adopted" in stderr
    assert list(emu.emulator.jobs) == [job_id], "the pending job was polled, not created again"


async def test_no_journal_keeps_nothing_in_the_output_folder(emu: Any, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", seconds=0.2)
    out = tmp_path / "o"
    code, _, stderr = await arun(emu, "transcribe", str(wav), "--out", str(out), "--no-journal")
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.json"]


@pytest.mark.parametrize(
    "error",
    [
        ConfigurationError("no API key: pass GladiaSession(api_key=...) or set GLADIA_API_KEY"),
        AuthenticationError(status=401, message="invalid gladia key"),
        UnprocessableEntityError(status=422, message="bad", path="/v2/upload"),
        UnprocessableEntityError(status=422, message="bad", path="/v2/pre-recorded"),
        NotFoundError(status=404, message="not found"),
        PermissionDeniedError(status=403, message="still processing"),
        GladiaTimeout("job x not finished after 3s; wait for it later with GladiaSession.wait()"),
        ConnectionFailed("could not connect to http://h:1 (E); check base_url and the network"),
        JobFailedError("45463597-20b7-4af7-b3b3-f5fb778203ab", 500),
    ],
)
def test_every_sdk_error_is_explained_without_python_advice(error: Exception) -> None:
    text = explain(error, job_id="45463597-20b7-4af7-b3b3-f5fb778203ab")
    assert not any(advice in text for advice in PYTHON_ADVICE), text
    assert "\n" not in text
    assert any(hint in text for hint in ("--", "GLADIA_", "gladia-async", "ffmpeg")), "what to do"


# -- jobs, get, delete, download ---------------------------------------------------------------


def test_jobs_get_delete_download(emulator: Any, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(emulator, "transcribe", str(folder / "clip0.wav"), "--out", str(out)).returncode == 0
    job_id = json.loads((out / "clip0.json").read_text())["id"]

    listing = run(emulator, "jobs", "--json", "--status", "done", "--limit", "500")
    assert listing.returncode == 0, listing.stderr
    ids = [json.loads(line)["id"] for line in listing.stdout.splitlines()]
    assert job_id in ids

    table = run(emulator, "jobs", "--limit", "2")
    assert table.returncode == 0 and len(table.stdout.splitlines()) == 3  # header + 2 rows
    header, newest = table.stdout.splitlines()[:2]
    assert header.split()[-1] == "file"
    assert newest.startswith(job_id) and newest.rstrip().endswith("clip0.wav"), "file-name column"

    got = run(emulator, "get", job_id)
    assert got.returncode == 0 and json.loads(got.stdout)["id"] == job_id

    dest = tmp_path / "back.wav"
    downloaded = run(emulator, "download", job_id, "--out", str(dest))
    assert downloaded.returncode == 0, downloaded.stderr
    assert dest.read_bytes() == (folder / "clip0.wav").read_bytes()

    deleted = run(emulator, "delete", job_id)
    assert deleted.returncode == 0 and f"deleted {job_id}" in deleted.stdout
    gone = run(emulator, "get", job_id)
    assert gone.returncode == 1
    line = one_clear_line(gone.stderr)
    assert job_id in line and "gladia-async jobs" in line


@pytest.mark.parametrize("command", [["jobs"], ["get", "{ID}"], ["languages"]])
def test_a_pipe_closed_early_ends_quietly(emulator: Any, folder: Path, command: list[str]) -> None:
    out = folder.parent / "out"
    assert run(emulator, "transcribe", str(folder / "clip1.wav"), "--out", str(out)).returncode == 0
    job_id = json.loads((out / "clip1.json").read_text())["id"]
    args = [job_id if a == "{ID}" else a for a in command]
    proc = subprocess.Popen(
        [*CLI, *args], env=env_for(emulator), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head` exiting before the first line is written
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141
    assert stderr == "", stderr


def test_a_long_listing_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    # 1500 rows are more than a pipe buffers: the writer is still writing when head exits.
    with start_emulator_process(seed_jobs=1500) as emu:
        result = subprocess.run(
            f'{" ".join(CLI)} jobs | head -3; echo "status=${{PIPESTATUS[0]}}" >&2',
            shell=True,
            executable="/bin/bash",
            env=env_for(emu),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert len(result.stdout.splitlines()) == 3
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
    assert "status=141" in result.stderr, result.stderr


# -- help, version ---------------------------------------------------------------------------


def test_version_and_help() -> None:
    version = subprocess.run([*CLI, "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and f"gladia-async {__version__}" in version.stdout
    helped = subprocess.run([*CLI, "--help"], capture_output=True, text=True, timeout=30)
    assert helped.returncode == 0
    for code in ("0 ", "1 ", "2 ", "130", "141"):
        assert f"\n  {code}" in helped.stdout, f"exit code {code} documented"
    assert "GLADIA_API_KEY" in helped.stdout and "GLADIA_API_URL" in helped.stdout


def _all_actions(parser: argparse.ArgumentParser, name: str) -> Iterator[tuple[str, Any]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _all_actions(sub, f"{name} {sub_name}")
        else:
            yield name, action


def test_every_option_has_help_text() -> None:
    missing = [
        f"{command} {action.dest}"
        for command, action in _all_actions(build_parser(), "gladia-async")
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert missing == []


# -- the emulator command line -------------------------------------------------------------------


def _options_of(help_text: str) -> set[str]:
    return set(re.findall(r"(--[a-z][a-z-]+)", help_text)) - {"--help"}


def test_both_emulator_commands_share_one_option_set() -> None:
    ours = subprocess.run([*CLI, "emulator", "--help"], capture_output=True, text=True, timeout=30)
    theirs = subprocess.run([*EMULATOR, "--help"], capture_output=True, text=True, timeout=30)
    assert ours.returncode == theirs.returncode == 0
    assert _options_of(ours.stdout) == _options_of(theirs.stdout)
    assert {"--faults", "--seed-jobs", "--queue-delay", "--api-key"} <= _options_of(ours.stdout)


def _start(args: list[str]) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(2)]
    return proc, lines


@pytest.mark.parametrize(
    ("command", "key_args", "key"),
    [([*CLI, "emulator"], [], "test-key"), (EMULATOR, ["--api-key", "my-key"], "my-key")],
)
def test_the_emulator_prints_its_url_and_the_real_key(
    command: list[str], key_args: list[str], key: str
) -> None:
    proc, lines = _start([*command, "--port", "0", "--seed-jobs", "3", *key_args])
    try:
        url = lines[0].split()[-1]
        assert url.startswith("http://127.0.0.1:"), lines
        assert lines[1].strip() == f"API key: {key}"
        env = {**os.environ, "GLADIA_API_KEY": key, "GLADIA_API_URL": url}
        listing = subprocess.run(
            [*CLI, "jobs", "--json"], env=env, capture_output=True, text=True, timeout=30
        )
        assert listing.returncode == 0 and len(listing.stdout.splitlines()) == 3
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


@pytest.mark.parametrize("command", [[*CLI, "emulator"], EMULATOR])
def test_the_emulator_on_a_busy_port_says_so_in_one_line(command: list[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*command, "--port", str(port)], capture_output=True, text=True, timeout=30
        )
    assert result.returncode == 1
    line = one_clear_line(result.stderr)
    assert f"port {port} is in use" in line and "--port" in line


@pytest.mark.parametrize("command", [[*CLI, "emulator"], EMULATOR])
def test_the_emulator_with_an_unreadable_fault_plan_says_so_in_one_line(
    command: list[str], tmp_path: Path
) -> None:
    (tmp_path / "plan.json").write_text('{"rules": [{"kind": "meteor"}]}')
    cases = [(tmp_path / "missing.json", "cannot read"), (tmp_path / "plan.json", "not a fault")]
    for plan, expected in cases:
        result = subprocess.run(
            [*command, "--port", "0", "--faults", str(plan)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 1
        assert expected in one_clear_line(result.stderr)


@pytest.mark.parametrize("command", [[*CLI, "emulator"], EMULATOR])
def test_the_emulator_refuses_a_port_out_of_range(command: list[str]) -> None:
    result = subprocess.run(
        [*command, "--port", "99999"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--port: 99999 is not a port" in result.stderr.splitlines()[-1]


# -- retries, progress, summary, Ctrl-C -----------------------------------------------------------


@pytest.mark.parametrize("terminal", [False, True])
def test_retries_are_shown_while_the_network_fails(tmp_path: Path, terminal: bool) -> None:
    wav = write_wav(tmp_path / "a.wav", seconds=0.2)
    plan = FaultPlan(
        rules=[FaultRule(route="GET /v2/pre-recorded/*", status=503, sequence=[True, True])]
    )
    args = [*CLI, "transcribe", str(wav), "--out", str(tmp_path / "o")]
    with start_emulator_process(job_duration=0.1, faults=plan) as emu:
        if terminal:
            code, output = run_in_pty(args, env_for(emu))
            output = "\n".join(_screen_lines(output))
        else:
            result = subprocess.run(
                args, env=env_for(emu), capture_output=True, text=True, timeout=60
            )
            code, output = result.returncode, result.stderr
    assert code == 0, output
    assert "retrying: server error" in output


def _strip_ansi(text: str) -> str:
    text = re.sub(r"\x1b\][^\x07\x1b]*(\x07|\x1b\\)", "", text)  # OSC (titles, links)
    return re.sub(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[=>78]", "", text)


def run_in_pty(
    args: list[str],
    env: dict[str, str],
    *,
    cols: int = 80,
    rows: int = 24,
    interrupt_when: Callable[[str], bool] | None = None,
    timeout: float = 90,
) -> tuple[int, str]:
    """Run ``args`` on a pseudo-terminal of ``cols`` x ``rows``; return (exit code, output).

    ``interrupt_when(output_so_far)`` returning true types Ctrl-C once, as a user would.
    """
    pid, fd = pty.fork()
    if pid == 0:  # the child: size its terminal before the program looks at it
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.execvpe(args[0], args, {**env, "TERM": "xterm-256color"})
    chunks: list[bytes] = []
    interrupted = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    data = os.read(fd, 65536)
                except OSError as exc:  # EIO: the child closed the terminal
                    if exc.errno != errno.EIO:
                        raise
                    break
                if not data:
                    break
                chunks.append(data)
            if interrupt_when and not interrupted:
                if interrupt_when(b"".join(chunks).decode(errors="replace")):
                    os.write(fd, b"\x03")
                    interrupted = True
        else:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError("the command did not finish in time")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


def _screen_lines(output: str) -> list[str]:
    return [seg for seg in re.split(r"\r\n|\n|\r", _strip_ansi(output)) if seg.strip()]


@pytest.mark.parametrize("cols", [80, 50])
def test_on_a_terminal_the_progress_fits_and_the_summary_is_a_table(
    emulator: Any, folder: Path, tmp_path: Path, cols: int
) -> None:
    out = tmp_path / "out"
    (folder / "notes.md").write_text("skipped, with a note")
    fake = tmp_path / "fake [1].wav"
    fake.write_text("not audio: fails, and the failure is listed")
    code, output = run_in_pty(
        [*CLI, "transcribe", str(folder), str(fake), "--out", str(out)],
        env_for(emulator),
        cols=cols,
    )
    assert code == 1, output
    lines = _screen_lines(output)
    too_wide = [line for line in lines if len(line) > cols]
    assert too_wide == [], f"wider than {cols} columns"
    progress = [line for line in lines if "5/5" in line]
    assert progress, "the progress bar was drawn"
    assert re.search(r"\d:\d\d:\d\d", progress[-1]), "the elapsed time is not cut off"
    assert "━━━━━━" in progress[-1], "the bar itself keeps its room"
    assert any("┃" in line or "│" in line for line in lines), "a drawn table"
    assert not any(line.startswith("|") for line in lines), "no raw Markdown"
    table = "\n".join(lines)
    assert "files" in table and "done" in table and "failed" in table
    assert "skipped 1 entry" in table
    first_column = "".join(line.split("│")[1].strip() for line in lines if line.count("│") == 3)
    assert "fake[1].wav" in first_column.replace(" ", ""), "file names are not markup"
    assert "[request_id" in table.replace("│", ""), "request ids are not markup"


def test_ctrl_c_in_a_terminal_keeps_finished_results_and_prints_a_summary(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    for i in range(30):
        write_wav(audio / f"c{i:02d}.wav", seconds=0.2)
    out = tmp_path / "out"
    with start_emulator_process(job_duration=0.5, latency=0.05) as emu:
        code, output = run_in_pty(
            [*CLI, "transcribe", str(audio), "--out", str(out), "--concurrency", "2"],
            env_for(emu),
            interrupt_when=lambda _: out.exists() and any(out.glob("*.json")),
        )
        assert code == 130, output
        written = list(out.glob("*.json"))
        assert 1 <= len(written) < 30
        for path in written:
            assert json.loads(path.read_text())["status"] == "done", "complete files only"
        leftovers = [p for p in out.glob(".*") if not p.name.startswith(JOURNAL_NAME)]
        assert not leftovers, "no temporary files left"
        text = "\n".join(_screen_lines(output))
        assert "interrupted" in text and "Traceback" not in text
        assert re.search(r"│\s*30\s*│", text), "the summary counts all 30 files"
        assert "run the same command again to resume" in text
        pending = re.search(r"(\d+) jobs still pending: ([0-9a-f -]+)", text.replace("\n", " "))
        assert pending is not None, "the pending job ids are printed"
        # Running the same command again finishes the batch without paying twice.
        again = run(emu, "transcribe", str(audio), "--out", str(out), "--concurrency", "2")
        assert again.returncode == 0, again.stderr
        assert re.search(r"resumed: [1-9]\d* skipped", again.stderr), again.stderr
        assert len(list(out.glob("*.json"))) == 30
        listed = run(emu, "jobs", "--json")
        tokens = [
            json.loads(line)["custom_metadata"]["gladia_async_token"]
            for line in listed.stdout.splitlines()
        ]
        assert len(tokens) == len(set(tokens)) == 30, "one job per file, none created twice"


def test_ctrl_c_through_a_pipe_prints_the_plain_summary(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    for i in range(30):
        write_wav(audio / f"c{i:02d}.wav", seconds=0.2)
    out = tmp_path / "out"
    with start_emulator_process(job_duration=0.5, latency=0.05) as emu:
        proc = subprocess.Popen(
            [*CLI, "transcribe", str(audio), "--out", str(out), "--concurrency", "2"],
            env=env_for(emu),
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
    summary = re.search(r"^30 files: (\d+) done", stderr, re.M)
    assert "interrupted" in stderr and summary, stderr
    assert int(summary.group(1)) == len(list(out.glob("*.json"))), "counts exactly what it kept"


def test_a_second_ctrl_c_aborts_a_stop_that_hangs() -> None:
    """The first Ctrl-C stops cleanly; if stopping hangs, a second one ends the program."""

    async def run_batch() -> None:
        with anyio.CancelScope() as scope, cancel_on_ctrl_c(scope):
            os.kill(os.getpid(), signal.SIGINT)
            try:
                await anyio.sleep_forever()  # the batch, cancelled by the first Ctrl-C
            finally:
                assert scope.cancel_called
                # A clean-up that never ends, bounded so a broken handler fails the test.
                with anyio.CancelScope(shield=True, deadline=anyio.current_time() + 10):
                    os.kill(os.getpid(), signal.SIGINT)
                    await anyio.sleep_forever()

    with pytest.raises(KeyboardInterrupt):
        anyio.run(run_batch)


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
