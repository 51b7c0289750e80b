"""A JSON body that stalls or breaks half-way fails with the right typed error, in time.

The transport reads JSON bodies on its hot path without a context manager per read; these
pin the mapping it must keep: a stall is a :class:`GladiaTimeout` after ``Timeouts.read``, a
dropped connection a :class:`ConnectionFailed`, and neither shows the key.
"""

from __future__ import annotations

import asyncio

import pytest

from gladia_async import ConnectionFailed, GladiaTimeout, RetryPolicy, Timeouts
from gladia_async._http.protocol import LazyReadTimeout

from ..hostile.raw_http import JOB_ID, Request, hostile, job_json, never_answer
from .test_hostile import _session, expect_error

pytestmark = pytest.mark.reliability


def _half_a_job() -> bytes:
    body = job_json()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    return head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body[: len(body) // 2])


async def test_a_json_body_that_stalls_half_way_is_a_timeout_after_the_read_window() -> None:
    async def stall(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(_half_a_job())
        await writer.drain()
        await asyncio.sleep(3600)

    async with (
        hostile(stall) as srv,
        _session(
            srv.url, retry=RetryPolicy(attempts=1), timeouts=Timeouts(read=0.5, request=30)
        ) as gladia,
    ):
        await expect_error(gladia.get(JOB_ID), bound=0.5 + 1.5, kind=GladiaTimeout)
        assert len(srv.requests) == 1


async def test_a_json_body_dripped_within_the_read_window_arrives_whole() -> None:
    # Every piece comes before Timeouts.read passes, the whole body well after it: progress
    # re-arms the read timer (one timer per stall, see LazyReadTimeout), so the call succeeds.
    async def drip(request: Request, writer: asyncio.StreamWriter) -> None:
        body = job_json()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        step = len(body) // 8 + 1
        for i in range(0, len(body), step):
            await asyncio.sleep(0.2)
            writer.write(body[i : i + step])
            await writer.drain()

    async with (
        hostile(drip) as srv,
        _session(
            srv.url, retry=RetryPolicy(attempts=1), timeouts=Timeouts(read=0.5, request=30)
        ) as gladia,
    ):
        job = await gladia.get(JOB_ID)
        assert job.id == JOB_ID
        connector = gladia._transport.connector
        assert connector is not None
        assert getattr(connector._factory, "func", None) is LazyReadTimeout  # the one in use
        assert len(srv.requests) == 1


async def test_an_answer_that_never_starts_is_a_timeout_after_the_read_window() -> None:
    async with (
        hostile(never_answer) as srv,
        _session(
            srv.url, retry=RetryPolicy(attempts=1), timeouts=Timeouts(read=0.5, request=30)
        ) as gladia,
    ):
        await expect_error(gladia.get(JOB_ID), bound=0.5 + 1.5, kind=GladiaTimeout)
        assert len(srv.requests) == 1


async def test_a_json_body_cut_half_way_is_a_dropped_connection() -> None:
    async def cut(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(_half_a_job())
        await writer.drain()
        writer.close()

    async with (
        hostile(cut) as srv,
        _session(srv.url, retry=RetryPolicy(attempts=1)) as gladia,
    ):
        await expect_error(gladia.get(JOB_ID), bound=5.0, kind=ConnectionFailed)
        assert len(srv.requests) == 1
