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
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any, Union

import aiohttp
import attrs

from ._errors import InvalidInput

__all__ = ["AudioSource", "PreparedAudio", "prepare_audio"]

#: What ``upload``/``transcribe`` accept as audio.
AudioSource = Union[str, "os.PathLike[str]", bytes, bytearray, IO[bytes], AsyncIterable[bytes]]

MAX_UPLOAD_BYTES = 1000 * 1000 * 1000  # docs: "Audio files must not exceed 1000 MB"


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


def _content_type(filename: str, given: str | None) -> str:
    if given:
        return given
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def _check_path(path: Path, argument: str) -> int:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InvalidInput(argument, f"no such file: {str(path)!r}") from None
    except OSError as exc:
        raise InvalidInput(argument, f"cannot read {str(path)!r}: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InvalidInput(argument, f"{str(path)!r} is a directory; pass an audio file")
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(argument, f"{str(path)!r} is not a regular file")
    if info.st_size == 0:
        raise InvalidInput(argument, f"{str(path)!r} is empty; there is no audio to transcribe")
    if info.st_size > MAX_UPLOAD_BYTES:
        raise InvalidInput(
            argument,
            f"{str(path)!r} is {info.st_size} bytes; Gladia accepts at most 1000 MB: split it",
        )
    if not os.access(path, os.R_OK):
        raise InvalidInput(argument, f"{str(path)!r} is not readable (permission denied)")
    return info.st_size


def _form(filename: str, content_type: str, value: Any) -> aiohttp.FormData:
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
        name = filename or path.name
        ctype = _content_type(name, content_type)
        opened: list[IO[bytes]] = []

        def open_file() -> aiohttp.FormData:
            handle = path.open("rb")
            opened.append(handle)
            return _form(name, ctype, handle)

        def close_all() -> None:
            while opened:
                opened.pop().close()

        return PreparedAudio(
            filename=name,
            content_type=ctype,
            make_body=open_file,
            replayable=True,
            size=size,
            cleanup=close_all,
        )
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise InvalidInput(argument, "empty bytes; there is no audio to transcribe")
        if len(data) > MAX_UPLOAD_BYTES:
            raise InvalidInput(argument, "more than 1000 MB; Gladia does not accept it: split it")
        name = filename or "audio.wav"
        ctype = _content_type(name, content_type)
        return PreparedAudio(
            filename=name,
            content_type=ctype,
            make_body=lambda: _form(name, ctype, data),
            replayable=True,
            size=len(data),
            cleanup=lambda: None,
        )
    if isinstance(source, io.IOBase) or (hasattr(source, "read") and hasattr(source, "seek")):
        return _prepare_file_object(source, filename, content_type, argument)
    if isinstance(source, AsyncIterable):
        name = filename or "audio.wav"
        ctype = _content_type(name, content_type)
        chunks = _OnceIterable(source, argument)
        return PreparedAudio(
            filename=name,
            content_type=ctype,
            make_body=lambda: _form(name, ctype, chunks.iterate()),
            replayable=False,
            size=None,
            cleanup=lambda: None,
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
    name = filename or (Path(raw_name).name if isinstance(raw_name, str) else "audio.wav")
    ctype = _content_type(name, content_type)

    def rewind() -> aiohttp.FormData:
        source.seek(start)
        return _form(name, ctype, _NonClosingReader(source))

    return PreparedAudio(
        filename=name,
        content_type=ctype,
        make_body=rewind,
        replayable=True,
        size=size,
        cleanup=lambda: None,
    )


class _NonClosingReader(io.RawIOBase):
    """Wraps the caller's file so aiohttp's payload does not close what it does not own."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self.name = getattr(inner, "name", "audio")

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._inner.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:  # the caller owns the file
        pass


class _OnceIterable:
    def __init__(self, source: AsyncIterable[bytes], argument: str) -> None:
        self._source = source
        self._argument = argument
        self.started = False

    async def iterate(self) -> AsyncIterator[bytes]:
        if self.started:
            raise InvalidInput(self._argument, "an async iterable can be uploaded only once")
        self.started = True
        async for chunk in self._source:
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise InvalidInput(
                    self._argument, f"async iterable yielded {type(chunk).__name__}, not bytes"
                )
            yield bytes(chunk)
