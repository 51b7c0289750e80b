"""The live session's connection: its socket, and how it is opened again after a drop.

The only module of ``_live`` that touches aiohttp (the socket, its messages and failures).
:class:`Dialer` opens the session's socket by the :class:`ReconnectPolicy` (kept apart from
the connection, as websockets does): ``attempts`` in a row without progress, waits growing
with them; the session replays the unacknowledged audio on the socket it returns.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable, Iterator

import aiohttp
import anyio

from .._core.errors import APIStatusError, ConnectionFailed, GladiaTimeout, TransportError
from .._http.transport import Transport
from .._schema.live_messages import Reconnecting
from .options import ReconnectPolicy
from .protocol import LiveSessionError, audio_chunk_json

__all__ = [
    "SOCKET_ERRORS",
    "Dialer",
    "Ledger",
    "Socket",
    "SocketMessage",
    "close_quietly",
    "connect_deadline",
    "is_closing",
    "is_data",
    "write_audio",
    "write_text",
]

log = logging.getLogger("gladia_async")

#: A live session's socket, and one message read from it.
Socket = aiohttp.ClientWebSocketResponse
SocketMessage = aiohttp.WSMessage
#: What a socket raises once it is gone (the session turns it into ConnectionFailed).
SOCKET_ERRORS = (aiohttp.ClientError, OSError)
_WRITE_ERRORS = (aiohttp.ClientError, ConnectionError, RuntimeError)
_MAX_SERVER_MESSAGE = 64 * 1024 * 1024
_DATA_TYPES = (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)
_CLOSED_TYPES = (
    aiohttp.WSMsgType.CLOSE,
    aiohttp.WSMsgType.CLOSING,
    aiohttp.WSMsgType.CLOSED,
    aiohttp.WSMsgType.ERROR,
)


def is_data(msg: SocketMessage) -> bool:
    """Whether ``msg`` carries a server message (text, or binary read as text)."""
    return msg.type in _DATA_TYPES


def is_closing(msg: SocketMessage) -> bool:
    """Whether ``msg`` says the socket is closing or gone."""
    return msg.type in _CLOSED_TYPES


async def write_audio(ws: Socket, frame: bytes, *, as_json: bool) -> None:
    """Write one audio frame (binary, or a JSON ``audio_chunk``); a dead socket is ignored."""
    try:
        if as_json:
            await ws.send_str(audio_chunk_json(frame))
        else:
            await ws.send_bytes(frame)
    except _WRITE_ERRORS:
        pass  # the reader sees the socket close and replays everything unacknowledged


async def write_text(ws: Socket, text: str) -> None:
    """Write a text action; a dead socket is ignored (it is resent after the reconnection)."""
    try:
        await ws.send_str(text)
    except _WRITE_ERRORS:
        pass


async def close_quietly(ws: Socket) -> None:
    """Close a socket (shielded, bounded): a dead peer must not hold up the caller."""
    if ws.closed:
        return
    with anyio.move_on_after(2.0, shield=True):
        try:
            await ws.close()
        except _WRITE_ERRORS:
            pass


class Ledger:
    """The audio of a live session, in session offsets (bytes since the session start): what
    was sent, what the server acknowledged, and what a reconnection replays (the rest)."""

    def __init__(self) -> None:
        self.sent_end = 0
        self.acked = 0
        self._pending: deque[tuple[int, bytes]] = deque()
        #: Set (and replaced) whenever audio is newly acknowledged, or the session fails.
        self.progress = anyio.Event()

    @property
    def unacknowledged(self) -> int:
        """Audio sent but not yet acknowledged."""
        return self.sent_end - self.acked

    def add(self, frame: bytes) -> None:
        """Account for one frame about to be sent (kept until acknowledged)."""
        self._pending.append((self.sent_end, frame))
        self.sent_end += len(frame)

    def acknowledge(self, end: int) -> None:
        """The server kept the audio up to offset ``end``: forget it, wake the senders."""
        end = min(end, self.sent_end)
        if end <= self.acked:
            return
        self.acked = end
        pending = self._pending
        while pending and pending[0][0] + len(pending[0][1]) <= end:
            pending.popleft()
        if pending and pending[0][0] < end:
            offset, frame = pending[0]
            pending[0] = (end, frame[end - offset :])
        progress = self.progress
        self.progress = anyio.Event()
        progress.set()

    def wake(self) -> None:
        """Wake the senders waiting for progress (the session failed or ended)."""
        self.progress.set()

    async def replay(self, ws: Socket, *, as_json: bool) -> tuple[int, int]:
        """Write the unacknowledged audio to ``ws`` from the acknowledged offset on; return
        the bytes and frames replayed."""
        replayed = frames = 0
        for _, frame in list(self._pending):
            await write_audio(ws, frame, as_json=as_json)
            replayed += len(frame)
            frames += 1
        return replayed, frames


@contextlib.contextmanager
def connect_deadline(seconds: float | None, limit: float | None, what: str) -> Iterator[None]:
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


class Dialer:
    """Opens a live session's socket, again after each drop, by its :class:`ReconnectPolicy`.

    Counts the attempts since audio was last newly acknowledged (progress): the only proof
    that a connection did work, since a server can send messages and drop us forever.
    """

    def __init__(
        self,
        transport: Transport,
        policy: ReconnectPolicy,
        keepalive: float | None,
        audio: Ledger,
        announce: Callable[[Reconnecting], None],
    ) -> None:
        self._transport = transport
        self._audio = audio
        self._announce = announce
        self._policy = policy
        self._keepalive = keepalive
        self._rng = random.Random()
        #: The session's id and socket URL, known once ``POST /v2/live`` answered.
        self.session_id = ""
        self.url = ""
        self._failed_attempts = 0
        self._acked_at_attempt = 0

    async def dial(self, *, close_code: int | None, initial: bool) -> tuple[Socket, int]:
        """Open the socket (retrying with backoff); return it and the attempts it took.

        After a drop (not ``initial``) each wait is announced by a :class:`Reconnecting`.
        """
        acked = self._audio.acked
        attempt = 0
        last_error: ConnectionFailed | None = None
        if acked > self._acked_at_attempt:
            self._failed_attempts = 0  # progress since the last attempt
        self._acked_at_attempt = acked
        while True:
            attempt += 1
            self._failed_attempts += 1
            if self._failed_attempts > self._policy.attempts:
                raise ConnectionFailed(
                    f"live session {self.session_id}: {self._policy.attempts} attempts in a "
                    f"row to open the socket without progress (no new audio acknowledged; last "
                    f"close code {close_code}; {last_error or 'the socket kept closing'})"
                )
            if attempt > 1 or not initial:
                # The wait grows with the attempts without progress, not with this gap's.
                delay = self._policy.delay(self._failed_attempts, self._rng)
                if not initial:
                    self._announce(
                        Reconnecting(
                            attempt=attempt,
                            close_code=close_code,
                            delay=delay,
                            unacknowledged_bytes=self._audio.unacknowledged,
                        )
                    )
                    log.info(
                        "live session %s: socket closed (%s), reconnecting in %.2fs (attempt %d)",
                        self.session_id,
                        close_code,
                        delay,
                        attempt,
                    )
                await anyio.sleep(delay)
            try:
                return await self._open(), attempt
            except ConnectionFailed as exc:
                last_error = exc

    async def _open(self) -> Socket:
        """Open the session's socket; a transient failure raises :class:`ConnectionFailed`
        (retried by the caller), a refused token :class:`LiveSessionError`."""
        try:
            # The token URL is its own credential: the API key never goes over the socket.
            return await self._transport.ws_connect(
                self.url,
                authenticate=False,
                heartbeat=self._keepalive,
                max_msg_size=_MAX_SERVER_MESSAGE,
                what=f"live session {self.session_id}'s socket",
            )
        except APIStatusError as exc:
            if exc.status in (401, 403, 404, 410):
                raise LiveSessionError(
                    f"live session {self.session_id}: the server refused its socket URL "
                    f"({exc.status}); the session is over or its token expired",
                    session_id=self.session_id,
                ) from exc
            # The transport's errors are scrubbed of the key already: safe as causes.
            raise ConnectionFailed(f"live session {self.session_id}: {exc}") from exc
        except TransportError as exc:  # refused, dropped, timed out, not a WebSocket answer
            raise ConnectionFailed(f"live session {self.session_id}: {exc}") from exc
