"""HTTP transport: one aiohttp session, auth, one retry loop on one clock, error mapping.

Everything that touches the network goes through :class:`Transport`. It owns the rules that
keep the API key safe (sent only to the configured origin, never in an exception, a log line or
a ``repr``), the retry rules, and the bounds that hold against a hostile server:

* **One retry loop, one clock.** A call's attempts, backoff sleeps, the session-wide 429 pause,
  the wait for a pooled connection and every body read run inside one anyio cancel scope
  (:func:`deadline`), so a call ends within ``RetryPolicy.deadline`` whatever the server does.
  aiohttp's own silent re-send of idempotent requests is switched off: attempts are ours only.
* **Stalls both ways.** An upload that makes no progress for ``Timeouts.write`` seconds fails;
  a streamed download that does not deliver 64 KiB within ``Timeouts.read`` fails; error bodies
  are read with a small size cap and a short time bound.
* **Size caps.** JSON bodies are capped at ``Limits.max_response_bytes``, counted after
  decompression, so an endless body or a compression bomb stops at the cap.
* **Only typed errors**, chained to a root cause that was scrubbed of the key first.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import math
import random
import traceback
import urllib.request
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Coroutine,
    Iterator,
    Mapping,
)
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal, TypeVar

import aiohttp
import anyio
import anyio.lowlevel
import orjson
from aiohttp.client_proto import ResponseHandler
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .._core import tracing as _tracing
from .._core.config import Limits, RetryPolicy, Timeouts
from .._core.errors import (
    APIStatusError,
    ConfigurationError,
    ConnectionFailed,
    ForeignURLError,
    GladiaError,
    GladiaTimeout,
    InvalidInput,
    PoolTimeout,
    ResponseFormatError,
    ResponseTooLargeError,
    RootCause,
    SessionClosedError,
    TransportError,
    WrongEventLoopError,
    status_error_class,
)
from .._schema.converter import loads_or_raise, validation_error_items
from .._version import __version__

__all__ = ["Retry", "Secret", "TransferProgress", "Transport", "deadline"]

log = logging.getLogger("gladia_async")
T = TypeVar("T")

#: How a request may be retried.
#: ``"always"``: idempotent (GET, DELETE) or harmless to repeat (an upload).
#: ``"unsent"``: only when the request provably never reached the server, or was refused with a
#: 429 before any work. Job creation: a lost response or a 5xx might hide a created job, and
#: only the caller (the batch's token reconcile) can tell; the transport never repeats it.
#: ``"never"``: only when the connection could not even be opened (a one-shot stream body).
Retry = Literal["always", "unsent", "never"]

_MAX_REDIRECTS = 5
#: Error bodies are small JSON documents; a server that sends more is not telling us more.
_ERROR_BODY_CAP = 64 * 1024
#: An error body is skimmed for at most this long (or ``Timeouts.read``, if shorter): the
#: status is the answer, and a body dripped slowly must not hold every attempt of the call.
_ERROR_BODY_SECONDS = 3.0
#: A streamed transfer must move at least this many bytes per ``Timeouts.read`` seconds.
_STALL_WINDOW_BYTES = 64 * 1024


@contextmanager
def deadline(seconds: float | None, what: str) -> Iterator[None]:
    """Bound everything inside the block by ``seconds`` on one clock; raise :class:`GladiaTimeout`.

    Built on an anyio cancel scope, so every wait inside (connection pool, backoff, a 429 pause,
    body reads, polling sleeps) is cut at the deadline, and nested deadlines compose: the
    nearest one wins. ``None`` means no bound.
    """
    if seconds is None:
        yield
        return
    with anyio.move_on_after(seconds) as scope:
        yield
    if scope.cancelled_caught:
        raise GladiaTimeout(
            f"{what} did not finish within its {seconds:g}s deadline; raise the timeout "
            "(RetryPolicy.deadline or the call's timeout=) if the server or the file is slow"
        )


def _time_left() -> float:
    """Seconds until the nearest enclosing deadline (``inf`` when there is none)."""
    return anyio.current_effective_deadline() - anyio.current_time()


class Secret:
    """A string that never shows itself in ``repr``/``str``/logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value, for the one header that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


class _Budget:
    """What one attempt may spend: aiohttp's timer for it, and the seconds left in the call."""

    __slots__ = ("ends", "left", "timer")

    def __init__(self, timer: aiohttp.ClientTimeout, left: float, ends: float) -> None:
        self.timer = timer
        self.left = left
        self.ends = ends


class _KeyedHeaders:
    """The pre-built headers carrying the key; hidden from ``repr`` and ``vars()``."""

    __slots__ = ("headers",)

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = headers

    def __repr__(self) -> str:
        return "_KeyedHeaders(********)"


class TransferProgress:
    """Bytes moved by a streamed upload body; the transport's stall watchdog reads it.

    Updated from whichever thread reads the file (aiohttp reads files in an executor): a plain
    integer store, read by the event loop, needs no lock.
    """

    __slots__ = ("bytes", "finished")

    def __init__(self) -> None:
        self.bytes = 0
        self.finished = False


def _lazy_read_timeout_class() -> type[ResponseHandler] | None:
    """aiohttp's connection protocol with a ``sock_read`` timer armed once per stall.

    aiohttp cancels and re-creates its read timer on every chunk received (three loop timers
    per small response). This one records the time of the last chunk and keeps one timer: when
    it fires early (data came meanwhile) it re-arms for the remaining time, else it fails the
    read exactly as aiohttp does. Same bound, a fraction of the timer work. Used only when
    aiohttp's protocol has the hooks it overrides (else aiohttp's own timer runs).
    """
    hooks = ("_reschedule_timeout", "_drop_timeout", "_on_read_timeout", "start_timeout")
    if not all(callable(getattr(ResponseHandler, hook, None)) for hook in hooks):
        return None  # pragma: no cover - another aiohttp

    class LazyReadTimeout(ResponseHandler):
        _read_deadline = 0.0

        def _reschedule_timeout(self) -> None:
            timeout = self._read_timeout
            if not timeout:
                self._drop_timeout()
                return
            self._read_deadline = self._loop.time() + timeout
            if self._read_timeout_handle is None:
                self._read_timeout_handle = self._loop.call_at(
                    self._read_deadline, self._check_read_timeout
                )

        def _check_read_timeout(self) -> None:
            self._read_timeout_handle = None
            if not self._read_timeout:
                return
            if self._loop.time() < self._read_deadline:  # data came since: wait the rest
                self._read_timeout_handle = self._loop.call_at(
                    self._read_deadline, self._check_read_timeout
                )
                return
            self._on_read_timeout()

    return LazyReadTimeout


