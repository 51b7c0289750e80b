"""Audio sources: check them before any request, and stream them as multipart bodies.

A source is a path, ``bytes``, a binary file object, an async iterable of ``bytes`` chunks, or an
``http(s)://`` URL (imported by the API, nothing uploaded). Nothing is ever read whole into
memory except ``bytes``, which already are.
"""

from __future__ import annotations

import io
import mimetypes
import os
import stat
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import IO, Any, Union

import aiohttp
import aiohttp.payload
import attrs

from .._core.audio_info import AudioInfo, probe_audio
from .._core.config import MAX_AUDIO_BYTES, Limits
from .._core.errors import AudioTooLargeError, AudioTooLongError, InvalidInput
from .watchdog import TransferProgress

__all__ = ["AudioSource", "PreparedAudio", "check_audio_limits", "prepare_audio"]

#: What ``upload``/``transcribe`` accept as audio.
AudioSource = Union[str, "os.PathLike[str]", bytes, bytearray, IO[bytes], AsyncIterable[bytes]]

MAX_UPLOAD_BYTES = MAX_AUDIO_BYTES  # docs: "Audio files must not exceed 1000 MB"


def is_url(value: object) -> bool:
    """Return True for an ``http(s)://`` URL string."""
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


@attrs.frozen(kw_only=True)
class PreparedAudio:
    """A checked audio source, ready to be sent (possibly several times, for retries)."""

    filename: str
    content_type: str
    make_body: Callable[[], Any]
    #: An async iterable can be sent once only: it is retried only if it never started.
    replayable: bool
    size: int | None
    cleanup: Callable[[], None]
    #: Awaited before the request starts: an async iterable's first chunk is read and checked
    #: here, so a source yielding ``str`` fails as :class:`InvalidInput`, not mid-request.
    first_chunk: Callable[[], Awaitable[None]] | None = None


def _content_type(filename: str, given: str | None) -> str:
    if given:
        if not isinstance(given, str) or _has_control(given) or "/" not in given:
            raise InvalidInput(
                "content_type", f"expected a MIME type such as 'audio/wav', got {given!r}"
            )
        return given
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def _check_filename(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("filename", f"expected a non-empty file name, got {name!r}")
    if _has_control(name):
        raise InvalidInput(
            "filename", f"{name!r} contains line breaks or control characters; rename it"
        )
    return name


class UploadBody:
    """Builds a fresh multipart body per attempt; ``progress`` feeds the stall watchdog."""

    __slots__ = ("_build", "progress")

    def __init__(self, build: Callable[[TransferProgress], aiohttp.FormData]) -> None:
        self._build = build
        self.progress = TransferProgress()

    def __call__(self) -> aiohttp.FormData:
        self.progress.finished = False
        return self._build(self.progress)


class _CountingBytesPayload(aiohttp.payload.BytesPayload):
    """In-memory audio written in slices, so the watchdog sees the upload move."""

    def __init__(self, value: bytes, progress: TransferProgress, **kwargs: Any) -> None:
        super().__init__(value, **kwargs)
        self._progress = progress

    async def write(self, writer: Any) -> None:
        view = memoryview(self._value)
        step = 64 * 1024
        for start in range(0, len(view), step):
            await writer.write(view[start : start + step])
            self._progress.bytes += min(step, len(view) - start)
        self._progress.finished = True


def _check_path(path: Path, argument: str) -> int:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InvalidInput(argument, f"no such file: {str(path)!r}") from None
    except OSError as exc:
        raise InvalidInput(argument, f"cannot read {str(path)!r}: {exc.strerror}") from None
    except ValueError as exc:  # an embedded NUL: no such path can exist
        raise InvalidInput(argument, f"{str(path)!r} is not a usable path ({exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise InvalidInput(argument, f"{str(path)!r} is a directory; pass an audio file")
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(argument, f"{str(path)!r} is not a regular file")
    if info.st_size == 0:
        raise InvalidInput(argument, f"{str(path)!r} is empty; there is no audio to transcribe")
    if info.st_size > MAX_UPLOAD_BYTES:
        raise _too_large(argument, repr(str(path)), info.st_size, MAX_UPLOAD_BYTES)
    if not os.access(path, os.R_OK):
        raise InvalidInput(argument, f"{str(path)!r} is not readable (permission denied)")
    return info.st_size


def _too_large(argument: str, what: str, size: int, limit: int) -> AudioTooLargeError:
    return AudioTooLargeError(
        argument,
        f"{what} is {size:,} bytes; Gladia accepts at most {limit / 1e6:,.0f} MB per file "
        "(Limits.max_audio_bytes): split it into parts (e.g. with ffmpeg)",
        actual=size,
        limit=limit,
    )


def describe_seconds(seconds: float) -> str:
    """``8400`` -> ``"2 h 20 min"``; ``754.2`` -> ``"12 min 34 s"``: durations for people."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{seconds:.1f} s" if seconds < 10 else f"{secs} s"


def describe_limit(seconds: float) -> str:
    """``8100`` -> ``"135 minutes (2 h 15 min)"``: a duration limit as Gladia's docs say it."""
    minutes = seconds / 60
    if minutes.is_integer():
        text = f"{int(minutes)} minutes"
        return f"{text} ({describe_seconds(seconds)})" if minutes >= 60 else text
    return describe_seconds(seconds)


def check_audio_limits(
    source: object, size: int | None, limits: Limits, *, argument: str = "source"
) -> AudioInfo | None:
    """Refuse audio over ``limits`` before any request; return what its headers say.

    Reads the headers of a path, ``bytes`` or file object (a few kilobytes, no decoding; see
    :func:`probe_audio`). A duration the headers do not tell is never refused. URLs and async
    iterables are not read (``None``): the API checks what it fetches.
    """
    readable = isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview, io.IOBase))
    if is_url(source) or not (readable or (hasattr(source, "read") and hasattr(source, "seek"))):
        return None
    name = (
        repr(Path(os.fspath(source)).name)
        if isinstance(source, (str, os.PathLike))
        else "the audio"
    )
    if size is not None and size > limits.max_audio_bytes:
        raise _too_large(argument, name, size, limits.max_audio_bytes)
    # A few kilobytes read from a local file, like the stat() of prepare_audio: no thread hop.
    info = probe_audio(source)
    limit = limits.max_audio_duration
    if limit is not None and info.duration is not None and info.duration > limit:
        raise AudioTooLongError(
            argument,
            f"{name} lasts {describe_seconds(info.duration)} (from its headers); Gladia "
            f"transcribes at most {describe_limit(limit)} per file "
            "(Limits.max_audio_duration): split it into parts (e.g. ffmpeg -f segment "
            "-segment_time 3600), or on an enterprise plan allow 4 h 15 "
            "(Limits(max_audio_duration=MAX_AUDIO_DURATION_ENTERPRISE))",
            actual=info.duration,
            limit=limit,
        )
    return info


