"""HTTP transport: one aiohttp session per SDK session, auth, redirects, the pool's states.

Everything that touches the network goes through :class:`Transport`. It owns the rules that
keep the API key safe (sent only to the configured origin, never in an exception, a log line or
a ``repr``), the retry rules, and the bounds that hold against a hostile server:

* **One retry loop, one clock.** A call's attempts, backoff sleeps, the session-wide 429 pause,
  the wait for a pooled connection and every body read run inside one anyio cancel scope
  (:func:`~.retry.deadline`), so a call ends within ``RetryPolicy.deadline`` whatever the
  server does (:mod:`.retry` holds the loop). aiohttp's own silent re-send of idempotent
  requests is switched off: attempts are ours only.
* **Stalls both ways.** An upload that makes no progress for ``Timeouts.write`` seconds fails;
  a streamed download that does not deliver 64 KiB within ``Timeouts.read`` fails; error bodies
  are read with a small size cap and a short time bound.
* **Size caps.** JSON bodies are capped at ``Limits.max_response_bytes``, counted after
  decompression, so an endless body or a compression bomb stops at the cap.
* **Only typed errors**, chained to a root cause that was scrubbed of the key first.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

import aiohttp
import anyio
import anyio.lowlevel
import orjson
from aiohttp import BaseConnector
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .._core import tracing as _tracing
from .._core.config import Limits, RetryPolicy, Timeouts
from .._core.errors import (
    ConnectionFailed,
    ForeignURLError,
    GladiaError,
    GladiaTimeout,
    InvalidInput,
    PoolTimeout,
    ResponseFormatError,
    SessionClosedError,
    WrongEventLoopError,
)
from .._version import __version__
from .bodies import ERROR_BODY_CAP, decode, read_capped, status_answer
from .failures import (
    Failure,
    MaybeSent,
    Phase,
    Unsent,
    body_errors,
    map_failure,
    request_failure,
)
from .origin import WS_SCHEMES, origin_of, parse_base_url, redirect_target
from .protocol import LazyReadTimeout
from .proxies import ProxyRoutes
from .retry import Budget, Retry, RetryLoop, deadline
from .secrets import API_KEY_HEADER, KeyedHeaders, Secret, check_api_key, check_headers, scrub_text
from .watchdog import UploadWatchdog
from .websocket import WebSocket, handshake, parse_ws_url

__all__ = ["BaseConnector", "Transport", "deadline"]

log = logging.getLogger("gladia_async")
T = TypeVar("T")

_MAX_REDIRECTS = 5
#: A streamed transfer must move at least this many bytes per ``Timeouts.read`` seconds.
_STALL_WINDOW_BYTES = 64 * 1024
#: URLs :meth:`Transport.url` keeps resolved (cleared whole when full).
_URL_CACHE_SIZE = 1024


class Transport(RetryLoop):
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
        limits: Limits,
        verify_ssl: bool = True,
        user_agent: str | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        headers: Mapping[str, str] | None = None,
        connector: BaseConnector | None = None,
    ) -> None:
        if connector is not None and not isinstance(connector, BaseConnector):
            raise InvalidInput(
                "connector", f"expected an aiohttp.BaseConnector, got {type(connector).__name__}"
            )
        self.base_url = parse_base_url(base_url)
        self._base_path = self.base_url.path.rstrip("/")
        self._urls: dict[str, URL] = {}
        self._api_url_ids: set[int] = set()
        self.origin = origin_of(self.base_url)
        self._api_key = Secret(check_api_key(api_key.reveal()))
        #: Handed to the converter with every body: a key the server echoed never reaches an error.
        self._scrub = functools.partial(scrub_text, key=self._api_key)
        RetryLoop.__init__(self, retry, timeouts)
        self.limits = limits
        self._max_response_bytes = limits.max_response_bytes  # read by every body: one lookup
        self.verify_ssl = verify_ssl
        self._user_agent = user_agent or f"gladia-async/{__version__}"
        self._session: aiohttp.ClientSession | None = None
        self._connector: BaseConnector | None = None
        self._user_connector = connector
        self._proxies = ProxyRoutes(proxy, trust_env)
        #: The proxy a request to a URL goes through (None: direct); see ProxyRoutes.proxy_for.
        self.proxy_for = self._proxies.proxy_for
        self.trust_env = bool(trust_env)
        self._loop = None
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
        self._keyed = KeyedHeaders(CIMultiDictProxy(api_headers))
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"Transport(base_url={str(self.base_url)!r})"

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def connector(self) -> BaseConnector | None:
        """The connection pool, once the first request created it (tests count connections)."""
        return self._connector

    @property
    def proxy(self) -> URL | None:
        """The explicit proxy (``proxy=``), credentials removed; None: none given."""
        proxy = self._proxies.explicit
        return None if proxy is None else proxy.with_user(None)

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
                    limit=self.limits.max_connections, ssl=self.verify_ssl
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
            if owned and LazyReadTimeout is not None and hasattr(self._connector, "_factory"):
                self._connector._factory = functools.partial(LazyReadTimeout, loop=loop)
            self._pool_slots = asyncio.Semaphore(self.limits.max_connections)
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
                f"{what} is not a valid URL ({scrub_text(str(exc), self._api_key)}); "
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

    def _headers(self, url: URL, extra: Mapping[str, str] | None) -> Mapping[str, str]:
        # Pre-built per origin (aiohttp copies them): the key only for the API's own origin.
        api = id(url) in self._api_url_ids or origin_of(url) == self.origin
        base = self._keyed.headers if api else self._plain_headers
        return {**base, **extra} if extra else base

    # -- WebSockets ------------------------------------------------------------------------

    def is_api_origin(self, url: URL) -> bool:
        """True if ``url`` is on the API's origin; ``wss://`` (``ws://``) counts as ``https://``
        (``http://``) on the same host and port."""
        scheme = WS_SCHEMES.get(url.scheme, url.scheme)  # yarl knows ws/wss default ports
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
    ) -> WebSocket:
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
        target = parse_ws_url(url, what, self._api_key)
        host, port = target.host, target.port
        if authenticate and not self.is_api_origin(target):
            raise ForeignURLError(
                f"{what} URL points at {target.scheme}://{host}:{port}, not at the API origin; "
                "refusing to send the API key there"
            )
        if authenticate:
            headers = self._keyed.headers
        else:
            headers = self._api_plain_headers if self.is_api_origin(target) else self._plain_headers
        return await handshake(
            client,
            target,
            headers=headers,
            proxy=self.proxy_for(target),
            heartbeat=heartbeat,
            max_msg_size=max_msg_size,
            close_timeout=close_timeout,
            where=f"{what} at {target.scheme}://{host}:{port}",
            timeouts=self.timeouts,
            retry=self.retry,
            key=self._api_key,
        )

    def map_failure(self, exc: BaseException, phase: Phase, where: str) -> GladiaError | None:
        """The SDK's error for a transport failure ``exc`` (None: not one), key scrubbed.

        For the layers above that hold an aiohttp object the transport handed out (an open
        WebSocket: ``phase="socket"``); see :func:`.failures.map_failure`.
        """
        return map_failure(exc, phase, where, self._api_key)

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

        async def attempt(budget: Budget) -> T:
            if (slots := self._pool_slots) is None or slots.locked():
                slots = await self._acquire_slot(budget.left)
            else:  # free: taken with no suspension, and no frame of ours around it
                await slots.acquire()
            try:
                response = await self._send(
                    method, url, json, data, params, budget.timer, None, budget.ends
                )
                try:
                    if response.status not in ok:
                        raise await status_answer(
                            response, self.timeouts.read, self.retry, self._api_key
                        )
                    raw = await read_capped(response, self._max_response_bytes, self._api_key)
                finally:
                    response.release()
            finally:
                slots.release()
            return decode(raw, cls, response, self._scrub)

        # An upload in flight is bounded by its stall timeouts and Timeouts.upload, not cut by
        # the deadline (a large file on a slow link is legitimately slow); no new attempt starts
        # past the deadline.
        call = self._call(method, url, retry, attempt, timeout)
        return call if _tracing.active() is None else _tracing.traced_http(call, method, url)

    async def request_empty(
        self, method: str, url: URL, *, retry: Retry, ok: Collection[int] = (200, 202, 204)
    ) -> None:
        """Send a request whose success has no body we need (DELETE's 202)."""

        async def attempt(budget: Budget) -> None:
            slots = await self._acquire_slot(budget.left)
            try:
                response = await self._send(method, url, None, None, None, budget.timer, None)
                try:
                    if response.status not in ok:
                        raise await status_answer(
                            response, self.timeouts.read, self.retry, self._api_key
                        )
                    await read_capped(response, ERROR_BODY_CAP, self._api_key, strict=False)
                finally:
                    response.release()
            finally:
                slots.release()

        call = self._call(method, url, retry, attempt, "request")
        await (call if _tracing.active() is None else _tracing.traced_http(call, method, url))

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

        async def attempt(budget: Budget) -> tuple[aiohttp.ClientResponse, asyncio.Semaphore]:
            slots = await self._acquire_slot(budget.left)
            try:
                response = await self._send(
                    method, url, json, data, params, self._timeouts[timeout], headers
                )
                if response.status not in ok:
                    try:
                        raise await status_answer(
                            response, self.timeouts.read, self.retry, self._api_key
                        )
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
                call if _tracing.active() is None else _tracing.traced_http(call, method, url)
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
            with body_errors(response, self._api_key):
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
                f"no free connection in the pool within {pool:g}s "
                f"({self.limits.max_connections} in use); lower the concurrency or raise "
                "Limits.max_connections / Timeouts.pool"
            )
        raise Unsent(
            GladiaTimeout(
                "no free connection in the pool before the call's deadline "
                f"({self.limits.max_connections} in use); lower the concurrency or raise "
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
        """One attempt, following redirects; raises ``Unsent`` / ``MaybeSent`` on failure."""
        client = self._client()
        for _ in range(_MAX_REDIRECTS + 1):
            body = data() if data is not None else None
            progress = getattr(data, "progress", None)
            self.requests_sent += 1
            if progress is not None:
                failed: Failure | None = None
                async with anyio.create_task_group() as tg:
                    watch = UploadWatchdog(progress, self.timeouts.write, ends, tg.cancel_scope)
                    tg.start_soon(watch.run)
                    try:
                        response = await self._request(
                            client, method, url, json, body, params, timeout, headers
                        )
                    except Failure as exc:  # raised below, outside the task group
                        failed = exc
                    tg.cancel_scope.cancel()
                if watch.reason == "stalled":
                    raise MaybeSent(
                        GladiaTimeout(
                            f"the upload of {method} {url.path} made no progress for "
                            f"{self.timeouts.write:g}s (the server stopped reading); retry, or "
                            "raise Timeouts.write for a slow network"
                        )
                    )
                if watch.reason == "deadline":
                    raise MaybeSent(
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
            if _tracing.active() is not None:
                _tracing.response_seen(response.status, response.headers)
            if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                location_text = response.headers["Location"]
                response.release()
                location = redirect_target(url, location_text)
                # A redirect to another host (e.g. file storage) is followed without the key.
                url = location
                if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                    method, json, data = "GET", None, None
                continue
            return response
        raise MaybeSent(ConnectionFailed(f"more than {_MAX_REDIRECTS} redirects from {url.path}"))

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
        failure: Failure | None = None
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
            failure = request_failure(exc, method, url, self._api_key, self.timeouts)
            if failure is None:
                raise
        raise failure  # outside the handler: no context to carry aiohttp's exception
