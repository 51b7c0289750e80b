"""Entry point of the fresh interpreters used for per-contender measurements.

``python -m benchmarks._child MODULE FUNCTION JSON_KWARGS`` imports ``benchmarks.MODULE``,
calls ``FUNCTION(**kwargs)`` (awaiting it if it is a coroutine function) and prints the JSON
result as the last line of stdout.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys


def main() -> None:
    module_name, function_name, raw = sys.argv[1], sys.argv[2], sys.argv[3]
    module = importlib.import_module(f"benchmarks.{module_name}")
    function = getattr(module, function_name)
    kwargs = json.loads(raw)
    if inspect.iscoroutinefunction(function):
        result = asyncio.run(function(**kwargs))
    else:
        result = function(**kwargs)
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
