"""The one retry loop: attempts, backoff and the session-wide 429 pause, on one clock.

As stamina's core: one loop, one stop condition (attempts and a deadline on one clock), and a
retry decision made in exactly one place. Every wait (backoff, a server's ``Retry-After``, the
session-wide pause, a pooled connection) counts against the call's deadline.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Literal, TypeVar

import aiohttp
import anyio
from yarl import URL

from .._core.config import RetryPolicy, Timeouts
from .._core.errors import (
    APIStatusError,
    GladiaError,
    GladiaTimeout,
    ResponseFormatError,
    ResponseTooLargeError,
    TransportError,
)
from .failures import MaybeSent, Unsent, unexpected
from .secrets import Secret

__all__ = ["Budget", "Retry", "RetryLoop", "deadline", "time_left"]

log = logging.getLogger("gladia_async")
T = TypeVar("T")

#: How a request may be retried.
#: ``"always"``: idempotent (GET, DELETE) or harmless to repeat (an upload).
#: ``"unsent"``: only when the request provably never reached the server, or was refused with a
#: 429 before any work. Job creation: a lost response or a 5xx might hide a created job, and
#: only the caller (the batch's token reconcile) can tell; the transport never repeats it.
#: ``"never"``: only when the connection could not even be opened (a one-shot stream body).
Retry = Literal["always", "unsent", "never"]


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


def time_left() -> float:
    """Seconds until the nearest enclosing deadline (``inf`` when there is none)."""
    return anyio.current_effective_deadline() - anyio.current_time()


class Budget:
    """What one attempt may spend: aiohttp's timer for it, and the seconds left in the call."""

    __slots__ = ("ends", "left", "timer")

    def __init__(self, timer: aiohttp.ClientTimeout, left: float, ends: float) -> None:
        self.timer = timer
        self.left = left
        self.ends = ends


class RetryLoop:
    """The retry loop and the session-wide 429 pause; the transport is one.

    The transport supplies the attempts and :meth:`_client` (its closed / wrong-loop checks,
    which open the pool in the running loop).
    """

    _api_key: Secret
    _loop: asyncio.AbstractEventLoop | None

    def __init__(self, retry: RetryPolicy, timeouts: Timeouts) -> None:
        self.retry = retry
        self.timeouts = timeouts
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

    def _client(self) -> object:
        raise NotImplementedError  # pragma: no cover - the transport's

    async def _call(
        self,
        method: str,
        url: URL,
        retry: Retry,
        attempt: Callable[[Budget], Awaitable[T]],
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
                return await attempt(Budget(timer, left, ends))
            except Unsent as exc:
                failure, retryable = exc.error, True
                if isinstance(failure, TransportError):
                    failure.request_sent = False
            except MaybeSent as exc:
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
                failure = unexpected(exc, f"{method} {url.path}", self._api_key)
                retryable = False
            if not retryable or number >= policy.attempts:
                break
            if delay is None:
                delay = policy.backoff(number, self._rng)
            if delay >= min(ends - loop_time(), time_left()):
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
        if wait > min(left, time_left()):
            raise GladiaTimeout(
                f"{what} not sent: the API asked this session to pause {wait:.1f}s more "
                "(HTTP 429 Retry-After), longer than the call's deadline allows; retry later"
            )
        await anyio.sleep(wait)
