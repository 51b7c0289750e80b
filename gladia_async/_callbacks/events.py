"""Callback and webhook bodies: the typed events Gladia posts, parsed, and what a handler gets.

:func:`parse_callback` and :func:`parse_webhook` turn a body into the model the spec gives its
event (an :class:`UnknownEvent` for an event this version does not know) or raise
:class:`MalformedCallbackError`; a :class:`Delivery` is one authenticated, first-seen event as
the receiver hands it to your handler, and a :class:`CallbackReply` is what the sender is
answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeAlias

import attrs
import orjson

from .._core.errors import GladiaError, InvalidInput, JobFailedError
from .._schema import models as m
from .._schema.converter import StructureError, converter
from .._schema.models import LiveJob, TranscriptionJob, TranscriptionResult

__all__ = [
    "ONCE_PER_JOB",
    "VERIFIABLE",
    "CallbackPayload",
    "CallbackReply",
    "Delivery",
    "DeliveryHandler",
    "MalformedCallbackError",
    "UnknownEvent",
    "WebhookPayload",
    "event_from_job",
    "event_job_id",
    "parse_callback",
    "parse_event",
    "parse_webhook",
    "result_of",
    "too_large",
    "webhook_event",
]


class MalformedCallbackError(GladiaError, ValueError):
    """A callback or webhook body that is not what the spec describes (answered 400)."""


@attrs.frozen(kw_only=True)
class UnknownEvent:
    """An event this SDK version does not know: its name, job id (if any) and raw JSON body."""

    event: str
    id: str | None
    body: dict[str, Any]


CallbackPayload: TypeAlias = (
    m.CallbackTranscriptionSuccessPayload
    | m.CallbackTranscriptionErrorPayload
    | m.CallbackLiveAudioChunkAckMessage
    | m.CallbackLiveEndRecordingMessage
    | m.CallbackLiveEndSessionMessage
    | m.CallbackLiveTranslationMessage
    | m.CallbackLiveNamedEntityRecognitionMessage
    | m.CallbackLivePostChapterizationMessage
    | m.CallbackLivePostFinalTranscriptMessage
    | m.CallbackLivePostSummarizationMessage
    | m.CallbackLivePostTranscriptMessage
    | m.CallbackLiveSentimentAnalysisMessage
    | m.CallbackLiveStartRecordingMessage
    | m.CallbackLiveStartSessionMessage
    | m.CallbackLiveStopRecordingAckMessage
    | m.CallbackLiveTranscriptMessage
    | m.CallbackLiveSpeechStartMessage
    | m.CallbackLiveSpeechEndMessage
    | UnknownEvent
)
"""Any body Gladia posts to a callback URL, as the typed model :func:`parse_callback` returns."""

WebhookPayload: TypeAlias = (
    m.WebhookTranscriptionCreatedPayload
    | m.WebhookTranscriptionSuccessPayload
    | m.WebhookTranscriptionErrorPayload
    | m.WebhookLiveStartSessionPayload
    | m.WebhookLiveStartRecordingPayload
    | m.WebhookLiveEndRecordingPayload
    | m.WebhookLiveEndSessionPayload
    | UnknownEvent
)
"""Any webhook event, as the typed model :func:`parse_webhook` returns, or an UnknownEvent."""

_CALLBACKS: dict[str, type[Any]] = {
    "transcription.success": m.CallbackTranscriptionSuccessPayload,
    "transcription.error": m.CallbackTranscriptionErrorPayload,
    "live.audio_chunk": m.CallbackLiveAudioChunkAckMessage,
    "live.end_recording": m.CallbackLiveEndRecordingMessage,
    "live.end_session": m.CallbackLiveEndSessionMessage,
    "live.translation": m.CallbackLiveTranslationMessage,
    "live.named_entity_recognition": m.CallbackLiveNamedEntityRecognitionMessage,
    "live.post_chapterization": m.CallbackLivePostChapterizationMessage,
    "live.post_final_transcript": m.CallbackLivePostFinalTranscriptMessage,
    "live.post_summarization": m.CallbackLivePostSummarizationMessage,
    "live.post_transcript": m.CallbackLivePostTranscriptMessage,
    "live.sentiment_analysis": m.CallbackLiveSentimentAnalysisMessage,
    "live.start_recording": m.CallbackLiveStartRecordingMessage,
    "live.start_session": m.CallbackLiveStartSessionMessage,
    "live.stop_recording": m.CallbackLiveStopRecordingAckMessage,
    "live.transcript": m.CallbackLiveTranscriptMessage,
    "live.speech_start": m.CallbackLiveSpeechStartMessage,
    "live.speech_end": m.CallbackLiveSpeechEndMessage,
}

_WEBHOOKS: dict[str, type[Any]] = {
    "transcription.created": m.WebhookTranscriptionCreatedPayload,
    "transcription.success": m.WebhookTranscriptionSuccessPayload,
    "transcription.error": m.WebhookTranscriptionErrorPayload,
    "live.start_session": m.WebhookLiveStartSessionPayload,
    "live.start_recording": m.WebhookLiveStartRecordingPayload,
    "live.end_recording": m.WebhookLiveEndRecordingPayload,
    "live.end_session": m.WebhookLiveEndSessionPayload,
}


def _load_object(body: bytes | str) -> dict[str, Any]:
    if not isinstance(body, (bytes, bytearray, memoryview, str)):
        raise InvalidInput("body", f"expected bytes, got {type(body).__name__}")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedCallbackError(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedCallbackError(f"the body is a JSON {type(data).__name__}, not an object")
    event = data.get("event")
    if not isinstance(event, str) or not event:
        raise MalformedCallbackError('the body has no "event" string')
    return data


_STRUCTURE_FAILURES: tuple[type[BaseException], ...] = (*StructureError, AttributeError)


def _structure(data: dict[str, Any], cls: type[Any]) -> Any:
    try:
        return converter.structure(data, cls)
    # Untrusted input: cattrs can also fail with AttributeError (a list where an object goes).
    except _STRUCTURE_FAILURES as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise MalformedCallbackError(
            f"the {data['event']!r} body does not match {cls.__name__}: {detail}"
        ) from None


def parse_callback(body: bytes | str) -> CallbackPayload:
    """Return the typed event of a callback body (``UnknownEvent`` for an event not in the spec).

    Raises :class:`MalformedCallbackError` when the body is not JSON, has no ``event`` or ``id``,
    or does not match its event's schema.
    """
    data = _load_object(body)
    job_id = data.get("id")
    if not isinstance(job_id, str) or not job_id:
        raise MalformedCallbackError('a callback body has an "id" string (the job id)')
    cls = _CALLBACKS.get(data["event"])
    if cls is None:
        return UnknownEvent(event=data["event"], id=job_id, body=data)
    parsed: CallbackPayload = _structure(data, cls)
    return parsed


def parse_webhook(body: bytes | str) -> WebhookPayload:
    """Return the typed event of a webhook body (``UnknownEvent`` for an event not in the spec).

    Raises :class:`MalformedCallbackError` when the body is not JSON, has no ``event`` or does
    not match its event's schema (a webhook's job id is ``payload.id``).
    """
    data = _load_object(body)
    cls = _WEBHOOKS.get(data["event"])
    if cls is None:
        payload = data.get("payload")
        job_id = payload.get("id") if isinstance(payload, dict) else None
        return UnknownEvent(
            event=data["event"], id=job_id if isinstance(job_id, str) else None, body=data
        )
    parsed: WebhookPayload = _structure(data, cls)
    return parsed


def parse_event(body: bytes | str) -> tuple[Literal["callback", "webhook"], Any]:
    """Return ``("callback" | "webhook", typed event)``: a callback body has a top-level ``id``."""
    data = _load_object(body)
    if "id" in data:
        return "callback", parse_callback(body)
    return "webhook", parse_webhook(body)


def webhook_event(name: str, job_id: str) -> Any:
    """The webhook event ``name`` about ``job_id``, typed (a webhook carries nothing else)."""
    return _structure({"event": name, "payload": {"id": job_id}}, _WEBHOOKS[name])


def event_job_id(kind: str, event: Any) -> str | None:
    """The job id a parsed callback (``id``) or webhook (``payload.id``) names."""
    if isinstance(event, UnknownEvent):
        return event.id
    if kind == "callback":
        return str(event.id)
    return str(event.payload.id)


@attrs.frozen(kw_only=True)
class Delivery:
    """One authenticated, first-seen delivery, as your handler receives it.

    ``event`` is the typed payload (:data:`CallbackPayload` or :data:`WebhookPayload`): with
    ``verify=True`` it is rebuilt from the fetched job, so nothing in it comes from the
    sender's body; ``job`` is the job as the API returned it when the receiver fetched it
    (``verify=True``, or to check a per-job token), else ``None``.
    """

    kind: Literal["callback", "webhook"]
    name: str
    job_id: str
    event: Any
    job: TranscriptionJob | LiveJob | None = None

    @property
    def result(self) -> TranscriptionResult | None:
        """The transcription result carried (or verified) by a ``transcription.success``."""
        if self.job is not None and isinstance(self.job, TranscriptionJob):
            return self.job.result
        if isinstance(self.event, m.CallbackTranscriptionSuccessPayload):
            return self.event.payload
        return None


@attrs.frozen(kw_only=True)
class CallbackReply:
    """What the receiver answers: an HTTP status and a small JSON body."""

    status: int
    body: bytes

    @classmethod
    def of(cls, status: int, **fields: Any) -> CallbackReply:
        """A reply with ``fields`` as its JSON body."""
        return cls(status=status, body=orjson.dumps(fields))


DeliveryHandler = Callable[[Delivery], Awaitable[None]]
"""The app's coroutine that receives each verified, de-duplicated :class:`Delivery` once."""


