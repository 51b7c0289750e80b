"""The emulator itself: :class:`GladiaEmulator` (state + the aiohttp application serving it).

The routes live by concern: uploads (:mod:`._routes_upload`), pre-recorded jobs and listings
(:mod:`._routes_jobs`), live sessions (:mod:`._live_hub`); the HTTP vocabulary they share
(errors, JSON, faults' responses) in :mod:`._http`, the account's store in :mod:`._state`.
"""

from __future__ import annotations

import asyncio
import pathlib
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from aiohttp import web

from ._callbacks import CallbackDispatcher, CallbackFaults, DeliveryRecord
from ._faults import FaultPlan
from ._http import (
    JOB_FAULT,
    LIST_FAULT,
    ApiError,
    DropConnection,
    base_url,
    drop,
    early_fault,
    error_response,
    late_fault,
)
from ._limits import AccountLimits, JobScheduler
from ._live_hub import LIVE_ALWAYS, LiveHub
from ._routes_jobs import JobRoutes
from ._routes_upload import UploadRoutes
from ._state import KINDS, STATUSES, Account, Job, RecordedRequest, Upload, iso
from ._transcripts import build_live_result, build_result
from ._validation import echo_request_params, fill_defaults

__all__ = ["GladiaEmulator"]

DEFAULT_MAX_UPLOAD_BYTES = 1000 * 1024 * 1024
#: "The maximum length of audio that can be transcribed in a single request is currently 135
#: minutes"; "up to 4h15 audio length for enterprise plans" (docs, supported files & duration).
MAX_AUDIO_SECONDS = 135 * 60.0
MAX_AUDIO_SECONDS_ENTERPRISE = 255 * 60.0


class _JobsView(Mapping[str, dict[str, Any]]):
    """Read-only mapping ``id -> job dict`` (rendered on access like ``GET .../{id}``)."""

    def __init__(self, emulator: GladiaEmulator) -> None:
        self._emulator = emulator

    def __getitem__(self, key: str) -> dict[str, Any]:
        job = self._emulator._store.by_id[key]
        return self._emulator.render_job(job)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._emulator._store.by_id))

    def __len__(self) -> int:
        return len(self._emulator._store)


class _UploadsView(Mapping[str, dict[str, Any]]):
    """Read-only mapping ``id -> AudioUploadMetadataDTO`` dict."""

    def __init__(self, uploads: dict[str, Upload]) -> None:
        self._uploads = uploads

    def __getitem__(self, key: str) -> dict[str, Any]:
        return self._uploads[key].metadata()

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._uploads))

    def __len__(self) -> int:
        return len(self._uploads)


