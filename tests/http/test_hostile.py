"""The transport's guarantees against hostile servers (raw sockets, not the emulator).

Every guarantee has a bound that fails when it breaks: elapsed time against the deadline,
requests counted server-side, memory growth measured, the key searched for in every error.
"""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import io
import logging
import os
import shutil
import ssl
import subprocess
import time
import traceback
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from gladia_async import (
    ConfigurationError,
    ConnectionFailed,
    ForeignURLError,
    GladiaError,
    GladiaSession,
    GladiaTimeout,
    InvalidInput,
    Limits,
    PoolTimeout,
    RateLimitError,
    ResponseFormatError,
    ResponseTooLargeError,
    RetryPolicy,
    ServerError,
    SessionClosedError,
    Timeouts,
    TransportError,
    WrongEventLoopError,
)

from ..hostile.raw_http import JOB_ID, KEY, Request, hostile, job_json, never_answer, response

pytestmark = pytest.mark.reliability

#: Every error a hostile test provokes; the last test searches them all for the key.
PROVOKED: list[BaseException] = []


def _session(url: str, **kwargs: Any) -> GladiaSession:
    return GladiaSession(api_key=KEY, base_url=url, **kwargs)


def _render(exc: BaseException) -> str:
    seen: list[str] = [repr(exc), str(exc), "".join(traceback.format_exception(exc))]
    link: BaseException | None = exc
    depth = 0
    while link is not None and depth < 20:
        seen += [repr(link), str(link), repr(getattr(link, "__dict__", {})), repr(link.args)]
        link = link.__cause__ or link.__context__
        depth += 1
    return "\n".join(seen)


def assert_clean(exc: BaseException) -> None:
    """The error is one of ours, and nothing it renders (chain included) shows the key."""
    PROVOKED.append(exc)
    assert isinstance(exc, GladiaError), f"untyped {type(exc).__name__}: {exc!r}"
    assert KEY not in _render(exc)


async def expect_error(
    call: Awaitable[Any], bound: float, kind: type[BaseException] = GladiaError
) -> BaseException:
    """Await ``call``; it must raise ``kind`` (checked clean) within ``bound`` seconds."""
    started = time.monotonic()
    with anyio.fail_after(bound + 5):  # a hang fails the test instead of the suite
        with pytest.raises(GladiaError) as caught:
            await call
    elapsed = time.monotonic() - started
    assert_clean(caught.value)
    assert isinstance(caught.value, kind), repr(caught.value)
    assert elapsed <= bound, f"took {elapsed:.2f}s, bound {bound}s"
    return caught.value


# -- one deadline per call -------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    ["get", "delete", "submit", "upload", "download", "list"],
)
async def test_a_silent_server_ends_every_call_within_its_deadline(
    call: str, tmp_path: Path
) -> None:
    retry = RetryPolicy(attempts=5, deadline=2.0, backoff_initial=0.05)
    async with (
        hostile(never_answer) as srv,
        _session(
            srv.url, retry=retry, timeouts=Timeouts(request=0.7, read=0.7, upload=0.7)
        ) as gladia,
    ):
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "get": lambda: gladia.get(JOB_ID),
            "delete": lambda: gladia.delete(JOB_ID),
            "submit": lambda: gladia.submit("https://example.com/a.wav"),
            "upload": lambda: gladia.upload(b"RIFF" + b"\0" * 1000),
            "download": lambda: gladia.download_audio(JOB_ID, tmp_path / "a.wav"),
            "list": lambda: anext(aiter(gladia.iter_jobs(prefetch=False))),
        }
        await expect_error(calls[call](), bound=2.0 + 0.5, kind=GladiaTimeout)
        assert len(srv.requests) <= retry.attempts
    assert not list(tmp_path.iterdir()), "no temp file left behind"