def _form(filename: str, content_type: str, value: Any) -> aiohttp.FormData:
    """A one-field multipart form (``audio``), as ``POST /v2/upload`` expects."""
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("audio", value, filename=filename, content_type=content_type)
    return form


def prepare_audio(
    source: object,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    argument: str = "source",
) -> PreparedAudio:
    """Check ``source`` and return how to stream it; raises :class:`InvalidInput` early."""
    if isinstance(source, (str, os.PathLike)):
        if isinstance(source, str) and not source:
            raise InvalidInput(argument, "empty path; pass a file path, bytes, or a URL")
        path = Path(os.fspath(source))
        size = _check_path(path, argument)
        name = _check_filename(filename or path.name)
        ctype = _content_type(name, content_type)
        opened: list[IO[bytes]] = []

        def open_file(progress: TransferProgress) -> aiohttp.FormData:
            handle = path.open("rb")
            opened.append(handle)
            return _form(name, ctype, _CountingReader(handle, progress, size, owned=True))

        def close_all() -> None:
            while opened:
                opened.pop().close()

        return PreparedAudio(
            filename=name,
            content_type=ctype,
            make_body=UploadBody(open_file),
            replayable=True,
            size=size,
            cleanup=close_all,
        )
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise InvalidInput(argument, "empty bytes; there is no audio to transcribe")
        if len(data) > MAX_UPLOAD_BYTES:
            raise _too_large(argument, "the bytes", len(data), MAX_UPLOAD_BYTES)
        name = _check_filename(filename or "audio.wav")
        ctype = _content_type(name, content_type)
        return PreparedAudio(
            filename=name,
            content_type=ctype,
            make_body=UploadBody(
                lambda progress: _form(name, ctype, _CountingBytesPayload(data, progress))
            ),
            replayable=True,
            size=len(data),
            cleanup=lambda: None,
        )
    if isinstance(source, io.IOBase) or (hasattr(source, "read") and hasattr(source, "seek")):
        return _prepare_file_object(source, filename, content_type, argument)
    if isinstance(source, AsyncIterable):
        name = _check_filename(filename or "audio.wav")
        ctype = _content_type(name, content_type)
        chunks = _OnceIterable(source, argument)
        return PreparedAudio(
            filename=name,
            content_type=ctype,
            make_body=UploadBody(lambda progress: _form(name, ctype, chunks.iterate(progress))),
            replayable=False,
            size=None,
            cleanup=chunks.close,
            first_chunk=chunks.first,
        )
    raise InvalidInput(
        argument,
        f"unsupported audio source of type {type(source).__name__}; pass a path, bytes, "
        "a binary file object, an async iterable of bytes, or an http(s) URL",
    )


