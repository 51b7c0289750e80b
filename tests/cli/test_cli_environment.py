"""The command line in a careless user's environment: closed or full output, unwritable folders,
over-long file names. Each ends with a documented exit code and at most one clear line, never
a traceback, and a result that cannot be written is refused before anything is spent.

The CLI runs as a subprocess (through ``sh`` where a descriptor must be closed) against the
in-process emulator, whose recorded requests prove what was sent.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from ..conftest import write_wav

pytestmark = pytest.mark.reliability

CLI = [sys.executable, "-m", "gladia_async"]


async def run_cli(emu: Any, *args: str, redirect: str = "") -> tuple[int, str, str]:
    """Run the CLI with ``redirect`` applied by a shell (``>&-``, ``2>&-``, ``>/dev/full``)."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")},
        "GLADIA_API_KEY": emu.api_key,
        "GLADIA_API_URL": emu.url,
    }
    proc = await asyncio.create_subprocess_exec(
        "sh",
        "-c",
        f'exec "$@" {redirect}',
        "sh",
        *CLI,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def one_clear_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


def _spent(emu: Any) -> list[str]:
    return [f"{r.method} {r.path}" for r in emu.emulator.requests if r.method != "GET"]


@pytest.mark.parametrize(
    ("args", "redirect", "said"),
    [
        (["languages"], ">&-", "stdout is closed"),
        (["languages"], ">/dev/full", "No space left on device"),
        (["--help"], ">/dev/full", "No space left on device"),
        (["jobs"], ">&-", "stdout is closed"),
    ],
)
async def test_output_that_cannot_be_written_is_one_line_and_exit_1(
    emu: Any, args: list[str], redirect: str, said: str
) -> None:
    if redirect == ">/dev/full" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    code, _, stderr = await run_cli(emu, *args, redirect=redirect)
    line = one_clear_line(stderr)
    assert code == 1, stderr
    assert said in line and line.startswith("gladia-async: error:"), line


async def test_a_closed_stderr_still_transcribes(emu: Any, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", seconds=0.2)
    out = tmp_path / "o"
    code, stdout, _ = await run_cli(emu, "transcribe", str(wav), "--out", str(out), redirect="2>&-")
    assert code == 0, stdout
    assert (out / "a.json").is_file(), "the result was written"
    journal = out / ".gladia-batch.journal"
    assert journal.is_file() and b"Traceback" not in journal.read_bytes()[:4096]


def _read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write into (root ignores permission bits: use /sys)."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    for candidate in (Path("/sys/kernel"), Path("/proc/1")):
        try:
            fd, probe = tempfile.mkstemp(dir=candidate)
        except OSError:
            return candidate
        os.close(fd)
        os.unlink(probe)
    pytest.skip("running as root with no read-only folder at hand")


@pytest.mark.parametrize("case", ["read-only", "under a file", "subfolder is a file"])
async def test_an_out_that_cannot_take_the_results_is_refused_before_any_request(
    emu: Any, tmp_path: Path, case: str
) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    wav = write_wav(src / "sub" / "a.wav", seconds=0.2)
    if case == "read-only":
        out = _read_only_folder(tmp_path)
    elif case == "under a file":
        (tmp_path / "FILE").write_text("x")
        out = tmp_path / "FILE" / "sub"
    else:
        out = tmp_path / "o"
        out.mkdir()
        (out / "sub").write_text("x")  # sub/a.wav's result belongs in out/sub/
    before = len(emu.emulator.requests)
    code, _, stderr = await run_cli(emu, "transcribe", str(src), "--out", str(out), "--no-journal")
    line = one_clear_line(stderr)
    assert code == 2, stderr
    assert line.startswith("gladia-async: error: --out"), line
    assert len(emu.emulator.requests) == before, "nothing was sent"
    assert wav.exists()


async def test_a_source_name_too_long_for_its_result_is_written_under_a_shorter_name(
    emu: Any, tmp_path: Path
) -> None:
    name = "b" * 240
    wav = write_wav(tmp_path / f"{name}.wav", seconds=0.2)
    out = tmp_path / "o"
    code, _, stderr = await run_cli(emu, "transcribe", str(wav), "--out", str(out), "--no-journal")
    assert code == 0, stderr
    assert "Traceback" not in stderr
    (result,) = out.iterdir()
    assert result.suffix == ".json" and result.name.startswith("b" * 100), result.name
    assert len(os.fsencode(result.name)) <= 255 - 19, "room for the temporary name it is written as"
    assert len(emu.emulator.jobs) == 1
    # Deterministic: a rerun overwrites the same file instead of adding one.
    code, _, stderr = await run_cli(emu, "transcribe", str(wav), "--out", str(out), "--no-journal")
    assert code == 0, stderr
    assert [p.name for p in out.iterdir()] == [result.name]
