"""The release metadata: one version everywhere, project URLs and classifiers in the wheel."""

from __future__ import annotations

import re
from pathlib import Path

import gladia_async

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_the_version_is_0_2_0_everywhere() -> None:
    declared = re.search(r'^version = "([^"]+)"', PYPROJECT, flags=re.M)
    assert declared is not None
    assert declared.group(1) == gladia_async.__version__ == "0.2.0"


def test_the_project_urls_are_declared() -> None:
    table = PYPROJECT.split("[project.urls]", 1)[1].split("\n[", 1)[0]
    urls = dict(re.findall(r'^(\w+) = "(https://[^"]+)"', table, flags=re.M))
    assert set(urls) == {"Homepage", "Documentation", "Repository", "Changelog", "Issues"}


def test_the_classifiers_say_what_the_package_supports() -> None:
    classifiers = set(re.findall(r'^    "([^"]+ :: [^"]+)",$', PYPROJECT, flags=re.M))
    versions = {c.rsplit(" ", 1)[1] for c in classifiers if re.search(r"Python :: 3\.\d+$", c)}
    assert versions == {"3.10", "3.11", "3.12", "3.13"}
    assert {"Framework :: AsyncIO", "Typing :: Typed"} <= classifiers
    assert 'requires-python = ">=3.10"' in PYPROJECT
    assert (ROOT / "gladia_async" / "py.typed").is_file()


def test_ci_builds_the_wheel_and_runs_the_demo_from_it() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme_tests = ci.index('bash -c "$test_cmd"')
    build = ci.index("-m build")
    assert readme_tests < build < ci.index("find_python()"), "on the main interpreter, after"
    assert 'pip install -q "$wheel"' in ci and "-e" not in ci[build : ci.index("find_python")]
    assert "env -u GLADIA_API_KEY" in ci and 'gladia-async" demo' in ci
