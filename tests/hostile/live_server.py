"""A live API that misbehaves on cue (aiohttp.web, not the emulator), for the live guarantees.

``POST /v2/live`` answers a session whose socket URL points back at this server (or at
``socket_url``, say a raw socket that never answers); ``GET /v2/live/{id}`` answers a finished
job without a result. Each WebSocket connection is handed to the test's behaviour, an async
function of the socket and the server; the server counts and times the handshakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from .raw_http import KEY

__all__ = [
    "KEY",
    "SESSION_ID",
    "LiveServer",
    "end_session",
    "live_server",
    "read_until_stop",
    "transcript",
]

SESSION_ID = "6a1c5b0e-2f4d-4c8a-9e3b-7d5f1a2b3c4d"

Behaviour = Callable[[web.WebSocketResponse, "LiveServer"], Awaitable[None]]


@dataclass
class LiveServer:
    behaviour: Behaviour
    socket_url: str | None = None
    #: answer this many handshakes, then leave every later one unanswered (None: all)
    answer_handshakes: int | None = None
    #: monotonic time of each WebSocket handshake the server answered
    handshakes: list[float] = field(default_factory=list)
    audio_bytes: int = 0  # binary audio received over every connection
    sent: int = 0  # messages the behaviours report having sent
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _create(self, request: web.Request) -> web.Response:
        url = self.socket_url or f"ws://127.0.0.1:{self.port}/socket?token=t0k3n"
        return web.json_response({"id": SESSION_ID, "url": url}, status=201)

    async def _job(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "id": SESSION_ID,
                "request_id": "G-1",
                "version": 2,
                "status": "done",
                "created_at": "2026-01-01T00:00:00Z",
                "kind": "live",
                "result": None,
            }
        )

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if self.answer_handshakes is not None and len(self.handshakes) >= self.answer_handshakes:
            await hang_forever()
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.handshakes.append(time.monotonic())
        with contextlib.suppress(ConnectionError):
            await self.behaviour(ws, self)
        return ws


@contextlib.asynccontextmanager
async def live_server(
    behaviour: Behaviour, *, socket_url: str | None = None
) -> AsyncIterator[LiveServer]:
    """Run a :class:`LiveServer` on a free port for the duration of the block."""
    srv = LiveServer(behaviour, socket_url=socket_url)
    app = web.Application()
    app.router.add_post("/v2/live", srv._create)
    app.router.add_get("/socket", srv._socket)
    app.router.add_get("/v2/live/{id}", srv._job)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    srv.port = runner.addresses[0][1]
    try:
        yield srv
    finally:
        await runner.cleanup()


def transcript(n: int, text: str = "") -> str:
    """A final transcript message numbered ``n`` (its utterance id), with ``text``."""
    return orjson.dumps(
        {
            "type": "transcript",
            "session_id": SESSION_ID,
            "data": {"id": f"u{n}", "is_final": True, "utterance": {"text": text}},
        }
    ).decode()


async def read_until_stop(ws: web.WebSocketResponse, srv: LiveServer) -> bool:
    """Read (counting audio) until ``stop_recording``: True, or the socket closed: False."""
    async for msg in ws:
        if msg.type is WSMsgType.BINARY:
            srv.audio_bytes += len(msg.data)
        elif msg.type is WSMsgType.TEXT:
            body: Any = orjson.loads(msg.data)
            if isinstance(body, dict) and body.get("type") == "stop_recording":
                return True
    return False


async def end_session(ws: web.WebSocketResponse) -> None:
    """Send the final result and ``end_session``, then close with 1000."""
    await ws.send_str(
        orjson.dumps(
            {
                "type": "post_final_transcript",
                "session_id": SESSION_ID,
                "data": {"transcription": {"full_transcript": "done"}},
            }
        ).decode()
    )
    await ws.send_str(orjson.dumps({"type": "end_session", "session_id": SESSION_ID}).decode())
    await ws.close(code=1000)


async def hang_forever() -> None:
    await asyncio.Event().wait()
