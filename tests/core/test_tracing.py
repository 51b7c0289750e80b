"""OpenTelemetry spans: a call, a job's life, a batch, a live session; nothing without OTel."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from gladia_async import (
    GladiaSession,
    LiveOptions,
    NotFoundError,
)
from gladia_async._core import tracing as _tracing

from ..conftest import write_wav


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """The SDK's tracer, pointed at an in-memory exporter (the global provider is left alone)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(_tracing, "tracer", provider.get_tracer("gladia_async"))
    yield exporter
    provider.shutdown()


def by_name(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    out: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        out.setdefault(span.name, []).append(span)
    return out


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def assert_nothing_secret(exporter: InMemorySpanExporter, *secrets: str) -> None:
    for span in exporter.get_finished_spans():
        shown = span.name + repr(dict(span.attributes or {}))
        for secret in secrets:
            assert secret not in shown, f"{secret!r} in span {span.name}"
        assert "?" not in shown and "token" not in shown, f"a query in span {span.name}"


async def test_transcribe_is_one_span_holding_upload_create_and_wait(
    gladia: GladiaSession, emu: Any, tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    job = await gladia.transcribe(write_wav(tmp_path / "a.wav"))
    named = by_name(spans)
    (root,) = named["gladia.transcribe"]
    (upload,) = named["gladia.upload"]
    (create,) = named["gladia.create"]
    (wait,) = named["gladia.wait"]
    assert {parent_of(s) for s in (upload, create, wait)} == {root.context.span_id}
    assert root.attributes is not None and create.attributes is not None
    assert root.attributes["gladia.job_id"] == job.id == create.attributes["gladia.job_id"]
    assert root.attributes["gladia.request_id"] == job.request_id
    assert wait.attributes is not None and wait.attributes["gladia.job.status"] == "done"
    (post_upload,) = named["POST /v2/upload"]
    (post_job,) = named["POST /v2/pre-recorded"]
    polls = named["GET /v2/pre-recorded/{id}"]
    assert parent_of(post_upload) == upload.context.span_id
    assert parent_of(post_job) == create.context.span_id
    assert {parent_of(p) for p in polls} == {wait.context.span_id}
    assert post_job.attributes is not None
    assert post_job.attributes["http.response.status_code"] == 201
    assert post_job.attributes["url.template"] == "/v2/pre-recorded"
    assert polls[-1].attributes is not None
    assert polls[-1].attributes["url.template"] == "/v2/pre-recorded/{id}"
    assert_nothing_secret(spans, emu.api_key, job.id + "/")


async def test_a_failed_call_records_its_status_type_and_request_id(
    gladia: GladiaSession, spans: InMemorySpanExporter
) -> None:
    with pytest.raises(NotFoundError) as caught:
        await gladia.get("45463597-20b7-4af7-b3b3-f5fb778203ab")
    (span,) = by_name(spans)["GET /v2/pre-recorded/{id}"]
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 404
    assert span.attributes["error.type"] == "NotFoundError"
    assert span.attributes["gladia.request_id"] == caught.value.request_id
    assert span.status.status_code.name == "ERROR"


async def test_a_batch_is_one_span_over_its_jobs(
    gladia: GladiaSession, tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    sources = [write_wav(tmp_path / f"{n}.wav", seconds=0.2 + n / 10) for n in range(3)]
    async with gladia.transcribe_many(sources) as outcomes:
        results = [o async for o in outcomes]
    assert all(o.ok for o in results)
    named = by_name(spans)
    (batch,) = named["gladia.transcribe_many"]
    assert batch.attributes is not None and batch.attributes["gladia.batch.done"] == 3
    every = {s.context.span_id: s for s in spans.get_finished_spans()}

    def under_batch(span: ReadableSpan) -> bool:
        while span.parent is not None:
            if span.parent.span_id == batch.context.span_id:
                return True
            span = every[span.parent.span_id]
        return False

    for name in ("gladia.upload", "gladia.create", "gladia.wait"):
        assert len(named[name]) == 3 and all(under_batch(s) for s in named[name]), name


async def test_a_live_session_is_one_span_without_its_token(
    gladia: GladiaSession, emu: Any, spans: InMemorySpanExporter
) -> None:
    pcm = LiveOptions(encoding="wav/pcm", sample_rate=16_000, bit_depth=16, channels=1)
    async with gladia.live(pcm, region="eu-west") as live:
        await live.send(b"\0" * 3200)
    named = by_name(spans)
    (span,) = named["gladia.live"]
    (init,) = named["POST /v2/live"]
    assert parent_of(init) == span.context.span_id
    assert span.attributes is not None
    assert span.attributes["gladia.job_id"] == live.id
    assert span.attributes["gladia.region"] == "eu-west"
    assert span.end_time is not None
    assert_nothing_secret(spans, emu.api_key)


async def test_without_opentelemetry_nothing_is_traced(
    gladia: GladiaSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spans: InMemorySpanExporter,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)  # import fails
    try:
        importlib.reload(_tracing)
        assert _tracing.tracer is None and _tracing.current_span() is None
        job = await gladia.transcribe(write_wav(tmp_path / "a.wav"))
        assert job.status == "done"
        assert spans.get_finished_spans() == ()  # no module kept a tracer of its own
    finally:
        monkeypatch.undo()
        importlib.reload(_tracing)
    assert _tracing.tracer is not None


async def test_installed_but_unconfigured_opentelemetry_costs_no_span(
    gladia: GladiaSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenTelemetry's default (a proxy tracer, no provider) makes the SDK skip its spans."""
    from opentelemetry import trace

    def no_span(*args: object, **kwargs: object) -> None:
        raise AssertionError("a span was started with no tracer provider configured")

    monkeypatch.setattr(_tracing, "tracer", trace.ProxyTracer("gladia_async"))
    monkeypatch.setattr(_tracing, "_seen", None)
    monkeypatch.setattr(_tracing, "traced_http", no_span)
    monkeypatch.setattr(_tracing, "operation", no_span)
    monkeypatch.setattr(_tracing, "start_span", no_span)
    assert _tracing.active() is None
    job = await gladia.transcribe(write_wav(tmp_path / "a.wav"))
    assert job.status == "done"


async def test_a_provider_configured_later_is_picked_up(
    gladia: GladiaSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's proxy tracer starts making spans once the application sets a provider."""
    from opentelemetry import trace

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    proxy = trace.ProxyTracer("gladia_async")
    monkeypatch.setattr(_tracing, "tracer", proxy)
    monkeypatch.setattr(_tracing, "_seen", None)
    job = await gladia.transcribe(write_wav(tmp_path / "a.wav"))
    assert exporter.get_finished_spans() == ()
    monkeypatch.setattr(proxy, "_real_tracer", provider.get_tracer("gladia_async"))
    await gladia.get(job.id)
    assert [span.name for span in exporter.get_finished_spans()] == ["GET /v2/pre-recorded/{id}"]
    provider.shutdown()


def test_the_route_template_hides_ids_and_queries() -> None:
    assert (
        _tracing.route_template("/v2/transcription/abc-123/file") == "/v2/transcription/{id}/file"
    )
    assert _tracing.route_template("/v2/live/abc") == "/v2/live/{id}"
    assert _tracing.route_template("/v2/upload") == "/v2/upload"
