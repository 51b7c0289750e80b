"""Parse benchmark: a 3.6-hour, 2-speaker finished job (~30,000 words, ~6.5 MB of JSON).

Run from the repository root::

    python benchmarks/bench_parse.py [--repeat 7]

Measures, in one process, ``json.loads`` (the baseline), ``orjson.loads`` and
``_schema.converter.loads(raw, TranscriptionJob)`` (orjson + cattrs structuring into the
typed models), and prints a Markdown table: median, min and max in ms, and the median's ratio
to ``json.loads``. The bar is ours <= 1.6x ``json.loads`` (issue 10), unknown keys kept.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from benchmarks._fixtures import make_large_job
from gladia_async._schema.converter import loads, structure
from gladia_async._schema.models import TranscriptionJob


def measure(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm-up (first call also builds any lazily generated code)
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _loads_gc_off(raw: bytes) -> TranscriptionJob:
    """``loads`` with the cyclic GC switched off around it, to show what the GC costs.

    The converter does not do this itself (a process-wide switch is not a library's to flip);
    an application that parses huge jobs in a batch script may.
    """
    gc.disable()
    try:
        return loads(raw, TranscriptionJob)
    finally:
        gc.enable()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)

    raw = orjson.dumps(make_large_job())
    job = loads(raw, TranscriptionJob)
    assert job.result is not None and job.result.transcription is not None
    n_words = sum(len(u.words) for u in job.result.transcription.utterances)
    del job  # measure every parser against the same heap
    parsed = orjson.loads(raw)

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("`json.loads`", lambda: json.loads(raw)),
        ("`orjson.loads`", lambda: orjson.loads(raw)),
        ("`loads(raw, TranscriptionJob)`", lambda: loads(raw, TranscriptionJob)),
        ("(info) same, GC switched off by the caller", lambda: _loads_gc_off(raw)),
        ("(info) structure only", lambda: structure(parsed, TranscriptionJob)),
    ]
    results = {name: measure(fn, args.repeat) for name, fn in cases}
    baseline = statistics.median(results["`json.loads`"])
    baseline_min = min(results["`json.loads`"])

    print(
        f"Payload: {len(raw) / 1e6:.2f} MB, {n_words:,} words (+ translation), "
        f"Python {sys.version.split()[0]}, {args.repeat} runs each\n"
    )
    print("| parser | median ms | min ms | max ms | vs json.loads (median) | (min) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, times in results.items():
        median = statistics.median(times)
        print(
            f"| {name} | {median:.1f} | {min(times):.1f} | {max(times):.1f} "
            f"| {median / baseline:.2f}x | {min(times) / baseline_min:.2f}x |"
        )
    ours = statistics.median(results["`loads(raw, TranscriptionJob)`"]) / baseline
    print(f"\nBar (ours <= 1.6x json.loads): {'met' if ours <= 1.6 else 'NOT met'} ({ours:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
