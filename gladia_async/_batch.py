"""Batch transcription: many sources through upload -> submit -> wait, every outcome reported.

Design:

* One runner task owns an anyio task group; every file's work is a child of it, so nothing
  outlives the batch. Closing the stream (``break`` + drop, ``aclose()``, leaving ``async with``,
  cancelling the consumer) cancels the runner and with it every request in flight.
* Stages are bounded separately (uploads are heavy, polls cheap) by capacity limiters; the
  session's one connection pool is shared.
* Exactly-once job creation: each source gets a client token stored in the job's
  ``custom_metadata`` under :data:`TOKEN_KEY`. When a creation's response is lost (connection
  dropped after sending, timeout, 5xx), the batch lists jobs by that token before creating again:
  a job that exists is adopted, never duplicated.
* A 429 pauses the whole session (shared ``Retry-After``); a 401 stops the batch at once and is
  raised from the iterator: every other failure becomes that source's :class:`Outcome`.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
import uuid
from collections import deque
from collections.abc import AsyncIterable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._closing import AsyncClosing
from ._errors import (
    AuthenticationError,
    ConnectionFailed,
    GladiaTimeout,
    InvalidInput,
    JobFailedError,
    ResponseFormatError,
    ServerError,
)
from ._models import JobCreated, JobStatus, TranscriptionJob, TranscriptionOptions, UploadedAudio
from ._uploads import is_url

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

if TYPE_CHECKING:
    from ._session import GladiaSession

__all__ = ["TOKEN_KEY", "BatchRun", "Outcome", "Progress", "ProgressCallback"]

#: The ``custom_metadata`` key holding the batch's per-source idempotency token.
TOKEN_KEY = "gladia_async_token"
_SUBMIT_ATTEMPTS = 4


@attrs.frozen(kw_only=True)
class Outcome:
    """What happened to one source of a batch: its finished job, or the error that stopped it."""

    source: Any
    index: int
    job: TranscriptionJob | None = None
    job_id: str | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when the job finished with status ``done``."""
        return self.error is None and self.job is not None


@attrs.define(kw_only=True)
class Progress:
    """Running counts of a batch, for a progress bar."""

    seen: int = 0
    uploaded: int = 0
    submitted: int = 0
    done: int = 0
    failed: int = 0
    finished_input: bool = False

    @property
    def in_flight(self) -> int:
        """Sources started and not yet reported."""
        return self.seen - self.done - self.failed


#: Called (synchronously, in the event loop) after every change of the counts.
ProgressCallback = Callable[[Progress], None]


