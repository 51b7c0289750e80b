"""Read ``spec/ERRATA.md`` and apply its corrections to the OpenAPI spec (maintainer tool).

One list of corrections, read by both generators (``tools/generate_models.py`` for the models,
``_gen_spec_subset`` for the emulator's request validator), so the SDK and the emulator never
disagree about a shape. Each fenced ``json`` block of the errata file is one operation; the file
itself documents them and the evidence for each.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_ERRATA", "apply", "load"]

#: The errata file of a source checkout (not shipped in the wheel: only the generators read it).
DEFAULT_ERRATA = Path(__file__).resolve().parents[2] / "spec" / "ERRATA.md"

_BLOCK = re.compile(r"^```json\n(.*?)^```", re.S | re.M)
_OPS = {"add_schema", "replace_property", "add_property", "patch_property", "unrequire"}


def load(path: Path = DEFAULT_ERRATA) -> list[dict[str, Any]]:
    """Return the operations of the errata file, in order (raises ValueError on a bad one)."""
    ops: list[dict[str, Any]] = []
    for match in _BLOCK.finditer(path.read_text(encoding="utf-8")):
        op = json.loads(match.group(1))
        if not isinstance(op, dict) or op.get("op") not in _OPS:
            raise ValueError(f"{path}: not an erratum: {match.group(1)[:80]!r}")
        ops.append(op)
    return ops


def apply(spec: dict[str, Any], ops: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Return a copy of ``spec`` with the errata applied (``ops`` defaults to :func:`load`)."""
    spec = copy.deepcopy(spec)
    schemas: dict[str, Any] = spec["components"]["schemas"]
    for op in load() if ops is None else ops:
        kind = op["op"]
        if kind == "add_schema":
            if op["schema"] in schemas:
                raise ValueError(f"erratum adds {op['schema']}, which the spec already has")
            schemas[op["schema"]] = copy.deepcopy(op["with"])
        elif kind == "add_property":
            for name in op["schemas"]:
                props = schemas[name].setdefault("properties", {})
                if op["property"] in props:
                    raise ValueError(f"erratum adds {name}.{op['property']}, already there")
                props[op["property"]] = copy.deepcopy(op["with"])
        elif kind == "replace_property":
            props = schemas[op["schema"]]["properties"]
            old = props[op["property"]]
            props[op["property"]] = copy.deepcopy(op["with"])
            for kept in ("example", "nullable"):  # what the value looks like, not its type
                if kept in old:
                    props[op["property"]][kept] = old[kept]
        elif kind == "patch_property":
            schemas[op["schema"]]["properties"][op["property"]].update(copy.deepcopy(op["set"]))
        elif kind == "unrequire":
            schema = schemas[op["schema"]]
            dropped = set(op["properties"])
            schema["required"] = [p for p in schema.get("required", []) if p not in dropped]
    return spec
