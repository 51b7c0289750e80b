"""Live sessions against hostile servers (tests/hostile/live_server.py, not the emulator).

Each promise of the live guide has a bound that fails when the promise breaks: a typed error
(never an ExceptionGroup or a KeyError), memory, attempts, time, bytes reported. The servers
acknowledge whole chunks or nothing, so no assertion depends on how a byte range's end is read.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import anyio
import orjson
import pytest
from aiohttp import WSMsgType, web

from gladia_async import (
    AudioChunkAckMessage,
    ConnectionFailed,
    GladiaError,
    GladiaSession,
    GladiaTimeout,
    LiveOptions,
    LiveSessionError,
    ReconnectPolicy,
    ResponseFormatError,
    RetryPolicy,
    Timeouts,
    TranscriptMessage,
)
from gladia_async.models import MessagesConfig

from ..hostile.live_server import (
    KEY,
    LiveServer,
    end_session,
    live_server,
    read_until_stop,
    transcript,
)

pytestmark = pytest.mark.reliability

PCM = LiveOptions(encoding="wav/pcm", sample_rate=16_000, bit_depth=16, channels=1)
CHUNK = 3200  # 0.1 s of 16 kHz 16-bit PCM
MB = 1 << 20


def session(srv: LiveServer, **kwargs: Any) -> GladiaSession:
    return GladiaSession(api_key=KEY, base_url=srv.url, **kwargs)


def assert_typed_and_keyless(error: BaseException) -> None:
    assert isinstance(error, GladiaError), repr(error)
    seen: BaseException | None = error
    while seen is not None:
        assert KEY not in repr(seen) + str(seen) + repr(vars(seen))
        seen = seen.__cause__ or seen.__context__


# -- 1. an acknowledgement of the wrong shape ------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"byte_range": {"0": 0, "1": CHUNK - 1}},  # the observed one: KeyError before
        {"byte_range": {"start": 0, "end": CHUNK}},
        {"byte_range": "0-3199"},
        {"byte_range": [0]},
        {"byte_range": [0, "3199"]},
        {"byte_range": [CHUNK, 0]},
        {"byte_range": [True, CHUNK]},
        {"byte_range": [-5, CHUNK]},
        {"byte_range": [0.5, CHUNK]},
        "byte_range",
        [0, CHUNK],
    ],
)
@pytest.mark.parametrize("delivered", [False, True])
async def test_an_ack_of_the_wrong_shape_is_a_typed_error(data: Any, delivered: bool) -> None:
    async def behaviour(ws: web.WebSocketResponse, srv: LiveServer) -> None:
        msg = await ws.receive()
        assert msg.type is WSMsgType.BINARY
        ack = {"type": "audio_chunk", "acknowledged": True, "error": None, "data": data}
        await ws.send_str(orjson.dumps(ack).decode())
        if await read_until_stop(ws, srv):
            await end_session(ws)  # a server that otherwise ends well

    options = PCM
    if delivered:  # the acknowledgement also goes to the user's loop: the parsing path
        options = LiveOptions(
            encoding="wav/pcm",
            sample_rate=16_000,
            messages_config=MessagesConfig(receive_acknowledgments=True),
        )
    async with live_server(behaviour) as srv, session(srv) as gladia:
        with anyio.fail_after(10), pytest.raises(ResponseFormatError, match="byte_range") as caught:
            async with gladia.live(options) as live:
                await live.send(bytes(CHUNK))
    assert_typed_and_keyless(caught.value)


# -- 2. unread messages bounded in bytes -----------------------------------------------------


async def test_unread_messages_are_bounded_in_bytes_and_drain_losslessly() -> None:
    count, size = 300, MB
    text = "x" * size

    async def behaviour(ws: web.WebSocketResponse, srv: LiveServer) -> None:
        for n in range(count):
            await ws.send_str(transcript(n, text))  # waits while the client does not read
            srv.sent += 1
        if await read_until_stop(ws, srv):
            await end_session(ws)

    async with live_server(behaviour) as srv, session(srv) as gladia:
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            with anyio.fail_after(60):
                async with gladia.live(PCM, max_buffered_bytes=16 * MB) as live:
                    # Nobody reads: watch until the server has sent everything, or has
                    # been held back for a second (back-pressure reached the socket).
                    last, still = -1, 0.0
                    while srv.sent < count and still < 1.0:
                        await anyio.sleep(0.05)
                        still = still + 0.05 if srv.sent == last else 0.0
                        last = srv.sent
                    held = tracemalloc.get_traced_memory()[1] - base
                    buffered = live._inbox.buffered_bytes
                    await live.stop_recording()
                    ids = [
                        m.data.id
                        async for m in live
                        if isinstance(m, TranscriptMessage) and m.data is not None
                    ]
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    assert buffered <= 16 * MB + size  # the bound, plus the one message that crossed it
    assert srv.sent < count or held < 100 * MB  # the server was held back...
    assert held < 100 * MB, f"{held / MB:.0f} MB held by {count} unread 1 MB messages"
    assert peak < 100 * MB, f"peak {peak / MB:.0f} MB"
    assert ids == [f"u{n}" for n in range(count)]  # ...and nothing was lost


async def test_a_flood_after_stop_stays_bounded_and_is_counted() -> None:
    count, size = 300, MB
    text = "y" * size

    async def behaviour(ws: web.WebSocketResponse, srv: LiveServer) -> None:
        if not await read_until_stop(ws, srv):
            return
        for n in range(count):
            await ws.send_str(transcript(n, text))
            srv.sent += 1
        await end_session(ws)

    async with live_server(behaviour) as srv, session(srv) as gladia:
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            with anyio.fail_after(60):
                async with gladia.live(PCM, max_buffered_bytes=16 * MB) as live:
                    pass  # leaving the block: stop_recording, then the flood, nobody reading
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    assert srv.sent == count
    assert peak < 100 * MB, f"peak {peak / MB:.0f} MB for a {count} MB flood after stop"
    assert live.result is not None  # the session still saw what it needs: its result
    assert live.dropped_messages > 0  # what could not be kept is counted, not silent
    assert live.dropped_messages <= count


async def test_bad_max_buffered_bytes_is_rejected() -> None:
    from gladia_async import InvalidInput

    async with GladiaSession(api_key=KEY, base_url="http://127.0.0.1:9") as gladia:
        for bad in (0, -1, 1.5, True, "10"):
            with pytest.raises(InvalidInput, match="max_buffered_bytes"):
                gladia.live(PCM, max_buffered_bytes=bad)  # type: ignore[arg-type]


# -- 3. reconnecting without progress --------------------------------------------------------


async def test_a_server_that_sends_one_message_and_drops_is_given_up_on() -> None:
    async def behaviour(ws: web.WebSocketResponse, srv: LiveServer) -> None:
        await ws.send_str(transcript(len(srv.handshakes)))  # a message, but no acknowledgement
        await ws.close(code=1011)

    attempts = 5
    policy = ReconnectPolicy(attempts=attempts, backoff_initial=0.05, backoff_max=1.0)
    async with live_server(behaviour) as srv, session(srv) as gladia:
        started = time.monotonic()
        with anyio.fail_after(20), pytest.raises(ConnectionFailed, match="without progress") as e:
            async with gladia.live(PCM, reconnect=policy) as live:
                await live.send(bytes(CHUNK))
                async for _ in live:
                    pass
        elapsed = time.monotonic() - started
    assert_typed_and_keyless(e.value)
    assert len(srv.handshakes) == attempts  # the first connection, then attempts-1 more
    # Bounded time: the waits sum to at most 0.05 * (2 + 4 + 8 + 16) = 1.5 s, plus handshakes.
    assert elapsed < 8
    gaps = [b - a for a, b in zip(srv.handshakes, srv.handshakes[1:], strict=False)]
    # The wait grows: the last one is at least half of 0.05 * 2**4, whatever the jitter
    # (without growth every wait would be at most 0.1 s).
    assert gaps[-1] >= 0.4, gaps
    assert gaps[-1] > gaps[0]


async def test_acknowledged_audio_is_progress_and_keeps_the_session_going() -> None:
    async def behaviour(ws: web.WebSocketResponse, srv: LiveServer) -> None:
        # Acknowledge everything received so far (whole chunks), then drop: progress each time
        # while there is new audio. After stop_recording, end the session well.
        async for msg in ws:
            if msg.type is WSMsgType.BINARY:
                start = srv.audio_bytes
                srv.audio_bytes += len(msg.data)
                ack = {
                    "type": "audio_chunk",
                    "acknowledged": True,
                    "data": {"byte_range": [start, srv.audio_bytes]},  # half-open, as Gladia
                }
                await ws.send_str(orjson.dumps(ack).decode())
                await ws.close(code=1011)
                return
            if msg.type is WSMsgType.TEXT and b"stop_recording" in msg.data.encode():
                await end_session(ws)
                return

    options = LiveOptions(
        encoding="wav/pcm",
        sample_rate=16_000,
        messages_config=MessagesConfig(receive_acknowledgments=True),
    )
    policy = ReconnectPolicy(attempts=2, backoff_initial=0.001, backoff_max=0.01)
    async with live_server(behaviour) as srv, session(srv) as gladia:
        with anyio.fail_after(20):
            async with gladia.live(options, reconnect=policy) as live:
                for _ in range(6):  # six drops, more than `attempts`, each after progress
                    await live.send(bytes(CHUNK))
                    async for message in live:
                        if isinstance(message, AudioChunkAckMessage):
                            break
    assert live.result is not None
    assert len(srv.handshakes) >= 6  # more connections than `attempts`: progress resets it


# -- 4. the handshake counts against the call's deadline -------------------------------------


async def test_a_handshake_that_never_answers_ends_at_the_deadline() -> None:
    async def silent(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await anyio.sleep_forever()  # accepts, reads nothing, answers nothing

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    deadline = 2.0

    async def unused(ws: web.WebSocketResponse, srv: LiveServer) -> None:
        raise AssertionError("the socket URL points at the silent listener")

    socket_url = f"ws://127.0.0.1:{port}/socket?token=t0k3n"
    async with (
        listener,
        anyio.create_task_group() as tg,
        live_server(unused, socket_url=socket_url) as srv,
        session(
            srv, timeouts=Timeouts(connect=1.0, read=1.0), retry=RetryPolicy(deadline=deadline)
        ) as gladia,
    ):
        tg.start_soon(listener.serve, silent)
        started = time.monotonic()
        # 8 attempts of connect + read (2 s each) would take 16 s and more.
        with anyio.fail_after(30), pytest.raises(GladiaTimeout, match="deadline") as caught:
            async with gladia.live(PCM):
                pass
        elapsed = time.monotonic() - started
        tg.cancel_scope.cancel()
    assert elapsed < deadline + 1.5, f"{elapsed:.1f}s against a {deadline:g}s deadline"
    assert_typed_and_keyless(caught.value)


async def test_a_reconnection_whose_handshake_never_answers_ends_at_the_deadline() -> None:
    async def behaviour(ws: web.WebSocketResponse, srv: LiveServer) -> None:
        await ws.receive()
        await ws.close(code=1011)  # drop; every later handshake is left unanswered

    deadline = 2.0
    async with (
        live_server(behaviour) as srv,
        session(
            srv, timeouts=Timeouts(connect=1.0, read=1.0), retry=RetryPolicy(deadline=deadline)
        ) as gladia,
    ):
        srv.answer_handshakes = 1
        with anyio.fail_after(30), pytest.raises(GladiaTimeout, match="deadline") as caught:
            async with gladia.live(PCM) as live:
                await live.send(bytes(CHUNK))
                started = time.monotonic()
                async for _ in live:
                    pass
        elapsed = time.monotonic() - started
    assert elapsed < deadline + 1.5, f"{elapsed:.1f}s against a {deadline:g}s deadline"
    assert_typed_and_keyless(caught.value)


# -- 5. unacknowledged audio at a normal close -----------------------------------------------


async def test_a_1000_close_with_audio_unacknowledged_is_reported() -> None:
    total = 100 * CHUNK

    async def behaviour(ws: web.WebSocketResponse, srv: LiveServer) -> None:
        async for msg in ws:
            if msg.type is not WSMsgType.BINARY:
                continue
            start = srv.audio_bytes
            srv.audio_bytes += len(msg.data)
            if start == 0:  # acknowledge the first chunk only, whole
                ack = {
                    "type": "audio_chunk",
                    "acknowledged": True,
                    "data": {"byte_range": [0, len(msg.data)]},
                }
                await ws.send_str(orjson.dumps(ack).decode())
            if srv.audio_bytes >= 25 * CHUNK:
                await ws.close(code=1000)  # "normal", with audio it never acknowledged
                return

    async with live_server(behaviour) as srv, session(srv) as gladia:
        with anyio.fail_after(20), pytest.raises(LiveSessionError, match="never acknowledged") as e:
            async with gladia.live(PCM) as live:
                for _ in range(total // CHUNK):  # a producer at full speed
                    await live.send(bytes(CHUNK))
    assert_typed_and_keyless(e.value)
    lost = e.value.unacknowledged_bytes
    assert lost is not None and lost > 0
    assert lost == live.unacknowledged_bytes == live.sent_bytes - live.acknowledged_bytes
    assert live.acknowledged_bytes < srv.audio_bytes  # the server did drop audio it had
