"""The one table from aiohttp, OS and yarl failures to the SDK's errors.

:data:`FAILURES` sorts an exception into what went wrong (:data:`Kind`: the connection could
not open, the server's answer was not HTTP, the connection dropped...), in one place for every
path. Each path (:data:`Phase`: a request, a WebSocket handshake, a body read, an open socket)
words the error in its own terms, so a message says where it happened. The cause is chained
after being scrubbed of the key (:func:`~gladia_async._http.secrets.chain_cause`).

Also here: the HTTP error answers (:func:`status_error`), and whether a failed attempt may have
reached the server (:class:`Unsent` / :class:`MaybeSent`), which decides if it may be repeated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import aiohttp
import orjson
from yarl import URL

from .._core.config import RetryPolicy, Timeouts
from .._core.errors import (
    APIStatusError,
    ConnectionFailed,
    GladiaError,
    GladiaTimeout,
    ResponseFormatError,
    TransportError,
    status_error_class,
)
from .._schema.converter import validation_error_items
from .secrets import Secret, chain_cause, scrub_body, scrub_text

__all__ = [
    "BODY_ERRORS",
    "FAILURES",
    "Failure",
    "Kind",
    "MaybeSent",
    "Phase",
    "Unsent",
    "body_errors",
    "body_failure",
    "classify",
    "map_failure",
    "request_failure",
    "status_error",
    "unexpected",
]

#: What went wrong, whichever path saw it.
Kind = Literal[
    "proxy_unreachable",  # the proxy could not be reached
    "proxy_refused",  # the proxy answered CONNECT with an error status
    "unreachable",  # the connection could not be opened (DNS, refused, TLS)
    "connect_timeout",  # opening the connection timed out
    "timeout",  # the answer (or the body) did not come in time
    "not_http",  # the server's answer is not valid HTTP (status line, headers)
    "dropped",  # the connection dropped midway
    "unexpected",  # a failure no row foresaw (a bug of ours, aiohttp's or the server's)
]

#: Where it went wrong: the words of the error follow.
Phase = Literal["request", "handshake", "body", "socket"]

#: Most specific first: the first row whose types match decides the kind. Anything else
#: (cancellation, KeyboardInterrupt, our own errors) is not a transport failure.
FAILURES: tuple[tuple[tuple[type[BaseException], ...], Kind], ...] = (
    ((aiohttp.ClientProxyConnectionError,), "proxy_unreachable"),
    ((aiohttp.ClientHttpProxyError,), "proxy_refused"),
    ((aiohttp.ClientConnectorError,), "unreachable"),
    ((aiohttp.ConnectionTimeoutError,), "connect_timeout"),
    ((TimeoutError, asyncio.TimeoutError), "timeout"),  # before ClientConnectionError
    ((aiohttp.ClientResponseError,), "not_http"),  # malformed HTTP (status, headers)
    ((aiohttp.ClientConnectionError, aiohttp.ClientPayloadError), "dropped"),
    ((aiohttp.ClientError, ValueError, TypeError, LookupError, OSError), "unexpected"),
)

#: Kinds that prove the request never reached the server: always safe to repeat.
_UNSENT_KINDS = frozenset({"proxy_unreachable", "proxy_refused", "unreachable", "connect_timeout"})

#: What reading a response body can raise besides cancellation (a ``TypeError`` there is a bug
#: and travels as it is).
BODY_ERRORS = (
    TimeoutError,
    asyncio.TimeoutError,
    aiohttp.ClientError,
    ValueError,
    LookupError,
    OSError,
)


def classify(exc: BaseException) -> Kind | None:
    """What ``exc`` says went wrong; None: not a transport failure (let it travel)."""
    for types, kind in FAILURES:
        if isinstance(exc, types):
            return kind
    return None


def map_failure(
    exc: BaseException,
    phase: Phase,
    where: str,
    key: Secret,
    *,
    url: URL | None = None,
    timeouts: Timeouts | None = None,
    bound: float | None = None,
) -> GladiaError | None:
    """The SDK's error for a transport failure, cause chained and scrubbed; None: not one.

    ``where`` names the operation as the error should: ``"GET /v2/..."`` for a request or a
    body read, ``"the WebSocket at wss://host:443"`` for a handshake, ``"live session ..."`` for
    an open socket. A request also passes its ``url`` and ``timeouts``; a handshake its
    time ``bound``.
    """
    kind = classify(exc)
    if kind is None:
        return None
    error = _WORDINGS[phase](exc, kind, where, key, url, timeouts, bound)
    if error is None:  # chained by unexpected()
        return unexpected(exc, _DOING[phase].format(where), key)
    chain_cause(error, exc, key)
    return error


def _request_error(
    exc: BaseException,
    kind: Kind,
    where: str,
    key: Secret,
    url: URL | None,
    timeouts: Timeouts | None,
    bound: float | None,
) -> GladiaError | None:
    assert url is not None
    name = type(exc).__name__
    if kind == "proxy_unreachable":
        assert isinstance(exc, aiohttp.ClientProxyConnectionError)
        return ConnectionFailed(
            f"could not connect to the proxy at {exc.host}:{exc.port} for {where} "
            f"({name}); check proxy= or HTTP(S)_PROXY"
        )
    if kind == "proxy_refused":
        assert isinstance(exc, aiohttp.ClientHttpProxyError)
        method = where.partition(" ")[0]
        return ConnectionFailed(
            f"the proxy refused {method} {url.scheme}://{url.host}:{url.port}{url.path} "
            f"(HTTP {exc.status}); check proxy= or HTTP(S)_PROXY and its credentials"
        )
    if kind == "unreachable":
        return ConnectionFailed(
            f"could not connect to {url.scheme}://{url.host}:{url.port} "
            f"({name}); check base_url and the network"
        )
    if kind == "connect_timeout":
        assert timeouts is not None
        return GladiaTimeout(
            f"connecting to {url.host} timed out after {timeouts.connect}s; "
            "check the network or raise Timeouts.connect"
        )
    if kind == "timeout":
        return GladiaTimeout(
            f"{where} got no complete answer in time; raise "
            "Timeouts.request/read/upload if the server or the file is slow"
        )
    if kind == "not_http":
        assert isinstance(exc, aiohttp.ClientResponseError)
        return ResponseFormatError(
            f"{where}: the server's answer is not valid HTTP "
            f"({scrub_text(exc.message, key)}); retry, or report it",
            invalid_json=True,
        )
    if kind == "dropped":
        return ConnectionFailed(
            f"the connection dropped during {where} "
            f"({name}); the server may or may not have processed it"
        )
    return None


def _handshake_error(
    exc: BaseException,
    kind: Kind,
    where: str,
    key: Secret,
    url: URL | None,
    timeouts: Timeouts | None,
    bound: float | None,
) -> GladiaError | None:
    name = type(exc).__name__
    if kind in ("proxy_unreachable", "unreachable"):
        return ConnectionFailed(f"could not connect to {where} ({name}); check the network")
    if kind in ("connect_timeout", "timeout"):
        return GladiaTimeout(
            f"opening {where} took longer than Timeouts.connect + Timeouts.read "
            f"({bound:g}s); check the network or raise those timeouts"
        )
    if kind in ("proxy_refused", "not_http"):
        assert isinstance(exc, aiohttp.ClientResponseError)
        return ResponseFormatError(
            f"{where} answered the WebSocket handshake with something that is not valid "
            f"HTTP ({scrub_text(exc.message, key)}); retry, or report it"
        )
    if kind == "dropped" and isinstance(exc, aiohttp.ClientConnectionError):
        return ConnectionFailed(f"the connection to {where} dropped during the handshake ({name})")
    return None


def _body_error(
    exc: BaseException,
    kind: Kind,
    where: str,
    key: Secret,
    url: URL | None,
    timeouts: Timeouts | None,
    bound: float | None,
) -> GladiaError | None:
    if kind in ("connect_timeout", "timeout"):
        return GladiaTimeout(
            f"the body of {where} stalled or took too long; retry, or raise "
            "Timeouts.read (transfers) / Timeouts.request"
        )
    if kind in ("proxy_unreachable", "unreachable", "dropped"):
        return ConnectionFailed(
            f"the connection dropped while reading the body of {where} "
            f"({type(exc).__name__}); retry the call"
        )
    return None


def _socket_error(
    exc: BaseException,
    kind: Kind,
    where: str,
    key: Secret,
    url: URL | None,
    timeouts: Timeouts | None,
    bound: float | None,
) -> GladiaError | None:
    # An open socket that fails, whatever the reason, is a connection that failed.
    return ConnectionFailed(f"{where}: the socket failed ({type(exc).__name__})")


_Wording = Callable[
    [BaseException, Kind, str, Secret, URL | None, Timeouts | None, float | None],
    GladiaError | None,
]
_WORDINGS: dict[Phase, _Wording] = {
    "request": _request_error,
    "handshake": _handshake_error,
    "body": _body_error,
    "socket": _socket_error,
}
#: What a phase was doing, for a failure no row of its wording foresaw.
_DOING: dict[Phase, str] = {
    "request": "{}",
    "handshake": "opening {}",
    "body": "reading the body of {}",
    "socket": "{}",
}


def unexpected(exc: BaseException, what: str, key: Secret) -> TransportError:
    """Wrap an exception no mapping foresaw, so only the SDK's own types leave a call."""
    detail = scrub_text(str(exc), key)[:300]
    error = TransportError(
        f"{what} failed unexpectedly ({type(exc).__name__}: {detail}); retry, and report it if "
        "it persists"
    )
    chain_cause(error, exc, key)
    return error


