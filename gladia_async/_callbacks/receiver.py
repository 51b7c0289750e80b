"""The callback receiver: tokens, authentication (token or re-fetch), de-duplication, waits.

See :mod:`gladia_async._callbacks` for what it guarantees; :mod:`.events` parses the bodies and
:mod:`.adapters` serves it from aiohttp.web or ASGI.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import attrs

from .._core.checks import check_number, check_seconds_at_least_zero, check_timeout
from .._core.errors import GladiaError, GladiaTimeout, InvalidInput, JobFailedError, NotFoundError
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
from . import adapters
from .adapters import AiohttpHandler, AiohttpRoutes, AsgiApp
from .events import (
    ONCE_PER_JOB,
    VERIFIABLE,
    CallbackReply,
    Delivery,
    DeliveryHandler,
    MalformedCallbackError,
    event_from_job,
    event_job_id,
    parse_callback,
    parse_event,
    parse_webhook,
    result_of,
    too_large,
)

if TYPE_CHECKING:
    from .._http.transport import Transport

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "TOKEN_PARAM",
    "CallbackReceiver",
    "JobLookup",
]

log = logging.getLogger("gladia_async")

#: The query parameter of the callback URL that carries the receiver's token.
TOKEN_PARAM = "gladia_token"


class JobLookup(Protocol):
    """What the receiver needs of a session: fetch a job, poll it (a GladiaSession fits)."""

    @property
    def transport(self) -> Transport:
        """The HTTP transport, for ``GET /v2/live/{id}``."""
        ...

    async def get(self, job: str) -> TranscriptionJob:
        """The pre-recorded job's current state."""
        ...

    async def wait(self, job: str, *, raise_on_error: bool = True) -> TranscriptionJob:
        """The pre-recorded job's final state, by polling."""
        ...


#: Bytes of a callback or webhook body the receiver reads at most, by default (``413`` beyond).
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


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
        session: JobLookup | None = None,
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
            check_number(name, value, above=True)
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
            return self._too_large()
        return None

    def _too_large(self) -> CallbackReply:
        self.stats["malformed"] += 1
        return too_large(self.max_body_bytes)

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
        job_id = event_job_id(event_kind, event)
        if not job_id:
            self.stats["malformed"] += 1
            return CallbackReply.of(400, error="the body names no job id")
        key = (job_id, name)
        if event_kind == "callback" and name.startswith("live.") and name not in ONCE_PER_JOB:
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
        verifiable = VERIFIABLE.get((event_kind, name))
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
        rebuilt = event_from_job(event_kind, name, job)
        if rebuilt is None:
            raise _Unconfirmed(f"the API shows job {job.id} done but without a result", status=503)
        return job, rebuilt

    async def _fetch(self, job_id: str, kind: Literal["live"] | None) -> TranscriptionJob | LiveJob:
        session = self.session
        assert session is not None
        try:
            check_job_id(job_id)
        except InvalidInput:
            raise _Unconfirmed(f"{job_id!r} is not a job id") from None
        try:
            if kind == "live":
                return await _get_live_job(session.transport, job_id)
            return await session.get(job_id)
        except NotFoundError:
            raise _Unconfirmed(f"the API has no job {job_id}") from None

    # -- framework wrappers ----------------------------------------------------------------

    def aiohttp_handler(
        self, kind: Literal["callback", "webhook", "auto"] = "auto"
    ) -> AiohttpHandler:
        """Return an aiohttp.web request handler over :meth:`receive`.

        The token is checked before the body is read, and the body is read up to
        ``max_body_bytes``; a sender that hangs up mid-body costs one log line.
        """
        return adapters.aiohttp_handler(self, kind)

    def aiohttp_routes(
        self, path: str, *, kind: Literal["callback", "webhook", "auto"] = "auto"
    ) -> AiohttpRoutes:
        """Return ``POST`` and ``PUT`` routes at ``path``, for ``app.add_routes(...)``."""
        return adapters.aiohttp_routes(self, path, kind)

    def asgi_app(self, kind: Literal["callback", "webhook", "auto"] = "auto") -> AsgiApp:
        """Return an ASGI app over :meth:`receive`: ``app.mount("/gladia", receiver.asgi_app())``.

        It answers ``POST``/``PUT`` at any path under its mount point (405 otherwise).
        """
        return adapters.asgi_app(self, kind)

    # -- waiting ---------------------------------------------------------------------------

    async def wait(
        self,
        job: str | JobCreated | TranscriptionJob,
        *,
        session: JobLookup | None = None,
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
        fallback_after = check_seconds_at_least_zero(fallback_after, "fallback_after")
        seconds = check_timeout(timeout)
        delivery = self._finals.get(job_id)
        if delivery is not None:  # the callback came before the wait
            if not self._waiting.get(job_id):
                del self._finals[job_id]
            return result_of(delivery)
        waiter = self._waiters.setdefault(job_id, anyio.Event())
        self._waiting[job_id] = self._waiting.get(job_id, 0) + 1
        found: list[Delivery | TranscriptionJob | GladiaError] = []
        try:
            with anyio.move_on_after(seconds) as outer:
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
                f"job {job_id}: no callback and no final state within {seconds:g}s; "
                "wait again later or raise the timeout"
            )
        outcome = found[0]
        if isinstance(outcome, GladiaError):
            raise outcome
        if isinstance(outcome, Delivery):
            return result_of(outcome)
        if outcome.status == JobStatus.ERROR or outcome.result is None:
            raise JobFailedError(job_id, outcome.error_code, outcome)
        return outcome.result


class _Unconfirmed(Exception):
    """The API (or the token's binding) does not confirm what a delivery claims."""

    def __init__(self, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        #: The answer: 403 (refused), 401 (token not for this job), 503 (not in that state yet).
        self.status = status


async def _get_live_job(transport: Transport, job_id: str) -> LiveJob:
    """``GET /v2/live/{id}``: the live job a live webhook or a per-job token names."""
    live: LiveJob = await transport.request_json(
        "GET", transport.url(f"/v2/live/{job_id}"), LiveJob, retry="always", ok=(200,)
    )
    return live


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