async def test_aiohttp_never_resends_behind_the_retry_policy() -> None:
    # The second request on a kept-alive connection is dropped without an answer: aiohttp
    # would silently send it again on a new connection; every attempt must be ours.
    async def answer_once_then_drop(request: Request, writer: asyncio.StreamWriter) -> None:
        if len(srv.requests) == 1:
            writer.write(response(200, job_json()))
            await writer.drain()
        else:
            writer.transport.abort()

    async with (
        hostile(answer_once_then_drop) as srv,
        _session(srv.url, retry=RetryPolicy(attempts=1)) as gladia,
    ):
        await gladia.get(JOB_ID)
        await expect_error(gladia.get(JOB_ID), bound=5, kind=ConnectionFailed)
        assert len(srv.requests) == 2


async def test_a_429_pause_never_outlasts_a_later_calls_deadline() -> None:
    async def rate_limit(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(response(429, b'{"message":"slow down"}', {"Retry-After": "50"}))
        await writer.drain()

    retry = RetryPolicy(attempts=3, deadline=1.5)
    async with hostile(rate_limit) as srv, _session(srv.url, retry=retry) as gladia:
        first = await expect_error(gladia.get(JOB_ID), bound=2.0, kind=RateLimitError)
        assert isinstance(first, RateLimitError) and first.retry_after == 50
        # The session is paused for 50 s: a later call fails fast, and never reaches the server.
        await expect_error(gladia.get(JOB_ID), bound=1.5 + 0.5, kind=GladiaTimeout)
        assert len(srv.requests) == 1


async def test_an_http_date_retry_after_is_honoured() -> None:
    async def limited_then_ok(request: Request, writer: asyncio.StreamWriter) -> None:
        if len(srv.requests) == 1:
            when = email.utils.formatdate(time.time() + 3, usegmt=True)
            writer.write(response(429, b"{}", {"Retry-After": when}))
        else:
            writer.write(response(200, job_json()))
        await writer.drain()

    async with (
        hostile(limited_then_ok) as srv,
        _session(srv.url, retry=RetryPolicy(attempts=3, deadline=10)) as gladia,
    ):
        await gladia.get(JOB_ID)
    gap = srv.requests[1].arrived - srv.requests[0].arrived
    assert gap >= 1.0, f"retried after {gap:.2f}s, before the server's HTTP date"


@pytest.mark.parametrize("header", ["nan", "inf", "-5", "garbage", "Mon, 99 Foo 2026"])
async def test_a_malformed_retry_after_falls_back_to_backoff(header: str) -> None:
    async def limited_then_ok(request: Request, writer: asyncio.StreamWriter) -> None:
        if len(srv.requests) == 1:
            writer.write(response(503, b"{}", {"Retry-After": header}))
        else:
            writer.write(response(200, job_json()))
        await writer.drain()

    async with (
        hostile(limited_then_ok) as srv,
        _session(
            srv.url, retry=RetryPolicy(attempts=2, deadline=5, backoff_initial=0.01)
        ) as gladia,
    ):
        with anyio.fail_after(5):
            job = await gladia.get(JOB_ID)
    assert job.id == JOB_ID and len(srv.requests) == 2


async def test_job_creation_is_never_repeated_after_a_5xx() -> None:
    async def fail(request: Request, writer: asyncio.StreamWriter) -> None:
        await request.read_body()
        writer.write(response(503, b'{"message":"busy"}'))
        await writer.drain()

    async with (
        hostile(fail) as srv,
        _session(srv.url, retry=RetryPolicy(attempts=5, backoff_initial=0.01)) as gladia,
    ):
        await expect_error(gladia.submit("https://example.com/a.wav"), bound=5, kind=ServerError)
        assert len(srv.requests) == 1


async def test_a_303_turns_a_post_into_a_get() -> None:
    async def see_other(request: Request, writer: asyncio.StreamWriter) -> None:
        await request.read_body()
        if request.method == "POST":
            writer.write(response(303, b"", {"Location": f"/v2/pre-recorded/{JOB_ID}"}))
        else:
            writer.write(response(200, b'{"id":"%s","result_url":"x"}' % JOB_ID.encode()))
        await writer.drain()

    async with hostile(see_other) as srv, _session(srv.url) as gladia:
        created = await gladia.submit("https://example.com/a.wav")
    assert created.id == JOB_ID
    assert [r.method for r in srv.requests] == ["POST", "GET"]


@pytest.mark.parametrize(
    "location", ["ftp://127.0.0.1/x", "file:///etc/passwd", "http://[::1", "http://h:99999/x"]
)
async def test_a_malformed_redirect_is_a_typed_error(location: str) -> None:
    async def redirect(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(response(302, b"", {"Location": location}))
        await writer.drain()

    async with hostile(redirect) as srv, _session(srv.url, retry=RetryPolicy(attempts=1)) as gladia:
        await expect_error(gladia.get(JOB_ID), bound=5, kind=TransportError)


# -- stalls ----------------------------------------------------------------------------------


async def test_an_upload_the_server_stops_reading_fails_on_the_write_timeout() -> None:
    async def stop_reading(request: Request, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    audio = b"RIFF" + os.urandom(64 * 1024 * 1024)
    async with (
        hostile(stop_reading) as srv,
        _session(srv.url, retry=RetryPolicy(attempts=1), timeouts=Timeouts(write=1.0)) as gladia,
    ):
        error = await expect_error(gladia.upload(audio), bound=1.0 + 3.0, kind=GladiaTimeout)
    assert "no progress" in str(error)


UPLOADED = (
    b'{"audio_url":"https://x/a.wav","audio_metadata":{"id":"a","filename":"a.wav",'
    b'"extension":"wav","size":1,"audio_duration":1.0,"number_of_channels":1}}'
)


@pytest.mark.parametrize("as_file", [False, True], ids=["bytes", "file"])
async def test_a_slow_but_moving_upload_is_not_a_stall(as_file: bool, tmp_path: Path) -> None:
    async def read_slowly(request: Request, writer: asyncio.StreamWriter) -> None:
        left = int(request.headers["content-length"])
        while left:
            left -= len(await request.reader.read(min(left, 1 << 20)))
            await asyncio.sleep(0.05)
        writer.write(response(200, UPLOADED))
        await writer.drain()

    audio = b"RIFF" + os.urandom(32 * 1024 * 1024)
    source: Any = audio
    if as_file:
        source = tmp_path / "a.wav"
        source.write_bytes(audio)
    async with (
        hostile(read_slowly) as srv,
        _session(
            srv.url, retry=RetryPolicy(attempts=1), timeouts=Timeouts(write=0.5, read=10)
        ) as gladia,
    ):
        with anyio.fail_after(30):
            uploaded = await gladia.upload(source)
    assert uploaded.audio_url == "https://x/a.wav"


async def test_an_upload_answered_by_silence_ends_at_the_deadline() -> None:
    async def read_then_hang(request: Request, writer: asyncio.StreamWriter) -> None:
        await request.read_body()
        await asyncio.sleep(3600)

    retry = RetryPolicy(attempts=3, deadline=1.0)
    async with (
        hostile(read_then_hang) as srv,
        _session(srv.url, retry=retry, timeouts=Timeouts(read=30, write=30)) as gladia,
    ):
        await expect_error(
            gladia.upload(b"RIFF" + b"\0" * 1000), bound=1.0 + 0.5, kind=GladiaTimeout
        )
        assert len(srv.requests) == 1


async def test_an_upload_stuck_mid_body_ends_at_the_deadline() -> None:
    async def stop_reading(request: Request, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    audio = b"RIFF" + os.urandom(64 * 1024 * 1024)
    async with (
        hostile(stop_reading) as srv,
        _session(
            srv.url, retry=RetryPolicy(attempts=1, deadline=1.0), timeouts=Timeouts(write=30)
        ) as gladia,
    ):
        await expect_error(gladia.upload(audio), bound=1.0 + 0.5, kind=GladiaTimeout)


async def test_a_dripped_download_fails_on_the_read_window(tmp_path: Path) -> None:
    async def drip(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(100000):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.05)

    async with (
        hostile(drip) as srv,
        _session(srv.url, retry=RetryPolicy(attempts=1), timeouts=Timeouts(read=1.0)) as gladia,
    ):
        await expect_error(
            gladia.download_audio(JOB_ID, tmp_path / "a.wav"), bound=1.0 + 2.0, kind=GladiaTimeout
        )
    assert not list(tmp_path.iterdir()), "no temp file left behind"


async def test_a_dripped_error_body_on_upload_does_not_hang() -> None:
    async def drip_error(request: Request, writer: asyncio.StreamWriter) -> None:
        await request.read_body()
        writer.write(b"HTTP/1.1 500 Oops\r\nContent-Length: 100000\r\n\r\n{")
        for _ in range(100000):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.05)

    async with (
        hostile(drip_error) as srv,
        _session(srv.url, retry=RetryPolicy(attempts=1), timeouts=Timeouts(read=1.0)) as gladia,
    ):
        await expect_error(gladia.upload(b"RIFF" + b"\0" * 1000), bound=1.0 + 2.0, kind=ServerError)


# -- size caps -------------------------------------------------------------------------------

CAP = 8 * 1024 * 1024


async def _endless_chunked(request: Request, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"a" * 65536
    while True:
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()


async def _length_lie(request: Request, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n")
    chunk = b"a" * 65536
    while True:
        writer.write(chunk)
        await writer.drain()


_BOMB: list[bytes] = []


def _bomb() -> bytes:
    """About 250 KB of gzip that inflates to 256 MiB: far past the cap + 32 MiB bound."""
    if not _BOMB:
        block = b"\0" * (1 << 20)
        packer = gzip.GzipFile(fileobj=(out := io.BytesIO()), mode="wb", compresslevel=6)
        for _ in range(256):
            packer.write(block)
        packer.close()
        _BOMB.append(out.getvalue())
    return _BOMB[0]


async def _gzip_bomb(request: Request, writer: asyncio.StreamWriter) -> None:
    writer.write(response(200, _bomb(), {"Content-Encoding": "gzip"}))
    await writer.drain()


@pytest.mark.parametrize("behaviour", [_endless_chunked, _length_lie, _gzip_bomb])
async def test_a_huge_body_stops_at_the_cap(
    behaviour: Callable[[Request, asyncio.StreamWriter], Awaitable[None]],
) -> None:
    async with (
        hostile(behaviour) as srv,
        _session(
            srv.url, retry=RetryPolicy(attempts=1), limits=Limits(max_response_bytes=CAP)
        ) as gladia,
    ):
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            await expect_error(gladia.get(JOB_ID), bound=20, kind=ResponseTooLargeError)
            peak = tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()
    assert peak < CAP + 32 * 1024 * 1024, f"peak growth {peak / 2**20:.0f} MiB"


# -- malformed HTTP and untyped errors -------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 2OO OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Nul: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        b"garbage\r\n\r\n",
    ],
    ids=["status-line", "huge-header", "nul-header", "bad-chunked", "garbage"],
)
async def test_malformed_http_is_a_typed_error_without_the_key(
    raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    async def send_raw(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(raw)
        await writer.drain()
        writer.close()

    caplog.set_level(logging.DEBUG)
    async with (
        hostile(send_raw) as srv,
        _session(srv.url, retry=RetryPolicy(attempts=2, backoff_initial=0.01)) as gladia,
    ):
        await expect_error(gladia.get(JOB_ID), bound=5, kind=TransportError)
    assert KEY not in caplog.text


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",
        "http://localhost:notaport",
        "ftp://host",
        "http://h:99999",
        "x",
        " ",
        "http://exa mple.com",
        "http://host/\r\nX-Evil: 1",
    ],
)
def test_a_malformed_base_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError):
        GladiaSession(api_key=KEY, base_url=url)


def test_a_base_url_ending_in_v2_is_normalised() -> None:
    gladia = GladiaSession(api_key=KEY, base_url="https://api.gladia.io/v2/")
    assert str(gladia.transport.url("/v2/upload")) == "https://api.gladia.io/v2/upload"


@pytest.mark.parametrize("key", ["abc def", "abc\r\nX-Evil: 1", "abc\x00", "clé"])
def test_a_key_that_cannot_travel_in_a_header_is_refused(key: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        GladiaSession(api_key=key, base_url="http://127.0.0.1:9")
    assert key not in str(caught.value)


@pytest.mark.parametrize(
    "kwargs",
    [{"filename": "a\r\nb.wav"}, {"content_type": "audio/wav\r\nX-Evil: 1"}, {"filename": " "}],
)
async def test_header_injection_in_upload_fields_is_refused_before_sending(
    kwargs: dict[str, str],
) -> None:
    async with hostile(never_answer) as srv, _session(srv.url) as gladia:
        with anyio.fail_after(5), pytest.raises(InvalidInput):
            await gladia.upload(b"RIFF0000", **kwargs)
        assert srv.requests == []


@pytest.mark.parametrize(
    "make",
    [
        lambda: Timeouts(read=float("nan")),
        lambda: Timeouts(connect=float("inf")),
        lambda: Timeouts(write=-1),
        lambda: Timeouts(pool=float("nan")),
        lambda: RetryPolicy(deadline=float("nan")),
        lambda: RetryPolicy(backoff_max=float("inf")),
        lambda: RetryPolicy(attempts=0),
        lambda: Limits(max_response_bytes=0),
    ],
)
def test_time_and_size_settings_reject_nan_inf_and_negatives(make: Callable[[], Any]) -> None:
    with pytest.raises(InvalidInput):
        make()


# -- the pool --------------------------------------------------------------------------------


async def test_waiting_for_a_pooled_connection_is_not_a_connect_timeout() -> None:
    async def slowish(request: Request, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.01)
        writer.write(response(200, job_json()))
        await writer.drain()

    async with (
        hostile(slowish) as srv,
        _session(
            srv.url,
            limits=Limits(max_connections=4),
            timeouts=Timeouts(connect=0.05),
            retry=RetryPolicy(attempts=3, backoff_initial=0.01),
        ) as gladia,
    ):
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for _ in range(300):
                    tg.start_soon(gladia.get, JOB_ID)
    assert len(srv.requests) == 300, "no spurious retries"


async def test_the_pool_timeout_is_its_own_error_and_never_retried() -> None:
    async def slow(request: Request, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(1.5)
        writer.write(response(200, job_json()))
        await writer.drain()

    async with (
        hostile(slow) as srv,
        _session(srv.url, limits=Limits(max_connections=1), timeouts=Timeouts(pool=0.2)) as gladia,
    ):
        async with anyio.create_task_group() as tg:
            tg.start_soon(gladia.get, JOB_ID)
            await anyio.sleep(0.1)
            await expect_error(gladia.get(JOB_ID), bound=0.2 + 0.5, kind=PoolTimeout)
        assert len(srv.requests) == 1


# -- TLS and causes --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_verification_refuses_a_self_signed_server(
    self_signed: tuple[Path, Path],
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*self_signed)
    hits: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hits.append("request")
        writer.write(response(200, job_json()))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        async with _session(f"https://127.0.0.1:{port}", retry=RetryPolicy(attempts=1)) as g:
            error = await expect_error(g.get(JOB_ID), bound=5, kind=ConnectionFailed)
        # The root cause shows (chained, scrubbed): a certificate failure.
        assert "certificate" in "".join(traceback.format_exception(error)).lower()
        assert hits == []
    finally:
        server.close()
        await server.wait_closed()


async def test_a_closed_session_refuses_calls_and_never_reopens() -> None:
    async def ok(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(response(200, job_json()))
        await writer.drain()

    async with hostile(ok) as srv:
        gladia = _session(srv.url)
        async with gladia:
            await gladia.get(JOB_ID)
        await expect_error(gladia.get(JOB_ID), bound=1, kind=SessionClosedError)
        assert gladia.transport.connector is None or gladia.transport.connector.closed
        assert len(srv.requests) == 1


def test_the_transport_holds_the_key_in_no_visible_attribute() -> None:
    gladia = GladiaSession(api_key=KEY, base_url="http://127.0.0.1:9")
    for obj in (gladia, gladia.transport):
        assert KEY not in repr(obj)
        assert KEY not in repr(vars(obj))


async def test_a_server_echoing_the_key_never_gets_it_into_an_error() -> None:
    async def echo(request: Request, writer: asyncio.StreamWriter) -> None:
        key = request.headers.get("x-gladia-key", "")
        body = b'{"message":"invalid key %s","validation_errors":["key %s"]}' % (
            key.encode(),
            key.encode(),
        )
        writer.write(response(401, body))
        await writer.drain()

    async with hostile(echo) as srv, _session(srv.url) as gladia:
        await expect_error(gladia.get(JOB_ID), bound=5)


async def test_a_deadline_shorter_than_the_request_timeout_still_bounds_the_call() -> None:
    retry = RetryPolicy(attempts=3, deadline=1.0)
    async with (
        hostile(never_answer) as srv,
        _session(srv.url, retry=retry, timeouts=Timeouts(request=30, read=30)) as gladia,
    ):
        await expect_error(gladia.get(JOB_ID), bound=1.0 + 0.5, kind=GladiaTimeout)
        assert len(srv.requests) == 1


def test_a_session_used_from_a_second_event_loop_says_so() -> None:
    async def ok(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(response(200, job_json()))
        await writer.drain()

    sessions: list[GladiaSession] = []

    async def first() -> None:
        async with hostile(ok) as srv:
            sessions.append(_session(srv.url))
            await sessions[0].get(JOB_ID)  # the pool now belongs to this loop

    async def second() -> BaseException:
        with pytest.raises(GladiaError) as caught:
            await sessions[0].get(JOB_ID)
        return caught.value

    asyncio.run(first())
    error = asyncio.run(second())
    assert_clean(error)
    assert isinstance(error, WrongEventLoopError)


def test_no_provoked_error_shows_the_key() -> None:
    # Runs last in this module (pytest keeps file order): every error above, once more.
    if len(PROVOKED) < 20:
        pytest.skip("checks the errors of the whole module; run the module, not one test")
    for exc in PROVOKED:
        assert isinstance(exc, GladiaError)
        assert KEY not in _render(exc)


_ = (aiohttp, AsyncIterator, ForeignURLError, ResponseFormatError)


async def test_structured_validation_errors_read_as_text() -> None:
    async def bad(request: Request, writer: asyncio.StreamWriter) -> None:
        await request.read_body()
        body = (
            b'{"message":"bad","validation_errors":["x should be y",'
            b'{"loc":["body","language"],"msg":"not a language"},3]}'
        )
        writer.write(response(400, body))
        await writer.drain()

    async with hostile(bad) as srv, _session(srv.url) as gladia:
        error = await expect_error(gladia.submit("https://example.com/a.wav"), bound=5)
    assert error.validation_errors == ("x should be y", "body.language: not a language", "3")  # type: ignore[attr-defined]


async def test_a_refused_connection_is_known_unsent_and_creates_no_doubt() -> None:
    # Nothing listens on the port: the request provably never left, so an idempotent
    # submission needs no token lookup and reports the connection failure itself.
    async with hostile(never_answer) as srv:
        url = srv.url
    async with _session(url, retry=RetryPolicy(attempts=2, backoff_initial=0.01)) as gladia:
        error = await expect_error(
            gladia.submit("https://example.com/a.wav", idempotency_token="t-1"),
            bound=3,
            kind=ConnectionFailed,
        )
    assert error.request_sent is False  # type: ignore[attr-defined]
