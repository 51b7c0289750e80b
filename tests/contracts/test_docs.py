"""Every Python example of the documentation site runs (or, when marked, type-checks).

How a ```python block in ``docs/`` is checked depends on what it is:

* a **program** (it calls ``asyncio.run(`` or has an ``if __name__ == "__main__":``) runs in a
  fresh interpreter against an emulator process, with ``GLADIA_API_KEY`` / ``GLADIA_API_URL``
  set, in a folder holding ``call.wav`` and ``recordings/*.wav``; it must exit 0 and print
  something;
* a **snippet** (anything else) runs with top-level ``await`` in a namespace holding ``gladia``
  (an open :class:`GladiaSession` on an in-process emulator) and ``emu`` (that emulator), in the
  same kind of folder; it must not raise;
* a block after ``<!-- docs: pytest -->`` is a test module: it runs under pytest, with the page's
  ``<!-- docs: conftest -->`` block as its ``conftest.py``, and must pass;
* a block after ``<!-- docs: aiohttp-app -->`` defines ``make_app()``: the test suite serves
  that app (with the emulator's key and URL in the environment) and calls its routes;
* a block after ``<!-- docs: module NAME.py -->`` is a module the page's pytest examples import
  (``from main import app``): written next to them as ``NAME.py``;
* a block after ``<!-- docs: no-run (reason) -->`` (FastAPI, the official SDK) is only compiled.

A page listed in :data:`RUN_ELSEWHERE` has its pytest examples run by that test file instead.

Every block, whatever its kind, is also type-checked with mypy, so an example cannot use a name
or a signature the SDK does not have.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import re
import subprocess
import sys
import textwrap
import typing
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import gladia_async
import gladia_async.testing
from gladia_async import GladiaError, GladiaSession
from gladia_async.testing import RunningEmulator, run_emulator, start_emulator_process

from ..conftest import FAST_POLL, FAST_RETRY, write_wav

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MARKER = re.compile(r"<!--\s*docs:\s*([a-z-]+)(?:\s+([\w.]+\.py))?")
TREE_LINE = re.compile(r"^(?P<prefix>(?:│   |    )*)(?:├── |└── )(?P<name>\w+)")


@dataclass(frozen=True)
class Block:
    """One ```python block of a docs page."""

    page: str  # relative to docs/, e.g. "guides/batches.md"
    line: int  # 1-based line of the opening fence
    kind: str  # program | snippet | pytest | conftest | aiohttp-app | module | no-run
    code: str
    filename: str | None = None  # a module's file name (``main.py``)

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def parse_blocks(path: Path) -> list[Block]:
    """Return the page's ```python blocks (also those indented inside tabs), classified."""
    lines = path.read_text(encoding="utf-8").splitlines()
    page = path.relative_to(DOCS).as_posix()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^(\s*)```python\s*$", lines[i])
        if not fence:
            i += 1
            continue
        indent = fence.group(1)
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        code = textwrap.dedent("\n".join(body)) + "\n"
        previous = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        marker = MARKER.search(previous)
        filename = None
        if marker:
            kind, filename = marker.group(1), marker.group(2)
        elif "asyncio.run(" in code or 'if __name__ == "__main__":' in code:
            kind = "program"
        else:
            kind = "snippet"
        blocks.append(Block(page=page, line=start + 1, kind=kind, code=code, filename=filename))
        i += 1
    return blocks


PAGES = sorted(DOCS.rglob("*.md"))
BLOCKS = [block for page in PAGES for block in parse_blocks(page)]
KINDS = {"program", "snippet", "pytest", "conftest", "aiohttp-app", "module", "no-run"}
#: Pages whose pytest examples another test file runs (with more set-up than a conftest).
RUN_ELSEWHERE = {"guides/fastapi.md": "tests/test_fastapi_recipe.py"}


def of_kind(kind: str) -> list[Any]:
    return [
        pytest.param(b, id=b.id)
        for b in BLOCKS
        if b.kind == kind and not (kind == "pytest" and b.page in RUN_ELSEWHERE)
    ]


def prepare_folder(folder: Path) -> Path:
    """The files the examples refer to: call.wav and a recordings/ folder."""
    write_wav(folder / "call.wav", seconds=0.5)
    recordings = folder / "recordings"
    recordings.mkdir()
    for n in range(3):
        write_wav(recordings / f"take-{n}.wav", seconds=0.25)
    return folder


def test_the_docs_have_examples_of_every_kind() -> None:
    assert {b.kind for b in BLOCKS} == KINDS, "an unknown <!-- docs: ... --> marker?"
    modules = [b.filename for b in BLOCKS if b.kind == "module"]
    assert None not in modules, "<!-- docs: module NAME.py --> names its file"
    assert len(set(modules)) == len(modules), "two pages define the same module"
    assert len(BLOCKS) >= 20
    assert all(b.code.strip() for b in BLOCKS)


def test_example_lines_fit_the_page() -> None:
    """Longer lines scroll sideways in the rendered page (checked in a browser at 1280 px)."""
    long = [
        f"{b.page}:{b.line + n}"
        for b in BLOCKS
        for n, line in enumerate(b.code.splitlines(), start=1)
        if len(line) > 88
    ]
    assert not long, f"example lines over 88 characters: {long}"


# -- programs ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator_process() -> Iterator[Any]:
    with start_emulator_process(job_duration=0.1) as emu:
        yield emu


@pytest.mark.parametrize("block", of_kind("program"))
def test_program_runs(block: Block, emulator_process: Any, tmp_path: Path) -> None:
    prepare_folder(tmp_path)
    env = {
        **os.environ,
        "GLADIA_API_KEY": emulator_process.api_key,
        "GLADIA_API_URL": emulator_process.url,
    }
    result = subprocess.run(
        [sys.executable, "-c", block.code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{block.id} failed:\n{result.stderr}"
    assert result.stdout.strip(), f"{block.id} printed nothing"


# -- snippets ----------------------------------------------------------------------------------


@pytest.fixture
async def docs_session() -> AsyncIterator[tuple[GladiaSession, RunningEmulator]]:
    async with run_emulator(job_duration=0.05) as emu:
        async with GladiaSession(
            api_key=emu.api_key, base_url=emu.url, poll=FAST_POLL, retry=FAST_RETRY
        ) as gladia:
            yield gladia, emu


@pytest.mark.parametrize("block", of_kind("snippet"))
async def test_snippet_runs(
    block: Block,
    docs_session: tuple[GladiaSession, RunningEmulator],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gladia, emu = docs_session
    monkeypatch.chdir(prepare_folder(tmp_path))
    # Leading newlines: a traceback's line numbers are the page's.
    source = "\n" * block.line + block.code
    code = compile(source, block.page, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {"__name__": "__docs__", "gladia": gladia, "emu": emu}
    result = eval(code, namespace)  # a coroutine when the snippet awaits
    if inspect.iscoroutine(result):
        await result


# -- pytest examples ---------------------------------------------------------------------------


def modules_of(page: str) -> dict[str, str]:
    """The page's ``<!-- docs: module NAME.py -->`` blocks, by file name."""
    return {b.filename: b.code for b in BLOCKS if b.page == page and b.filename is not None}


