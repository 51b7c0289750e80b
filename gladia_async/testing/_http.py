"""The emulator's HTTP vocabulary: API errors, JSON bodies, error bodies, fault responses.

Shared by every route module and the live hub; imports nothing above the account state.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import math
import re
import secrets
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from ._faults import FaultRule
from ._state import Job, JobStore, iso

__all__ = [
    "JOB_FAULT",
    "LIST_FAULT",
    "ApiError",
    "DropConnection",
    "base_url",
    "drop",
    "early_fault",
    "error_response",
    "json_response",
    "late_fault",
    "lookup_job",
    "read_json",
]

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "payload too large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
#: The ``job_error`` rule picked for this request, if any (read when the job is created).
JOB_FAULT: contextvars.ContextVar[FaultRule | None] = contextvars.ContextVar(
    "gladia_emulator_job_fault", default=None
)
#: Set while a listing answers under an ``ignore_metadata_filter`` rule.
LIST_FAULT: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "gladia_emulator_list_fault", default=False
)


class ApiError(Exception):
    """An API error answer: the status, the message and the optional validation errors."""

    def __init__(
        self,
        status: int,
        message: str,
        validation_errors: list[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.validation_errors = validation_errors
        self.headers = dict(headers or {})


class DropConnection(Exception):
    """Raised to close the client connection without a response."""


def json_response(
    body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """``body`` as a JSON response."""
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def drop(request: web.Request) -> None:
    """Close the request's connection."""
    transport = request.transport
    if transport is not None:
        transport.close()


async def read_json(request: web.Request) -> Any:
    """The request's JSON body (``{}`` when empty); 400 when it is not JSON."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"Invalid JSON body: {exc}") from None


def base_url(request: web.Request, public_url: str | None) -> str:
    """The emulator's URL as clients see it: ``public_url`` if set, else the request's host."""
    if public_url:
        return public_url
    return f"{request.scheme}://{request.host}"


def lookup_job(jobs: JobStore, request: web.Request) -> Job:
    """The job of ``/v2/<scope>/{id}``; 404 when it does not exist in that scope."""
    job_id = request.match_info["id"]
    job = jobs.by_id.get(job_id.lower()) if _UUID_RE.match(job_id) else None
    scope = request.path.split("/")[2]
    wrong_kind = scope != "transcription" and (scope == "live") != (
        job is not None and job.kind == "live"
    )
    if job is None or wrong_kind:
        noun = {"live": "live", "pre-recorded": "pre recorded"}.get(scope, "transcription")
        raise ApiError(404, f"The {noun} job doesn't exist or has been deleted")
    return job


def error_response(
    request: web.Request,
    now: datetime,
    status: int,
    message: str,
    validation_errors: list[str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """The service's error body (``timestamp``, ``path``, ``request_id``, ``statusCode``...)."""
    body: dict[str, Any] = {
        "timestamp": iso(now),
        "path": request.path,
        "request_id": "G-" + secrets.token_hex(4),
        "statusCode": status,
        "message": message,
    }
    if validation_errors is not None:
        body["validation_errors"] = validation_errors
    return json_response(body, status=status, headers=headers)


async def early_fault(
    request: web.Request, rule: FaultRule, now: datetime
) -> web.StreamResponse | None:
    """The response of a fault that replaces the route, or None when the route still runs."""
    if rule.kind == "delay":
        await asyncio.sleep(rule.delay)
        return None
    if rule.kind == "status":
        headers: dict[str, str] = {}
        if rule.retry_after is not None:
            headers["Retry-After"] = _retry_after(rule)
        message = rule.message or _REASONS.get(rule.status, "Error")
        return error_response(request, now, rule.status, message, headers=headers)
    if rule.kind == "html_502":
        return web.Response(status=502, text=_HTML_502, content_type="text/html")
    if rule.kind == "reset_before_body":
        drop(request)
        return web.Response(status=499)
    return None


def late_fault(
    request: web.Request, rule: FaultRule, response: web.StreamResponse
) -> web.StreamResponse:
    """The route's ``response`` as a fault that acts after the route alters it."""
    if rule.kind == "reset_after_body":
        drop(request)
        return web.Response(status=499)
    if rule.kind in ("truncated_json", "malformed_json") and isinstance(response, web.Response):
        body = response.body if isinstance(response.body, bytes) else b""
        if rule.kind == "truncated_json":
            broken = body[: len(body) // 2] if body else b"{"
        else:
            broken = body.replace(b'":', b'"=', 1) if b'":' in body else b"{]"
        return web.Response(status=response.status, body=broken, content_type="application/json")
    return response


def _retry_after(rule: FaultRule) -> str:
    value = rule.retry_after
    if isinstance(value, str):
        return value
    seconds = float(value or 0.0)
    if rule.retry_after_http_date:
        moment = time.time() + math.ceil(seconds)
        return email.utils.formatdate(moment, usegmt=True)
    return f"{seconds:g}"
