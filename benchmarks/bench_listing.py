"""listing: walk every job of a large account, page size 100; wall time and peak memory growth.

Two scenarios, each against its own emulator process seeded with finished jobs:

* issue 7: a 20,000-job walk on loopback without latency (client cost dominates);
* issue 3: a 100,000-job walk with 20 ms added to every response (latency dominates; this is
  where fetching the next page while the current one is consumed pays).

Contenders, each walk in a fresh process (peak RSS growth is per process):

* ours, prefetch: ``iter_jobs(page_size=100, endpoint="pre-recorded")`` (default prefetch);
* ours, page at a time: the same with ``prefetch=False``;
* official: ``list({"limit": 100})`` then ``list({"url": page.next})`` until ``next`` is null;
* raw aiohttp: GET the first page, follow ``next``, ``orjson.loads`` each page.

The walk only counts the items and reads their ``id`` (no per-item work), so the figures are
the SDK's own cost.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from . import _official
from ._common import (
    OFFICIAL,
    RAW,
    CaseResult,
    current_rss_mib,
    peak_rss_mib,
    run_case_cli,
    run_child,
)

PAGE = 100
WORK_SECONDS = 0.02  # consumer work per page in the "consumer" scenarios
OURS_PREFETCH = "ours, prefetch"
OURS_SERIAL = "ours, page at a time"
CONTENDERS = {
    RAW: "raw",
    OURS_PREFETCH: "ours-prefetch",
    OURS_SERIAL: "ours-serial",
    OFFICIAL: "official",
}


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def child(
    contender: str, url: str, key: str, work: str = "none", max_items: int | None = None
) -> dict[str, Any]:
    """Runs in a fresh interpreter: warm up with a 1-item page, then walk the jobs.

    ``work`` simulates the consumer: ``"none"`` only counts; ``"async"`` awaits
    ``WORK_SECONDS`` after every ``PAGE`` items (an async write of each page, e.g. to a
    database); ``"cpu"`` spends ``WORK_SECONDS / PAGE`` of CPU on every item.
    """
    count = 0
    per_item = WORK_SECONDS / PAGE

    async def consume() -> None:
        nonlocal count
        count += 1
        if work == "async" and count % PAGE == 0:
            await asyncio.sleep(WORK_SECONDS)
        elif work == "cpu":
            _spin(per_item)

    limit = max_items if max_items is not None else 1 << 62
    if contender == "raw":
        from ._raw import RawClient

        async with RawClient(url, key) as raw:
            await raw.page(None, limit=1)
            before, rss = peak_rss_mib(), current_rss_mib()
            start = time.perf_counter()
            next_url: str | None = None
            while count < limit:
                page = await raw.page(next_url, limit=PAGE)
                for item in page["items"]:
                    if item["id"] and count < limit:
                        await consume()
                next_url = page["next"]
                if next_url is None:
                    break
            seconds = time.perf_counter() - start
    elif contender.startswith("ours"):
        from gladia_async import GladiaSession

        async with GladiaSession(api_key=key, base_url=url) as g:
            async with g.iter_jobs(page_size=1, max_items=1, endpoint="pre-recorded") as warm:
                async for _ in warm:
                    pass
            before, rss = peak_rss_mib(), current_rss_mib()
            start = time.perf_counter()
            async with g.iter_jobs(
                page_size=PAGE,
                endpoint="pre-recorded",
                prefetch=contender == "ours-prefetch",
                max_items=max_items,
            ) as jobs:
                async for job in jobs:
                    if job.id:
                        await consume()
            seconds = time.perf_counter() - start
    else:
        client = _official.make_client(url, key)
        try:
            await client.list({"limit": 1})
            before, rss = peak_rss_mib(), current_rss_mib()
            start = time.perf_counter()
            response = await client.list({"limit": PAGE, "offset": 0})
            while count < limit:
                for item in response.items:
                    if item.id and count < limit:
                        await consume()
                if response.next is None:
                    break
                response = await client.list({"url": response.next})
            seconds = time.perf_counter() - start
        finally:
            await _official.close(client)
    return {
        "seconds": seconds,
        "growth_mib": peak_rss_mib() - before,
        "rss_before_mib": rss,
        "count": count,
    }


def _walks(
    result: CaseResult,
    emu: Any,
    label: str,
    names: list[str],
    expected: int,
    rounds: int,
    *,
    work: str = "none",
    max_items: int | None = None,
    official_rounds: int = 0,
) -> None:
    """Measure ``names`` (interleaved, ``rounds`` times) walking ``emu``; add rows to result."""
    seconds: dict[str, list[float]] = {n: [] for n in names}
    growth: dict[str, list[float]] = {n: [] for n in names}
    for index in range(rounds):
        for name in names:
            if name == OFFICIAL and index >= official_rounds:
                continue
            out = run_child(
                "bench_listing",
                "child",
                {
                    "contender": CONTENDERS[name],
                    "url": emu.url,
                    "key": emu.api_key,
                    "work": work,
                    "max_items": max_items,
                },
                timeout=3600,
            )
            if out["count"] != expected:
                result.notes.append(f"{label} {name}: walked {out['count']} of {expected} jobs")
            seconds[name].append(out["seconds"])
            growth[name].append(out["growth_mib"])
    baseline = RAW if RAW in names else OURS_SERIAL
    for name in names:
        result.add(name, f"{label}: walk time", "s", seconds[name], baseline=baseline)
    for name in names:
        result.add(name, f"{label}: items/s", "items/s", [expected / s for s in seconds[name]])
    if work == "none":
        for name in names:
            result.add(name, f"{label}: peak RSS growth", "MiB", growth[name])


def _speedup(result: CaseResult, label: str) -> float | None:
    serial = result.find(OURS_SERIAL, f"{label}: walk time")
    prefetch = result.find(OURS_PREFETCH, f"{label}: walk time")
    if not (serial and prefetch and serial.samples and prefetch.samples):
        return None
    return serial.median / prefetch.median


def run(quick: bool = False) -> CaseResult:
    from gladia_async.testing import start_emulator_process

    small, large, consumer = (2_000, 10_000, 3_000) if quick else (20_000, 100_000, 20_000)
    rounds = 2 if quick else 3
    large_rounds = 2
    work_ms = WORK_SECONDS * 1000
    result = CaseResult(
        "listing",
        "Walking a large job listing",
        f"page size {PAGE}, GET /v2/pre-recorded following `next`; emulator in its own process "
        f"seeded with finished 3 s jobs (each list item carries its full result, ~1.9 kB); "
        f"{small:,} jobs without latency and {large:,} jobs with 20 ms latency per response "
        f"(plain walks: count items, read `id`); then the first {consumer:,} of those jobs with "
        f"a consumer doing {work_ms:.0f} ms of work per page ('async': one await per page, "
        "'cpu': busy CPU per item); each walk in a fresh Python process; peak RSS (VmHWM) "
        "growth over the walk.",
    )
    base = [RAW, OURS_PREFETCH, OURS_SERIAL]
    with_official = [*base, OFFICIAL] if _official.available() else base
    if not _official.available():
        result.notes.append(f"gladiaio-sdk {_official.NOT_INSTALLED}")
    small_label = f"{small // 1000}k jobs, 0 ms"
    large_label = f"{large // 1000}k jobs, 20 ms"
    with start_emulator_process(seed_jobs=small) as emu:
        _walks(result, emu, small_label, with_official, small, rounds, official_rounds=1)
    async_label = f"{consumer // 1000}k of {large_label}, async consumer"
    cpu_label = f"{consumer // 1000}k of {large_label}, CPU consumer"
    with start_emulator_process(seed_jobs=large, latency=0.02) as emu:
        _walks(result, emu, large_label, base, large, large_rounds)
        pair = [OURS_PREFETCH, OURS_SERIAL]
        _walks(
            result, emu, async_label, pair, consumer, large_rounds, work="async", max_items=consumer
        )
        _walks(result, emu, cpu_label, pair, consumer, large_rounds, work="cpu", max_items=consumer)
    if _official.available():
        result.notes.append(
            f"official SDK measured once on the {small:,}-job walk only: its per-item parsing "
            f"(dataclasses-json from_dict) makes a {large:,}-job walk take minutes."
        )
    for label in (large_label, async_label, cpu_label):
        result.goal(
            f"prefetch speed-up >= 1.7x, {label} (page-at-a-time / prefetch)",
            _speedup(result, label),
            1.7,
            kind=">=",
        )
    growth = result.find(OURS_PREFETCH, f"{large_label}: peak RSS growth")
    result.goal(
        f"ours (prefetch) peak RSS growth < 20 MiB ({large_label})",
        growth.median if growth and growth.samples else None,
        20,
    )
    return result


if __name__ == "__main__":
    run_case_cli("bench_listing", run)