def too_large(max_body_bytes: int) -> CallbackReply:
    """The ``413`` for a body over the receiver's ``max_body_bytes``."""
    return CallbackReply.of(
        413, error=f"body over {max_body_bytes} bytes (the receiver's max_body_bytes)"
    )


# Live callback events that happen once per session; the others repeat (one per message).
ONCE_PER_JOB = frozenset(
    {"live.start_session", "live.start_recording", "live.end_recording", "live.end_session"}
)

_ANY_STATE = frozenset({"queued", "processing", "done", "error"})

# What a re-fetch can confirm (``verify=True``): (body kind, event) -> (job kind, the states in
# which the API shows that event has happened). A webhook names only its job, so the event
# rebuilt from the fetched job says all it said; a transcription callback's content (the
# result, the error code, the custom metadata) is in the fetched job. Live callbacks are left
# out on purpose: each carries one message of the session (a partial transcript, an
# acknowledgement...) that the API never serves back, so nothing can confirm its text.
VERIFIABLE: dict[tuple[str, str], tuple[Literal["pre-recorded", "live"], frozenset[str]]] = {
    ("callback", "transcription.success"): ("pre-recorded", frozenset({"done"})),
    ("callback", "transcription.error"): ("pre-recorded", frozenset({"error"})),
    ("webhook", "transcription.created"): ("pre-recorded", _ANY_STATE),
    ("webhook", "transcription.success"): ("pre-recorded", frozenset({"done"})),
    ("webhook", "transcription.error"): ("pre-recorded", frozenset({"error"})),
    ("webhook", "live.start_session"): ("live", _ANY_STATE),
    ("webhook", "live.start_recording"): ("live", frozenset({"processing", "done", "error"})),
    # A session still processing may or may not have stopped recording; a finished one has.
    ("webhook", "live.end_recording"): ("live", frozenset({"done", "error"})),
    ("webhook", "live.end_session"): ("live", frozenset({"done", "error"})),
}


