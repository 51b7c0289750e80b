"""The upload watchdog: an upload whose body stops moving fails instead of hanging the call.

aiohttp bounds reads, not writes: a server that stops reading a request body would hold an
upload until ``Timeouts.upload`` (none by default). The body counts the bytes it hands over
(:class:`TransferProgress`); :class:`UploadWatchdog` watches the count beside the request.
"""

from __future__ import annotations

import math
from typing import Literal

import anyio

__all__ = ["TransferProgress", "UploadWatchdog"]


class TransferProgress:
    """Bytes moved by a streamed upload body; the transport's stall watchdog reads it.

    Updated from whichever thread reads the file (aiohttp reads files in an executor): a plain
    integer store, read by the event loop, needs no lock.
    """

    __slots__ = ("bytes", "finished")

    def __init__(self) -> None:
        self.bytes = 0
        self.finished = False


class UploadWatchdog:
    """Cancels an upload whose body stopped moving for ``limit`` seconds, or that is idle at
    the call's deadline (``ends``, loop time).

    An upload still moving at the deadline goes on: a large file on a slow link is slow, not
    stuck, and ``Timeouts.upload`` bounds it if the caller wants a hard limit.
    """

    def __init__(
        self,
        progress: TransferProgress,
        limit: float | None,
        ends: float,
        scope: anyio.CancelScope,
    ) -> None:
        self.progress = progress
        self.limit = limit if limit is not None else math.inf
        self.ends = ends
        self.scope = scope
        self.reason: Literal["stalled", "deadline"] | None = None

    async def run(self) -> None:
        seen = self.progress.bytes
        last_move = anyio.current_time()
        tick = max(min(self.limit / 4, 0.25), 0.01)
        while True:
            now = anyio.current_time()
            await anyio.sleep(max(min(tick, self.ends - now), 0))
            now = anyio.current_time()
            moved = self.progress.bytes != seen
            if moved:
                seen, last_move = self.progress.bytes, now
            if self.progress.finished:
                if now >= self.ends:  # body sent, answer still missing at the deadline
                    self.reason = "deadline"
                    self.scope.cancel()
                    return
                continue
            if now - last_move >= self.limit:
                self.reason = "stalled"
            elif now >= self.ends and not moved:
                self.reason = "deadline"
            else:
                continue
            self.scope.cancel()
            return
