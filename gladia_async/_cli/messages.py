"""Errors said to a shell user: flags, environment variables and commands, not Python calls.

The SDK's exceptions carry advice for Python code (``GladiaSession(api_key=...)``,
``wait(job_id)``); the same failure seen from the command line gets the command line's advice.
Only the wording changes: the facts (status, server message, request id) come from the error.
"""

from __future__ import annotations

from .._core.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConnectionFailed,
    ForeignURLError,
    GladiaError,
    GladiaTimeout,
    InvalidInput,
    JobFailedError,
    JobUnconfirmedError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    UnprocessableEntityError,
)

__all__ = ["NO_KEY", "explain"]

NO_KEY = (
    "no API key: set GLADIA_API_KEY or pass --api-key "
    "(to try things offline, run `gladia-async emulator` in another terminal)"
)

_UPLOAD_PATH = "/v2/upload"


def _facts(exc: APIStatusError) -> str:
    text = f"HTTP {exc.status}: {exc.message.rstrip('.')}"
    if exc.validation_errors:
        shown = list(exc.validation_errors[:3])
        more = len(exc.validation_errors) - len(shown)
        text += " (" + "; ".join(shown) + (f"; and {more} more" if more > 0 else "") + ")"
    if exc.request_id:
        text += f" [request_id {exc.request_id}]"
    return text


def explain(exc: BaseException, *, job_id: str | None = None, api_url: str = "the API") -> str:
    """Return one line saying what went wrong and what to type next, for ``exc``.

    ``job_id`` names the job the failure belongs to, when the caller knows it; ``api_url`` the
    base URL in use.
    """
    if isinstance(exc, InvalidInput):
        return f"{exc.argument}: {exc.problem}"
    if isinstance(exc, ConfigurationError):
        if "API key" in str(exc):
            return NO_KEY
        return f"{exc} (set with --api-url or GLADIA_API_URL)"
    if isinstance(exc, AuthenticationError):
        return (
            f"the API key was refused ({_facts(exc)}); check GLADIA_API_KEY or --api-key, "
            "and --api-url / GLADIA_API_URL"
        )
    if isinstance(exc, UnprocessableEntityError):
        if exc.path and exc.path.rstrip("/").endswith(_UPLOAD_PATH):
            return (
                f"not a readable audio or video file ({_facts(exc)}); check that it plays, "
                "or convert it (e.g. with ffmpeg)"
            )
        return (
            f"the transcription request was refused ({_facts(exc)}); check --language, "
            "--subtitles and --options-json"
        )
    if isinstance(exc, BadRequestError):
        return f"the API refused the request ({_facts(exc)}); check the options given"
    if isinstance(exc, NotFoundError):
        what = f"job {job_id}" if job_id else "the job or file"
        return (
            f"{what} was not found ({_facts(exc)}); it was deleted or never existed, "
            "see `gladia-async jobs`"
        )
    if isinstance(exc, PermissionDeniedError):
        what = f"job {job_id}" if job_id else "the job"
        return (
            f"{what} cannot be deleted yet ({_facts(exc)}); it is still queued or processing, "
            "check it with `gladia-async get ID` and delete it once done"
        )
    if isinstance(exc, PayloadTooLargeError):
        return f"file too large ({_facts(exc)}); split it into parts under 1000 MB (e.g. ffmpeg)"
    if isinstance(exc, RateLimitError):
        return f"rate limited by the API ({_facts(exc)}); lower --concurrency and run again"
    if isinstance(exc, ServerError):
        return (
            f"Gladia's API failed ({_facts(exc)}) after retries; run again later, and quote "
            "the request_id to Gladia support if it persists"
        )
    if isinstance(exc, APIStatusError):
        return f"the API answered with an error ({_facts(exc)})"
    if isinstance(exc, JobFailedError):
        return (
            f"job {exc.job_id} ended in error (error_code {exc.error_code}); "
            f"inspect it with `gladia-async get {exc.job_id}`"
        )
    if isinstance(exc, GladiaTimeout):
        if job_id:
            return (
                f"job {job_id} not finished in time; check it later with "
                f"`gladia-async get {job_id}`, or give more time with --timeout"
            )
        return "the API did not answer in time; check the network and run again"
    if isinstance(exc, JobUnconfirmedError):
        return (
            "the connection failed while creating the job and it could not be confirmed; "
            "look for it with `gladia-async jobs` before running again"
        )
    if isinstance(exc, ConnectionFailed):
        if "could not connect" in str(exc):
            return (
                f"could not connect to {api_url}; check --api-url / GLADIA_API_URL and the "
                "network (is the server or `gladia-async emulator` running?)"
            )
        return f"the connection to {api_url} dropped; check the network and run again"
    if isinstance(exc, ForeignURLError):
        return f"{exc} (not followed, so the API key stays with --api-url's host)"
    if isinstance(exc, ResponseFormatError):
        return f"unexpected answer from the API ({exc}); check --api-url / GLADIA_API_URL"
    if isinstance(exc, GladiaError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return f"cannot read{where}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"
