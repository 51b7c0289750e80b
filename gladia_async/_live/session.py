"""Live transcription: :class:`LiveSession`, audio over Gladia's WebSocket with typed messages.

One session is one ``POST /v2/live`` plus one WebSocket (reopened after a drop). The pieces:

* **Back-pressure**: :meth:`LiveSession.send` waits while the audio sent but not yet
  acknowledged would exceed ``max_unacked_bytes``; that unacknowledged audio is the only
  audio the session holds, so memory stays flat whatever the producer does.
* **Lossless resume**: a close other than 1000 (or a dropped TCP connection) reconnects to
  the same URL with backoff and replays the unacknowledged audio, in frames of at most
  512 KiB, before any new audio. Acknowledged byte ranges count from the session start and
  are half-open: ``end`` is the offset just past the kept bytes, where the replay starts
  (see :func:`gladia_async._schema.live_messages.acked_end`).
* **Bounded messages**: at most ``max_buffered_messages`` received messages, of at most
  ``max_buffered_bytes`` on the wire, wait unread; beyond that the reader stops reading the
  socket until the user reads (back-pressure, lossless: the alternative, dropping messages,
  would lose transcripts). Once :meth:`LiveSession.finish` runs nobody reads any more: the
  reader reads on, and drops (and counts) what arrives beyond the bounds.
* **Giving up**: ``ReconnectPolicy.attempts`` connection attempts in a row without newly
  acknowledged audio end the session; the backoff grows with them, and opening a socket
  (first or again) is bounded by ``RetryPolicy.deadline``.
* **Latency**: the task iterating ``async for`` reads the socket itself; the reader task
  stands by meanwhile and reads only when nobody iterates (acknowledgements must flow). A
  message thus reaches the user with no hand-over between tasks, each of which would cost a
  whole event-loop iteration on a busy loop.
* **Messages** arrive typed (``async for message in live``); the SDK adds
  :class:`Reconnecting` / :class:`Reconnected` events. A refused chunk or an unrecoverable
  socket fails the session with :class:`LiveSessionError` / :class:`ConnectionFailed`.
* **Structured concurrency**: the socket reader runs in a task group that ``async with``
  entered; leaving the block sends ``stop_recording``, waits for the post-processing
  messages and ``end_session``, and closes everything. Cancellation closes the socket and
  leaves no task behind.

The API key never goes over the socket: the URL's temporary token is its only credential.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import logging
import os
import pathlib
import random
import tempfile
import time
import types
import typing
from collections import deque
from collections.abc import AsyncIterable, Iterable, Iterator
from types import TracebackType
from typing import Any, Literal

import aiohttp
import anyio
import attrs
import orjson
from anyio.abc import TaskGroup

from .._core import tracing as _tracing
from .._core.errors import (
    APIStatusError,
    ConnectionFailed,
    GladiaError,
    GladiaTimeout,
    InvalidInput,
    ResponseFormatError,
    TransportError,
    UsageError,
)
from .._http.transport import Transport, deadline
from .._schema.converter import structure, unstructure
from .._schema.live_messages import (
    ACK_TYPES,
    MAX_FRAME_BYTES,
    MESSAGE_TYPES,
    AudioChunkAckMessage,
    EndSessionMessage,
    LiveErrorDetail,
    LiveEvent,
    LiveFinalResult,
    LiveMessage,
    PostFinalTranscriptMessage,
    Reconnected,
    Reconnecting,
    SessionNearingLimit,
    StopRecordingAckMessage,
    UnknownMessage,
    acked_end,
)
from .._schema.models import InitStreamingResponse, JobStatus, LiveJob, StreamingRequest
from .._schema.validation import check_job_id, check_model

__all__ = [
    "LiveOptions",
    "LiveSession",
    "LiveSessionError",
    "ReconnectPolicy",
    "download_live_audio",
    "get_live_job",
    "patch_live_job",
]

log = logging.getLogger("gladia_async")

#: Options of a live session: the spec's ``StreamingRequest`` (encoding, sample rate, ...).
LiveOptions = StreamingRequest

#: Gladia ends a live session after 3 hours; :class:`SessionNearingLimit` fires before.
SESSION_LIMIT_SECONDS = 3 * 3600.0
_WARN_BEFORE_LIMIT = 600.0
_REGIONS = ("us-west", "eu-west")
_STOP = '{"type":"stop_recording"}'
# base64 grows a chunk by 4/3: keep JSON frames under the 512 KiB frame limit too.
_JSON_FRAME_BYTES = (MAX_FRAME_BYTES - 1024) // 4 * 3
_MAX_SERVER_MESSAGE = 64 * 1024 * 1024
_CLOSED_TYPES = (
    aiohttp.WSMsgType.CLOSE,
    aiohttp.WSMsgType.CLOSING,
    aiohttp.WSMsgType.CLOSED,
    aiohttp.WSMsgType.ERROR,
)
#: The reader task takes the socket over once the user has been out of ``async for`` this
#: long (acknowledgements must flow even when nobody iterates).
_TAKEOVER_AFTER = 0.05
_FORCED = {"receive_acknowledgments": True, "receive_lifecycle_events": True}
#: Default bound on the unread messages' size on the wire (``max_buffered_bytes``).
DEFAULT_MAX_BUFFERED_BYTES = 16 << 20


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


@attrs.frozen(kw_only=True)
class ReconnectPolicy:
    """How a live session reconnects after its socket drops.

    ``attempts`` connection attempts in a row **without progress** end the session with
    :class:`ConnectionFailed`. Progress is newly acknowledged audio: a socket that opens,
    sends messages and drops again before the server acknowledged any new audio does not
    start the count over. Waits grow with that count from ``backoff_initial`` to
    ``backoff_max`` (doubling, with jitter between half and all of it), and every reconnection
    (attempts and waits) is bounded by ``RetryPolicy.deadline`` too.
    """

    attempts: int = attrs.field(default=8, validator=attrs.validators.ge(1))
    backoff_initial: float = attrs.field(default=0.1, validator=attrs.validators.ge(0))
    backoff_max: float = attrs.field(default=5.0, validator=attrs.validators.ge(0))

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Return the wait before reconnection attempt ``attempt`` (1-based)."""
        cap = min(self.backoff_max, self.backoff_initial * 2.0 ** (attempt - 1))
        return rng.uniform(cap / 2, cap)


