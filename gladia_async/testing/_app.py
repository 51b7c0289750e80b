"""The emulator itself: :class:`GladiaEmulator` (state + aiohttp application)."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import email.utils
import math
import pathlib
import re
import secrets
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import orjson
from aiohttp import BodyPartReader as _BodyPartReader
from aiohttp import web

from ._audio import HEADER_BYTES, InvalidAudio, info_from_url, sniff
from ._callbacks import CallbackDispatcher, CallbackFaults, DeliveryRecord
from ._faults import FaultPlan, FaultRule
from ._limits import AccountLimitReached, AccountLimits, JobScheduler
from ._live import LiveHub
from ._query import date_param, day_param, enum_list, int_param, metadata_filter
from ._state import (
    KINDS,
    STATUSES,
    EmulatorStats,
    Job,
    JobFilter,
    JobStore,
    RecordedRequest,
    Upload,
    iso,
)
from ._transcripts import build_live_result, build_result
from ._validation import echo_request_params, fill_defaults, is_http_url, rule_errors, validate

__all__ = ["GladiaEmulator"]

DEFAULT_MAX_UPLOAD_BYTES = 1000 * 1024 * 1024
#: "The maximum length of audio that can be transcribed in a single request is currently 135
#: minutes"; "up to 4h15 audio length for enterprise plans" (docs, supported files & duration).
MAX_AUDIO_SECONDS = 135 * 60.0
MAX_AUDIO_SECONDS_ENTERPRISE = 255 * 60.0
MAX_CUSTOM_METADATA_CHARS = 2000
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_FILE_PATH_RE = re.compile(r"/file/([0-9a-fA-F-]{36})/?$")
_CHUNK = 256 * 1024
_LIVE_ALWAYS = frozenset(
    {
        "language_config",
        "pre_processing",
        "realtime_processing",
        "post_processing",
        "messages_config",
    }
)
# Add-ons whose config gets echoed (with defaults) when the add-on is enabled without one.
_DEFAULTED_CONFIGS = {"subtitles": "subtitles_config", "summarization": "summarization_config"}
# Add-ons that cannot run without their config (422 when enabled without it).
_REQUIRED_CONFIGS = {
    "translation": "translation_config",
    "audio_to_llm": "audio_to_llm_config",
    "custom_spelling": "custom_spelling_config",
    "custom_vocabulary": "custom_vocabulary_config",
    "callback": "callback_config",
}
_HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "payload too large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_JOB_FAULT: contextvars.ContextVar[FaultRule | None] = contextvars.ContextVar(
    "gladia_emulator_job_fault", default=None
)
#: Set while a listing answers under an ``ignore_metadata_filter`` rule.
_LIST_FAULT: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "gladia_emulator_list_fault", default=False
)


class _ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        validation_errors: list[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.validation_errors = validation_errors
        self.headers = dict(headers or {})


class _DropConnection(Exception):
    """Raised to close the client connection without a response."""


def _request_id() -> str:
    return "G-" + secrets.token_hex(4)


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


class GladiaEmulator:
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
        self.stats = EmulatorStats()
        self.requests: deque[RecordedRequest] = deque(maxlen=max_recorded_requests)
        self._store = JobStore()
        self._uploads: dict[str, Upload] = {}
        self._wall_base = (start_time or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self._clock_base = self.clock()
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
        self.live = LiveHub(self)

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
        return self._wall_base + timedelta(seconds=self.clock() - self._clock_base)

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
            return fill_defaults("StreamingRequestParamsResponse", {}, always=_LIVE_ALWAYS)
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
        if self.public_url:
            return self.public_url
        return f"{request.scheme}://{request.host}"

    def _error_response(
        self,
        request: web.Request,
        status: int,
        message: str,
        validation_errors: list[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        body: dict[str, Any] = {
            "timestamp": iso(self.now()),
            "path": request.path,
            "request_id": _request_id(),
            "statusCode": status,
            "message": message,
        }
        if validation_errors is not None:
            body["validation_errors"] = validation_errors
        return _json(body, status=status, headers=headers)

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
            early = await self._early_fault(request, rule)
            if early is not None:
                return early
        try:
            self._authenticate(request)
            _JOB_FAULT.set(rule if rule is not None and rule.kind == "job_error" else None)
            _LIST_FAULT.set(rule is not None and rule.kind == "ignore_metadata_filter")
            response: web.StreamResponse = await handler(request)
        except _ApiError as exc:
            response = self._error_response(
                request, exc.status, exc.message, exc.validation_errors, exc.headers
            )
        except _DropConnection:
            _drop(request)
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
            response = self._error_response(request, status, message)
        if rule is not None:
            return self._late_fault(request, rule, response)
        return response

    async def _early_fault(
        self, request: web.Request, rule: FaultRule
    ) -> web.StreamResponse | None:
        if rule.kind == "delay":
            await asyncio.sleep(rule.delay)
            return None
        if rule.kind == "status":
            headers: dict[str, str] = {}
            if rule.retry_after is not None:
                headers["Retry-After"] = self._retry_after(rule)
            message = rule.message or _REASONS.get(rule.status, "Error")
            return self._error_response(request, rule.status, message, headers=headers)
        if rule.kind == "html_502":
            return web.Response(status=502, text=_HTML_502, content_type="text/html")
        if rule.kind == "reset_before_body":
            _drop(request)
            return web.Response(status=499)
        return None

    def _late_fault(
        self, request: web.Request, rule: FaultRule, response: web.StreamResponse
    ) -> web.StreamResponse:
        if rule.kind == "reset_after_body":
            _drop(request)
            return web.Response(status=499)
        if rule.kind in ("truncated_json", "malformed_json") and isinstance(response, web.Response):
            body = response.body if isinstance(response.body, bytes) else b""
            if rule.kind == "truncated_json":
                broken = body[: len(body) // 2] if body else b"{"
            else:
                broken = body.replace(b'":', b'"=', 1) if b'":' in body else b"{]"
            return web.Response(
                status=response.status, body=broken, content_type="application/json"
            )
        return response

    def _retry_after(self, rule: FaultRule) -> str:
        value = rule.retry_after
        if isinstance(value, str):
            return value
        seconds = float(value or 0.0)
        if rule.retry_after_http_date:
            moment = time.time() + math.ceil(seconds)
            return email.utils.formatdate(moment, usegmt=True)
        return f"{seconds:g}"

    def _authenticate(self, request: web.Request) -> None:
        if self.live.is_socket_request(request):
            return  # the live WebSocket is authorised by its session token, not the key
        key = request.headers.get("x-gladia-key")
        if not key:
            raise _ApiError(401, "gladia key not found")
        if key not in self.api_keys:
            raise _ApiError(401, "invalid gladia key")

    # --------------------------------------------------------------------- upload
    async def _upload(self, request: web.Request) -> web.StreamResponse:
        mimetype = request.content_type
        if mimetype == "application/json":
            body = await _read_json(request)
            errors = _validate_upload_json(body)
            if errors:
                raise _ApiError(400, "Validation failed", errors)
            url: str = body["audio_url"]
            if not is_http_url(url):
                raise _ApiError(422, "audio_url must be a valid http(s) URL")
            upload = self._import_url(request, url)
        elif mimetype == "multipart/form-data":
            if "boundary=" not in request.headers.get("Content-Type", "").lower():
                raise _ApiError(400, "Content-Type is missing Multipart Boundary.")
            upload = await self._receive_multipart(request)
        elif mimetype.startswith("multipart/"):
            raise _ApiError(400, "Content-Type is missing Multipart Boundary.")
        else:
            raise _ApiError(
                400,
                'Unsupported Content-Type: use multipart/form-data (part "audio") '
                "or application/json (audio_url)",
            )
        self._uploads[upload.id] = upload
        self.stats.uploads += 1
        return _json(
            {
                "audio_url": f"{self._base_url(request)}/file/{upload.id}",
                "audio_metadata": upload.metadata(),
            }
        )

    def _own_upload(self, request: web.Request, url: str) -> tuple[bool, Upload | None]:
        """(is this URL an emulator file URL?, the upload if it exists)."""
        parts = urlsplit(url)
        match = _FILE_PATH_RE.search(parts.path)
        if match is None:
            return False, None
        upload = self._uploads.get(match.group(1).lower())
        if upload is not None:
            return True, upload
        ours = {request.host.lower()}
        if self.public_url:
            ours.add(urlsplit(self.public_url).netloc.lower())
        return parts.netloc.lower() in ours, None

    def _import_url(self, request: web.Request, url: str) -> Upload:
        is_ours, existing = self._own_upload(request, url)
        if is_ours and existing is None:
            raise _ApiError(422, "audio_url refers to an unknown or deleted Gladia file")
        new_id = str(uuid.uuid4())
        if existing is not None:
            return dataclasses.replace(existing, id=new_id, source=url)
        info = info_from_url(url)
        return Upload(
            id=new_id,
            filename=info.filename,
            extension=info.extension,
            size=info.size,
            audio_duration=info.audio_duration,
            number_of_channels=info.number_of_channels,
            source=url,
        )

    async def _receive_multipart(self, request: web.Request) -> Upload:
        try:
            reader = await request.multipart()
        except (ValueError, AssertionError) as exc:
            raise _ApiError(400, f"Malformed multipart body: {exc}") from None
        upload: Upload | None = None
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, _BodyPartReader) or part.name != "audio" or upload:
                await part.release()
                continue
            upload = await self._store_part(part)
        if upload is None:
            raise _ApiError(400, "No audio file was given", ['Field "audio" should not be empty'])
        return upload

    async def _store_part(self, part: Any) -> Upload:
        upload_id = str(uuid.uuid4())
        filename = part.filename or "audio"
        content_type = part.headers.get("Content-Type", "application/octet-stream")
        head = bytearray()
        kept = bytearray() if self.storage == "memory" else None
        path = self.storage / upload_id if isinstance(self.storage, pathlib.Path) else None
        handle = path.open("wb") if path is not None else None
        size = 0
        try:
            while True:
                chunk = await part.read_chunk(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_upload_bytes:
                    raise _ApiError(413, "payload too large")
                if len(head) < HEADER_BYTES:
                    head += chunk[: HEADER_BYTES - len(head)]
                if kept is not None:
                    kept += chunk
                if handle is not None:
                    handle.write(chunk)
        except BaseException:
            if handle is not None:
                handle.close()
                path.unlink(missing_ok=True)  # type: ignore[union-attr]
            raise
        if handle is not None:
            handle.close()
        try:
            if size == 0:
                raise _ApiError(400, "The uploaded file is empty", ['Field "audio" is empty'])
            try:
                info = sniff(bytes(head), size, filename)
            except InvalidAudio as exc:
                raise _ApiError(422, str(exc)) from None
            if info.audio_duration > self.max_audio_duration:
                raise _ApiError(
                    422, _too_long_message(info.audio_duration, self.max_audio_duration)
                )
        except _ApiError:
            if path is not None:
                path.unlink(missing_ok=True)
            raise
        return Upload(
            id=upload_id,
            filename=filename,
            extension=info.extension,
            size=size,
            audio_duration=info.audio_duration,
            number_of_channels=info.number_of_channels,
            content_type=content_type,
            data=bytes(kept) if kept is not None else None,
            path=path,
        )

    # ----------------------------------------------------------------------- jobs
    async def _create_job(self, request: web.Request) -> web.StreamResponse:
        body = await _read_json(request)
        errors = validate("InitTranscriptionRequest", body, skip_format=frozenset({"audio_url"}))
        errors = errors or rule_errors("InitTranscriptionRequest", body)
        if errors:
            raise _ApiError(400, "Validation failed", errors)
        problems = _semantic_problems(body)
        if problems:
            raise _ApiError(422, "; ".join(problems))
        url: str = body["audio_url"]
        if not is_http_url(url):
            raise _ApiError(422, "audio_url must be a valid http(s) URL")
        is_ours, upload = self._own_upload(request, url)
        if is_ours and upload is None:
            raise _ApiError(422, "audio_url refers to an unknown or deleted Gladia file")
        file_info: dict[str, Any]
        if upload is not None:
            file_info = {
                "id": upload.id,
                "filename": upload.filename,
                "source": upload.source,
                "audio_duration": upload.audio_duration,
                "number_of_channels": upload.number_of_channels,
            }
        else:
            info = info_from_url(url)
            file_info = {
                "id": str(uuid.uuid4()),
                "filename": info.filename,
                "source": url,
                "audio_duration": info.audio_duration,
                "number_of_channels": info.number_of_channels,
            }
        given = dict(body)
        meta = given.pop("custom_metadata", None)
        for flag, config in _DEFAULTED_CONFIGS.items():
            if given.get(flag) and config not in given:
                given[config] = {}
        params = echo_request_params(given)
        fault = _JOB_FAULT.get()
        now_clock = self.clock()
        starts, ready = self._schedule(now_clock)
        created = self.now()
        job = Job(
            id=str(uuid.uuid4()),
            seq=self._store.next_seq(),
            kind="pre-recorded",
            created_at=created,
            created_ts=created.timestamp(),
            created_clock=now_clock,
            queued_until=starts,
            ready_at=ready,
            request_params=params,
            file=file_info,
            custom_metadata=meta,
            upload_id=upload.id if upload is not None else None,
            audio_duration=float(file_info["audio_duration"]),
            channels=int(file_info["number_of_channels"]),
            error_code=fault.error_code if isinstance(fault, FaultRule) else None,
            # Same audio (name, duration, channels) and options: the same transcript.
            result_seed="audio:{}:{}:{}:{}".format(
                file_info["filename"],
                file_info["audio_duration"],
                file_info["number_of_channels"],
                orjson.dumps(
                    {k: v for k, v in params.items() if k != "audio_url"},
                    option=orjson.OPT_SORT_KEYS,
                ).decode(),
            ),
        )
        self._store.add(job)
        self.stats.jobs_created += 1
        self.callbacks.job_created(job, body)
        prefix = request.path.rstrip("/").rsplit("/", 1)[-1]
        return _json(
            {"id": job.id, "result_url": f"{self._base_url(request)}/v2/{prefix}/{job.id}"},
            status=201,
        )

    def _schedule(self, now: float) -> tuple[float, float]:
        """When a job created now starts processing and finishes; 429 past the plan's limits."""
        if self._scheduler is None:
            start = now + self.queue_delay
            return start, start + self.job_duration
        try:
            return self._scheduler.admit(now, self.queue_delay, self.job_duration)
        except AccountLimitReached as refused:
            self.stats.jobs_rejected += 1
            raise _ApiError(429, str(refused), headers={"Retry-After": refused.header}) from None

    def _lookup(self, request: web.Request) -> Job:
        job_id = request.match_info["id"]
        job = self._store.by_id.get(job_id.lower()) if _UUID_RE.match(job_id) else None
        scope = request.path.split("/")[2]
        wrong_kind = scope != "transcription" and (scope == "live") != (
            job is not None and job.kind == "live"
        )
        if job is None or wrong_kind:
            noun = {"live": "live", "pre-recorded": "pre recorded"}.get(scope, "transcription")
            raise _ApiError(404, f"The {noun} job doesn't exist or has been deleted")
        return job

    async def _get_job(self, request: web.Request) -> web.StreamResponse:
        job = self._lookup(request)
        self.stats.polls += 1
        return _json(self.render_job(job))

    async def _delete_job(self, request: web.Request) -> web.StreamResponse:
        job = self._lookup(request)
        status = job.status_at(self.clock())
        if status in ("queued", "processing"):
            raise _ApiError(403, f"The job is not in a deletable state (status: {status})")
        self._store.remove(job.id)
        self._result_cache.pop(job.id, None)
        self.stats.deletes += 1
        return web.Response(status=202)

    async def _get_file(self, request: web.Request) -> web.StreamResponse:
        job = self._lookup(request)
        upload = self._uploads.get(job.upload_id) if job.upload_id else None
        if upload is None or not upload.has_content:
            raise _ApiError(404, "The job's audio file doesn't exist or has been deleted")
        quoted = upload.filename.replace("\\", "_").replace('"', "_")
        headers = {"Content-Disposition": f'attachment; filename="{quoted}"'}
        if upload.data is not None:
            return web.Response(
                body=upload.data, content_type="application/octet-stream", headers=headers
            )
        assert upload.path is not None
        headers["Content-Type"] = "application/octet-stream"
        return web.FileResponse(upload.path, headers=headers, chunk_size=_CHUNK)

    # -------------------------------------------------------------------- listing
    async def _list_jobs(self, request: web.Request) -> web.StreamResponse:
        scope = request.path.rstrip("/").rsplit("/", 1)[-1]
        query = request.query
        errors: list[str] = []
        offset = int_param(query, "offset", 0, 0, errors)
        limit = int_param(query, "limit", 20, 1, errors)
        statuses = enum_list(query, "status", STATUSES, errors)
        kinds = enum_list(query, "kind", KINDS, errors) if scope == "transcription" else None
        after_ts = date_param(query, "after_date", errors)
        before_ts = date_param(query, "before_date", errors)
        day_start = day_param(query, "date", errors)
        meta = metadata_filter(query, errors)
        ignoring = _LIST_FAULT.get()
        if ignoring:  # the fault: the filter is dropped, the most recent jobs listed instead
            meta = None
        snapshot = int_param(query, "snapshot", self._store.last_seq, 0, errors)
        if errors:
            raise _ApiError(400, "Validation failed", errors)
        if scope == "live":
            kinds = frozenset({"live"})
        elif scope == "pre-recorded":
            kinds = frozenset({"pre-recorded"})
        flt = JobFilter(
            kinds=kinds,
            statuses=statuses,
            after_ts=after_ts,
            before_ts=before_ts,
            day_start=day_start,
            custom_metadata=meta,
        )
        now = self.clock()
        matches = self._store.query(flt, now=now, snapshot=snapshot)
        page = matches[offset : offset + limit]
        items = [self.render_job(job, now=now) for job in page]
        base = f"{self._base_url(request)}{request.path}"
        keep: list[tuple[str, str]] = []
        for name in ("status", "kind"):
            if (name == "status" and statuses is not None) or (
                name == "kind" and "kind" in query and kinds
            ):
                for raw in query.getall(name):
                    keep.extend((name, v.strip()) for v in raw.split(",") if v.strip())
        for name in ("date", "before_date", "after_date"):
            if name in query:
                keep.append((name, query[name]))
        # The metadata filter in whichever form it came (JSON or bracket keys), as sent.
        keep += [(k, v) for k, v in query.items() if k.split("[", 1)[0] == "custom_metadata"]
        had_snapshot = "snapshot" in query

        def link(at: int, with_snapshot: bool) -> str:
            params = list(keep)
            if with_snapshot:
                params.append(("snapshot", str(snapshot)))
            params += [("offset", str(at)), ("limit", str(limit))]
            return f"{base}?{urlencode(params)}"

        has_next = offset + limit < len(matches) and not ignoring
        return _json(
            {
                "first": link(0, had_snapshot),
                "current": link(offset, had_snapshot),
                "next": link(offset + limit, True) if has_next else None,
                "items": items,
            }
        )


