"""The FastAPI guide's app and tests run as written; the thread emulator cannot deadlock.

``docs/guides/fastapi.md`` holds an app (``<!-- docs: module main.py -->``), a conftest and
pytest examples for both FastAPI's sync ``TestClient`` and ``httpx.AsyncClient``. They run here
in a pytest subprocess, as a user's project would run them.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import aiohttp
import anyio
import pytest

from gladia_async import GladiaSession
from gladia_async.testing import RunningEmulator, run_emulator_in_thread

from .test_docs import BLOCKS, RUN_ELSEWHERE, conftest_of, modules_of, run_pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("multipart")  # python-multipart: FastAPI's form uploads

PAGE = "guides/fastapi.md"


def test_the_page_is_run_here() -> None:
    assert RUN_ELSEWHERE[PAGE] == "tests/test_fastapi_recipe.py"
    assert set(modules_of(PAGE)) == {"main.py"}
    code = "".join(b.code for b in BLOCKS if b.page == PAGE)
    assert "TestClient(app)" in code and "httpx.AsyncClient" in code
    assert "UploadFile" in code and "filename=" in code


def test_the_fastapi_page_examples_pass(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(conftest_of(PAGE))
    for name, code in modules_of(PAGE).items():
        (tmp_path / name).write_text(code)
    tests = [b for b in BLOCKS if b.page == PAGE and b.kind == "pytest"]
    assert len(tests) == 2
    for n, block in enumerate(tests):
        (tmp_path / f"test_example_{n}.py").write_text(block.code)
    started = time.monotonic()
    result = run_pytest(tmp_path, *(f"test_example_{n}.py" for n in range(len(tests))), timeout=240)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert re.search(r"\b3 passed\b", result.stdout), result.stdout
    # A deadlocked TestClient would wait out the session's timeout (minutes), not seconds.
    assert time.monotonic() - started < 120


def test_the_thread_emulator_answers_while_the_test_thread_blocks() -> None:
    """The emulator runs on its own loop: a client on another loop in another thread is
    answered while this thread waits, as with FastAPI's TestClient."""

    async def transcribe(emu: RunningEmulator) -> str:
        async with GladiaSession(api_key=emu.api_key, base_url=emu.url) as gladia:
            with anyio.fail_after(30):
                job = await gladia.transcribe("https://example.com/a.wav")
        return job.status.value

    with run_emulator_in_thread(job_duration=0) as emu:
        answers: list[str] = []
        worker = threading.Thread(target=lambda: answers.append(anyio.run(transcribe, emu)))
        worker.start()
        worker.join(timeout=60)  # this thread blocks, as TestClient's caller does
        assert not worker.is_alive()
        assert answers == ["done"]
        assert emu.stats.jobs_created == 1


def test_the_thread_emulator_stops_when_the_block_exits() -> None:
    threads_before = threading.active_count()
    with run_emulator_in_thread() as emu:
        url = emu.url

    async def connect() -> None:
        async with aiohttp.ClientSession() as http:
            await http.get(f"{url}/v2/pre-recorded")

    with pytest.raises(aiohttp.ClientConnectionError):
        anyio.run(connect)
    assert threading.active_count() == threads_before