_LazyReadTimeout = _lazy_read_timeout_class()


#: The header that carries the API key (compared case-insensitively).
API_KEY_HEADER = "x-gladia-key"

#: URLs :meth:`Transport.url` keeps resolved (cleared whole when full).
_URL_CACHE_SIZE = 1024


def origin_of(url: URL) -> tuple[str, str, int | None]:
    """Return the (scheme, host, port) triple that decides where the key may go."""
    return (url.scheme, (url.host or "").lower(), url.port)


def parse_base_url(base_url: object) -> URL:
    """Check and normalise a base URL; raise :class:`ConfigurationError` when it is unusable.

    A trailing ``/v2`` is dropped: every path the SDK sends starts with ``/v2`` already.
    """
    hint = "use e.g. https://api.gladia.io (set base_url= or GLADIA_API_URL)"
    if not isinstance(base_url, str) or not base_url.strip():
        raise ConfigurationError(f"base_url must be a non-empty URL string; {hint}")
    text = base_url.strip()
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise ConfigurationError(f"base_url {text!r} contains spaces or control characters; {hint}")
    try:
        url = URL(text)
        port = url.port
        host = url.host
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"base_url {text!r} is not a valid URL ({exc}); {hint}") from None
    if url.scheme not in ("http", "https") or not host:
        raise ConfigurationError(f"base_url must be an absolute http(s) URL, got {text!r}; {hint}")
    if port is not None and not 0 < port < 65536:
        raise ConfigurationError(f"base_url {text!r} has an invalid port; {hint}")
    if url.user or url.password:
        raise ConfigurationError(f"base_url {text!r} must not carry credentials; {hint}")
    path = url.path.rstrip("/")
    if path.endswith("/v2"):
        path = path[: -len("/v2")]
    return url.with_path(path).with_query(None).with_fragment(None)


def parse_proxy(proxy: object) -> URL | None:
    """Check an explicit proxy URL; raise :class:`InvalidInput` (never echoing credentials)."""
    if proxy is None:
        return None
    if not isinstance(proxy, (str, URL)) or not str(proxy).strip():
        raise InvalidInput("proxy", "expected a proxy URL string such as 'http://proxy:3128'")
    try:
        url = URL(str(proxy).strip())
        host, port = url.host, url.port
    except (ValueError, TypeError):
        raise InvalidInput("proxy", "is not a valid URL") from None
    if url.scheme not in ("http", "https") or not host or (port is not None and not 0 < port):
        raise InvalidInput(
            "proxy",
            f"must be an absolute http:// URL with a host, got a {url.scheme or 'relative'}: URL",
        )
    return url


#: urllib's NO_PROXY matching (``*``, domain suffixes, ``host:port``), as requests and httpx use.
_no_proxy_names: Callable[[str, Mapping[str, str]], bool] = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]


def _is_loopback(host: str) -> bool:
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def environment_proxies() -> dict[str, str]:
    """The environment's proxy settings by lowercase scheme (``no`` for ``NO_PROXY``)."""
    return {
        scheme: value
        for scheme, value in urllib.request.getproxies_environment().items()
        if scheme in ("http", "https", "all", "no") and value
    }


def check_headers(headers: object) -> dict[str, str]:
    """Check the user's extra headers; raise :class:`InvalidInput` before any request.

    A header named like the key's (any case) is refused: it could replace or reveal the key.
    Names and values must be strings without line breaks (no header injection).
    """
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise InvalidInput(
            "headers", f"expected a mapping of str to str, got {type(headers).__name__}"
        )
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidInput("headers", "names and values must be strings")
        if not name or any(c in name for c in " \t\r\n:") or not name.isascii():
            raise InvalidInput("headers", f"{name!r} is not a valid header name")
        if name.lower() == API_KEY_HEADER:
            raise InvalidInput(
                f"headers[{name!r}]",
                "the API key header is set by the session (pass api_key= or set GLADIA_API_KEY)",
            )
        if "\r" in value or "\n" in value or "\0" in value:
            raise InvalidInput(f"headers[{name!r}]", "a header value must not contain line breaks")
        checked[name] = value
    return checked


def check_api_key(key: str) -> str:
    """Return ``key`` if it can travel in an HTTP header; raise :class:`ConfigurationError`."""
    if not key or any(not 0x21 <= ord(c) <= 0x7E for c in key):
        raise ConfigurationError(
            "the API key is empty or contains spaces, line breaks or non-ASCII characters; "
            "copy it again from app.gladia.io (pass api_key= or set GLADIA_API_KEY)"
        )
    return key


