"""Batch transcription: many sources through upload -> create -> wait, every outcome reported.

Design:

* Ownership: ``async with gladia.transcribe_many(...) as outcomes`` enters a task group that
  owns the batch's runner and every source's work, so nothing outlives the block. Leaving it
  (``break``, an exception, cancellation, ``aclose()``) cancels the work and waits for it to
  stop. Iterating without ``async with`` raises :class:`UsageError` before anything starts.
* Back-pressure: at most ``max_in_flight`` sources are started and not yet *delivered*; an
  outcome finished but not yet taken by the consumer still holds its slot, so a slow consumer
  bounds the work (and the memory) of the batch.
* Stages are bounded separately (uploads are heavy, polls cheap) by capacity limiters; the
  session's one connection pool is shared.
* Exactly-once job creation: each source gets a token in the job's ``custom_metadata`` under
  :data:`TOKEN_KEY`, and :meth:`Jobs.create` reconciles a lost answer by that token (see
  :mod:`gladia_async._jobs`). A job that may exist but could not be confirmed is that source's
  outcome with :class:`JobUnconfirmedError`, never a plain failure.
* A 401 stops the batch at once: outcomes already finished are delivered, then
  :class:`AuthenticationError` is raised. Every other failure is that source's outcome.
* A source iterable that raises: no further source is read, the sources already read are
  finished and delivered as usual, then the iterable's own exception is raised.
* ``on_progress`` is called synchronously after every change of the counts. An exception it
  raises is logged once (the first time) and otherwise ignored: a progress display can never
  break the batch's promise of one outcome per source.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable
from typing import Any

import anyio
import anyio.abc
import attrs

from ._closing import AsyncOwner
from ._config import Limits
from ._errors import AuthenticationError, InvalidInput, UsageError
from ._jobs import TOKEN_KEY, Jobs
from ._models import TranscriptionJob
from ._transport import deadline
from ._uploads import is_url

__all__ = ["TOKEN_KEY", "BatchRun", "Outcome", "Progress", "ProgressCallback"]

log = logging.getLogger("gladia_async")


@attrs.frozen(kw_only=True)
class Outcome:
    """What happened to one source of a batch: its finished job, or the error that stopped it.

    ``job_id`` is set once the job exists; ``token`` is the idempotency token the batch gave
    the source's job (look the job up with it after a :class:`JobUnconfirmedError`).
    """

    source: Any
    index: int
    job: TranscriptionJob | None = None
    job_id: str | None = None
    error: BaseException | None = None
    token: str | None = None

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
        """Sources started and not yet finished."""
        return self.seen - self.done - self.failed


#: Called (synchronously, in the event loop) after every change of the counts. An exception
#: it raises is logged once and ignored.
ProgressCallback = Callable[[Progress], None]


class BatchRun(AsyncOwner):
    """The stream of a batch's outcomes: an async context manager and async iterator.

    Outcomes come as jobs finish, not in input order; each carries its ``source`` and
    ``index``. Iterate it inside ``async with`` (see the module documentation for every rule).
    """

    def __init__(
        self,
        jobs: Jobs,
        limits: Limits,
        sources: Iterable[Any] | AsyncIterable[Any],
        body: dict[str, Any],
        *,
        on_progress: ProgressCallback | None,
        timeout: float | None,
        max_in_flight: int,
    ) -> None:
        self._jobs = jobs
        self._sources = sources
        self._body = body
        self._on_progress = on_progress
        self._progress_failed = False
        self._timeout = timeout
        self._max_in_flight = max_in_flight
        self.progress = Progress()
        # Each slot is held from the moment a source is read until its outcome is delivered,
        # so the buffer never holds more than max_in_flight outcomes.
        self._slots = anyio.Semaphore(max_in_flight)
        self._send, self._receive = anyio.create_memory_object_stream[Outcome](max_in_flight)
        self._runner_scope = anyio.CancelScope()
        self._runner_done = anyio.Event()
        self._started = False
        self._closed = False
        self._fatal: BaseException | None = None
        self._uploads = anyio.CapacityLimiter(limits.uploads)
        self._submissions = anyio.CapacityLimiter(limits.submissions)
        self._polls = anyio.CapacityLimiter(limits.polls)
        # Processing times of the batch's most recent jobs (seconds), for the first poll.
        self._durations: deque[float] = deque(maxlen=32)

    @property
    def undelivered(self) -> int:
        """Outcomes finished and waiting for the consumer (never more than ``max_in_flight``)."""
        return self._receive.statistics().current_buffer_used

    # -- iterator protocol -----------------------------------------------------------------

    def __aiter__(self) -> BatchRun:
        return self

    async def __anext__(self) -> Outcome:
        if self._closed:
            raise StopAsyncIteration
        task_group = self.task_group
        if task_group is None:
            raise UsageError(
                "iterate a batch inside its block: `async with gladia.transcribe_many(...) as "
                "outcomes: async for outcome in outcomes: ...`; the block owns the batch's "
                "work, so none of it can outlive your loop"
            )
        if not self._started:
            self._started = True
            task_group.start_soon(self._run)
        try:
            outcome = await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._closed = True
            if self._fatal is not None:
                fatal, self._fatal = self._fatal, None
                raise fatal from None
            raise StopAsyncIteration from None
        self._slots.release()
        return outcome

    async def aclose(self) -> None:
        """Cancel all work in flight and wait until it has stopped; idempotent."""
        self._closed = True
        self._runner_scope.cancel()
        if self._started:
            with anyio.CancelScope(shield=True):
                await self._runner_done.wait()
        self._receive.close()

    # -- the work --------------------------------------------------------------------------

    def _changed(self) -> None:
        if self._on_progress is None:
            return
        try:
            self._on_progress(self.progress)
        except Exception:
            if not self._progress_failed:
                self._progress_failed = True
                log.exception("on_progress raised; the batch goes on and ignores its errors")

    async def _run(self) -> None:
        try:
            with self._runner_scope:
                async with self._send, anyio.create_task_group() as work:
                    await self._feed(work)
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:  # a bug of ours: handed to the consumer, never left here
            if self._fatal is None:
                self._fatal = exc
        finally:
            self._runner_done.set()

    async def _feed(self, work: anyio.abc.TaskGroup) -> None:
        index = 0
        sources = _aiter(self._sources)
        try:
            while True:
                await self._slots.acquire()
                try:
                    source = await sources.__anext__()
                except StopAsyncIteration:
                    self._slots.release()
                    break
                except Exception as exc:  # the iterable's own failure: raised after the rest
                    self._slots.release()
                    self._fatal = exc
                    return
                self.progress.seen += 1
                self._changed()
                work.start_soon(self._one, work, index, source)
                index += 1
        finally:
            with anyio.CancelScope(shield=True):
                await sources.aclose()
        self.progress.finished_input = True
        self._changed()

    async def _one(self, work: anyio.abc.TaskGroup, index: int, source: Any) -> None:
        token = uuid.uuid4().hex
        job_id: str | None = None
        try:
            job_id = await self._create(source, token)
            job = await self._wait(job_id)
        except AuthenticationError as exc:
            if self._fatal is None:
                self._fatal = exc
            work.cancel_scope.cancel()
            return
        except Exception as exc:  # any failure is this source's outcome; cancellation is not
            self.progress.failed += 1
            outcome = Outcome(source=source, index=index, job_id=job_id, error=exc, token=token)
        else:
            self.progress.done += 1
            outcome = Outcome(source=source, index=index, job_id=job_id, job=job, token=token)
        # Never blocks: this source's slot is held until the outcome is delivered.
        self._send.send_nowait(outcome)
        self._changed()

    async def _create(self, source: Any, token: str) -> str:
        jobs = self._jobs
        if is_url(source):
            audio_url = str(source)
        else:
            async with self._uploads:
                audio_url = (await jobs.upload(source)).audio_url
            self.progress.uploaded += 1
            self._changed()
        body = {**self._body, "audio_url": audio_url}
        async with self._submissions:
            created = await jobs.create(body, token=token)
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
        policy = self._jobs.poll_policy
        seconds = self._timeout if self._timeout is not None else policy.deadline
        first = policy.interval(0)
        if self._durations:
            first = max(first, min(self._durations))
        until = None if seconds is None else anyio.current_time() + seconds
        with deadline(seconds, f"waiting for job {job_id}"):
            state = await self._jobs.poll(
                job_id, policy=policy, until=until, first_delay=first, limiter=self._polls
            )
        if state.completed_at is not None:
            self._durations.append((state.completed_at - state.created_at).total_seconds())
        return state


async def _aiter(sources: Iterable[Any] | AsyncIterable[Any]) -> AsyncGenerator[Any, None]:
    if isinstance(sources, AsyncIterable):
        async for item in sources:
            yield item
    else:
        for item in sources:
            yield item


def transcribe_many(
    jobs: Jobs,
    limits: Limits,
    sources: Iterable[Any] | AsyncIterable[Any],
    body: dict[str, Any],
    *,
    on_progress: ProgressCallback | None = None,
    timeout: float | None = None,
    max_in_flight: int = 1000,
) -> BatchRun:
    """Return the stream of outcomes for ``sources`` (see :class:`BatchRun`)."""
    if isinstance(sources, (str, bytes, os.PathLike)):
        raise InvalidInput("sources", "expected an iterable of sources, got a single source")
    if not isinstance(sources, (Iterable, AsyncIterable)):
        raise InvalidInput("sources", f"expected an iterable, got {type(sources).__name__}")
    return BatchRun(
        jobs,
        limits,
        sources,
        body,
        on_progress=on_progress,
        timeout=timeout,
        max_in_flight=max_in_flight,
    )
