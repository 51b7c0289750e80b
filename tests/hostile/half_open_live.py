"""An independent live server (aiohttp.web, not the emulator) that acknowledges like Gladia.

It answers ``POST /v2/live`` with a token URL and serves that WebSocket the way the real
service does: every binary frame it keeps is acknowledged with a **half-open** session
``byte_range`` ``[start, end)`` (Gladia's docs: ``[1024, 2048]`` for a 1,024-byte chunk), and
it keeps whatever it receives, in order, duplicates included: a client that replays from the
wrong offset corrupts :attr:`HalfOpenLiveServer.kept`. ``drop_at`` offsets drop the socket
(no close frame, the triggering frame not kept) when the kept audio would pass them.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web


@dataclass
class HalfOpenLiveServer:
    drop_at: list[int] = field(default_factory=list)
    kept: bytearray = field(default_factory=bytearray)
    connections: int = 0
    drops: int = 0
    stopped: bool = False
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    url: str = ""

    async def create(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        ws_url = self.url.replace("http://", "ws://") + "/socket?token=t0k3n"
        return web.json_response({"id": self.session_id, "url": ws_url}, status=201)

    async def socket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        async for msg in ws:
            if msg.type is WSMsgType.BINARY:
                start, end = len(self.kept), len(self.kept) + len(msg.data)
                due = [offset for offset in self.drop_at if start < offset <= end]
                if due:
                    self.drop_at.remove(due[0])
                    self.drops += 1
                    await _drop(request, ws)
                    return ws
                self.kept += msg.data
                await ws.send_json(
                    {
                        "type": "audio_chunk",
                        "session_id": self.session_id,
                        "acknowledged": True,
                        "error": None,
                        "data": {"byte_range": [start, end], "time_range": [0, 0]},
                    }
                )
            elif msg.type is WSMsgType.TEXT and '"stop_recording"' in msg.data:
                self.stopped = True
                base = {"session_id": self.session_id}
                await ws.send_json(
                    {**base, "type": "stop_recording", "acknowledged": True, "data": {}}
                )
                await ws.send_json(
                    {
                        **base,
                        "type": "post_final_transcript",
                        "data": {"transcription": {"full_transcript": "kept"}},
                    }
                )
                await ws.send_json({**base, "type": "end_session"})
                await ws.close(code=1000)
        return ws


async def _drop(request: web.Request, ws: web.WebSocketResponse) -> None:
    """Drop without a close frame, after the acknowledgements already written (a bare close
    with unread frames would make the kernel reset the connection and lose them)."""
    transport = request.transport
    assert transport is not None
    transport.write_eof()
    with contextlib.suppress(asyncio.TimeoutError, ConnectionError, RuntimeError):
        await asyncio.wait_for(_discard_until_closed(ws), timeout=5)
    transport.close()


async def _discard_until_closed(ws: web.WebSocketResponse) -> None:
    while (await ws.receive()).type not in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
        pass


@contextlib.asynccontextmanager
async def half_open_live_server(drop_at: list[int]) -> AsyncIterator[HalfOpenLiveServer]:
    """Run a :class:`HalfOpenLiveServer` on a free loopback port for the block."""
    server = HalfOpenLiveServer(drop_at=list(drop_at))
    app = web.Application()
    app.router.add_post("/v2/live", server.create)
    app.router.add_get("/socket", server.socket)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield server
    finally:
        await runner.cleanup()
