"""pytest plugin providing the ``gladia_emulator`` fixture.

Enable it with ``pytest_plugins = ["gladia_async.testing.pytest_plugin"]`` (in a
``conftest.py``). The fixture yields a running :class:`~gladia_async.testing.RunningEmulator`;
configure it per test with the ``gladia_emulator`` marker, whose keyword arguments go to
:class:`~gladia_async.testing.GladiaEmulator`::

    @pytest.mark.gladia_emulator(job_duration=0, latency=0.01)
    async def test_something(gladia_emulator):
        ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from ._runner import RunningEmulator, run_emulator

__all__ = ["gladia_emulator"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gladia_emulator(**kwargs): keyword arguments for the gladia_emulator fixture",
    )


@pytest_asyncio.fixture
async def gladia_emulator(request: pytest.FixtureRequest) -> AsyncIterator[RunningEmulator]:
    """A Gladia emulator listening on 127.0.0.1 (free port) for one test."""
    marker = request.node.get_closest_marker("gladia_emulator")
    kwargs = dict(marker.kwargs) if marker is not None else {}
    async with run_emulator(**kwargs) as running:
        yield running
