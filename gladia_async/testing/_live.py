"""Live transcription in the emulator: ``POST /v2/live``, the WebSocket, ``PATCH /v2/live/{id}``.

Behaviour (*emulator choice* where the docs are silent):

* ``POST /v2/live`` (optional ``region`` query, ``us-west`` or ``eu-west``) validates the body
  like ``StreamingRequest`` (400 ``"Validation failed"`` with ``validation_errors``) and
  answers 201 ``{id, created_at, url}``; ``url`` is ``ws(s)://<host>/v2/live?token=<token>``.
  The token is not the API key; the WebSocket needs no key (the token is the credential).
* The WebSocket takes binary frames or ``{"type": "audio_chunk", "data": {"chunk": b64}}``;
  a frame over 512 KiB is closed with 1009. Each chunk is acknowledged with its
  ``byte_range`` counted **from the session start, half-open** ``[start, end)`` as the
  service sends it (an empty chunk gives ``[n, n]``; see
  :func:`gladia_async._schema.live_messages.acked_end`) and ``time_range`` in seconds.
* **Keeps exactly what it acknowledged**: a chunk is kept (counted, hashed, stored) at the
  moment its acknowledgement is sent; a chunk received on a socket that then drops without
  an acknowledgement is discarded, so a client that replays everything unacknowledged
  loses nothing and duplicates nothing. :attr:`LiveSessionState.kept_bytes`,
  ``.audio`` and ``.sha256`` let tests compare with what they sent.
* Transcripts follow the audio clock: utterances of ``utterance_seconds`` of audio;
  ``speech_start`` when one begins, a partial transcript half-way (when
  ``receive_partial_transcripts``), the final transcript plus ``speech_end`` and any enabled
  realtime add-ons (translation, named entities, sentiment) when it is complete.
* ``stop_recording`` -> its acknowledgement, the last utterance, ``end_recording``,
  ``post_transcript``, ``post_final_transcript`` (the same result ``GET /v2/live/{id}``
  serves), ``post_chapterization`` / ``post_summarization`` when enabled, ``end_session``,
  then a 1000 close. Lifecycle messages only with ``receive_lifecycle_events``,
  acknowledgements only with ``receive_acknowledgments`` (the spec's defaults apply).
* The live job is ``queued`` until the first connection, ``processing`` while streaming,
  ``done`` after ``end_session``; list/get/delete/file routes serve it like any job.
* Faults on cue (:class:`LiveFaults`, ``emulator.live.faults``): drop the socket when the
  kept audio would pass given offsets, delay acknowledgements, close an idle socket with
  4408 after a silence timeout, send a message with an ``error`` object, refuse chunks
  (``acknowledged: false``), drop the socket during post-processing. A 400 on creation
  comes from the body validation or from a :class:`FaultPlan` ``status`` rule on
  ``POST /v2/live``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import random
import secrets
import struct
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web

from .._schema.live_messages import MAX_FRAME_BYTES
from ._state import Job, Upload, iso
from ._transcripts import _VOCABULARY
from ._validation import fill_defaults, rule_errors, validate

if TYPE_CHECKING:
    from ._app import GladiaEmulator

__all__ = ["LiveFaults", "LiveHub", "LiveSessionState"]

REGIONS = ("us-west", "eu-west")
IDLE_CLOSE_CODE = 4408
_LIVE_ALWAYS = frozenset(
    {
        "language_config",
        "pre_processing",
        "realtime_processing",
        "post_processing",
        "messages_config",
    }
)


@dataclass
class LiveFaults:
    """Faults for live sessions; change ``emulator.live.faults`` at any time."""

    #: Drop the socket (no close frame) when the kept audio would pass each of these session
    #: offsets; each offset fires once. The chunk that triggers it is not kept.
    drop_at_bytes: list[int] = field(default_factory=list)
    #: Seconds to wait before acknowledging (and keeping) each chunk.
    ack_delay: float = 0.0
    #: Close a socket that received nothing (no audio, no ping) for this long, with 4408.
    idle_timeout: float | None = None
    #: Once the kept audio passes this offset, send a ``translation`` message carrying an
    #: ``error`` object (the session carries on).
    error_message_at_bytes: int | None = None
    #: Refuse every chunk past this offset with ``acknowledged: false`` and an error.
    reject_chunks_at_bytes: int | None = None
    #: Drop the socket right after acknowledging ``stop_recording`` (the job still finishes).
    drop_after_stop: bool = False
    #: End the session from the server side once the kept audio passes this offset: the job
    #: finishes and the socket closes with 1000 (no ``stop_recording`` needed).
    end_at_bytes: int | None = None


@dataclass
class LiveSessionState:
    """One live session as the emulator sees it."""

    id: str
    token: str
    job: Job
    params: dict[str, Any]
    bytes_per_second: float
    kept_bytes: int = 0
    audio: bytearray = field(default_factory=bytearray)
    digest: Any = field(default_factory=hashlib.sha256)
    connections: int = 0
    drops: int = 0
    frames: int = 0
    utterances_done: int = 0
    utterance_started: bool = False
    partial_sent: bool = False
    stopped: bool = False
    ended: bool = False
    error_sent: bool = False
    messages: int = 0

    @property
    def sha256(self) -> str:
        """Hex digest of the kept audio, in order."""
        return str(self.digest.hexdigest())

    @property
    def audio_seconds(self) -> float:
        return self.kept_bytes / self.bytes_per_second


class LiveHub:
    """The emulator's live sessions and their routes."""

    def __init__(self, emulator: GladiaEmulator) -> None:
        self.emulator = emulator
        self.faults = LiveFaults()
        #: Keep the audio bytes (``storage="memory"``); otherwise only count and hash them.
        self.keep_audio = emulator.storage == "memory"
        self.utterance_seconds = 2.0
        self.sessions: dict[str, LiveSessionState] = {}
        #: Sockets currently open (a cancelled client must bring this back to 0).
        self.open_sockets = 0
        self._by_token: dict[str, LiveSessionState] = {}

    # ---------------------------------------------------------------- routes
    async def create(self, request: web.Request) -> web.StreamResponse:
        """``POST /v2/live``."""
        from ._app import _ApiError, _json, _read_json

        region = request.query.get("region")
        if region is not None and region not in REGIONS:
            raise _ApiError(
                400,
                "Validation failed",
                [f'Field "region" must be one of the following values: {", ".join(REGIONS)}'],
            )
        body = await _read_json(request)
        if not isinstance(body, dict):
            raise _ApiError(400, "Validation failed", ["Request body must be a JSON object"])
        given = dict(body)
        meta = given.pop("custom_metadata", None)
        errors = validate("StreamingRequestParamsResponse", given)
        if meta is not None and not isinstance(meta, dict):
            errors.append('Field "custom_metadata" must be an object')
        errors = errors or rule_errors("StreamingRequest", given)
        if errors:
            raise _ApiError(400, "Validation failed", errors)
        params = fill_defaults("StreamingRequestParamsResponse", given, always=_LIVE_ALWAYS)
        emu = self.emulator
        now_clock = emu.clock()
        created = emu.now()
        bps = params["sample_rate"] * (params["bit_depth"] // 8) * params["channels"]
        job = Job(
            id=str(uuid.uuid4()),
            seq=emu._store.next_seq(),
            kind="live",
            created_at=created,
            created_ts=created.timestamp(),
            created_clock=now_clock,
            queued_until=now_clock,
            ready_at=now_clock,
            request_params=params,
            file=None,
            custom_metadata=meta,
            audio_duration=0.0,
            channels=int(params["channels"]),
            fixed_status="queued",
        )
        emu._store.add(job)
        emu.stats.jobs_created += 1
        token = secrets.token_urlsafe(24)
        state = LiveSessionState(
            id=job.id, token=token, job=job, params=params, bytes_per_second=float(bps)
        )
        self.sessions[job.id] = state
        self._by_token[token] = state
        base = emu._base_url(request)
        ws_base = "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]
        return _json(
            {"id": job.id, "created_at": iso(created), "url": f"{ws_base}/v2/live?token={token}"},
            status=201,
        )

    async def patch(self, request: web.Request) -> web.StreamResponse:
        """``PATCH /v2/live/{id}``: the spec's body has no properties; 204."""
        from ._app import _ApiError, _read_json

        self.emulator._lookup(request)
        body = await _read_json(request)
        if not isinstance(body, dict):
            raise _ApiError(400, "Validation failed", ["Request body must be a JSON object"])
        return web.Response(status=204)

    def list_or_socket(
        self, list_jobs: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """``GET /v2/live``: the WebSocket when it is an upgrade with a token, else the list."""

        async def handler(request: web.Request) -> web.StreamResponse:
            if self.is_socket_request(request):
                return await self.socket(request)
            return await list_jobs(request)

        return handler

    def is_socket_request(self, request: web.Request) -> bool:
        """True for the WebSocket upgrade on ``/v2/live?token=...`` (authorised by token)."""
        return (
            request.method == "GET"
            and "token" in request.query
            and request.headers.get("Upgrade", "").lower() == "websocket"
        )

    async def socket(self, request: web.Request) -> web.StreamResponse:
        """``GET /v2/live?token=...`` with an upgrade: the live WebSocket."""
        from ._app import _ApiError

        state = self._by_token.get(request.query.get("token", ""))
        if state is None or state.id not in self.sessions:
            raise _ApiError(401, "invalid or expired live session token")
        if state.ended:
            raise _ApiError(410, "this live session has ended")
        # The 512 KiB limit is checked exactly below; aiohttp's own cap is only a safety net.
        ws = web.WebSocketResponse(max_msg_size=4 * MAX_FRAME_BYTES, autoping=True)
        await ws.prepare(request)
        state.connections += 1
        self.open_sockets += 1
        try:
            if state.connections == 1:
                state.job.fixed_status = "processing"
                self.emulator._store.version += 1
                await self._lifecycle(ws, state, "start_session")
                await self._lifecycle(ws, state, "start_recording")
            await self._serve(request, ws, state)
        except (ConnectionError, RuntimeError):
            pass  # the client went away mid-send: nothing to clean up but the socket
        finally:
            self.open_sockets -= 1
        transport = request.transport
        if not ws.closed and transport is not None and not transport.is_closing():
            await ws.close()
        return ws

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
        emu = self.emulator
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
        result = emu._result(job)
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
        emu = self.emulator
        job = state.job
        job.audio_duration = round(state.audio_seconds, 3)
        self._store_audio(state)
        job.fixed_status = None
        job.ready_at = emu.clock()
        job.completed_at = emu.now()
        emu._store.version += 1

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
        self.emulator._uploads[upload.id] = upload
        job.upload_id = upload.id

    def _end(self, state: LiveSessionState) -> None:
        state.ended = True
        self._by_token.pop(state.token, None)

    # -------------------------------------------------------------- messages
    def _wants(self, state: LiveSessionState, flag: str) -> bool:
        config = state.params.get("messages_config") or {}
        return bool(config.get(flag))

    def _base(self, state: LiveSessionState, kind: str) -> dict[str, Any]:
        return {"session_id": state.id, "created_at": iso(self.emulator.now()), "type": kind}

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
