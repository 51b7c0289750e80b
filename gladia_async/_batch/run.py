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
  :mod:`gladia_async._api.jobs`). A job that may exist but could not be confirmed is that source's
  outcome with :class:`JobUnconfirmedError`, never a plain failure.
* A 401 stops the batch at once: outcomes already finished are delivered, then
  :class:`AuthenticationError` is raised. So does a journal that cannot be opened or written
  (:class:`JournalError`): a batch that cannot record its work would have a resume pay for it
  again. The stream is closed whatever stopped the runner, so the consumer always hears the
  end (and the error) at once. Every other failure is that source's outcome: one damaged
  journal row, a path that cannot be named (a symlink loop, a NUL), a finished job whose
  deferred ``result`` is malformed (built here, before it is journalled as done).
* A source iterable that raises: no further source is read, the sources already read are
  finished and delivered as usual, then the iterable's own exception is raised.
* Resume (issue 14): each path, URL or bytes source gets a deterministic token
  (:func:`~gladia_async._batch.identity.source_identity`: the source, its size and mtime, the
  options,
  the ``namespace``), so a rerun finds the jobs an earlier run created by the token lookup and
  adopts them instead of creating them again, with or without a journal (the lookup runs for
  every source the journal does not know). Stream sources keep a
  random token. With ``journal=PATH``, the batch records each upload before the job's creation,
  the job id right after it, and the final state (``done`` or ``error``); a rerun skips finished
  sources (their outcome from ``get()``), polls created jobs, reuses recent uploads (uploading
  once more if the API refuses the old URL) and redoes changed files. The journal is opened in
  the batch's runner, around its task group, so it closes only after every source's task ended.
* Admission: an :class:`~gladia_async._batch.admission.AdmissionWindow` holds a place for each job
  from before its creation until its final state, shrinking on 429 and growing on accepted
  creations, so a batch larger than the account's queue is paced instead of refused.
* ``on_progress`` is called synchronously after every change of the counts. An exception it
  raises is logged once (the first time) and otherwise ignored: a progress display can never
  break the batch's promise of one outcome per source.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Iterable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from .._api.jobs import TOKEN_KEY, Jobs
from .._core import tracing as _tracing
from .._core.closing import AsyncOwner
from .._core.config import Limits
from .._core.errors import (
    AuthenticationError,
    BadRequestError,
    GladiaError,
    InvalidInput,
    JobFailedError,
    JournalError,
    NotFoundError,
    RateLimitError,
    ResponseFormatError,
    UnprocessableEntityError,
    UsageError,
)
from .._http.retry import deadline
from .._http.uploads import is_url
from .._schema.models import (
    TranscriptionJob,
    TranscriptionOptions,
    TranscriptionResult,
    UploadedAudio,
)
from .admission import AdmissionWindow
from .entries import JournalEntryError
from .identity import SourceIdentity, source_identity
from .journal import BatchJournal
from .outcomes import Outcome, Progress, ProgressCallback, Resumed, SourceRun, WaitBy
from .pacing import PollPacing
from .resume import DEFAULT_UPLOAD_MAX_AGE, resume_step

__all__ = ["TOKEN_KEY", "BatchRun", "ProgressCallback", "transcribe_many"]