# -- whether a failed attempt may be repeated ---------------------------------------------


class Failure(Exception):
    """An attempt failed with ``error``; the subclass says whether it may have been sent."""

    def __init__(self, error: GladiaError) -> None:
        super().__init__()
        self.error = error


class Unsent(Failure):
    """The request never reached the server: always safe to retry."""


class MaybeSent(Failure):
    """The request may have reached the server before the failure."""


def request_failure(
    exc: BaseException, method: str, url: URL, key: Secret, timeouts: Timeouts
) -> Failure | None:
    """The failure of an exception from ``client.request``; None: not ours to map."""
    if isinstance(exc, GladiaError):  # raised by our own upload body (a one-shot iterable)
        return Unsent(exc)
    kind = classify(exc)
    if kind is None:
        return None
    error = map_failure(exc, "request", f"{method} {url.path}", key, url=url, timeouts=timeouts)
    assert error is not None
    return Unsent(error) if kind in _UNSENT_KINDS else MaybeSent(error)


@contextmanager
def body_errors(response: aiohttp.ClientResponse, key: Secret) -> Iterator[None]:
    """Map failures while reading a response body to the SDK's typed errors."""
    failure: MaybeSent | None = None
    try:
        yield
    except BODY_ERRORS as exc:
        failure = body_failure(exc, response, key)
    if failure is not None:  # raised outside the handler: no context to carry the key
        raise failure


