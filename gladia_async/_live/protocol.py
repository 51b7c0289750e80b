"""The live protocol: what the session sends, and what each server message means to it.

Acknowledged byte ranges count from the session start and are half-open: ``end`` is the
offset just past the kept bytes, where a replay starts (see
:func:`gladia_async._schema.live_messages.acked_end`). A refused chunk or an acknowledgement
of the wrong shape is a failure of the session; everything else is a message to deliver (or
not, by what ``messages_config`` asked for).
"""

from __future__ import annotations

import base64
from typing import Any

import attrs
import orjson

from .._core.errors import GladiaError, ResponseFormatError
from .._schema.converter import structure
from .._schema.live_messages import (
    ACK_TYPES,
    MAX_FRAME_BYTES,
    MESSAGE_TYPES,
    AudioChunkAckMessage,
    EndSessionMessage,
    LiveErrorDetail,
    LiveFinalResult,
    LiveMessage,
    PostFinalTranscriptMessage,
    StopRecordingAckMessage,
    UnknownMessage,
    acked_end,
)

__all__ = [
    "JSON_FRAME_BYTES",
    "STOP",
    "Heard",
    "LiveSessionError",
    "audio_chunk_json",
    "hear",
    "parse_message",
]

STOP = '{"type":"stop_recording"}'
# base64 grows a chunk by 4/3: keep JSON frames under the 512 KiB frame limit too.
JSON_FRAME_BYTES = (MAX_FRAME_BYTES - 1024) // 4 * 3
_LIFECYCLE = ("start_session", "start_recording", "end_recording")


class LiveSessionError(GladiaError):
    """The live session failed: the server refused audio, ended in error, or the token died.

    ``error`` holds the server's error object when it sent one; ``session_id`` the session;
    ``unacknowledged_bytes`` the audio the server never acknowledged, when the session ended
    with some outstanding (otherwise None).
    """

    def __init__(
        self,
        message: str,
        *,
        session_id: str | None = None,
        error: LiveErrorDetail | None = None,
        unacknowledged_bytes: int | None = None,
    ) -> None:
        super().__init__(message)
        self.session_id = session_id
        self.error = error
        self.unacknowledged_bytes = unacknowledged_bytes


def audio_chunk_json(frame: bytes) -> str:
    """Return the JSON ``audio_chunk`` action carrying ``frame``."""
    chunk = base64.b64encode(frame).decode()
    return '{"type":"audio_chunk","data":{"chunk":"' + chunk + '"}}'


def parse_message(raw: Any) -> LiveMessage:
    """Return the typed message for a decoded server message; never raises."""
    if not isinstance(raw, dict):
        return UnknownMessage(type="", raw=raw)
    kind = raw.get("type")
    if not isinstance(kind, str):
        return UnknownMessage(type="", raw=raw)
    cls = ACK_TYPES.get(kind) if "acknowledged" in raw else MESSAGE_TYPES.get(kind)
    if cls is None:
        return UnknownMessage(type=kind, raw=raw)
    try:
        return structure(raw, cls)
    except Exception:  # a known type with an unexpected shape is still delivered, untyped
        return UnknownMessage(type=kind, raw=raw)


@attrs.define(slots=True)
class Heard:
    """What one server message means to the session, in the order the session applies it:
    the audio it acknowledges, the state it changes, the message to deliver, the failure."""

    acked_end: int | None = None
    stop_acked: bool = False
    result: LiveFinalResult | None = None
    ended: bool = False
    deliver: LiveMessage | None = None
    failure: GladiaError | None = None


def hear(data: str | bytes, session_id: str, asked: dict[str, bool]) -> Heard:
    """Read one text frame of the server; never raises."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError:
        return Heard(deliver=UnknownMessage(type="", raw=data))
    if type(raw) is dict and raw.get("acknowledged") is True and raw.get("type") == "audio_chunk":
        # The common case, one per chunk: account for it from the raw JSON (checked
        # here, whatever its shape: a wrong one is a protocol violation, typed).
        try:
            end = _ack_end(raw.get("data"), session_id)
        except ResponseFormatError as exc:
            return Heard(failure=exc)
        deliver = parse_message(raw) if asked["receive_acknowledgments"] else None
        return Heard(acked_end=end, deliver=deliver)
    message = parse_message(raw)
    heard = Heard(deliver=message)
    if isinstance(message, AudioChunkAckMessage):
        if not message.acknowledged:
            reason = (message.error.message if message.error else None) or "no reason"
            heard.failure = LiveSessionError(
                f"live session {session_id}: the server refused an audio chunk ({reason})",
                session_id=session_id,
                error=message.error,
            )
        elif not asked["receive_acknowledgments"]:
            heard.deliver = None
    elif isinstance(message, StopRecordingAckMessage):
        heard.stop_acked = bool(message.acknowledged)
        if not asked["receive_acknowledgments"]:
            heard.deliver = None
    elif isinstance(message, PostFinalTranscriptMessage):
        heard.result = message.data
    elif isinstance(message, EndSessionMessage):
        heard.ended = True
        if not asked["receive_lifecycle_events"]:
            heard.deliver = None
    elif message.type in _LIFECYCLE and not asked["receive_lifecycle_events"]:
        heard.deliver = None
    return heard


def _ack_end(data: Any, session_id: str) -> int | None:
    """Return the offset an acknowledgement's ``data`` acknowledges up to (None without a
    ``byte_range``); raise :class:`ResponseFormatError` for a range of the wrong shape."""
    if data is None:
        return None
    byte_range = data.get("byte_range") if type(data) is dict else data
    if byte_range is None:
        return None
    if (
        type(data) is dict
        and type(byte_range) is list
        and len(byte_range) == 2
        and all(_is_offset(v) for v in byte_range)
        and byte_range[0] <= byte_range[1]
    ):
        return acked_end(byte_range)
    raise ResponseFormatError(
        f"live session {session_id}: an acknowledgement's byte_range is not a [start, end] "
        f"pair of byte offsets (got {type(byte_range).__name__}); report it"
    )


def _is_offset(value: Any) -> bool:
    if type(value) is int:
        return value >= 0
    return type(value) is float and value.is_integer() and value >= 0
