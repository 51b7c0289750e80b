"""parse: a large finished job's JSON into typed objects: ours vs the official SDK vs json.loads.

Delegates to ``benchmarks/bench_parse.py`` (its ``measure``) and ``benchmarks/_fixtures.py``
(``make_large_job()``: a 3.6-hour, 30,000-word job with translation, ~6.5 MB of JSON); this
module adds the official SDK and the goals. Contenders:

* ``json.loads`` (the floor every parser pays at least once, the baseline);
* ``orjson.loads`` (for reference);
* ours: ``gladia_async._schema.converter.loads(raw, TranscriptionJob)`` (orjson + cattrs, unknown
  keys kept, the cyclic GC left alone), and ``loads_or_raise(raw, TranscriptionJob)``, what
  ``GladiaSession.get()`` runs (``_http.bodies.decode``: the same plus error mapping);
* official: ``PreRecordedV2Response.from_dict(json.loads(raw))`` (what its ``get()`` runs:
  httpx's ``response.json()`` then dataclasses-json). Limited to few repetitions when slow.
"""

from __future__ import annotations

import gc
import json
import time
from typing import Any

from . import _official
from ._common import OFFICIAL, OURS, CaseResult, run_case_cli

JSON = "json.loads"
ORJSON = "orjson.loads"
OURS_TRANSPORT = "ours, transport path (loads_or_raise)"


def run(quick: bool = False) -> CaseResult:
    result = CaseResult(
        "parse",
        "Parsing a large finished job",
        "",
    )
    try:
        import orjson

        from gladia_async._schema.converter import loads, loads_or_raise
        from gladia_async._schema.models import TranscriptionJob

        from ._fixtures import make_large_job
        from .bench_parse import measure
    except ImportError as exc:  # the other helper's files, or the models, not there yet
        result.setup = "skipped"
        result.notes.append(f"skipped: {exc}")
        return result

    hours, words = (0.6, 5_000) if quick else (3.6, 30_000)
    repeat = 3 if quick else 7
    raw = orjson.dumps(make_large_job(hours=hours, words=words))
    result.setup = (
        f"a finished {hours} h job, {words:,} words + translation, {len(raw) / 1e6:.1f} MB of "
        f"JSON (`benchmarks._fixtures.make_large_job`), from bytes to objects; "
        f"`benchmarks.bench_parse.measure` (warm-up, gc.collect() before each run), {repeat} runs."
    )
    cases: list[tuple[str, Any]] = [
        (JSON, lambda: json.loads(raw)),
        (ORJSON, lambda: orjson.loads(raw)),
        (OURS, lambda: loads(raw, TranscriptionJob)),
        (OURS_TRANSPORT, lambda: loads_or_raise(raw, TranscriptionJob)),
    ]
    for name, fn in cases:
        result.add(
            name, "parse time", "s", [ms / 1000 for ms in measure(fn, repeat)], baseline=JSON
        )
    if _official.available():
        from gladiaio_sdk.v2.prerecorded.generated_types import PreRecordedV2Response

        def official() -> Any:
            return PreRecordedV2Response.from_dict(json.loads(raw))

        gc.collect()
        start = time.perf_counter()
        official()  # warm-up, timed to choose the number of runs
        first = time.perf_counter() - start
        runs = repeat if first < 1 else (3 if first < 10 else 1)
        samples = [ms / 1000 for ms in _measure_no_warmup(official, runs)]
        note = f"{runs} runs" if runs < repeat else ""
        result.add(OFFICIAL, "parse time", "s", samples, baseline=JSON, note=note)
    else:
        result.notes.append(f"gladiaio-sdk {_official.NOT_INSTALLED}")
    # Issue 10: 1.6x, with unknown keys kept and without switching the cyclic GC off.
    result.goal("ours <= 1.1x json.loads", result.ratio(OURS, "parse time", JSON), 1.1)
    result.goal(
        "ours, transport path <= 1.1x json.loads",
        result.ratio(OURS_TRANSPORT, "parse time", JSON),
        1.1,
    )
    speedup = result.ratio(OFFICIAL, "parse time", OURS)
    result.goal("ours >= 10x faster than gladiaio-sdk (official / ours)", speedup, 10, kind=">=")
    return result


def _measure_no_warmup(fn: Any, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


if __name__ == "__main__":
    run_case_cli("bench_parse_sdk", run)
