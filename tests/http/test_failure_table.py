"""The one failure table: each aiohttp/OS failure maps to one SDK error, on every path."""

from __future__ import annotations

import asyncio
import traceback

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from yarl import URL

from gladia_async import ConnectionFailed, GladiaTimeout, ResponseFormatError, TransportError
from gladia_async._core.config import Timeouts
from gladia_async._http.failures import MaybeSent, Unsent, classify, map_failure, request_failure
from gladia_async._http.secrets import Secret

KEY = "sk-failure-table-0123456789"
URL_ = URL("http://api.test:8080/v2/pre-recorded")
_CONN = ConnectionKey("api.test", 8080, False, True, None, None, None)


class _RequestInfo:
    method = "GET"
    url = real_url = URL_
    headers = {"x-gladia-key": KEY}


def _failures() -> list[tuple[BaseException, str, type[Exception], type[Exception]]]:
    """(failure, kind, its error on a request, its error in a WebSocket handshake)."""
    return [
        (
            aiohttp.ClientProxyConnectionError(_CONN, OSError(111, "refused")),
            "proxy_unreachable",
            ConnectionFailed,
            ConnectionFailed,
        ),
        (
            aiohttp.ClientHttpProxyError(_RequestInfo(), (), status=407, message="auth"),  # type: ignore[arg-type]
            "proxy_refused",
            ConnectionFailed,
            ResponseFormatError,
        ),
        (
            aiohttp.ClientConnectorError(_CONN, OSError(111, "refused")),
            "unreachable",
            ConnectionFailed,
            ConnectionFailed,
        ),
        (aiohttp.ConnectionTimeoutError("slow"), "connect_timeout", GladiaTimeout, GladiaTimeout),
        (asyncio.TimeoutError(), "timeout", GladiaTimeout, GladiaTimeout),
        (
            aiohttp.ClientResponseError(_RequestInfo(), (), status=400, message=f"bad {KEY}"),  # type: ignore[arg-type]
            "not_http",
            ResponseFormatError,
            ResponseFormatError,
        ),
        (aiohttp.ServerDisconnectedError(), "dropped", ConnectionFailed, ConnectionFailed),
        (aiohttp.ClientPayloadError("cut"), "dropped", ConnectionFailed, TransportError),
        (ValueError(f"odd {KEY}"), "unexpected", TransportError, TransportError),
    ]


@pytest.mark.parametrize(
    ("failure", "kind", "on_request", "on_handshake"),
    _failures(),
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_each_failure_has_one_kind_and_one_error_per_path(
    failure: BaseException,
    kind: str,
    on_request: type[Exception],
    on_handshake: type[Exception],
) -> None:
    key = Secret(KEY)
    assert classify(failure) == kind
    sent = request_failure(failure, "GET", URL_, key, Timeouts())
    assert sent is not None
    # Only a failure that proves nothing reached the server may be repeated for any request.
    unsent = kind in {"proxy_unreachable", "proxy_refused", "unreachable", "connect_timeout"}
    assert isinstance(sent, Unsent if unsent else MaybeSent)
    assert type(sent.error) is on_request
    handshake = map_failure(failure, "handshake", "the socket at ws://api.test:8080", key, bound=1)
    assert type(handshake) is on_handshake
    for error in (sent.error, handshake):
        rendered = "".join(traceback.format_exception(error)) + repr(vars(error))
        assert KEY not in rendered, "the key leaked through the error or its cause"
        assert error.__cause__ is not None, "the root cause is kept (scrubbed)"


def test_a_failure_of_an_open_socket_reads_as_a_connection_failure() -> None:
    error = map_failure(
        aiohttp.ServerDisconnectedError(), "socket", "live session abc", Secret(KEY)
    )
    assert isinstance(error, ConnectionFailed)
    assert str(error) == "live session abc: the socket failed (ServerDisconnectedError)"


@pytest.mark.parametrize("other", [RuntimeError("ours"), asyncio.CancelledError(), SystemExit()])
def test_what_is_no_transport_failure_is_not_mapped(other: BaseException) -> None:
    assert classify(other) is None
    assert map_failure(other, "request", "GET /v2/x", Secret(KEY), url=URL_) is None
    assert request_failure(other, "GET", URL_, Secret(KEY), Timeouts()) is None
