"""Live transcription against the emulator: messages, resume, back-pressure, faults, cleanup."""

from __future__ import annotations

import asyncio
import os
import random
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import anyio
import anyio.lowlevel
import pytest

from gladia_async import (
    AudioChunkAckMessage,
    BadRequestError,
    ConnectionFailed,
    GladiaSession,
    InvalidInput,
    LiveOptions,
    LiveSessionError,
    Reconnected,
    Reconnecting,
    ReconnectPolicy,
    TranscriptMessage,
    UnknownMessage,
)
from gladia_async.live import (
    EndRecordingMessage,
    EndSessionMessage,
    LiveEvent,
    LiveMessage,
    NamedEntityRecognitionMessage,
    PostChapterizationMessage,
    PostFinalTranscriptMessage,
    PostSummarizationMessage,
    PostTranscriptMessage,
    SentimentAnalysisMessage,
    SessionNearingLimit,
    SpeechEndMessage,
    SpeechStartMessage,
    StartRecordingMessage,
    StartSessionMessage,
    StopRecordingAckMessage,
    TranslationMessage,
)
from gladia_async.models import (
    MessagesConfig,
    PostProcessingConfig,
    RealtimeProcessingConfig,
    TranslationConfig,
)
from gladia_async.testing import FaultPlan, FaultRule

from ..conftest import pending_tasks

PCM = LiveOptions(encoding="wav/pcm", sample_rate=16_000, bit_depth=16, channels=1)
FAST_RECONNECT = ReconnectPolicy(backoff_initial=0.01, backoff_max=0.05)
SECOND = 32_000  # bytes of 16 kHz 16-bit mono audio


def audio(seconds: float, seed: int = 0) -> bytes:
    """Deterministic noise: any loss, duplicate or reordering changes its hash."""
    return random.Random(seed).randbytes(int(seconds * SECOND))


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def collect(live: AsyncIterator[LiveMessage | LiveEvent]) -> list[LiveMessage | LiveEvent]:
    return [message async for message in live]


def session_of(emu: object, live_id: str):  # type: ignore[no-untyped-def]
    return emu.emulator.live.sessions[live_id]  # type: ignore[attr-defined]


async def test_full_session_parses_every_message_type(gladia: GladiaSession, emu: object) -> None:
    options = LiveOptions(
        encoding="wav/pcm",
        sample_rate=16_000,
        messages_config=MessagesConfig(
            receive_partial_transcripts=True,
            receive_lifecycle_events=True,
            receive_acknowledgments=True,
        ),
        realtime_processing=RealtimeProcessingConfig(
            translation=True,
            translation_config=TranslationConfig(target_languages=["fr"]),
            named_entity_recognition=True,
            sentiment_analysis=True,
        ),
        post_processing=PostProcessingConfig(chapterization=True, summarization=True),
    )
    async with gladia.live(options) as live:
        async with anyio.create_task_group() as tg:
            tg.start_soon(live.send_from, chunked(audio(5), 3200))
            messages = await collect(live)
    kinds = {type(m) for m in messages}
    assert kinds >= {
        StartSessionMessage,
        StartRecordingMessage,
        AudioChunkAckMessage,
        SpeechStartMessage,
        SpeechEndMessage,
        TranscriptMessage,
        TranslationMessage,
        NamedEntityRecognitionMessage,
        SentimentAnalysisMessage,
        StopRecordingAckMessage,
        EndRecordingMessage,
        PostTranscriptMessage,
        PostFinalTranscriptMessage,
        PostChapterizationMessage,
        PostSummarizationMessage,
        EndSessionMessage,
    }
    assert UnknownMessage not in kinds

    finals = [m for m in messages if isinstance(m, TranscriptMessage) and m.data.is_final]
    partials = [m for m in messages if isinstance(m, TranscriptMessage) and not m.data.is_final]
    assert finals and partials
    assert all(m.data.utterance.text for m in finals)
    # The final result is there after the block, and is the one the API serves.
    assert live.result is not None and live.result.transcription.full_transcript
    job = await gladia.get_live_job(live.id)
    assert job.status == "done"
    assert job.result.transcription.full_transcript == live.result.transcription.full_transcript
    # A 1000 close after end_session: one connection, no reconnection.
    assert session_of(emu, live.id).connections == 1
    assert live.reconnections == 0


