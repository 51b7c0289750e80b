"""pytest plugin providing the ``gladia_emulator`` and ``gladia_emulator_thread`` fixtures.

Enable it with ``pytest_plugins = ["gladia_async.testing.pytest_plugin"]`` (in a
``conftest.py``). The fixture yields a running :class:`~gladia_async.testing.RunningEmulator`;
configure it per test with the ``gladia_emulator`` marker, whose keyword arguments go to
:class:`~gladia_async.testing.GladiaEmulator`::

    @pytest.mark.gladia_emulator(job_duration=0, latency=0.01)
    async def test_something(gladia_emulator):
        ...

Which fixture goes with which client:

* ``gladia_emulator`` serves the emulator on the test's own event loop: use it from ``async def``
  tests, with clients that run the app on that loop too (``httpx.AsyncClient`` with
  ``httpx.ASGITransport``, aiohttp's ``TestClient``).
* ``gladia_emulator_thread`` serves it on a loop of its own in a background thread
  (:func:`~gladia_async.testing.run_emulator_in_thread`): use it from plain ``def`` tests with
  a client that blocks the test's thread, such as FastAPI's sync ``TestClient`` (which runs the
  app on another loop and waits for it: with ``gladia_emulator`` the emulator could never
  answer, and the app's request would hang until its timeout).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from ._runner import RunningEmulator, run_emulator
from ._thread import run_emulator_in_thread

__all__ = ["gladia_emulator", "gladia_emulator_thread"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gladia_emulator(**kwargs): keyword arguments for the gladia_emulator fixture",
    )


def _marker_kwargs(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("gladia_emulator")
    return dict(marker.kwargs) if marker is not None else {}


@pytest_asyncio.fixture
async def gladia_emulator(request: pytest.FixtureRequest) -> AsyncIterator[RunningEmulator]:
    """A Gladia emulator listening on 127.0.0.1 (free port) for one test, on its event loop."""
    async with run_emulator(**_marker_kwargs(request)) as running:
        yield running


@pytest.fixture
def gladia_emulator_thread(request: pytest.FixtureRequest) -> Iterator[RunningEmulator]:
    """A Gladia emulator for one sync test, served from a background thread's own loop.

    For clients that block the test's thread while the app runs elsewhere, such as FastAPI's
    sync ``TestClient``. Configured by the same ``gladia_emulator`` marker.
    """
    with run_emulator_in_thread(**_marker_kwargs(request)) as running:
        yield running
