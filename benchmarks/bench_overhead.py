"""overhead: client CPU per request. N x ``get(job_id)`` at concurrency 50, loopback, no latency.

The emulator runs in its own process, so ``time.process_time()`` of this process is the
client's CPU alone: HTTP machinery, JSON decoding and (for the SDKs) building typed models.
Contenders run interleaved, several rounds; each round is measured after a warm-up.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any

from . import _official
from ._common import OFFICIAL, OURS, RAW, CaseResult, run_case_cli
from ._raw import RawClient

CONCURRENCY = 50
SEEDED_JOBS = 200


async def _drive(get: Callable[[str], Awaitable[Any]], ids: list[str], total: int) -> None:
    """``total`` calls of ``get`` spread over ``CONCURRENCY`` workers, cycling over ``ids``."""
    per_worker, extra = divmod(total, CONCURRENCY)

    async def worker(w: int) -> None:
        n = per_worker + (1 if w < extra else 0)
        for i in range(n):
            await get(ids[(w + i * CONCURRENCY) % len(ids)])

    await asyncio.gather(*(worker(w) for w in range(CONCURRENCY)))


async def _measure(
    get: Callable[[str], Awaitable[Any]], ids: list[str], total: int
) -> tuple[float, float]:
    await _drive(get, ids, CONCURRENCY * 2)  # warm-up: open the connections, fill caches
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    await _drive(get, ids, total)
    return time.process_time() - cpu, time.perf_counter() - wall


async def _ours(url: str, key: str, ids: list[str], total: int) -> tuple[float, float]:
    from gladia_async import GladiaSession

    async with GladiaSession(api_key=key, base_url=url, max_concurrency=CONCURRENCY) as g:
        return await _measure(g.get, ids, total)


async def _raw(url: str, key: str, ids: list[str], total: int) -> tuple[float, float]:
    async with RawClient(url, key, limit=CONCURRENCY) as raw:
        return await _measure(raw.get, ids, total)


async def _official_sdk(url: str, key: str, ids: list[str], total: int) -> tuple[float, float]:
    client = _official.make_client(url, key)
    try:
        return await _measure(client.get, ids, total)
    finally:
        await _official.close(client)


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
        f"client process CPU time (`time.process_time()`), {rounds} interleaved rounds.",
    )
    contenders: list[tuple[str, Any]] = [(RAW, _raw), (OURS, _ours)]
    if _official.available():
        contenders.append((OFFICIAL, _official_sdk))
    else:
        result.notes.append(f"gladiaio-sdk {_official.NOT_INSTALLED}")
    cpu: dict[str, list[float]] = {name: [] for name, _ in contenders}
    wall: dict[str, list[float]] = {name: [] for name, _ in contenders}
    with start_emulator_process(seed_jobs=SEEDED_JOBS) as emu:
        ids = asyncio.run(_job_ids(emu.url, emu.api_key))
        for _ in range(rounds):
            for name, fn in contenders:
                c, w = asyncio.run(fn(emu.url, emu.api_key, ids, total))
                cpu[name].append(c / total * 1e6)
                wall[name].append(total / w)
    for name, _ in contenders:
        result.add(name, "client CPU per request", "µs", cpu[name], baseline=RAW)
    for name, _ in contenders:
        result.add(name, "throughput", "req/s", wall[name], baseline=RAW)
    result.goal(
        "ours CPU <= 1.15x raw aiohttp", result.ratio(OURS, "client CPU per request", RAW), 1.15
    )
    return result


if __name__ == "__main__":
    run_case_cli("bench_overhead", run)