def _prepare_file_object(
    source: Any, filename: str | None, content_type: str | None, argument: str
) -> PreparedAudio:
    mode = getattr(source, "mode", "rb")
    if isinstance(source, io.TextIOBase) or (isinstance(mode, str) and "b" not in mode):
        raise InvalidInput(argument, "file object is opened in text mode; open it with 'rb'")
    if getattr(source, "closed", False):
        raise InvalidInput(argument, "file object is closed")
    readable = getattr(source, "readable", None)
    if callable(readable) and not readable():
        raise InvalidInput(argument, "file object is not readable; open it with 'rb'")
    try:
        start = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(start)
    except (OSError, ValueError) as exc:
        raise InvalidInput(argument, f"file object is not seekable ({exc})") from None
    size = end - start
    if size <= 0:
        raise InvalidInput(argument, "file object has no data left to read")
    raw_name = getattr(source, "name", None)
    name = _check_filename(
        filename or (Path(raw_name).name if isinstance(raw_name, str) else "audio.wav")
    )
    ctype = _content_type(name, content_type)

    def rewind(progress: TransferProgress) -> aiohttp.FormData:
        source.seek(start)
        return _form(name, ctype, _CountingReader(source, progress, size, owned=False))

    return PreparedAudio(
        filename=name,
        content_type=ctype,
        make_body=UploadBody(rewind),
        replayable=True,
        size=size,
        cleanup=lambda: None,
    )


class _CountingReader(io.RawIOBase):
    """Wraps a file for aiohttp's payload: counts bytes read for the stall watchdog.

    ``tell``/``fileno``/``seek`` pass through so aiohttp still sends a ``Content-Length``;
    a caller's file (``owned=False``) is never closed by the payload.
    """

    def __init__(
        self, inner: IO[bytes], progress: TransferProgress, size: int, *, owned: bool
    ) -> None:
        self._inner = inner
        self._progress = progress
        self._size = size
        self._owned = owned
        self.name = getattr(inner, "name", "audio")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._inner.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._inner.seek(offset, whence)

    def fileno(self) -> int:
        return self._inner.fileno()

    def read(self, size: int | None = -1) -> bytes:
        data = self._inner.read(-1 if size is None else size)
        self._count(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        self._count(len(data))
        return len(data)

    def _count(self, n: int) -> None:
        # Runs in aiohttp's executor thread: plain stores the event loop only reads.
        self._progress.bytes += n
        if n == 0 or self._progress.bytes >= self._size:
            self._progress.finished = True

    def close(self) -> None:
        if self._owned:
            self._inner.close()
        super().close()


class _OnceIterable:
    """An async iterable sent once; its first chunk is read (and checked) before the request."""

    def __init__(self, source: AsyncIterable[bytes], argument: str) -> None:
        self._source = source
        self._argument = argument
        self._iterator: AsyncIterator[Any] | None = None
        self._first: bytes | None = None
        self._empty = False
        self.started = False

    def _check(self, chunk: object) -> bytes:
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise InvalidInput(
                self._argument, f"async iterable yielded {type(chunk).__name__}, not bytes"
            )
        return bytes(chunk)

    async def first(self) -> None:
        """Read and check the first chunk now, before any request is sent."""
        if self._iterator is not None:
            return
        self._iterator = _aiter_of(self._source)
        try:
            self._first = self._check(await self._iterator.__anext__())
        except StopAsyncIteration:
            self._empty = True

    def close(self) -> None:
        """Forget the iterator (the caller owns the source; nothing to release here)."""
        self._iterator = None

    async def iterate(self, progress: TransferProgress) -> AsyncIterator[bytes]:
        if self.started:
            raise InvalidInput(self._argument, "an async iterable can be uploaded only once")
        self.started = True
        iterator = self._iterator if self._iterator is not None else _aiter_of(self._source)
        if self._first is not None:
            first, self._first = self._first, None
            progress.bytes += len(first)
            yield first
        if not self._empty:
            async for chunk in _rest(iterator):
                data = self._check(chunk)
                progress.bytes += len(data)
                yield data
        progress.finished = True


def _aiter_of(source: AsyncIterable[Any]) -> AsyncIterator[Any]:
    """The iterator of an async iterable (``aiter()`` is Python 3.10+, spelt out for mypy)."""
    return source.__aiter__()


async def _rest(iterator: AsyncIterator[Any]) -> AsyncIterator[Any]:
    while True:
        try:
            chunk = await iterator.__anext__()
        except StopAsyncIteration:
            return
        yield chunk
