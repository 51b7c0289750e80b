"""In-memory state of the emulator: clock, uploads, jobs and the ordered job index."""

from __future__ import annotations

import bisect
import itertools
import pathlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import orjson

__all__ = [
    "Account",
    "EmulatorStats",
    "Job",
    "JobFilter",
    "JobStore",
    "ManualClock",
    "RecordedRequest",
    "Upload",
    "iso",
    "metadata_contains",
]

JobKind = Literal["pre-recorded", "live"]
JobStatus = Literal["queued", "processing", "done", "error"]
STATUSES: tuple[str, ...] = ("queued", "processing", "done", "error")
KINDS: tuple[str, ...] = ("pre-recorded", "live")


class ManualClock:
    """A clock that only moves when told to: ``now()`` / ``advance(seconds)``.

    Pass an instance as ``GladiaEmulator(clock=...)`` (it is callable) to drive job lifecycles
    deterministically in tests, without sleeping.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        """The clock's current time, in seconds."""
        return self._now

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (``ValueError`` if negative)."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now!r})"


def iso(moment: datetime) -> str:
    """ISO 8601, UTC, millisecond precision, ``Z`` suffix (as the service formats dates)."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as received (recorded before auth, faults and validation)."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    route: str
    at: float


@dataclass
class EmulatorStats:
    """Counters, updated as requests are served."""

    requests_total: int = 0
    requests_by_route: dict[str, int] = field(default_factory=dict)
    jobs_created: int = 0
    #: Job creations refused with 429 by the account limits (``plan=``).
    jobs_rejected: int = 0
    uploads: int = 0
    deletes: int = 0
    polls: int = 0
    faults_injected: int = 0


@dataclass(slots=True)
class Upload:
    id: str
    filename: str
    extension: str
    size: int
    audio_duration: float
    number_of_channels: int
    source: str | None = None
    content_type: str = "application/octet-stream"
    data: bytes | None = None
    path: pathlib.Path | None = None

    def metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "filename": self.filename,
            "extension": self.extension,
            "size": self.size,
            "audio_duration": self.audio_duration,
            "number_of_channels": self.number_of_channels,
        }
        if self.source is not None:
            out["source"] = self.source
        return out

    @property
    def has_content(self) -> bool:
        return self.data is not None or (self.path is not None and self.path.exists())


@dataclass(slots=True)
class Job:
    id: str
    seq: int
    kind: str
    created_at: datetime
    created_ts: float
    created_clock: float
    queued_until: float
    ready_at: float
    request_params: dict[str, Any]
    file: dict[str, Any] | None
    custom_metadata: dict[str, Any] | None = None
    upload_id: str | None = None
    audio_duration: float = 0.0
    channels: int = 1
    error_code: int | None = None
    fixed_status: str | None = None
    completed_at: datetime | None = None
    result_seed: str | None = None

    def status_at(self, now: float) -> str:
        if self.fixed_status is not None:
            return self.fixed_status
        if now < self.queued_until:
            return "queued"
        if now < self.ready_at:
            return "processing"
        return "error" if self.error_code is not None else "done"


def _scalar_text(value: object) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def metadata_contains(stored: object, wanted: dict[str, Any]) -> bool:
    """Containment match for the ``custom_metadata`` list filter.

    Every key of ``wanted`` must be in ``stored`` with an equal value; nested objects match
    recursively; scalars compare by text (the docs filter ``{"id": "123"}`` matches a stored
    number ``123``, as query values are strings).
    """
    if not isinstance(stored, dict):
        return False
    return all(key in stored and _matches(stored[key], value) for key, value in wanted.items())


def _matches(have: object, value: object) -> bool:
    if isinstance(value, dict):
        return metadata_contains(have, value)
    if isinstance(value, list):  # element-wise, each by text (bracket arrays are strings)
        return (
            isinstance(have, list)
            and len(have) == len(value)
            and all(_matches(h, v) for h, v in zip(have, value, strict=True))
        )
    if isinstance(have, (dict, list)):
        return False
    return _scalar_text(have) == _scalar_text(value)


@dataclass(frozen=True)
class JobFilter:
    kinds: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    after_ts: float | None = None
    before_ts: float | None = None
    day_start: float | None = None
    custom_metadata: dict[str, Any] | None = None

    def cache_key(self) -> tuple[Any, ...]:
        meta = (
            orjson.dumps(self.custom_metadata, option=orjson.OPT_SORT_KEYS)
            if self.custom_metadata is not None
            else None
        )
        kinds = tuple(sorted(self.kinds)) if self.kinds is not None else None
        statuses = tuple(sorted(self.statuses)) if self.statuses is not None else None
        return (kinds, statuses, self.after_ts, self.before_ts, self.day_start, meta)


def _sort_key(job: Job) -> tuple[float, int]:
    return (job.created_ts, job.seq)


class JobStore:
    """Jobs by id plus an index sorted by ``(created_at, seq)`` for listing."""

    def __init__(self) -> None:
        self.by_id: dict[str, Job] = {}
        self._order: list[Job] = []
        self._seq = itertools.count(1)
        self.last_seq = 0
        self.version = 0
        self._cache: OrderedDict[tuple[Any, ...], tuple[int, list[Job]]] = OrderedDict()
        self._pending_until = float("-inf")
        # Jobs by one top-level scalar of their custom_metadata (key, value as text), in
        # ``_order``'s order: a lookup by token reads its few candidates, not every job.
        self._by_meta: dict[tuple[str, str], list[Job]] = {}

    def next_seq(self) -> int:
        self.last_seq = next(self._seq)
        return self.last_seq

    def __len__(self) -> int:
        return len(self.by_id)

    def add(self, job: Job) -> None:
        self.by_id[job.id] = job
        if not self._order or _sort_key(job) >= _sort_key(self._order[-1]):
            self._order.append(job)
        else:
            bisect.insort(self._order, job, key=_sort_key)
        if job.fixed_status is None:
            self._pending_until = max(self._pending_until, job.ready_at)
        self._index(job)
        self.version += 1

    def add_many(self, jobs: list[Job]) -> None:
        for job in jobs:
            self.by_id[job.id] = job
            self._index(job)
        self._order.extend(jobs)
        self._order.sort(key=_sort_key)
        self.version += 1

    @staticmethod
    def _meta_keys(job: Job) -> list[tuple[str, str]]:
        meta = job.custom_metadata
        if not isinstance(meta, dict):
            return []
        return [(k, _scalar_text(v)) for k, v in meta.items() if not isinstance(v, (dict, list))]

    def _index(self, job: Job) -> None:
        for key in self._meta_keys(job):
            bucket = self._by_meta.setdefault(key, [])
            if not bucket or _sort_key(job) >= _sort_key(bucket[-1]):
                bucket.append(job)
            else:
                bisect.insort(bucket, job, key=_sort_key)

    def _candidates(self, flt: JobFilter) -> list[Job] | None:
        """The jobs that can match ``flt``'s metadata (``_order``'s order), or None: all."""
        # A wanted scalar matches only a stored scalar of the same text (see _matches).
        for name, value in (flt.custom_metadata or {}).items():
            if not isinstance(value, (dict, list)):
                return self._by_meta.get((name, _scalar_text(value)), [])
        return None

    def remove(self, job_id: str) -> Job | None:
        job = self.by_id.pop(job_id, None)
        if job is None:
            return None
        index = bisect.bisect_left(self._order, _sort_key(job), key=_sort_key)
        while self._order[index] is not job:
            index += 1
        del self._order[index]
        for key in self._meta_keys(job):
            bucket = self._by_meta[key]
            bucket[:] = [other for other in bucket if other is not job]
            if not bucket:
                del self._by_meta[key]
        self.version += 1
        return job

    def query(self, flt: JobFilter, *, now: float, snapshot: int) -> list[Job]:
        """Matching jobs, newest first, limited to ``seq <= snapshot``. Cached per version."""
        key = (*flt.cache_key(), snapshot)
        cacheable = flt.statuses is None or now >= self._pending_until
        if cacheable:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == self.version:
                self._cache.move_to_end(key)
                return hit[1]
        candidates = self._candidates(flt)
        order = self._order if candidates is None else candidates
        lo = 0
        hi = len(order)
        if flt.after_ts is not None:
            lo = bisect.bisect_right(order, flt.after_ts, key=_ts_key)
        if flt.before_ts is not None:
            hi = bisect.bisect_left(order, flt.before_ts, key=_ts_key)
        if flt.day_start is not None:
            lo = max(lo, bisect.bisect_left(order, flt.day_start, key=_ts_key))
            hi = min(hi, bisect.bisect_left(order, flt.day_start + 86_400.0, key=_ts_key))
        window = order[lo:hi]
        window.reverse()
        if snapshot < self.last_seq:
            window = [j for j in window if j.seq <= snapshot]
        if flt.kinds is not None:
            kinds = flt.kinds
            window = [j for j in window if j.kind in kinds]
        if flt.statuses is not None:
            statuses = flt.statuses
            window = [j for j in window if j.status_at(now) in statuses]
        if flt.custom_metadata is not None:
            wanted = flt.custom_metadata
            window = [j for j in window if metadata_contains(j.custom_metadata, wanted)]
        if cacheable:
            self._cache[key] = (self.version, window)
            while len(self._cache) > 32:
                self._cache.popitem(last=False)
        return window

    def count(self, *, kind: str | None = None, status: str | None = None, now: float) -> int:
        if kind is None and status is None:
            return len(self.by_id)
        return sum(
            1
            for job in self.by_id.values()
            if (kind is None or job.kind == kind)
            and (status is None or job.status_at(now) == status)
        )


def _ts_key(job: Job) -> float:
    return job.created_ts


class Account:
    """The account's store as the routes and the live hub share it.

    Jobs (:class:`JobStore`), uploaded files, the request counters and the clock: the one
    interface through which the HTTP routes and the live hub read and change the account.
    """

    def __init__(self, *, clock: Callable[[], float], start_time: datetime | None) -> None:
        self.clock = clock
        self.jobs = JobStore()
        self.uploads: dict[str, Upload] = {}
        self.stats = EmulatorStats()
        self._wall_base = (start_time or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self._clock_base = clock()

    def now(self) -> datetime:
        """The account's wall-clock time (driven by ``clock``)."""
        return self._wall_base + timedelta(seconds=self.clock() - self._clock_base)

    def next_seq(self) -> int:
        """The creation order of the next job."""
        return self.jobs.next_seq()

    def add_job(self, job: Job) -> None:
        """A job created by a request (counted in ``stats.jobs_created``)."""
        self.jobs.add(job)
        self.stats.jobs_created += 1

    def job_changed(self) -> None:
        """A job's status changed outside its timeline: listings must see it."""
        self.jobs.version += 1

    def add_upload(self, upload: Upload) -> None:
        """Keep an uploaded (or recorded) file."""
        self.uploads[upload.id] = upload
