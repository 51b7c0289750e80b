"""import: what importing the SDK costs a fresh interpreter, beside ``import aiohttp``.

Each sample is a fresh interpreter that times one import statement with ``perf_counter``
(interpreter start-up left out, the same for every contender); the statements take turns
(A B C A B C ...). Bytecode caches are written by a warm-up run of each statement first, as an
installed package has them. A note lists the SDK modules that cost most of their own time in
``python -X importtime`` of the session import.
"""

from __future__ import annotations

import os
import subprocess
import sys

from ._common import RAW, CaseResult, run_case_cli

METRIC = "import time"
#: Contender -> the statement its fresh interpreter times.
STATEMENTS = {
    RAW: "import aiohttp",
    "ours: import gladia_async": "import gladia_async",
    "ours: session import": "from gladia_async import GladiaSession, TranscriptionOptions",
}
FACE = "ours: import gladia_async"
SESSION = "ours: session import"


def _env() -> dict[str, str]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its bytecode cached
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _time_import(statement: str, env: dict[str, str]) -> float:
    code = f"import time\nt0 = time.perf_counter()\n{statement}\nprint(time.perf_counter() - t0)\n"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{statement!r} failed:\n{proc.stderr[-2000:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def _own_times(statement: str, env: dict[str, str]) -> list[tuple[str, float]]:
    """``(module, own seconds)`` of the SDK's modules in ``-X importtime``, costliest first."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    own: list[tuple[str, float]] = []
    for line in proc.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        name = parts[2].strip()
        if name.split(".")[0] == "gladia_async":
            own.append((name, int(parts[0]) / 1e6))
    return sorted(own, key=lambda item: -item[1])


def run(quick: bool = False) -> CaseResult:
    rounds = 7 if quick else 21
    result = CaseResult(
        name="import",
        title="Import cost",
        setup=(
            f"{rounds} fresh interpreters per statement, taking turns; each times its import "
            "with perf_counter (start-up excluded), bytecode cached: `import aiohttp`, "
            "`import gladia_async`, `from gladia_async import GladiaSession, "
            "TranscriptionOptions`"
        ),
    )
    env = _env()
    for statement in STATEMENTS.values():  # warm-up: bytecode caches, file system cache
        _time_import(statement, env)
    samples: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    for _ in range(rounds):
        for name, statement in STATEMENTS.items():
            samples[name].append(_time_import(statement, env))
    for name, values in samples.items():
        result.add(name, METRIC, "s", values, baseline=RAW)
    result.goal(
        "`import gladia_async` <= 1.3x `import aiohttp`", result.ratio(FACE, METRIC, RAW), 1.3
    )
    top = _own_times(STATEMENTS[SESSION], env)[:4]
    if top:
        listed = ", ".join(f"`{name}` {seconds * 1000:.0f} ms" for name, seconds in top)
        result.notes.append(
            f"the session import's costliest SDK modules (own time, one `-X importtime` run): "
            f"{listed}"
        )
    return result


if __name__ == "__main__":
    run_case_cli("bench_import", run)