class Transport:
    """Sends requests to the Gladia API with auth, retries, bounds and typed errors.

    Created by :class:`~gladia_async.GladiaSession`. States, as httpx's client: *unopened*
    until the first request creates the aiohttp session inside the running event loop,
    *opened*, and *closed* after :meth:`aclose`: a closed transport raises
    :class:`SessionClosedError` and never reopens behind the caller's back. The pool belongs to
    the event loop that opened it; a call from another loop raises :class:`WrongEventLoopError`.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: Secret,
        timeouts: Timeouts,
        retry: RetryPolicy,
        max_connections: int,
        verify_ssl: bool = True,
        user_agent: str | None = None,
        max_response_bytes: int | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        headers: Mapping[str, str] | None = None,
        connector: aiohttp.BaseConnector | None = None,
    ) -> None:
        self.base_url = parse_base_url(base_url)
        self._base_path = self.base_url.path.rstrip("/")
        self._urls: dict[str, URL] = {}
        self._api_url_ids: set[int] = set()
        self.origin = origin_of(self.base_url)
        self._api_key = Secret(check_api_key(api_key.reveal()))
        #: Handed to the converter with every body: a key the server echoed never reaches an error.
        self._scrub = functools.partial(_scrub_text, key=self._api_key)
        self.timeouts = timeouts
        self.retry = retry
        self._max_connections = max_connections
        self._max_response_bytes = (
            max_response_bytes if max_response_bytes is not None else Limits().max_response_bytes
        )
        self.verify_ssl = verify_ssl
        self._user_agent = user_agent or f"gladia-async/{__version__}"
        self._session: aiohttp.ClientSession | None = None
        self._connector: aiohttp.BaseConnector | None = None
        self._user_connector = connector
        self._proxy = parse_proxy(proxy)
        self.trust_env = bool(trust_env)
        # Read once, as httpx does: the environment's proxies by scheme, and NO_PROXY.
        self._env_proxies = environment_proxies() if trust_env and self._proxy is None else {}
        self._proxy_by_origin: dict[tuple[str, str, int | None], URL | None] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._pool_slots: asyncio.Semaphore | None = None
        # CIMultiDicts, as aiohttp wants them: it would otherwise convert a dict per request.
        self._plain_headers = CIMultiDictProxy(CIMultiDict({"User-Agent": self._user_agent}))
        # The user's headers go to the API origin only (they may carry a gateway's token),
        # and after them the key, which no user header can replace.
        api_headers = CIMultiDict({"User-Agent": self._user_agent})
        api_headers.update(check_headers(headers))
        self._api_plain_headers = CIMultiDictProxy(api_headers.copy())
        api_headers[API_KEY_HEADER] = api_key.reveal()
        self._keyed = _KeyedHeaders(CIMultiDictProxy(api_headers))
        self._rng = random.Random()
        t = timeouts
        # Built once. The pool wait is ours (``Timeouts.pool``), so aiohttp's ``connect`` (which
        # would count it) is left unset and ``sock_connect`` bounds the connection itself.
        self._timeouts: dict[str, aiohttp.ClientTimeout] = {
            "request": aiohttp.ClientTimeout(
                total=t.request, sock_connect=t.connect, sock_read=t.read
            ),
            "upload": aiohttp.ClientTimeout(
                total=t.upload, sock_connect=t.connect, sock_read=t.read
            ),
        }
        # Shared across every task of the session: a 429 slows the whole session down.
        self._paused_until = 0.0
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"Transport(base_url={str(self.base_url)!r})"

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def connector(self) -> aiohttp.BaseConnector | None:
        """The connection pool, once the first request created it (tests count connections)."""
        return self._connector

    @property
    def proxy(self) -> URL | None:
        """The explicit proxy (``proxy=``), credentials removed; None: none given."""
        return None if self._proxy is None else self._proxy.with_user(None)

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` ran; a closed transport refuses every call."""
        return self._closed

    def _client(self) -> aiohttp.ClientSession:
        if self._closed:
            raise SessionClosedError(
                "this GladiaSession is closed; open a new one (async with GladiaSession() ...)"
            )
        loop = asyncio.get_running_loop()
        if self._session is None:
            self._loop = loop
            owned = self._user_connector is None
            if self._user_connector is None:
                self._connector = aiohttp.TCPConnector(
                    limit=self._max_connections, ssl=self.verify_ssl
                )
            else:
                self._connector = self._user_connector
            self._session = aiohttp.ClientSession(
                connector=self._connector,
                connector_owner=owned,  # a user's connector stays open for its owner
                json_serialize=lambda obj: orjson.dumps(obj).decode(),
                auto_decompress=True,
                # The environment's proxies are resolved by us once per origin (proxy_for), not
                # by aiohttp, which would read them (and ~/.netrc) in a thread on every request.
                trust_env=False,
            )
            # aiohttp silently re-sends an idempotent request once on a reused connection that
            # dropped; every attempt must be ours, counted and bounded by the retry policy.
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
            if owned and _LazyReadTimeout is not None and hasattr(self._connector, "_factory"):
                self._connector._factory = functools.partial(_LazyReadTimeout, loop=loop)
            self._pool_slots = asyncio.Semaphore(self._max_connections)
        elif loop is not self._loop:
            raise WrongEventLoopError(
                "this GladiaSession's connection pool belongs to another event loop; "
                "create one GladiaSession per event loop (per thread)"
            )
        return self._session

    async def aclose(self) -> None:
        """Close the connection pool; idempotent. The transport refuses calls afterwards."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and not session.closed:
            if self._loop is not None and asyncio.get_running_loop() is not self._loop:
                return  # the pool's loop is gone or elsewhere; its sockets die with it
            await session.close()

    # -- URLs ------------------------------------------------------------------------------

    def url(self, path: str) -> URL:
        """Resolve an API path (``/v2/...``) against the base URL."""
        url = self._urls.get(path)
        if url is None:  # a job polled many times resolves its URL once
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
                self._api_url_ids.clear()
            url = self._urls[path] = self.base_url.with_path(self._base_path + path)
            self._api_url_ids.add(id(url))  # alive while cached, so the id is its own
        return url

    def check_same_origin(self, url: URL | str, what: str) -> URL:
        """Return ``url`` if it is on the API origin, else raise :class:`ForeignURLError`.

        A malformed URL (unparseable, a bad port, a non-http scheme) raises
        :class:`ResponseFormatError`.
        """
        try:
            parsed = URL(url) if isinstance(url, str) else url
            if not parsed.is_absolute():
                parsed = self.base_url.join(parsed)
            origin = origin_of(parsed)
        except (ValueError, TypeError) as exc:
            raise ResponseFormatError(
                f"{what} is not a valid URL ({_scrub_text(str(exc), self._api_key)}); "
                "report the server's link"
            ) from None
        if origin != self.origin:
            raise ForeignURLError(
                f"{what} points at {parsed.scheme}://{parsed.host}:{parsed.port}, not at the "
                f"configured API origin {self.base_url.scheme}://{self.base_url.host}:"
                f"{self.base_url.port}; refusing to send the API key there. Check base_url or "
                "report the server's link."
            )
        return parsed

    def proxy_for(self, url: URL) -> URL | None:
        """The proxy a request to ``url`` goes through (None: direct).

        ``proxy=`` wins; else, with ``trust_env``, ``HTTP_PROXY`` / ``HTTPS_PROXY`` /
        ``ALL_PROXY`` as read when the session was made, unless ``NO_PROXY`` names the host or
        the host is this machine (``localhost``, ``127.0.0.1``, ``::1``: a local emulator is
        never sent to a corporate proxy).
        """
        if self._proxy is not None or not self._env_proxies:
            return self._proxy
        origin = origin_of(url)
        try:
            return self._proxy_by_origin[origin]
        except KeyError:
            pass
        scheme = _WS_SCHEMES.get(url.scheme, url.scheme)
        chosen: URL | None = None
        text = self._env_proxies.get(scheme) or self._env_proxies.get("all")
        host = url.host or ""
        if text and not _is_loopback(host) and not _no_proxy_names(host, self._env_proxies):
            with contextlib.suppress(ValueError, TypeError):
                chosen = parse_proxy(text if "://" in text else f"http://{text}")
        if len(self._proxy_by_origin) >= _URL_CACHE_SIZE:
            self._proxy_by_origin.clear()
        self._proxy_by_origin[origin] = chosen
        return chosen

    def _headers(self, url: URL, extra: Mapping[str, str] | None) -> Mapping[str, str]:
        # Pre-built per origin (aiohttp copies them): the key only for the API's own origin.
        api = id(url) in self._api_url_ids or origin_of(url) == self.origin
        base = self._keyed.headers if api else self._plain_headers
        return {**base, **extra} if extra else base

    # -- WebSockets ------------------------------------------------------------------------

    def is_api_origin(self, url: URL) -> bool:
        """True if ``url`` is on the API's origin; ``wss://`` (``ws://``) counts as ``https://``
        (``http://``) on the same host and port."""
        scheme = _WS_SCHEMES.get(url.scheme, url.scheme)  # yarl knows ws/wss default ports
        return (scheme, (url.host or "").lower(), url.port) == self.origin

    async def ws_connect(
        self,
        url: URL | str,
        *,
        authenticate: bool = False,
        heartbeat: float | None = None,
        max_msg_size: int = 4 * 1024 * 1024,
        close_timeout: float = 5.0,
        what: str = "the WebSocket",
    ) -> aiohttp.ClientWebSocketResponse:
        """Open a WebSocket to ``url``; return aiohttp's socket, or raise a typed error.

        The handshake is bounded by ``Timeouts.connect`` plus ``Timeouts.read`` (opening the
        connection, then waiting for the server's upgrade answer; aiohttp takes no
        per-call timer for a handshake, so the two share one bound). The API key goes only with
        ``authenticate=True`` and only to the API origin (``wss://`` on the API's host counts);
        an authenticated call to any other origin raises :class:`ForeignURLError`. A URL that
        carries its own token (the live session's) is opened with ``authenticate=False``.
        Failures: :class:`ResponseFormatError` (not a ``ws(s)://`` URL, or an answer that is not
        a WebSocket handshake), :class:`APIStatusError` subclasses (the handshake got an HTTP
        error status), :class:`ConnectionFailed`, :class:`GladiaTimeout`; the closed /
        wrong-loop checks of every call apply.
        """
        client = self._client()  # closed / wrong-loop checks first
        try:
            target = URL(url) if isinstance(url, str) else url
            host, port = target.host, target.port
        except (ValueError, TypeError) as exc:
            raise ResponseFormatError(
                f"{what} URL is not a valid URL ({_scrub_text(str(exc), self._api_key)})"
            ) from None
        if target.scheme not in _WS_SCHEMES or not host or (port is not None and not 0 < port):
            raise ResponseFormatError(
                f"{what} URL must be an absolute ws:// or wss:// URL, got a "
                f"{target.scheme or 'relative'}: URL"
            )
        if authenticate and not self.is_api_origin(target):
            raise ForeignURLError(
                f"{what} URL points at {target.scheme}://{host}:{port}, not at the API origin; "
                "refusing to send the API key there"
            )
        if authenticate:
            headers = self._keyed.headers
        else:
            headers = self._api_plain_headers if self.is_api_origin(target) else self._plain_headers
        where = f"{what} at {target.scheme}://{host}:{port}"
        failure: GladiaError
        cause: BaseException
        t = self.timeouts
        bound = (t.connect if t.connect is not None else math.inf) + (
            t.read if t.read is not None else math.inf
        )
        try:
            with anyio.fail_after(bound):
                ws: Any = await client.ws_connect(
                    target,
                    headers=headers,
                    proxy=self.proxy_for(target),
                    heartbeat=heartbeat,
                    autoping=True,
                    max_msg_size=max_msg_size,
                    **_ws_close_timeout(close_timeout),
                )
            return ws  # type: ignore[no-any-return]
        except aiohttp.WSServerHandshakeError as exc:
            cause = exc
            if 400 <= exc.status < 600:
                failure = status_error_class(exc.status)(
                    status=exc.status,
                    message=f"{where} refused the WebSocket handshake",
                    path=target.path,
                    retry_after=self.retry.retry_after(
                        exc.headers.get("Retry-After") if exc.headers else None
                    ),
                )
            else:
                failure = ResponseFormatError(
                    f"{where} answered the WebSocket handshake with HTTP {exc.status}, not a "
                    "WebSocket upgrade; retry, or report it"
                )
        except aiohttp.ClientConnectorError as exc:
            cause = exc
            failure = ConnectionFailed(
                f"could not connect to {where} ({type(exc).__name__}); check the network"
            )
        except (TimeoutError, asyncio.TimeoutError) as exc:
            cause = exc
            failure = GladiaTimeout(
                f"opening {where} took longer than Timeouts.connect + Timeouts.read "
                f"({bound:g}s); check the network or raise those timeouts"
            )
        except aiohttp.ClientResponseError as exc:  # not HTTP at all
            cause = exc
            failure = ResponseFormatError(
                f"{where} answered the WebSocket handshake with something that is not valid "
                f"HTTP ({_scrub_text(exc.message, self._api_key)}); retry, or report it"
            )
        except aiohttp.ClientConnectionError as exc:
            cause = exc
            failure = ConnectionFailed(
                f"the connection to {where} dropped during the handshake ({type(exc).__name__})"
            )
        except (aiohttp.ClientError, ValueError, TypeError, LookupError, OSError) as exc:
            cause = exc
            failure = _unexpected(exc, f"opening {where}", self._api_key)
        # Raised outside the handlers: no context carries the request (or its key).
        _chain(failure, cause, self._api_key)
        raise failure

    # -- requests --------------------------------------------------------------------------

    def request_json(
        self,
        method: str,
        url: URL,
        cls: type[T],
        *,
        retry: Retry,
        json: Any = None,
        data: Callable[[], Any] | None = None,
        params: Any = None,
        ok: Collection[int] = (200, 201),
        timeout: Literal["request", "upload"] = "request",
    ) -> Coroutine[Any, Any, T]:
        """Send a request and structure its JSON body into ``cls``, retrying as ``retry`` allows.

        The whole call (attempts, waits, body reads) is bounded by ``RetryPolicy.deadline``.
        The body is capped at ``Limits.max_response_bytes``. For a request that is safe to
        repeat, a body cut short (dropped connection, truncated or malformed JSON) is retried.
        Returns the retry loop's coroutine itself (await it): no wrapper frame on the hot path.
        """

        async def attempt(budget: _Budget) -> T:
            slots = await self._acquire_slot(budget.left)
            try:
                response = await self._send(
                    method, url, json, data, params, budget.timer, None, budget.ends
                )
                try:
                    if response.status not in ok:
                        raise await self._status_error(response)
                    raw = await self._read_capped(response)
                finally:
                    response.release()
            finally:
                slots.release()
            return decode(raw, cls, response, self._scrub)

        # An upload in flight is bounded by its stall timeouts and Timeouts.upload, not cut by
        # the deadline (a large file on a slow link is legitimately slow); no new attempt starts
        # past the deadline.
        call = self._call(method, url, retry, attempt, timeout)
        return call if _tracing.tracer is None else _tracing.traced_http(call, method, url)

    async def request_empty(
        self, method: str, url: URL, *, retry: Retry, ok: Collection[int] = (200, 202, 204)
    ) -> None:
        """Send a request whose success has no body we need (DELETE's 202)."""

        async def attempt(budget: _Budget) -> None:
            slots = await self._acquire_slot(budget.left)
            try:
                response = await self._send(method, url, None, None, None, budget.timer, None)
                try:
                    if response.status not in ok:
                        raise await self._status_error(response)
                    await self._read_capped(response, _ERROR_BODY_CAP, strict=False)
                finally:
                    response.release()
            finally:
                slots.release()

        call = self._call(method, url, retry, attempt, "request")
        await (call if _tracing.tracer is None else _tracing.traced_http(call, method, url))

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: URL,
        *,
        retry: Retry,
        json: Any = None,
        data: Callable[[], Any] | None = None,
        params: Any = None,
        ok: Collection[int] = (200, 201),
        timeout: Literal["request", "upload"] = "request",
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a request (retrying as allowed) and yield the successful response unread.

        Opening is bounded by ``RetryPolicy.deadline``; read the body with :meth:`iter_chunks`,
        which is bounded by stalls, not by total time. The response and its pooled connection
        are released when the block exits, also on cancellation.
        """

        async def attempt(budget: _Budget) -> tuple[aiohttp.ClientResponse, asyncio.Semaphore]:
            slots = await self._acquire_slot(budget.left)
            try:
                response = await self._send(
                    method, url, json, data, params, self._timeouts[timeout], headers
                )
                if response.status not in ok:
                    try:
                        raise await self._status_error(response)
                    finally:
                        response.release()
            except BaseException:
                slots.release()
                raise
            return response, slots

        # The body is read after the block is entered: only opening counts against the deadline.
        with deadline(self.retry.deadline, f"opening {method} {url.path}"):
            call = self._call(method, url, retry, attempt, "stream")
            response, slots = await (
                call if _tracing.tracer is None else _tracing.traced_http(call, method, url)
            )
        try:
            yield response
        finally:
            response.release()
            slots.release()

    async def iter_chunks(
        self, response: aiohttp.ClientResponse, size: int = 1 << 20
    ) -> AsyncIterator[bytes]:
        """Yield a streamed response body, mapping stalls and drops to typed errors.

        Not capped in size, but a body must deliver 64 KiB (or end) within ``Timeouts.read``
        seconds, so a server dripping bytes fails instead of hanging the call.
        """
        window = self.timeouts.read
        window_start = anyio.current_time()
        window_bytes = 0
        while True:
            with _body_errors(response, self._api_key):
                chunk = await response.content.readany()
            if not chunk:
                return
            if window is not None:
                window_bytes += len(chunk)
                now = anyio.current_time()
                if window_bytes >= _STALL_WINDOW_BYTES:
                    window_start, window_bytes = now, 0
                elif now - window_start > window:
                    raise GladiaTimeout(
                        f"the body of {response.method} {response.url.path} stalled: less than "
                        f"64 KiB in {window:g}s; retry, or raise Timeouts.read for a slow network"
                    )
            yield chunk

    # -- the retry loop ----------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        url: URL,
        retry: Retry,
        attempt: Callable[[_Budget], Awaitable[T]],
        kind: Literal["request", "upload", "stream"],
    ) -> T:
        """Run ``attempt`` under the retry policy: one loop, one stop condition, one clock.

        The deadline is enforced without a cancel scope on the hot path: each attempt of an
        ordinary request gets aiohttp's total timer cut to the time left, and every wait
        (pool, 429 pause, backoff) is checked against the time left before it starts.
        """
        policy = self.retry
        self._client()  # closed / wrong-loop checks before any wait
        assert self._loop is not None
        loop_time = self._loop.time
        limit = policy.deadline
        ends = math.inf if limit is None else loop_time() + limit
        request_timer = self._timeouts["upload" if kind == "upload" else "request"]
        request_total = self.timeouts.request if kind == "request" else None
        number = 0
        failure: GladiaError | None = None
        out_of_time = False
        while True:
            number += 1
            if self._paused_until:
                await self._wait_if_paused(f"{method} {url.path}", ends - loop_time())
            left = ends - loop_time()
            if left <= 0:
                raise self._deadline_error(f"{method} {url.path}", number - 1, failure)
            timer = request_timer
            cut = False
            if kind == "request" and left < (request_total or math.inf):
                timer, cut = self._timer(left), True
            delay: float | None = None
            previous = failure
            try:
                return await attempt(_Budget(timer, left, ends))
            except _Unsent as exc:
                failure, retryable = exc.error, True
                if isinstance(failure, TransportError):
                    failure.request_sent = False
            except _MaybeSent as exc:
                failure, retryable = exc.error, retry == "always"
                if (
                    (cut or kind == "upload")
                    and isinstance(failure, GladiaTimeout)
                    and (loop_time() >= ends - 0.01)
                ):
                    out_of_time = True
                    break
            except ResponseTooLargeError as exc:
                failure, retryable = exc, False
            except ResponseFormatError as exc:
                failure, retryable = exc, exc.invalid_json and retry == "always"
            except APIStatusError as exc:
                failure, delay = exc, exc.retry_after
                if exc.status == 429 and delay is not None:
                    self._pause(delay)
                retryable = exc.status in policy.retry_statuses and (
                    retry == "always" or (retry == "unsent" and exc.status == 429)
                )
            except GladiaError:
                raise
            except Exception as exc:
                failure = _unexpected(exc, f"{method} {url.path}", self._api_key)
                retryable = False
            if not retryable or number >= policy.attempts:
                break
            if delay is None:
                delay = policy.backoff(number, self._rng)
            if delay >= min(ends - loop_time(), _time_left()):
                break  # the deadline would pass while waiting: report the real failure now
            log.debug(
                "retrying %s %s after %s (attempt %d, waiting %.2fs)",
                method,
                url.path,
                type(failure).__name__,
                number,
                delay,
            )
            await anyio.sleep(delay)
        if out_of_time:
            raise self._deadline_error(f"{method} {url.path}", number, previous or failure)
        raise failure

    def _timer(self, left: float) -> aiohttp.ClientTimeout:
        t = self.timeouts
        return aiohttp.ClientTimeout(total=left, sock_connect=t.connect, sock_read=t.read)

    def _deadline_error(self, what: str, attempts: int, last: GladiaError | None) -> GladiaTimeout:
        error = GladiaTimeout(
            f"{what} did not finish within RetryPolicy.deadline ({self.retry.deadline:g}s) "
            f"after {attempts} attempt(s); retry later or raise the deadline"
        )
        error.__cause__ = last  # the last attempt's failure, when there was one
        error.__suppress_context__ = True
        return error

    def _pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, anyio.current_time() + seconds)

    @property
    def paused_until(self) -> float:
        """When the session-wide 429 pause ends (event loop time; 0.0: never paused)."""
        return self._paused_until

    def restore_pause(self, until: float) -> None:
        """Put the session-wide 429 pause back to ``until``, read from :attr:`paused_until`.

        For a caller that paces its own 429s (a batch's admission window owns its job
        creations' refusals): their ``Retry-After`` then holds back its creations, not every
        request of the session.
        """
        self._paused_until = until

    async def _wait_if_paused(self, what: str, left: float) -> None:
        wait = self._paused_until - anyio.current_time()
        if wait <= 0:
            return
        if wait > min(left, _time_left()):
            raise GladiaTimeout(
                f"{what} not sent: the API asked this session to pause {wait:.1f}s more "
                "(HTTP 429 Retry-After), longer than the call's deadline allows; retry later"
            )
        await anyio.sleep(wait)

    async def _acquire_slot(self, left: float) -> asyncio.Semaphore:
        """Take one of the pool's connections for a request; bounded by ``Timeouts.pool``.

        The wait is ours, not aiohttp's, so it is never mistaken for a connection failure.
        """
        slots = self._pool_slots
        assert slots is not None
        if not slots.locked():
            await slots.acquire()  # free: no suspension
            return slots
        pool = self.timeouts.pool
        bound = min(pool if pool is not None else math.inf, left)
        with anyio.move_on_after(bound):
            await slots.acquire()
            return slots
        if pool is not None and pool <= left:
            raise PoolTimeout(
                f"no free connection in the pool within {pool:g}s ({self._max_connections} in "
                "use); lower the concurrency or raise Limits.max_connections / Timeouts.pool"
            )
        raise _Unsent(
            GladiaTimeout(
                "no free connection in the pool before the call's deadline "
                f"({self._max_connections} in use); lower the concurrency or raise "
                "Limits.max_connections / RetryPolicy.deadline"
            )
        )

    async def _send(
        self,
        method: str,
        url: URL,
        json: Any,
        data: Callable[[], Any] | None,
        params: Any,
        timeout: aiohttp.ClientTimeout,
        headers: Mapping[str, str] | None,
        ends: float = math.inf,
    ) -> aiohttp.ClientResponse:
        """One attempt, following redirects; raises ``_Unsent`` / ``_MaybeSent`` on failure."""
        client = self._client()
        for _ in range(_MAX_REDIRECTS + 1):
            body = data() if data is not None else None
            progress = getattr(data, "progress", None)
            self.requests_sent += 1
            if progress is not None:
                failed: _Failure | None = None
                async with anyio.create_task_group() as tg:
                    watch = _Watchdog(progress, self.timeouts.write, ends, tg.cancel_scope)
                    tg.start_soon(watch.run)
                    try:
                        response = await self._request(
                            client, method, url, json, body, params, timeout, headers
                        )
                    except _Failure as exc:  # raised below, outside the task group
                        failed = exc
                    tg.cancel_scope.cancel()
                if watch.reason == "stalled":
                    raise _MaybeSent(
                        GladiaTimeout(
                            f"the upload of {method} {url.path} made no progress for "
                            f"{self.timeouts.write:g}s (the server stopped reading); retry, or "
                            "raise Timeouts.write for a slow network"
                        )
                    )
                if watch.reason == "deadline":
                    raise _MaybeSent(
                        GladiaTimeout(f"{method} {url.path} was idle at the call's deadline")
                    )
                if failed is not None:
                    raise failed
            else:
                response = await self._request(
                    client, method, url, json, body, params, timeout, headers
                )
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s -> %d", method, url.path, response.status)
            if _tracing.tracer is not None:
                _tracing.response_seen(response.status, response.headers)
            if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                location_text = response.headers["Location"]
                response.release()
                location = self._redirect_target(url, location_text)
                # A redirect to another host (e.g. file storage) is followed without the key.
                url = location
                if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                    method, json, data = "GET", None, None
                continue
            return response
        raise _MaybeSent(ConnectionFailed(f"more than {_MAX_REDIRECTS} redirects from {url.path}"))

    def _redirect_target(self, url: URL, location: str) -> URL:
        try:
            target = url.join(URL(location))
            target_origin = origin_of(target)
        except (ValueError, TypeError):
            raise _MaybeSent(
                ResponseFormatError(f"{url.path} redirected to a malformed Location header")
            ) from None
        if target.scheme not in ("http", "https") or not target_origin[1]:
            raise _MaybeSent(
                ForeignURLError(
                    f"{url.path} redirected to a {target.scheme or 'relative'}: URL; only http(s) "
                    "redirects are followed"
                )
            )
        return target

    async def _request(
        self,
        client: aiohttp.ClientSession,
        method: str,
        url: URL,
        json: Any,
        body: Any,
        params: Any,
        timeout: aiohttp.ClientTimeout,
        headers: Mapping[str, str] | None,
    ) -> aiohttp.ClientResponse:
        failure: _Failure | None = None
        try:
            return await client.request(
                method,
                url,
                json=json,
                data=body,
                params=params,
                headers=self._headers(url, headers),
                timeout=timeout,
                allow_redirects=False,
                proxy=self.proxy_for(url),
            )
        except asyncio.CancelledError:
            # aiohttp cancels its body-writer task but does not wait for it; give it one
            # shielded turn of the loop so no task of ours outlives the cancelled call.
            with anyio.CancelScope(shield=True):
                await anyio.lowlevel.checkpoint()
            raise
        except Exception as exc:
            failure = self._failure_of(exc, method, url)
            if failure is None:
                raise
        raise failure  # outside the handler: no context to carry aiohttp's exception

    def _failure_of(self, exc: Exception, method: str, url: URL) -> _Failure | None:
        """The typed failure of an exception from ``client.request``; None: not ours to map."""
        failure: _Failure
        if isinstance(exc, GladiaError):  # raised by our own upload body (a one-shot iterable)
            return _Unsent(exc)
        if isinstance(exc, aiohttp.ClientProxyConnectionError):
            failure = _Unsent(
                ConnectionFailed(
                    f"could not connect to the proxy at {exc.host}:{exc.port} for {method} "
                    f"{url.path} ({type(exc).__name__}); check proxy= or HTTP(S)_PROXY"
                )
            )
        elif isinstance(exc, aiohttp.ClientHttpProxyError):
            failure = _Unsent(
                ConnectionFailed(
                    f"the proxy refused {method} {url.scheme}://{url.host}:{url.port}{url.path} "
                    f"(HTTP {exc.status}); check proxy= or HTTP(S)_PROXY and its credentials"
                )
            )
        elif isinstance(exc, aiohttp.ClientConnectorError):
            failure = _Unsent(
                ConnectionFailed(
                    f"could not connect to {url.scheme}://{url.host}:{url.port} "
                    f"({type(exc).__name__}); check base_url and the network"
                )
            )
        elif isinstance(exc, aiohttp.ConnectionTimeoutError):
            failure = _Unsent(
                GladiaTimeout(
                    f"connecting to {url.host} timed out after {self.timeouts.connect}s; "
                    "check the network or raise Timeouts.connect"
                )
            )
        elif isinstance(exc, (TimeoutError, asyncio.TimeoutError)):  # before ClientConnectionError
            failure = _MaybeSent(
                GladiaTimeout(
                    f"{method} {url.path} got no complete answer in time; raise "
                    "Timeouts.request/read/upload if the server or the file is slow"
                )
            )
        elif isinstance(exc, aiohttp.ClientResponseError):  # malformed HTTP (status, headers)
            failure = _MaybeSent(
                ResponseFormatError(
                    f"{method} {url.path}: the server's answer is not valid HTTP "
                    f"({_scrub_text(exc.message, self._api_key)}); retry, or report it",
                    invalid_json=True,
                )
            )
        elif isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
            failure = _MaybeSent(
                ConnectionFailed(
                    f"the connection dropped during {method} {url.path} "
                    f"({type(exc).__name__}); the server may or may not have processed it"
                )
            )
        elif isinstance(exc, (aiohttp.ClientError, ValueError, TypeError, LookupError, OSError)):
            return _MaybeSent(_unexpected(exc, f"{method} {url.path}", self._api_key))
        else:
            return None
        _chain(failure.error, exc, self._api_key)
        return failure

    async def _read_capped(
        self, response: aiohttp.ClientResponse, cap: int | None = None, *, strict: bool = True
    ) -> bytes:
        """Read a whole body, at most ``cap`` bytes after decompression.

        ``strict``: past the cap raise :class:`ResponseTooLargeError`; otherwise stop reading
        and return what came (for bodies we only skim).
        """
        limit = cap if cap is not None else self._max_response_bytes
        length = response.content_length
        if (
            strict
            and length is not None
            and length > limit
            and not response.headers.get("Content-Encoding")
        ):
            raise _too_large(response, limit)
        chunks: list[bytes] = []
        total = 0
        readany = response.content.readany
        failure: _MaybeSent | None = None
        try:
            while True:
                chunk = await readany()
                if not chunk:
                    break
                total += len(chunk)
                if total > limit:
                    if strict:
                        raise _too_large(response, limit)
                    chunks.append(chunk[: len(chunk) - (total - limit)])
                    break
                chunks.append(chunk)
        except _BODY_ERRORS as exc:
            failure = _body_failure(exc, response, self._api_key)
        if failure is not None:  # raised outside the handler: no context to carry the key
            raise failure
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _status_error(self, response: aiohttp.ClientResponse) -> APIStatusError:
        # The error body is skimmed: capped in size and time (whichever comes first), so a
        # server that drips it cannot hold the call; what came by then is the body.
        raw = b""
        read = self.timeouts.read
        with anyio.move_on_after(
            _ERROR_BODY_SECONDS if read is None else min(read, _ERROR_BODY_SECONDS)
        ):
            try:
                raw = await self._read_capped(response, _ERROR_BODY_CAP, strict=False)
            except GladiaError:
                raw = b""
        body: Any
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw[:500].decode("utf-8", "replace")
        message = ""
        request_id = path = None
        validation: list[str] = []
        if isinstance(body, dict):
            message = str(body.get("message") or "")
            request_id = body.get("request_id")
            path = body.get("path")
            validation = [
                _validation_text(v) for v in validation_error_items(body.get("validation_errors"))
            ]
        if not message:
            kind = response.headers.get("Content-Type", "no content type")
            message = f"{response.reason or 'error'} (non-JSON body, {kind})"
        retry_after = self.retry.retry_after(response.headers.get("Retry-After"))
        cls = status_error_class(response.status)
        return cls(
            status=response.status,
            message=_scrub_text(message, self._api_key),
            request_id=_scrub_text(str(request_id), self._api_key)
            if request_id is not None
            else None,
            path=_scrub_text(str(path), self._api_key) if path is not None else response.url.path,
            validation_errors=[_scrub_text(v, self._api_key) for v in validation],
            body=_scrub_body(body, self._api_key),
            retry_after=retry_after,
        )


class _Watchdog:
    """Cancels an upload whose body stopped moving for ``limit`` seconds, or that is idle at
    the call's deadline (``ends``, loop time).

    An upload still moving at the deadline goes on: a large file on a slow link is slow, not
    stuck, and ``Timeouts.upload`` bounds it if the caller wants a hard limit.
    """

    def __init__(
        self,
        progress: TransferProgress,
        limit: float | None,
        ends: float,
        scope: anyio.CancelScope,
    ) -> None:
        self.progress = progress
        self.limit = limit if limit is not None else math.inf
        self.ends = ends
        self.scope = scope
        self.reason: Literal["stalled", "deadline"] | None = None

    async def run(self) -> None:
        seen = self.progress.bytes
        last_move = anyio.current_time()
        tick = max(min(self.limit / 4, 0.25), 0.01)
        while True:
            now = anyio.current_time()
            await anyio.sleep(max(min(tick, self.ends - now), 0))
            now = anyio.current_time()
            moved = self.progress.bytes != seen
            if moved:
                seen, last_move = self.progress.bytes, now
            if self.progress.finished:
                if now >= self.ends:  # body sent, answer still missing at the deadline
                    self.reason = "deadline"
                    self.scope.cancel()
                    return
                continue
            if now - last_move >= self.limit:
                self.reason = "stalled"
            elif now >= self.ends and not moved:
                self.reason = "deadline"
            else:
                continue
            self.scope.cancel()
            return


_WS_SCHEMES = {"ws": "http", "wss": "https"}


def _ws_close_timeout(seconds: float) -> dict[str, Any]:
    # aiohttp < 3.11 takes a float close timeout; later versions a ClientWSTimeout.
    if hasattr(aiohttp, "ClientWSTimeout"):
        return {"timeout": aiohttp.ClientWSTimeout(ws_close=seconds)}
    return {"timeout": seconds}


#: What reading a response body can raise besides cancellation (mapped by :func:`_body_failure`).
_BODY_ERRORS = (
    TimeoutError,
    asyncio.TimeoutError,
    aiohttp.ClientError,
    ValueError,
    LookupError,
    OSError,
)


def _body_failure(exc: BaseException, response: aiohttp.ClientResponse, key: Secret) -> _MaybeSent:
    """Map a failure while reading a response body to the SDK's typed error."""
    where = f"{response.method} {response.url.path}"
    failure: GladiaError
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):  # before ClientConnectionError
        failure = GladiaTimeout(
            f"the body of {where} stalled or took too long; retry, or raise "
            "Timeouts.read (transfers) / Timeouts.request"
        )
        _chain(failure, exc, key)
    elif isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError)):
        failure = ConnectionFailed(
            f"the connection dropped while reading the body of {where} "
            f"({type(exc).__name__}); retry the call"
        )
        _chain(failure, exc, key)
    else:
        failure = _unexpected(exc, f"reading the body of {where}", key)
    return _MaybeSent(failure)


