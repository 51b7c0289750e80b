"""HTTP transport: one aiohttp session, auth, retries with backoff, error mapping.

Everything that touches the network goes through :class:`Transport`. It owns the rules that
keep the API key safe (sent only to the configured origin, never logged) and the retry rules
(idempotent requests retried; a POST only when it provably did not reach the server, or when
the server rejected it before doing anything, as with 429).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal, TypeVar

import aiohttp
import anyio
import anyio.lowlevel
import orjson
from yarl import URL

from ._config import RetryPolicy, Timeouts
from ._converter import loads_or_raise
from ._errors import (
    APIStatusError,
    ConfigurationError,
    ConnectionFailed,
    ForeignURLError,
    GladiaTimeout,
    ResponseFormatError,
    status_error_class,
)
from ._version import __version__

__all__ = ["Retry", "Transport", "deadline"]

log = logging.getLogger("gladia_async")
T = TypeVar("T")

#: How a request may be retried.
#: ``"always"``: idempotent (GET, DELETE) or harmless to repeat (an upload).
#: ``"unsent"``: only when the request provably never reached the server, or was refused by a
#: 429/503 before any work (job creation: a lost response might mean a created job).
#: ``"never"``: only when the connection could not even be opened (a one-shot stream body).
Retry = Literal["always", "unsent", "never"]

_MAX_REDIRECTS = 5


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


def origin_of(url: URL) -> tuple[str, str, int | None]:
    """Return the (scheme, host, port) triple that decides where the key may go."""
    return (url.scheme, (url.host or "").lower(), url.port)


class Transport:
    """Sends requests to the Gladia API with auth, retries and typed errors.

    Created by :class:`~gladia_async.GladiaSession`; the aiohttp session is created lazily inside
    the running event loop and closed by :meth:`aclose`.
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
    ) -> None:
        url = URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigurationError(
                f"base_url must be an absolute http(s) URL, got {base_url!r}; "
                "use e.g. https://api.gladia.io"
            )
        self.base_url = url.with_path(url.path.rstrip("/")).with_query(None).with_fragment(None)
        self.origin = origin_of(self.base_url)
        self._api_key = api_key
        self.timeouts = timeouts
        self.retry = retry
        self._max_connections = max_connections
        self._verify_ssl = verify_ssl
        self._user_agent = user_agent or f"gladia-async/{__version__}"
        self._session: aiohttp.ClientSession | None = None
        self._plain_headers = {"User-Agent": self._user_agent}
        self._api_headers = {**self._plain_headers, "x-gladia-key": api_key.reveal()}
        self._connector: aiohttp.TCPConnector | None = None
        self._rng = random.Random()
        t = timeouts
        # Built once: ordinary requests are bounded end to end; streamed bodies (uploads,
        # downloads) have no total by default but must keep moving (``read``).
        self._timeouts: dict[str, aiohttp.ClientTimeout] = {
            "request": aiohttp.ClientTimeout(total=t.request, connect=t.connect),
            "upload": aiohttp.ClientTimeout(total=t.upload, connect=t.connect, sock_read=t.read),
        }
        # Shared across every task of the session: a 429 slows the whole session down.
        self._paused_until = 0.0
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"Transport(base_url={str(self.base_url)!r})"

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def connector(self) -> aiohttp.TCPConnector | None:
        """The connection pool, once the first request created it (tests count connections)."""
        return self._connector

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._connector = aiohttp.TCPConnector(
                limit=self._max_connections, ssl=self._verify_ssl
            )
            self._session = aiohttp.ClientSession(
                connector=self._connector,
                json_serialize=lambda obj: orjson.dumps(obj).decode(),
                auto_decompress=True,
                trust_env=False,
            )
        return self._session

    async def aclose(self) -> None:
        """Close the connection pool; idempotent."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    # -- URLs ------------------------------------------------------------------------------

    def url(self, path: str) -> URL:
        """Resolve an API path (``/v2/...``) against the base URL."""
        return self.base_url.with_path(self.base_url.path.rstrip("/") + path)

    def check_same_origin(self, url: URL | str, what: str) -> URL:
        """Return ``url`` if it is on the API origin, else raise :class:`ForeignURLError`."""
        url = URL(url) if isinstance(url, str) else url
        if not url.is_absolute():
            return self.base_url.join(url)
        if origin_of(url) != self.origin:
            raise ForeignURLError(
                f"{what} points at {url.scheme}://{url.host}:{url.port}, not at the configured "
                f"API origin {self.base_url.scheme}://{self.base_url.host}:{self.base_url.port}; "
                "refusing to send the API key there. Check base_url or report the server's link."
            )
        return url

    def _headers(self, url: URL, extra: Mapping[str, str] | None) -> Mapping[str, str]:
        # Pre-built per origin (aiohttp copies them): the key only for the API's own origin.
        base = self._api_headers if origin_of(url) == self.origin else self._plain_headers
        return {**base, **extra} if extra else base

    def _timeout(self, kind: Literal["request", "upload"]) -> aiohttp.ClientTimeout:
        return self._timeouts[kind]

    # -- requests --------------------------------------------------------------------------

    async def request_json(
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
    ) -> T:
        """Send a request and structure its JSON body into ``cls``.

        For a request that is safe to repeat, a body cut short (dropped connection, truncated
        or malformed JSON) is retried like a failed request.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._open(
                    method, url, retry, json, data, params, ok, timeout, None
                )
                try:
                    raw = await self._read(response)
                finally:
                    response.release()
                return decode(raw, cls, response)
            except (ResponseFormatError, ConnectionFailed, GladiaTimeout) as exc:
                not_json = not isinstance(exc, ResponseFormatError) or exc.invalid_json
                if retry != "always" or attempt >= self.retry.attempts or not not_json:
                    raise
                log.debug("retrying %s %s after a bad body (%s)", method, url.path, exc)
                await anyio.sleep(self.retry.backoff(attempt, self._rng))

    async def request_empty(
        self, method: str, url: URL, *, retry: Retry, ok: Collection[int] = (200, 202, 204)
    ) -> None:
        """Send a request whose success has no body (DELETE's 202)."""
        async with self.stream(method, url, retry=retry, ok=ok) as response:
            await self._read(response)

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        with _body_errors(response):
            return await response.read()

    async def iter_chunks(
        self, response: aiohttp.ClientResponse, size: int = 1 << 20
    ) -> AsyncIterator[bytes]:
        """Yield a streamed response body, mapping stalls and drops to typed errors."""
        with _body_errors(response):
            async for chunk in response.content.iter_chunked(size):
                yield chunk

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

        The response is released when the block exits, also on cancellation.
        """
        response = await self._open(method, url, retry, json, data, params, ok, timeout, headers)
        try:
            yield response
        finally:
            response.release()

    async def _open(
        self,
        method: str,
        url: URL,
        retry: Retry,
        json: Any,
        data: Callable[[], Any] | None,
        params: Any,
        ok: Collection[int],
        timeout: Literal["request", "upload"],
        headers: Mapping[str, str] | None,
    ) -> aiohttp.ClientResponse:
        """Send with retries; return the first successful response, unread (caller releases)."""
        policy = self.retry
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            if self._paused_until:  # a 429 paused the session: everyone waits it out
                await self._wait_if_paused()
            delay: float | None = None
            error: Exception
            try:
                response = await self._send(method, url, json, data, params, timeout, headers)
            except _Unsent as exc:
                error = exc.error
            except _MaybeSent as exc:
                error = exc.error
                if retry != "always":
                    raise error from None
            else:
                if response.status in ok:
                    return response
                error = await self._status_error(response)
                response.release()
                if response.status not in policy.retry_statuses or retry == "never":
                    raise error
                if retry == "unsent" and response.status not in (429, 503):
                    raise error
                if isinstance(error, APIStatusError) and error.retry_after is not None:
                    delay = error.retry_after
                    if response.status == 429:
                        self._paused_until = max(self._paused_until, time.monotonic() + delay)
            if attempt >= policy.attempts:
                raise error
            if delay is None:
                delay = policy.backoff(attempt, self._rng)
            elapsed = time.monotonic() - started
            if policy.deadline is not None and elapsed + delay > policy.deadline:
                raise error
            log.debug(
                "retrying %s %s after %s (attempt %d, waiting %.2fs)",
                method,
                url.path,
                type(error).__name__,
                attempt,
                delay,
            )
            await anyio.sleep(delay)

    async def _wait_if_paused(self) -> None:
        wait = self._paused_until - time.monotonic()
        if wait > 0:
            await anyio.sleep(wait)

    async def _send(
        self,
        method: str,
        url: URL,
        json: Any,
        data: Callable[[], Any] | None,
        params: Any,
        timeout: Literal["request", "upload"],
        headers: Mapping[str, str] | None,
    ) -> aiohttp.ClientResponse:
        client = self._client()
        for _ in range(_MAX_REDIRECTS + 1):
            self.requests_sent += 1
            try:
                response = await client.request(
                    method,
                    url,
                    json=json,
                    data=data() if data is not None else None,
                    params=params,
                    headers=self._headers(url, headers),
                    timeout=self._timeout(timeout),
                    allow_redirects=False,
                )
            except asyncio.CancelledError:
                # aiohttp cancels its body-writer task but does not wait for it; give it one
                # shielded turn of the loop so no task of ours outlives the cancelled call.
                with anyio.CancelScope(shield=True):
                    await anyio.lowlevel.checkpoint()
                raise
            except aiohttp.ClientConnectorError as exc:
                raise _Unsent(
                    ConnectionFailed(
                        f"could not connect to {url.scheme}://{url.host}:{url.port} "
                        f"({type(exc).__name__}); check base_url and the network"
                    )
                ) from None
            except aiohttp.ConnectionTimeoutError:
                raise _Unsent(
                    GladiaTimeout(
                        f"connecting to {url.host} timed out after {self.timeouts.connect}s; "
                        "check the network or raise Timeouts.connect"
                    )
                ) from None
            except TimeoutError:  # before ClientConnectionError: aiohttp's timeouts are both
                raise _MaybeSent(
                    GladiaTimeout(
                        f"{method} {url.path} got no complete answer in time; raise "
                        "Timeouts.request/read/upload if the server or the file is slow"
                    )
                ) from None
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                raise _MaybeSent(
                    ConnectionFailed(
                        f"the connection dropped during {method} {url.path} "
                        f"({type(exc).__name__}); the server may or may not have processed it"
                    )
                ) from None
            log.debug("%s %s -> %d", method, url.path, response.status)
            if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                location = url.join(URL(response.headers["Location"]))
                response.release()
                # A redirect to another host (e.g. file storage) is followed without the key.
                url = location
                if response.status == 303:
                    method, json, data = "GET", None, None
                continue
            return response
        raise ConnectionFailed(f"more than {_MAX_REDIRECTS} redirects from {url.path}")

    async def _status_error(self, response: aiohttp.ClientResponse) -> APIStatusError:
        try:
            raw = await response.read()
        except (aiohttp.ClientError, TimeoutError):
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
            raw_validation = body.get("validation_errors")
            if isinstance(raw_validation, list):
                validation = [str(v) for v in raw_validation]
        if not message:
            kind = response.headers.get("Content-Type", "no content type")
            message = f"{response.reason or 'error'} (non-JSON body, {kind})"
        retry_after = self.retry.retry_after(response.headers.get("Retry-After"))
        cls = status_error_class(response.status)
        return cls(
            status=response.status,
            message=message,
            request_id=str(request_id) if request_id is not None else None,
            path=str(path) if path is not None else response.url.path,
            validation_errors=validation,
            body=body,
            retry_after=retry_after,
        )


@contextmanager
def _body_errors(response: aiohttp.ClientResponse) -> Iterator[None]:
    """Map failures while reading a response body to the SDK's typed errors."""
    where = f"{response.method} {response.url.path}"
    try:
        yield
    except TimeoutError:  # before ClientConnectionError: aiohttp's timeouts are both
        raise GladiaTimeout(
            f"the body of {where} stalled or took too long; retry, or raise "
            "Timeouts.read (transfers) / Timeouts.request"
        ) from None
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
        raise ConnectionFailed(
            f"the connection dropped while reading the body of {where} "
            f"({type(exc).__name__}); retry the call"
        ) from None


def decode(raw: bytes, cls: type[T], response: aiohttp.ClientResponse) -> T:
    """Parse a JSON body into ``cls``, mapping any failure to :class:`ResponseFormatError`."""
    try:
        return loads_or_raise(raw, cls)
    except ResponseFormatError as exc:
        raise ResponseFormatError(
            f"{response.method} {response.url.path} answered {response.status} with a body "
            f"that does not match the API spec ({exc}). If it persists, report it with the "
            "request_id.",
            cls_name=exc.cls_name,
            invalid_json=exc.invalid_json,
        ) from None


class _Unsent(Exception):
    """The request never reached the server: always safe to retry."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class _MaybeSent(Exception):
    """The request may have reached the server before the failure."""

    def __init__(self, error: Exception) -> None:
        self.error = error