# ------------------------------------------------------------------------ helpers


def _json(
    body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _drop(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.close()


async def _read_json(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _ApiError(400, f"Invalid JSON body: {exc}") from None


def _validate_upload_json(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["Request body must be a JSON object"]
    errors = [f"property {key} should not exist" for key in body if key != "audio_url"]
    value = body.get("audio_url")
    if value is None or value == "":
        errors.append('Field "audio_url" should not be empty')
    elif not isinstance(value, str):
        errors.append('Field "audio_url" must be a string')
    return errors


def _too_long_message(duration: float, limit: float) -> str:
    # Emulator choice (spec/ERRATA.md): the docs say only that longer audio "will result in
    # an error"; the status and the words are ours.
    return (
        f"Audio duration ({duration:.0f} seconds) exceeds the maximum allowed duration of "
        f"{limit / 60:g} minutes"
    )


def _semantic_problems(body: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    meta = body.get("custom_metadata")
    if meta is not None and len(orjson.dumps(meta)) > MAX_CUSTOM_METADATA_CHARS:
        problems.append(
            f"custom_metadata cannot be longer than {MAX_CUSTOM_METADATA_CHARS} characters "
            "when stringified"
        )
    diar = body.get("diarization_config") or {}
    low, high = diar.get("min_speakers"), diar.get("max_speakers")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        problems.append("diarization_config.min_speakers must be <= max_speakers")
    subs = body.get("subtitles_config") or {}
    shortest, longest = subs.get("minimum_duration"), subs.get("maximum_duration")
    if (
        isinstance(shortest, (int, float))
        and isinstance(longest, (int, float))
        and shortest > longest
    ):
        problems.append("subtitles_config.minimum_duration must be <= maximum_duration")
    for flag, config in _REQUIRED_CONFIGS.items():
        if body.get(flag) is True and not body.get(config):
            problems.append(f"{config} is required when {flag} is enabled")
    return problems
