"""A file server that serves every job file slowly, for the downloads' time classes.

aiohttp.web, not the emulator: ``GET /v2/{live,pre-recorded}/{id}/file`` answers ``chunks``
chunks of 64 KiB, one every ``interval`` seconds (steady progress, never a stall), and the
server counts the requests it got.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

__all__ = ["SlowFiles", "slow_files"]

CHUNK = b"\x01" * (64 << 10)


@dataclass
class SlowFiles:
    chunks: int
    interval: float
    requests: int = 0
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def size(self) -> int:
        return self.chunks * len(CHUNK)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        response = web.StreamResponse(headers={"Content-Type": "audio/wav"})
        response.content_length = self.size
        await response.prepare(request)
        for _ in range(self.chunks):
            await response.write(CHUNK)
            await asyncio.sleep(self.interval)
        await response.write_eof()
        return response


@contextlib.asynccontextmanager
async def slow_files(chunks: int, interval: float) -> AsyncIterator[SlowFiles]:
    """Run a :class:`SlowFiles` server on a free loopback port."""
    server = SlowFiles(chunks=chunks, interval=interval)
    app = web.Application()
    app.router.add_get("/v2/{kind}/{job}/file", server._file)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    try:
        yield server
    finally:
        await runner.cleanup()
