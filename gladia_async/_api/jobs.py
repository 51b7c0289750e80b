"""Job operations shared by the session and the batch: upload, create, get, delete, poll.

The session (what users hold) and the batch both drive jobs through :class:`Jobs`; neither
reaches into the other. This module holds the package's one polling loop (:meth:`Jobs.poll`)
and its one job-creation path (:meth:`Jobs.create`), including the exactly-once reconcile:

* Job creation is sent with ``retry="never"``: the transport never repeats it. A 429 (refused
  before any work) is waited out and sent again; a 4xx is final.
* Any other failure (5xx, timeout, a dropped connection, an unreadable 2xx body) may have
  created the job. With an idempotency token (stored in the job's ``custom_metadata`` under
  :data:`TOKEN_KEY`) the job is then looked up: first after a pause, since a new job is rarely
  listed at once, then with backoff until :attr:`ReconcilePolicy.horizon`. A listed job is
  adopted only when its own ``custom_metadata`` carries the token (a listing that ignores the
  filter cannot hand over another source's job). A listing proves a job absent only when it
  shows it honours the filter (every job it lists carries the token); one that lists other
  jobs, fails, or is cut short by ``max_scan`` rules nothing out. Only when the last lookup
  of the horizon proved the job absent is it created again.
* Before giving up, the job is looked up once more. A job that may exist but was neither found
  nor ruled out is reported as :class:`JobUnconfirmedError` (with the token), never as a plain
  failure that a retry would duplicate. When that last lookup rules the job out, the creation's
  own error is raised: submitting again is then safe.
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs

from .._core import tracing as _tracing
from .._core.checks import positive_int_field, seconds_field
from .._core.config import Limits, RetryPolicy
from .._core.errors import (
    APIStatusError,
    AuthenticationError,
    GladiaError,
    GladiaTimeout,
    InvalidInput,
    JobFailedError,
    JobUnconfirmedError,
    RateLimitError,
    TransportError,
)
from .._http.uploads import AudioSource, check_audio_limits, is_url, prepare_audio
from .._schema.converter import unstructure
from .._schema.models import (
    JobCreated,
    JobStatus,
    TranscriptionJob,
    TranscriptionOptions,
    UploadedAudio,
)
from .._schema.option_rules import check_custom_metadata
from .._schema.validation import check_model
from .pagination import JobFilters, JobStream, PageStream

if TYPE_CHECKING:
    from .._core.config import PollPolicy
    from .._http.transport import Transport

__all__ = ["TOKEN_KEY", "Jobs", "ReconcilePolicy"]

T = TypeVar("T")
log = logging.getLogger("gladia_async")

#: The ``custom_metadata`` key holding a job's idempotency token.
TOKEN_KEY = "gladia_async_token"

_FINAL = frozenset({JobStatus.DONE, JobStatus.ERROR})
#: Time kept before a polling deadline for the last poll's answer.
_LAST_POLL_RESERVE = 0.25
#: Statuses below 500 that do not prove the job was refused (a proxy may send them late).
_AMBIGUOUS_4XX = frozenset({408, 425})
_LOOKUP_PAGE_SIZE = 50
#: Refusals (429) one creation waits out when a batch's admission window paces it: the window
#: waits for a place and the server's Retry-After, so this only stops a server that never admits.
_MAX_PACED_REFUSALS = 50


@attrs.frozen(kw_only=True)
class ReconcilePolicy:
    """How a job creation whose answer was lost is settled by its idempotency token.

    ``attempts`` caps the creations tried for one job (each after the job was confirmed
    absent); ``lookup_initial`` is the pause before the first lookup, doubled up to
    ``lookup_max`` between lookups; ``horizon`` is how long after a failed creation the job is
    looked for before it is considered absent: keep it above the listing's lag behind writes.
    ``max_scan`` caps the jobs examined per lookup (a listing that ignores the token filter is
    walked that far, then the lookup counts as inconclusive).
    """

    attempts: int = attrs.field(default=3, validator=positive_int_field)
    lookup_initial: float = attrs.field(default=0.5, validator=seconds_field)
    lookup_max: float = attrs.field(default=4.0, validator=seconds_field)
    horizon: float = attrs.field(default=10.0, validator=seconds_field)
    max_scan: int = attrs.field(default=1000, validator=positive_int_field)


class _Lookup(enum.Enum):
    ABSENT = "absent"  # the listing answered and no job carries the token
    UNKNOWN = "unknown"  # the listing failed, or was too long to rule the job out


class Jobs:
    """Job operations against one transport, shared by the session and its batches."""

    def __init__(
        self,
        transport: Transport,
        *,
        api: str,
        poll_policy: PollPolicy,
        reconcile: ReconcilePolicy,
        retry: RetryPolicy,
        limits: Limits | None = None,
    ) -> None:
        self.transport = transport
        #: How a job creation is repeated (the transport never repeats it itself).
        self.retry = retry
        #: The audio limits checked before an upload (``Limits.max_audio_*``).
        self.limits = limits or Limits()
        self.api = api
        self.prefix = f"/v2/{api}"
        self.poll_policy = poll_policy
        self.reconcile = reconcile
        # Set once a token lookup saw the listing return jobs without the token.
        self._filter_ignored = False
        self._warned = False

    def job_url(self, job_id: str, suffix: str = "", *, kind: str | None = None) -> Any:
        """Return the URL of a job (``/v2/live/...`` for a live job)."""
        prefix = "/v2/live" if kind == "live" else self.prefix
        return self.transport.url(f"{prefix}/{job_id}{suffix}")

    # -- uploads ---------------------------------------------------------------------------

    def upload(
        self, source: AudioSource, *, filename: str | None = None, content_type: str | None = None
    ) -> Coroutine[Any, Any, UploadedAudio]:
        """Upload a file (streamed) or import a URL; return the ``audio_url`` and metadata."""
        upload = self._upload(source, filename=filename, content_type=content_type)
        return upload if _tracing.active() is None else _traced(upload, "gladia.upload")

    async def _upload(
        self, source: AudioSource, *, filename: str | None = None, content_type: str | None = None
    ) -> UploadedAudio:
        url = self.transport.url("/v2/upload")
        if is_url(source):
            return await self.transport.request_json(
                "POST", url, UploadedAudio, retry="always", json={"audio_url": source}
            )
        prepared = prepare_audio(source, filename=filename, content_type=content_type)
        try:
            check_audio_limits(source, prepared.size, self.limits)
            if prepared.first_chunk is not None:
                await prepared.first_chunk()  # a str chunk is InvalidInput before any request
            return await self.transport.request_json(
                "POST",
                url,
                UploadedAudio,
                # A repeated upload creates no job and costs nothing: safe to retry.
                retry="always" if prepared.replayable else "never",
                data=prepared.make_body,
                timeout="upload",
            )
        finally:
            prepared.cleanup()

    # -- request bodies --------------------------------------------------------------------

    @staticmethod
    def options_body(
        options: TranscriptionOptions | None, custom_metadata: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Check the options (raising :class:`InvalidInput`) and return them as JSON data.

        ``custom_metadata`` is merged over ``options.custom_metadata``.
        """
        if options is None:
            options = TranscriptionOptions()
        elif not isinstance(options, TranscriptionOptions):
            raise InvalidInput(
                "options", f"expected TranscriptionOptions, got {type(options).__name__}"
            )
        check_model(options, "options")
        body: dict[str, Any] = unstructure(options)
        if custom_metadata is not None:
            if not isinstance(custom_metadata, Mapping):
                raise InvalidInput("custom_metadata", "expected a mapping of JSON values")
            body["custom_metadata"] = {**(body.get("custom_metadata") or {}), **custom_metadata}
            check_custom_metadata(body["custom_metadata"])
        return body

    @staticmethod
    def audio_url(audio: UploadedAudio | str) -> str:
        """Return the audio URL of an upload or URL string, checked."""
        if isinstance(audio, UploadedAudio):
            return audio.audio_url
        if is_url(audio):
            return str(audio)
        raise InvalidInput(
            "audio", "expected the UploadedAudio returned by upload() or an http(s) URL"
        )

    @staticmethod
    def with_token(body: Mapping[str, Any], token: str) -> dict[str, Any]:
        """Return a copy of a creation body whose ``custom_metadata`` carries ``token``."""
        return {
            **body,
            "custom_metadata": {**(body.get("custom_metadata") or {}), TOKEN_KEY: token},
        }

    # -- creation, exactly once ------------------------------------------------------------

    async def _post(self, body: Mapping[str, Any]) -> JobCreated:
        # Never retried by the transport: a repeat is decided here, where the token is known.
        return await self.transport.request_json(
            "POST", self.transport.url(self.prefix), JobCreated, retry="never", json=body
        )

    def create(
        self,
        body: Mapping[str, Any],
        *,
        token: str | None = None,
        on_refused: Callable[[RateLimitError], Awaitable[None]] | None = None,
    ) -> Coroutine[Any, Any, JobCreated]:
        """Create a job from a checked body; with ``token``, exactly once (see :meth:`_create`)."""
        create = self._create(body, token=token, on_refused=on_refused)
        return create if _tracing.active() is None else _traced(create, "gladia.create")

    async def _create(
        self,
        body: Mapping[str, Any],
        *,
        token: str | None = None,
        on_refused: Callable[[RateLimitError], Awaitable[None]] | None = None,
    ) -> JobCreated:
        """Create a job from a checked body; with ``token``, exactly once (see module docs).

        Without a token, a failure that may have created the job is raised as is, and only a
        429 is waited out and sent again. ``on_refused`` (a batch's admission window) is
        awaited after each 429 instead of the ``Retry-After`` sleep: it decides when to send
        again, and refusals are then capped at :data:`_MAX_PACED_REFUSALS`.
        """
        if token is not None:
            body = self.with_token(body, token)
        retry = self.retry
        reconcile = self.reconcile
        maybe_created: Exception | None = None
        attempt = refusals = 0
        while True:
            attempt += 1
            paused_until = self.transport.paused_until
            try:
                return await self._post(body)
            except RateLimitError as exc:  # refused before any work: nothing was created
                if on_refused is not None:
                    # The admission window owns a paced creation's 429 (it waits out the
                    # Retry-After before any creation): the session's polls and uploads go
                    # on, since finishing jobs is what frees the account's places.
                    self.transport.restore_pause(paused_until)
                refusals += 1
                cap = retry.attempts if on_refused is None else _MAX_PACED_REFUSALS
                if refusals >= cap:
                    if maybe_created is None:
                        raise
                    break
                if on_refused is not None:
                    await on_refused(exc)
                else:
                    wait = (
                        exc.retry_after if exc.retry_after is not None else retry.backoff(refusals)
                    )
                    await anyio.sleep(wait)
                attempt -= 1  # a refusal is not a creation attempt
                continue
            except APIStatusError as exc:
                if exc.status < 500 and exc.status not in _AMBIGUOUS_4XX:
                    if maybe_created is None:
                        raise
                    # An earlier attempt may have created the job; that is what to report.
                    break
                maybe_created = exc
            except TransportError as exc:
                if exc.request_sent is False and maybe_created is None:
                    raise  # the request never left: nothing can have been created
                maybe_created = exc
            except GladiaError:  # refused before sending (bad input, a closed session)
                if maybe_created is None:
                    raise
                break
            except Exception as exc:  # an untyped failure mid-request may still have created it
                maybe_created = exc
            if token is None:
                raise maybe_created
            found = await self._look_until_horizon(token)
            if isinstance(found, str):
                return self._adopted(found)
            if found is _Lookup.UNKNOWN or attempt >= reconcile.attempts:
                break
            log.debug("job with token %s confirmed absent; creating it again", token)
        assert token is not None  # without a token, every path above raised
        # Look once more before reporting: the job may have become visible since.
        await anyio.sleep(reconcile.lookup_max)
        found = await self._lookup(token)
        if isinstance(found, str):
            return self._adopted(found)
        if found is _Lookup.ABSENT:
            # Confirmed absent as far as the horizon allows: submitting again is safe.
            raise maybe_created
        raise JobUnconfirmedError(
            f"job creation failed ({type(maybe_created).__name__}) in a way that may still have "
            f"created the job, and no job carrying its token {token!r} could be confirmed; look "
            f"it up later with iter_jobs(custom_metadata={{{TOKEN_KEY!r}: {token!r}}}) before "
            "submitting again",
            token=token,
        ) from maybe_created

    def _adopted(self, job_id: str) -> JobCreated:
        result_url = str(self.transport.url(f"{self.prefix}/{job_id}"))
        return JobCreated(id=job_id, result_url=result_url)

    async def _look_until_horizon(self, token: str) -> str | _Lookup:
        """Look the token up with backoff until the horizon; the job id or the last verdict."""
        policy = self.reconcile
        started = anyio.current_time()
        delay = policy.lookup_initial
        while True:
            # Sleep first: a job whose creation just failed is the least likely to be listed.
            await anyio.sleep(delay)
            found = await self._lookup(token)
            if isinstance(found, str):
                return found
            elapsed = anyio.current_time() - started
            if elapsed >= policy.horizon:
                return found
            delay = min(max(delay * 2, 0.01), policy.lookup_max, policy.horizon - elapsed)

    async def find(self, token: str) -> str | None:
        """Return the id of the job carrying ``token``, or None (not found).

        For a batch's look before its first creation: None also when the listing could not
        rule the job out (it failed, or it ignores the filter and the job was not among the
        jobs it listed), since nothing says an earlier run created it; a creation whose answer
        is lost is then settled by :meth:`create`, which never takes "not seen" for "absent".
        """
        found = await self._lookup(token)
        if found is _Lookup.UNKNOWN and self._filter_ignored and not self._warned:
            self._warned = True
            log.warning(
                "the job listing does not apply its custom_metadata filter: jobs an earlier "
                "run created can be found by token only among the jobs it lists"
            )
        return found if isinstance(found, str) else None

    async def _lookup(self, token: str) -> str | _Lookup:
        """Return the id of the job carrying ``token``, or whether it is ruled out.

        Absent only when the listing showed it honours the filter: every job it listed carries
        the token (so an empty answer means no such job). A listing that returns other jobs
        ignores or loosens the filter: it is walked page by page (up to ``max_scan`` jobs) for
        the token, and if the job is not among them, nothing is ruled out (such a listing may
        stop at the most recent jobs). Adopt only a job that carries the token itself: a
        listing's first item may be another source's job.
        """
        scanned = 0
        honoured = True
        try:
            async with self.iter_jobs(
                custom_metadata={TOKEN_KEY: token}, page_size=_LOOKUP_PAGE_SIZE
            ) as jobs:
                async for job in jobs:
                    if (job.custom_metadata or {}).get(TOKEN_KEY) == token:
                        return job.id
                    honoured = False
                    scanned += 1
                    if scanned >= self.reconcile.max_scan:
                        break
        except AuthenticationError:
            raise
        except GladiaError as exc:
            log.debug("lookup of token %s failed: %s", token, type(exc).__name__)
            return _Lookup.UNKNOWN
        if not honoured:
            self._filter_ignored = True
            log.debug("lookup of token %s: the listing ignores the filter", token)
            return _Lookup.UNKNOWN
        return _Lookup.ABSENT

    # -- reading and deleting --------------------------------------------------------------

    def iter_jobs(self, *, custom_metadata: Mapping[str, Any], page_size: int) -> JobStream:
        """Stream this API's jobs whose ``custom_metadata`` matches (for token lookups)."""
        filters = JobFilters.build(
            status=None,
            kind=None,
            date=None,
            after_date=None,
            before_date=None,
            custom_metadata=custom_metadata,
            page_size=page_size,
            offset=0,
            endpoint=self.api,
        )
        return JobStream(PageStream(self.transport, filters, prefetch=False), None)

    def get(self, job_id: str) -> Coroutine[Any, Any, TranscriptionJob]:
        """Return the job's current state (await it)."""
        return self.transport.request_json(
            "GET", self.job_url(job_id), TranscriptionJob, retry="always", ok=(200,)
        )

    async def delete(self, job_id: str, *, kind: str | None = None) -> None:
        """Delete a finished job (on the live route for a live job)."""
        await self.transport.request_empty(
            "DELETE", self.job_url(job_id, kind=kind), retry="always"
        )

    # -- the polling loop ------------------------------------------------------------------

    def poll(
        self,
        job_id: str,
        *,
        policy: PollPolicy,
        until: float | None,
        first_delay: float | None = None,
        limiter: anyio.CapacityLimiter | None = None,
        raise_on_error: bool = True,
        pace: Callable[[], float] | None = None,
    ) -> Coroutine[Any, Any, TranscriptionJob]:
        """Poll until the job is ``done`` or ``error`` (see :meth:`_poll`)."""
        poll = self._poll(
            job_id,
            policy=policy,
            until=until,
            first_delay=first_delay,
            limiter=limiter,
            raise_on_error=raise_on_error,
            pace=pace,
        )
        return poll if _tracing.active() is None else _traced(poll, "gladia.wait", job_id)

    async def _poll(
        self,
        job_id: str,
        *,
        policy: PollPolicy,
        until: float | None,
        first_delay: float | None = None,
        limiter: anyio.CapacityLimiter | None = None,
        raise_on_error: bool = True,
        pace: Callable[[], float] | None = None,
    ) -> TranscriptionJob:
        """Poll until the job is ``done`` or ``error``; the package's only polling loop.

        ``until`` is a deadline on :func:`anyio.current_time`'s clock: when the next poll
        would fall after it, one last poll is made just before it (leaving a moment for its
        answer) and, if the job is still running, :class:`GladiaTimeout` is raised.
        ``first_delay`` waits before the first poll (a job just created is never done).
        ``pace`` (called after each poll that found the job unfinished) returns the least wait
        before the next poll, e.g. half the time the job is expected to need still: a job
        known to be far from done is not polled at the policy's pace.
        Callers bound the whole loop with :func:`~gladia_async._http.retry.deadline` as well,
        so a server that stops answering cannot hold it past ``until``.
        """
        started = anyio.current_time()
        reserve = 0.0
        if until is not None:
            reserve = min(_LAST_POLL_RESERVE, max(until - started, 0.0) / 4)
        delay = first_delay
        n = 0 if first_delay is None else 1
        last = False
        while True:
            if delay is not None:
                if until is not None:
                    latest = until - reserve - anyio.current_time()
                    if delay >= latest:
                        delay, last = max(latest, 0.0), True
                await anyio.sleep(delay)
            async with limiter if limiter is not None else contextlib.nullcontext():
                state = await self.get(job_id)
            if state.status in _FINAL:
                if state.status == JobStatus.ERROR and raise_on_error:
                    raise JobFailedError(job_id, state.error_code, state)
                return state
            if last:
                total = (until or 0.0) - started
                raise GladiaTimeout(
                    f"job {job_id} still {state.status.value} after {total:.3g}s; "
                    "wait for it again later with wait(job_id), or raise the timeout"
                )
            delay = policy.interval(n)
            if pace is not None:
                delay = max(delay, pace())
            n += 1


async def _traced(call: Coroutine[Any, Any, T], name: str, job_id: str | None = None) -> T:
    """Run one job step in its span, with the job id (and the job's request id) it learns."""
    with _tracing.operation(name) as span:
        if job_id is not None:
            span.set_attribute("gladia.job_id", job_id)
        result = await call
        note_job(span, result)
        return result


def note_job(span: _tracing.Span, result: object) -> None:
    """Put a job's id, request id and status (whichever ``result`` has) on ``span``."""
    for attribute, name in (("id", "gladia.job_id"), ("request_id", "gladia.request_id")):
        value = getattr(result, attribute, None)
        if isinstance(value, str) and isinstance(result, (JobCreated, TranscriptionJob)):
            span.set_attribute(name, value)
    if isinstance(result, TranscriptionJob):
        span.set_attribute("gladia.job.status", str(result.status))