class BatchRun(AsyncClosing):
    """The stream of a batch's outcomes: async iterator and async context manager.

    Outcomes come as jobs finish, not in input order; each carries its ``source`` and ``index``.
    """

    def __init__(
        self,
        session: GladiaSession,
        sources: Iterable[Any] | AsyncIterable[Any],
        options: TranscriptionOptions | None,
        *,
        on_progress: ProgressCallback | None,
        timeout: float | None,
        max_in_flight: int,
    ) -> None:
        self._session = session
        self._sources = sources
        self._options = options
        self._on_progress = on_progress
        self._timeout = timeout
        self._max_in_flight = max_in_flight
        self.progress = Progress()
        self._send: MemoryObjectSendStream[Outcome]
        self._receive: MemoryObjectReceiveStream[Outcome]
        self._send, self._receive = anyio.create_memory_object_stream[Outcome](
            max_buffer_size=math.inf
        )
        self._runner: asyncio.Task[None] | None = None
        self._fatal: BaseException | None = None
        limits = session.limits
        self._uploads = anyio.CapacityLimiter(limits.uploads)
        self._submissions = anyio.CapacityLimiter(limits.submissions)
        self._polls = anyio.CapacityLimiter(limits.polls)
        # Processing times of the batch's most recent jobs (seconds), for the first poll.
        self._durations: deque[float] = deque(maxlen=32)

    # -- iterator protocol -----------------------------------------------------------------

    def __aiter__(self) -> BatchRun:
        return self

    async def __anext__(self) -> Outcome:
        if self._runner is None:
            self._runner = asyncio.ensure_future(self._run())
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            if self._runner is not None:
                await self._runner
            if self._fatal is not None:
                fatal, self._fatal = self._fatal, None
                raise fatal from None
            raise StopAsyncIteration from None
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Cancel all work in flight and wait until it has stopped."""
        runner = self._runner
        if runner is not None and not runner.done():
            runner.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(runner, return_exceptions=True)
        self._receive.close()

    def __del__(self) -> None:
        if self._runner is not None and not self._runner.done():
            self._runner.cancel()

    # -- the work --------------------------------------------------------------------------

    def _changed(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self.progress)

    async def _run(self) -> None:
        slots = anyio.Semaphore(self._max_in_flight)
        try:
            async with self._send, anyio.create_task_group() as tg:
                index = 0
                async for source in _aiter(self._sources):
                    await slots.acquire()
                    self.progress.seen += 1
                    self._changed()
                    tg.start_soon(self._one, tg, slots, index, source)
                    index += 1
                self.progress.finished_input = True
                self._changed()
        except AuthenticationError as exc:
            self._fatal = exc
        except BaseExceptionGroup as group:
            auth = group.subgroup(AuthenticationError)
            if auth is not None:
                self._fatal = auth.exceptions[0]
                return
            raise

    async def _one(
        self, tg: anyio.abc.TaskGroup, slots: anyio.Semaphore, index: int, source: Any
    ) -> None:
        job_id: str | None = None
        try:
            job_id = await self._submit_source(source)
            job = await self._wait(job_id)
        except AuthenticationError:
            tg.cancel_scope.cancel()
            raise
        except Exception as exc:  # any failure is this source's outcome; cancellation is not
            self.progress.failed += 1
            outcome = Outcome(source=source, index=index, job_id=job_id, error=exc)
        else:
            self.progress.done += 1
            outcome = Outcome(source=source, index=index, job_id=job_id, job=job)
        finally:
            slots.release()
        self._changed()
        await self._send.send(outcome)

    async def _submit_source(self, source: Any) -> str:
        session = self._session
        audio: UploadedAudio | str
        if is_url(source):
            audio = source
        else:
            async with self._uploads:
                audio = await session.upload(source)
            self.progress.uploaded += 1
            self._changed()
        token = uuid.uuid4().hex
        async with self._submissions:
            created = await self._submit_once(audio, token)
        self.progress.submitted += 1
        self._changed()
        return created.id

    async def _wait(self, job_id: str) -> TranscriptionJob:
        """Poll one job under the shared poll limiter; the first poll waits one interval.

        A just-created job is never done, so polling at once would only cost a request. What
        the batch has learnt is shared: once jobs have finished, the first poll of a new one
        waits as long as the quickest recent job took (server-side ``completed_at -
        created_at``), so most jobs are seen done on their first poll.
        """
        policy = self._session.poll_policy
        deadline = self._timeout if self._timeout is not None else policy.deadline
        started = time.monotonic()
        n = 0
        while True:
            delay = policy.interval(n)
            if n == 0 and self._durations:
                delay = max(delay, min(self._durations))
            n += 1
            if deadline is not None and time.monotonic() - started + delay > deadline:
                raise GladiaTimeout(
                    f"job {job_id} not finished after {deadline:.0f}s; "
                    "wait for it later with GladiaSession.wait(job_id)"
                )
            await anyio.sleep(delay)
            async with self._polls:
                state = await self._session.get(job_id)
            if state.status == JobStatus.DONE:
                if state.completed_at is not None:
                    self._durations.append((state.completed_at - state.created_at).total_seconds())
                return state
            if state.status == JobStatus.ERROR:
                raise JobFailedError(job_id, state.error_code, state)

    async def _submit_once(self, audio: UploadedAudio | str, token: str) -> JobCreated:
        """Create the job exactly once, reconciling by token after a lost response."""
        session = self._session
        last: Exception | None = None
        for attempt in range(_SUBMIT_ATTEMPTS):
            if attempt:
                existing = await self._find_by_token(token)
                if existing is not None:
                    return existing
                await anyio.sleep(session.transport.retry.backoff(attempt))
            try:
                return await session.submit(
                    audio, self._options, custom_metadata={TOKEN_KEY: token}
                )
            except (ConnectionFailed, GladiaTimeout, ServerError, ResponseFormatError) as exc:
                last = exc  # the job may exist: look before creating again
        assert last is not None
        raise last

    async def _find_by_token(self, token: str) -> JobCreated | None:
        async with self._session.iter_jobs(
            custom_metadata={TOKEN_KEY: token},
            page_size=1,
            max_items=1,
            prefetch=False,
            endpoint=self._session.api,
        ) as jobs:
            async for job in jobs:
                return JobCreated(id=job.id, result_url="")
        return None


async def _aiter(sources: Iterable[Any] | AsyncIterable[Any]) -> Any:
    if isinstance(sources, AsyncIterable):
        async for item in sources:
            yield item
    else:
        for item in sources:
            yield item


def transcribe_many(
    session: GladiaSession,
    sources: Iterable[Any] | AsyncIterable[Any],
    options: TranscriptionOptions | None,
    *,
    on_progress: ProgressCallback | None = None,
    timeout: float | None = None,
    max_in_flight: int = 1000,
) -> BatchRun:
    """Return the stream of outcomes for ``sources`` (see :class:`BatchRun`)."""
    if isinstance(sources, (str, bytes, os.PathLike)):
        raise InvalidInput("sources", "expected an iterable of sources, got a single source")
    return BatchRun(
        session,
        sources,
        options,
        on_progress=on_progress,
        timeout=timeout,
        max_in_flight=max_in_flight,
    )