async def test_acknowledgements_are_delivered_only_when_asked_for(gladia: GladiaSession) -> None:
    async with gladia.live(PCM) as live:
        async with anyio.create_task_group() as tg:
            tg.start_soon(live.send_from, chunked(audio(1), 3200))
            messages = await collect(live)
    assert live.acknowledged_bytes == SECOND  # the session ran on acknowledgements...
    assert not any(isinstance(m, (AudioChunkAckMessage, EndSessionMessage)) for m in messages)


async def test_resume_after_drops_loses_and_duplicates_no_audio(
    gladia: GladiaSession, emu: object
) -> None:
    emu.emulator.live.faults.drop_at_bytes = [40_000, 100_000, 101_000, 200_000]  # type: ignore[attr-defined]
    sent = audio(8, seed=1)
    with anyio.fail_after(30):  # audio never replayed is never acknowledged: send would hang
        async with gladia.live(PCM, reconnect=FAST_RECONNECT, max_unacked_bytes=64_000) as live:
            async with anyio.create_task_group() as tg:
                tg.start_soon(live.send_from, chunked(sent, 3000))
                messages = await collect(live)
    state = session_of(emu, live.id)
    assert state.drops == 4
    assert state.kept_bytes == len(sent)
    assert bytes(state.audio) == sent
    reconnecting = [m for m in messages if isinstance(m, Reconnecting)]
    reconnected = [m for m in messages if isinstance(m, Reconnected)]
    assert len(reconnecting) == len(reconnected) == 4
    assert all(r.close_code != 1000 for r in reconnecting)
    assert all(r.replayed_bytes > 0 and r.gap_seconds >= 0 for r in reconnected)
    assert live.result is not None


@pytest.mark.parametrize("seed", range(4))
async def test_random_drops_and_chunk_sizes_keep_the_audio_exact(
    gladia: GladiaSession, emu: object, seed: int
) -> None:
    rng = random.Random(seed)
    sent = audio(4, seed=seed)
    emu.emulator.live.faults.drop_at_bytes = sorted(  # type: ignore[attr-defined]
        rng.sample(range(1, len(sent)), 5)
    )
    emu.emulator.live.faults.ack_delay = rng.choice([0.0, 0.001])  # type: ignore[attr-defined]
    chunks, at = [], 0
    while at < len(sent):
        size = rng.randint(1, 20_000)
        chunks.append(sent[at : at + size])
        at += size
    with anyio.fail_after(30):
        async with gladia.live(
            PCM,
            reconnect=FAST_RECONNECT,
            max_unacked_bytes=rng.choice([4_000, 50_000, 1 << 20]),
            audio_format=rng.choice(["binary", "json"]),
        ) as live:
            await live.send_from(chunks)
    state = session_of(emu, live.id)
    assert state.drops == 5
    assert bytes(state.audio) == sent


async def test_json_audio_chunks_resume_losslessly(gladia: GladiaSession, emu: object) -> None:
    emu.emulator.live.faults.drop_at_bytes = [50_000]  # type: ignore[attr-defined]
    sent = audio(3, seed=2)
    async with gladia.live(PCM, audio_format="json", reconnect=FAST_RECONNECT) as live:
        await live.send_from(chunked(sent, 4096))
    assert bytes(session_of(emu, live.id).audio) == sent


async def test_large_chunks_go_in_frames_of_at_most_512_kib(
    gladia: GladiaSession, emu: object
) -> None:
    sent = audio(40, seed=3)  # 1.28 MB in one send()
    async with gladia.live(PCM, max_unacked_bytes=4 << 20) as live:
        await live.send(sent)
    state = session_of(emu, live.id)
    assert state.frames == 3
    assert bytes(state.audio) == sent


async def test_emulator_closes_an_oversized_frame_with_1009(gladia: GladiaSession) -> None:
    async with gladia.live(PCM) as live:
        async with aiohttp.ClientSession() as http, http.ws_connect(live._dialer.url) as ws:
            await ws.send_bytes(b"\0" * (512 * 1024 + 1))
            msg = await ws.receive()
            while msg.type == aiohttp.WSMsgType.TEXT:
                msg = await ws.receive()
            assert ws.close_code == 1009


