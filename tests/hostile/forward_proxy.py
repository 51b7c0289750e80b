"""A small forward HTTP proxy on raw sockets, recording every request head it is given.

Handles what a proxy sees from a client: absolute-form requests (``GET http://host/path``,
forwarded to the host in origin form, one request per connection) and ``CONNECT host:port``
(answered with ``connect_status``: 200 opens a byte tunnel, anything else refuses it).
WebSocket upgrades are forwarded and then piped both ways. Hosts listed in ``answers`` are
answered by the proxy itself (a stand-in for "another host" on the internet).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from yarl import URL


@dataclass
class ProxiedRequest:
    method: str
    target: str
    headers: dict[str, str]


@dataclass
class ForwardProxy:
    url: str = ""
    requests: list[ProxiedRequest] = field(default_factory=list)
    #: Every byte clients sent to the proxy (tunnelled bytes included).
    received: bytearray = field(default_factory=bytearray)
    connect_status: int = 200
    #: host -> body the proxy answers itself for that host (200, text/plain).
    answers: dict[str, bytes] = field(default_factory=dict)
    require_auth: str | None = None  # an exact Proxy-Authorization value, else 407
    #: host -> address the proxy connects to instead (names only the proxy can resolve).
    hosts: dict[str, str] = field(default_factory=dict)

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, record: bool
    ) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while chunk := await src.read(65536):
                if record:
                    self.received += chunk
                dst.write(chunk)
                await dst.drain()
        with contextlib.suppress(OSError, RuntimeError):
            dst.close()

    async def _tunnel(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        await asyncio.gather(
            self._pipe(reader, up_writer, True), self._pipe(up_reader, writer, False)
        )

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        self.received += head
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        self.requests.append(ProxiedRequest(method, target, headers))
        if self.require_auth is not None and headers.get("proxy-authorization") != (
            self.require_auth
        ):
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n")
            writer.write(b"Connection: close\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        if method == "CONNECT":
            if self.connect_status != 200:
                writer.write(
                    f"HTTP/1.1 {self.connect_status} Refused\r\nContent-Length: 0\r\n\r\n".encode()
                )
                await writer.drain()
                writer.close()
                return
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await self._tunnel(reader, writer, up_reader, up_writer)
            return
        url = URL(target)
        if url.host in self.answers:
            body = self.answers[url.host]
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            writer.close()
            return
        assert url.host is not None and url.port is not None
        up_reader, up_writer = await asyncio.open_connection(
            self.hosts.get(url.host, url.host), url.port
        )
        upgrade = "upgrade" in headers
        out = [f"{method} {url.raw_path_qs} HTTP/1.1"]
        for line in lines[1:]:
            name = line.split(":", 1)[0].strip().lower()
            if not line or name.startswith("proxy-") or (name == "connection" and not upgrade):
                continue
            out.append(line)
        if not upgrade:
            out.append("Connection: close")  # one request per connection: each one is recorded
        up_writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
        await self._tunnel(reader, writer, up_reader, up_writer)


@contextlib.asynccontextmanager
async def run_proxy(**settings: object) -> AsyncIterator[ForwardProxy]:
    proxy = ForwardProxy(**settings)  # type: ignore[arg-type]
    tasks: set[asyncio.Task[None]] = set()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await proxy.handle(reader, writer)
        except (OSError, ConnectionError, asyncio.IncompleteReadError):
            writer.close()
        finally:
            tasks.discard(task)

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proxy.url = f"http://127.0.0.1:{port}"
    try:
        yield proxy
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
