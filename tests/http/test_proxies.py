"""Proxies, extra headers and a user's connector: where requests go, and what they carry."""

from __future__ import annotations

import base64
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from gladia_async import ConnectionFailed, GladiaError, GladiaSession, InvalidInput, LiveOptions

from ..conftest import FAST_POLL, FAST_RETRY, write_wav
from ..hostile.forward_proxy import run_proxy

with tempfile.TemporaryDirectory() as _tmp:
    WAV = write_wav(Path(_tmp) / "a.wav", seconds=0.2).read_bytes()

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "WS_PROXY", "WSS_PROXY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    yield


def session(emu: object, **kwargs: object) -> GladiaSession:
    return GladiaSession(
        api_key=emu.api_key,  # type: ignore[attr-defined]
        base_url=emu.url,  # type: ignore[attr-defined]
        poll=FAST_POLL,
        retry=FAST_RETRY,
        **kwargs,  # type: ignore[arg-type]
    )


def chain_text(exc: BaseException) -> str:
    """Everything an exception shows: message, repr, attributes, and its whole chain."""
    parts = []
    seen: BaseException | None = exc
    while seen is not None:
        parts.append("".join(traceback.format_exception_only(type(seen), seen)))
        parts.append(repr(seen) + repr(getattr(seen, "__dict__", {})) + repr(seen.args))
        seen = seen.__cause__ or seen.__context__
    return "".join(parts)


#: A name only the test's proxy resolves (to the emulator); direct, it fails to resolve.
BEHIND = "gladia-emulator.invalid"