@contextmanager
def _body_errors(response: aiohttp.ClientResponse, key: Secret) -> Iterator[None]:
    """Map failures while reading a response body to the SDK's typed errors."""
    failure: _MaybeSent | None = None
    try:
        yield
    except _BODY_ERRORS as exc:
        failure = _body_failure(exc, response, key)
    if failure is not None:  # raised outside the handler: no context to carry the key
        raise failure


def _too_large(response: aiohttp.ClientResponse, limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"{response.method} {response.url.path} answered with a body over {limit} bytes "
        "(Limits.max_response_bytes); reading stopped there. Raise the limit if the "
        "transcript is really that large."
    )


def decode(
    raw: bytes,
    cls: type[T],
    response: aiohttp.ClientResponse,
    scrub: Callable[[str], str] | None = None,
) -> T:
    """Parse a JSON body into ``cls``, mapping any failure to :class:`ResponseFormatError`.

    ``scrub`` takes the API key out of every error text, also of the errors a deferred block
    raises when it is first read (the converter keeps it with the block).
    """
    try:
        return loads_or_raise(raw, cls, scrub)
    except ResponseFormatError as exc:
        failure = ResponseFormatError(
            f"{response.method} {response.url.path} answered {response.status} with a body "
            f"that does not match the API spec ({exc}). If it persists, report it with the "
            "request_id.",
            cls_name=exc.cls_name,
            invalid_json=exc.invalid_json,
        )
        failure.json_path = getattr(exc, "json_path", None)  # type: ignore[attr-defined]
        failure.__cause__ = exc  # scrubbed by the converter
        failure.__suppress_context__ = True
    raise failure


