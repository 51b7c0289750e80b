"""An error body is skimmed: a server dripping it cannot hold each attempt for ``Timeouts.read``.

The hostile peer is a raw socket (tests/hostile/raw_http.py): a 500 status line and headers at
once, then the body a byte a second. The status is the answer; the body is read for a few
seconds at most, so a call with its default timeouts ends in seconds, not at its deadline.
"""

from __future__ import annotations

import asyncio
import time

import anyio
import pytest

from gladia_async import GladiaSession, RetryPolicy, ServerError

from ..hostile.raw_http import JOB_ID, KEY, Request, hostile

pytestmark = pytest.mark.reliability


async def _drip_500(request: Request, writer: asyncio.StreamWriter) -> None:
    await request.read_body()
    writer.write(b"HTTP/1.1 500 Oops\r\nContent-Type: application/json\r\n")
    writer.write(b"Content-Length: 1000\r\n\r\n")
    await writer.drain()
    for byte in b'{"message":"' + b"x" * 980 + b'"}':
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(1)


async def test_a_dripped_error_body_ends_the_call_in_seconds_with_default_timeouts() -> None:
    # Two attempts with the default Timeouts (read=60): today's skim would take 2 x 60 s.
    retry = RetryPolicy(attempts=2, backoff_initial=0.0)
    async with (
        hostile(_drip_500) as srv,
        GladiaSession(api_key=KEY, base_url=srv.url, retry=retry) as gladia,
    ):
        started = time.monotonic()
        with anyio.fail_after(40), pytest.raises(ServerError) as caught:
            await gladia.get(JOB_ID)
        elapsed = time.monotonic() - started
    assert caught.value.status == 500
    assert len(srv.requests) == 2, "each attempt was made"
    assert elapsed < 15, f"took {elapsed:.1f}s for 2 attempts"
    assert KEY not in repr(caught.value) + str(caught.value)
