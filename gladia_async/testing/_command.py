"""The emulator's command line, shared by ``python -m gladia_async.testing`` and
``gladia-async emulator``: one option set, one set of defaults, the key printed at start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import pathlib
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from ._app import GladiaEmulator
from ._faults import FaultPlan
from ._limits import PLANS, AccountLimits

__all__ = ["EPILOG", "EmulatorStartError", "add_emulator_arguments", "build_emulator", "serve"]

DEFAULT_PORT = 8080
DEFAULT_KEY = "test-key"

#: Shown under ``--help`` of both emulator commands.
EPILOG = """\
exit codes:
  0  stopped with Ctrl-C (or SIGTERM)
  1  could not start (port in use, unreadable fault plan); the reason is one line on stderr
  2  a usage error (bad option or value)
"""


class EmulatorStartError(Exception):
    """The emulator could not start (port in use, bad fault plan): one line for the user."""


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0-65535; 0 picks a free one)")
    return port


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a number of seconds >= 0")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0")
    return value


def add_emulator_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options (with their defaults and help) to ``parser``."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port to listen on; 0 picks a free one (default: {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help=f"an API key the emulator accepts; repeat for several (default: {DEFAULT_KEY})",
    )
    parser.add_argument(
        "--job-duration",
        type=_seconds,
        default=0.5,
        metavar="SECONDS",
        help="how long each job stays processing (default: 0.5)",
    )
    parser.add_argument(
        "--queue-delay",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="how long each job stays queued before processing (default: 0)",
    )
    parser.add_argument(
        "--latency",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="delay added to every response (default: 0)",
    )
    parser.add_argument(
        "--faults",
        type=pathlib.Path,
        metavar="PLAN.json",
        help="fault plan to inject errors, e.g. "
        '{"seed": 1, "rules": [{"kind": "status", "status": 503, "probability": 0.2}]}',
    )
    parser.add_argument(
        "--storage",
        default="memory",
        help='where uploads are kept: "memory", "discard" or a folder (default: memory)',
    )
    parser.add_argument(
        "--public-url", default=None, help="base of the absolute URLs in answers (behind a proxy)"
    )
    parser.add_argument(
        "--seed-jobs",
        type=_count,
        default=0,
        metavar="N",
        help="create N finished jobs at start, to try listings (default: 0)",
    )
    parser.add_argument(
        "--plan",
        choices=sorted(PLANS),
        default=None,
        help="account limits: free (3 processing), paid (25 processing, 300 queued), enterprise",
    )
    parser.add_argument(
        "--max-processing",
        type=_count,
        default=None,
        metavar="N",
        help="jobs processed at once (overrides --plan)",
    )
    parser.add_argument(
        "--max-queued",
        type=_count,
        default=None,
        metavar="M",
        help="jobs queued at most; beyond, creation answers 429 (overrides --plan)",
    )


def build_emulator(args: argparse.Namespace) -> GladiaEmulator:
    """Return the emulator the parsed options describe."""
    storage: Any = (
        args.storage if args.storage in ("memory", "discard") else pathlib.Path(args.storage)
    )
    try:
        faults = FaultPlan.from_json(args.faults) if args.faults else None
    except OSError as exc:
        raise EmulatorStartError(f"--faults: cannot read {args.faults}: {exc.strerror}") from None
    except Exception as exc:
        raise EmulatorStartError(f"--faults: {args.faults} is not a fault plan ({exc})") from None
    limits: AccountLimits | None = None
    if args.plan is not None or args.max_processing is not None or args.max_queued is not None:
        try:
            limits = AccountLimits.for_plan(
                args.plan, max_processing=args.max_processing, max_queued=args.max_queued
            )
        except (TypeError, ValueError) as exc:
            raise EmulatorStartError(f"--plan: {exc}") from None
    try:
        emulator = GladiaEmulator(
            plan=limits,
            api_keys=args.api_keys or [DEFAULT_KEY],
            job_duration=args.job_duration,
            queue_delay=args.queue_delay,
            latency=args.latency,
            faults=faults,
            storage=storage,
            public_url=args.public_url,
        )
    except OSError as exc:
        raise EmulatorStartError(f"--storage: cannot use {args.storage}: {exc.strerror}") from None
    if args.seed_jobs:
        emulator.seed_jobs(args.seed_jobs)
    return emulator


def _bind_error(args: argparse.Namespace, exc: OSError) -> EmulatorStartError:
    where = f"{args.host}:{args.port}"
    if exc.errno == errno.EADDRINUSE:
        return EmulatorStartError(
            f"port {args.port} is in use on {args.host}; stop what uses it, or pick another "
            "port with --port (--port 0 picks a free one)"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return EmulatorStartError(
            f"not allowed to listen on {where}; ports below 1024 need privileges, "
            "pick another with --port"
        )
    reason = exc.strerror or str(exc)
    return EmulatorStartError(f"cannot listen on {where} ({reason}); check --host and --port")


async def serve(
    args: argparse.Namespace, *, ready: Callable[[str, str], None] | None = None
) -> None:
    """Serve the emulator until SIGINT/SIGTERM (or cancellation); print its URL and key.

    Raises :class:`EmulatorStartError` when it cannot start.
    """
    emulator = build_emulator(args)
    runner = web.AppRunner(
        emulator.make_app(), access_log=None, handle_signals=False, shutdown_timeout=0.5
    )
    await runner.setup()
    try:
        try:
            site = web.TCPSite(runner, args.host, args.port)
            await site.start()
        except OSError as exc:
            raise _bind_error(args, exc) from None
        host, port = runner.addresses[0][:2]
        host = f"[{host}]" if ":" in host else host
        url = f"http://{host}:{port}"
        # Both lines are parsed by start_emulator_process; keep "listening on <url>" intact.
        print(f"Gladia emulator listening on {url}", flush=True)
        print(f"API key: {emulator.api_key}", flush=True)
        print(
            f"Try: GLADIA_API_URL={url} GLADIA_API_KEY={emulator.api_key} gladia-async jobs "
            "(Ctrl-C stops)",
            flush=True,
        )
        if ready is not None:
            ready(url, emulator.api_key)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
    finally:
        await runner.cleanup()


def run(args: argparse.Namespace, prog: str) -> int:
    """Run :func:`serve` to completion; return the exit code (1, with one line, on failure)."""
    try:
        asyncio.run(serve(args))
    except EmulatorStartError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gladia_async.testing``: parse the options and serve; the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m gladia_async.testing",
        description="Local emulator of Gladia's speech-to-text API v2 (same options as "
        "`gladia-async emulator`).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_emulator_arguments(parser)
    return run(parser.parse_args(argv), parser.prog)