def options_body(options: StreamingRequest | None) -> tuple[dict[str, Any], dict[str, bool]]:
    """Check live options (raising :class:`InvalidInput`); return the POST body and the
    user's own ``messages_config`` flags for acknowledgements and lifecycle events."""
    if options is None:
        options = StreamingRequest()
    elif not isinstance(options, StreamingRequest):
        raise InvalidInput(
            "options", f"expected LiveOptions (StreamingRequest), got {type(options).__name__}"
        )
    check_model(options, "options")
    if options.channels is not None and not 1 <= options.channels <= 8:
        raise InvalidInput("options.channels", f"must be between 1 and 8, got {options.channels}")
    body: dict[str, Any] = unstructure(_with_enum_members(options))
    messages = dict(body.get("messages_config") or {})
    asked = {
        # Delivered only when asked for explicitly: unread messages are buffered, and one
        # acknowledgement per chunk would grow that buffer with the audio for nothing.
        "receive_acknowledgments": messages.get("receive_acknowledgments") is True,
        "receive_lifecycle_events": messages.get("receive_lifecycle_events") is True,
    }
    # The session needs both on the wire: acknowledgements drive back-pressure and resume,
    # lifecycle events tell a finished session from a dropped one. Delivery honours `asked`.
    body["messages_config"] = {**messages, **_FORCED}
    return body, asked


def _with_enum_members(value: Any) -> Any:
    """Return ``value`` with plain strings/ints in enum fields turned into enum members.

    ``LiveOptions(encoding="wav/pcm", sample_rate=16_000)`` is the natural way to write
    options; the converter unstructures enum fields by member (check_model already vetted
    the values).
    """
    cls = type(value)
    if not attrs.has(cls):
        return value
    hints = typing.get_type_hints(cls)
    changes: dict[str, Any] = {}
    for field in attrs.fields(cls):
        current = getattr(value, field.name)
        if current is None:
            continue
        fixed = _coerce(current, hints[field.name])
        if fixed is not current:
            changes[field.name] = fixed
    return attrs.evolve(value, **changes) if changes else value


