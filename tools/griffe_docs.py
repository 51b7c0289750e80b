"""Griffe extensions for the API reference: what the site shows, without touching the sources.

:class:`RstToMarkdown`: the docstrings' reStructuredText bits, rendered as Markdown.

The docstrings are written for ``help()`` and IDEs, in the Sphinx dialect most Python readers
know: ``:class:`X``` roles, ``double backticks`` and ``Usage::`` literal blocks. mkdocstrings
renders docstrings as Markdown, where those show up raw (a literal ``:class:`` before the name).
This extension rewrites them when the site is built, without touching the sources:

* a role becomes a link to the object's reference entry when it names a public object (one in
  ``gladia_async.__all__`` or ``gladia_async.testing.__all__``, or a member of one), else code;
* ``Text::`` and an indented block become ``Text:`` and a fenced code block (``python`` when the
  block compiles, plain text otherwise, for drawings such as the error tree).

:class:`AttrsSignatures`: ``attrs`` classes get the constructor attrs generates at import time
(which griffe, reading the source, cannot see), and a field shows its default, not the
``attrs.field(...)`` call that declares it.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import textwrap
from functools import cache
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|meth|func|data|mod|attr|exc|obj):`(~?)([\w.]+)`")


def _resolve(obj: griffe.Object, name: str) -> str | None:
    """Return the full path ``name`` means where ``obj`` is documented, or None."""
    if "." in name and name.split(".")[0] in ("gladia_async",):
        return name
    scope: griffe.Object | None = obj
    while scope is not None:
        head, _, rest = name.partition(".")
        if head in scope.members:
            target = scope.members[head]
            path = target.path if not rest else f"{target.path}.{rest}"
            return path
        try:
            resolved = scope.resolve(head)
        except (griffe.NameResolutionError, AttributeError, KeyError, ValueError):
            scope = scope.parent
            continue
        return resolved if not rest else f"{resolved}.{rest}"
    return None


@cache
def _public() -> dict[str, str]:
    """Exported name -> the module the reference pages document it under."""
    names: dict[str, str] = {}
    for module in ("gladia_async.testing", "gladia_async"):
        for name in importlib.import_module(module).__all__:
            names[name] = module
    return names


@cache
def _is_module(dotted: str) -> bool:
    try:
        return importlib.util.find_spec(dotted) is not None
    except (ImportError, ValueError):
        return False


def _public_path(path: str) -> str | None:
    """``gladia_async._core.errors.GladiaError.x`` -> ``gladia_async.GladiaError.x``."""
    parts = path.split(".")
    for i, part in enumerate(parts[1:], start=1):
        if _is_module(".".join(parts[: i + 1])):
            continue  # a module named like a public name (`_api.estimate`) is not that name
        module = _public().get(part)
        if module is not None and ".".join(parts[:i]).startswith(module):
            return ".".join([module, *parts[i:]])
    return None


def _roles(obj: griffe.Object, text: str) -> str:
    def link(match: re.Match[str]) -> str:
        short, name = match.group(1), match.group(2)
        label = name.rsplit(".", 1)[-1] if short else name
        path = _resolve(obj, name)
        public = _public_path(path) if path else None
        return f"[`{label}`][{public}]" if public else f"`{label}`"

    return ROLE.sub(link, text)


def _is_python(code: str) -> bool:
    try:
        compile(code, "<docstring>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError:
        return False
    return True


def _literal_blocks(text: str) -> str:
    """``Intro::`` + indented block -> ``Intro:`` + a fenced block."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.rstrip().endswith("::"):
            out.append(line)
            i += 1
            continue
        intro = line.rstrip()[:-2].rstrip()
        if intro:
            out.append(intro + ("" if intro.endswith(":") else ":"))
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        block: list[str] = []
        base = len(line) - len(line.lstrip())
        while j < len(lines) and (
            not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > base
        ):
            block.append(lines[j])
            j += 1
        while block and not block[-1].strip():
            block.pop()
        code = textwrap.dedent("\n".join(block))
        fence = "```python" if _is_python(code) else "```text"
        out += ["", fence, *code.splitlines(), "```", ""]
        i = j
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring of the loaded package once it is complete."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Walk the package and rewrite each docstring in place."""
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = _roles(obj, _literal_blocks(obj.docstring.value))
            stack.extend(m for m in obj.members.values() if not m.is_alias)  # type: ignore[misc]


_ATTRS_DECORATOR = re.compile(r"^attrs?\.(frozen|define|mutable|s|attrs)\b")


def _attrs_default(value: object) -> tuple[bool, str | None]:
    """``(is attrs.field, default source)`` for a field's declared value."""
    text = str(value)
    if not re.match(r"^(attrs?\.)?(field|ib)\(", text):
        return False, text
    call = ast.parse(text, mode="eval").body
    assert isinstance(call, ast.Call)
    for keyword in call.keywords:
        if keyword.arg == "default":
            return True, ast.unparse(keyword.value)
        if keyword.arg == "factory":
            return True, f"{ast.unparse(keyword.value)}()"
    return True, None


class AttrsSignatures(griffe.Extension):
    """Give each ``attrs`` class its generated ``__init__`` and plain field defaults."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Walk the package and complete each attrs class."""
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            stack.extend(m for m in obj.members.values() if not m.is_alias)  # type: ignore[misc]
            if obj.is_class:
                self._complete(obj)  # type: ignore[arg-type]

    def _complete(self, cls: griffe.Class) -> None:
        decorators = [str(d.value) for d in cls.decorators]
        if not any(_ATTRS_DECORATOR.match(d) for d in decorators):
            return
        kw_only = any("kw_only=True" in d for d in decorators)
        kind = griffe.ParameterKind("keyword-only" if kw_only else "positional or keyword")
        parameters = [griffe.Parameter("self", kind=griffe.ParameterKind("positional or keyword"))]
        for member in list(cls.members.values()):
            if not isinstance(member, griffe.Attribute) or member.annotation is None:
                continue
            if "property" in member.labels or str(member.annotation).startswith("ClassVar"):
                continue
            default: str | griffe.Expr | None = member.value
            if member.value is not None:
                is_field, default = _attrs_default(member.value)
                if is_field:
                    member.value = default
            parameters.append(
                griffe.Parameter(
                    member.name, annotation=member.annotation, kind=kind, default=default
                )
            )
        if "__init__" not in cls.members:
            init = griffe.Function(
                "__init__",
                lineno=cls.lineno,
                endlineno=cls.lineno,
                parameters=griffe.Parameters(*parameters),
                returns="None",
            )
            cls.set_member("__init__", init)
