"""The session users hold: ``async with GladiaSession() as gladia: ...``."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio

from ._api.deletion import delete_listed
from ._api.files import check_destination, download_file
from ._api.jobs import Jobs, ReconcilePolicy
from ._api.live_jobs import download_live_audio, get_live_job, patch_live_job
from ._api.pagination import JobFilters, JobStream, PageStream
from ._api.transcription import transcribe_job
from ._core.checks import check_integer, check_some_filter, check_timeout, check_token
from ._core.closing import AsyncClosing
from ._core.config import Limits, PollPolicy, RetryPolicy, Timeouts
from ._core.errors import InvalidInput
from ._core.settings import (
    LiveRegion,
    api_key_from_env,
    base_url_from_env,
    limits_for,
    region_from_env,
)
from ._http.retry import deadline
from ._http.secrets import Secret
from ._http.transport import BaseConnector, Transport
from ._http.uploads import AudioSource, is_url
from ._schema.models import (
    JobCreated,
    JobStatus,
    TranscriptionJob,
    TranscriptionOptions,
    TranscriptionResult,
    UploadedAudio,
)
from ._schema.validation import check_job_id

if TYPE_CHECKING:  # batch, callbacks and live are imported when first used
    from ._batch.admission import AdmissionWindow
    from ._batch.run import BatchRun, ProgressCallback
    from ._callbacks.receiver import CallbackReceiver
    from ._live.options import LiveOptions, ReconnectPolicy
    from ._live.session import LiveSession
    from ._schema.models import LiveJob

__all__ = ["GladiaSession"]

log = logging.getLogger("gladia_async")

JobRef = str | JobCreated | TranscriptionJob


def job_id_of(job: object, argument: str = "job") -> str:
    """Return the job id of a job object or id string, checked."""
    if isinstance(job, (JobCreated, TranscriptionJob)):
        return job.id
    return check_job_id(job, argument)


class GladiaSession(AsyncClosing):
    """An open connection to Gladia's API: uploads, jobs, polling, listings, batches.

    Use it as an async context manager; it owns one aiohttp connection pool, created inside the
    running event loop on first use and closed on exit. Safe to share between the tasks of one
    event loop (for example every request handler of a web app).

    ``api_key`` defaults to ``$GLADIA_API_KEY``, ``base_url`` to ``$GLADIA_API_URL`` or
    ``https://api.gladia.io``. ``max_concurrency`` caps the connection pool (and batch stages).
    ``reconcile`` says how a job creation whose answer was lost is settled by its idempotency
    token (batches, and ``submit(idempotency_token=...)``).

    Network, in httpx's and aiohttp's words: with ``trust_env=True`` (the default) the
    ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY`` environment variables are
    honoured (read once, here; loopback hosts such as a local emulator are always reached
    directly); ``trust_env=False`` ignores them. ``proxy="http://user:pass@host:3128"`` sends
    every request (and live WebSocket) through that proxy whatever the environment says; an
    ``https`` API is reached through a ``CONNECT`` tunnel, so the proxy never sees the key.
    ``headers`` are sent with every request to the API origin (never to another host); a
    header named like the key's (``x-gladia-key``) raises :class:`InvalidInput`. ``connector``
    is your own :class:`aiohttp.BaseConnector`: the session uses it but does not close it (you
    do), its own limits and TLS settings apply, and ``Limits.max_connections`` then only caps
    how many requests this session has in flight at once.

    ``region`` (default ``$GLADIA_REGION``; ``us-west`` or ``eu-west``) is where live sessions
    run, sent as ``POST /v2/live?region=...``; ``live(region=...)`` overrides it.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        limits: Limits | None = None,
        max_concurrency: int | None = None,
        verify_ssl: bool = True,
        api: Literal["pre-recorded", "transcription"] = "pre-recorded",
        reconcile: ReconcilePolicy | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        headers: Mapping[str, str] | None = None,
        connector: BaseConnector | None = None,
        region: LiveRegion | None = None,
    ) -> None:
        key = api_key_from_env(api_key)
        self.limits = limits_for(limits, max_concurrency)
        if api not in ("pre-recorded", "transcription"):
            raise InvalidInput("api", f"must be 'pre-recorded' or 'transcription', got {api!r}")
        if reconcile is not None and not isinstance(reconcile, ReconcilePolicy):
            raise InvalidInput("reconcile", "expected a ReconcilePolicy")
        region = region_from_env(region)
        #: Where live sessions run (None: Gladia's default), from ``region=`` or $GLADIA_REGION.
        self.region: LiveRegion | None = region
        self.poll_policy = poll or PollPolicy()
        self.api = api
        retry = retry or RetryPolicy()
        self._transport = Transport(
            base_url=base_url_from_env(base_url),
            api_key=Secret(key),
            timeouts=timeouts or Timeouts(),
            retry=retry,
            limits=self.limits,
            verify_ssl=verify_ssl,
            proxy=proxy,
            trust_env=trust_env,
            headers=headers,
            connector=connector,
        )
        self._jobs = Jobs(
            self._transport,
            api=api,
            poll_policy=self.poll_policy,
            reconcile=reconcile or ReconcilePolicy(),
            retry=retry,
            limits=self.limits,
        )

    def __repr__(self) -> str:
        return f"GladiaSession(base_url={str(self._transport.base_url)!r}, api_key='********')"

    @property
    def base_url(self) -> str:
        """The API base URL this session talks to."""
        return str(self._transport.base_url)

    @property
    def transport(self) -> Transport:
        """The HTTP transport (connection pool, retry policy); for instrumentation and tests."""
        return self._transport

    async def aclose(self) -> None:
        """Close the connection pool. Called by ``async with``; idempotent."""
        await self._transport.aclose()

    # -- uploads ---------------------------------------------------------------------------

    async def upload(
        self,
        source: AudioSource,
        *,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> UploadedAudio:
        """Upload audio and return its Gladia ``audio_url`` and detected metadata.

        ``source`` is a path, ``bytes``, a binary file object, an async iterable of ``bytes``,
        or an ``http(s)://`` URL that Gladia imports itself. The file is streamed, never read
        whole into memory.
        """
        return await self._jobs.upload(source, filename=filename, content_type=content_type)

    # -- jobs ------------------------------------------------------------------------------

    async def submit(
        self,
        audio: UploadedAudio | str,
        options: TranscriptionOptions | None = None,
        *,
        custom_metadata: Mapping[str, Any] | None = None,
        idempotency_token: str | None = None,
    ) -> JobCreated:
        """Start a transcription job for uploaded audio (or an audio URL); returns its id.

        ``custom_metadata`` is merged over ``options.custom_metadata``. Without
        ``idempotency_token``, job creation is never repeated once the request may have reached
        the server (only a 429 is waited out). With it, the token is stored in the job's
        ``custom_metadata`` and a lost answer is reconciled exactly as a batch does: the job is
        looked up by token and adopted, created again only once confirmed absent, or
        :class:`JobUnconfirmedError` (carrying the token) is raised when it can be neither
        confirmed nor ruled out. Reuse one token only for one intended job.
        """
        if idempotency_token is not None:
            check_token(idempotency_token)
        body = self._jobs.options_body(options, custom_metadata)
        body["audio_url"] = self._jobs.audio_url(audio)
        return await self._jobs.create(body, token=idempotency_token)

    async def get(self, job: JobRef) -> TranscriptionJob:
        """Return the job's current state (and its result once ``done``)."""
        return await self._jobs.get(job_id_of(job))

    async def delete(self, job: JobRef) -> None:
        """Delete a finished job and its data (the API answers 202)."""
        await self._jobs.delete(job_id_of(job))

    async def download_audio(self, job: JobRef, dest: str | os.PathLike[str]) -> Path:
        """Stream the job's audio file to ``dest`` and return the path.

        Written to a temporary file beside ``dest`` and renamed at the end, so an interrupted
        download never leaves a truncated file under the final name.
        """
        job_id = job_id_of(job)
        target = check_destination(dest)
        return await download_file(self._transport, self._jobs.job_url(job_id, "/file"), target)

    async def wait(
        self,
        job: JobRef,
        *,
        poll: PollPolicy | None = None,
        timeout: float | None = None,
        raise_on_error: bool = True,
    ) -> TranscriptionJob:
        """Poll the job until it is ``done`` (or ``error``) and return its final state.

        Polls start fast and back off (``PollPolicy``) so short jobs are noticed quickly and
        long ones cost few requests. ``timeout`` (else ``poll.deadline``) bounds the whole
        call: when the next poll would fall past it, one last poll is made just before it, and
        a server that stops answering is cut off at it. Raises :class:`JobFailedError` for a
        job that ended in ``error`` (unless ``raise_on_error=False``) and
        :class:`GladiaTimeout` past the deadline.
        """
        job_id = job_id_of(job)
        if poll is not None and not isinstance(poll, PollPolicy):
            raise InvalidInput("poll", "expected a PollPolicy")
        policy = poll or self.poll_policy
        seconds = check_timeout(timeout if timeout is not None else policy.deadline)
        until = None if seconds is None else anyio.current_time() + seconds
        with deadline(seconds, f"waiting for job {job_id}"):
            return await self._jobs.poll(
                job_id, policy=policy, until=until, raise_on_error=raise_on_error
            )

    async def transcribe(
        self,
        source: AudioSource,
        options: TranscriptionOptions | None = None,
        *,
        custom_metadata: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        filename: str | None = None,
        idempotency_token: str | None = None,
    ) -> TranscriptionJob:
        """Upload (unless ``source`` is a URL), submit and wait: the finished job.

        Every argument is checked before the upload starts, so bad input costs no request.
        ``timeout`` bounds the whole call (upload, submission and wait) on one clock. A
        deadline that passes while the job is being created raises :class:`GladiaTimeout`, or
        :class:`JobUnconfirmedError` (with the token) when ``idempotency_token`` is given,
        since the job may exist: see :meth:`submit`.
        """
        seconds = check_timeout(timeout)
        if idempotency_token is not None:
            check_token(idempotency_token)
        body = self._jobs.options_body(options, custom_metadata)
        if not is_url(source) and filename is not None and not isinstance(filename, str):
            raise InvalidInput("filename", "expected a string")
        return await transcribe_job(
            self._jobs,
            source,
            body,
            policy=self.poll_policy,
            seconds=seconds,
            filename=filename,
            idempotency_token=idempotency_token,
        )

    # -- listings --------------------------------------------------------------------------

    def iter_pages(
        self,
        *,
        status: Sequence[str | JobStatus] | None = None,
        kind: Sequence[str] | None = None,
        date: datetime | None = None,
        after_date: datetime | None = None,
        before_date: datetime | None = None,
        custom_metadata: Mapping[str, Any] | None = None,
        page_size: int = 100,
        offset: int = 0,
        endpoint: Literal["transcription", "pre-recorded", "live"] | None = None,
        prefetch: bool = True,
    ) -> PageStream:
        """Stream pages of jobs, following the server's ``next`` links.

        Nothing is requested before the first iteration. With ``prefetch`` the next page is
        fetched while the caller works on the current one. Use ``async with`` (or ``aclose()``)
        to be sure an early exit has cancelled the request in flight. A ``next`` link to another
        origin raises :class:`ForeignURLError` and is never followed with the key.
        ``endpoint`` defaults to ``transcription`` (pre-recorded and live jobs, ``kind``
        filter) or ``pre-recorded`` when only pre-recorded jobs are asked for.
        """
        filters = JobFilters.build(
            status=status,
            kind=kind,
            date=date,
            after_date=after_date,
            before_date=before_date,
            custom_metadata=custom_metadata,
            page_size=page_size,
            offset=offset,
            endpoint=endpoint,
        )
        return PageStream(self._transport, filters, prefetch=bool(prefetch))

    def iter_jobs(
        self,
        *,
        status: Sequence[str | JobStatus] | None = None,
        kind: Sequence[str] | None = None,
        date: datetime | None = None,
        after_date: datetime | None = None,
        before_date: datetime | None = None,
        custom_metadata: Mapping[str, Any] | None = None,
        page_size: int = 100,
        offset: int = 0,
        max_items: int | None = None,
        endpoint: Literal["transcription", "pre-recorded", "live"] | None = None,
        prefetch: bool = True,
    ) -> JobStream:
        """Stream jobs newest first, across pages; items typed by ``kind``.

        Same filters as :meth:`iter_pages`; ``max_items`` stops after that many jobs. Memory
        stays flat: only the current page (and the prefetched one) is held.
        """
        check_integer("max_items", max_items, low=0, allow_none=True)
        pages = self.iter_pages(
            status=status,
            kind=kind,
            date=date,
            after_date=after_date,
            before_date=before_date,
            custom_metadata=custom_metadata,
            page_size=page_size,
            offset=offset,
            endpoint=endpoint,
            prefetch=prefetch,
        )
        return JobStream(pages, max_items)

    async def delete_jobs(
        self,
        *,
        status: Sequence[str | JobStatus] | None = None,
        kind: Sequence[str] | None = None,
        date: datetime | None = None,
        after_date: datetime | None = None,
        before_date: datetime | None = None,
        custom_metadata: Mapping[str, Any] | None = None,
        all: bool = False,
        concurrency: int = 8,
        max_items: int | None = None,
    ) -> list[tuple[str, BaseException | None]]:
        """Delete every job matching the filters; return ``(job_id, error or None)`` for each.

        At least one filter, or ``all=True``, is required: a bare ``delete_jobs()`` raises
        :class:`InvalidInput` before any request, so a forgotten filter never deletes an
        account's history. Without ``status``, only finished jobs (``done``, ``error``) are
        deleted. The listing is walked first (deleting while paging would shift the pages), then
        the jobs are deleted ``concurrency`` at a time. One failure never stops the others.
        """
        check_some_filter(all, status, kind, date, after_date, before_date, custom_metadata)
        if status is None:
            status = ("done", "error")
        check_integer("concurrency", concurrency)
        listing = self.iter_jobs(
            status=status,
            kind=kind,
            date=date,
            after_date=after_date,
            before_date=before_date,
            custom_metadata=custom_metadata,
            max_items=max_items,
        )
        return await delete_listed(self._jobs, listing, concurrency)

    # -- batches ---------------------------------------------------------------------------

    def transcribe_many(
        self,
        sources: Iterable[AudioSource] | AsyncIterable[AudioSource],
        options: TranscriptionOptions | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        max_in_flight: int = 1000,
        journal: str | os.PathLike[str] | None = None,
        namespace: str = "",
        admission: AdmissionWindow | None = None,
        via: CallbackReceiver | None = None,
        callback_url: str | None = None,
        fallback_after: float = 30.0,
    ) -> BatchRun:
        """Transcribe many files or URLs concurrently: a stream of outcomes, as they complete.

        Use it as ``async with gladia.transcribe_many(...) as outcomes: async for o in
        outcomes``; the block owns the batch's work and leaving it (break, exception,
        cancellation) stops everything in flight. Every source gets exactly one
        :class:`Outcome`; job creation is exactly-once (see :class:`BatchRun`). At most
        ``max_in_flight`` sources are started and not yet delivered to you, which bounds memory
        for huge inputs and slow consumers. ``timeout`` bounds each job's wait from its creation
        to its final state. Gladia queues about 300 jobs per account and answers 429 beyond,
        which the batch absorbs by backing off. Stage limits come from the session's
        :class:`Limits`. Every argument is checked here, before any request.

        Resumable: each path, URL or bytes source gets a deterministic idempotency token (from
        the source, its size and mtime, the options and ``namespace``), so running the same
        batch again adopts the jobs an earlier run created instead of paying for them twice.
        With ``journal=PATH`` (one SQLite file) a rerun also skips finished sources, reuses
        uploads and redoes changed files; :attr:`Outcome.resumed` says what was reused.
        ``admission`` (default: a fresh :class:`AdmissionWindow`) paces job creations to
        what the account accepts.

        With ``via=receiver`` (served at ``callback_url``) each job is finished by its callback
        instead of by polling (``outcome.result``; ``outcome.job`` stays None), polling only
        when a callback is ``fallback_after`` seconds late. Tokens and the journal use the
        options without the callback, so a rerun resumes with or without ``via``.
        """
        from ._batch.run import transcribe_many
        from ._callbacks.receiver import CallbackReceiver

        wait_by = None
        if via is None:
            body = self._jobs.options_body(options, None)
        else:
            if not isinstance(via, CallbackReceiver):
                raise InvalidInput("via", f"expected a CallbackReceiver, got {type(via).__name__}")
            if not isinstance(callback_url, str):
                raise InvalidInput("callback_url", "via= needs the URL the receiver is served at")
            self._jobs.options_body(options, None)  # checked as given (the identity's options)
            body = self._jobs.options_body(via.options(callback_url, options), None)
            receiver, late = via, fallback_after

            async def wait_by(job_id: str) -> TranscriptionResult:
                return await self.wait_result(
                    job_id, via=receiver, fallback_after=late, timeout=timeout
                )

        seconds = check_timeout(timeout)
        check_integer("max_in_flight", max_in_flight)
        if on_progress is not None and not callable(on_progress):
            raise InvalidInput("on_progress", "expected a callable taking a Progress")
        return transcribe_many(
            self._jobs,
            self.limits,
            sources,
            body,
            on_progress=on_progress,
            timeout=seconds,
            max_in_flight=max_in_flight,
            options=options,
            journal=journal,
            namespace=namespace,
            admission=admission,
            wait_by=wait_by,
        )

    # -- live ------------------------------------------------------------------------------

    def live(
        self,
        options: LiveOptions | None = None,
        *,
        region: LiveRegion | None = None,
        max_unacked_bytes: int = 1 << 20,
        keepalive: float | None = 10.0,
        reconnect: ReconnectPolicy | None = None,
        audio_format: Literal["binary", "json"] = "binary",
        finish_timeout: float | None = 120.0,
        max_buffered_messages: int = 1000,
        max_buffered_bytes: int = 16 << 20,
    ) -> LiveSession:
        """Return a live transcription session; enter it with ``async with``.

        ``max_unacked_bytes`` bounds the audio sent but not yet acknowledged (``send`` waits
        beyond it); ``keepalive`` pings an idle socket every so many seconds (None: never);
        ``reconnect`` sets how drops are retried; ``audio_format`` sends binary frames or
        JSON ``audio_chunk`` actions; ``finish_timeout`` bounds post-processing at exit;
        ``max_buffered_messages`` and ``max_buffered_bytes`` (their size on the wire, 16 MiB)
        bound the received messages waiting to be read (the socket is not read while that many
        wait: back-pressure, nothing is dropped before the block is left).
        Options are checked here, before any request. ``region`` defaults to the session's
        (``GladiaSession(region=...)`` or ``$GLADIA_REGION``).
        """
        from ._live.session import LiveSession

        return LiveSession(
            self._transport,
            options,
            region=region if region is not None else self.region,
            max_unacked_bytes=max_unacked_bytes,
            keepalive=keepalive,
            reconnect=reconnect,
            audio_format=audio_format,
            finish_timeout=finish_timeout,
            max_buffered_messages=max_buffered_messages,
            max_buffered_bytes=max_buffered_bytes,
        )

    async def get_live_job(self, job: str | LiveSession) -> LiveJob:
        """Return a live session's job (status, parameters, and its result once ``done``)."""
        from ._live.session import LiveSession

        return await get_live_job(self._transport, job.id if isinstance(job, LiveSession) else job)

    async def delete_live_job(self, job: str | LiveSession) -> None:
        """Delete a finished live session's job and its data (the API answers 202)."""
        from ._live.session import LiveSession

        job_id = check_job_id(job.id if isinstance(job, LiveSession) else job, "job")
        await self._jobs.delete(job_id, kind="live")

    async def patch_live_job(self, job: str | LiveSession) -> None:
        """Send ``PATCH /v2/live/{id}`` for a live session (its body has no fields yet)."""
        from ._live.session import LiveSession

        await patch_live_job(self._transport, job.id if isinstance(job, LiveSession) else job)

    async def download_live_audio(
        self, job: str | LiveSession, dest: str | os.PathLike[str]
    ) -> Path:
        """Stream a live session's recorded audio to ``dest`` and return the path."""
        from ._live.session import LiveSession

        job_id = job.id if isinstance(job, LiveSession) else job
        return await download_live_audio(self._transport, job_id, dest)

    async def wait_result(
        self,
        job: JobRef,
        *,
        via: CallbackReceiver,
        fallback_after: float = 30.0,
        timeout: float | None = None,
    ) -> TranscriptionResult:
        """Return the job's transcription result once ``via`` receives its callback.

        Polls this session as well when no callback has come ``fallback_after`` seconds in
        (the first answer wins), so a lost callback costs latency, never the result. Raises
        :class:`JobFailedError` for a failed job, :class:`GladiaTimeout` past ``timeout``.
        """
        from ._callbacks.receiver import CallbackReceiver

        if not isinstance(via, CallbackReceiver):
            raise InvalidInput("via", f"expected a CallbackReceiver, got {type(via).__name__}")
        return await via.wait(job, session=self, fallback_after=fallback_after, timeout=timeout)
