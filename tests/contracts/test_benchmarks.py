"""The benchmarks hook into private names of the SDK: a rename must fail here, not mid-run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_live_benchmark_finds_what_it_instruments() -> None:
    # In a child process: the instrumentation patches the live session's classes for good.
    code = "from benchmarks import bench_live; bench_live._instrument()"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
