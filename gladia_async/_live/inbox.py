"""The live session's inbox: received messages waiting to be read, and who reads the socket.

* **Bounded**: at most ``max_buffered_messages`` messages, of at most ``max_buffered_bytes``
  on the wire, wait unread; beyond that the reader stops reading the socket until the user
  reads (back-pressure, lossless: dropping messages would lose transcripts). Once
  :meth:`Inbox.finish` runs nobody reads any more: the reader reads on, and drops (and
  counts) what arrives beyond the bounds.
* **Latency**: the task iterating ``async for`` reads the socket itself; the reader task
  stands by meanwhile and reads only when nobody iterates (acknowledgements must flow). A
  message thus reaches the user with no hand-over between tasks, each of which would cost a
  whole event-loop iteration on a busy loop.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

import anyio

from .._core.errors import GladiaError
from .._schema.live_messages import LiveEvent, LiveMessage
from .link import Socket, SocketMessage, is_closing, is_data

__all__ = ["Inbox"]

log = logging.getLogger("gladia_async")

#: The reader task takes the socket over once the user has been out of ``async for`` this
#: long (acknowledgements must flow even when nobody iterates).
_TAKEOVER_AFTER = 0.05


class Inbox:
    """The messages a live session received and nobody read yet, and the socket's reader.

    ``hear`` applies one server message to the session (and may :meth:`put` it here);
    ``failure`` returns the session's failure, if any.
    """

    def __init__(
        self,
        max_messages: int,
        max_bytes: int,
        *,
        hear: Callable[[str | bytes], None],
        failure: Callable[[], GladiaError | None],
    ) -> None:
        self._hear = hear
        self._failure = failure
        self.session_id = ""
        self._max = max_messages
        self._max_bytes = max_bytes
        self._buffer: deque[LiveMessage | LiveEvent] = deque()
        self._sizes: deque[int] = deque()  # each buffered message's size on the wire
        self._bytes = 0
        #: Messages dropped unread because they arrived after :meth:`finish` with the inbox
        #: full (nobody reads them any more; the session's own state still saw them).
        self.dropped = 0
        self._ended = False
        self._finishing = False
        self._readable: anyio.Event | None = None  # set when the user waits for a message
        self._space: anyio.Event | None = None  # set when the reader waits for room
        # Who reads the socket: the user's task while it iterates (no hand-over between
        # tasks on the latency path), the reader task otherwise. One reader at a time.
        #: The socket to read (None while there is none: the user's task waits).
        self.socket: Socket | None = None
        self._reading = False
        self._iterating = 0
        self._left_at = 0.0
        self._stash: SocketMessage | None = None
        self._pump_event: anyio.Event | None = None

    # -- the buffer ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._buffer)

    @property
    def buffered_bytes(self) -> int:
        """The unread messages' size on the wire."""
        return self._bytes

    def full(self) -> bool:
        """Whether ``max_buffered_messages`` or ``max_buffered_bytes`` wait unread."""
        return len(self._buffer) >= self._max or self._bytes >= self._max_bytes

    def put(self, item: LiveMessage | LiveEvent, size: int = 0) -> None:
        """Add a message (of ``size`` bytes on the wire) for the user to read."""
        if self._ended:
            return  # nobody will read it any more
        if self._finishing and self.full():
            # finish() reads on without back-pressure (end_session must get through), and
            # nobody may read any more: beyond the bounds a message is dropped, counted and
            # logged, so a flood after stop cannot grow memory. The session already applied
            # what it needs from it (the result, end_session).
            self.dropped += 1
            if self.dropped == 1:
                log.warning(
                    "live session %s: messages arrive after finish() with %d unread (%d bytes) "
                    "buffered; dropping the newest (see LiveSession.dropped_messages)",
                    self.session_id,
                    len(self._buffer),
                    self._bytes,
                )
            return
        self._buffer.append(item)
        self._sizes.append(size)
        self._bytes += size
        self.wake_reader()

    def pop(self) -> LiveMessage | LiveEvent:
        """Take the oldest message (there is one)."""
        item = self._buffer.popleft()
        self._bytes -= self._sizes.popleft()
        space = self._space
        if space is not None and not self.full():
            self._space = None
            space.set()
        return item

    def finish(self) -> None:
        """Nobody reads any more: read the socket on, dropping beyond the bounds."""
        self._finishing = True
        space, self._space = self._space, None
        if space is not None:
            space.set()

    def end(self) -> None:
        """No more messages: the user's iteration ends once the inbox is read."""
        self._ended = True
        for event in (self._readable, self._space):
            if event is not None:
                event.set()
        self._readable = self._space = None

    def clear(self) -> None:
        """End, and forget what nobody can read any more (the block is over)."""
        self.end()
        self._buffer.clear()
        self._sizes.clear()
        self._bytes = 0

    # -- the user's side -------------------------------------------------------------------

    async def next(self) -> LiveMessage | LiveEvent:
        """Return the next message; raise StopAsyncIteration (or the failure) at the end.

        A buffered message returns at once. Otherwise the caller's own task reads the socket
        when it is free (the reader task stands by while someone iterates).
        """
        if not self._buffer:
            self._iterating += 1
            try:
                await self._wait_for_message()
            finally:
                self._iterating -= 1
                self._left_at = time.monotonic()
                self.wake_pump()
        return self.pop()

    async def _wait_for_message(self) -> None:
        buffer = self._buffer
        while not buffer:
            if self._ended:
                failure = self._failure()
                if failure is not None:
                    raise failure from None
                raise StopAsyncIteration
            ws = self.socket
            if ws is not None and not self._reading and self._stash is None:
                self._reading = True
                try:
                    msg = await ws.receive()
                finally:
                    self._reading = False
                if is_data(msg):
                    self._hear(msg.data)
                    if self._failure() is not None:
                        self.wake_pump()  # the reader task ends the session
                elif is_closing(msg):
                    self._stash = msg  # closes and reconnections are the reader task's job
                    self.wake_pump()
                continue
            readable = self._readable
            if readable is None:  # shared, should two tasks read the same session
                readable = self._readable = anyio.Event()
            await readable.wait()

    # -- the reader task's side ------------------------------------------------------------

    async def read(self, ws: Socket) -> SocketMessage | None:
        """The reader task's turn: the next message of the socket, or one the user's task
        left for it (a close); None once the session failed."""
        msg = await self._pump_turn()
        if self._failure() is not None:
            return None
        if msg is not None:
            return msg
        self._reading = True
        try:
            return await ws.receive()
        finally:
            self._reading = False
            self.wake_reader()  # the socket is free for the user's task

    async def _pump_turn(self) -> SocketMessage | None:
        """Wait until the reader task should read the socket; return a message the user's
        task left for it (a close), or None to read the socket."""
        while True:
            stash = self._stash
            if stash is not None:
                self._stash = None
                return stash
            if self._failure() is not None:
                return None
            if not self._finishing and self.full():
                await self._wait_for_room()
                continue
            if self._iterating:  # the user's task reads the socket: stand by
                self.wake_reader()  # (it may be waiting for the socket to be free)
                pump = self._pump_event = anyio.Event()
                await pump.wait()
                continue
            # The user just left next() and will likely be back in a moment: reading now
            # would put a hand-over back on the path of the next message.
            idle = time.monotonic() - self._left_at
            if idle < _TAKEOVER_AFTER:
                await anyio.sleep(_TAKEOVER_AFTER - idle)
                continue
            return None

    async def _wait_for_room(self) -> None:
        """Back-pressure: wait while the bounds are reached (unless finishing: then nobody
        may be reading, and put() drops beyond them)."""
        while not self._finishing and self.full():
            space = self._space = anyio.Event()
            await space.wait()

    def wake_reader(self) -> None:
        """Wake a user's task waiting for a message or for the socket to be free."""
        readable = self._readable
        if readable is not None:
            self._readable = None
            readable.set()

    def wake_pump(self) -> None:
        """Wake the reader task standing by."""
        pump = self._pump_event
        if pump is not None:
            self._pump_event = None
            pump.set()
