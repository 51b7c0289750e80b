"""Shared helpers: results, statistics, Markdown tables, machine description, child processes.

Every figure of the suite is a set of repeated samples; tables show the median, the min-max
spread and the ratio of the median to a baseline measured in the same run.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MIB",
    "OFFICIAL",
    "OURS",
    "RAW",
    "CaseResult",
    "Goal",
    "Measurement",
    "cpu_model",
    "machine_description",
    "peak_rss_mib",
    "render_markdown",
    "run_case_cli",
    "run_child",
]

MIB = 1024 * 1024
OURS = "ours (gladia_async)"
RAW = "raw aiohttp"
OFFICIAL = "gladiaio-sdk 2.2.1"

PACKAGES = (
    "gladia-async",
    "aiohttp",
    "orjson",
    "attrs",
    "cattrs",
    "yarl",
    "gladiaio-sdk",
    "httpx",
    "dataclasses-json",
    "marshmallow",
)


# -- results -------------------------------------------------------------------------------


@dataclass
class Measurement:
    """Repeated samples of one metric for one contender of a case."""

    case: str
    contender: str
    metric: str
    unit: str
    samples: list[float]
    #: Contender whose median (same case, same metric) is the denominator of the ratio.
    baseline: str | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def low(self) -> float:
        return min(self.samples) if self.samples else float("nan")

    @property
    def high(self) -> float:
        return max(self.samples) if self.samples else float("nan")


@dataclass
class Goal:
    """A target from the project's issues, checked against a measured value."""

    case: str
    text: str
    measured: str
    met: bool | None  # None: could not be measured


@dataclass
class CaseResult:
    """Everything a case produced: measurements, goals checked, notes (skips, caveats)."""

    name: str
    title: str
    setup: str
    rows: list[Measurement] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        contender: str,
        metric: str,
        unit: str,
        samples: Iterable[float],
        *,
        baseline: str | None = None,
        note: str = "",
    ) -> Measurement:
        row = Measurement(self.name, contender, metric, unit, list(samples), baseline, note)
        self.rows.append(row)
        return row

    def find(self, contender: str, metric: str) -> Measurement | None:
        for row in self.rows:
            if row.contender == contender and row.metric == metric:
                return row
        return None

    def ratio(self, contender: str, metric: str, baseline: str) -> float | None:
        """Median of ``contender`` over median of ``baseline`` for ``metric``."""
        a, b = self.find(contender, metric), self.find(baseline, metric)
        if a is None or b is None or not a.samples or not b.samples or b.median == 0:
            return None
        return a.median / b.median

    def goal(self, text: str, value: float | None, target: float, *, kind: str = "<=") -> None:
        """Record a goal ``value <kind> target``; ``value`` None means not measured."""
        if value is None:
            self.goals.append(Goal(self.name, text, "n/a", None))
            return
        met = value <= target if kind == "<=" else value >= target
        self.goals.append(Goal(self.name, text, f"{value:.3g}", met))


def _fmt(value: float, unit: str) -> str:
    if value != value:  # NaN
        return "n/a"
    if unit == "s" and value < 1:
        return f"{value * 1000:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "µs":
        return f"{value:.1f} µs"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    if abs(value) >= 1000:
        return f"{value:,.0f} {unit}".strip()
    return f"{value:.3g} {unit}".strip()


def render_markdown(results: Sequence[CaseResult]) -> str:
    """The results as Markdown: one table of measurements, one of goals, then notes."""
    lines = [
        "| Case | Contender | Metric | Median | Min - max | n | Ratio vs baseline |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for result in results:
        for row in result.rows:
            if not row.samples:
                lines.append(
                    f"| {row.case} | {row.contender} | {row.metric} | - | - | 0 | "
                    f"{row.note or 'skipped'} |"
                )
                continue
            ratio = ""
            if row.baseline is not None:
                if row.baseline == row.contender:
                    ratio = "1.00x (baseline)"
                else:
                    value = result.ratio(row.contender, row.metric, row.baseline)
                    if value is not None:
                        ratio = f"{value:.2f}x {_short(row.baseline)}"
            spread = f"{_fmt(row.low, row.unit)} - {_fmt(row.high, row.unit)}"
            note = f" ({row.note})" if row.note else ""
            lines.append(
                f"| {row.case} | {row.contender}{note} | {row.metric} | "
                f"{_fmt(row.median, row.unit)} | {spread} | {len(row.samples)} | {ratio} |"
            )
    goals = [g for r in results for g in r.goals]
    if goals:
        lines += ["", "| Case | Goal | Measured | Met |", "|---|---|---:|:---:|"]
        for g in goals:
            met = "n/a" if g.met is None else ("yes" if g.met else "**no**")
            lines.append(f"| {g.case} | {g.text} | {g.measured} | {met} |")
    notes = [(r.name, n) for r in results for n in r.notes]
    if notes:
        lines += ["", "Notes:", ""]
        lines += [f"- **{case}**: {note}" for case, note in notes]
    return "\n".join(lines)


def _short(name: str) -> str:
    return {OURS: "ours", RAW: "raw", OFFICIAL: "official"}.get(name, name)


# -- machine -------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_description() -> str:
    """A Markdown list describing the machine and the software measured."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            total_kib = int(f.readline().split()[1])
        memory = f"{total_kib / MIB:.1f} GiB"
    except (OSError, ValueError, IndexError):
        memory = "unknown"
    lines = [
        f"- CPU: {cpu_model()} ({os.cpu_count()} logical cores, {usable} usable by this process)",
        f"- Memory: {memory}",
        f"- OS: {platform.system()} {platform.release()} ({platform.machine()})",
        f"- Python: {platform.python_implementation()} {sys.version.split()[0]}",
        "- Packages: " + ", ".join(f"{p} {_version(p)}" for p in PACKAGES),
    ]
    return "\n".join(lines)


# -- measuring -----------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (VmHWM), in MiB."""
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mib() -> float:
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def timed(coro: Awaitable[Any]) -> tuple[float, float, Any]:
    """Await ``coro``; return (wall seconds, process CPU seconds, result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = await coro
    return time.perf_counter() - wall, time.process_time() - cpu, value


def run_child(module: str, function: str, kwargs: dict[str, Any], timeout: float = 900) -> Any:
    """Run ``module.function(**kwargs)`` (sync or async) in a fresh interpreter; return its
    JSON-able result. Used wherever a measurement needs a process of its own (peak memory)."""
    cmd = [sys.executable, "-m", "benchmarks._child", module, function, json.dumps(kwargs)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, cwd=root, env=env, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"child {module}.{function} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    last = proc.stdout.strip().splitlines()[-1]
    return json.loads(last)


def run_case_cli(name: str, run: Callable[..., CaseResult]) -> None:
    """``python -m benchmarks.bench_X [--quick]``: run one case and print its table."""
    import argparse

    parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{name}")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, smaller sizes")
    args = parser.parse_args()
    result = run(quick=args.quick)
    print(render_markdown([result]))
