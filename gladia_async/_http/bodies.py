"""Reading response bodies: capped JSON bodies, skimmed error bodies, decoding into models.

A JSON body is capped at ``Limits.max_response_bytes``, counted after decompression, so an
endless body or a compression bomb stops at the cap; an error body is skimmed (small cap,
short time bound): the status is the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import aiohttp
import anyio

from .._core.config import RetryPolicy
from .._core.errors import APIStatusError, GladiaError, ResponseFormatError, ResponseTooLargeError
from .._schema.converter import loads_or_raise
from .failures import BODY_ERRORS, MaybeSent, body_failure, status_error
from .secrets import Secret

__all__ = ["ERROR_BODY_CAP", "decode", "read_capped", "status_answer", "too_large"]

T = TypeVar("T")

#: Error bodies are small JSON documents; a server that sends more is not telling us more.
ERROR_BODY_CAP = 64 * 1024
#: An error body is skimmed for at most this long (or ``Timeouts.read``, if shorter): the
#: status is the answer, and a body dripped slowly must not hold every attempt of the call.
_ERROR_BODY_SECONDS = 3.0


async def read_capped(
    response: aiohttp.ClientResponse, limit: int, key: Secret, *, strict: bool = True
) -> bytes:
    """Read a whole body, at most ``limit`` bytes after decompression.

    ``strict``: past the cap raise :class:`ResponseTooLargeError`; otherwise stop reading
    and return what came (for bodies we only skim).
    """
    length = response.content_length
    if (
        strict
        and length is not None
        and length > limit
        and not response.headers.get("Content-Encoding")
    ):
        raise too_large(response, limit)
    chunks: list[bytes] = []
    total = 0
    readany = response.content.readany
    failure: MaybeSent | None = None
    try:
        while True:
            chunk = await readany()
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                if strict:
                    raise too_large(response, limit)
                chunks.append(chunk[: len(chunk) - (total - limit)])
                break
            chunks.append(chunk)
    except BODY_ERRORS as exc:
        failure = body_failure(exc, response, key)
    if failure is not None:  # raised outside the handler: no context to carry the key
        raise failure
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def status_answer(
    response: aiohttp.ClientResponse, read: float | None, retry: RetryPolicy, key: Secret
) -> APIStatusError:
    """The typed error of an HTTP error answer, its body skimmed (``read``: Timeouts.read)."""
    # The error body is skimmed: capped in size and time (whichever comes first), so a
    # server that drips it cannot hold the call; what came by then is the body.
    raw = b""
    with anyio.move_on_after(
        _ERROR_BODY_SECONDS if read is None else min(read, _ERROR_BODY_SECONDS)
    ):
        try:
            raw = await read_capped(response, ERROR_BODY_CAP, key, strict=False)
        except GladiaError:
            raw = b""
    return status_error(response, raw, retry, key)


def too_large(response: aiohttp.ClientResponse, limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"{response.method} {response.url.path} answered with a body over {limit} bytes "
        "(Limits.max_response_bytes); reading stopped there. Raise the limit if the "
        "transcript is really that large."
    )


def decode(
    raw: bytes,
    cls: type[T],
    response: aiohttp.ClientResponse,
    scrub: Callable[[str], str] | None = None,
) -> T:
    """Parse a JSON body into ``cls``, mapping any failure to :class:`ResponseFormatError`.

    ``scrub`` takes the API key out of every error text, also of the errors a deferred block
    raises when it is first read (the converter keeps it with the block).
    """
    try:
        return loads_or_raise(raw, cls, scrub)
    except ResponseFormatError as exc:
        failure = ResponseFormatError(
            f"{response.method} {response.url.path} answered {response.status} with a body "
            f"that does not match the API spec ({exc}). If it persists, report it with the "
            "request_id.",
            cls_name=exc.cls_name,
            invalid_json=exc.invalid_json,
        )
        failure.json_path = getattr(exc, "json_path", None)  # type: ignore[attr-defined]
        failure.__cause__ = exc  # scrubbed by the converter
        failure.__suppress_context__ = True
    raise failure
