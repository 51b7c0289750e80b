"""The emulator's outgoing side: callbacks and webhooks, sent when jobs finish.

A :class:`CallbackDispatcher` runs beside the emulator's aiohttp app (one background task,
started by the first job with something to send, stopped with the app). It is driven by the
emulator's clock: a job created with
``callback``/``callback_config`` (or the deprecated ``callback_url``) gets the spec's
``CallbackTranscriptionSuccessPayload`` / ``...ErrorPayload`` sent (``POST`` or ``PUT``, as
configured) once the clock passes its ``ready_at``, and every URL in ``webhook_urls`` gets the
``transcription.created`` / ``.success`` / ``.error`` webhooks. A ``ManualClock`` works too:
the dispatcher looks at the clock every ``tick`` seconds of real time.

Delivery is what a real service does: a non-2xx answer or a connection failure is retried with
exponential backoff (``max_attempts``, ``backoff``). *Emulator choice*: only loopback
destinations (``127.0.0.0/8``, ``::1``, ``localhost``) are contacted; any other is recorded as
refused. Faults on cue (:class:`CallbackFaults`): duplicate deliveries, a delay, deliveries lost
for good, and out-of-order webhooks. Every attempt is recorded in
``GladiaEmulator.deliveries`` as a :class:`DeliveryRecord`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import ipaddress
import itertools
import random
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import anyio
import orjson
from aiohttp import web

from ._state import Job

__all__ = ["CallbackDispatcher", "CallbackFaults", "DeliveryRecord"]

_FINAL = ("done", "error")


@dataclass(frozen=True)
class CallbackFaults:
    """Faults the dispatcher injects on cue (seeded, so a run is replayable).

    ``duplicates``: extra copies sent of every delivery. ``delay``: seconds (real time) before a
    delivery's first attempt. ``lose``: probability that a delivery is lost for good (never
    sent); ``lose_events`` restricts losses to those event names. ``out_of_order``: a job's
    ``transcription.created`` webhook is sent after its final event.
    """

    duplicates: int = 0
    delay: float = 0.0
    lose: float = 0.0
    lose_events: frozenset[str] | None = None
    out_of_order: bool = False
    seed: int = 0


@dataclass(frozen=True)
class DeliveryRecord:
    """One delivery attempt: where, what, and how it went (``status`` None: no answer)."""

    kind: str
    event: str
    job_id: str
    url: str
    method: str
    attempt: int
    status: int | None
    error: str | None = None


@dataclass(frozen=True)
class _Delivery:
    kind: str  # "callback" or "webhook"
    event: str
    job_id: str
    url: str
    method: str
    body: bytes


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    job_id: str = field(compare=False)
    created_webhooks: bool = field(compare=False, default=False)
    ready: list[_Delivery] | None = field(compare=False, default=None)


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (the only place the emulator sends to)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CallbackDispatcher:
    """Sends callbacks and webhooks for an emulator's jobs (see the module docstring)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        lookup: Callable[[str], Job | None],
        render: Callable[[Job], dict[str, Any]],
        webhook_urls: Iterable[str] = (),
        faults: CallbackFaults | None = None,
        max_attempts: int = 5,
        backoff: float = 0.05,
        tick: float = 0.02,
        timeout: float = 10.0,
        max_records: int = 100_000,
    ) -> None:
        self.clock = clock
        self._lookup = lookup
        self._render = render
        self.webhook_urls = list(webhook_urls)
        self.faults = faults or CallbackFaults()
        self.max_attempts = int(max_attempts)
        self.backoff = float(backoff)
        self.tick = float(tick)
        self.timeout = float(timeout)
        self.records: deque[DeliveryRecord] = deque(maxlen=max_records)
        self._due: list[_Due] = []
        self._targets: dict[str, tuple[str, str]] = {}
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._serving = False
        self._task: asyncio.Task[None] | None = None
        self._random = random.Random(self.faults.seed)

    # -- hooks called by the emulator --------------------------------------------------------

    def job_created(self, job: Job, body: dict[str, Any]) -> None:
        """Schedule the job's webhooks and (if it asked for one) its callback."""
        target = _callback_target(body)
        if target is not None:
            self._targets[job.id] = target
        if not self.webhook_urls and target is None:
            return
        if self.webhook_urls and not self.faults.out_of_order:
            self._push(_Due(self.clock(), next(self._seq), job.id, created_webhooks=True))
        self._push(_Due(job.ready_at, next(self._seq), job.id))

    def send(
        self,
        url: str,
        body: dict[str, Any],
        *,
        event: str,
        job_id: str,
        kind: str = "callback",
        method: str = "POST",
        at: float | None = None,
    ) -> None:
        """Schedule ``body`` for ``url`` at clock time ``at`` (default: now); returns at once.

        Retried and faulted like every delivery: the hook for other parts of the emulator (a
        live session's callback messages).
        """
        delivery = _Delivery(kind, event, job_id, url, method, orjson.dumps(body))
        when = self.clock() if at is None else at
        self._push(_Due(when, next(self._seq), job_id, ready=[delivery]))

    def _push(self, due: _Due) -> None:
        heapq.heappush(self._due, due)
        self._wake.set()
        self._start()

    # -- the background task -------------------------------------------------------------------

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """aiohttp ``cleanup_ctx``: allow the dispatch loop while the app runs, stop it after.

        The loop starts with the first job that has something to send, so an emulator without
        callbacks or webhooks runs no background task at all.
        """
        if self._serving:  # one emulator behind several apps: one dispatcher loop
            yield
            return
        self._serving = True
        try:
            if self._due:
                self._start()
            yield
        finally:
            self._serving = False
            task, self._task = self._task, None
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _start(self) -> None:
        if self._task is None and self._serving:
            self._wake = asyncio.Event()
            self._wake.set()
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        # Every send is a child of this task group: cancelling the loop cancels them all.
        async with aiohttp.ClientSession(timeout=timeout) as http, anyio.create_task_group() as tg:
            while True:
                for batch in self._take_due():
                    tg.start_soon(self._send_batch, http, batch)
                self._wake.clear()
                if self._due:
                    with anyio.move_on_after(self.tick):
                        await self._wake.wait()
                else:
                    await self._wake.wait()

    def _take_due(self) -> list[list[_Delivery]]:
        now = self.clock()
        batches: list[list[_Delivery]] = []
        while self._due and self._due[0].at <= now:
            due = heapq.heappop(self._due)
            if due.ready is not None:
                batches.append(due.ready)
                continue
            job = self._lookup(due.job_id)
            if job is None:
                continue
            if due.created_webhooks:
                batches.append(self._webhooks(job.id, "transcription.created"))
                continue
            status = job.status_at(now)
            if status not in _FINAL:  # a frozen (seeded) status never finishes
                continue
            batch = self._finals(job, status)
            if self.faults.out_of_order:
                batch += self._webhooks(job.id, "transcription.created")
            batches.append(batch)
        return batches

    def _finals(self, job: Job, status: str) -> list[_Delivery]:
        event = "transcription.success" if status == "done" else "transcription.error"
        batch: list[_Delivery] = []
        target = self._targets.pop(job.id, None)
        if target is not None:
            rendered = self._render(job)
            body: dict[str, Any] = {"id": job.id, "event": event}
            if status == "done":
                body["payload"] = rendered["result"]
            else:
                code = job.error_code or 500
                body["error"] = {"code": code, "message": _error_message(code)}
            body["custom_metadata"] = job.custom_metadata
            url, method = target
            batch.append(_Delivery("callback", event, job.id, url, method, orjson.dumps(body)))
        return batch + self._webhooks(job.id, event)

    def _webhooks(self, job_id: str, event: str) -> list[_Delivery]:
        body = orjson.dumps({"event": event, "payload": {"id": job_id}})
        return [_Delivery("webhook", event, job_id, url, "POST", body) for url in self.webhook_urls]

    async def _send_batch(self, http: aiohttp.ClientSession, batch: list[_Delivery]) -> None:
        faults = self.faults
        if faults.delay > 0:
            await asyncio.sleep(faults.delay)
        for delivery in batch:
            may_lose = faults.lose_events is None or delivery.event in faults.lose_events
            if faults.lose > 0 and may_lose and self._random.random() < faults.lose:
                self._record(delivery, 0, None, "lost (fault)")
                continue
            for _ in range(1 + max(0, faults.duplicates)):
                await self._send(http, delivery)

    async def _send(self, http: aiohttp.ClientSession, delivery: _Delivery) -> None:
        if not is_loopback_url(delivery.url):
            self._record(delivery, 0, None, "refused: not a loopback destination")
            return
        for attempt in range(1, self.max_attempts + 1):
            status: int | None = None
            error: str | None = None
            try:
                async with http.request(
                    delivery.method,
                    delivery.url,
                    data=delivery.body,
                    headers={"content-type": "application/json"},
                ) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            self._record(delivery, attempt, status, error)
            if status is not None and 200 <= status < 300:
                return
            if attempt < self.max_attempts:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))

    def _record(
        self, delivery: _Delivery, attempt: int, status: int | None, error: str | None
    ) -> None:
        self.records.append(
            DeliveryRecord(
                kind=delivery.kind,
                event=delivery.event,
                job_id=delivery.job_id,
                url=delivery.url,
                method=delivery.method,
                attempt=attempt,
                status=status,
                error=error,
            )
        )


def _callback_target(body: dict[str, Any]) -> tuple[str, str] | None:
    config = body.get("callback_config")
    if body.get("callback") is True and isinstance(config, dict) and config.get("url"):
        method = str(config.get("method") or "POST").upper()
        return str(config["url"]), method if method in ("POST", "PUT") else "POST"
    legacy = body.get("callback_url")
    if isinstance(legacy, str) and legacy:
        return legacy, "POST"
    return None


def _error_message(code: int) -> str:
    return {
        400: "The audio file could not be processed",
        404: "The audio file could not be found",
        422: "The audio file could not be transcribed",
    }.get(code, "An internal error occurred during the transcription")