def body_failure(exc: BaseException, response: aiohttp.ClientResponse, key: Secret) -> MaybeSent:
    """Map a failure while reading a response body to the SDK's typed error."""
    where = f"{response.method} {response.url.path}"
    error = map_failure(exc, "body", where, key)
    if error is None:
        error = unexpected(exc, f"reading the body of {where}", key)
    return MaybeSent(error)


# -- HTTP error answers --------------------------------------------------------------------


def status_error(
    response: aiohttp.ClientResponse, raw: bytes, retry: RetryPolicy, key: Secret
) -> APIStatusError:
    """The typed error of an HTTP error answer, from its (skimmed) body, scrubbed of the key."""
    body: Any
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = raw[:500].decode("utf-8", "replace")
    message = ""
    request_id = body_path = None
    validation: list[str] = []
    if isinstance(body, dict):
        message = str(body.get("message") or "")
        request_id = body.get("request_id")
        body_path = body.get("path")
        validation = [
            _validation_text(v) for v in validation_error_items(body.get("validation_errors"))
        ]
    if not message:
        kind = response.headers.get("Content-Type", "no content type")
        message = f"{response.reason or 'error'} (non-JSON body, {kind})"
    retry_after = retry.retry_after(response.headers.get("Retry-After"))
    cls = status_error_class(response.status)
    return cls(
        status=response.status,
        message=scrub_text(message, key),
        request_id=scrub_text(str(request_id), key) if request_id is not None else None,
        path=scrub_text(str(body_path), key) if body_path is not None else response.url.path,
        validation_errors=[scrub_text(v, key) for v in validation],
        body=scrub_body(body, key),
        retry_after=retry_after,
    )


def _validation_text(item: Any) -> str:
    """One validation error as text: structured ``loc``/``msg`` items read as ``a.b: why``."""
    if isinstance(item, str):
        return item
    where = ".".join(str(part) for part in (item.loc or []))
    why = item.msg or item.type or "invalid"
    return f"{where}: {why}" if where else str(why)
