"""Live sessions opened the way Gladia's integrators open them, and the live ``error`` message."""

from __future__ import annotations

import base64
import json

import aiohttp
import anyio

from gladia_async import GladiaSession, LiveOptions
from gladia_async.live import LiveErrorDetail, LiveErrorMessage, UnknownMessage
from gladia_async.models import RealtimeProcessingConfig

SECOND = 32_000  # 16 kHz, 16-bit, mono

# livekit-plugins-gladia's `_build_streaming_config` with its defaults (livekit/agents,
# livekit-plugins/livekit-plugins-gladia/livekit/plugins/gladia/stt.py); `region` goes to the
# query string before the POST, as the plugin's `_init_live_session` does.
LIVEKIT_BODY = {
    "encoding": "wav/pcm",
    "sample_rate": 16_000,
    "model": "solaria-1",
    "endpointing": 0.05,
    "maximum_duration_without_endpointing": 5,
    "bit_depth": 16,
    "channels": 1,
    "language_config": {"languages": [], "code_switching": True},
    "realtime_processing": {"words_accurate_timestamps": False},
    "messages_config": {"receive_partial_transcripts": True, "receive_final_transcripts": True},
    "custom_metadata": {"livekit": "1.2.0"},
    "pre_processing": {"audio_enhancer": False, "speech_threshold": 0.6},
}


async def test_a_session_opened_as_livekit_opens_it_starts_streams_and_ends(emu: object) -> None:
    url = emu.url  # type: ignore[attr-defined]
    headers = {"X-Gladia-Key": emu.api_key}  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{url}/v2/live?region=eu-west", json=LIVEKIT_BODY, headers=headers
        ) as response:
            assert response.status in (200, 201), await response.text()
            session = await response.json()
        finals: list[str] = []
        types: list[str] = []
        with anyio.fail_after(20):
            async with http.ws_connect(session["url"]) as ws:
                audio = bytes(3 * SECOND)
                step = SECOND // 10  # the plugin's 100 ms frames, as base64 JSON
                for i in range(0, len(audio), step):
                    chunk = base64.b64encode(audio[i : i + step]).decode()
                    await ws.send_str(json.dumps({"type": "audio_chunk", "data": {"chunk": chunk}}))
                await ws.send_str(json.dumps({"type": "stop_recording"}))
                async for msg in ws:
                    assert msg.type is aiohttp.WSMsgType.TEXT
                    data = json.loads(msg.data)
                    types.append(data["type"])
                    assert data["type"] != "error", data
                    if data["type"] == "transcript" and data["data"]["is_final"]:
                        finals.append(data["data"]["utterance"]["text"])
                    if data["type"] == "post_final_transcript":
                        break
        async with http.get(f"{url}/v2/live/{session['id']}", headers=headers) as response:
            job = await response.json()
    assert finals  # it streamed: final transcripts arrived
    assert types[-1] == "post_final_transcript"  # ...and it ended
    assert job["status"] == "done"
    assert job["request_params"]["realtime_processing"]["words_accurate_timestamps"] is False


async def test_words_accurate_timestamps_is_sent_and_echoed(gladia: GladiaSession) -> None:
    options = LiveOptions(
        encoding="wav/pcm",
        sample_rate=16_000,
        realtime_processing=RealtimeProcessingConfig(words_accurate_timestamps=True),
    )
    with anyio.fail_after(20):
        async with gladia.live(options) as live:
            await live.send(bytes(SECOND))
        job = await gladia.get_live_job(live)
    assert job.request_params is not None
    realtime = job.request_params.realtime_processing
    assert realtime is not None and realtime.words_accurate_timestamps is True


async def test_a_live_error_frame_is_a_typed_message(gladia: GladiaSession) -> None:
    with anyio.fail_after(20):
        async with gladia.live(LiveOptions(encoding="wav/pcm", sample_rate=16_000)) as live:
            ws = live._ws
            assert ws is not None
            await ws.send_str('{"type": "no_such_action"}')  # the emulator answers an error frame
            async for message in live:
                if message.type == "error" or isinstance(message, UnknownMessage):
                    break
    assert isinstance(message, LiveErrorMessage)
    assert message.detail == LiveErrorDetail(
        status_code=400, exception="BadRequest", message="unknown action"
    )
    assert message.data == {
        "status_code": 400,
        "exception": "BadRequest",
        "message": "unknown action",
    }


def test_an_error_frame_with_only_data_still_gives_its_detail() -> None:
    from gladia_async._live.protocol import parse_message

    frame = {"type": "error", "data": {"status_code": 4001, "message": "audio too fast"}}
    message = parse_message(frame)
    assert isinstance(message, LiveErrorMessage)
    assert message.detail == LiveErrorDetail(status_code=4001, message="audio too fast")
    text = parse_message({"type": "error", "data": "session expired"})
    assert isinstance(text, LiveErrorMessage)
    assert text.detail == LiveErrorDetail(message="session expired")
