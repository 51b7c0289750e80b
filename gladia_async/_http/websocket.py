"""The WebSocket handshake, and what a caller needs of an open socket without aiohttp.

:func:`handshake` opens a socket with one time bound and maps every failure to the SDK's
errors (through the one table, :mod:`.failures`). The names below let the live session read and
write an open socket without importing aiohttp: :data:`WebSocket`, :data:`WSMessage`,
:data:`MessageKind` (:data:`DATA_KINDS`, :data:`CLOSING_KINDS`), :data:`SEND_ERRORS` and
:data:`SOCKET_ERRORS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import aiohttp
import anyio
from aiohttp import ClientWebSocketResponse as WebSocket
from aiohttp import WSMessage
from aiohttp import WSMsgType as MessageKind
from yarl import URL

from .._core.config import RetryPolicy, Timeouts
from .._core.errors import GladiaError, ResponseFormatError, status_error_class
from .failures import map_failure
from .origin import WS_SCHEMES
from .secrets import Secret, chain_cause, scrub_text

__all__ = [
    "CLOSING_KINDS",
    "DATA_KINDS",
    "SEND_ERRORS",
    "SOCKET_ERRORS",
    "MessageKind",
    "WSMessage",
    "WebSocket",
    "handshake",
    "parse_ws_url",
]

# Tuples, not sets: ``msg.type in ...`` then compares by identity, without Enum's __hash__.
#: The message kinds that carry a server message (text, or binary read as text).
DATA_KINDS = (MessageKind.TEXT, MessageKind.BINARY)
#: The message kinds that end a socket's stream of messages.
CLOSING_KINDS = (MessageKind.CLOSE, MessageKind.CLOSING, MessageKind.CLOSED, MessageKind.ERROR)
#: What sending on a socket that is closing or gone can raise (the reader sees why).
SEND_ERRORS = (aiohttp.ClientError, ConnectionError, RuntimeError)
#: What an open socket can fail with while it is read; map it with
#: ``Transport.map_failure(exc, "socket", where)``.
SOCKET_ERRORS = (aiohttp.ClientError, OSError)


def parse_ws_url(url: URL | str, what: str, key: Secret) -> URL:
    """Return ``url`` if it is an absolute ``ws(s)://`` URL, else raise ResponseFormatError."""
    try:
        target = URL(url) if isinstance(url, str) else url
        host, port = target.host, target.port
    except (ValueError, TypeError) as exc:
        raise ResponseFormatError(
            f"{what} URL is not a valid URL ({scrub_text(str(exc), key)})"
        ) from None
    if target.scheme not in WS_SCHEMES or not host or (port is not None and not 0 < port):
        raise ResponseFormatError(
            f"{what} URL must be an absolute ws:// or wss:// URL, got a "
            f"{target.scheme or 'relative'}: URL"
        )
    return target


async def handshake(
    client: aiohttp.ClientSession,
    target: URL,
    *,
    headers: Mapping[str, str],
    proxy: URL | None,
    heartbeat: float | None,
    max_msg_size: int,
    close_timeout: float,
    where: str,
    timeouts: Timeouts,
    retry: RetryPolicy,
    key: Secret,
) -> WebSocket:
    """Open the socket within ``Timeouts.connect`` + ``Timeouts.read``; raise typed errors."""
    failure: GladiaError | None
    t = timeouts
    bound = (t.connect if t.connect is not None else math.inf) + (
        t.read if t.read is not None else math.inf
    )
    try:
        with anyio.fail_after(bound):
            ws: Any = await client.ws_connect(
                target,
                headers=headers,
                proxy=proxy,
                heartbeat=heartbeat,
                autoping=True,
                max_msg_size=max_msg_size,
                **_close_timeout(close_timeout),
            )
        return ws  # type: ignore[no-any-return]
    except aiohttp.WSServerHandshakeError as exc:  # an HTTP answer, not a failure to talk
        if 400 <= exc.status < 600:
            failure = status_error_class(exc.status)(
                status=exc.status,
                message=f"{where} refused the WebSocket handshake",
                path=target.path,
                retry_after=retry.retry_after(
                    exc.headers.get("Retry-After") if exc.headers else None
                ),
            )
        else:
            failure = ResponseFormatError(
                f"{where} answered the WebSocket handshake with HTTP {exc.status}, not a "
                "WebSocket upgrade; retry, or report it"
            )
        chain_cause(failure, exc, key)
    except Exception as exc:
        failure = map_failure(exc, "handshake", where, key, bound=bound)
        if failure is None:
            raise
    # Raised outside the handlers: no context carries the request (or its key).
    raise failure


def _close_timeout(seconds: float) -> dict[str, Any]:
    # aiohttp < 3.11 takes a float close timeout; later versions a ClientWSTimeout.
    if hasattr(aiohttp, "ClientWSTimeout"):
        return {"timeout": aiohttp.ClientWSTimeout(ws_close=seconds)}
    return {"timeout": seconds}