def conftest_of(page: str) -> str:
    blocks = [b for b in BLOCKS if b.page == page and b.kind == "conftest"]
    assert len(blocks) == 1, f"{page}: pytest examples need one <!-- docs: conftest --> block"
    return blocks[0].code


def run_pytest(folder: Path, *files: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run pytest on ``files`` in ``folder`` as a user's project would (asyncio mode auto)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "--rootdir",
            str(folder),
            *files,
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize("block", of_kind("pytest"))
def test_pytest_example_passes(block: Block, tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(conftest_of(block.page))
    for name, code in modules_of(block.page).items():
        (tmp_path / name).write_text(code)
    (tmp_path / "test_example.py").write_text(block.code)
    result = run_pytest(tmp_path, "test_example.py", timeout=120)
    assert result.returncode == 0, f"{block.id} failed:\n{result.stdout}\n{result.stderr}"
    assert re.search(r"\b[1-9]\d* passed\b", result.stdout), result.stdout


# -- the aiohttp web app ----------------------------------------------------------------------


@pytest.mark.parametrize("block", of_kind("aiohttp-app"))
async def test_aiohttp_app_transcribes(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    namespace: dict[str, Any] = {"__name__": "docs_web_app"}  # not __main__: no run_app()
    exec(compile("\n" * block.line + block.code, block.page, "exec"), namespace)
    async with run_emulator(job_duration=0.05) as emu:
        monkeypatch.setenv("GLADIA_API_KEY", emu.api_key)
        monkeypatch.setenv("GLADIA_API_URL", emu.url)
        async with TestClient(TestServer(namespace["make_app"]())) as client:
            ok = await client.post("/transcribe", json={"audio_url": "https://example.com/a.wav"})
            assert ok.status == 200, await ok.text()
            assert (await ok.json())["text"]
            bad = await client.post("/transcribe", json={"audio_url": "no-such-file.wav"})
            assert bad.status == 400, await bad.text()
            assert emu.stats.jobs_created == 1


# -- blocks that do not run --------------------------------------------------------------------


@pytest.mark.parametrize("block", of_kind("no-run") + of_kind("module"))
def test_no_run_block_compiles(block: Block) -> None:
    compile("\n" * block.line + block.code, block.page, "exec")


SNIPPET_HEADER = (
    "from gladia_async import GladiaSession\n"
    "from gladia_async.testing import RunningEmulator\n\n\n"
    "async def _snippet(gladia: GladiaSession, emu: RunningEmulator) -> None:\n"
)
#: mypy's settings for the examples: ``--strict``, as a user's project would check them. Only
#: the official SDK (shown side by side in the migration guide) is not installed here.
MYPY_CONFIG = """\
[mypy]
strict = True
warn_unused_ignores = True

[mypy-gladiaio_sdk.*]
ignore_missing_imports = True
"""


def readme_blocks() -> list[Block]:
    """The README's ```python blocks: complete programs, checked like the docs' own."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    blocks = []
    for n, line in enumerate(lines):
        if line.strip() == "```python":
            end = lines.index("```", n + 1)
            code = "\n".join(lines[n + 1 : end]) + "\n"
            blocks.append(Block(page="../README.md", line=n + 1, kind="program", code=code))
    return blocks


def as_module(block: Block) -> str:
    """The block as a user copies it into a module: a snippet in an ``async def`` body."""
    if block.kind != "snippet":
        return block.code
    return SNIPPET_HEADER + textwrap.indent(block.code, "    ")


def type_check(blocks: list[Block], folder: Path) -> tuple[int, str]:
    """Run ``mypy --strict`` once over every block; return its exit code and its report.

    The report names each error by its docs page and line (``docs/guides/x.md:42: error``).
    """
    files = []
    for n, block in enumerate(blocks):
        # A module keeps its name: the examples next to it import it (``from main import``).
        path = folder / (block.filename or f"docs_example_{n:03d}.py")
        path.write_text(as_module(block))
        files.append(path)
    (folder / "mypy.ini").write_text(MYPY_CONFIG)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(folder / "mypy.ini"),
            "--cache-dir",
            str(ROOT / ".mypy_cache" / "docs"),
            *map(str, files),
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    def page_line(match: re.Match[str]) -> str:
        block = blocks[int(match.group(1))]
        header = SNIPPET_HEADER.count("\n") if block.kind == "snippet" else 0
        return f"docs/{block.page}:{block.line + int(match.group(2)) - header}:"

    report = re.sub(r"docs_example_(\d{3})\.py:(\d+):", page_line, result.stdout)
    for block in blocks:
        if block.filename is not None:
            report = report.replace(f"{block.filename}:", f"docs/{block.page}: {block.filename}:")
    return result.returncode, report.replace("docs/../", "")


def test_the_readme_and_the_docs_have_blocks_to_type_check() -> None:
    assert len(readme_blocks()) >= 2
    assert len(BLOCKS) >= 50


def test_every_example_type_checks_strictly(tmp_path: Path) -> None:
    """Every ```python block of README.md and docs/ passes ``mypy --strict`` as copied.

    A snippet (no scaffolding of its own) is checked as the body of an ``async def`` holding
    ``gladia`` and ``emu``, the names it runs with; nothing is waived: a ``job.result`` read
    without narrowing it from ``None`` fails here, as it would in a user's project.
    """
    code, report = type_check(readme_blocks() + BLOCKS, tmp_path)
    assert code == 0, report


# -- the error tree ----------------------------------------------------------------------------


def error_trees() -> list[tuple[str, str]]:
    trees = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for tree in re.findall(r"```text\n(GladiaError\n.*?)```", text, flags=re.S):
            trees.append((page.relative_to(DOCS).as_posix(), tree))
    return trees


def test_the_error_tree_is_drawn() -> None:
    assert {page for page, _ in error_trees()} >= {"guides/errors.md", "reference/errors.md"}


@pytest.mark.parametrize(("page", "tree"), error_trees(), ids=lambda v: str(v)[:24])
def test_the_drawn_error_tree_is_the_real_one(page: str, tree: str) -> None:
    parents: dict[str, str] = {}
    stack = ["GladiaError"]
    for line in tree.splitlines()[1:]:
        match = TREE_LINE.match(line)
        assert match, f"{page}: cannot read tree line {line!r}"
        depth = len(match.group("prefix")) // 4 + 1
        del stack[depth:]
        parents[match.group("name")] = stack[-1]
        stack.append(match.group("name"))
    exported = {
        name
        for name in gladia_async.__all__
        if isinstance(obj := getattr(gladia_async, name), type) and issubclass(obj, GladiaError)
    }
    assert set(parents) | {"GladiaError"} == exported, f"{page}: tree and __all__ differ"
    for name, parent in parents.items():
        cls = getattr(gladia_async, name)
        assert getattr(gladia_async, parent) in cls.__bases__, f"{page}: {name} is not a {parent}"


# -- docstrings --------------------------------------------------------------------------------


def load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "tools" / "docs_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def own_doc(obj: object) -> str:
    if isinstance(obj, type):
        return obj.__dict__.get("__doc__") or ""
    return getattr(obj, "__doc__", None) or ""


@pytest.mark.parametrize("module", [gladia_async, gladia_async.testing], ids=lambda m: m.__name__)
def test_every_public_class_and_function_has_a_docstring(module: ModuleType) -> None:
    """Runs without the docs extra: what the interpreter itself can tell."""
    waived = load_hooks().AWAITING_MEMBER_DOCSTRING
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        if typing.get_origin(obj) is not None:
            continue  # a generic alias (Callable[...]); on 3.10 it even passes for a type
        if not (isinstance(obj, type) or inspect.isfunction(obj)):
            continue  # constants and aliases: checked from the source by the next test
        if not own_doc(obj).strip():
            missing.append(f"{module.__name__}.{name}")
        if not isinstance(obj, type):
            continue
        for member_name, member in vars(obj).items():
            qualified = f"{module.__name__}.{name}.{member_name}"
            if member_name.startswith("_") or qualified in waived:
                continue
            function = (
                member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
            )
            if (inspect.isfunction(function) or isinstance(member, property)) and not (
                (function.__doc__ or "").strip()
            ):
                missing.append(qualified)
    assert not missing, f"public names without a docstring: {missing}"


def test_every_public_name_has_a_docstring_on_the_site() -> None:
    """As the reference generator reads them (``#:`` comments included); needs the docs extra."""
    pytest.importorskip("griffe")
    pytest.importorskip("griffe_sphinx")
    hooks = load_hooks()
    assert hooks.missing_docstrings() == []
    names, members = hooks.undocumented()
    # The waivers only shrink: a name that got its docstring must leave the list.
    assert set(names) >= hooks.AWAITING_DOCSTRING
    assert set(members) >= hooks.AWAITING_MEMBER_DOCSTRING


# -- the site ---------------------------------------------------------------------------------


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """Broken links, unknown references, undocumented names: warnings that fail the build."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    session = tmp_path / "site" / "reference" / "session" / "index.html"
    # Long signatures are formatted one parameter per line (ruff, in the docs extra), not cut
    # at the page's right edge.
    signature = re.search(
        r'<div class="doc-signature highlight"><pre>(.*?)</pre>', session.read_text(), re.S
    )
    assert signature is not None, "separate_signature: true in mkdocs.yml"
    assert signature.group(1).count("\n") > 10, "GladiaSession's signature is one line"


# -- links from the README ---------------------------------------------------------------------


def test_the_readme_links_into_existing_pages() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", readme)
    assert len(targets) >= 5, "the README links into the guides"
    for target in targets:
        assert (ROOT / target).is_file(), f"README links to a missing {target}"
