"""Regenerate ``_spec_subset.json`` from Gladia's OpenAPI document (maintainer tool).

Usage: ``python -m gladia_async.testing._gen_spec_subset path/to/gladia-openapi.json``

Only the schemas the emulator needs (request validation and response defaults) are kept,
without descriptions/examples. One deliberate patch: ``AudioToLlmListConfigDTO.prompts`` items
are declared as arrays in the spec while its own examples (and the service) use strings; the
subset accepts both.
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

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
    schemas: dict[str, Any] = spec["components"]["schemas"]
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
    prompts = out["AudioToLlmListConfigDTO"]["properties"]["prompts"]
    prompts["items"] = {"oneOf": [{"type": "string"}, {"type": "array"}]}
    return {"schemas": out}


def main(argv: list[str]) -> None:
    spec = json.loads(pathlib.Path(argv[0]).read_text())
    target = pathlib.Path(__file__).with_name("_spec_subset.json")
    target.write_text(json.dumps(build(spec), indent=1, sort_keys=True) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
