"""OpenTelemetry spans when ``opentelemetry-api`` is installed; nothing at all when it is not.

One module-level flag, :data:`tracer`: ``None`` without OpenTelemetry, so every instrumented
place costs one ``is None`` check. With it, the tracer is
``opentelemetry.trace.get_tracer("gladia_async")``, and spans go wherever the application's
tracer provider sends them (nowhere, cheaply, until one is configured).

Spans: one per HTTP call, its retries included (``GET /v2/pre-recorded/{id}``: method, route
template, host, the last answer's status, the request id from an ``x-aistt-request-id`` /
``x-request-id`` header or an error body), and one per operation (``gladia.upload``,
``gladia.create``, ``gladia.wait``, ``gladia.transcribe`` holding the three,
``gladia.transcribe_many``, ``gladia.live``), with the job id. Never the key, a query string or a
full URL (a live session's URL carries its token): hosts, route templates and ids only.
Exceptions are recorded by type (``error.type``), not by message.

OpenTelemetry is imported through :mod:`importlib`, and typed by the small protocols below, so
``mypy --strict`` reads the same code whether it is installed or not.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Awaitable, Iterator, Mapping
from typing import Any, Protocol, TypeVar

from .._version import __version__

__all__ = ["Span", "Tracer", "active", "operation", "tracer"]

T = TypeVar("T")

AttributeValue = str | int | float | bool


class Span(Protocol):
    """The part of ``opentelemetry.trace.Span`` the SDK uses."""

    def set_attribute(self, key: str, value: AttributeValue) -> None: ...

    def set_status(self, status: Any, description: str | None = None) -> None: ...

    def end(self, end_time: int | None = None) -> None: ...

    def is_recording(self) -> bool: ...


class Tracer(Protocol):
    """The part of ``opentelemetry.trace.Tracer`` the SDK uses."""

    def start_as_current_span(
        self,
        name: str,
        context: Any = None,
        kind: Any = ...,
        attributes: Mapping[str, AttributeValue] | None = None,
        links: Any = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> contextlib.AbstractContextManager[Span]: ...

    def start_span(
        self,
        name: str,
        context: Any = None,
        kind: Any = ...,
        attributes: Mapping[str, AttributeValue] | None = None,
        links: Any = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span: ...


_trace: Any = None  # the ``opentelemetry.trace`` module, when installed


def _load() -> Tracer | None:
    """Return the SDK's tracer, or None when ``opentelemetry-api`` cannot be imported."""
    global _trace
    try:
        _trace = importlib.import_module("opentelemetry.trace")
    except ImportError:
        _trace = None
        return None
    loaded: Tracer = _trace.get_tracer("gladia_async", __version__)
    return loaded


#: None without OpenTelemetry. Instrumented places ask :func:`active`, not this.
tracer: Tracer | None = _load()

#: The tracer last seen delegating to a configured provider (a provider is set once per process).
_seen: object = None


def active() -> Tracer | None:
    """The tracer when its spans go somewhere, else None: the one check instrumented places make.

    Without OpenTelemetry, or with it installed but no tracer provider configured (its default
    proxy hands out no-op spans), the SDK makes no span at all: a no-op span still costs its
    context managers on every request, and would hide the caller's current span for nothing.
    """
    global _seen
    found = tracer
    if found is None or found is _seen:
        return found
    # The default tracer is a proxy: its delegate stays a no-op tracer until the application
    # configures a provider (read without the environment lookups ``get_tracer_provider`` makes
    # per call). Should a later OpenTelemetry drop the attribute, spans are made as before.
    delegate = getattr(found, "_tracer", None)
    if isinstance(delegate, _trace.NoOpTracer):
        return None
    if delegate is not None:
        _seen = found  # the proxy has found the application's provider: it stays there
    return found


#: What ``operation`` stands for when there is no tracer (reusable, costs nothing).
NO_SPAN: contextlib.nullcontext[None] = contextlib.nullcontext()

_ROUTE = re.compile(r"^(/v2/(?:pre-recorded|transcription|live))/[^/]+")


def route_template(path: str) -> str:
    """``/v2/pre-recorded/<id>/file`` -> ``/v2/pre-recorded/{id}/file`` (no ids, no query)."""
    return _ROUTE.sub(r"\1/{id}", path)


def _fail(span: Span, exc: BaseException) -> None:
    assert _trace is not None
    span.set_attribute("error.type", type(exc).__qualname__)
    status = getattr(exc, "status", None)
    if isinstance(status, int) and not isinstance(status, bool):
        span.set_attribute("http.response.status_code", status)
    request_id = getattr(exc, "request_id", None)
    if isinstance(request_id, str):
        span.set_attribute("gladia.request_id", request_id)
    span.set_status(_trace.StatusCode.ERROR, type(exc).__qualname__)


@contextlib.contextmanager
def operation(name: str, **attributes: AttributeValue) -> Iterator[Span]:
    """A span for one SDK operation, current for what runs inside (its requests, its steps).

    Call it only when :func:`active` gives a tracer (``operation(...) if active() else NO_SPAN``).
    """
    found = active()
    assert found is not None
    with found.start_as_current_span(
        name, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield span
        except BaseException as exc:
            _fail(span, exc)
            raise


async def traced_http(call: Awaitable[T], method: str, url: Any) -> T:
    """Run one HTTP call (its retries included) inside a client span."""
    found = active()
    assert found is not None and _trace is not None
    route = route_template(url.path)
    attributes: dict[str, AttributeValue] = {
        "http.request.method": method,
        "url.template": route,
        "server.address": url.host or "",
    }
    if url.port is not None:
        attributes["server.port"] = url.port
    with found.start_as_current_span(
        f"{method} {route}",
        kind=_trace.SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            return await call
        except BaseException as exc:
            _fail(span, exc)
            raise


#: Response headers that carry the server's id of a request, most specific first.
REQUEST_ID_HEADERS = ("x-aistt-request-id", "x-request-id")


def response_seen(status: int, headers: Mapping[str, str]) -> None:
    """Note an attempt's answer on the current HTTP span (the last attempt's wins)."""
    assert _trace is not None
    span: Span = _trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute("http.response.status_code", status)
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            span.set_attribute("gladia.request_id", value)
            break


def current_span() -> Span | None:
    """The current span (to add attributes to), or None without OpenTelemetry."""
    if _trace is None:
        return None
    span: Span = _trace.get_current_span()
    return span


def start_span(name: str, **attributes: AttributeValue) -> Span | None:
    """A span that is not made current (a live session's, which spans two calls)."""
    found = active()
    if found is None:
        return None
    return found.start_span(name, attributes=attributes)


def use_span(span: Span | None) -> contextlib.AbstractContextManager[Any]:
    """Make ``span`` current for a block without ending it; nothing for None."""
    if span is None or _trace is None:
        return NO_SPAN
    used: contextlib.AbstractContextManager[Any] = _trace.use_span(span, end_on_exit=False)
    return used


def end_span(span: Span | None, exc: BaseException | None = None) -> None:
    """End a span from :func:`start_span`, failed if ``exc`` is given."""
    if span is None:
        return
    if exc is not None:
        _fail(span, exc)
    span.end()
