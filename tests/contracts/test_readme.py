"""The README's complete examples run as written, against the emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gladia_async.testing import start_emulator_process

from ..conftest import write_wav

README = Path(__file__).resolve().parents[2] / "README.md"
PROGRAMS = [
    block
    for block in re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    if block.startswith("import asyncio")
]


def test_readme_has_runnable_programs() -> None:
    assert len(PROGRAMS) >= 2


@pytest.mark.parametrize("program", PROGRAMS, ids=[f"program{i}" for i in range(len(PROGRAMS))])
def test_readme_program_runs(program: str, tmp_path: Path) -> None:
    write_wav(tmp_path / "call.wav")
    with start_emulator_process(job_duration=0.1) as emu:
        env = {**os.environ, "GLADIA_API_KEY": emu.api_key, "GLADIA_API_URL": emu.url}
        result = subprocess.run(
            [sys.executable, "-c", program],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), "the example prints its transcript"


def test_readme_examples_type_check_strictly(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    files = []
    for n, block in enumerate(blocks):
        path = tmp_path / f"readme_example_{n}.py"
        path.write_text(block)
        files.append(str(path))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *files],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout
