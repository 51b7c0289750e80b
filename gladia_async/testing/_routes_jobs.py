"""Pre-recorded jobs: create, get, delete, the job's file, and the listings of every kind."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from ._audio import info_from_url
from ._callbacks import CallbackDispatcher
from ._faults import FaultRule
from ._http import JOB_FAULT, LIST_FAULT, ApiError, base_url, json_response, lookup_job, read_json
from ._limits import AccountLimitReached, JobScheduler
from ._query import date_param, day_param, enum_list, int_param, metadata_filter
from ._routes_upload import CHUNK, own_upload
from ._state import KINDS, STATUSES, Account, EmulatorStats, Job, JobFilter, JobStore, Upload
from ._validation import echo_request_params, is_http_url, rule_errors, validate

__all__ = ["JobRoutes"]

MAX_CUSTOM_METADATA_CHARS = 2000
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


class JobRoutes:
    """The job routes of :class:`~._app.GladiaEmulator` (a mixin: the emulator's state)."""

    _account: Account
    _store: JobStore
    _uploads: dict[str, Upload]
    _result_cache: OrderedDict[str, dict[str, Any]]
    _scheduler: JobScheduler | None
    stats: EmulatorStats
    callbacks: CallbackDispatcher
    clock: Callable[[], float]
    public_url: str | None
    queue_delay: float
    job_duration: float

    if TYPE_CHECKING:

        def render_job(self, job: Job, *, now: float | None = None) -> dict[str, Any]: ...

    # ----------------------------------------------------------------------- jobs
    async def _create_job(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        errors = validate("InitTranscriptionRequest", body, skip_format=frozenset({"audio_url"}))
        errors = errors or rule_errors("InitTranscriptionRequest", body)
        if errors:
            raise ApiError(400, "Validation failed", errors)
        problems = _semantic_problems(body)
        if problems:
            raise ApiError(422, "; ".join(problems))
        url: str = body["audio_url"]
        if not is_http_url(url):
            raise ApiError(422, "audio_url must be a valid http(s) URL")
        is_ours, upload = own_upload(self._uploads, self.public_url, request, url)
        if is_ours and upload is None:
            raise ApiError(422, "audio_url refers to an unknown or deleted Gladia file")
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
        fault = JOB_FAULT.get()
        now_clock = self.clock()
        starts, ready = self._schedule(now_clock)
        created = self._account.now()
        job = Job(
            id=str(uuid.uuid4()),
            seq=self._account.next_seq(),
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
        self._account.add_job(job)
        self.callbacks.job_created(job, body)
        prefix = request.path.rstrip("/").rsplit("/", 1)[-1]
        return json_response(
            {
                "id": job.id,
                "result_url": f"{base_url(request, self.public_url)}/v2/{prefix}/{job.id}",
            },
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
            raise ApiError(429, str(refused), headers={"Retry-After": refused.header}) from None

    async def _get_job(self, request: web.Request) -> web.StreamResponse:
        job = lookup_job(self._store, request)
        self.stats.polls += 1
        return json_response(self.render_job(job))

    async def _delete_job(self, request: web.Request) -> web.StreamResponse:
        job = lookup_job(self._store, request)
        status = job.status_at(self.clock())
        if status in ("queued", "processing"):
            raise ApiError(403, f"The job is not in a deletable state (status: {status})")
        self._store.remove(job.id)
        self._result_cache.pop(job.id, None)
        self.stats.deletes += 1
        return web.Response(status=202)

    async def _get_file(self, request: web.Request) -> web.StreamResponse:
        job = lookup_job(self._store, request)
        upload = self._uploads.get(job.upload_id) if job.upload_id else None
        if upload is None or not upload.has_content:
            raise ApiError(404, "The job's audio file doesn't exist or has been deleted")
        quoted = upload.filename.replace("\\", "_").replace('"', "_")
        headers = {"Content-Disposition": f'attachment; filename="{quoted}"'}
        if upload.data is not None:
            return web.Response(
                body=upload.data, content_type="application/octet-stream", headers=headers
            )
        assert upload.path is not None
        headers["Content-Type"] = "application/octet-stream"
        return web.FileResponse(upload.path, headers=headers, chunk_size=CHUNK)

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
        ignoring = LIST_FAULT.get()
        if ignoring:  # the fault: the filter is dropped, the most recent jobs listed instead
            meta = None
        snapshot = int_param(query, "snapshot", self._store.last_seq, 0, errors)
        if errors:
            raise ApiError(400, "Validation failed", errors)
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
        base = f"{base_url(request, self.public_url)}{request.path}"
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
        return json_response(
            {
                "first": link(0, had_snapshot),
                "current": link(offset, had_snapshot),
                "next": link(offset + limit, True) if has_next else None,
                "items": items,
            }
        )


# ------------------------------------------------------------------------ helpers


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
