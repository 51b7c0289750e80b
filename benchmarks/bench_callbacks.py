"""callbacks: the batch of ``bench_batch`` finished by callback instead of by polling.

The emulator (own process) adds 20 ms to every response, takes 1 s per job, and POSTs each
job's ``transcription.success`` callback to a receiver served by the client process (aiohttp,
loopback). Reported per way: wall time, HTTP requests the client sent per job (upload and
creation included) and status polls per job (requests minus upload and creation), median of
the repetitions.

* polling: ``GladiaSession(max_concurrency=32).transcribe_many(paths)`` with defaults.
* callbacks: the same session, per file ``upload`` / ``submit(receiver.options(url))`` /
  ``receiver.wait(job, fallback_after=30)`` in one task group, uploads and submissions bounded
  to 32 at once.
* callbacks, 10 % lost: the same with ``CallbackFaults(lose=0.1)``, ``fallback_after=2``: the
  lost ones arrive by polling.

Run: ``python -m benchmarks.bench_callbacks [--files N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from aiohttp import web

from gladia_async import CallbackReceiver, GladiaSession
from gladia_async.testing import CallbackFaults, GladiaEmulator, run_emulator

from .bench_batch import make_files

CONCURRENCY = 32
LATENCY = 0.02
JOB_DURATION = 1.0


async def _polling(url: str, key: str, paths: list[Path]) -> tuple[float, int, int]:
    async with GladiaSession(api_key=key, base_url=url, max_concurrency=CONCURRENCY) as g:
        start = time.perf_counter()
        ok = 0
        async with g.transcribe_many(paths) as outcomes:
            async for outcome in outcomes:
                ok += outcome.ok
        return time.perf_counter() - start, g.transport.requests_sent, ok


async def _callbacks(
    url: str, key: str, paths: list[Path], fallback_after: float
) -> tuple[float, int, int]:
    receiver = CallbackReceiver()
    app = web.Application()
    app.add_routes(receiver.aiohttp_routes("/gladia"))
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        callback = f"http://{host}:{port}/gladia"
        async with GladiaSession(api_key=key, base_url=url, max_concurrency=CONCURRENCY) as g:
            limiter = anyio.CapacityLimiter(CONCURRENCY)
            ok = 0

            async def one(path: Path) -> None:
                nonlocal ok
                async with limiter:
                    audio = await g.upload(path)
                    job = await g.submit(audio, receiver.options(callback))
                result = await receiver.wait(job, session=g, fallback_after=fallback_after)
                ok += result.transcription is not None

            start = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for path in paths:
                    tg.start_soon(one, path)
            return time.perf_counter() - start, g.transport.requests_sent, ok
    finally:
        await runner.cleanup()


def _run(way: str, files: int, folder: Path) -> tuple[float, int, int]:
    paths = make_files(folder, files)

    async def go() -> tuple[float, int, int]:
        faults = CallbackFaults(lose=0.1, seed=7) if way == "callbacks, 10% lost" else None
        # In-process emulator: the receiver's callbacks come from its dispatcher. Its CPU is
        # shared with the client, so wall times here are not comparable with bench_batch's.
        emulator = GladiaEmulator(
            job_duration=JOB_DURATION, latency=LATENCY, callback_faults=faults
        )
        async with run_emulator(emulator=emulator) as emu:
            if way == "polling":
                return await _polling(emu.url, emu.api_key, paths)
            fallback = 2.0 if faults is not None else 30.0
            return await _callbacks(emu.url, emu.api_key, paths, fallback)

    return asyncio.run(go())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    ways = ("polling", "callbacks", "callbacks, 10% lost")
    rows: dict[str, dict[str, list[float]]] = {w: {"s": [], "req": [], "polls": []} for w in ways}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for way in ways:  # interleaved, so drift spreads over all ways
                folder = Path(tmp) / f"{way.replace(' ', '_')}"
                folder.mkdir(exist_ok=True)
                seconds, requests, ok = _run(way, args.files, folder)
                assert ok == args.files, f"{way}: {ok}/{args.files} ok"
                rows[way]["s"].append(seconds)
                rows[way]["req"].append(requests / args.files)
                rows[way]["polls"].append(requests / args.files - 2)
    print(f"{args.files} files, {args.repeat} repetitions, medians (min - max)")
    print("| way | wall s | requests per job | status polls per job |")
    print("|---|---|---|---|")
    for way in ways:
        cells: list[Any] = [way]
        for key in ("s", "req", "polls"):
            values = rows[way][key]
            cells.append(f"{statistics.median(values):.3g} ({min(values):.3g} - {max(values):.3g})")
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
