"""overhead: client CPU per request. N x ``get(job_id)`` at concurrency 50, loopback, no latency.

The emulator runs in its own process, so ``time.process_time()`` of this process is the
client's CPU alone: HTTP machinery, JSON decoding and (for the SDKs) building typed models.
All contenders are open at once in one event loop and take turns batch by batch (``BATCH``
requests each, the order rotating), so a load change on a shared machine hits them alike; each
round reports one CPU-per-request figure per contender, after a warm-up.
"""

from __future__ import annotations

import asyncio
import gc
import shutil
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from . import _official, instructions
from ._common import OFFICIAL, OURS, RAW, CaseResult, run_case_cli
from ._raw import RawClient

CONCURRENCY = 50
SEEDED_JOBS = 200
BATCH = 250


async def _drive(get: Callable[[str], Awaitable[Any]], ids: list[str], total: int) -> None:
    """``total`` calls of ``get`` spread over ``CONCURRENCY`` workers, cycling over ``ids``."""
    per_worker, extra = divmod(total, CONCURRENCY)

    async def worker(w: int) -> None:
        n = per_worker + (1 if w < extra else 0)
        for i in range(n):
            await get(ids[(w + i * CONCURRENCY) % len(ids)])

    await asyncio.gather(*(worker(w) for w in range(CONCURRENCY)))


Get = Callable[[str], Awaitable[Any]]


async def _open(name: str, url: str, key: str, stack: AsyncExitStack) -> Get:
    """Open contender ``name``'s client on ``stack``; return its ``get``."""
    if name == RAW:
        raw = await stack.enter_async_context(RawClient(url, key, limit=CONCURRENCY))
        return raw.get
    if name == OURS:
        from gladia_async import GladiaSession

        session = GladiaSession(api_key=key, base_url=url, max_concurrency=CONCURRENCY)
        return (await stack.enter_async_context(session)).get
    client = _official.make_client(url, key)
    stack.push_async_callback(_official.close, client)
    return client.get  # type: ignore[no-any-return]


async def _round(
    url: str, key: str, names: list[str], ids: list[str], total: int
) -> tuple[list[float], list[float]]:
    """CPU and wall seconds of ``total`` requests per contender, taking turns batch by batch."""
    async with AsyncExitStack() as stack:
        gets = [await _open(name, url, key, stack) for name in names]
        for get in gets:  # warm-up: open the connections, fill caches
            await _drive(get, ids, CONCURRENCY * 4)
        gc.collect()
        cpu = [0.0] * len(gets)
        wall = [0.0] * len(gets)
        for turn in range(-(-total // BATCH)):
            n = min(BATCH, total - turn * BATCH)
            for k in range(len(gets)):
                i = (turn + k) % len(gets)
                start, started = time.process_time(), time.perf_counter()
                await _drive(gets[i], ids, n)
                cpu[i] += time.process_time() - start
                wall[i] += time.perf_counter() - started
        return cpu, wall


async def _job_ids(url: str, key: str) -> list[str]:
    async with RawClient(url, key) as raw:
        page = await raw.page(None, limit=SEEDED_JOBS)
    return [item["id"] for item in page["items"]]


def run(quick: bool = False) -> CaseResult:
    from gladia_async.testing import start_emulator_process

    total = 1_000 if quick else 5_000
    rounds = 3 if quick else 5
    result = CaseResult(
        "overhead",
        "Client CPU per request",
        f"{total:,} x GET /v2/pre-recorded/{{id}} of finished 3 s jobs (~1.9 kB JSON each), "
        f"{CONCURRENCY} concurrent, loopback, no latency; emulator in its own process; "
        f"client process CPU time (`time.process_time()`); {rounds} rounds, the contenders open "
        f"at once and taking turns every {BATCH} requests.",
    )
    names = [RAW, OURS]
    if _official.available():
        names.append(OFFICIAL)
    else:
        result.notes.append(f"gladiaio-sdk {_official.NOT_INSTALLED}")
    cpu: dict[str, list[float]] = {name: [] for name in names}
    wall: dict[str, list[float]] = {name: [] for name in names}
    with start_emulator_process(seed_jobs=SEEDED_JOBS) as emu:
        ids = asyncio.run(_job_ids(emu.url, emu.api_key))
        for _ in range(rounds):
            spent, took = asyncio.run(_round(emu.url, emu.api_key, names, ids, total))
            for name, seconds, elapsed in zip(names, spent, took, strict=True):
                cpu[name].append(seconds / total * 1e6)
                wall[name].append(total / elapsed)
    for name in names:
        result.add(name, "client CPU per request", "µs", cpu[name], baseline=RAW)
    for name in names:
        result.add(name, "throughput", "req/s", wall[name], baseline=RAW)
    result.goal(  # issue 26's bar
        "ours CPU <= 1.15x raw aiohttp", result.ratio(OURS, "client CPU per request", RAW), 1.15
    )
    if quick:
        result.notes.append("instructions per request: full runs only (`python -m benchmarks`)")
    elif shutil.which("valgrind") is None:
        result.notes.append("instructions per request: valgrind not installed")
    else:
        # Deterministic where time swings by 10%: see benchmarks/instructions.py.
        counts = instructions.per_request()
        for name in (RAW, OURS):
            result.add(name, "instructions per request", "", [counts[name]], baseline=RAW)
        result.goal(
            "ours instructions <= 1.15x raw aiohttp (callgrind)",
            result.ratio(OURS, "instructions per request", RAW),
            1.15,
        )
    return result


if __name__ == "__main__":
    run_case_cli("bench_overhead", run)
