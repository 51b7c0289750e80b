"""The exceptions gladia-async raises, in one hierarchy.

::

    GladiaError
    ├── InvalidInput                  bad argument, raised before any request (also a ValueError)
    │   └── AudioLimitError           audio over a duration or size limit, refused before sending
    │       ├── AudioTooLongError     longer than ``Limits.max_audio_duration`` (135 min)
    │       └── AudioTooLargeError    larger than ``Limits.max_audio_bytes`` (1000 MB)
    ├── ConfigurationError            no API key, malformed base URL
    ├── JournalError                  a batch journal cannot be opened, read or written
    ├── UsageError                    the session is used in a way it cannot serve
    │   ├── SessionClosedError        a call on a session that was closed (it never reopens)
    │   └── WrongEventLoopError       a call from another event loop than the session's
    ├── TransportError                the request did not get a usable answer
    │   ├── ConnectionFailed          could not connect, or the connection dropped
    │   ├── GladiaTimeout             connect/read/total/poll deadline exceeded (also TimeoutError)
    │   │   └── PoolTimeout           no pooled connection came free within ``Timeouts.pool``
    │   ├── ResponseFormatError       the server's answer is not what the spec describes
    │   │   ├── ResponseTooLargeError a body exceeded ``Limits.max_response_bytes``
    │   │   └── PaginationLoopError   a listing's ``next`` link points at a page already read
    │   ├── ForeignURLError           a link points off the configured API origin; not followed
    │   └── JobUnconfirmedError       a job may have been created but could not be confirmed
    ├── APIStatusError                the API answered with an error status
    │   ├── BadRequestError           400, with ``validation_errors``
    │   ├── AuthenticationError       401
    │   ├── PermissionDeniedError     403
    │   ├── NotFoundError             404
    │   ├── PayloadTooLargeError      413
    │   ├── UnprocessableEntityError  422
    │   ├── RateLimitError            429, with ``retry_after``
    │   └── ServerError               5xx
    ├── JobFailedError                the job ended with status ``error``
    ├── LiveSessionError              a live session failed (defined in ``_live``)
    └── MalformedCallbackError        a callback/webhook body is not what the spec describes
                                      (defined in ``_callbacks``; also a ValueError)

Every message says what happened and what to do next. No message ever contains the API key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "APIStatusError",
    "AudioLimitError",
    "AudioTooLargeError",
    "AudioTooLongError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConnectionFailed",
    "ForeignURLError",
    "GladiaError",
    "GladiaTimeout",
    "InvalidInput",
    "JobFailedError",
    "JobUnconfirmedError",
    "JournalError",
    "NotFoundError",
    "PaginationLoopError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PoolTimeout",
    "RateLimitError",
    "ResponseFormatError",
    "ResponseTooLargeError",
    "ServerError",
    "SessionClosedError",
    "TransportError",
    "UnprocessableEntityError",
    "UsageError",
    "WrongEventLoopError",
]


class GladiaError(Exception):
    """Base of every error gladia-async raises on purpose."""


class InvalidInput(GladiaError, ValueError):
    """An argument is invalid; raised before any request is sent.

    ``argument`` names the offending parameter.
    """

    def __init__(self, argument: str, problem: str) -> None:
        self.argument = argument
        self.problem = problem
        super().__init__(f"{argument}: {problem}")


class RootCause(Exception):
    """A scrubbed stand-in for an exception that carried the API key.

    Attached as ``__cause__`` of the SDK's error so the root cause (its type and message) still
    shows in tracebacks, without the request headers or echoed server data the original held.
    """


class AudioLimitError(InvalidInput):
    """The audio is over one of Gladia's limits; refused before any request was sent.

    ``limit`` is the limit in force (seconds or bytes), ``actual`` what the file measures.
    """

    def __init__(self, argument: str, problem: str, *, actual: float, limit: float) -> None:
        self.actual = actual
        self.limit = limit
        super().__init__(argument, problem)


class AudioTooLongError(AudioLimitError):
    """The audio lasts longer than ``Limits.max_audio_duration`` (Gladia: 135 minutes).

    The duration comes from the file's headers. Split the file (``ffmpeg -f segment``), or
    raise the limit to 4 h 15 (``Limits(max_audio_duration=15300)``) on an enterprise plan.
    """


class AudioTooLargeError(AudioLimitError):
    """The audio is larger than ``Limits.max_audio_bytes`` (Gladia: 1000 MB); split it."""


class ConfigurationError(GladiaError):
    """The session is not configured well enough to talk to the API."""


class TransportError(GladiaError):
    """The request did not get a usable answer from the API.

    ``request_sent`` is ``False`` when the request provably never left (the connection could not
    be opened), ``None`` when it may have reached the server.
    """

    request_sent: bool | None = None


class ConnectionFailed(TransportError):
    """The connection could not be made, or dropped before a full response arrived."""


class GladiaTimeout(TransportError, TimeoutError):
    """A deadline passed: connect, read, total request time, or a poll/transcribe deadline."""


class PoolTimeout(GladiaTimeout):
    """No connection of the pool came free within ``Timeouts.pool``; nothing was sent.

    A sign of local overload (more concurrent calls than ``Limits.max_connections``), never of
    a server problem: it is not retried.
    """


class ResponseFormatError(TransportError):
    """The server answered with a body that does not match the API spec.

    Raised instead of an ``AttributeError``/``KeyError`` from deep inside the parser.
    """

    def __init__(self, message: str, *, cls_name: str = "", invalid_json: bool = False) -> None:
        self.cls_name = cls_name
        #: True when the body was not JSON at all (cut short, an HTML error page): retryable.
        self.invalid_json = invalid_json
        super().__init__(message)


class ResponseTooLargeError(ResponseFormatError):
    """A response body grew past ``Limits.max_response_bytes`` (counted after decompression).

    Reading stopped at the cap, so a compression bomb or an endless body cannot exhaust memory.
    """


class PaginationLoopError(ResponseFormatError):
    """A listing's ``next`` link points at a page already read in this walk.

    Following it would loop forever; the items of every page read so far were yielded first.
    """


class ForeignURLError(TransportError):
    """A URL from the server (a ``next`` link, a redirect) points at another origin.

    The SDK refuses to follow it, so the API key is never sent anywhere but the configured API.
    """


class JobUnconfirmedError(TransportError):
    """A job-creating request failed in a way that may still have created the job.

    The SDK looked the job up by its idempotency ``token`` and could neither find it nor rule it
    out. ``job_id`` is set when a candidate is known. Do not blindly submit again: look the job
    up later by ``token`` (``iter_jobs(custom_metadata={TOKEN_KEY: token})``).
    """

    def __init__(self, message: str, *, token: str | None = None, job_id: str | None = None):
        self.token = token
        self.job_id = job_id
        super().__init__(message)


class JournalError(GladiaError):
    """The journal file cannot be opened, read or written (disk full, locked, corrupt)."""


class UsageError(GladiaError):
    """The session is used in a way it cannot serve (closed, or another event loop)."""


class SessionClosedError(UsageError):
    """A call was made on a session after it was closed; a closed session never reopens."""


class WrongEventLoopError(UsageError):
    """A call was made from another event loop than the one the session's pool belongs to.

    One session serves one event loop; create a session per loop (per thread).
    """


class APIStatusError(GladiaError):
    """The API answered with an error status.

    Attributes mirror the spec's error bodies: ``status``, ``message``, ``request_id``, ``path``,
    ``validation_errors``; ``body`` holds the decoded body (or raw text when it was not JSON).
    """

    hint = "Check the request against Gladia's API reference."

    def __init__(
        self,
        *,
        status: int,
        message: str,
        request_id: str | None = None,
        path: str | None = None,
        validation_errors: Sequence[str] = (),
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.request_id = request_id
        self.path = path
        self.validation_errors = tuple(validation_errors)
        self.body = body
        self.retry_after = retry_after
        super().__init__(self._render())

    def _render(self) -> str:
        where = f" on {self.path}" if self.path else ""
        rid = f" (request_id {self.request_id})" if self.request_id else ""
        text = f"HTTP {self.status}{where}: {self.message}{rid}."
        if self.validation_errors:
            text += " Validation errors: " + "; ".join(self.validation_errors) + "."
        return f"{text} {self.hint}"


class BadRequestError(APIStatusError):
    """400: the request is malformed; see ``validation_errors``."""

    hint = "Fix the fields listed in validation_errors and send again."


class AuthenticationError(APIStatusError):
    """401: the API key is missing or invalid."""

    hint = "Set a valid key with GladiaSession(api_key=...) or the GLADIA_API_KEY variable."


class PermissionDeniedError(APIStatusError):
    """403: the operation is not allowed now (for example deleting a job still processing)."""

    hint = "Wait until the job is done or error before deleting it."


class NotFoundError(APIStatusError):
    """404: the job or file does not exist, or was deleted."""

    hint = "Check the job id or path; deleted jobs and expired files are gone for good."


class PayloadTooLargeError(APIStatusError):
    """413: the payload is larger than the API accepts."""

    hint = "Split the audio into parts under 1000 MB."


class UnprocessableEntityError(APIStatusError):
    """422: the parameters are well-formed but cannot be processed."""

    hint = "Check the option values and that the audio URL is reachable and valid audio."


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` says how long the server asked to wait."""

    hint = "Lower the concurrency or let the retry policy wait longer."


class ServerError(APIStatusError):
    """5xx: the API failed; the request was retried as far as the retry policy allows."""

    hint = "Retry later; if it persists, report the request_id to Gladia support."


class JobFailedError(GladiaError):
    """The transcription job ended with status ``error``.

    ``error_code`` is the HTTP-like code the API reports; ``job`` is the final job object.
    """

    def __init__(self, job_id: str, error_code: int | None, job: Any = None) -> None:
        self.job_id = job_id
        self.error_code = error_code
        self.job = job
        super().__init__(
            f"Job {job_id} ended in error (error_code {error_code}). "
            "Inspect job.request_params and the audio; submit again or contact Gladia support."
        )


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """Return the exception class for an HTTP error status."""
    if status >= 500:
        return ServerError
    return _STATUS_CLASSES.get(status, APIStatusError)