# -- keeping the key out of exceptions ------------------------------------------------------


def _validation_text(item: Any) -> str:
    """One validation error as text: structured ``loc``/``msg`` items read as ``a.b: why``."""
    if isinstance(item, str):
        return item
    where = ".".join(str(part) for part in (item.loc or []))
    why = item.msg or item.type or "invalid"
    return f"{where}: {why}" if where else str(why)


def _scrub_text(text: str, key: Secret) -> str:
    secret = key.reveal()
    return text.replace(secret, "********") if secret and secret in text else text


def _scrub_body(body: Any, key: Secret) -> Any:
    if isinstance(body, str):
        return _scrub_text(body, key)
    secret = key.reveal()
    if body is not None and secret in repr(body):
        return _scrub_text(repr(body), key)
    return body


def _mentions(exc: BaseException, secret: str) -> bool:
    try:
        text = "".join(traceback.format_exception_only(type(exc), exc)) + repr(exc)
        text += repr(getattr(exc, "__dict__", {})) + repr(exc.args)
    except Exception:  # a repr that fails is not trusted
        return True
    return secret in text


def _safe_cause(exc: BaseException, key: Secret, depth: int = 0) -> BaseException:
    """Return ``exc`` (chain included) fit to travel as a cause: no key, no frames.

    aiohttp's response errors carry the request (headers, key included) and are always replaced;
    any other exception is kept when nothing it renders mentions the key. Tracebacks are dropped:
    their frames' locals hold the request headers.
    """
    secret = key.reveal()
    replaced: BaseException
    if (
        isinstance(exc, aiohttp.ClientResponseError)
        or _carries_proxy_auth(exc)
        or _mentions(exc, secret)
    ):
        replaced = RootCause(
            f"{type(exc).__module__}.{type(exc).__qualname__}: "
            + _scrub_text(str(getattr(exc, "message", "") or exc), key)
        )
    else:
        replaced = exc
    inner = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    replaced.__traceback__ = None
    replaced.__context__ = None
    replaced.__suppress_context__ = True
    if inner is None or inner is exc or depth >= 8:
        replaced.__cause__ = None
    else:
        replaced.__cause__ = _safe_cause(inner, key, depth + 1)
    return replaced