async def test_send_waits_while_unacknowledged_audio_exceeds_the_budget(
    gladia: GladiaSession, emu: object
) -> None:
    emu.emulator.live.faults.ack_delay = 0.002  # type: ignore[attr-defined]
    budget = 20_000
    peak = 0
    async with gladia.live(PCM, max_unacked_bytes=budget) as live:
        for chunk in chunked(audio(3, seed=4), 3200):
            await live.send(chunk)
            peak = max(peak, live.unacknowledged_bytes)
    assert 0 < peak <= budget
    assert session_of(emu, live.id).kept_bytes == 3 * SECOND


async def test_bad_options_are_rejected_before_any_request(
    gladia: GladiaSession, emu: object
) -> None:
    with pytest.raises(InvalidInput) as info:  # plain values are checked as the object is built
        gladia.live(LiveOptions(encoding="mp3"))
    assert info.value.argument == "encoding"
    with pytest.raises(InvalidInput, match="region"):
        gladia.live(PCM, region="mars")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="max_unacked_bytes"):
        gladia.live(PCM, max_unacked_bytes=0)
    assert emu.stats.requests_total == 0  # type: ignore[attr-defined]


async def test_a_400_on_session_creation_is_a_typed_error(
    gladia: GladiaSession, emu: object
) -> None:
    emu.emulator.faults = FaultPlan(  # type: ignore[attr-defined]
        rules=[
            FaultRule(route="POST /v2/live", kind="status", status=400, message="Unsupported model")
        ]
    )
    with pytest.raises(BadRequestError, match="Unsupported model") as info:
        async with gladia.live(PCM):
            pass
    assert info.value.status == 400
    assert pending_tasks() == set()


async def test_cancellation_mid_stream_closes_the_socket_and_leaves_no_task(
    gladia: GladiaSession, emu: object
) -> None:
    hub = emu.emulator.live  # type: ignore[attr-defined]

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"\1" * 3200
            await anyio.lowlevel.checkpoint()

    with anyio.move_on_after(0.3) as scope:
        async with gladia.live(PCM) as live:
            async with anyio.create_task_group() as tg:
                tg.start_soon(live.send_from, endless())
                async for _ in live:
                    pass
    assert scope.cancelled_caught
    assert pending_tasks() == set()
    with anyio.fail_after(5):
        while hub.open_sockets:  # noqa: ASYNC110 (the server side's counter: nothing to await)
            await anyio.sleep(0.01)
    with pytest.raises(Exception, match="not open"):
        await live.send(b"\0" * 10)


async def test_cancellation_while_opening_the_socket_leaves_nothing_behind(
    gladia: GladiaSession, emu: object
) -> None:
    emu.emulator.faults = FaultPlan(  # type: ignore[attr-defined]
        rules=[FaultRule(route="GET /v2/live", kind="delay", delay=5.0)]
    )
    with anyio.move_on_after(0.3) as scope:
        async with gladia.live(PCM):
            pytest.fail("the socket cannot be open yet")
    assert scope.cancelled_caught
    assert pending_tasks() == set()


async def test_an_error_in_the_block_propagates_as_is_and_cleans_up(
    gladia: GladiaSession, emu: object
) -> None:
    with pytest.raises(KeyError):  # not wrapped in an exception group
        async with gladia.live(PCM) as live:
            await live.send(audio(0.5))
            raise KeyError("user bug")
    assert pending_tasks() == set()
    with anyio.fail_after(5):
        while emu.emulator.live.open_sockets:  # type: ignore[attr-defined]  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def test_a_server_that_keeps_dropping_ends_the_session_with_a_typed_error(
    gladia: GladiaSession, emu: object
) -> None:
    emu.emulator.live.faults.drop_at_bytes = [1] * 50  # type: ignore[attr-defined]
    policy = ReconnectPolicy(attempts=3, backoff_initial=0.001, backoff_max=0.01)
    with anyio.fail_after(20), pytest.raises(ConnectionFailed, match="3 attempts"):
        async with gladia.live(PCM, reconnect=policy) as live:
            await live.send_from(chunked(audio(1), 3200))
    assert session_of(emu, live.id).kept_bytes == 0
    assert pending_tasks() == set()


