"""Job listings stream across pages by following the server's ``next`` links."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from aiohttp import web

from gladia_async import (
    ForeignURLError,
    GladiaError,
    GladiaSession,
    InvalidInput,
    LiveJob,
    PaginationLoopError,
    TranscriptionJob,
)
from gladia_async.testing import run_emulator

from ..conftest import open_connections, pending_tasks
from ..hostile import API_KEY, FakeGladia, serve, serve_fake

UTC = dt.timezone.utc
START = dt.datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def listing_emu() -> AsyncIterator[Any]:
    async with run_emulator() as emu:
        yield emu


@pytest.fixture
async def session(listing_emu: Any) -> AsyncIterator[GladiaSession]:
    async with GladiaSession(api_key=listing_emu.api_key, base_url=listing_emu.url) as gladia:
        yield gladia


async def test_thousand_jobs_stream_once_each_newest_first(
    session: GladiaSession, listing_emu: Any
) -> None:
    ids = listing_emu.emulator.seed_jobs(1000, created_at_start=START)
    seen = [job.id async for job in session.iter_jobs(page_size=100)]
    assert len(seen) == 1000 and set(seen) == set(ids)
    assert seen == list(reversed(ids)), "newest first, in the server's order"


async def test_pages_expose_links(session: GladiaSession, listing_emu: Any) -> None:
    listing_emu.emulator.seed_jobs(25, created_at_start=START)
    pages = [page async for page in session.iter_pages(page_size=10)]
    assert [len(p.items) for p in pages] == [10, 10, 5]
    assert pages[0].next == pages[1].current and pages[-1].next is None
    assert all(p.first.startswith(listing_emu.url) for p in pages)


async def test_items_are_typed_by_kind(session: GladiaSession, listing_emu: Any) -> None:
    listing_emu.emulator.seed_jobs(3, kind="pre-recorded", created_at_start=START)
    listing_emu.emulator.seed_jobs(2, kind="live", created_at_start=START + dt.timedelta(hours=1))
    items = [job async for job in session.iter_jobs()]
    assert sum(isinstance(j, LiveJob) for j in items) == 2
    assert sum(isinstance(j, TranscriptionJob) for j in items) == 3
    live_only = [j async for j in session.iter_jobs(kind=["live"])]
    assert len(live_only) == 2 and all(isinstance(j, LiveJob) for j in live_only)
    live_endpoint = [j async for j in session.iter_jobs(endpoint="live")]
    assert len(live_endpoint) == 2


async def test_filters_narrow_the_listing(session: GladiaSession, listing_emu: Any) -> None:
    seed = listing_emu.emulator.seed_jobs
    done = seed(5, status="done", created_at_start=START)
    errors = seed(3, status="error", created_at_start=START + dt.timedelta(days=1))
    mine = seed(2, custom_metadata={"user": "42"}, created_at_start=START + dt.timedelta(days=2))

    async def ids(**filters: Any) -> set[str]:
        return {job.id async for job in session.iter_jobs(**filters)}

    assert await ids(status=["error"]) == set(errors)
    assert await ids(status=["error", "done"]) == set(done + errors + mine)
    assert await ids(custom_metadata={"user": "42"}) == set(mine)
    assert await ids(after_date=START + dt.timedelta(hours=12)) == set(errors + mine)
    assert await ids(before_date=START + dt.timedelta(hours=12)) == set(done)
    assert await ids(date=(START + dt.timedelta(days=1)).date()) == set(errors)
    assert await ids(max_items=4) <= set(done + errors + mine)
    assert len(await ids(max_items=4)) == 4


async def test_nothing_is_requested_before_iteration(
    session: GladiaSession, listing_emu: Any
) -> None:
    stream = session.iter_jobs()
    assert listing_emu.stats.requests_total == 0
    async with stream:
        pass
    assert listing_emu.stats.requests_total == 0


async def test_early_break_leaves_nothing_pending(session: GladiaSession, listing_emu: Any) -> None:
    listing_emu.emulator.seed_jobs(500, created_at_start=START)
    listing_emu.emulator.latency = 0.05  # the prefetch is in flight when we leave
    async with session.iter_jobs(page_size=10) as jobs:
        async for _job in jobs:
            break
    assert pending_tasks() == set()
    assert open_connections(session) == 0


@pytest.mark.parametrize(
    ("filters", "argument"),
    [
        ({"page_size": 0}, "page_size"),
        ({"offset": -1}, "offset"),
        ({"status": ["finished"]}, "status"),
        ({"status": "done"}, "status"),
        ({"kind": ["batch"]}, "kind"),
        ({"after_date": dt.datetime(2026, 1, 1)}, "after_date"),
        ({"before_date": "2026-01-01"}, "before_date"),
        ({"custom_metadata": {"k": "x" * 2100}}, "custom_metadata"),
        ({"max_items": -1}, "max_items"),
        ({"endpoint": "live", "kind": ["live"]}, "kind"),
    ],
)
async def test_bad_filters_fail_before_any_request(
    session: GladiaSession, listing_emu: Any, filters: dict[str, Any], argument: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        session.iter_jobs(**filters)
    assert caught.value.argument == argument
    assert listing_emu.stats.requests_total == 0


async def test_foreign_next_link_is_refused_and_gets_no_key(unused_tcp_port: int) -> None:
    """A server whose next link points at another origin: never followed with the key."""
    foreign_seen: list[dict[str, str]] = []

    async def foreign(request: web.Request) -> web.Response:
        foreign_seen.append(dict(request.headers))
        return web.json_response({"first": "", "current": "", "next": None, "items": []})

    async def listing(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "first": str(request.url),
                "current": str(request.url),
                "next": f"http://localhost:{unused_tcp_port}/v2/transcription?offset=20",
                "items": [],
            }
        )

    api = web.Application()
    api.router.add_get("/v2/transcription", listing)
    other = web.Application()
    other.router.add_get("/v2/transcription", foreign)
    api_runner, other_runner = web.AppRunner(api), web.AppRunner(other)
    await api_runner.setup()
    await other_runner.setup()
    api_site = web.TCPSite(api_runner, "127.0.0.1", 0)
    await api_site.start()
    await web.TCPSite(other_runner, "localhost", unused_tcp_port).start()
    port = api_runner.addresses[0][1]
    try:
        async with GladiaSession(
            api_key="secret-key-xyz", base_url=f"http://127.0.0.1:{port}"
        ) as gladia:
            with pytest.raises(ForeignURLError) as caught:
                async for _ in gladia.iter_pages():
                    pass
        assert "secret-key-xyz" not in str(caught.value)
        assert foreign_seen == []
    finally:
        await api_runner.cleanup()
        await other_runner.cleanup()


async def test_delete_jobs_reports_each_outcome(session: GladiaSession, listing_emu: Any) -> None:
    keep = listing_emu.emulator.seed_jobs(3, custom_metadata={"batch": "keep"})
    drop = listing_emu.emulator.seed_jobs(7, custom_metadata={"batch": "drop"})
    outcomes = await session.delete_jobs(custom_metadata={"batch": "drop"}, concurrency=3)
    assert sorted(job_id for job_id, _ in outcomes) == sorted(drop)
    assert all(error is None for _, error in outcomes)
    remaining = {job.id async for job in session.iter_jobs()}
    assert remaining == set(keep)


# -- hostile listings ----------------------------------------------------------------------


def _job(i: int) -> dict[str, Any]:
    return {
        "id": f"00000000-0000-4000-8000-{i:012d}",
        "request_id": f"G-{i}",
        "version": 2,
        "status": "done",
        "created_at": "2026-01-01T00:00:00Z",
        "completed_at": "2026-01-01T00:00:01Z",
        "kind": "pre-recorded",
    }


Pages = dict[str, tuple[list[int], str | None] | tuple[list[int], str | None, str]]


def _pages_app(pages: Pages, asked: list[str] | None = None) -> web.Application:
    """Serve fixed pages by offset: offset -> (job numbers, next link[, current link])."""

    async def listing(request: web.Request) -> web.Response:
        offset = request.query.get("offset", "0")
        if asked is not None:
            asked.append(offset)
        items, next_link, *current = pages[offset]
        base = f"{request.url.scheme}://{request.host}"
        return web.json_response(
            {
                "first": str(request.url.with_query({"offset": "0"})),
                "current": current[0].format(base=base) if current else str(request.url),
                "next": next_link.format(base=base) if next_link else None,
                "items": [_job(i) for i in items],
            }
        )

    app = web.Application()
    app.router.add_get("/v2/transcription", listing)
    return app


async def _walk(pages: Pages, asked: list[str] | None = None) -> tuple[list[str], Exception]:
    seen: list[str] = []
    async with (
        serve(_pages_app(pages, asked)) as url,
        GladiaSession(api_key=API_KEY, base_url=url) as gladia,
    ):
        with anyio.fail_after(5), pytest.raises(GladiaError) as caught:
            async with gladia.iter_jobs(page_size=2) as jobs:
                async for job in jobs:
                    seen.append(job.id)
        assert pending_tasks() == set()
    return seen, caught.value


async def test_a_next_link_back_to_the_same_page_raises_a_loop_error() -> None:
    seen, error = await _walk({"0": ([1, 2], "{base}/v2/transcription?offset=0&limit=2")})
    assert isinstance(error, PaginationLoopError)
    assert seen == [_job(1)["id"], _job(2)["id"]], "the page's items come first"


async def test_a_next_link_back_to_an_earlier_page_raises_a_loop_error() -> None:
    asked: list[str] = []
    seen, error = await _walk(
        {
            "0": ([1, 2], "{base}/v2/transcription?limit=2&offset=2"),
            # The same first page, its query in another order.
            "2": ([3, 4], "{base}/v2/transcription?limit=2&offset=0"),
        },
        asked,
    )
    assert isinstance(error, PaginationLoopError)
    assert len(seen) == 4
    assert asked == ["0", "2"], "no page is requested twice"


async def test_a_next_link_back_to_a_pages_own_current_link_raises_a_loop_error() -> None:
    # The server names its first page differently from the URL the client asked for.
    asked: list[str] = []
    _, error = await _walk(
        {
            "0": ([1], "{base}/v2/transcription?offset=1", "{base}/v2/transcription?offset=00"),
            "1": ([2], "{base}/v2/transcription?offset=00"),
            "00": ([1], None),
        },
        asked,
    )
    assert isinstance(error, PaginationLoopError)
    assert asked == ["0", "1"]


async def test_a_job_listed_twice_is_yielded_once() -> None:
    # Offsets shift when jobs are created during the walk: the last job of a page shows again.
    async with (
        serve(
            _pages_app(
                {
                    "0": ([1, 2], "{base}/v2/transcription?offset=2&limit=2"),
                    "2": ([2, 3], "{base}/v2/transcription?offset=4&limit=2"),
                    "4": ([3, 4], None),
                }
            )
        ) as url,
        GladiaSession(api_key=API_KEY, base_url=url) as gladia,
    ):
        ids = [job.id async for job in gladia.iter_jobs(page_size=2)]
    assert ids == [_job(i)["id"] for i in (1, 2, 3, 4)]


async def test_a_foreign_next_link_is_refused_after_the_pages_items() -> None:
    # As in Gladia's spec example: the next link points at the production host.
    seen, error = await _walk(
        {"0": ([1, 2, 3], "https://api.gladia.io/v2/transcription?offset=3&limit=3")}
    )
    assert isinstance(error, ForeignURLError)
    assert len(seen) == 3


async def test_delete_jobs_on_a_looping_listing_ends() -> None:
    async with (
        serve(_pages_app({"0": ([1], "{base}/v2/transcription?offset=0")})) as url,
        GladiaSession(api_key=API_KEY, base_url=url) as gladia,
    ):
        with anyio.fail_after(5), pytest.raises(PaginationLoopError):
            await gladia.delete_jobs(all=True)


async def test_delete_jobs_deletes_live_jobs_on_the_live_route(
    session: GladiaSession, listing_emu: Any
) -> None:
    live = listing_emu.emulator.seed_jobs(3, kind="live")
    recorded = listing_emu.emulator.seed_jobs(2, kind="pre-recorded")
    outcomes = await session.delete_jobs(all=True)
    assert sorted(i for i, _ in outcomes) == sorted(live + recorded)
    assert all(error is None for _, error in outcomes), outcomes
    deletes = [r.path for r in listing_emu.requests if r.method == "DELETE"]
    assert sorted(deletes) == sorted(
        [f"/v2/live/{i}" for i in live] + [f"/v2/pre-recorded/{i}" for i in recorded]
    )


async def test_delete_jobs_deletes_at_most_concurrency_at_once() -> None:
    fake = FakeGladia(delays={"DELETE /v2/pre-recorded/{id}": 0.05})
    async with serve_fake(fake) as url, GladiaSession(api_key=API_KEY, base_url=url) as gladia:
        for i in range(12):
            await gladia.submit(f"https://example.com/{i}.wav")
        outcomes = await gladia.delete_jobs(all=True, concurrency=3)
    assert len(outcomes) == 12 and fake.jobs == []
    assert fake.max_in_flight["DELETE /v2/pre-recorded/{id}"] == 3
