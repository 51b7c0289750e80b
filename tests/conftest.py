"""Shared fixtures: an emulator on a free loopback port and a session pointed at it."""

from __future__ import annotations

import asyncio
import math
import struct
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gladia_async import GladiaSession, PollPolicy, RetryPolicy
from gladia_async.testing import run_emulator

FAST_POLL = PollPolicy(interval_initial=0.01, interval_max=0.05, deadline=30)
FAST_RETRY = RetryPolicy(attempts=4, backoff_initial=0.001, backoff_max=0.01, retry_after_max=0.05)


def write_wav(path: Path, seconds: float = 1.0, rate: int = 16_000, channels: int = 1) -> Path:
    """Write a short sine-tone WAV file and return its path."""
    frames = int(rate * seconds)
    sample = b"".join(
        struct.pack("<h", int(6000 * math.sin(2 * math.pi * 440 * n / rate))) * channels
        for n in range(frames)
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(sample)
    return path


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "call.wav", seconds=2.0)


@pytest.fixture
async def emu() -> AsyncIterator[object]:
    async with run_emulator(job_duration=0.05) as running:
        yield running


@pytest.fixture
async def gladia(emu: object) -> AsyncIterator[GladiaSession]:
    async with GladiaSession(
        api_key=emu.api_key,  # type: ignore[attr-defined]
        base_url=emu.url,  # type: ignore[attr-defined]
        poll=FAST_POLL,
        retry=FAST_RETRY,
    ) as session:
        yield session


def pending_tasks() -> set[asyncio.Task[object]]:
    """Client-side tasks other than the current one that have not finished.

    The in-process emulator's own connection handlers (and the loop's accept tasks for the
    connections they serve) are server tasks, not ours: left out.
    """
    current = asyncio.current_task()
    server = ("RequestHandler", "_accept_connection")
    return {
        t
        for t in asyncio.all_tasks()
        if t is not current
        and not t.done()
        and not any(s in getattr(t.get_coro(), "__qualname__", "") for s in server)
    }


def open_connections(session: GladiaSession) -> int:
    """Connections the session's pool has handed out and not yet taken back."""
    connector = session.transport.connector
    return 0 if connector is None else len(connector._acquired)