async def test_an_error_inside_a_message_is_delivered_typed(
    gladia: GladiaSession, emu: object
) -> None:
    emu.emulator.live.faults.error_message_at_bytes = 10_000  # type: ignore[attr-defined]
    async with gladia.live(PCM) as live:
        async with anyio.create_task_group() as tg:
            tg.start_soon(live.send_from, chunked(audio(1), 3200))
            messages = await collect(live)
    failed = [m for m in messages if m.error is not None]  # type: ignore[union-attr]
    assert len(failed) == 1
    assert isinstance(failed[0], TranslationMessage)
    assert failed[0].error.message == "translation add-on failed"
    assert live.result is not None  # the session carried on


async def test_a_refused_chunk_fails_the_session_with_a_typed_error(
    gladia: GladiaSession, emu: object
) -> None:
    emu.emulator.live.faults.reject_chunks_at_bytes = 10_000  # type: ignore[attr-defined]
    with pytest.raises(LiveSessionError, match="refused an audio chunk") as info:
        async with gladia.live(PCM) as live:
            await live.send_from(chunked(audio(2), 3200))
    with pytest.raises(LiveSessionError):  # iteration ends with the same failure
        await collect(live)
    assert info.value.error is not None and info.value.error.status_code == 400
    assert pending_tasks() == set()


async def test_keepalive_keeps_an_idle_session_open(gladia: GladiaSession, emu: object) -> None:
    emu.emulator.live.faults.idle_timeout = 0.3  # type: ignore[attr-defined]
    async with gladia.live(PCM, keepalive=0.05) as live:
        await live.send(audio(0.5))
        await anyio.sleep(1.0)  # a silent microphone, three idle timeouts long
        await live.send(audio(0.5, seed=9))
    assert session_of(emu, live.id).connections == 1


