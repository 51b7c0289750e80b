"""MkDocs hook: the build fails when a public name has no docstring.

The API reference is generated from the docstrings, so a public name without one would be an
empty entry on the site. ``mkdocs build --strict`` runs :func:`on_pre_build`; the test suite runs
:func:`missing_docstrings` too (``tests/test_docs.py``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import griffe

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_MODULES = ("gladia_async", "gladia_async.testing")

#: Public constants and type aliases that have no docstring yet: a ``#:`` comment on the line
#: before the assignment (as ``TOKEN_KEY`` has) or a string literal on the line after it. Remove
#: a name from here once it has one: a test fails when an entry here is no longer missing, so
#: this list can only shrink.
AWAITING_DOCSTRING: frozenset[str] = frozenset()

#: Public methods and properties of public classes (``gladia_async.testing`` only) that have no
#: docstring yet; same rule as above.
AWAITING_MEMBER_DOCSTRING: frozenset[str] = frozenset()


def _has_doc(obj: griffe.Object | griffe.Alias) -> bool:
    return obj.docstring is not None and bool(obj.docstring.value.strip())


def undocumented() -> tuple[list[str], list[str]]:
    """Return the public names and the public class members that have no docstring."""
    import griffe  # the docs extra; imported here so the test suite can skip without it

    names: list[str] = []
    members: list[str] = []
    for module_name in PUBLIC_MODULES:
        exported = importlib.import_module(module_name).__all__
        package = griffe.load(
            module_name,
            search_paths=[str(ROOT)],
            # As the site reads them: ``#:`` comments document attributes (griffe-sphinx).
            extensions=griffe.load_extensions("griffe_sphinx"),
            resolve_aliases=True,
        )
        for name in exported:
            target = package[name]
            if target.is_alias:
                target = target.final_target
            if not _has_doc(target):
                names.append(f"{module_name}.{name}")
            if not target.is_class:
                continue
            for member_name, member in target.members.items():
                if member_name.startswith("_") or member.is_alias:
                    continue
                callable_ = member.is_function or "property" in member.labels
                if callable_ and not _has_doc(member):
                    members.append(f"{module_name}.{name}.{member_name}")
    return names, members


def missing_docstrings() -> list[str]:
    """Return the public names without a docstring that are not known and listed above."""
    names, members = undocumented()
    return sorted((set(names) - AWAITING_DOCSTRING) | (set(members) - AWAITING_MEMBER_DOCSTRING))


def on_pre_build(config: object) -> None:
    """Fail the build when a public name lacks a docstring (MkDocs hook)."""
    from mkdocs.exceptions import PluginError

    missing = missing_docstrings()
    if missing:
        raise PluginError(
            "public names without a docstring (the API reference would show them empty): "
            + ", ".join(missing)
        )
