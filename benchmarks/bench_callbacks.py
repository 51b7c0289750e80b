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

Run: ``python -m benchmarks.bench_callbacks [--quick] [--files N] [--repeat R]``, or as the
``callbacks`` case of ``python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import anyio
from aiohttp import web

from gladia_async import CallbackReceiver, GladiaSession
from gladia_async.testing import CallbackFaults, GladiaEmulator, run_emulator

from ._common import CaseResult, render_markdown
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


WAYS = ("polling", "callbacks", "callbacks, 10% lost")


def run(quick: bool = False, files: int | None = None, repeat: int | None = None) -> CaseResult:
    """The three ways, interleaved ``repeat`` times over ``files`` WAV files each."""
    files = files or (100 if quick else 500)
    repeat = repeat or (1 if quick else 3)
    result = CaseResult(
        name="callbacks",
        title="Batch finished by callback vs polling",
        setup=(
            f"{files} WAV files upload -> submit -> result, {CONCURRENCY} connections; "
            f"in-process emulator (its CPU shared with the client: wall times not comparable "
            f"with batch's), {LATENCY * 1000:g} ms latency, {JOB_DURATION:g} s jobs; polling "
            f"(`transcribe_many`), callbacks (`receiver.wait`, fallback 30 s), callbacks with "
            f"10% lost (fallback 2 s); {repeat} interleaved rounds"
        ),
    )
    rows: dict[str, dict[str, list[float]]] = {w: {"s": [], "req": [], "polls": []} for w in WAYS}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            for way in WAYS:  # interleaved, so drift spreads over all ways
                folder = Path(tmp) / f"{way.replace(' ', '_').replace(',', '')}"
                folder.mkdir(exist_ok=True)
                seconds, requests, ok = _run(way, files, folder)
                if ok != files:
                    raise RuntimeError(f"{way}: {ok}/{files} files transcribed")
                rows[way]["s"].append(seconds)
                rows[way]["req"].append(requests / files)
                rows[way]["polls"].append(requests / files - 2)
    for way in WAYS:
        result.add(way, "batch wall time", "s", rows[way]["s"], baseline="polling")
    for way in WAYS:
        result.add(way, "HTTP requests per job", "", rows[way]["req"], baseline="polling")
    for way in WAYS:
        result.add(way, "status polls per job", "", rows[way]["polls"])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer files, one round")
    parser.add_argument("--files", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None)
    args = parser.parse_args(argv)
    print(render_markdown([run(quick=args.quick, files=args.files, repeat=args.repeat)]))


if __name__ == "__main__":
    main()
