"""Hostile callback senders over raw sockets, for the receiver's guarantees.

Not the emulator and not the SDK: each function speaks HTTP/1.1 by hand to a receiver's URL,
the way a stranger who found the URL could.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

#: One reused megabyte, so a sender's own memory stays flat however much it claims to send.
_MEGABYTE = b" " * (1024 * 1024)


def _target(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return parts.hostname or "127.0.0.1", parts.port or 80, path


async def flood(url: str, megabytes: int, *, chunked: bool = False) -> tuple[int | None, int]:
    """POST a ``megabytes`` body of spaces; return (status answered or None, bytes sent).

    Stops sending as soon as the receiver answers (or hangs up), as a real client would.
    ``chunked``: no Content-Length, so the receiver cannot refuse on the header alone.
    """
    host, port, path = _target(url)
    reader, writer = await asyncio.open_connection(host, port)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {megabytes << 20}"
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    writer.write(f"{head}{framing}\r\n\r\n".encode())
    sent = 0
    answer: asyncio.Task[bytes] = asyncio.ensure_future(reader.readline())
    try:
        for _ in range(megabytes):
            if answer.done():
                break
            if chunked:
                writer.write(f"{len(_MEGABYTE):x}\r\n".encode() + _MEGABYTE + b"\r\n")
            else:
                writer.write(_MEGABYTE)
            try:
                await writer.drain()
            except ConnectionError:
                break
            sent += len(_MEGABYTE)
        else:
            if chunked:
                writer.write(b"0\r\n\r\n")
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
        try:
            line = await asyncio.wait_for(answer, 30)
        except (ConnectionError, asyncio.IncompleteReadError):
            line = b""
    finally:
        answer.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    fields = line.split()
    return (int(fields[1]) if len(fields) > 1 else None), sent


async def hang_up_mid_body(url: str, *, chunked: bool = False) -> None:
    """Start a 1 MB POST, send 1000 bytes of it, then close the connection."""
    host, port, path = _target(url)
    _, writer = await asyncio.open_connection(host, port)
    framing = "Transfer-Encoding: chunked" if chunked else "Content-Length: 1048576"
    writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{framing}\r\n\r\n".encode())
    writer.write(b"100000\r\n" + b"{" * 1000 if chunked else b"{" * 1000)
    await writer.drain()
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
