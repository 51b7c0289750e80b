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
* **Bounded messages** and **latency**: see :mod:`gladia_async._live.inbox` (back-pressure
  on the socket; the iterating task reads the socket itself).
* **Giving up**: ``ReconnectPolicy.attempts`` connection attempts in a row without newly
  acknowledged audio end the session; the backoff grows with them, and opening a socket
  (first or again) is bounded by ``RetryPolicy.deadline``.
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

import logging
import time
from collections.abc import AsyncIterable, Iterable
from types import TracebackType
from typing import Literal

import anyio
from anyio.abc import TaskGroup

from .._api.live_jobs import get_live_job
from .._core import tracing as _tracing
from .._core.checks import check_count, check_interval, check_seconds
from .._core.errors import (
    ConnectionFailed,
    GladiaError,
    InvalidInput,
    ResponseFormatError,
    UsageError,
)
from .._http.transport import Transport, deadline
from .._schema.converter import structure, unstructure
from .._schema.live_messages import (
    MAX_FRAME_BYTES,
    LiveEvent,
    LiveFinalResult,
    LiveMessage,
    Reconnected,
    SessionNearingLimit,
)
from .._schema.models import InitStreamingResponse, JobStatus
from .inbox import Inbox
from .link import (
    SOCKET_ERRORS,
    Dialer,
    Ledger,
    Socket,
    close_quietly,
    connect_deadline,
    is_closing,
    is_data,
    write_audio,
    write_text,
)
from .options import (
    DEFAULT_MAX_BUFFERED_BYTES,
    REGIONS,
    LiveOptions,
    ReconnectPolicy,
    bytes_per_second,
    options_body,
)
from .protocol import JSON_FRAME_BYTES, STOP, LiveSessionError, hear

__all__ = ["LiveSession"]

log = logging.getLogger("gladia_async")

