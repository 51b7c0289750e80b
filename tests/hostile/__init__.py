"""Small hostile Gladia servers for the exactly-once and ownership tests.

:class:`FakeGladia` serves just enough of the API (upload, create, get, list, delete) and can
misbehave the ways the real service can: a listing that lags behind writes, a 5xx after the job
was created, a job committed after the client gave up, failing lookups, a listing that ignores
its filters. It keeps the ground truth (every job created, with its metadata) for assertions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import orjson
from aiohttp import web

from gladia_async import TOKEN_KEY

API_KEY = "hostile-test-key"


@attrs.define
class Job:
    id: str
    created: float  # loop time the job was committed
    custom_metadata: dict[str, Any]
    created_at: dt.datetime


@attrs.define
class FakeGladia:
    """Knobs (all off by default) and the ground truth of what was created."""

    #: Seconds before a committed job shows in listings.
    listing_lag: float = 0.0
    #: Probability that a creation answers ``error_status`` *after* creating the job.
    error_after_create: float = 0.0
    error_status: int = 503
    #: Such a creation's answer is a dropped connection instead of ``error_status``.
    drop_after_create: bool = False
    #: Probability that a creation holds its answer ``hang`` seconds; the job is committed
    #: ``commit_delay`` seconds after the request arrived, whether the client waited or not.
    slow_commit: float = 0.0
    commit_delay: float = 0.0
    hang: float = 0.0
    #: The first N creations answer 502 without creating anything (a proxy's refusal).
    refuse_first: int = 0
    #: Every creation answers 502 without creating anything.
    refuse_all: bool = False
    #: Listing requests answer 500 until this many seconds after the first creation.
    lookups_fail_for: float = 0.0
    #: Probability that a listing request answers 500.
    failing_lookups: float = 0.0
    #: The listing ignores its custom_metadata filter and lists every job.
    ignore_filter: bool = False
    #: Seconds each request of a route takes (route -> seconds), to observe concurrency.
    delays: dict[str, float] = attrs.Factory(dict)
    #: Seconds a job stays "processing".
    job_duration: float = 0.0
    seed: int = 0

    jobs: list[Job] = attrs.Factory(list)
    create_requests: int = 0
    in_flight: dict[str, int] = attrs.Factory(dict)
    max_in_flight: dict[str, int] = attrs.Factory(dict)
    requests: int = 0
    first_create: float | None = None
    _rng: random.Random = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    # -- ground truth ---------------------------------------------------------------------

    def jobs_by_token(self) -> dict[str, list[str]]:
        """Token -> the ids of every job created with it."""
        out: dict[str, list[str]] = {}
        for job in self.jobs:
            token = job.custom_metadata.get(TOKEN_KEY)
            if token is not None:
                out.setdefault(token, []).append(job.id)
        return out

    def token_of(self, job_id: str) -> str | None:
        for job in self.jobs:
            if job.id == job_id:
                return job.custom_metadata.get(TOKEN_KEY)  # type: ignore[no-any-return]
        return None

    # -- the app ---------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._count])
        app.router.add_post("/v2/upload", self._upload)
        app.router.add_post("/v2/pre-recorded", self._create)
        app.router.add_get("/v2/pre-recorded", self._list)
        app.router.add_get("/v2/transcription", self._list)
        app.router.add_get("/v2/pre-recorded/{id}", self._get)
        app.router.add_delete("/v2/pre-recorded/{id}", self._delete)
        return app

    @web.middleware
    async def _count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("x-gladia-key") != API_KEY:
            return web.json_response({"message": "invalid key", "statusCode": 401}, status=401)
        route = f"{request.method} {request.match_info.route.resource.canonical}"  # type: ignore[union-attr]
        self.requests += 1
        self.in_flight[route] = self.in_flight.get(route, 0) + 1
        self.max_in_flight[route] = max(self.max_in_flight.get(route, 0), self.in_flight[route])
        total = sum(self.in_flight.values())
        self.max_in_flight["*"] = max(self.max_in_flight.get("*", 0), total)
        try:
            delay = self.delays.get(route, 0.0)
            if delay:
                await asyncio.sleep(delay)
            return await handler(request)  # type: ignore[no-any-return]
        finally:
            self.in_flight[route] -= 1

    async def _upload(self, request: web.Request) -> web.Response:
        await request.read()
        audio_id = str(uuid.uuid4())
        return web.json_response(
            {
                "audio_url": f"https://api.gladia.io/file/{audio_id}",
                "audio_metadata": {
                    "id": audio_id,
                    "filename": "a.wav",
                    "extension": "wav",
                    "size": 1,
                    "audio_duration": 1.0,
                    "number_of_channels": 1,
                },
            }
        )

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def _create(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.create_requests += 1
        if self.first_create is None:
            self.first_create = self._now()
        if self.refuse_all or self.create_requests <= self.refuse_first:
            return web.json_response({"message": "bad gateway"}, status=502)
        slow = self._rng.random() < self.slow_commit
        failing = self._rng.random() < self.error_after_create
        job = Job(
            id=str(uuid.uuid4()),
            created=self._now() + (self.commit_delay if slow else 0.0),
            custom_metadata=dict(body.get("custom_metadata") or {}),
            created_at=dt.datetime.now(dt.timezone.utc),
        )
        self.jobs.append(job)
        if slow:
            await asyncio.sleep(self.hang)
        if failing and self.drop_after_create:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=499)
        if failing:
            return web.json_response({"message": "upstream unavailable"}, status=self.error_status)
        return web.json_response(
            {"id": job.id, "result_url": f"{request.url}/{job.id}"}, status=201
        )

    def _job_json(self, job: Job) -> dict[str, Any]:
        done = self._now() >= job.created + self.job_duration
        return {
            "id": job.id,
            "request_id": "G-" + job.id[:8],
            "version": 2,
            "status": "done" if done else "processing",
            "created_at": job.created_at.isoformat(),
            "completed_at": job.created_at.isoformat() if done else None,
            "kind": "pre-recorded",
            "custom_metadata": job.custom_metadata,
        }

    async def _get(self, request: web.Request) -> web.Response:
        for job in self.jobs:
            if job.id == request.match_info["id"] and job.created <= self._now():
                return web.json_response(self._job_json(job))
        return web.json_response({"message": "not found"}, status=404)

    async def _delete(self, request: web.Request) -> web.Response:
        self.jobs = [j for j in self.jobs if j.id != request.match_info["id"]]
        return web.Response(status=202)

    async def _list(self, request: web.Request) -> web.Response:
        early = self.first_create is not None and (
            self._now() < self.first_create + self.lookups_fail_for
        )
        if early or self._rng.random() < self.failing_lookups:
            return web.json_response({"message": "listing unavailable"}, status=500)
        offset = int(request.query.get("offset", "0"))
        limit = int(request.query.get("limit", "20"))
        wanted = orjson.loads(request.query.get("custom_metadata", "{}"))
        now = self._now()
        visible = [
            job
            for job in reversed(self.jobs)
            if job.created + self.listing_lag <= now
            and (
                self.ignore_filter
                or all(job.custom_metadata.get(k) == v for k, v in wanted.items())
            )
        ]
        page = visible[offset : offset + limit]
        more = offset + limit < len(visible)
        base = request.url.with_query(None)

        def link(at: int) -> str:
            return str(base.with_query({**request.query, "offset": str(at)}))

        return web.json_response(
            {
                "first": link(0),
                "current": link(offset),
                "next": link(offset + limit) if more else None,
                "items": [self._job_json(job) for job in page],
            }
        )


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run ``app`` on a free loopback port; yield its base URL."""
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def serve_fake(fake: FakeGladia) -> AsyncIterator[str]:
    """Run a :class:`FakeGladia`; yield its base URL."""
    async with serve(fake.app()) as url:
        yield url
