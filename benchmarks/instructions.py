"""Instructions per request under callgrind: ``get()`` of ours against raw aiohttp.

Run from the repository root (needs ``valgrind``; a full ``python -m benchmarks`` run adds
its figure to the ``overhead`` case when valgrind is installed)::

    python -m benchmarks.instructions [--small 200] [--large 1200]

Time on a shared machine swings by 10% from one round to the next; an instruction count does
not. Each contender's client runs in its own process under ``valgrind --tool=callgrind``
twice, once with ``--small`` and once with ``--large`` requests (``get(job_id)`` of finished
3 s jobs, 50 concurrent, against the emulator in a process callgrind does not trace). The
difference of the two totals, divided by the difference of the counts, is the instructions
per request with start-up, imports and warm-up cancelled out.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from ._common import OURS, RAW

CONCURRENCY = 50
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


async def _client(contender: str, url: str, key: str, count: int) -> None:
    from ._raw import RawClient

    async with RawClient(url, key) as raw:
        ids = [item["id"] for item in (await raw.page(None, limit=200))["items"]]
    if contender == RAW:
        client = RawClient(url, key, limit=CONCURRENCY)
        async with client:
            await _drive(client.get, ids, count)
        return
    from gladia_async import GladiaSession

    async with GladiaSession(api_key=key, base_url=url, max_concurrency=CONCURRENCY) as s:
        await _drive(s.get, ids, count)


async def _drive(get: object, ids: list[str], count: int) -> None:
    async def worker(w: int) -> None:
        for i in range(count // CONCURRENCY):
            await get(ids[(w + i * CONCURRENCY) % len(ids)])  # type: ignore[operator]

    await asyncio.gather(*(worker(w) for w in range(CONCURRENCY)))


def _instructions(contender: str, url: str, key: str, count: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={Path(tmp) / 'out'}",
                sys.executable,
                "-m",
                "benchmarks.instructions",
                "--client",
                contender,
                url,
                key,
                str(count),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    found = _COLLECTED.search(out.stderr)
    if found is None:
        raise RuntimeError(f"no callgrind total in:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def per_request(small: int = 200, large: int = 1200) -> dict[str, float]:
    """Instructions per ``get()`` of each contender (raw aiohttp, ours), under callgrind."""
    from gladia_async.testing import start_emulator_process

    counts: dict[str, float] = {}
    with start_emulator_process(seed_jobs=200) as emu:
        for contender in (RAW, OURS):
            low = _instructions(contender, emu.url, emu.api_key, small)
            high = _instructions(contender, emu.url, emu.api_key, large)
            counts[contender] = (high - low) / (large - small)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=1200)
    parser.add_argument("--client", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        contender, url, key, count = args.client
        asyncio.run(_client(contender, url, key, int(count)))
        return 0
    counts = per_request(args.small, args.large)
    print("| contender | instructions per request | vs raw aiohttp |")
    print("|---|---:|---:|")
    for contender, count in counts.items():
        print(f"| {contender} | {count:,.0f} | {count / counts[RAW]:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
