"""Running the emulator: in-process (:func:`run_emulator`) or in a subprocess."""

from __future__ import annotations

import contextlib
import os
import pathlib
import queue
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson
from aiohttp import web

from ._app import GladiaEmulator
from ._faults import FaultPlan
from ._state import EmulatorStats, RecordedRequest

__all__ = ["EmulatorProcess", "RunningEmulator", "run_emulator", "start_emulator_process"]


@dataclass
class RunningEmulator:
    """A listening emulator: ``url`` (no trailing slash), ``api_key`` and the ``emulator``."""

    url: str
    api_key: str
    emulator: GladiaEmulator

    @property
    def stats(self) -> EmulatorStats:
        """The emulator's counters (requests per route, jobs created, polls, faults, ...)."""
        return self.emulator.stats

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        return list(self.emulator.requests)

    @property
    def headers(self) -> dict[str, str]:
        """Auth headers for raw HTTP clients: ``{"x-gladia-key": api_key}``."""
        return {"x-gladia-key": self.api_key}


@contextlib.asynccontextmanager
async def run_emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    emulator: GladiaEmulator | None = None,
    **kwargs: Any,
) -> AsyncIterator[RunningEmulator]:
    """Serve an emulator on ``host`` (a free port by default) for the duration of the block.

    ``kwargs`` go to :class:`GladiaEmulator` (or pass a ready ``emulator``).
    """
    if emulator is None:
        emulator = GladiaEmulator(**kwargs)
    elif kwargs:
        raise TypeError("pass either emulator= or GladiaEmulator keyword arguments")
    runner = web.AppRunner(
        emulator.make_app(), access_log=None, handle_signals=False, shutdown_timeout=0.5
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0]
        url = f"http://{_format_host(bound[0])}:{bound[1]}"
        yield RunningEmulator(url=url, api_key=emulator.api_key, emulator=emulator)
    finally:
        await runner.cleanup()


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass
class EmulatorProcess:
    """A running ``python -m gladia_async.testing`` subprocess."""

    url: str
    api_key: str
    process: subprocess.Popen[bytes]

    @property
    def headers(self) -> dict[str, str]:
        """Auth headers for raw HTTP clients: ``{"x-gladia-key": api_key}``."""
        return {"x-gladia-key": self.api_key}


def _reader(stream: IO[bytes], lines: queue.Queue[str]) -> None:
    for raw in iter(stream.readline, b""):
        lines.put(raw.decode(errors="replace"))


@contextlib.contextmanager
def start_emulator_process(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_keys: tuple[str, ...] | list[str] = ("test-key",),
    job_duration: float = 0.5,
    queue_delay: float = 0.0,
    latency: float = 0.0,
    faults: FaultPlan | None = None,
    storage: str | pathlib.Path = "memory",
    public_url: str | None = None,
    seed_jobs: int = 0,
    plan: str | None = None,
    max_processing: int | None = None,
    max_queued: int | None = None,
    startup_timeout: float = 20.0,
    python: str | None = None,
) -> Iterator[EmulatorProcess]:
    """Run the emulator in a separate process (so a benchmarked client keeps its own CPU).

    ``plan`` (``"free"``, ``"paid"``, ``"enterprise"``) and ``max_processing``/``max_queued``
    set the account limits (see :mod:`gladia_async.testing._limits`). Blocks until the server
    answers, yields an :class:`EmulatorProcess` (``url``,
    ``api_key``), and kills the process on exit.
    """
    args = [
        python or sys.executable,
        "-m",
        "gladia_async.testing",
        "--host",
        host,
        "--port",
        str(port),
        "--job-duration",
        repr(job_duration),
        "--queue-delay",
        repr(queue_delay),
        "--latency",
        repr(latency),
        "--storage",
        str(storage),
        "--seed-jobs",
        str(seed_jobs),
    ]
    for key in api_keys:
        args += ["--api-key", key]
    if public_url:
        args += ["--public-url", public_url]
    if plan is not None:
        args += ["--plan", plan]
    if max_processing is not None:
        args += ["--max-processing", str(max_processing)]
    if max_queued is not None:
        args += ["--max-queued", str(max_queued)]
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if faults is not None:
        tmp = tempfile.TemporaryDirectory(prefix="gladia-emulator-")
        plan_path = pathlib.Path(tmp.name) / "faults.json"
        plan_path.write_bytes(orjson.dumps(faults.to_dict()))
        args += ["--faults", str(plan_path)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    reader = threading.Thread(target=_reader, args=(process.stdout, lines), daemon=True)
    reader.start()
    try:
        url = _await_url(process, lines, startup_timeout)
        _await_ready(url, api_keys[0], process, startup_timeout)
        yield EmulatorProcess(url=url, api_key=api_keys[0], process=process)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        reader.join(timeout=2)
        process.stdout.close()
        if tmp is not None:
            tmp.cleanup()


def _await_url(process: subprocess.Popen[bytes], lines: queue.Queue[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        for token in line.split():
            if token.startswith("http://") or token.startswith("https://"):
                return token.rstrip("/")
    raise RuntimeError("emulator process did not start:\n" + "".join(seen))


def _await_ready(url: str, key: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(
        f"{url}/v2/pre-recorded?limit=1", headers={"x-gladia-key": key}
    )
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"emulator process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(request, timeout=2):
                return
        except urllib.error.HTTPError as exc:
            exc.close()
            return  # it answers (even a fault-injected error is an answer)
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("emulator process did not answer in time")
