"""Regenerate ``_spec_subset.json`` from Gladia's OpenAPI document (maintainer tool).

Usage: ``python -m gladia_async.testing._gen_spec_subset [path/to/gladia-openapi.json] [--check]``
(the spec defaults to ``spec/gladia-openapi.json``; ``--check`` exits 1 when the file is stale).

Only the schemas the emulator needs (request validation and response defaults) are kept,
without descriptions/examples. The spec is read through ``spec/ERRATA.md``, the same
corrections ``tools/generate_models.py`` applies, so what the SDK sends the emulator accepts.
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

from . import _errata

ROOTS = (
    "InitTranscriptionRequest",
    "PreRecordedRequestParamsResponse",
    "StreamingRequestParamsResponse",
)
_DROP = {"description", "example", "deprecated"}


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in _DROP}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def build(spec: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``spec`` (errata applied) the emulator's validator reads."""
    schemas: dict[str, Any] = _errata.apply(spec)["components"]["schemas"]
    out: dict[str, Any] = {}

    def visit(name: str) -> None:
        if name in out:
            return
        out[name] = _strip(schemas[name])

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "$ref":
                        visit(value.rsplit("/", 1)[-1])
                    else:
                        walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(out[name])

    for root in ROOTS:
        visit(root)
    return {"schemas": out}


def render(spec: dict[str, Any]) -> str:
    """The text of ``_spec_subset.json`` for ``spec``."""
    return json.dumps(build(spec), indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    source = (
        pathlib.Path(paths[0]) if paths else _errata.DEFAULT_ERRATA.with_name("gladia-openapi.json")
    )
    text = render(json.loads(source.read_text(encoding="utf-8")))
    target = pathlib.Path(__file__).with_name("_spec_subset.json")
    if check:
        if target.read_text(encoding="utf-8") != text:
            print(f"{target} is stale; run python -m {__spec__.name}", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
