#!/usr/bin/env python3
"""Drive Gladia's official JS SDK (``@gladiaio/sdk``) against our emulator; count the steps passed.

Usage (from the repository root; Node 20+ and npm on the PATH)::

    python tools/official_js_probe/run.py [-v]

Installs the probe's npm packages (``npm ci`` into ``tools/official_js_probe/node_modules``,
git-ignored) when they are missing, starts the emulator in this process, sets it to drop the
first live socket mid-stream, and runs ``probe.mjs`` with node. Each line the probe prints is a
step (pre-recorded and live); this wrapper adds one of its own: the audio the emulator kept for
the live session is the audio the SDK sent (by SHA-256). Exit status 0 when every step passes.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from gladia_async.testing import run_emulator

HERE = Path(__file__).resolve().parent

#: Where the emulator drops the JS SDK's live socket (session offset, mid-stream).
DROP_AT = 64_000
NODE_TIMEOUT = 120.0


def install() -> None:
    """Install the pinned packages (package-lock.json) unless they are there already."""
    if (HERE / "node_modules" / "@gladiaio" / "sdk").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm not found: the JS probe needs Node 20+ and npm")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True)


async def probe(verbose: bool = False) -> tuple[int, int, list[str]]:
    """Run probe.mjs against a fresh emulator; return (passed, total, failure descriptions)."""
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node not found: the JS probe needs Node 20+")
    results: list[tuple[str, str | None]] = []
    expected: int | None = None
    live: dict[str, str] | None = None

    def record(name: str, error: str | None) -> None:
        results.append((name, error))
        if verbose:
            print(f"{'ok  ' if error is None else 'FAIL'} {name}" + (f": {error}" if error else ""))

    async with run_emulator(job_duration=0.05) as emu:
        hub = emu.emulator.live
        hub.faults.drop_at_bytes = [DROP_AT]
        env = {**os.environ, "GLADIA_API_URL": emu.url, "GLADIA_API_KEY": emu.api_key}
        process = await asyncio.create_subprocess_exec(
            node, str(HERE / "probe.mjs"), cwd=HERE, env=env, stdout=asyncio.subprocess.PIPE
        )
        stdout = process.stdout
        assert stdout is not None

        async def drain() -> int:
            nonlocal expected, live
            async for raw in stdout:
                try:
                    line = json.loads(raw)
                except json.JSONDecodeError:
                    print(raw.decode(errors="replace"), end="", file=sys.stderr)
                    continue
                if "step" in line:
                    record(line["step"], None if line["ok"] else str(line["error"]))
                elif "live" in line:
                    live = line["live"]
                elif "total" in line:
                    expected = int(line["total"])
            return await process.wait()

        try:
            code = await asyncio.wait_for(drain(), NODE_TIMEOUT)
        except asyncio.TimeoutError:
            code = -1
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        if code != 0:
            record("node probe.mjs exits 0", f"exit status {code}")
        if expected is None or expected != len(results):
            record("every step of probe.mjs reported", f"{len(results)} of {expected} reported")

        kept = hub.sessions.get(live["id"]) if live else None
        if kept is None:
            record("live: the emulator kept the sent audio byte for byte", "no live session")
        elif kept.sha256 != live["sha256"] or kept.drops != 1:  # type: ignore[index]
            record(
                "live: the emulator kept the sent audio byte for byte",
                f"kept {kept.kept_bytes:,} bytes (sha256 differs or drops={kept.drops})",
            )
        else:
            record("live: the emulator kept the sent audio byte for byte", None)
    failures = [f"{name}: {error}" for name, error in results if error is not None]
    return len(results) - len(failures), len(results), failures


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    install()
    passed, total, failures = asyncio.run(probe(verbose="-v" in args))
    for failure in failures:
        print(f"FAIL {failure}")
    print(f"official JS SDK against the emulator: {passed} of {total} steps passed")
    return 0 if passed == total and total > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
