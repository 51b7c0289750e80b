"""``gladia-async estimate`` and the estimate ``transcribe`` prints (and budgets) first.

No key, no request: durations come from the files' headers (:func:`gladia_async.estimate`).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import orjson

from .. import MAX_AUDIO_DURATION, MAX_AUDIO_DURATION_ENTERPRISE, Estimate, Limits
from .._api.estimate import estimate_async
from .._http.uploads import describe_limit, describe_seconds
from .inputs import CommandLineError, expand_sources

__all__ = [
    "ESTIMATE_HELP",
    "add_audio_limit_argument",
    "add_estimate_parser",
    "audio_limits",
    "check_budget",
    "estimate_command",
]

ESTIMATE_HELP = "estimate the duration and billed hours of files or folders (no key, no request)"


def add_audio_limit_argument(parser: argparse.ArgumentParser) -> None:
    """``--enterprise``: files up to 4 h 15 instead of 135 minutes."""
    parser.add_argument(
        "--enterprise",
        action="store_true",
        help="your plan is an enterprise plan: files may last up to 4 h 15 (default: 135 min)",
    )


def add_estimate_parser(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``gladia-async estimate``."""
    parser.add_argument(
        "sources",
        nargs="+",
        metavar="FILE_OR_FOLDER",
        help="audio/video files or folders (walked for supported formats)",
    )
    parser.add_argument("--json", action="store_true", help="print the estimate as JSON")
    add_audio_limit_argument(parser)


def audio_limits(args: argparse.Namespace) -> Limits:
    """The audio limits the flags ask for (``--enterprise``), everything else by default."""
    enterprise = getattr(args, "enterprise", False)
    return Limits(
        max_audio_duration=MAX_AUDIO_DURATION_ENTERPRISE if enterprise else MAX_AUDIO_DURATION
    )


async def _estimate(args: argparse.Namespace, items: list[str]) -> Estimate:
    return await estimate_async(items, limits=audio_limits(args))


def _lines(result: Estimate) -> list[str]:
    lines = []
    for f in result.files:
        if f.duration is None:
            what = "duration unknown"
        else:
            channels = f" x {f.channels} channels" if (f.channels or 1) > 1 else ""
            what = f"{describe_seconds(f.duration)}{channels}"
        refusal = f"  OVER THE LIMITS: {f.refusal}" if f.refusal else ""
        lines.append(f"  {f.source}: {what}{refusal}")
    lines.append(f"Total: {result.summary()}.")
    if any((f.channels or 1) > 1 for f in result.files):
        lines.append(
            "Billed hours count each channel (Gladia bills channels with different content "
            "separately, identical channels once): an upper bound."
        )
    return lines


async def estimate_command(args: argparse.Namespace) -> int:
    """``gladia-async estimate PATH...``: print the estimate; exit 1 if a file is over a limit."""
    sources = expand_sources(args.sources)
    if not sources.items:
        raise CommandLineError("no audio or video files found in " + ", ".join(args.sources))
    result = await _estimate(args, sources.items)
    if args.json:
        sys.stdout.write(orjson.dumps(result.as_json(), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
    else:
        for line in _lines(result):
            print(line)
    return 1 if result.over_limits else 0


def _check_hours(value: Any) -> float | None:
    if value is None:
        return None
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise CommandLineError(f"--max-hours must be a number of hours greater than 0: {value}")
    return float(value)


async def check_budget(args: argparse.Namespace, items: list[str]) -> Estimate:
    """Return the batch's estimate; refuse files over the limits or over ``--max-hours``.

    Raises :class:`CommandLineError` (exit 2, nothing sent) naming the limit or the budget.
    """
    budget = _check_hours(getattr(args, "max_hours", None))
    result = await _estimate(args, [i for i in items if not i.startswith(("http://", "https://"))])
    if result.over_limits:
        limits = result.limits
        listed = "; ".join(f"{Path(f.source).name}: {f.refusal}" for f in result.over_limits)
        limit = limits.max_audio_duration
        raise CommandLineError(
            f"nothing sent: {len(result.over_limits)} file(s) over Gladia's limits of "
            f"{describe_limit(limit) if limit else 'no'} per file and "
            f"{limits.max_audio_bytes / 1e6:,.0f} MB ({listed}); split them "
            "(e.g. ffmpeg -f segment -segment_time 3600), leave them out, or pass --enterprise "
            "if your plan allows 4 h 15"
        )
    if budget is not None and result.billed_hours > budget:
        raise CommandLineError(
            f"nothing sent: the batch is estimated at up to {result.billed_hours:.2f} billed "
            f"hours, over --max-hours {budget:g}; send fewer files or raise --max-hours"
        )
    return result