def event_from_job(
    kind: Literal["callback", "webhook"], name: str, job: TranscriptionJob | LiveJob
) -> Any | None:
    """The event ``name`` as the fetched ``job`` tells it: nothing of the sender's text.

    None for a ``transcription.success`` whose job shows no result (yet).
    """
    if kind == "webhook":
        return webhook_event(name, job.id)
    assert isinstance(job, TranscriptionJob)
    if name == "transcription.success":
        if job.result is None:
            return None
        return m.CallbackTranscriptionSuccessPayload(
            id=job.id,
            event=m.CallbackEvent(name),
            payload=job.result,
            custom_metadata=job.custom_metadata,
        )
    code = job.error_code if job.error_code is not None else 500
    return m.CallbackTranscriptionErrorPayload(
        id=job.id,
        event=m.CallbackEvent(name),
        # The API keeps the code, not the sender's message: the message says where it is from.
        error=m.Error(code=code, message=f"the job failed with error code {code} (per the API)"),
        custom_metadata=job.custom_metadata,
    )


def result_of(delivery: Delivery) -> TranscriptionResult:
    """The result a final delivery carries, or :class:`JobFailedError` for a failed job."""
    if delivery.name == "transcription.success":
        result = delivery.result
        if result is not None:
            return result
    code: int | None = None
    event = delivery.event
    if isinstance(event, m.CallbackTranscriptionErrorPayload):
        code = event.error.code
    elif isinstance(delivery.job, TranscriptionJob):
        code = delivery.job.error_code
    raise JobFailedError(delivery.job_id, code, delivery.job or delivery.event)
