"""batch: N short WAV files through upload -> submit -> wait, same connection limit for all.

The emulator (own process) adds 20 ms to every response and takes 1 s per job. Reported: wall
time of the whole batch (ratio to the raw aiohttp baseline) and HTTP requests per job.

* raw aiohttp: every file a task; upload, submit, then poll every 0.5 s (first poll after one
  interval); at most ``CONCURRENCY`` requests at once (the connector's limit).
* ours: ``GladiaSession(max_concurrency=CONCURRENCY).transcribe_many(paths)`` with defaults
  (every stage limit = ``max_concurrency``, up to 1,000 sources in flight, ``PollPolicy``
  backoff 0.5 s x 1.25).
* ours, manual: the same session, ``upload`` / ``submit`` / ``wait`` per file in tasks, as a
  user without ``transcribe_many`` would write it.
* official: ``upload_file`` / ``create`` / ``get`` every 0.5 s, a semaphore of ``CONCURRENCY``
  around every request (its httpx pool cannot be sized through its options).
"""

from __future__ import annotations

import asyncio
import math
import shutil
import struct
import tempfile
import time
import uuid
import wave
from pathlib import Path
from typing import Any

from . import _official
from ._common import OFFICIAL, OURS, RAW, CaseResult, run_case_cli
from ._raw import RawClient

CONCURRENCY = 32
POLL_INTERVAL = 0.5
LATENCY = 0.02
JOB_DURATION = 1.0
OURS_MANUAL = "ours, manual upload/submit/wait"


def write_wav(path: Path, seconds: float = 0.5, rate: int = 16_000) -> Path:
    """A short mono 16-bit sine tone."""
    frames = int(rate * seconds)
    samples = b"".join(
        struct.pack("<h", int(6000 * math.sin(2 * math.pi * 440 * n / rate))) for n in range(frames)
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples)
    return path


def make_files(folder: Path, count: int) -> list[Path]:
    first = write_wav(folder / "f0000.wav")
    paths = [first]
    for i in range(1, count):
        target = folder / f"f{i:04d}.wav"
        shutil.copyfile(first, target)
        paths.append(target)
    return paths


async def _raw(url: str, key: str, paths: list[Path]) -> tuple[float, int, int]:
    async with RawClient(url, key, limit=CONCURRENCY) as raw:

        async def one(path: Path) -> bool:
            audio = await raw.upload(path)
            job = await raw.submit(audio["audio_url"])
            final = await raw.wait(job["id"], POLL_INTERVAL)
            return final["status"] == "done"

        start = time.perf_counter()
        ok = await asyncio.gather(*(one(p) for p in paths))
        return time.perf_counter() - start, raw.requests_sent, sum(ok)


async def _ours(url: str, key: str, paths: list[Path]) -> tuple[float, int, int]:
    from gladia_async import GladiaSession

    async with GladiaSession(api_key=key, base_url=url, max_concurrency=CONCURRENCY) as g:
        start = time.perf_counter()
        ok = 0
        # A namespace per run: tokens derive from the files, so without it a later round
        # would adopt the jobs of an earlier one (same files, same emulator) instead of working.
        async with g.transcribe_many(paths, namespace=uuid.uuid4().hex) as outcomes:
            async for outcome in outcomes:
                ok += outcome.ok
        return time.perf_counter() - start, g.transport.requests_sent, ok


async def _ours_manual(url: str, key: str, paths: list[Path]) -> tuple[float, int, int]:
    from gladia_async import GladiaSession

    async with GladiaSession(api_key=key, base_url=url, max_concurrency=CONCURRENCY) as g:

        async def one(path: Path) -> bool:
            audio = await g.upload(path)
            created = await g.submit(audio)
            job = await g.wait(created)
            return job.status.value == "done"

        start = time.perf_counter()
        ok = await asyncio.gather(*(one(p) for p in paths))
        return time.perf_counter() - start, g.transport.requests_sent, sum(ok)


async def _official_sdk(url: str, key: str, paths: list[Path]) -> tuple[float, int, int]:
    client = _official.make_client(url, key)
    limit = asyncio.Semaphore(CONCURRENCY)
    sent = 0

    async def call(fn: Any, *args: Any) -> Any:
        nonlocal sent
        async with limit:
            sent += 1
            return await fn(*args)

    async def one(path: Path) -> bool:
        audio = await call(client.upload_file, str(path))
        created = await call(client.create, {"audio_url": audio.audio_url})
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            job = await call(client.get, created.id)
            if job.status in ("done", "error"):
                return bool(job.status == "done")

    try:
        start = time.perf_counter()
        ok = await asyncio.gather(*(one(p) for p in paths))
        return time.perf_counter() - start, sent, sum(ok)
    finally:
        await _official.close(client)


def run(quick: bool = False, files: int | None = None) -> CaseResult:
    from gladia_async.testing import start_emulator_process

    count = files or (200 if quick else 1_000)
    rounds = 2 if quick else 3
    result = CaseResult(
        "batch",
        "Batch transcription wall time",
        f"{count:,} WAV files (0.5 s, 16 kHz mono, 16 kB), upload -> submit -> wait; emulator "
        f"in its own process with {LATENCY * 1000:.0f} ms latency per response and "
        f"{JOB_DURATION:.0f} s per job; {CONCURRENCY} connections for every contender; "
        f"raw/official poll every {POLL_INTERVAL} s; {rounds} interleaved rounds.",
    )
    contenders: list[tuple[str, Any]] = [
        (RAW, _raw),
        (OURS, _ours),
        (OURS_MANUAL, _ours_manual),
    ]
    if _official.available():
        contenders.append((OFFICIAL, _official_sdk))
    else:
        result.notes.append(f"gladiaio-sdk {_official.NOT_INSTALLED}")
    wall: dict[str, list[float]] = {name: [] for name, _ in contenders}
    per_job: dict[str, list[float]] = {name: [] for name, _ in contenders}
    polls: dict[str, list[float]] = {name: [] for name, _ in contenders}
    with tempfile.TemporaryDirectory(prefix="gladia-bench-batch-") as tmp:
        paths = make_files(Path(tmp), count)
        with start_emulator_process(latency=LATENCY, job_duration=JOB_DURATION) as emu:
            for _ in range(rounds):
                for name, fn in contenders:
                    seconds, requests, ok = asyncio.run(fn(emu.url, emu.api_key, paths))
                    if ok != count:
                        result.notes.append(f"{name}: only {ok} of {count} jobs done")
                    wall[name].append(seconds)
                    per_job[name].append(requests / count)
                    polls[name].append(requests / count - 2)  # minus upload and submit
    for name, _ in contenders:
        result.add(name, "batch wall time", "s", wall[name], baseline=RAW)
    for name, _ in contenders:
        result.add(name, "requests per job", "", per_job[name], baseline=RAW)
    for name, _ in contenders:
        result.add(name, "polls per job", "", polls[name], baseline=RAW)
    result.goal(
        f"ours (transcribe_many) wall time <= 1.10x raw ({count:,} files)",
        result.ratio(OURS, "batch wall time", RAW),
        1.10,
    )
    ours_polls = result.find(OURS, "polls per job")
    result.goal(
        "ours <= 4 poll requests per job",
        ours_polls.median if ours_polls and ours_polls.samples else None,
        4,
    )
    return result


if __name__ == "__main__":
    run_case_cli("bench_batch", run)
