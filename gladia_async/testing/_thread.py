"""The emulator on its own event loop in a background thread, for synchronous test clients.

FastAPI's (Starlette's) sync ``TestClient`` runs the app on an event loop of its own in a
worker thread and blocks the calling thread until each request is answered. An emulator served
on the *test's* event loop (the async ``gladia_emulator`` fixture) then never runs while the
app waits for it: the request hangs until the session's timeout. :func:`run_emulator_in_thread`
serves the emulator on a loop that nothing else blocks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from anyio.from_thread import start_blocking_portal

from ._app import GladiaEmulator
from ._runner import RunningEmulator, run_emulator

__all__ = ["run_emulator_in_thread"]


@contextlib.contextmanager
def run_emulator_in_thread(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    emulator: GladiaEmulator | None = None,
    **kwargs: Any,
) -> Iterator[RunningEmulator]:
    """Serve an emulator from a background thread's event loop for the duration of the block.

    A plain (sync) context manager taking :func:`run_emulator`'s arguments; use it with
    synchronous clients such as FastAPI's ``TestClient``, or from code that has no running
    loop. The emulator is stopped and its thread joined when the block exits. Reading
    ``stats`` or ``requests`` from the test's thread is fine; to change the emulator's state
    while it serves (``emulator.faults = ...``), do it between requests.

    Usage::

        with run_emulator_in_thread(job_duration=0) as emu:
            with TestClient(app) as client:  # the app reads emu.url and emu.api_key
                ...
    """
    with start_blocking_portal() as portal:
        served = run_emulator(host=host, port=port, emulator=emulator, **kwargs)
        with portal.wrap_async_context_manager(served) as running:
            yield running