async def test_without_keepalive_an_idle_close_is_resumed(
    gladia: GladiaSession, emu: object
) -> None:
    emu.emulator.live.faults.idle_timeout = 0.2  # type: ignore[attr-defined]
    sent = audio(0.5) + audio(0.5, seed=9)
    async with gladia.live(PCM, keepalive=None, reconnect=FAST_RECONNECT) as live:
        await live.send(sent[: SECOND // 2])
        with anyio.fail_after(5):  # the idle close comes, and the session resumes by itself
            async for message in live:
                if isinstance(message, Reconnected):
                    break
        await live.send(sent[SECOND // 2 :])
        emu.emulator.live.faults.idle_timeout = None  # type: ignore[attr-defined]
    state = session_of(emu, live.id)
    assert state.connections >= 2
    assert bytes(state.audio) == sent


async def test_a_1000_close_ends_the_session_without_reconnecting(
    gladia: GladiaSession, emu: object
) -> None:
    emu.emulator.live.faults.end_at_bytes = 8_000  # type: ignore[attr-defined]
    with anyio.fail_after(10):
        async with gladia.live(PCM, reconnect=FAST_RECONNECT) as live:
            await live.send(audio(0.5))
            messages = await collect(live)  # ends when the server closes
            with pytest.raises(LiveSessionError, match="has ended"):
                await live.send(audio(0.1))
    assert not any(isinstance(m, Reconnecting) for m in messages)
    assert session_of(emu, live.id).connections == 1
    assert live.result is not None  # from GET /v2/live/{id}


async def test_a_drop_during_post_processing_falls_back_to_the_api(
    gladia: GladiaSession, emu: object
) -> None:
    emu.emulator.live.faults.drop_after_stop = True  # type: ignore[attr-defined]
    async with gladia.live(PCM) as live:
        await live.send_from(chunked(audio(2), 3200))
    assert live.result is not None
    job = await gladia.get_live_job(live.id)
    assert live.result.transcription.full_transcript == job.result.transcription.full_transcript


async def test_the_api_key_never_goes_over_the_socket(gladia: GladiaSession, emu: object) -> None:
    async with gladia.live(PCM) as live:
        await live.send(audio(0.2))
    socket_requests = [r for r in emu.requests if "token=" in r.query_string]  # type: ignore[attr-defined]
    assert socket_requests
    for request in socket_requests:
        assert not any(k.lower() == "x-gladia-key" for k in request.headers)
        assert emu.api_key not in request.query_string  # type: ignore[attr-defined]


async def test_live_jobs_are_listed_and_deleted(gladia: GladiaSession) -> None:
    async with gladia.live(PCM) as live:
        await live.send(audio(0.2))
    listed = [job.id async for job in gladia.iter_jobs(endpoint="live")]
    assert live.id in listed
    await gladia.delete_live_job(live)
    listed = [job.id async for job in gladia.iter_jobs(endpoint="live")]
    assert live.id not in listed


async def test_live_job_management_patch_download_and_region(
    gladia: GladiaSession, emu: object, tmp_path: Path
) -> None:
    sent = audio(1, seed=7)
    async with gladia.live(PCM, region="eu-west") as live:
        await live.send(sent)
    create = [r for r in emu.requests if r.route == "POST /v2/live"]  # type: ignore[attr-defined]
    assert create[-1].query_string == "region=eu-west"
    await gladia.patch_live_job(live)
    path = await gladia.download_live_audio(live, tmp_path / "live.wav")
    with wave.open(str(path)) as recorded:
        assert recorded.getframerate() == 16_000
        assert recorded.readframes(recorded.getnframes()) == sent
    with pytest.raises(InvalidInput, match="job"):
        await gladia.get_live_job("not-an-id")


async def test_a_session_nearing_the_3_hour_cap_warns(
    gladia: GladiaSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gladia_async._live.session as live_module

    monkeypatch.setattr(live_module, "SESSION_LIMIT_SECONDS", 600.5)  # warns 600 s before
    async with gladia.live(PCM) as live:
        await live.send(audio(0.4))
        await live.send(audio(0.4))
        await live.stop_recording()
        warnings = [m async for m in live if isinstance(m, SessionNearingLimit)]
    assert len(warnings) == 1
    assert warnings[0].audio_seconds == pytest.approx(0.8)


async def test_unknown_and_malformed_messages_arrive_generic() -> None:
    from gladia_async._live.protocol import parse_message

    assert isinstance(parse_message({"type": "brand_new", "data": {}}), UnknownMessage)
    for malformed in ({"type": "transcript", "data": "oops"}, {"type": "speech_end", "data": 5}):
        assert isinstance(parse_message(malformed), LiveMessage)  # never raises
    assert isinstance(parse_message([1, 2]), UnknownMessage)
    ack = parse_message({"type": "audio_chunk", "acknowledged": True, "data": {}})
    assert isinstance(ack, AudioChunkAckMessage)


@pytest.mark.skipif(os.environ.get("GLADIA_SLOW") is None, reason="slow: set GLADIA_SLOW=1")
async def test_many_drops_in_one_long_session(gladia: GladiaSession, emu: object) -> None:
    emu.emulator.live.faults.drop_at_bytes = list(range(10_000, 600_000, 37_000))  # type: ignore[attr-defined]
    sent = audio(20, seed=5)
    async with gladia.live(PCM, reconnect=FAST_RECONNECT) as live:
        await live.send_from(chunked(sent, 3200))
    assert bytes(session_of(emu, live.id).audio) == sent


async def test_unread_messages_stay_bounded_then_drain_in_order(
    gladia: GladiaSession, emu: object
) -> None:
    options = LiveOptions(
        encoding="wav/pcm",
        sample_rate=16_000,
        messages_config=MessagesConfig(receive_acknowledgments=True),
    )
    sent = audio(4, seed=7)
    chunks = chunked(sent, 320)  # 400 chunks: 400 acknowledgements, nobody reading them
    bound = 16
    with anyio.fail_after(30):
        async with gladia.live(
            options, max_buffered_messages=bound, max_unacked_bytes=1 << 24
        ) as live:
            for chunk in chunks:
                await live.send(chunk)
                assert len(live._inbox) <= bound
            state = session_of(emu, live.id)
            # The server has sent every acknowledgement (its counter: nothing to await).
            while state.messages < len(chunks):  # noqa: ASYNC110
                await anyio.sleep(0.01)
            assert len(live._inbox) <= bound  # ...and the session holds no more than the bound
            await live.stop_recording()
            messages = await collect(live)  # draining delivers everything, in order
    acks = [m for m in messages if isinstance(m, AudioChunkAckMessage)]
    assert len(acks) == len(chunks)
    ends = [m.data.byte_range[1] for m in acks if m.data is not None and m.data.byte_range]
    assert ends == [320 * (i + 1) for i in range(len(chunks))]  # half-open ranges
    assert isinstance(messages[-1], (PostFinalTranscriptMessage, EndSessionMessage)) or any(
        isinstance(m, PostFinalTranscriptMessage) for m in messages
    )
    assert state.kept_bytes == len(sent)


async def test_bad_max_buffered_messages_is_rejected(gladia: GladiaSession) -> None:
    for bad in (0, -1, 1.5, True, "10"):
        with pytest.raises(InvalidInput, match="max_buffered_messages"):
            gladia.live(PCM, max_buffered_messages=bad)  # type: ignore[arg-type]


async def test_leaving_the_block_without_reading_still_finishes(gladia: GladiaSession) -> None:
    options = LiveOptions(
        encoding="wav/pcm",
        sample_rate=16_000,
        messages_config=MessagesConfig(receive_acknowledgments=True),
    )
    with anyio.fail_after(20):  # the reader held back by unread messages would hang the exit
        async with gladia.live(options, max_buffered_messages=4, finish_timeout=10) as live:
            for chunk in chunked(audio(2), 640):  # 100 acknowledgements, none read
                await live.send(chunk)
    assert live.result is not None
    assert live.acknowledged_bytes == 2 * SECOND


async def test_the_iterating_task_reads_the_socket_itself(gladia: GladiaSession) -> None:
    """No hand-over between tasks on the delivery path: each costs a loop iteration."""
    options = LiveOptions(
        encoding="wav/pcm",
        sample_rate=16_000,
        messages_config=MessagesConfig(receive_acknowledgments=True),
    )
    readers: list[object] = []
    async with gladia.live(options) as live:
        ws = live._ws
        assert ws is not None
        receive = ws.receive

        async def recording_receive(*args: object, **kwargs: object) -> aiohttp.WSMessage:
            message = await receive(*args, **kwargs)  # type: ignore[arg-type]
            readers.append(asyncio.current_task())
            return message

        ws.receive = recording_receive  # type: ignore[method-assign]
        user = asyncio.current_task()
        async with anyio.create_task_group() as tg:

            async def produce() -> None:
                for chunk in chunked(audio(1), 1600):
                    await live.send(chunk)
                    await anyio.lowlevel.checkpoint()

            tg.start_soon(produce)
            acks = 0
            async for message in live:
                if isinstance(message, AudioChunkAckMessage):
                    acks += 1
                    if acks == 20:
                        break
            while_iterating = list(readers)  # after this, finish() reads without the user
    assert acks == 20
    readers = while_iterating
    # At most the message the reader task was already waiting for when iteration began.
    assert sum(reader is not user for reader in readers) <= 1
    assert readers.count(user) >= 19


async def test_cancelled_reads_lose_no_message(gladia: GladiaSession) -> None:
    """A read cancelled while the caller's task waits on the socket drops nothing."""
    options = LiveOptions(
        encoding="wav/pcm",
        sample_rate=16_000,
        messages_config=MessagesConfig(receive_acknowledgments=True),
    )
    chunks = chunked(audio(1), 320)
    messages: list[LiveMessage | LiveEvent] = []
    cancelled = 0
    with anyio.fail_after(30):
        async with gladia.live(options) as live:
            async with anyio.create_task_group() as tg:
                tg.start_soon(live.send_from, chunks)
                while True:
                    with anyio.move_on_after(0) as scope:  # cut at its first wait
                        try:
                            messages.append(await live.__anext__())
                        except StopAsyncIteration:
                            break
                    cancelled += scope.cancelled_caught
    acks = [m for m in messages if isinstance(m, AudioChunkAckMessage)]
    ends = [m.data.byte_range[1] for m in acks if m.data is not None and m.data.byte_range]
    assert ends == [320 * (i + 1) for i in range(len(chunks))]
    assert cancelled > 0  # the reads really were cut short
    assert any(isinstance(m, PostFinalTranscriptMessage) for m in messages)
