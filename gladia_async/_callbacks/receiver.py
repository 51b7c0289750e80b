"""Callbacks and webhooks: results pushed to your app, authenticated, de-duplicated, awaited.

Gladia signs neither callbacks nor webhooks, so anyone who can reach the receiving URL could
post a forged ``transcription.success``. A :class:`CallbackReceiver` lets a delivery reach your
handler only when it is authenticated one of two ways:

* **a secret in the URL**: :meth:`CallbackReceiver.callback_url` puts a token (the receiver's
  secret, or a per-job token derived from it by HMAC) in the URL you give Gladia; on receipt it
  is checked in constant time (:func:`hmac.compare_digest`), before the body is read. Works
  for callbacks and for a dashboard webhook URL alike. A per-job token is accepted only for
  the job it was issued for: the job's own callback URL, as the API reports it, is the binding.
* **re-fetching the job** (``verify=True``, needs a session): the receiver asks the API, with
  your key, for the job the body names and passes the delivery on only if the job really is in
  the state the event claims. The handler then gets that fetched job in ``delivery.job`` and
  the event rebuilt from it in ``delivery.event``: never the sender's text. Events a fetch
  cannot confirm (live callback messages, events unknown to this version) are refused.

Deliveries are de-duplicated by ``(job id, event)`` within ``dedupe_window`` seconds: the
handler sees each event once and a duplicate is still answered 2xx so the sender stops
retrying. Malformed bodies get a 400, bodies over ``max_body_bytes`` a 413; unauthenticated
ones a 401 (bad token, or a per-job token of another job), a 403 (no such job, or an event
that cannot be verified) or a 503 (the job is not in the claimed state, so a genuine sender
that raced the API retries); a failing handler a 500 (so the sender retries).

One framework-neutral coroutine, :meth:`CallbackReceiver.receive`, does all of it; the aiohttp
route factory (:meth:`~CallbackReceiver.aiohttp_routes`) and the ASGI app
(:meth:`~CallbackReceiver.asgi_app`, for FastAPI / Starlette) are thin wrappers over it.
:meth:`CallbackReceiver.wait` resolves when a job's callback arrives and falls back to polling,
so a lost callback never loses a result.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import attrs
import orjson

from .._core.errors import GladiaError, GladiaTimeout, InvalidInput, JobFailedError, NotFoundError
from .._schema import models as m
from .._schema.converter import StructureError, converter
from .._schema.models import (
    CallbackConfig,
    CallbackMethod,
    JobCreated,
    JobStatus,
    LiveJob,
    TranscriptionJob,
    TranscriptionOptions,
    TranscriptionResult,
)
from .._schema.validation import check_job_id

if TYPE_CHECKING:
    from aiohttp import web

    from .._session import GladiaSession

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "TOKEN_PARAM",
    "CallbackPayload",
    "CallbackReceiver",
    "CallbackReply",
    "Delivery",
    "DeliveryHandler",
    "MalformedCallbackError",
    "UnknownEvent",
    "WebhookPayload",
    "parse_callback",
    "parse_webhook",
]

log = logging.getLogger("gladia_async")

#: The query parameter of the callback URL that carries the receiver's token.
TOKEN_PARAM = "gladia_token"


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

# Live callback events that happen once per session; the others repeat (one per message).
_ONCE_PER_JOB = frozenset(
    {"live.start_session", "live.start_recording", "live.end_recording", "live.end_session"}
)

_ANY_STATE = frozenset({"queued", "processing", "done", "error"})

# What a re-fetch can confirm (``verify=True``): (body kind, event) -> (job kind, the states in
# which the API shows that event has happened). A webhook names only its job, so the event
# rebuilt from the fetched job says all it said; a transcription callback's content (the
# result, the error code, the custom metadata) is in the fetched job. Live callbacks are left
# out on purpose: each carries one message of the session (a partial transcript, an
# acknowledgement...) that the API never serves back, so nothing can confirm its text.
_VERIFIABLE: dict[tuple[str, str], tuple[Literal["pre-recorded", "live"], frozenset[str]]] = {
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

#: Bytes of a callback or webhook body the receiver reads at most, by default (``413`` beyond).
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


def _job_id_of(kind: str, event: Any) -> str | None:
    if isinstance(event, UnknownEvent):
        return event.id
    if kind == "callback":
        return str(event.id)
    return str(event.payload.id)


def _query_token(query: str | Mapping[str, str]) -> str | None:
    if isinstance(query, str):
        for key, value in parse_qsl(query.lstrip("?"), keep_blank_values=True):
            if key == TOKEN_PARAM:
                return value
        return None
    return query.get(TOKEN_PARAM)


class CallbackReceiver:
    """Receives Gladia callbacks and webhooks for your app: authenticated, de-duplicated, typed.

    ``handler`` (an ``async def handler(delivery: Delivery)``) sees each authenticated event
    once; it is awaited before the sender gets its answer, and an exception from it answers 500
    so the sender retries. ``secret`` defaults to a fresh random one (keep it stable across
    restarts and processes if jobs outlive them). ``session`` is needed for ``verify=True`` and
    for :meth:`wait`'s polling fallback; with one, a per-job token is checked against the
    callback URL the API shows for the job its body names (one ``GET`` per token, then
    remembered), so it serves that job only, across restarts too. Without one, a per-job token
    serves the first job it is used for and no other.

    Bodies are read up to ``max_body_bytes`` (default 8 MiB; ``413`` beyond), and only once
    the token passed (without ``verify``, a request with no valid token is answered ``401``
    before a byte of its body is read).

    De-duplication remembers ``(job id, event)`` for ``dedupe_window`` seconds (at most
    ``max_remembered`` keys); live callback messages that repeat within a session
    (``live.transcript``, ...) are keyed by their body, so only a resent copy is dropped. A
    final result that arrives before anyone waits for it is kept (at most
    ``max_unclaimed_results``; beyond that the oldest is dropped and its wait polls instead).
    """

    def __init__(
        self,
        handler: DeliveryHandler | None = None,
        *,
        secret: str | None = None,
        session: GladiaSession | None = None,
        verify: bool = False,
        dedupe_window: float = 3600.0,
        max_remembered: int = 100_000,
        max_unclaimed_results: int = 1_000,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if handler is not None and not callable(handler):
            raise InvalidInput("handler", "expected an async function taking a Delivery")
        if secret is None:
            secret = secrets.token_urlsafe(32)
        if not isinstance(secret, str) or len(secret) < 16:
            raise InvalidInput("secret", "expected a string of at least 16 characters")
        if verify and session is None:
            raise InvalidInput("session", "verify=True re-fetches jobs: pass session=")
        for name, value in (
            ("dedupe_window", dedupe_window),
            ("max_remembered", max_remembered),
            ("max_unclaimed_results", max_unclaimed_results),
            ("max_body_bytes", max_body_bytes),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise InvalidInput(name, f"must be a positive number, got {value!r}")
        self._handler = handler
        self._secret = secret.encode()
        self.session = session
        self.verify = bool(verify)
        self.dedupe_window = float(dedupe_window)
        self.max_remembered = int(max_remembered)
        self.max_unclaimed_results = int(max_unclaimed_results)
        self.max_body_bytes = int(max_body_bytes)
        self._clock = clock
        # (job id, event) -> expiry; insertion order is expiry order (one window for all).
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        # Final transcription deliveries kept for wait(), bounded like _seen.
        self._finals: OrderedDict[str, Delivery] = OrderedDict()
        self._waiters: dict[str, anyio.Event] = {}
        self._waiting: dict[str, int] = {}
        # Per-job token nonce -> the job it was found to belong to (bounded like _seen).
        self._bound: OrderedDict[str, str] = OrderedDict()
        #: Counters: ``delivered``, ``duplicates``, ``rejected``, ``malformed``, ``failed``.
        self.stats: dict[str, int] = dict.fromkeys(
            ("delivered", "duplicates", "rejected", "malformed", "failed"), 0
        )

    def __repr__(self) -> str:
        return f"CallbackReceiver(verify={self.verify}, secret='********')"

    # -- URLs ------------------------------------------------------------------------------

    def _mac(self, nonce: str) -> str:
        return hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()[:32]

    def callback_url(self, url: str, *, per_job: bool = False) -> str:
        """Return ``url`` with this receiver's token added: the URL to give Gladia.

        With ``per_job=True`` the token is a fresh nonce and its HMAC under the secret, so each
        job's URL differs and none reveals the secret itself. Give such a URL to one job: its
        token is refused for a job whose callback URL (as the API reports it) does not carry
        it or, for a receiver without a session, for any job but the first it came for.
        """
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise InvalidInput("url", f"expected an http(s) URL, got {url!r}")
        if per_job:
            nonce = secrets.token_urlsafe(12)
            token = f"{nonce}.{self._mac(nonce)}"
        else:
            token = self._secret.decode()
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        query = [(k, v) for k, v in query if k != TOKEN_PARAM] + [(TOKEN_PARAM, token)]
        return urlunsplit(parts._replace(query=urlencode(query)))

    def callback_config(
        self, url: str, *, method: Literal["POST", "PUT"] = "POST", per_job: bool = False
    ) -> CallbackConfig:
        """Return the ``CallbackConfig`` (signed URL and HTTP method) for a job's options."""
        if method not in ("POST", "PUT"):
            raise InvalidInput("method", f"must be 'POST' or 'PUT', got {method!r}")
        return CallbackConfig(
            url=self.callback_url(url, per_job=per_job), method=CallbackMethod(method)
        )

    def options(
        self,
        url: str,
        options: TranscriptionOptions | None = None,
        *,
        method: Literal["POST", "PUT"] = "POST",
        per_job: bool = False,
    ) -> TranscriptionOptions:
        """Return ``options`` (or defaults) with the callback enabled towards ``url``, signed."""
        if options is None:
            options = TranscriptionOptions()
        elif not isinstance(options, TranscriptionOptions):
            raise InvalidInput(
                "options", f"expected TranscriptionOptions, got {type(options).__name__}"
            )
        config = self.callback_config(url, method=method, per_job=per_job)
        return attrs.evolve(options, callback=True, callback_config=config)

    def token_is_valid(self, token: str | None) -> bool:
        """Whether ``token`` is this receiver's secret or a per-job token it issued.

        This says nothing about which job a per-job token belongs to: :meth:`receive` also
        checks that (see :meth:`callback_url`).
        """
        return self._token_form(token)[0]

    def _token_form(self, token: str | None) -> tuple[bool, str | None]:
        """``(valid, nonce)``: nonce is set for a valid per-job token, None for the secret."""
        if not token:
            return False, None
        given = token.encode()
        nonce, dot, mac = token.rpartition(".")
        if dot and nonce:
            # Both comparisons always run, so timing tells nothing about which form matched.
            per_job = hmac.compare_digest(mac.encode(), self._mac(nonce).encode())
            shared = hmac.compare_digest(given, self._secret)
            if shared:
                return True, None
            return per_job, nonce if per_job else None
        return hmac.compare_digest(given, self._secret), None

    # -- receiving -------------------------------------------------------------------------

    def admit(
        self, query: str | Mapping[str, str] = "", *, content_length: int | None = None
    ) -> CallbackReply | None:
        """Return the refusal for a request before its body is read, or None to read it.

        A request without a valid token gets ``401`` here unless ``verify=True`` (then the
        body is read, capped, for the job it names); a declared ``content_length`` over
        ``max_body_bytes`` gets ``413``. Call it first from any server you wire
        :meth:`receive` into, so an anonymous sender costs no memory; the built-in aiohttp
        and ASGI adapters do.
        """
        if not self.verify and not self._token_form(_query_token(query))[0]:
            self.stats["rejected"] += 1
            return CallbackReply.of(401, error="missing or wrong token")
        if content_length is not None and content_length > self.max_body_bytes:
            self.stats["malformed"] += 1
            return self._too_large()
        return None

    def _too_large(self) -> CallbackReply:
        return CallbackReply.of(
            413, error=f"body over {self.max_body_bytes} bytes (the receiver's max_body_bytes)"
        )

    async def receive(
        self,
        body: bytes,
        *,
        query: str | Mapping[str, str] = "",
        kind: Literal["callback", "webhook", "auto"] = "auto",
    ) -> CallbackReply:
        """Handle one delivery and return the reply to send (the framework-neutral core).

        ``query`` is the request's query string (or mapping) carrying the token; ``kind`` says
        which parser to use (``auto``: a body with a top-level ``id`` is a callback). The
        token is checked before the body is parsed; see :meth:`admit` to check it before the
        body is even read.
        """
        refused = self.admit(query)
        if refused is not None:
            return refused
        if len(body) > self.max_body_bytes:
            self.stats["malformed"] += 1
            return self._too_large()
        authenticated, nonce = self._token_form(_query_token(query))
        try:
            if kind == "callback":
                event_kind: Literal["callback", "webhook"] = "callback"
                event: Any = parse_callback(body)
            elif kind == "webhook":
                event_kind, event = "webhook", parse_webhook(body)
            else:
                event_kind, event = parse_event(body)
        except MalformedCallbackError as exc:
            self.stats["malformed"] += 1
            return CallbackReply.of(400, error=str(exc))
        name = str(event.event)
        job_id = _job_id_of(event_kind, event)
        if not job_id:
            self.stats["malformed"] += 1
            return CallbackReply.of(400, error="the body names no job id")
        key = (job_id, name)
        if event_kind == "callback" and name.startswith("live.") and name not in _ONCE_PER_JOB:
            # A live session sends many messages of one kind: only a resent copy is a duplicate.
            key = (job_id, f"{name}#{hashlib.sha256(body).hexdigest()}")
        job: TranscriptionJob | LiveJob | None = None
        try:
            if authenticated and nonce is not None:
                # Before the duplicate check: a borrowed token learns nothing, not even "seen".
                job = await self._bind(nonce, job_id, name)
            now = self._clock()
            self._forget_expired(now)
            if key in self._seen:
                self.stats["duplicates"] += 1
                return CallbackReply.of(200, ok=True, duplicate=True)
            if self.verify:
                job, event = await self._confirm(event_kind, name, job_id, job)
        except _Unconfirmed as exc:
            self.stats["rejected"] += 1
            # 503 when the job exists but does not show that state (yet): a genuine sender
            # that raced the API retries; a forged body never gets through either way.
            return CallbackReply.of(exc.status, error=str(exc))
        except GladiaError:
            # The API could not be asked: let the sender retry later.
            self.stats["failed"] += 1
            return CallbackReply.of(503, error="could not verify the job now; retry later")
        if key in self._seen:  # a concurrent copy won the race while we asked the API
            self.stats["duplicates"] += 1
            return CallbackReply.of(200, ok=True, duplicate=True)
        delivery = Delivery(kind=event_kind, name=name, job_id=job_id, event=event, job=job)
        # Marked seen before the handler runs, so a copy arriving meanwhile is not handled twice.
        self._remember(key, now)
        if self._handler is not None:
            try:
                await self._handler(delivery)
            except Exception:
                self._seen.pop(key, None)
                self.stats["failed"] += 1
                return CallbackReply.of(500, error="the handler failed; retry later")
            except BaseException:
                # Cancelled mid-handler: not handled, so the sender's retry must get through.
                self._seen.pop(key, None)
                raise
        self.stats["delivered"] += 1
        if name in ("transcription.success", "transcription.error"):
            self._finals[job_id] = delivery
            while len(self._finals) > self.max_unclaimed_results:
                self._finals.popitem(last=False)
            waiter = self._waiters.get(job_id)
            if waiter is not None:
                waiter.set()
        return CallbackReply.of(200, ok=True)

    def _remember(self, key: tuple[str, str], now: float) -> None:
        self._seen[key] = now + self.dedupe_window
        while len(self._seen) > self.max_remembered:
            self._seen.popitem(last=False)

    def _forget_expired(self, now: float) -> None:
        seen = self._seen
        while seen:
            key, expiry = next(iter(seen.items()))
            if expiry > now:
                break
            del seen[key]

    async def _bind(self, nonce: str, job_id: str, name: str) -> TranscriptionJob | LiveJob | None:
        """Check that the per-job token ``nonce`` belongs to ``job_id``; the job if fetched.

        The job's own callback URL, as the API reports it, is the binding (the token was put
        there when the job was created). Without a session the first job a token is used for
        is the only one it is accepted for afterwards.
        """
        bound = self._bound.get(nonce)
        if bound is not None:
            if not hmac.compare_digest(bound.encode(), job_id.encode()):
                raise _Unconfirmed("this token was issued for another job", status=401)
            return None
        job: TranscriptionJob | LiveJob | None = None
        if self.session is not None:
            try:
                job = await self._fetch(job_id, "live" if name.startswith("live.") else None)
            except _Unconfirmed:
                raise _Unconfirmed("this token was not issued for this job", status=401) from None
            if not any(_carries_nonce(url, nonce) for url in _callback_urls(job)):
                raise _Unconfirmed(
                    f"the API shows no callback URL of job {job_id} with this token", status=401
                )
        self._bound[nonce] = job_id
        while len(self._bound) > self.max_remembered:
            self._bound.popitem(last=False)
        return job

    async def _confirm(
        self,
        event_kind: Literal["callback", "webhook"],
        name: str,
        job_id: str,
        job: TranscriptionJob | LiveJob | None,
    ) -> tuple[TranscriptionJob | LiveJob, Any]:
        """Return the job and the event rebuilt from it, if the API confirms the delivery."""
        verifiable = _VERIFIABLE.get((event_kind, name))
        if verifiable is None:
            raise _Unconfirmed(
                f"a {event_kind} {name!r} cannot be confirmed by fetching the job "
                "(verify=True delivers only what the API confirms)"
            )
        job_kind, states = verifiable
        if job is None:
            job = await self._fetch(job_id, "live" if job_kind == "live" else None)
        status = str(job.status)
        if status not in states:
            raise _Unconfirmed(
                f"the API says job {job_id} is {status}, not as {name!r} claims", status=503
            )
        return job, _rebuilt(event_kind, name, job)

    async def _fetch(self, job_id: str, kind: Literal["live"] | None) -> TranscriptionJob | LiveJob:
        session = self.session
        assert session is not None
        try:
            check_job_id(job_id)
        except InvalidInput:
            raise _Unconfirmed(f"{job_id!r} is not a job id") from None
        try:
            if kind == "live":
                transport = session.transport
                live: LiveJob = await transport.request_json(
                    "GET", transport.url(f"/v2/live/{job_id}"), LiveJob, retry="always", ok=(200,)
                )
                return live
            return await session.get(job_id)
        except NotFoundError:
            raise _Unconfirmed(f"the API has no job {job_id}") from None

    # -- framework wrappers ----------------------------------------------------------------

    def aiohttp_handler(
        self, kind: Literal["callback", "webhook", "auto"] = "auto"
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Return an aiohttp.web request handler over :meth:`receive`.

        The token is checked before the body is read, and the body is read up to
        ``max_body_bytes``; a sender that hangs up mid-body costs one log line.
        """
        from aiohttp import web
        from aiohttp.http_exceptions import HttpProcessingError

        async def handle(request: web.Request) -> web.StreamResponse:
            query = request.query_string
            reply = self.admit(query, content_length=request.content_length)
            if reply is None:
                chunks: list[bytes] = []
                size = 0
                try:
                    async for chunk in request.content.iter_chunked(256 * 1024):
                        size += len(chunk)
                        if size > self.max_body_bytes:
                            self.stats["malformed"] += 1
                            reply = self._too_large()
                            break
                        chunks.append(chunk)
                except (ConnectionError, HttpProcessingError) as exc:
                    # Nobody reads the answer; one calm line, not an aiohttp traceback.
                    _hung_up(size, exc)
                    reply = CallbackReply.of(400, error="the body ended early")
                if reply is None:
                    body = b"".join(chunks)
                    del chunks
                    reply = await self.receive(body, query=query, kind=kind)
            return web.Response(
                status=reply.status, body=reply.body, content_type="application/json"
            )

        return handle

    def aiohttp_routes(
        self, path: str, *, kind: Literal["callback", "webhook", "auto"] = "auto"
    ) -> list[web.RouteDef]:
        """Return ``POST`` and ``PUT`` routes at ``path``, for ``app.add_routes(...)``."""
        from aiohttp import web

        handle = self.aiohttp_handler(kind)
        return [web.post(path, handle), web.put(path, handle)]

    def asgi_app(
        self, kind: Literal["callback", "webhook", "auto"] = "auto"
    ) -> Callable[[dict[str, Any], Any, Any], Awaitable[None]]:
        """Return an ASGI app over :meth:`receive`: ``app.mount("/gladia", receiver.asgi_app())``.

        It answers ``POST``/``PUT`` at any path under its mount point (405 otherwise).
        """

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                while True:
                    message = await receive()
                    if message["type"] == "lifespan.startup":
                        await send({"type": "lifespan.startup.complete"})
                    elif message["type"] == "lifespan.shutdown":
                        await send({"type": "lifespan.shutdown.complete"})
                        return
            if scope["type"] != "http":
                return
            query = scope.get("query_string", b"").decode("latin-1")
            reply: CallbackReply | None
            if scope.get("method") not in ("POST", "PUT"):
                reply = CallbackReply.of(405, error="use POST or PUT")
            else:
                # Refused before a byte of the body is read.
                reply = self.admit(query, content_length=_asgi_content_length(scope))
            if reply is None:
                chunks: list[bytes] = []
                size = 0
                more = True
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        _hung_up(size, None)
                        return
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        self.stats["malformed"] += 1
                        reply = self._too_large()
                        break
                    if chunk:
                        chunks.append(chunk)
                    more = bool(message.get("more_body", False))
                if reply is None:
                    body = b"".join(chunks)
                    del chunks
                    reply = await self.receive(body, query=query, kind=kind)
            await send(
                {
                    "type": "http.response.start",
                    "status": reply.status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(reply.body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": reply.body})

        return app

    # -- waiting ---------------------------------------------------------------------------

    async def wait(
        self,
        job: str | JobCreated | TranscriptionJob,
        *,
        session: GladiaSession | None = None,
        fallback_after: float = 30.0,
        timeout: float | None = None,
    ) -> TranscriptionResult:
        """Return the job's transcription result once its callback arrives.

        If no callback has come ``fallback_after`` seconds in, the job is also polled (the
        first answer wins), so a lost callback costs latency, never the result. Raises
        :class:`JobFailedError` for a failed job and :class:`GladiaTimeout` past ``timeout``.
        """
        if isinstance(job, (JobCreated, TranscriptionJob)):
            job_id = job.id
        else:
            job_id = check_job_id(job, "job")
        session = session or self.session
        if session is None:
            raise InvalidInput("session", "wait() polls as a fallback: pass session=")
        if isinstance(fallback_after, bool) or not isinstance(fallback_after, (int, float)):
            raise InvalidInput("fallback_after", "expected a number of seconds")
        if fallback_after < 0:
            raise InvalidInput("fallback_after", f"must be >= 0, got {fallback_after}")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
        ):
            raise InvalidInput("timeout", f"must be a positive number of seconds, got {timeout}")
        delivery = self._finals.get(job_id)
        if delivery is not None:  # the callback came before the wait
            if not self._waiting.get(job_id):
                del self._finals[job_id]
            return _result_of(delivery)
        waiter = self._waiters.setdefault(job_id, anyio.Event())
        self._waiting[job_id] = self._waiting.get(job_id, 0) + 1
        found: list[Delivery | TranscriptionJob | GladiaError] = []
        try:
            with anyio.move_on_after(timeout) as outer:
                async with anyio.create_task_group() as tg:

                    async def by_callback() -> None:
                        await waiter.wait()
                        found.append(self._finals[job_id])
                        tg.cancel_scope.cancel()

                    async def by_polling() -> None:
                        await anyio.sleep(fallback_after)
                        assert session is not None
                        try:
                            state = await session.wait(job_id, raise_on_error=False)
                        except GladiaError as exc:
                            # Raised outside the task group, so callers never see a group.
                            found.append(exc)
                        else:
                            found.append(state)
                        tg.cancel_scope.cancel()

                    tg.start_soon(by_callback)
                    tg.start_soon(by_polling)
        finally:
            self._waiting[job_id] -= 1
            if not self._waiting[job_id]:  # the last waiter of this job cleans up
                del self._waiting[job_id]
                del self._waiters[job_id]
                self._finals.pop(job_id, None)
        if outer.cancelled_caught and not found:
            raise GladiaTimeout(
                f"job {job_id}: no callback and no final state within {timeout:g}s; "
                "wait again later or raise the timeout"
            )
        outcome = found[0]
        if isinstance(outcome, GladiaError):
            raise outcome
        if isinstance(outcome, Delivery):
            return _result_of(outcome)
        if outcome.status == JobStatus.ERROR or outcome.result is None:
            raise JobFailedError(job_id, outcome.error_code, outcome)
        return outcome.result


class _Unconfirmed(Exception):
    """The API (or the token's binding) does not confirm what a delivery claims."""

    def __init__(self, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        #: The answer: 403 (refused), 401 (token not for this job), 503 (not in that state yet).
        self.status = status


def _hung_up(size: int, exc: BaseException | None) -> None:
    reason = f": {type(exc).__name__}" if exc is not None else ""
    log.info("callback receiver: the sender hung up after %d body bytes%s", size, reason)


def _asgi_content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers") or ():
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _callback_urls(job: TranscriptionJob | LiveJob) -> list[str]:
    """The callback URLs the API says ``job`` was created with."""
    params = job.request_params
    urls: list[str] = []
    config = getattr(params, "callback_config", None)
    url = getattr(config, "url", None)
    if isinstance(url, str):
        urls.append(url)
    legacy = getattr(params, "callback_url", None)
    if isinstance(legacy, str):
        urls.append(legacy)
    return urls


def _carries_nonce(url: str, nonce: str) -> bool:
    token = _query_token(urlsplit(url).query)
    if token is None:
        return False
    given, dot, _ = token.rpartition(".")
    return bool(dot) and hmac.compare_digest(given.encode(), nonce.encode())


def _rebuilt(
    kind: Literal["callback", "webhook"], name: str, job: TranscriptionJob | LiveJob
) -> Any:
    """The event ``name`` as the fetched ``job`` tells it: nothing of the sender's text."""
    if kind == "webhook":
        return _structure({"event": name, "payload": {"id": job.id}}, _WEBHOOKS[name])
    assert isinstance(job, TranscriptionJob)
    if name == "transcription.success":
        if job.result is None:
            raise _Unconfirmed(f"the API shows job {job.id} done but without a result", status=503)
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


def _result_of(delivery: Delivery) -> TranscriptionResult:
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