def _carries_proxy_auth(exc: BaseException) -> bool:
    """True if ``exc`` holds a connection key with proxy credentials (aiohttp's connect errors)."""
    for held in (getattr(exc, "_conn_key", None), *getattr(exc, "args", ())):
        if getattr(held, "proxy_auth", None) is not None:
            return True
    return False


def _chain(error: BaseException, cause: BaseException, key: Secret) -> None:
    """Set ``error.__cause__`` to a scrubbed copy of ``cause``; the context stays empty."""
    error.__cause__ = _safe_cause(cause, key)
    error.__suppress_context__ = True


def _unexpected(exc: BaseException, what: str, key: Secret) -> TransportError:
    """Wrap an exception no mapping foresaw, so only the SDK's own types leave a call."""
    detail = _scrub_text(str(exc), key)[:300]
    error = TransportError(
        f"{what} failed unexpectedly ({type(exc).__name__}: {detail}); retry, and report it if "
        "it persists"
    )
    _chain(error, exc, key)
    return error


class _Failure(Exception):
    """An attempt failed with ``error``; the subclass says whether it may have been sent."""

    def __init__(self, error: GladiaError) -> None:
        super().__init__()
        self.error = error


class _Unsent(_Failure):
    """The request never reached the server: always safe to retry."""


class _MaybeSent(_Failure):
    """The request may have reached the server before the failure."""