class GladiaEmulator(UploadRoutes, JobRoutes):
    """All emulator state; :meth:`make_app` builds the aiohttp application serving it.

    See the package docstring (``gladia_async.testing``) for the behaviour of each route.
    """

    def __init__(
        self,
        *,
        api_keys: Iterable[str] = ("test-key",),
        job_duration: float = 0.5,
        queue_delay: float = 0.0,
        latency: float = 0.0,
        faults: FaultPlan | None = None,
        clock: Callable[[], float] | None = None,
        storage: Literal["memory", "discard"] | pathlib.Path = "memory",
        public_url: str | None = None,
        max_recorded_requests: int = 10_000,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        start_time: datetime | None = None,
        webhook_urls: Iterable[str] = (),
        callback_faults: CallbackFaults | None = None,
        callback_attempts: int = 5,
        callback_backoff: float = 0.05,
        plan: AccountLimits | str | None = None,
        max_audio_duration: float | None = None,
    ) -> None:
        self.api_keys = frozenset(api_keys)
        if not self.api_keys:
            raise ValueError("at least one API key is required")
        self._first_key = (
            next(iter(api_keys))
            if not isinstance(api_keys, (set, frozenset))
            else sorted(self.api_keys)[0]
        )
        self.job_duration = float(job_duration)
        self.queue_delay = float(queue_delay)
        self.latency = float(latency)
        self.faults: FaultPlan | None = faults
        self.clock: Callable[[], float] = clock if clock is not None else time.monotonic
        if isinstance(storage, str) and storage not in ("memory", "discard"):
            storage = pathlib.Path(storage)
        if isinstance(storage, pathlib.Path):
            storage.mkdir(parents=True, exist_ok=True)
        self.storage: Literal["memory", "discard"] | pathlib.Path = storage
        self.public_url = public_url.rstrip("/") if public_url else None
        self.max_upload_bytes = int(max_upload_bytes)
        self._account = Account(clock=self.clock, start_time=start_time)
        self.stats = self._account.stats
        self.requests: deque[RecordedRequest] = deque(maxlen=max_recorded_requests)
        self._store = self._account.jobs
        self._uploads = self._account.uploads
        self._result_cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.callbacks = CallbackDispatcher(
            clock=self.clock,
            lookup=self._store.by_id.get,
            render=self.render_job,
            webhook_urls=webhook_urls,
            faults=callback_faults,
            max_attempts=callback_attempts,
            backoff=callback_backoff,
        )
        #: The account limits (``plan=``: a preset name or :class:`AccountLimits`); None: none.
        self.limits = AccountLimits.for_plan(plan) if isinstance(plan, str) else plan
        #: Longest audio accepted, in seconds: 135 minutes, 4 h 15 on the enterprise plan
        #: (docs, supported files & duration). An upload measured longer is refused with 422.
        self.max_audio_duration: float = (
            float(max_audio_duration)
            if max_audio_duration is not None
            else MAX_AUDIO_SECONDS_ENTERPRISE
            if self.limits is not None and self.limits.name == "enterprise"
            else MAX_AUDIO_SECONDS
        )
        self._scheduler = JobScheduler(self.limits) if self.limits is not None else None
        self.live = LiveHub(
            self._account,
            keep_audio=self.storage == "memory",
            base_url=self._base_url,
            result=self._result,
        )

    # ----------------------------------------------------------------- public helpers
    @property
    def api_key(self) -> str:
        """The first configured API key."""
        return self._first_key

    @property
    def jobs(self) -> Mapping[str, dict[str, Any]]:
        """Every job by id, as the API would render it now (a read-only, live view)."""
        return _JobsView(self)

    @property
    def uploads(self) -> Mapping[str, dict[str, Any]]:
        """Every uploaded file by id: its metadata (a read-only, live view)."""
        return _UploadsView(self._uploads)

    @property
    def deliveries(self) -> list[DeliveryRecord]:
        """Every callback / webhook delivery attempt so far, oldest first."""
        return list(self.callbacks.records)

    def now(self) -> datetime:
        """The emulator's wall-clock time (driven by ``clock``)."""
        return self._account.now()

    def job_count(self, *, kind: str | None = None, status: str | None = None) -> int:
        """The number of jobs, of one ``kind`` and/or ``status`` if given, at the clock's time."""
        return self._store.count(kind=kind, status=status, now=self.clock())

    def job_status(self, job_id: str) -> str:
        """The status of job ``job_id`` at the clock's time (``KeyError``: no such job)."""
        return self._store.by_id[job_id].status_at(self.clock())

    def seed_jobs(
        self,
        count: int,
        *,
        kind: Literal["pre-recorded", "live"] = "pre-recorded",
        status: Literal["queued", "processing", "done", "error"] = "done",
        custom_metadata: Mapping[str, Any]
        | Callable[[int], Mapping[str, Any] | None]
        | None = None,
        created_at_start: datetime | None = None,
        spacing: timedelta = timedelta(seconds=1),
        audio_duration: float = 3.0,
        error_code: int = 500,
    ) -> list[str]:
        """Bulk-create finished (or frozen-status) jobs, oldest first; returns their ids.

        Seeded jobs keep ``status`` forever. Without ``created_at_start`` they end just
        before "now" (newest = now - spacing). ``custom_metadata`` may be a callable
        ``index -> dict`` to vary it per job.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        step = spacing.total_seconds()
        start = created_at_start or (self.now() - spacing * count)
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        start_ts = start.timestamp()
        params = self._default_params(kind)
        clock_now = self.clock()
        finished = status in ("done", "error")
        jobs: list[Job] = []
        ids: list[str] = []
        meta_fn = custom_metadata if callable(custom_metadata) else None
        fixed_meta = (
            None
            if meta_fn is not None or custom_metadata is None
            else dict(
                custom_metadata  # type: ignore[arg-type]
            )
        )
        completed_delta = timedelta(seconds=self.queue_delay + self.job_duration)
        rand = uuid.uuid4
        # Seeded jobs of one batch share one (cached) result: listing stays cheap.
        result_seed = f"seed:{kind}:{audio_duration}"
        next_seq = self._store.next_seq
        for index in range(count):
            job_id = str(rand())
            ts = start_ts + index * step
            created = datetime.fromtimestamp(ts, timezone.utc)
            meta = (
                dict(m) if meta_fn is not None and (m := meta_fn(index)) is not None else fixed_meta
            )
            jobs.append(
                Job(
                    id=job_id,
                    seq=next_seq(),
                    kind=kind,
                    created_at=created,
                    created_ts=ts,
                    created_clock=clock_now,
                    queued_until=clock_now,
                    ready_at=clock_now,
                    request_params=params,
                    file={
                        "id": job_id,
                        "filename": f"seed-{index}.wav",
                        "source": None,
                        "audio_duration": audio_duration,
                        "number_of_channels": 1,
                    },
                    custom_metadata=meta,
                    audio_duration=audio_duration,
                    error_code=error_code if status == "error" else None,
                    fixed_status=status,
                    completed_at=created + completed_delta if finished else None,
                    result_seed=result_seed,
                )
            )
            ids.append(job_id)
        self._store.add_many(jobs)
        return ids

    def render_job(self, job: Job, *, now: float | None = None) -> dict[str, Any]:
        """The job as ``PreRecordedResponse`` / ``StreamingResponse`` (a fresh dict)."""
        clock_now = self.clock() if now is None else now
        status = job.status_at(clock_now)
        completed: str | None = None
        if status in ("done", "error"):
            moment = job.completed_at or job.created_at + timedelta(
                seconds=job.ready_at - job.created_clock
            )
            completed = iso(moment)
        return {
            "id": job.id,
            "request_id": "G-" + job.id[:8],
            "version": 2,
            "status": status,
            "created_at": iso(job.created_at),
            "completed_at": completed,
            "custom_metadata": job.custom_metadata,
            "error_code": job.error_code if status == "error" else None,
            "post_session_metadata": {},
            "kind": job.kind,
            "file": job.file,
            "request_params": job.request_params,
            "result": self._result(job) if status == "done" else None,
        }

    def make_app(self) -> web.Application:
        """Build the aiohttp application (one emulator may back several apps)."""
        app = web.Application(middlewares=[self._middleware], client_max_size=16 * 1024 * 1024)
        router = app.router
        router.add_post("/v2/upload", self._upload)
        for prefix in ("pre-recorded", "transcription"):
            router.add_post(f"/v2/{prefix}", self._create_job)
        router.add_post("/v2/live", self.live.create)
        router.add_patch("/v2/live/{id}", self.live.patch)
        for prefix in ("pre-recorded", "transcription", "live"):
            list_route = self.live.list_or_socket(self._list_jobs) if prefix == "live" else None
            router.add_get(f"/v2/{prefix}", list_route or self._list_jobs)
            router.add_get(f"/v2/{prefix}/{{id}}", self._get_job)
            router.add_delete(f"/v2/{prefix}/{{id}}", self._delete_job)
            router.add_get(f"/v2/{prefix}/{{id}}/file", self._get_file)
        app.cleanup_ctx.append(self.callbacks.context)
        return app

    # ------------------------------------------------------------------- internals
    def _default_params(self, kind: str) -> dict[str, Any]:
        if kind == "live":
            return fill_defaults("StreamingRequestParamsResponse", {}, always=LIVE_ALWAYS)
        params = echo_request_params({})
        params["audio_url"] = None
        return params

    def _result(self, job: Job) -> dict[str, Any]:
        key = job.result_seed or job.id
        cached = self._result_cache.get(key)
        if cached is not None:
            self._result_cache.move_to_end(key)
            return cached
        builder = build_live_result if job.kind == "live" else build_result
        result = builder(
            seed=key,
            duration=job.audio_duration,
            channels=job.channels,
            options=job.request_params,
        )
        self._result_cache[key] = result
        while len(self._result_cache) > 256:
            self._result_cache.popitem(last=False)
        return result

    def _base_url(self, request: web.Request) -> str:
        return base_url(request, self.public_url)

    @staticmethod
    def _route_key(request: web.Request) -> str:
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else request.path
        return f"{request.method} {template}"

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        route_key = self._route_key(request)
        self.stats.requests_total += 1
        by_route = self.stats.requests_by_route
        by_route[route_key] = by_route.get(route_key, 0) + 1
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query_string=request.query_string,
                headers=dict(request.headers),
                route=route_key,
                at=self.clock(),
            )
        )
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        plan = self.faults
        rule = plan.pick(route_key) if plan is not None else None
        if rule is not None:
            self.stats.faults_injected += 1
            early = await early_fault(request, rule, self.now())
            if early is not None:
                return early
        try:
            self._authenticate(request)
            JOB_FAULT.set(rule if rule is not None and rule.kind == "job_error" else None)
            LIST_FAULT.set(rule is not None and rule.kind == "ignore_metadata_filter")
            response: web.StreamResponse = await handler(request)
        except ApiError as exc:
            response = error_response(
                request, self.now(), exc.status, exc.message, exc.validation_errors, exc.headers
            )
        except DropConnection:
            drop(request)
            return web.Response(status=499)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            message = (
                f"Cannot {request.method} {request.path}"
                if exc.status in (404, 405)
                else (exc.reason or "Error")
            )
            status = 404 if exc.status == 405 else exc.status
            response = error_response(request, self.now(), status, message)
        if rule is not None:
            return late_fault(request, rule, response)
        return response

    def _authenticate(self, request: web.Request) -> None:
        if self.live.is_socket_request(request):
            return  # the live WebSocket is authorised by its session token, not the key
        key = request.headers.get("x-gladia-key")
        if not key:
            raise ApiError(401, "gladia key not found")
        if key not in self.api_keys:
            raise ApiError(401, "invalid gladia key")
