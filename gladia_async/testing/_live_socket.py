"""The live WebSocket conversation: chunks kept and acknowledged, transcripts, the stop.

:class:`LiveSockets` is the socket side of the live hub (:class:`~._live_hub.LiveHub`); the
behaviour is described in :mod:`gladia_async.testing._live`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import random
import struct
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from .._schema.live_messages import MAX_FRAME_BYTES
from ._live import IDLE_CLOSE_CODE, LiveFaults, LiveSessionState
from ._state import Account, Job, Upload, iso
from ._transcripts import _VOCABULARY

__all__ = ["LiveSockets"]


class LiveSockets:
    """Serves one live WebSocket at a time per call; the hub's sessions and faults apply."""

    faults: LiveFaults
    keep_audio: bool
    utterance_seconds: float
    _account: Account
    _by_token: dict[str, LiveSessionState]
    _result: Callable[[Job], dict[str, Any]]

    # ------------------------------------------------------------- the socket
    async def _serve(
        self, request: web.Request, ws: web.WebSocketResponse, state: LiveSessionState
    ) -> None:
        while True:
            faults = self.faults
            try:
                msg = await ws.receive(timeout=faults.idle_timeout)
            except asyncio.TimeoutError:
                await ws.close(code=IDLE_CLOSE_CODE, message=b"idle timeout")
                return
            if msg.type in (WSMsgType.BINARY, WSMsgType.TEXT) and len(msg.data) > MAX_FRAME_BYTES:
                await ws.close(code=1009, message=b"frame too large")
                return
            if msg.type == WSMsgType.BINARY:
                if not await self._audio(request, ws, state, msg.data):
                    return
            elif msg.type == WSMsgType.TEXT:
                try:
                    action = orjson.loads(msg.data)
                except orjson.JSONDecodeError:
                    action = None
                kind = action.get("type") if isinstance(action, dict) else None
                if kind == "audio_chunk":
                    try:
                        chunk = base64.b64decode(action["data"]["chunk"], validate=True)
                    except (KeyError, TypeError, binascii.Error):
                        await self._send(ws, state, self._error_ack("audio_chunk", state))
                        continue
                    if not await self._audio(request, ws, state, chunk):
                        return
                elif kind == "stop_recording":
                    await self._stop(request, ws, state)
                    return
                else:
                    # The error object in `error` (as every other message) and in `data`
                    # (where livekit's Gladia plugin reads an error frame).
                    error = _err(400, "unknown action")
                    await self._send(
                        ws, state, {**self._base(state, "error"), "error": error, "data": error}
                    )
            else:  # close, error (1009 too big: aiohttp closed it), closed
                return

    async def _audio(
        self, request: web.Request, ws: web.WebSocketResponse, state: LiveSessionState, data: bytes
    ) -> bool:
        """Keep and acknowledge one chunk; False when the socket was dropped."""
        faults = self.faults
        state.frames += 1
        start = state.kept_bytes
        end = start + len(data)
        for offset in sorted(faults.drop_at_bytes):
            if start < offset <= end or (offset == start and data):
                faults.drop_at_bytes.remove(offset)
                state.drops += 1
                await _drop(request, ws)
                return False
        if faults.reject_chunks_at_bytes is not None and end > faults.reject_chunks_at_bytes:
            await self._send(ws, state, self._error_ack("audio_chunk", state))
            return True
        if faults.ack_delay:
            await asyncio.sleep(faults.ack_delay)
        if ws.closed:
            return False
        state.kept_bytes = end
        state.digest.update(data)
        if self.keep_audio:
            state.audio += data
        if self._wants(state, "receive_acknowledgments"):
            bps = state.bytes_per_second
            await self._send(
                ws,
                state,
                {
                    **self._base(state, "audio_chunk"),
                    "acknowledged": True,
                    "error": None,
                    "data": {
                        "byte_range": [start, end],
                        "time_range": [round(start / bps, 3), round(end / bps, 3)],
                    },
                },
            )
        await self._realtime(ws, state, final_flush=False)
        if faults.end_at_bytes is not None and end > faults.end_at_bytes:
            faults.end_at_bytes = None
            self._finish_job(state)
            self._end(state)
            await ws.close(code=1000, message=b"session ended by the server")
            return False
        at = faults.error_message_at_bytes
        if at is not None and not state.error_sent and end > at:
            state.error_sent = True
            await self._send(
                ws,
                state,
                {
                    **self._base(state, "translation"),
                    "error": _err(500, "translation add-on failed", "TranslationError"),
                    "data": None,
                },
            )
        return True

    async def _realtime(
        self, ws: web.WebSocketResponse, state: LiveSessionState, *, final_flush: bool
    ) -> None:
        seconds = state.audio_seconds
        size = self.utterance_seconds
        while True:
            begin = state.utterances_done * size
            if seconds <= begin:
                return
            if not state.utterance_started:
                state.utterance_started = True
                if self._wants(state, "receive_speech_events"):
                    await self._send(ws, state, self._speech(state, "speech_start", begin))
            complete = seconds >= begin + size
            if (
                not state.partial_sent
                and seconds >= begin + size / 2
                and self._wants(state, "receive_partial_transcripts")
            ):
                state.partial_sent = True
                end = min(seconds, begin + size / 2)
                await self._send(ws, state, self._transcript(state, begin, end, final=False))
            if not complete and not final_flush:
                return
            end = min(seconds, begin + size)
            if self._wants(state, "receive_final_transcripts"):
                await self._send(ws, state, self._transcript(state, begin, end, final=True))
            if self._wants(state, "receive_speech_events"):
                await self._send(ws, state, self._speech(state, "speech_end", end))
            if self._wants(state, "receive_realtime_processing_events"):
                for message in self._addons(state, begin, end):
                    await self._send(ws, state, message)
            state.utterances_done += 1
            state.utterance_started = False
            state.partial_sent = False
            if not complete:
                return

    async def _stop(
        self, request: web.Request, ws: web.WebSocketResponse, state: LiveSessionState
    ) -> None:
        state.stopped = True
        duration = round(state.audio_seconds, 3)
        await self._send(
            ws,
            state,
            {
                **self._base(state, "stop_recording"),
                "acknowledged": True,
                "error": None,
                "data": {"recording_duration": duration, "recording_left_to_process": 0},
            },
        )
        job = state.job
        self._finish_job(state)
        if self.faults.drop_after_stop:
            self._end(state)
            await _drop(request, ws)
            return
        await self._realtime(ws, state, final_flush=True)
        await self._lifecycle(ws, state, "end_recording", {"recording_duration": duration})
        result = self._result(job)
        if self._wants(state, "receive_post_processing_events"):
            await self._send(
                ws, state, {**self._base(state, "post_transcript"), "data": result["transcription"]}
            )
            final = {k: v for k, v in result.items() if k != "messages"}
            await self._send(
                ws, state, {**self._base(state, "post_final_transcript"), "data": final}
            )
            post = state.params.get("post_processing") or {}
            if post.get("chapterization"):
                chapters = (result.get("chapterization") or {}).get("results") or {}
                await self._send(
                    ws,
                    state,
                    {
                        **self._base(state, "post_chapterization"),
                        "error": None,
                        "data": {"results": chapters.get("chapters", [])},
                    },
                )
            if post.get("summarization"):
                summary = (result.get("summarization") or {}).get("results")
                await self._send(
                    ws,
                    state,
                    {
                        **self._base(state, "post_summarization"),
                        "error": None,
                        "data": {"results": summary or ""},
                    },
                )
        await self._lifecycle(ws, state, "end_session")
        self._end(state)
        await ws.close(code=1000)

    def _finish_job(self, state: LiveSessionState) -> None:
        """The live job is done: its duration, its audio file, ``done`` from now on."""
        account = self._account
        job = state.job
        job.audio_duration = round(state.audio_seconds, 3)
        self._store_audio(state)
        job.fixed_status = None
        job.ready_at = account.clock()
        job.completed_at = account.now()
        account.job_changed()

    def _store_audio(self, state: LiveSessionState) -> None:
        """Keep the session's audio as a WAV file, served by ``GET /v2/live/{id}/file``."""
        params = state.params
        channels = int(params["channels"])
        job = state.job
        job.file = {
            "id": state.id,
            "filename": f"live-{state.id}.wav",
            "source": None,
            "audio_duration": round(state.audio_seconds, 3),
            "number_of_channels": channels,
        }
        if not self.keep_audio:
            return
        depth = int(params["bit_depth"])
        rate = int(params["sample_rate"])
        pcm = bytes(state.audio)
        header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt "
        header += struct.pack(
            "<IHHIIHH",
            16,
            1,
            channels,
            rate,
            rate * channels * depth // 8,
            channels * depth // 8,
            depth,
        )
        header += b"data" + struct.pack("<I", len(pcm))
        upload = Upload(
            id=str(uuid.uuid4()),
            filename=f"live-{state.id}.wav",
            extension="wav",
            size=len(header) + len(pcm),
            audio_duration=round(state.audio_seconds, 3),
            number_of_channels=channels,
            content_type="audio/wav",
            data=header + pcm,
        )
        self._account.add_upload(upload)
        job.upload_id = upload.id

    def _end(self, state: LiveSessionState) -> None:
        state.ended = True
        self._by_token.pop(state.token, None)

    # -------------------------------------------------------------- messages
    def _wants(self, state: LiveSessionState, flag: str) -> bool:
        config = state.params.get("messages_config") or {}
        return bool(config.get(flag))

    def _base(self, state: LiveSessionState, kind: str) -> dict[str, Any]:
        return {"session_id": state.id, "created_at": iso(self._account.now()), "type": kind}

    def _error_ack(self, kind: str, state: LiveSessionState) -> dict[str, Any]:
        return {
            **self._base(state, kind),
            "acknowledged": False,
            "error": _err(400, "audio chunk refused", "InvalidAudioChunk"),
            "data": None,
        }

    async def _lifecycle(
        self,
        ws: web.WebSocketResponse,
        state: LiveSessionState,
        kind: str,
        data: dict[str, Any] | None = None,
    ) -> None:
        if self._wants(state, "receive_lifecycle_events"):
            message = self._base(state, kind)
            if data is not None:
                message["data"] = data
            await self._send(ws, state, message)

    async def _send(
        self, ws: web.WebSocketResponse, state: LiveSessionState, message: dict[str, Any]
    ) -> None:
        if ws.closed:
            return
        state.messages += 1
        await ws.send_str(orjson.dumps(message).decode())

    def _speech(self, state: LiveSessionState, kind: str, at: float) -> dict[str, Any]:
        return {**self._base(state, kind), "data": {"time": round(at, 3), "channel": 0}}

    def _utterance(self, state: LiveSessionState, begin: float, end: float) -> dict[str, Any]:
        rng = random.Random(f"{state.id}:{state.utterances_done}")
        count = max(1, round((end - begin) * 2.5))
        slot = (end - begin) / count
        words = [
            {
                "word": rng.choice(_VOCABULARY),
                "start": round(begin + i * slot, 3),
                "end": round(begin + (i + 0.85) * slot, 3),
                "confidence": round(0.8 + 0.19 * rng.random(), 3),
            }
            for i in range(count)
        ]
        languages = (state.params.get("language_config") or {}).get("languages") or ["en"]
        return {
            "start": round(begin, 3),
            "end": round(end, 3),
            "confidence": 0.9,
            "channel": 0,
            "words": words,
            "text": " ".join(str(w["word"]) for w in words),
            "language": languages[0],
        }

    def _transcript(
        self, state: LiveSessionState, begin: float, end: float, *, final: bool
    ) -> dict[str, Any]:
        return {
            **self._base(state, "transcript"),
            "data": {
                "id": f"00_{state.utterances_done:08d}",
                "is_final": final,
                "utterance": self._utterance(state, begin, end),
            },
        }

    def _addons(self, state: LiveSessionState, begin: float, end: float) -> list[dict[str, Any]]:
        realtime = state.params.get("realtime_processing") or {}
        utterance = self._utterance(state, begin, end)
        uid = f"00_{state.utterances_done:08d}"
        out: list[dict[str, Any]] = []
        if realtime.get("translation"):
            targets = (realtime.get("translation_config") or {}).get("target_languages") or ["fr"]
            for target in targets:
                out.append(
                    {
                        **self._base(state, "translation"),
                        "error": None,
                        "data": {
                            "utterance_id": uid,
                            "utterance": utterance,
                            "original_language": utterance["language"],
                            "target_language": target,
                            "translated_utterance": {
                                **utterance,
                                "text": f"[{target}] {utterance['text']}",
                                "language": target,
                            },
                        },
                    }
                )
        if realtime.get("named_entity_recognition"):
            first = utterance["words"][0]
            out.append(
                {
                    **self._base(state, "named_entity_recognition"),
                    "error": None,
                    "data": {
                        "utterance_id": uid,
                        "utterance": utterance,
                        "results": [
                            {
                                "entity_type": "MISC",
                                "text": first["word"],
                                "start": first["start"],
                                "end": first["end"],
                            }
                        ],
                    },
                }
            )
        if realtime.get("sentiment_analysis"):
            out.append(
                {
                    **self._base(state, "sentiment_analysis"),
                    "error": None,
                    "data": {
                        "utterance_id": uid,
                        "utterance": utterance,
                        "results": [
                            {
                                "sentiment": "neutral",
                                "emotion": "neutral",
                                "text": utterance["text"],
                                "start": utterance["start"],
                                "end": utterance["end"],
                                "channel": 0,
                            }
                        ],
                    },
                }
            )
        return out


def _err(status: int, message: str, exception: str = "BadRequest") -> dict[str, Any]:
    return {"status_code": status, "exception": exception, "message": message}


async def _drop(request: web.Request, ws: web.WebSocketResponse) -> None:
    """Drop the connection without a close frame, after what was already sent.

    A plain ``close()`` with unread client frames in the buffer makes the kernel send a
    reset, which can destroy acknowledgements already on the wire; then the client cannot
    know what was kept. So: end our side (FIN, after the acknowledgements), discard whatever
    the client still sends until it goes away, then close.
    """
    transport = request.transport
    if transport is None:
        return
    if not transport.can_write_eof():
        transport.close()
        return
    transport.write_eof()
    try:
        await asyncio.wait_for(_discard_until_closed(ws), timeout=5.0)
    except (asyncio.TimeoutError, ConnectionError, RuntimeError):
        pass
    finally:
        transport.close()


async def _discard_until_closed(ws: web.WebSocketResponse) -> None:
    while True:
        msg = await ws.receive()
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return