#: Gladia ends a live session after 3 hours; :class:`SessionNearingLimit` fires before.
SESSION_LIMIT_SECONDS = 3 * 3600.0
_WARN_BEFORE_LIMIT = 600.0


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
        options: LiveOptions | None = None,
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
        check_count(max_buffered_messages, "max_buffered_messages")
        check_count(max_buffered_bytes, "max_buffered_bytes")
        if region is not None and region not in REGIONS:
            raise InvalidInput("region", f"must be one of {REGIONS}, got {region!r}")
        check_count(max_unacked_bytes, "max_unacked_bytes")
        keepalive = check_interval(keepalive, "keepalive")
        if reconnect is not None and not isinstance(reconnect, ReconnectPolicy):
            raise InvalidInput("reconnect", "expected a ReconnectPolicy")
        if audio_format not in ("binary", "json"):
            raise InvalidInput("audio_format", f"must be 'binary' or 'json', got {audio_format!r}")
        self._finish_timeout = check_seconds(finish_timeout, "finish_timeout")
        self._transport = transport
        self._span: _tracing.Span | None = None
        self._region = region
        self._budget = max_unacked_bytes
        self._json_audio = audio_format == "json"
        self._frame_bytes = JSON_FRAME_BYTES if self._json_audio else MAX_FRAME_BYTES
        self._bytes_per_second = bytes_per_second(options)

        self.id: str = ""
        self.result: LiveFinalResult | None = None
        self._state: Literal["new", "open", "closed"] = "new"
        self._tg: TaskGroup | None = None
        # _ws takes new audio; _socket is the one being read (they differ during a replay).
        self._ws: Socket | None = None
        self._socket: Socket | None = None
        self._send_lock = anyio.Lock()
        # Received messages not yet read (back-pressure, nothing dropped until finish()).
        self._inbox = Inbox(
            max_buffered_messages,
            max_buffered_bytes,
            hear=self._on_text,
            failure=lambda: self._failure,
        )
        self._audio = Ledger()
        self._dialer = Dialer(
            transport, reconnect or ReconnectPolicy(), keepalive, self._audio, self._inbox.put
        )
        self._done = anyio.Event()
        self._stop_requested = False
        self._stop_acked = False
        self._ended = False
        self._warned = False
        self._failure: GladiaError | None = None
        #: Reconnections so far (for monitoring).
        self.reconnections = 0

    def __repr__(self) -> str:
        return f"LiveSession(id={self.id!r}, state={self._state!r})"

    # -- properties ------------------------------------------------------------------------

    @property
    def unacknowledged_bytes(self) -> int:
        """Audio sent but not yet acknowledged by the server (what a reconnect replays)."""
        return self._audio.unacknowledged

    @property
    def sent_bytes(self) -> int:
        """Audio handed to :meth:`send` so far."""
        return self._audio.sent_end

    @property
    def acknowledged_bytes(self) -> int:
        """Audio the server has acknowledged so far."""
        return self._audio.acked

    @property
    def dropped_messages(self) -> int:
        """Messages dropped unread because they arrived after :meth:`finish` began with the
        buffer full (nobody reads them any more; the session's own state still saw them)."""
        return self._inbox.dropped

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> LiveSession:
        if self._state != "new":
            raise UsageError("a LiveSession can be entered once; start a new one with live()")
        params = {"region": self._region} if self._region else None
        # One deadline for the whole call: the POST, then every handshake and backoff.
        limit = self._transport.retry.deadline
        started = anyio.current_time()
        if _tracing.active() is not None:
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
        self._dialer.session_id = self._inbox.session_id = init.id
        self._dialer.url = init.url
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        self._state = "open"
        try:
            left = None if limit is None else max(limit - (anyio.current_time() - started), 0.0)
            with connect_deadline(left, limit, f"opening live session {self.id}"):
                self._ws = await self._connect(close_code=None, initial=True)
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
                self._span.set_attribute("gladia.live.acknowledged_bytes", self._audio.acked)
                _tracing.end_span(self._span, error if error is not None else exc)
                self._span = None
            self._close_streams()
        if error is not None:
            raise error
        return False

    def _close_streams(self) -> None:
        self._inbox.clear()  # the block is over: nobody can read them any more
        self._done.set()
        self._audio.wake()

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
            unacked = self._audio.unacknowledged
            if unacked == 0 or unacked + len(data) <= self._budget:
                break
            await self._audio.progress.wait()
        async with self._send_lock:
            self._check_can_send()
            step = self._frame_bytes
            for start in range(0, len(data), step):
                frame = data[start : start + step]
                self._audio.add(frame)
                ws = self._ws
                if ws is not None:
                    # Shielded: a frame is either written whole or (socket gone) replayed later.
                    with anyio.CancelScope(shield=True):
                        await write_audio(ws, frame, as_json=self._json_audio)
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
                    await write_text(ws, STOP)

    async def finish(self) -> LiveFinalResult | None:
        """Stop recording, wait for post-processing and ``end_session``; return the result.

        Falls back to ``GET /v2/live/{id}`` when the socket drops during post-processing (or
        post-processing messages were not asked for). Bounded by ``finish_timeout``.
        """
        if self._failure is not None:
            raise self._failure
        # From here nobody may read the messages (leaving the block does not): the reader
        # keeps reading, or end_session could never arrive.
        self._inbox.finish()
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
        seconds = self._audio.sent_end / self._bytes_per_second
        if not self._warned and seconds >= SESSION_LIMIT_SECONDS - _WARN_BEFORE_LIMIT:
            self._warned = True
            log.warning(
                "live session %s has streamed %.0fs of audio; Gladia ends sessions at 3 hours, "
                "start a new session soon",
                self.id,
                seconds,
            )
            self._inbox.put(
                SessionNearingLimit(audio_seconds=seconds, limit_seconds=SESSION_LIMIT_SECONDS)
            )

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
        return await self._inbox.next()

    def _fail(self, error: GladiaError) -> None:
        if self._failure is None:
            self._failure = error
        self._audio.wake()

    def _on_text(self, data: str | bytes) -> None:
        heard = hear(data, self.id, self._asked)
        if heard.acked_end is not None:
            self._audio.acknowledge(heard.acked_end)
        if heard.stop_acked:
            self._stop_acked = True
        if heard.result is not None:
            self.result = heard.result
        if heard.ended:
            self._ended = True
        if heard.deliver is not None:
            self._inbox.put(heard.deliver, len(data))
        if heard.failure is not None:
            self._fail(heard.failure)

    async def _run(self) -> None:
        """Read the socket, reconnecting after drops, until the session ends or fails."""
        inbox = self._inbox
        ws = self._ws
        assert ws is not None
        self._socket = inbox.socket = ws
        try:
            while True:
                while True:
                    msg = await inbox.read(ws)
                    if msg is None:  # the session failed
                        return
                    if is_data(msg):
                        self._on_text(msg.data)
                        if self._failure is not None:
                            return
                    elif is_closing(msg):
                        break
                inbox.socket = None  # until the reconnection: the user's task waits
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
                await close_quietly(ws)
                limit = self._transport.retry.deadline
                with connect_deadline(limit, limit, f"reconnecting live session {self.id}"):
                    ws = await self._connect(close_code=code, initial=False)
                self._socket = ws
                inbox.socket = ws
                inbox.wake_reader()
        except GladiaError as exc:
            self._fail(exc)
        except SOCKET_ERRORS as exc:
            self._fail(
                ConnectionFailed(
                    f"live session {self.id}: the socket failed ({type(exc).__name__})"
                )
            )
        finally:
            inbox.socket = None
            self._done.set()
            self._audio.wake()
            inbox.end()
            with anyio.CancelScope(shield=True):
                await self._drop_socket()

    async def _drop_socket(self) -> None:
        for ws in {self._ws, self._socket} - {None}:
            assert ws is not None
            await close_quietly(ws)
        self._ws = self._socket = None

    async def _connect(self, *, close_code: int | None, initial: bool) -> Socket:
        """Open the socket (retrying with backoff); after a drop, replay the unacknowledged
        audio (and ``stop_recording`` if it was sent) before anything new."""
        gap_started = time.monotonic()
        ws, attempt = await self._dialer.dial(close_code=close_code, initial=initial)
        if not initial:
            # Replayed by a task of its own while the reader reads the new socket: a server
            # that stops reading until we take its acknowledgements cannot deadlock the
            # replay. New audio waits for the replay (it holds the lock).
            assert self._tg is not None
            self._tg.start_soon(self._replay, ws, attempt, gap_started)
        return ws

    async def _replay(self, ws: Socket, attempts: int, gap_started: float) -> None:
        async with self._send_lock:
            replayed, frames = await self._audio.replay(ws, as_json=self._json_audio)
            if self._stop_requested:
                await write_text(ws, STOP)
            if not ws.closed:
                self._ws = ws
        self.reconnections += 1
        self._inbox.put(
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
