"""The transport's WebSocket method: typed errors, the origin rule, and no key on the socket."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import pytest
from aiohttp import web

from gladia_async import (
    ConnectionFailed,
    ForeignURLError,
    GladiaSession,
    GladiaTimeout,
    LiveOptions,
    ResponseFormatError,
    ServerError,
    SessionClosedError,
    Timeouts,
)
from gladia_async._http.transport import Transport

PCM = LiveOptions(encoding="wav/pcm", sample_rate=16_000, bit_depth=16, channels=1)


def transport_of(gladia: GladiaSession) -> Transport:
    return gladia._transport


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Recorder:
    """A WebSocket server that records every handshake's headers (and can refuse them)."""

    def __init__(self, status: int = 101) -> None:
        self.status = status
        self.handshakes: list[dict[str, str]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.handshakes.append(dict(request.headers))
        if self.status != 101:
            return web.json_response({"message": "broken"}, status=self.status)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.close()
        return ws


@pytest.fixture
async def recorder() -> AsyncIterator[Callable[[int], Awaitable[Recorder]]]:
    runners: list[web.AppRunner] = []

    async def start(status: int = 101) -> Recorder:
        rec = Recorder(status)
        app = web.Application()
        app.router.add_get("/{tail:.*}", rec.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        rec.url = f"ws://127.0.0.1:{port}/socket?token=t0k3n"
        return rec

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_a_refused_port_is_connection_failed(gladia: GladiaSession) -> None:
    with pytest.raises(ConnectionFailed):
        await transport_of(gladia).ws_connect(f"ws://127.0.0.1:{free_port()}/v2/live?token=x")


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:1/v2/live", "ws:///v2/live", "ws://127.0.0.1:99999/x", "live?token=x", ""],
)
async def test_a_bad_url_is_a_response_format_error(gladia: GladiaSession, url: str) -> None:
    with pytest.raises(ResponseFormatError):
        await transport_of(gladia).ws_connect(url)


async def test_a_handshake_answered_with_500_is_a_server_error(
    gladia: GladiaSession, recorder: Callable[[int], Awaitable[Recorder]]
) -> None:
    rec = await recorder(500)
    with pytest.raises(ServerError) as caught:
        await transport_of(gladia).ws_connect(rec.url)
    assert caught.value.status == 500
    assert rec.handshakes  # the server did see the attempt


async def test_a_handshake_answered_with_200_is_a_response_format_error(
    gladia: GladiaSession, recorder: Callable[[int], Awaitable[Recorder]]
) -> None:
    rec = await recorder(200)
    with pytest.raises(ResponseFormatError):
        await transport_of(gladia).ws_connect(rec.url)


@pytest.mark.parametrize("answer", [b"garbage\r\n\r\n", b"HTTP/1.1 xyz\r\n\x00\x01\r\n\r\n", b""])
async def test_a_handshake_answered_with_garbage_is_typed(
    gladia: GladiaSession, answer: bytes
) -> None:
    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()
            if answer:
                await stream.send(answer)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        with pytest.raises((ResponseFormatError, ConnectionFailed)):
            await transport_of(gladia).ws_connect(f"ws://127.0.0.1:{port}/x?token=y")
        tg.cancel_scope.cancel()


async def test_a_silent_server_times_out_at_connect_plus_read(emu: object) -> None:
    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await anyio.sleep_forever()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with (
        GladiaSession(
            api_key=emu.api_key,  # type: ignore[attr-defined]
            base_url=emu.url,  # type: ignore[attr-defined]
            timeouts=Timeouts(connect=0.2, read=0.2),
        ) as gladia,
        listener,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(listener.serve, serve)
        with anyio.fail_after(5):  # generous, but far below aiohttp's own 300 s default
            with pytest.raises(GladiaTimeout):
                await transport_of(gladia).ws_connect(f"ws://127.0.0.1:{port}/x?token=y")
        tg.cancel_scope.cancel()


async def test_a_closed_session_refuses_to_open_a_socket(emu: object) -> None:
    async with GladiaSession(api_key=emu.api_key, base_url=emu.url) as gladia:  # type: ignore[attr-defined]
        pass
    with pytest.raises(SessionClosedError):
        await transport_of(gladia).ws_connect("ws://127.0.0.1:1/v2/live?token=x")


async def test_the_key_goes_only_with_authenticate_and_only_to_the_api_origin(
    recorder: Callable[[int], Awaitable[Recorder]], emu: object
) -> None:
    rec = await recorder(101)
    api_key: str = emu.api_key  # type: ignore[attr-defined]
    http_twin = rec.url.replace("ws://", "http://").split("/socket")[0]
    # The recorder as the API origin: ws:// on an http:// base URL's host counts as the origin.
    async with GladiaSession(api_key=api_key, base_url=http_twin) as gladia:
        ws = await transport_of(gladia).ws_connect(rec.url)  # a token URL: no key
        await ws.close()
        ws = await transport_of(gladia).ws_connect(rec.url, authenticate=True)
        await ws.close()
    assert [api_key in h.values() for h in rec.handshakes] == [False, True]
    # Elsewhere the key is refused before any connection.
    async with GladiaSession(api_key=api_key, base_url=emu.url) as gladia:  # type: ignore[attr-defined]
        with pytest.raises(ForeignURLError):
            await transport_of(gladia).ws_connect(rec.url, authenticate=True)
        ws = await transport_of(gladia).ws_connect(rec.url)
        await ws.close()
    assert len(rec.handshakes) == 3
    assert not any(api_key in "".join(h.values()) for h in rec.handshakes[2:])


async def test_a_token_url_on_another_host_works_without_the_key(emu: object) -> None:
    port = emu.url.rsplit(":", 1)[1]  # type: ignore[attr-defined]
    # The API is reached as localhost; its token URL names 127.0.0.1: another origin.
    emu.emulator.public_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    async with GladiaSession(
        api_key=emu.api_key,  # type: ignore[attr-defined]
        base_url=f"http://localhost:{port}",
    ) as gladia:
        async with gladia.live(PCM) as live:
            await live.send(bytes(6400))
        assert live.result is not None
    sockets = [r for r in emu.requests if "token=" in r.query_string]  # type: ignore[attr-defined]
    assert sockets
    for request in sockets:
        assert not any(k.lower() == "x-gladia-key" for k in request.headers)
        assert emu.api_key not in "".join(request.headers.values())  # type: ignore[attr-defined]


async def test_a_live_socket_refused_with_500_fails_typed_after_the_retries(
    gladia: GladiaSession, emu: object, recorder: Callable[[int], Awaitable[Recorder]]
) -> None:
    from gladia_async import ReconnectPolicy

    rec = await recorder(500)
    emu.emulator.public_url = rec.url.split("/socket")[0].replace("ws://", "http://")  # type: ignore[attr-defined]
    # The token URL now points at a server that answers 500: every attempt fails, typed.
    with pytest.raises(ConnectionFailed) as caught:
        async with gladia.live(
            PCM, reconnect=ReconnectPolicy(attempts=3, backoff_initial=0.001, backoff_max=0.01)
        ):
            pass
    assert "500" in str(caught.value)
    assert len(rec.handshakes) == 3  # one per attempt, then a typed error


async def test_a_failed_authenticated_handshake_carries_no_key_in_its_causes(
    recorder: Callable[[int], Awaitable[Recorder]], emu: object
) -> None:
    rec = await recorder(500)
    api_key: str = emu.api_key  # type: ignore[attr-defined]
    http_twin = rec.url.replace("ws://", "http://").split("/socket")[0]
    async with GladiaSession(api_key=api_key, base_url=http_twin) as gladia:
        with pytest.raises(ServerError) as caught:
            await transport_of(gladia).ws_connect(rec.url, authenticate=True)
    assert api_key in "".join(rec.handshakes[0].values())  # it was sent, to the API origin
    error: BaseException | None = caught.value
    while error is not None:
        text = repr(error) + str(error) + repr(vars(error)) + repr(error.args)
        assert api_key not in text
        assert error.__traceback__ is None or error is caught.value
        error = error.__cause__ or error.__context__