def _coerce(value: Any, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is list:
        args = typing.get_args(tp)
        return [_coerce(v, args[0]) for v in value] if args and isinstance(value, list) else value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            is_enum = isinstance(option, type) and issubclass(option, enum.Enum)
            if is_enum or (typing.get_origin(option) is list and isinstance(value, list)):
                return _coerce(value, option)
        return _with_enum_members(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return value if isinstance(value, tp) else tp(value)
    return _with_enum_members(value)


def _bytes_per_second(options: StreamingRequest | None) -> float:
    o = options or StreamingRequest()
    rate = int(o.sample_rate or 16_000)
    depth = int(o.bit_depth or 16)
    return rate * max(depth // 8, 1) * int(o.channels or 1)


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


async def get_live_job(transport: Transport, job: str) -> LiveJob:
    """Return the live job ``GET /v2/live/{id}`` describes (its result once ``done``)."""
    job_id = check_job_id(job, "job")
    return await transport.request_json(
        "GET", transport.url(f"/v2/live/{job_id}"), LiveJob, retry="always", ok=(200,)
    )


async def patch_live_job(transport: Transport, job: str) -> None:
    """``PATCH /v2/live/{id}`` (the spec's body has no properties yet; the API answers 204)."""
    job_id = check_job_id(job, "job")
    async with transport.stream(
        "PATCH", transport.url(f"/v2/live/{job_id}"), retry="always", json={}, ok=(200, 204)
    ):
        pass


async def download_live_audio(
    transport: Transport, job: str, dest: str | os.PathLike[str]
) -> pathlib.Path:
    """Stream a live session's recorded audio to ``dest`` (via a temporary file); the path."""
    job_id = check_job_id(job, "job")
    if not isinstance(dest, (str, os.PathLike)) or not os.fspath(dest):
        raise InvalidInput("dest", "expected a file path")
    target = pathlib.Path(os.fspath(dest))
    if not target.parent.exists():
        raise InvalidInput("dest", f"folder {str(target.parent)!r} does not exist")
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    tmp = anyio.Path(tmp_name)
    try:
        async with (
            transport.stream(
                "GET", transport.url(f"/v2/live/{job_id}/file"), retry="always", ok=(200,)
            ) as response,
            await anyio.open_file(tmp_name, "wb") as out,
        ):
            async for chunk in transport.iter_chunks(response):
                await out.write(chunk)
        await tmp.rename(target)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await tmp.unlink(missing_ok=True)
        raise
    return target


class LiveSession:
    """A live transcription session: send audio, iterate typed messages, get the result.

    Get one from :meth:`GladiaSession.live` and enter it with ``async with``::

        async with gladia.live(LiveOptions(encoding="wav/pcm", sample_rate=16_000)) as live:
            async with anyio.create_task_group() as tg:
                tg.start_soon(live.send_from, chunks)
                async for message in live:
                    ...
        print(live.result.transcription.full_transcript)

    Entering creates the session (``POST /v2/live``) and opens the socket; leaving sends
    ``stop_recording``, waits for the post-processing messages and ``end_session``, and sets
    :attr:`result`. Acknowledgements and lifecycle events are always requested (the session
    runs on them) but delivered only when ``options.messages_config`` sets them to True
    explicitly.

    Messages wait in a buffer until read. While ``max_buffered_messages`` of them, or
    ``max_buffered_bytes`` of them on the wire, wait, the session stops reading the socket
    (back-pressure: nothing is dropped, memory stays bounded); a user who never reads
    therefore also holds back the acknowledgements, and :meth:`send` waits once
    ``max_unacked_bytes`` are unacknowledged. Read the messages (or raise the bounds) to keep
    audio flowing. Once :meth:`finish` runs (leaving the block), the socket is read on without
    back-pressure (``end_session`` must get through) and a message arriving beyond the bounds
    is dropped and counted in :attr:`dropped_messages`.

    A ``1000`` close with audio still unacknowledged raises :class:`LiveSessionError` (its
    ``unacknowledged_bytes`` says how much); :attr:`unacknowledged_bytes` says it at any time.
    """

    def __init__(
        self,
        transport: Transport,
        options: StreamingRequest | None = None,
        *,
        region: Literal["us-west", "eu-west"] | None = None,
        max_unacked_bytes: int = 1 << 20,
        keepalive: float | None = 10.0,
        reconnect: ReconnectPolicy | None = None,
        audio_format: Literal["binary", "json"] = "binary",
        finish_timeout: float | None = 120.0,
        max_buffered_messages: int = 1000,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
    ) -> None:
        self._body, self._asked = options_body(options)
        for name, value in (
            ("max_buffered_messages", max_buffered_messages),
            ("max_buffered_bytes", max_buffered_bytes),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(name, f"must be an integer >= 1, got {value!r}")
        if region is not None and region not in _REGIONS:
            raise InvalidInput("region", f"must be one of {_REGIONS}, got {region!r}")
        if (
            isinstance(max_unacked_bytes, bool)
            or not isinstance(max_unacked_bytes, int)
            or max_unacked_bytes < 1
        ):
            raise InvalidInput(
                "max_unacked_bytes", f"must be an integer >= 1, got {max_unacked_bytes!r}"
            )
        if keepalive is not None and (
            isinstance(keepalive, bool) or not isinstance(keepalive, (int, float)) or keepalive <= 0
        ):
            raise InvalidInput("keepalive", f"must be a positive number or None, got {keepalive!r}")
        if reconnect is not None and not isinstance(reconnect, ReconnectPolicy):
            raise InvalidInput("reconnect", "expected a ReconnectPolicy")
        if audio_format not in ("binary", "json"):
            raise InvalidInput("audio_format", f"must be 'binary' or 'json', got {audio_format!r}")
        if finish_timeout is not None and (isinstance(finish_timeout, bool) or finish_timeout <= 0):
            raise InvalidInput("finish_timeout", "must be a positive number of seconds or None")
        self._transport = transport
        self._span: _tracing.Span | None = None
        self._region = region
        self._budget = max_unacked_bytes
        self._keepalive = float(keepalive) if keepalive is not None else None
        self._policy = reconnect or ReconnectPolicy()
        self._json_audio = audio_format == "json"
        self._frame_bytes = _JSON_FRAME_BYTES if self._json_audio else MAX_FRAME_BYTES
        self._finish_timeout = finish_timeout
        self._bytes_per_second = _bytes_per_second(options)
        self._rng = random.Random()

        self.id: str = ""
        self.result: LiveFinalResult | None = None
        self._url = ""
        self._state: Literal["new", "open", "closed"] = "new"
        self._tg: TaskGroup | None = None
        # _ws takes new audio; _socket is the one being read (they differ during a replay).
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._send_lock = anyio.Lock()
        # Received messages not yet read. The reader stops reading the socket while
        # `max_buffered_messages` or `max_buffered_bytes` (their size on the wire) wait here
        # (back-pressure, nothing dropped until finish(): see _emit).
        self._max_buffered = max_buffered_messages
        self._max_buffered_bytes = max_buffered_bytes
        self._buffer: deque[LiveMessage | LiveEvent] = deque()
        self._sizes: deque[int] = deque()  # each buffered message's size on the wire
        self._buffered_bytes = 0
        #: Messages dropped unread because they arrived after :meth:`finish` began with the
        #: buffer full (nobody reads them any more; the session's own state still saw them).
        self.dropped_messages = 0
        self._buffer_ended = False
        self._readable: anyio.Event | None = None  # set when the user waits for a message
        self._space: anyio.Event | None = None  # set when the reader waits for room
        self._finishing = False
        # Who reads the socket: the user's task while it iterates (no hand-over between
        # tasks on the latency path), the reader task otherwise. One reader at a time.
        self._readable_ws: aiohttp.ClientWebSocketResponse | None = None
        self._reading = False
        self._iterating = 0
        self._left_at = 0.0
        self._stash: aiohttp.WSMessage | None = None
        self._pump_event: anyio.Event | None = None
        # Audio accounting, all in session offsets (bytes since the session start).
        self._sent_end = 0
        self._acked = 0
        self._pending: deque[tuple[int, bytes]] = deque()
        self._progress = anyio.Event()
        self._done = anyio.Event()
        self._stop_requested = False
        self._stop_acked = False
        self._ended = False
        self._warned = False
        self._failure: GladiaError | None = None
        #: Reconnections so far (for monitoring).
        self.reconnections = 0
        # Connection attempts since audio was last newly acknowledged (progress), and the
        # acknowledged offset when the count was last looked at.
        self._failed_attempts = 0
        self._acked_at_attempt = 0

    def __repr__(self) -> str:
        return f"LiveSession(id={self.id!r}, state={self._state!r})"

    # -- properties ------------------------------------------------------------------------

    @property
    def unacknowledged_bytes(self) -> int:
        """Audio sent but not yet acknowledged by the server (what a reconnect replays)."""
        return self._sent_end - self._acked

    @property
    def sent_bytes(self) -> int:
        """Audio handed to :meth:`send` so far."""
        return self._sent_end

    @property
    def acknowledged_bytes(self) -> int:
        """Audio the server has acknowledged so far."""
        return self._acked

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> LiveSession:
        if self._state != "new":
            raise UsageError("a LiveSession can be entered once; start a new one with live()")
        params = {"region": self._region} if self._region else None
        # One deadline for the whole call: the POST, then every handshake and backoff.
        limit = self._transport.retry.deadline
        started = anyio.current_time()
        if _tracing.tracer is not None:
            attributes = {"gladia.region": self._region} if self._region else {}
            self._span = _tracing.start_span("gladia.live", **attributes)
        try:
            with _tracing.use_span(self._span):
                init = await self._transport.request_json(
                    "POST",
                    self._transport.url("/v2/live"),
                    InitStreamingResponse,
                    retry="unsent",
                    json=self._body,
                    params=params,
                    ok=(200, 201),
                )
        except BaseException as exc:
            _tracing.end_span(self._span, exc)
            raise
        if self._span is not None:
            self._span.set_attribute("gladia.job_id", init.id)
        if not init.url.startswith(("ws://", "wss://")):
            _tracing.end_span(self._span, ResponseFormatError("not a ws(s):// URL"))
            raise ResponseFormatError(
                "POST /v2/live answered a session URL that is not a ws(s):// URL; report it "
                "with the session id " + init.id
            )
        self.id = init.id
        self._url = init.url
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        self._state = "open"
        try:
            left = None if limit is None else max(limit - (anyio.current_time() - started), 0.0)
            with _connect_deadline(left, limit, f"opening live session {self.id}"):
                self._ws = await self._connect_with_retries(close_code=None, initial=True)
        except BaseException as exc:
            self._state = "closed"
            _tracing.end_span(self._span, exc)
            await _exit_task_group(tg, exc)
            self._close_streams()
            raise
        tg.start_soon(self._run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        error: BaseException | None = None
        if exc_type is None and self._state == "open":
            try:
                await self.finish()
            except BaseException as caught:
                error = caught
        assert self._tg is not None
        try:
            await _exit_task_group(self._tg, error if error is not None else exc)
        except BaseException as failed:
            _tracing.end_span(self._span, failed)
            self._span = None
            raise
        finally:
            self._state = "closed"
            await self._drop_socket()
            if self._span is not None:
                self._span.set_attribute("gladia.live.acknowledged_bytes", self._acked)
                _tracing.end_span(self._span, error if error is not None else exc)
                self._span = None
            self._close_streams()
        if error is not None:
            raise error
        return False

    def _close_streams(self) -> None:
        self._end_buffer()
        self._buffer.clear()  # the block is over: nobody can read them any more
        self._sizes.clear()
        self._buffered_bytes = 0
        self._done.set()
        self._progress.set()

    # -- sending ---------------------------------------------------------------------------

    async def send(self, chunk: bytes | bytearray | memoryview) -> None:
        """Send one chunk of audio; returns once it is on its way.

        Waits first while the unacknowledged audio would exceed ``max_unacked_bytes`` (a
        chunk larger than the budget goes alone). The chunk stays in memory until the server
        acknowledges it, so a dropped socket replays it. Raises the session's failure, or
        :class:`UsageError` after ``stop_recording``.
        """
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise InvalidInput("chunk", f"expected bytes, got {type(chunk).__name__}")
        self._check_can_send()
        data = bytes(chunk)
        if not data:
            return
        while True:
            self._check_can_send()
            unacked = self._sent_end - self._acked
            if unacked == 0 or unacked + len(data) <= self._budget:
                break
            await self._progress.wait()
        async with self._send_lock:
            self._check_can_send()
            step = self._frame_bytes
            for start in range(0, len(data), step):
                frame = data[start : start + step]
                self._pending.append((self._sent_end, frame))
                self._sent_end += len(frame)
                ws = self._ws
                if ws is not None:
                    # Shielded: a frame is either written whole or (socket gone) replayed later.
                    with anyio.CancelScope(shield=True):
                        await self._write(ws, frame)
        self._check_limit()

    async def send_from(
        self,
        source: AsyncIterable[bytes] | Iterable[bytes],
        *,
        stop_recording: bool = True,
    ) -> None:
        """Send every chunk of ``source`` (async or plain iterable of bytes), then, by default,
        ``stop_recording`` so the iteration of messages ends after post-processing."""
        if isinstance(source, (bytes, bytearray, memoryview, str)):
            raise InvalidInput("source", "expected an iterable of byte chunks, not one value")
        if isinstance(source, AsyncIterable):
            async for chunk in source:
                await self.send(chunk)
        elif isinstance(source, Iterable):
            for chunk in source:
                await self.send(chunk)
        else:
            raise InvalidInput("source", f"expected an iterable of bytes, got {type(source)}")
        if stop_recording:
            await self.stop_recording()

    async def stop_recording(self) -> None:
        """Tell Gladia no more audio is coming (idempotent); post-processing starts."""
        if self._state != "open":
            raise UsageError("the live session is not open (use it inside `async with`)")
        async with self._send_lock:
            if self._stop_requested:
                return
            self._stop_requested = True
            ws = self._ws
            if ws is not None:
                with anyio.CancelScope(shield=True):
                    await self._write_text(ws, _STOP)

    async def finish(self) -> LiveFinalResult | None:
        """Stop recording, wait for post-processing and ``end_session``; return the result.

        Falls back to ``GET /v2/live/{id}`` when the socket drops during post-processing (or
        post-processing messages were not asked for). Bounded by ``finish_timeout``.
        """
        if self._failure is not None:
            raise self._failure
        # From here nobody may read the messages (leaving the block does not): the reader
        # keeps reading, or end_session could never arrive.
        self._finishing = True
        space, self._space = self._space, None
        if space is not None:
            space.set()
        if self._state == "open" and not self._stop_requested:
            await self.stop_recording()
        with deadline(self._finish_timeout, f"finishing live session {self.id}"):
            await self._done.wait()
            if self._failure is not None:
                raise self._failure
            if self.result is None:
                self.result = await self._result_from_api()
        return self.result

    async def _result_from_api(self) -> LiveFinalResult | None:
        delay = 0.05
        while True:
            job = await get_live_job(self._transport, self.id)
            if job.status == JobStatus.ERROR:
                raise LiveSessionError(
                    f"live session {self.id} ended in error (code {job.error_code})",
                    session_id=self.id,
                )
            if job.status == JobStatus.DONE:
                if job.result is None:
                    return None
                return structure(unstructure(job.result), LiveFinalResult)
            await anyio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _check_can_send(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._state != "open":
            raise UsageError("the live session is not open (use it inside `async with`)")
        if self._stop_requested:
            raise UsageError("stop_recording was sent: this live session takes no more audio")
        if self._done.is_set():
            raise LiveSessionError(
                f"live session {self.id} has ended (the server closed it); start a new one",
                session_id=self.id,
            )

    def _check_limit(self) -> None:
        seconds = self._sent_end / self._bytes_per_second
        if not self._warned and seconds >= SESSION_LIMIT_SECONDS - _WARN_BEFORE_LIMIT:
            self._warned = True
            log.warning(
                "live session %s has streamed %.0fs of audio; Gladia ends sessions at 3 hours, "
                "start a new session soon",
                self.id,
                seconds,
            )
            self._emit(
                SessionNearingLimit(audio_seconds=seconds, limit_seconds=SESSION_LIMIT_SECONDS)
            )

    async def _write(self, ws: aiohttp.ClientWebSocketResponse, frame: bytes) -> None:
        try:
            if self._json_audio:
                chunk = base64.b64encode(frame).decode()
                await ws.send_str('{"type":"audio_chunk","data":{"chunk":"' + chunk + '"}}')
            else:
                await ws.send_bytes(frame)
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            pass  # the reader sees the socket close and replays everything unacknowledged

    async def _write_text(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> None:
        try:
            await ws.send_str(text)
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            pass  # resent after the reconnection

    # -- receiving -------------------------------------------------------------------------

    def __aiter__(self) -> LiveSession:
        return self

    async def __anext__(self) -> LiveMessage | LiveEvent:
        """Return the next message or event; stops after ``end_session``.

        A buffered message returns at once. Otherwise the caller's own task reads the socket
        when it is free (the reader task stands by while someone iterates): a message goes
        from aiohttp to the caller with no hand-over between tasks, each of which would cost
        a whole event-loop iteration on a busy loop.
        """
        buffer = self._buffer
        if not buffer:
            self._iterating += 1
            try:
                await self._wait_for_message()
            finally:
                self._iterating -= 1
                self._left_at = time.monotonic()
                self._wake_pump()
        return self._pop()

    async def _wait_for_message(self) -> None:
        buffer = self._buffer
        while not buffer:
            if self._buffer_ended:
                if self._failure is not None:
                    raise self._failure from None
                raise StopAsyncIteration
            ws = self._readable_ws
            if ws is not None and not self._reading and self._stash is None:
                self._reading = True
                try:
                    msg = await ws.receive()
                finally:
                    self._reading = False
                if msg.type is aiohttp.WSMsgType.TEXT or msg.type is aiohttp.WSMsgType.BINARY:
                    self._on_text(msg.data)
                    if self._failure is not None:
                        self._wake_pump()  # the reader task ends the session
                elif msg.type in _CLOSED_TYPES:
                    self._stash = msg  # closes and reconnections are the reader task's job
                    self._wake_pump()
                continue
            readable = self._readable
            if readable is None:  # shared, should two tasks read the same session
                readable = self._readable = anyio.Event()
            await readable.wait()

    def _pop(self) -> LiveMessage | LiveEvent:
        item = self._buffer.popleft()
        self._buffered_bytes -= self._sizes.popleft()
        space = self._space
        if space is not None and not self._buffer_full():
            self._space = None
            space.set()
        return item

    def _buffer_full(self) -> bool:
        return (
            len(self._buffer) >= self._max_buffered
            or self._buffered_bytes >= self._max_buffered_bytes
        )

    def _emit(self, item: LiveMessage | LiveEvent, size: int = 0) -> None:
        if self._buffer_ended:
            return  # nobody will read it any more
        if self._finishing and self._buffer_full():
            # finish() reads on without back-pressure (end_session must get through), and
            # nobody may read any more: beyond the bounds a message is dropped, counted and
            # logged, so a flood after stop cannot grow memory. _on_text already applied
            # what the session itself needs from it (the result, end_session).
            self.dropped_messages += 1
            if self.dropped_messages == 1:
                log.warning(
                    "live session %s: messages arrive after finish() with %d unread (%d bytes) "
                    "buffered; dropping the newest (see LiveSession.dropped_messages)",
                    self.id,
                    len(self._buffer),
                    self._buffered_bytes,
                )
            return
        self._buffer.append(item)
        self._sizes.append(size)
        self._buffered_bytes += size
        readable = self._readable
        if readable is not None:
            self._readable = None
            readable.set()

    def _wake_reader(self) -> None:
        readable = self._readable
        if readable is not None:
            self._readable = None
            readable.set()

    def _wake_pump(self) -> None:
        pump = self._pump_event
        if pump is not None:
            self._pump_event = None
            pump.set()

    async def _pump_turn(self) -> aiohttp.WSMessage | None:
        """Wait until the reader task should read the socket; return a message the user's
        task left for it (a close), or None to read the socket."""
        while True:
            stash = self._stash
            if stash is not None:
                self._stash = None
                return stash
            if self._failure is not None:
                return None
            if not self._finishing and self._buffer_full():
                await self._wait_for_room()
                continue
            if self._iterating:  # the user's task reads the socket: stand by
                self._wake_reader()  # (it may be waiting for the socket to be free)
                pump = self._pump_event = anyio.Event()
                await pump.wait()
                continue
            # The user just left __anext__ and will likely be back in a moment: reading
            # now would put a hand-over back on the path of the next message.
            idle = time.monotonic() - self._left_at
            if idle < _TAKEOVER_AFTER:
                await anyio.sleep(_TAKEOVER_AFTER - idle)
                continue
            return None

    def _end_buffer(self) -> None:
        """No more messages: the user's iteration ends once the buffer is read."""
        self._buffer_ended = True
        for event in (self._readable, self._space):
            if event is not None:
                event.set()
        self._readable = self._space = None

    async def _wait_for_room(self) -> None:
        """Back-pressure: wait while ``max_buffered_messages`` or ``max_buffered_bytes`` wait
        unread (unless finishing: then nobody may be reading, and _emit drops beyond them)."""
        while not self._finishing and self._buffer_full():
            space = self._space = anyio.Event()
            await space.wait()

    def _fail(self, error: GladiaError) -> None:
        if self._failure is None:
            self._failure = error
        self._progress.set()

    def _on_acked(self, end: int) -> None:
        end = min(end, self._sent_end)
        if end <= self._acked:
            return
        self._acked = end
        pending = self._pending
        while pending and pending[0][0] + len(pending[0][1]) <= end:
            pending.popleft()
        if pending and pending[0][0] < end:
            offset, frame = pending[0]
            pending[0] = (end, frame[end - offset :])
        progress = self._progress
        self._progress = anyio.Event()
        progress.set()

    def _on_text(self, data: str | bytes) -> None:
        size = len(data)
        try:
            raw = orjson.loads(data)
        except orjson.JSONDecodeError:
            self._emit(UnknownMessage(type="", raw=data), size)
            return
        if (
            type(raw) is dict
            and raw.get("acknowledged") is True
            and raw.get("type") == "audio_chunk"
        ):
            # The common case, one per chunk: account for it from the raw JSON (checked
            # here, whatever its shape: a wrong one is a protocol violation, typed).
            try:
                end = _ack_end(raw.get("data"), self.id)
            except ResponseFormatError as exc:
                self._fail(exc)
                return
            if end is not None:
                self._on_acked(end)
            if self._asked["receive_acknowledgments"]:
                self._emit(parse_message(raw), size)
            return
        message = parse_message(raw)
        deliver = True
        if isinstance(message, AudioChunkAckMessage):
            deliver = self._asked["receive_acknowledgments"]
            if not message.acknowledged:
                self._emit(message, size)
                self._fail(
                    LiveSessionError(
                        f"live session {self.id}: the server refused an audio chunk "
                        f"({(message.error.message if message.error else None) or 'no reason'})",
                        session_id=self.id,
                        error=message.error,
                    )
                )
                return
        elif isinstance(message, StopRecordingAckMessage):
            deliver = self._asked["receive_acknowledgments"]
            if message.acknowledged:
                self._stop_acked = True
        elif isinstance(message, PostFinalTranscriptMessage):
            self.result = message.data
        elif isinstance(message, EndSessionMessage):
            self._ended = True
            deliver = self._asked["receive_lifecycle_events"]
        elif message.type in ("start_session", "start_recording", "end_recording"):
            deliver = self._asked["receive_lifecycle_events"]
        if deliver:
            self._emit(message, size)

    async def _run(self) -> None:
        """Read the socket, reconnecting after drops, until the session ends or fails."""
        ws = self._ws
        assert ws is not None
        self._socket = self._readable_ws = ws
        try:
            while True:
                while True:
                    msg = await self._pump_turn()
                    if self._failure is not None:
                        return
                    if msg is None:
                        self._reading = True
                        try:
                            msg = await ws.receive()
                        finally:
                            self._reading = False
                            self._wake_reader()  # the socket is free for the user's task
                    if msg.type is aiohttp.WSMsgType.TEXT or msg.type is aiohttp.WSMsgType.BINARY:
                        self._on_text(msg.data)
                        if self._failure is not None:
                            return
                    elif msg.type in _CLOSED_TYPES:
                        break
                self._readable_ws = None  # until the reconnection: the user's task waits
                code = None if ws.close_code is None else int(ws.close_code)
                if self._ended:
                    return
                if code == 1000:
                    lost = self.unacknowledged_bytes
                    if lost and not self._stop_acked:
                        # A normal close with audio outstanding: that audio is lost (no
                        # reconnection after 1000), and saying nothing would hide it.
                        raise LiveSessionError(
                            f"live session {self.id}: the server closed the socket (1000) "
                            f"with {lost} byte(s) of audio never acknowledged",
                            session_id=self.id,
                            unacknowledged_bytes=lost,
                        )
                    return
                if self._stop_acked:
                    return  # dropped during post-processing: finish() asks the API instead
                if code == 1009:
                    raise LiveSessionError(
                        f"live session {self.id}: the server closed the socket with 1009 "
                        "(frame too large); it accepts smaller frames than this SDK sends",
                        session_id=self.id,
                    )
                async with self._send_lock:
                    self._ws = None
                await _close_quietly(ws)
                limit = self._transport.retry.deadline
                with _connect_deadline(limit, limit, f"reconnecting live session {self.id}"):
                    ws = await self._connect_with_retries(close_code=code, initial=False)
                self._socket = ws
                self._readable_ws = ws
                self._wake_reader()
        except GladiaError as exc:
            self._fail(exc)
        except (aiohttp.ClientError, OSError) as exc:
            self._fail(
                ConnectionFailed(
                    f"live session {self.id}: the socket failed ({type(exc).__name__})"
                )
            )
        finally:
            self._readable_ws = None
            self._done.set()
            self._progress.set()
            self._end_buffer()
            with anyio.CancelScope(shield=True):
                await self._drop_socket()

    async def _drop_socket(self) -> None:
        for ws in {self._ws, self._socket} - {None}:
            assert ws is not None
            await _close_quietly(ws)
        self._ws = self._socket = None

    async def _open_socket(self) -> aiohttp.ClientWebSocketResponse:
        """Open the session's socket; a transient failure raises :class:`ConnectionFailed`
        (retried by the caller), a refused token :class:`LiveSessionError`."""
        try:
            # The token URL is its own credential: the API key never goes over the socket.
            return await self._transport.ws_connect(
                self._url,
                authenticate=False,
                heartbeat=self._keepalive,
                max_msg_size=_MAX_SERVER_MESSAGE,
                what=f"live session {self.id}'s socket",
            )
        except APIStatusError as exc:
            if exc.status in (401, 403, 404, 410):
                raise LiveSessionError(
                    f"live session {self.id}: the server refused its socket URL "
                    f"({exc.status}); the session is over or its token expired",
                    session_id=self.id,
                ) from exc
            # The transport's errors are scrubbed of the key already: safe as causes.
            raise ConnectionFailed(f"live session {self.id}: {exc}") from exc
        except TransportError as exc:  # refused, dropped, timed out, not a WebSocket answer
            raise ConnectionFailed(f"live session {self.id}: {exc}") from exc

    async def _connect_with_retries(
        self, *, close_code: int | None, initial: bool
    ) -> aiohttp.ClientWebSocketResponse:
        """Open the socket (retrying with backoff); after a drop, replay the unacknowledged
        audio (and ``stop_recording`` if it was sent) before anything new."""
        gap_started = time.monotonic()
        attempt = 0
        last_error: ConnectionFailed | None = None
        if self._acked > self._acked_at_attempt:
            # Progress since the last attempt: newly acknowledged audio, the only proof that
            # a connection did work (a server can send messages and drop us forever).
            self._failed_attempts = 0
        self._acked_at_attempt = self._acked
        while True:
            attempt += 1
            self._failed_attempts += 1
            if self._failed_attempts > self._policy.attempts:
                raise ConnectionFailed(
                    f"live session {self.id}: {self._policy.attempts} attempts in a row to "
                    f"open the socket without progress (no new audio acknowledged; last "
                    f"close code {close_code}; {last_error or 'the socket kept closing'})"
                )
            if attempt > 1 or not initial:
                # The wait grows with the attempts without progress, not with this gap's.
                delay = self._policy.delay(self._failed_attempts, self._rng)
                if not initial:
                    self._emit(
                        Reconnecting(
                            attempt=attempt,
                            close_code=close_code,
                            delay=delay,
                            unacknowledged_bytes=self.unacknowledged_bytes,
                        )
                    )
                    log.info(
                        "live session %s: socket closed (%s), reconnecting in %.2fs (attempt %d)",
                        self.id,
                        close_code,
                        delay,
                        attempt,
                    )
                await anyio.sleep(delay)
            try:
                ws = await self._open_socket()
            except ConnectionFailed as exc:
                last_error = exc
                continue
            if not initial:
                # Replayed by a task of its own while the reader reads the new socket: a
                # server that stops reading until we take its acknowledgements cannot
                # deadlock the replay. New audio waits for the replay (it holds the lock).
                assert self._tg is not None
                self._tg.start_soon(self._replay, ws, attempt, gap_started)
            return ws

    async def _replay(
        self, ws: aiohttp.ClientWebSocketResponse, attempts: int, gap_started: float
    ) -> None:
        async with self._send_lock:
            replayed = frames = 0
            for _, frame in list(self._pending):
                await self._write(ws, frame)
                replayed += len(frame)
                frames += 1
            if self._stop_requested:
                await self._write_text(ws, _STOP)
            if not ws.closed:
                self._ws = ws
        self.reconnections += 1
        self._emit(
            Reconnected(
                attempts=attempts,
                gap_seconds=time.monotonic() - gap_started,
                replayed_bytes=replayed,
                replayed_frames=frames,
            )
        )


async def _exit_task_group(tg: TaskGroup, exc: BaseException | None) -> None:
    """Cancel the session's task group and wait for its tasks.

    Only a cancellation is handed to the group (so anyio can tell whose it is); any other
    exception keeps propagating from the caller as it is, never wrapped in a group.
    """
    tg.cancel_scope.cancel()
    cancelled = exc if isinstance(exc, anyio.get_cancelled_exc_class()) else None
    await tg.__aexit__(
        type(cancelled) if cancelled is not None else None,
        cancelled,
        cancelled.__traceback__ if cancelled is not None else None,
    )


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


@contextlib.contextmanager
def _connect_deadline(seconds: float | None, limit: float | None, what: str) -> Iterator[None]:
    """Bound opening the socket (every handshake and backoff) by ``seconds``; raise
    :class:`GladiaTimeout` naming ``RetryPolicy.deadline`` (``limit``)."""
    if seconds is None:
        yield
        return
    with anyio.move_on_after(seconds) as scope:
        yield
    if scope.cancelled_caught:
        raise GladiaTimeout(
            f"{what} did not finish within RetryPolicy.deadline ({limit:g}s): the server "
            "does not answer the WebSocket handshake; check the network or raise the deadline"
        )


async def _close_quietly(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Close a socket (shielded, bounded): a dead peer must not hold up the caller."""
    if ws.closed:
        return
    with anyio.move_on_after(2.0, shield=True):
        try:
            await ws.close()
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            pass