def behind_proxy(emu: object, **kwargs: object) -> GladiaSession:
    """A session whose API host is reachable only through the proxy."""
    port = URL(emu.url).port  # type: ignore[attr-defined]
    return GladiaSession(
        api_key=emu.api_key,  # type: ignore[attr-defined]
        base_url=f"http://{BEHIND}:{port}",
        poll=FAST_POLL,
        retry=FAST_RETRY,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_a_default_session_sends_through_HTTP_PROXY(
    emu: object, wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with run_proxy(hosts={BEHIND: "127.0.0.1"}) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        async with behind_proxy(emu) as gladia:
            job = await gladia.transcribe(wav)
    assert job.status == "done"
    seen = [(r.method, URL(r.target).path) for r in proxy.requests]
    assert ("POST", "/v2/upload") in seen and ("POST", "/v2/pre-recorded") in seen
    # Every request the emulator answered came through the proxy.
    assert len(proxy.requests) == len(emu.requests)  # type: ignore[attr-defined]


@pytest.mark.parametrize("setting", ["trust_env=False", "NO_PROXY"])
async def test_the_environment_can_be_ignored(
    setting: str, emu: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with run_proxy(hosts={BEHIND: "127.0.0.1"}) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        if setting == "NO_PROXY":
            monkeypatch.setenv("NO_PROXY", f"example.com,{BEHIND}")
        trust_env = setting != "trust_env=False"
        async with behind_proxy(emu, trust_env=trust_env) as gladia:
            with pytest.raises(ConnectionFailed):  # direct: the name does not resolve
                await gladia.upload(WAV, filename="a.wav")
    assert proxy.requests == []


async def test_a_local_emulator_is_never_sent_to_the_environments_proxy(
    emu: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with run_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        async with session(emu) as gladia:  # http://127.0.0.1:port
            await gladia.upload(WAV, filename="a.wav")
    assert proxy.requests == []
    assert len(emu.requests) == 1  # type: ignore[attr-defined]


async def test_explicit_proxy_works_without_the_environment_and_hides_its_password(
    emu: object,
) -> None:
    token = base64.b64encode(b"corp-user:pr0xy-PASSWORD").decode()
    async with run_proxy(require_auth=f"Basic {token}") as proxy:
        proxy_url = proxy.url.replace("http://", "http://corp-user:pr0xy-PASSWORD@")
        async with session(emu, proxy=proxy_url) as gladia:
            uploaded = await gladia.upload(WAV, filename="a.wav")
            shown = repr(gladia) + repr(gladia.transport) + str(gladia.transport.proxy)
    assert uploaded.audio_url
    assert [URL(r.target).path for r in proxy.requests] == ["/v2/upload"]
    assert "pr0xy-PASSWORD" not in shown


@pytest.mark.reliability
async def test_a_refusing_proxy_is_a_typed_error_without_its_credentials(emu: object) -> None:
    token = base64.b64encode(b"corp-user:pr0xy-PASSWORD").decode()
    async with run_proxy(require_auth="Basic other") as proxy:
        proxy_url = proxy.url.replace("http://", "http://corp-user:pr0xy-PASSWORD@")
        async with session(emu, proxy=proxy_url) as gladia:
            with pytest.raises(GladiaError) as caught:
                await gladia.upload(WAV, filename="a.wav")
    assert "pr0xy-PASSWORD" not in chain_text(caught.value)
    assert token not in chain_text(caught.value)
    assert emu.api_key not in chain_text(caught.value)  # type: ignore[attr-defined]


@pytest.mark.reliability
async def test_an_unreachable_proxy_is_a_typed_error_without_its_credentials(
    emu: object,
) -> None:
    async with run_proxy() as proxy:
        dead = proxy.url  # closed when the block ends: nothing listens there afterwards
    async with session(emu, proxy=dead.replace("http://", "http://u:pr0xy-PASSWORD@")) as gladia:
        with pytest.raises(ConnectionFailed) as caught:
            await gladia.upload(WAV, filename="a.wav")
    assert "proxy" in str(caught.value)
    assert "pr0xy-PASSWORD" not in chain_text(caught.value)
    assert base64.b64encode(b"u:pr0xy-PASSWORD").decode() not in chain_text(caught.value)


@pytest.mark.reliability
@pytest.mark.parametrize("via", ["proxy=", "HTTPS_PROXY"])
async def test_an_https_api_gets_a_connect_tunnel_only(
    via: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-tunnel-SECRET-0123456789"
    async with run_proxy(connect_status=403) as proxy:
        if via == "HTTPS_PROXY":
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        async with GladiaSession(
            api_key=key,
            base_url="https://api.gladia.test",
            proxy=proxy.url if via == "proxy=" else None,
            retry=FAST_RETRY,
        ) as gladia:
            with pytest.raises(ConnectionFailed) as caught:
                await gladia.get("45463597-20b7-4af7-b3b3-f5fb778203ab")
    assert {(r.method, r.target) for r in proxy.requests} == {("CONNECT", "api.gladia.test:443")}
    assert key.encode() not in proxy.received
    assert "refused" in str(caught.value) and key not in chain_text(caught.value)


async def test_headers_reach_the_api_and_not_other_hosts(emu: object) -> None:
    async with run_proxy(answers={"files.example.test": b"elsewhere"}) as proxy:
        async with session(emu, proxy=proxy.url, headers={"X-Team": "speech"}) as gladia:
            await gladia.upload(WAV, filename="a.wav")
            transport = gladia.transport
            async with transport.stream(
                "GET", URL("http://files.example.test/a.wav"), retry="always"
            ) as response:
                assert await response.read() == b"elsewhere"
    api, other = proxy.requests
    recorded = emu.requests[-1].headers  # type: ignore[attr-defined]
    assert recorded["X-Team"] == "speech"
    assert recorded["x-gladia-key"] == emu.api_key  # type: ignore[attr-defined]
    assert api.headers["x-team"] == "speech"
    assert URL(other.target).host == "files.example.test"
    assert "x-team" not in other.headers and "x-gladia-key" not in other.headers


@pytest.mark.parametrize("name", ["x-gladia-key", "X-Gladia-Key", "X-GLADIA-KEY"])
def test_a_header_named_like_the_key_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="API key header"):
        GladiaSession(api_key="k", headers={name: "stolen"})


@pytest.mark.parametrize(
    "headers", [{"X-A": "1\r\nX-Injected: 1"}, {"Bad Name": "1"}, {"X-A": 1}, ["X-A"]]
)
def test_malformed_headers_are_refused(headers: object) -> None:
    with pytest.raises(InvalidInput):
        GladiaSession(api_key="k", headers=headers)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "proxy", ["", "socks5://u:s3cr3t@h:1", "u:s3cr3t@proxy", "http://u:s3cr3t@h:0", 3128]
)
def test_a_malformed_proxy_is_refused_without_echoing_it(proxy: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        GladiaSession(api_key="k", proxy=proxy)  # type: ignore[arg-type]
    assert "s3cr3t" not in chain_text(caught.value)


async def test_a_users_connector_is_used_and_left_open(emu: object) -> None:
    connector = aiohttp.TCPConnector(limit=3)
    try:
        async with session(emu, connector=connector) as gladia:
            await gladia.upload(WAV, filename="a.wav")
            assert gladia.transport.connector is connector
        assert not connector.closed
    finally:
        await connector.close()


def test_a_connector_must_be_an_aiohttp_connector() -> None:
    with pytest.raises(InvalidInput, match="BaseConnector"):
        GladiaSession(api_key="k", connector=object())  # type: ignore[arg-type]


async def test_live_sessions_follow_the_proxy(emu: object) -> None:
    pcm = LiveOptions(encoding="wav/pcm", sample_rate=16_000, bit_depth=16, channels=1)
    async with run_proxy() as proxy:
        async with session(emu, proxy=proxy.url, headers={"X-Team": "speech"}) as gladia:
            async with gladia.live(pcm) as live:
                await live.send(b"\0" * 3200)
    seen = [(r.method, URL(r.target).path, "upgrade" in r.headers) for r in proxy.requests]
    assert ("POST", "/v2/live", False) in seen
    (socket,) = [r for r in proxy.requests if "upgrade" in r.headers]  # through it too
    assert socket.headers["x-team"] == "speech"  # the API's socket gets the headers...
    assert "x-gladia-key" not in socket.headers  # ...but its URL's token, not the key


@pytest.mark.reliability
def test_a_connect_error_holding_proxy_credentials_is_replaced_in_the_chain() -> None:
    # aiohttp before 3.10 kept the proxy's BasicAuth in the connection key its errors carry.
    from types import SimpleNamespace

    from gladia_async._http.secrets import Secret, chain_cause

    key = SimpleNamespace(host="proxy", port=3128, ssl=True, proxy_auth=("u", "pr0xy-PASSWORD"))
    cause = aiohttp.ClientProxyConnectionError(key, OSError(111, "refused"))  # type: ignore[arg-type]
    error = ConnectionFailed("could not connect to the proxy")
    chain_cause(error, cause, Secret("sk-unused-0123456789"))
    assert error.__cause__ is not None and "ClientProxyConnectionError" in str(error.__cause__)
    assert "pr0xy-PASSWORD" not in chain_text(error)
