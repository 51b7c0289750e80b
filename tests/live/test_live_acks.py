"""Live acknowledgements are half-open ``[start, end)``, as Gladia and its own clients read them."""

from __future__ import annotations

import random

import aiohttp
import anyio
import pytest

from gladia_async import GladiaSession, LiveOptions
from gladia_async.live import ReconnectPolicy, acked_end
from tests.hostile.half_open_live import half_open_live_server

PCM = LiveOptions(encoding="wav/pcm", sample_rate=16_000, bit_depth=16, channels=1)
FAST_RECONNECT = ReconnectPolicy(attempts=5, backoff_initial=0.01, backoff_max=0.05)


def test_acked_end_is_the_offset_just_past_the_range() -> None:
    assert acked_end([1024, 2048]) == 2048  # Gladia's docs: a 1,024-byte chunk
    assert acked_end([0, 4096]) == 4096
    assert acked_end([32_000, 32_000]) == 32_000  # an empty chunk (a keepalive)


@pytest.mark.reliability
async def test_resume_after_drops_keeps_the_audio_byte_for_byte_on_a_half_open_server() -> None:
    sent = random.Random(21).randbytes(192_000)  # 6 s of 16-bit PCM, every byte distinct-ish
    # Mid-stream, off the frame boundaries (frames of 3,200 bytes).
    drops = [20_001, 70_555, 123_457, 170_003]
    with anyio.fail_after(30):
        async with half_open_live_server(drops) as server:
            async with GladiaSession(api_key="sk-test", base_url=server.url) as gladia:
                async with gladia.live(PCM, reconnect=FAST_RECONNECT) as live:
                    await live.send_from(sent[i : i + 3200] for i in range(0, len(sent), 3200))
    assert server.drops == len(drops) and server.connections == len(drops) + 1
    assert live.reconnections == len(drops)
    assert len(server.kept) == len(sent)
    assert bytes(server.kept) == sent  # no byte skipped, none duplicated
    assert live.acknowledged_bytes == len(sent)


async def test_the_emulator_acknowledges_half_open_and_an_empty_chunk_as_n_n(emu: object) -> None:
    url = emu.url  # type: ignore[attr-defined]
    headers = {"x-gladia-key": emu.api_key}  # type: ignore[attr-defined]
    body = {
        "encoding": "wav/pcm",
        "sample_rate": 16_000,
        "messages_config": {"receive_acknowledgments": True},
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/v2/live", json=body, headers=headers) as response:
            assert response.status == 201
            session = await response.json()
        async with http.ws_connect(session["url"]) as ws:
            await ws.send_bytes(bytes(32_000))
            await ws.send_str('{"type": "audio_chunk", "data": {"chunk": ""}}')  # keepalive
            await ws.send_bytes(bytes(1024))
            ranges = []
            with anyio.fail_after(10):
                while len(ranges) < 3:
                    message = await ws.receive_json()
                    if message["type"] == "audio_chunk":
                        assert message["acknowledged"] is True
                        ranges.append(message["data"]["byte_range"])
    assert ranges == [[0, 32_000], [32_000, 32_000], [32_000, 33_024]]
