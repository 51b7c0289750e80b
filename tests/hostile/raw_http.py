"""A small raw-socket HTTP server that misbehaves on cue, for the transport's guarantees.

Not the emulator: each test hands it a behaviour (an async function that gets the parsed
request and the raw socket writer) and the server counts what it received.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

KEY = "sk-hostile-SECRET-0123456789abcdef"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    reader: asyncio.StreamReader
    arrived: float

    async def read_body(self) -> bytes:
        """Read a Content-Length or chunked body."""
        if "content-length" in self.headers:
            return await self.reader.readexactly(int(self.headers["content-length"]))
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int((await self.reader.readline()).strip().split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    return bytes(out)
                out += await self.reader.readexactly(size)
                await self.reader.readline()
        return b""


Behaviour = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class HostileServer:
    behaviour: Behaviour
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                request = Request(method, path, headers, reader, time.monotonic())
                self.requests.append(request)
                await self.behaviour(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def hostile(behaviour: Behaviour) -> AsyncIterator[HostileServer]:
    """Run a :class:`HostileServer` on a free port for the duration of the block."""
    srv = HostileServer(behaviour)
    tasks: set[asyncio.Task[None]] = set()

    async def on_connect(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await srv._handle(r, w)
        finally:
            tasks.discard(task)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    srv.port = server.sockets[0].getsockname()[1]
    try:
        yield srv
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def response(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """A well-formed HTTP/1.1 response."""
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    return head.encode() + b"\r\n" + body


JOB_ID = "45463597-20b7-4af7-b3b3-f5fb778203ab"


def job_json(status: str = "done") -> bytes:
    return (
        b'{"id":"%s","request_id":"G-1","version":2,"status":"%s","created_at":'
        b'"2026-01-01T00:00:00Z","kind":"pre-recorded","file":null,"request_params":'
        b'{"audio_url":"https://x/y.wav"},"result":null,"error_code":null,'
        b'"custom_metadata":null}' % (JOB_ID.encode(), status.encode())
    )


async def never_answer(request: Request, writer: asyncio.StreamWriter) -> None:
    """Accept, read the request, never answer."""
    await asyncio.sleep(3600)
