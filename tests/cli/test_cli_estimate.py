"""``gladia-async estimate`` and the estimate ``transcribe`` checks first: no key, no request."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from ..audio_headers import sparse_wav
from ..conftest import write_wav
from .test_cli import CLI, arun


async def run_without_key(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLADIA_")}
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_estimate_of_a_folder_of_three_ten_minute_wavs_says_thirty_minutes(
    tmp_path: Path,
) -> None:
    for i in range(3):
        sparse_wav(tmp_path / f"part{i}.wav", 600)
    code, out, err = await run_without_key("estimate", str(tmp_path))
    assert code == 0, err
    assert "Total: 3 files, 30 min of audio, up to 0.50 billed hours." in out
    assert "Traceback" not in err


async def test_estimate_json_for_scripts(tmp_path: Path) -> None:
    sparse_wav(tmp_path / "stereo.wav", 1800, channels=2)
    sparse_wav(tmp_path / "long.wav", 140 * 60)
    (tmp_path / "noise.mp3").write_bytes(b"\x00" * 1000)
    code, out, _ = await run_without_key("estimate", str(tmp_path), "--json")
    data = json.loads(out)
    assert code == 1, "a file over the limits makes the exit code 1"
    assert data["files"] == 3
    assert data["duration_seconds"] == 1800 + 8400
    assert data["billed_hours"] == round((1800 * 2 + 8400) / 3600, 4), "stereo counts twice"
    assert [Path(s).name for s in data["unknown_duration"]] == ["noise.mp3"]
    assert [Path(o["source"]).name for o in data["over_limits"]] == ["long.wav"]


async def test_enterprise_allows_four_hours_fifteen(tmp_path: Path) -> None:
    sparse_wav(tmp_path / "long.wav", 140 * 60)
    code, out, _ = await run_without_key("estimate", str(tmp_path), "--enterprise", "--json")
    assert code == 0 and json.loads(out)["over_limits"] == []


async def test_transcribe_of_a_140_minute_wav_sends_nothing_and_names_the_limit(
    emu: Any, tmp_path: Path
) -> None:
    long_wav = sparse_wav(tmp_path / "long.wav", 140 * 60)
    code, _, err = await arun(emu, "transcribe", str(long_wav), "--out", str(tmp_path / "out"))
    assert code == 2, err
    assert "Traceback" not in err
    assert "135 minutes" in err and "long.wav" in err
    assert emu.stats.requests_total == 0


async def test_transcribe_prints_the_estimate_first(emu: Any, tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", seconds=1.0)
    code, _, err = await arun(
        emu, "transcribe", str(tmp_path / "a.wav"), "--out", str(tmp_path / "o")
    )
    assert code == 0, err
    assert "estimate: 1 file, 1.0 s of audio" in err


async def test_max_hours_refuses_a_batch_over_budget(emu: Any, tmp_path: Path) -> None:
    for i in range(3):
        sparse_wav(tmp_path / f"part{i}.wav", 600)
    code, _, err = await arun(
        emu, "transcribe", str(tmp_path), "--out", str(tmp_path / "o"), "--max-hours", "0.4"
    )
    assert code == 2, err
    assert "0.50 billed hours" in err and "--max-hours 0.4" in err
    assert emu.stats.requests_total == 0
