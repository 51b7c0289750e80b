"""The receiver served by a web framework: an aiohttp.web handler and an ASGI app.

Both are thin wrappers over the framework-neutral :meth:`CallbackReceiver.admit` and
:meth:`CallbackReceiver.receive`: the token (and a declared length) is checked before the body
is read, the body is read up to ``max_body_bytes``, and a sender that hangs up mid-body costs
one log line. This is the one module of the client side that imports ``aiohttp.web``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Protocol, TypeAlias

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .events import CallbackReply, too_large

__all__ = [
    "AiohttpHandler",
    "AiohttpRoutes",
    "AsgiApp",
    "Receiving",
    "aiohttp_handler",
    "aiohttp_routes",
    "asgi_app",
]

log = logging.getLogger("gladia_async")

AiohttpHandler: TypeAlias = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""An aiohttp.web request handler."""

AiohttpRoutes: TypeAlias = list[web.RouteDef]
"""Route definitions for ``app.add_routes(...)``."""

AsgiApp: TypeAlias = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
"""An ASGI application: ``await app(scope, receive, send)``."""

Kind: TypeAlias = Literal["callback", "webhook", "auto"]


class Receiving(Protocol):
    """What the adapters need of a receiver (a :class:`CallbackReceiver` fits)."""

    max_body_bytes: int
    stats: dict[str, int]

    def admit(
        self, query: str | Mapping[str, str] = "", *, content_length: int | None = None
    ) -> CallbackReply | None: ...

    async def receive(
        self, body: bytes, *, query: str | Mapping[str, str] = "", kind: Kind = "auto"
    ) -> CallbackReply: ...


def _refuse_too_large(receiver: Receiving) -> CallbackReply:
    receiver.stats["malformed"] += 1
    return too_large(receiver.max_body_bytes)


def aiohttp_handler(receiver: Receiving, kind: Kind = "auto") -> AiohttpHandler:
    """Return an aiohttp.web request handler over ``receiver.receive``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        query = request.query_string
        reply = receiver.admit(query, content_length=request.content_length)
        if reply is None:
            chunks: list[bytes] = []
            size = 0
            try:
                async for chunk in request.content.iter_chunked(256 * 1024):
                    size += len(chunk)
                    if size > receiver.max_body_bytes:
                        reply = _refuse_too_large(receiver)
                        break
                    chunks.append(chunk)
            except (ConnectionError, HttpProcessingError) as exc:
                # Nobody reads the answer; one calm line, not an aiohttp traceback.
                _hung_up(size, exc)
                reply = CallbackReply.of(400, error="the body ended early")
            if reply is None:
                body = b"".join(chunks)
                del chunks
                reply = await receiver.receive(body, query=query, kind=kind)
        return web.Response(status=reply.status, body=reply.body, content_type="application/json")

    return handle


def aiohttp_routes(receiver: Receiving, path: str, kind: Kind = "auto") -> AiohttpRoutes:
    """Return ``POST`` and ``PUT`` routes at ``path``, for ``app.add_routes(...)``."""
    handle = aiohttp_handler(receiver, kind)
    return [web.post(path, handle), web.put(path, handle)]


def asgi_app(receiver: Receiving, kind: Kind = "auto") -> AsgiApp:
    """Return an ASGI app over ``receiver.receive``, answering ``POST``/``PUT`` at any path."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        query = scope.get("query_string", b"").decode("latin-1")
        reply: CallbackReply | None
        if scope.get("method") not in ("POST", "PUT"):
            reply = CallbackReply.of(405, error="use POST or PUT")
        else:
            # Refused before a byte of the body is read.
            reply = receiver.admit(query, content_length=_asgi_content_length(scope))
        if reply is None:
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    _hung_up(size, None)
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > receiver.max_body_bytes:
                    reply = _refuse_too_large(receiver)
                    break
                if chunk:
                    chunks.append(chunk)
                more = bool(message.get("more_body", False))
            if reply is None:
                body = b"".join(chunks)
                del chunks
                reply = await receiver.receive(body, query=query, kind=kind)
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(reply.body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": reply.body})

    return app


def _hung_up(size: int, exc: BaseException | None) -> None:
    reason = f": {type(exc).__name__}" if exc is not None else ""
    log.info("callback receiver: the sender hung up after %d body bytes%s", size, reason)


def _asgi_content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers") or ():
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