log = logging.getLogger("gladia_async")


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
        options: TranscriptionOptions | None = None,
        journal: Path | None = None,
        namespace: str = "",
        admission: AdmissionWindow | None = None,
        wait_by: WaitBy | None = None,
    ) -> None:
        self._jobs = jobs
        self._wait_by = wait_by
        self._options = options
        self._journal_path = journal
        self._journal: BatchJournal | None = None
        self._namespace = namespace
        self.admission = admission if admission is not None else AdmissionWindow(initial=16)
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
        self._lookups = anyio.CapacityLimiter(limits.submissions)
        self._pacing = PollPacing()
        self._upload_max_age = DEFAULT_UPLOAD_MAX_AGE

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
            with (
                (
                    _tracing.operation("gladia.transcribe_many")
                    if _tracing.active()
                    else _tracing.NO_SPAN
                ) as span,
                self._runner_scope,
            ):
                async with contextlib.AsyncExitStack() as stack:
                    if self._journal_path is not None:
                        # Entered before the task group, left after it: every source's task
                        # has ended before the journal closes.
                        self._journal = await stack.enter_async_context(
                            BatchJournal.open(self._journal_path)
                        )
                        await self._journal.record_options(self._options, namespace=self._namespace)
                    async with self._send, anyio.create_task_group() as work:
                        await self._feed(work)
                if span is not None:
                    progress = self.progress
                    for name in ("seen", "done", "failed", "adopted", "skipped"):
                        value = getattr(progress, name, None)
                        if isinstance(value, int):
                            span.set_attribute(f"gladia.batch.{name}", value)
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:  # the journal's, or a bug of ours: for the consumer
            if self._fatal is None:
                self._fatal = exc
        finally:
            # Closed whatever happened (a journal that could not open never entered the
            # ``async with`` above): the consumer hears the end of the stream, then _fatal.
            self._send.close()
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
        identity = self._identity(source)
        token = identity.token if identity is not None else uuid.uuid4().hex
        run = SourceRun(identity=identity, token=token)
        try:
            if identity is None and _is_path(source):
                # A path the batch cannot name (a symlink loop, a NUL, a vanished file) is
                # this source's InvalidInput, before anything is spent on it.
                source_identity(source, self._options, namespace=self._namespace)
            finished = await self._resume_or_run(source, run)
            job = finished if isinstance(finished, TranscriptionJob) else None
            result = finished if isinstance(finished, TranscriptionResult) else None
        except (AuthenticationError, JournalError) as exc:
            if isinstance(exc, JournalEntryError):  # one damaged row: that source's failure
                outcome = self._failed(source, index, run, exc)
            else:
                self._stop(work, exc)
                return
        except Exception as exc:  # any failure is this source's outcome; cancellation is not
            if isinstance(exc, JobFailedError) and run.job_id is not None:
                try:
                    await self._record_final(run, "error", error=str(exc), code=exc.error_code)
                except JournalError as unrecorded:
                    self._stop(work, unrecorded)
                    return
            outcome = self._failed(source, index, run, exc)
        else:
            self.progress.done += 1
            outcome = Outcome(
                source=source,
                index=index,
                job_id=run.job_id,
                job=job,
                result=result,
                token=token,
                resumed=run.resumed,
                changed=run.changed,
            )
        finally:
            if run.ticket is not None:
                self.admission.release(run.ticket)
        # Never blocks: this source's slot is held until the outcome is delivered.
        self._send.send_nowait(outcome)
        self._changed()

    def _stop(self, work: anyio.abc.TaskGroup, exc: GladiaError) -> None:
        """Stop the batch for ``exc``: raised once the outcomes already finished are taken.

        A refused key, or a journal that cannot record: every further job would be refused,
        or go unrecorded (and be paid again by a resume).
        """
        if self._fatal is None:
            self._fatal = exc
        work.cancel_scope.cancel()

    def _failed(self, source: Any, index: int, run: SourceRun, exc: Exception) -> Outcome:
        self.progress.failed += 1
        return Outcome(
            source=source,
            index=index,
            job_id=run.job_id,
            error=exc,
            token=run.token,
            resumed=run.resumed,
            changed=run.changed,
        )

    def _identity(self, source: Any) -> SourceIdentity | None:
        """The source's identity, or None (a stream, or a path that cannot be read now)."""
        try:
            return source_identity(source, self._options, namespace=self._namespace)
        except InvalidInput:
            # Unreadable or identity-less sources fail (or succeed) in the upload as before.
            return None

    async def _resume_or_run(
        self, source: Any, run: SourceRun
    ) -> TranscriptionJob | TranscriptionResult:
        """Do what is left of one source, given the journal and the token lookup."""
        journal, identity, jobs = self._journal, run.identity, self._jobs
        audio: UploadedAudio | str | None = None
        look_first = identity is not None and journal is None
        if identity is not None and journal is not None:
            entry, run.changed = await journal.lookup(identity)
            step = resume_step(identity, entry, upload_max_age=self._upload_max_age)
            # Whenever the journal does not know the source (a first run with a journal after
            # one without, a deleted journal), an earlier run may still have created its job.
            look_first = step.lookup_first or entry is None
            if step.action == "skip" and entry is not None and entry.job_id is not None:
                run.job_id, run.resumed = entry.job_id, "skipped"
                self._count("skipped")
                return await self._finished(entry.job_id)
            if step.action == "adopt" and entry is not None and entry.job_id is not None:
                run.job_id, run.resumed = entry.job_id, "adopted"
                self._count("adopted")
                return await self._wait(run)
            if step.action == "submit" and entry is not None and not is_url(source):
                audio = entry.uploaded_audio()  # (a URL source has no upload to reuse)
            if run.changed:
                self.progress.changed += 1
        if look_first:
            # A creation may have been sent by an earlier run: find it by its token first.
            # Under a limit of their own: the first sources' lookups answer first, so their
            # creations start while later sources still wait to look (not after all of them).
            async with self._lookups:
                found = await jobs.find(run.token)
            if found is not None:
                run.job_id, run.resumed = found, "adopted"
                self._count("adopted")
                await self._record_job(run)
                return await self._wait(run)
        if audio is not None:
            run.resumed = "reused_upload"
            self._count("reused_upload")
            try:
                await self._create(run, audio)
            except (BadRequestError, NotFoundError, UnprocessableEntityError):
                # The API refused the journalled audio_url (expired, deleted): upload again.
                log.debug("journalled upload refused; uploading %s again", type(source).__name__)
                run.resumed = None
                self.progress.reused_uploads -= 1
                self._changed()
                await self._create(run, await self._upload(source, run))
        else:
            await self._create(run, await self._upload(source, run))
        return await self._wait(run)

    def _count(self, what: Resumed) -> None:
        if what == "skipped":
            self.progress.skipped += 1
        elif what == "adopted":
            self.progress.adopted += 1
        else:
            self.progress.reused_uploads += 1
        self._changed()

    async def _upload(self, source: Any, run: SourceRun) -> UploadedAudio | str:
        uploaded: UploadedAudio | str
        if is_url(source):
            # Nothing to upload, but journalled all the same before the creation: a crash
            # between the creation and its answer then leads a rerun to the token lookup.
            uploaded = str(source)
        else:
            async with self._uploads:
                uploaded = await self._jobs.upload(source)
            self.progress.uploaded += 1
            self._changed()
        if self._journal is not None and run.identity is not None:
            # Before any creation: a crash from here on reuses this upload. Shielded (a local
            # write): cancellation (Ctrl-C, a timeout) never loses an upload already paid for.
            with anyio.CancelScope(shield=True):
                await self._journal.record_upload(run.identity, uploaded)
        return uploaded

    async def _create(self, run: SourceRun, audio: UploadedAudio | str) -> None:
        window = self.admission

        async def refused(exc: RateLimitError) -> None:
            # The account is full: give the place back, shrink, wait for a place again.
            if run.ticket is not None:
                window.rejected(run.ticket, exc.retry_after)
            run.ticket = None
            run.ticket = await window.acquire()

        body = {**self._body, "audio_url": Jobs.audio_url(audio)}
        async with self._submissions:
            # The place is taken inside the submission slot: a task holding a place never
            # waits for a slot held by a task waiting for a place.
            if run.ticket is None:
                run.ticket = await window.acquire()
            created = await self._jobs.create(body, token=run.token, on_refused=refused)
        if run.ticket is not None:
            window.accepted(run.ticket)
        run.job_id = created.id
        self.progress.submitted += 1
        self._changed()
        await self._record_job(run)

    async def _record_job(self, run: SourceRun) -> None:
        if self._journal is not None and run.identity is not None and run.job_id is not None:
            # Shielded: a job the API created stays pending in the journal even when the batch
            # is being cancelled, so its id is printed and a rerun adopts it.
            with anyio.CancelScope(shield=True):
                await self._journal.record_job(run.identity, run.job_id)

    async def _record_final(
        self, run: SourceRun, status: str, *, error: str | None = None, code: int | None = None
    ) -> None:
        if self._journal is None or run.identity is None or run.resumed == "skipped":
            return
        with anyio.CancelScope(shield=True):  # a final state seen is never lost to a cancel
            await self._journal.record_final(
                run.identity, status=status, error=error, error_code=code, job_id=run.job_id
            )

    async def _finished(self, job_id: str) -> TranscriptionJob:
        """The outcome of a job an earlier run saw finish (its final state, one request)."""
        async with self._polls:
            state = await self._jobs.get(job_id)
        if state.status.value == "error":
            raise JobFailedError(job_id, state.error_code, state)
        _read_deferred(state)
        return state

    async def _wait(self, run: SourceRun) -> TranscriptionJob | TranscriptionResult:
        """Poll one job under the shared poll limiter, paced by when it is expected done.

        The first poll and each next one are paced by what the batch has learnt of its
        jobs (see :mod:`~gladia_async._batch.pacing`).
        """
        job_id = run.job_id
        assert job_id is not None
        pacing = self._pacing
        seq = pacing.next_seq()
        if self._wait_by is not None:  # by callback, polling only when it is late
            result = await self._wait_by(job_id)
            pacing.finished_seen(None)
            await self._record_final(run, "done")
            return result
        policy = self._jobs.poll_policy
        seconds = self._timeout if self._timeout is not None else policy.deadline
        first = pacing.first_delay(seq, policy.interval(0))
        until = None if seconds is None else anyio.current_time() + seconds
        try:
            with deadline(seconds, f"waiting for job {job_id}"):
                state = await self._jobs.poll(
                    job_id,
                    policy=policy,
                    until=until,
                    first_delay=first,
                    limiter=self._polls,
                    pace=pacing.pace(seq),
                )
        except JobFailedError as exc:
            pacing.finished_seen(exc.job if isinstance(exc.job, TranscriptionJob) else None)
            raise
        pacing.finished_seen(state)
        try:
            _read_deferred(state)
        except ResponseFormatError as exc:
            # The job is done but its result cannot be read: the source failed, and the
            # journal says so (a resume reports it, it does not hand out a broken result).
            await self._record_final(run, "failed", error=str(exc))
            raise
        await self._record_final(run, "done")
        return state


def _read_deferred(job: TranscriptionJob) -> None:
    """Build the job's deferred fields now: a malformed one raises ResponseFormatError here."""
    _ = job.request_params, job.result


def _is_path(source: Any) -> bool:
    return isinstance(source, (str, os.PathLike)) and not is_url(source)


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
    options: TranscriptionOptions | None = None,
    journal: str | os.PathLike[str] | None = None,
    namespace: str = "",
    admission: AdmissionWindow | None = None,
    wait_by: WaitBy | None = None,
) -> BatchRun:
    """Return the stream of outcomes for ``sources`` (see :class:`BatchRun`)."""
    if journal is not None and not isinstance(journal, (str, os.PathLike)):
        raise InvalidInput("journal", f"expected a file path or None, got {type(journal).__name__}")
    if not isinstance(namespace, str):
        raise InvalidInput("namespace", f"expected a string, got {type(namespace).__name__}")
    if admission is not None and not isinstance(admission, AdmissionWindow):
        raise InvalidInput("admission", "expected an AdmissionWindow or None")
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
        options=options,
        journal=Path(os.fspath(journal)) if journal is not None else None,
        namespace=namespace,
        admission=admission,
        wait_by=wait_by,
    )
