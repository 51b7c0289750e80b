"""``python -m gladia_async.testing``: run the Gladia emulator in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import pathlib
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from ._app import GladiaEmulator
from ._faults import FaultPlan
from ._limits import PLANS, AccountLimits


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gladia_async.testing",
        description="Local emulator of Gladia's speech-to-text API v2.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per response")
    parser.add_argument("--job-duration", type=float, default=0.5, help="processing seconds")
    parser.add_argument("--queue-delay", type=float, default=0.0, help="queued seconds")
    parser.add_argument(
        "--api-key", action="append", dest="api_keys", help="accepted key (repeatable)"
    )
    parser.add_argument("--faults", type=pathlib.Path, help="fault plan JSON file")
    parser.add_argument(
        "--storage", default="memory", help='"memory", "discard" or a directory path'
    )
    parser.add_argument("--public-url", default=None, help="base of absolute URLs")
    parser.add_argument("--seed-jobs", type=int, default=0, help="pre-create N done jobs")
    parser.add_argument(
        "--plan",
        choices=sorted(PLANS),
        default=None,
        help="account limits: free (3 processing), paid (25 processing, 300 queued), enterprise",
    )
    parser.add_argument(
        "--max-processing", type=int, default=None, help="jobs processed at once (overrides plan)"
    )
    parser.add_argument(
        "--max-queued", type=int, default=None, help="jobs queued at most (overrides plan)"
    )
    return parser


def _limits(parser: argparse.ArgumentParser, args: argparse.Namespace) -> AccountLimits | None:
    if args.plan is None and args.max_processing is None and args.max_queued is None:
        return None
    try:
        return AccountLimits.for_plan(
            args.plan, max_processing=args.max_processing, max_queued=args.max_queued
        )
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))


async def _serve(args: argparse.Namespace, limits: AccountLimits | None) -> None:
    storage = args.storage if args.storage in ("memory", "discard") else pathlib.Path(args.storage)
    emulator = GladiaEmulator(
        api_keys=args.api_keys or ["test-key"],
        job_duration=args.job_duration,
        queue_delay=args.queue_delay,
        latency=args.latency,
        faults=FaultPlan.from_json(args.faults) if args.faults else None,
        storage=storage,
        public_url=args.public_url,
        plan=limits,
    )
    if args.seed_jobs:
        emulator.seed_jobs(args.seed_jobs)
    runner = web.AppRunner(
        emulator.make_app(), access_log=None, handle_signals=False, shutdown_timeout=0.5
    )
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    host, port = runner.addresses[0][:2]
    host = f"[{host}]" if ":" in host else host
    print(f"Gladia emulator listening on http://{host}:{port}", flush=True)
    print(f"API key: {emulator.api_key}", flush=True)
    if limits is not None:
        print(
            f"Account limits ({limits.name}): {limits.max_processing} processing, "
            f"{limits.max_queued} queued",
            flush=True,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    limits = _limits(parser, args)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args, limits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
