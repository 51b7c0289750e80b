"""A faithful local emulator of Gladia's speech-to-text API v2 (for offline tests).

Usage::

    import aiohttp
    from gladia_async.testing import ManualClock, run_emulator

    clock = ManualClock()
    async with run_emulator(clock=clock, job_duration=2.0) as emu:
        async with aiohttp.ClientSession(headers=emu.headers) as http:
            async with http.post(f"{emu.url}/v2/pre-recorded",
                                 json={"audio_url": "https://example.com/a.mp3"}) as resp:
                job = await resp.json()                      # 201 {"id", "result_url"}
            clock.advance(2.0)
            async with http.get(job["result_url"]) as resp:
                assert (await resp.json())["status"] == "done"

From a shell: ``python -m gladia_async.testing --port 8080 --latency 0.02 --job-duration 1
--api-key KEY [--faults plan.json] [--storage memory|discard|DIR] [--seed-jobs N]``.
In pytest: ``pytest_plugins = ["gladia_async.testing.pytest_plugin"]`` gives the
``gladia_emulator`` fixture (async tests) and ``gladia_emulator_thread`` (sync tests, e.g. with
FastAPI's ``TestClient``: :func:`run_emulator_in_thread`). For benchmarks,
:func:`start_emulator_process` runs it in a subprocess.

Behaviour (decisions where the spec is silent are marked *emulator choice*):

* Auth: every route needs ``x-gladia-key``; missing -> 401 ``"gladia key not found"``,
  unknown -> 401 ``"invalid gladia key"``. Every error body has the spec's error shape
  ``{timestamp, path, request_id ("G-" + 8 hex), statusCode, message}``, plus
  ``validation_errors`` (list of strings) on 400s caused by validation. No ``x-request-id``
  header (the spec defines none). Unknown routes / methods -> 404 ``"Cannot GET /x"``.
* ``POST /v2/upload``: ``multipart/form-data`` part ``audio`` is streamed in 256 KiB chunks
  (``storage="memory"`` keeps the bytes, a directory gets a file, ``"discard"`` keeps only
  the first 64 KiB for sniffing). Or JSON ``{"audio_url"}``: the URL is never fetched;
  metadata derives deterministically from the URL, and a URL of one of this emulator's own
  uploads (``<base>/file/<id>``) resolves to that upload. 200 ``{audio_url:
  "<base>/file/<uuid>", audio_metadata}``. WAV: duration/channels from the RIFF header;
  other formats (magic bytes or a supported extension from the docs' tables): duration
  estimated from size with the docs' per-hour sizes, mono. Errors: multipart without
  boundary -> 400 ``"Content-Type is missing Multipart Boundary."``; another content type,
  no ``audio`` part, empty file, bad JSON -> 400; over ``max_upload_bytes`` (1000 MiB) ->
  413 ``"payload too large"`` (sent as soon as the limit is crossed); content neither
  recognised nor with a supported extension, or a corrupt WAV header -> 422 (*emulator
  choice*: the spec lists no error for this route); audio measured longer than
  ``max_audio_duration`` (135 minutes; 4 h 15 with ``plan="enterprise"``) -> 422 ``"Audio
  duration (N seconds) exceeds the maximum allowed duration of 135 minutes"``.
* ``POST /v2/pre-recorded`` and ``POST /v2/transcription``: the body is validated against
  the spec's ``InitTranscriptionRequest`` (types, enums, min/max, minItems, required,
  nested objects, array items; unknown properties -> ``"property X should not exist"``)
  -> 400 with ``validation_errors``; so do the option rules of Gladia's docs (solaria-3 takes
  only en, fr, de, es, it (or none) and no code switching; spec/ERRATA.md). Semantic
  problems -> 422: ``audio_url`` not an http(s) URL or an emulator file URL that does not
  exist; ``min_speakers > max_speakers``;
  ``minimum_duration > maximum_duration``; ``custom_metadata`` over 2,000 characters
  stringified; ``translation``/``audio_to_llm``/``custom_spelling``/``custom_vocabulary``/
  ``callback`` enabled without their ``*_config`` (*emulator choice*). 201 ``{id,
  result_url}`` where ``result_url`` uses the same prefix as the request.
* ``GET /v2/{pre-recorded,transcription,live}/{id}``: ``queued`` until
  ``created + queue_delay``, ``processing`` until ``+ job_duration``, then ``done`` (with
  ``completed_at`` and a deterministic ``result``) or ``error`` (``error_code``, result
  null) when a ``job_error`` fault hit its creation. ``request_params`` echoes the request
  with the spec's defaults filled in. ``/v2/transcription/{id}`` serves both kinds, the
  others only their own. Unknown *or malformed (non-UUID)* ids -> 404 (the spec lists no 400
  for these routes).
* ``DELETE``: 202 with an empty body; 403 while ``queued``/``processing``; 404 unknown.
* ``GET .../{id}/file``: the uploaded bytes as ``application/octet-stream`` with a
  ``Content-Disposition`` filename; 404 when the job used an external URL or the storage
  is ``"discard"`` (nothing was kept).
* Lists (``GET /v2/pre-recorded``, ``/v2/transcription`` (``kind`` filter), ``/v2/live``):
  ``offset``/``limit`` (defaults 0/20), ``status`` and ``kind`` (repeated or comma
  separated), ``date`` (that UTC day), ``after_date``/``before_date`` (ISO 8601, strict
  bounds), ``custom_metadata`` (JSON object; containment match, nested objects recurse,
  scalars compare as text). Bad values -> 400 with ``validation_errors``. Newest first
  (``created_at`` desc, then creation order). ``first``/``current``/``next`` are absolute
  URLs on the request's own scheme and host (or ``public_url``), keep the filters, and
  ``next`` carries ``snapshot=<n>`` (*emulator extension*): jobs created after the first
  page are invisible to the rest of that walk, so following ``next`` verbatim never
  repeats or skips an item while new jobs arrive (a deletion can still shift pages, as
  with any offset paging). ``next`` is null on the last page.
* ``latency`` delays every response; :class:`FaultPlan` injects seeded, replayable faults
  (see :mod:`gladia_async.testing._faults`); change ``emulator.faults`` at any time.

* Callbacks and webhooks: a job created with ``callback``/``callback_config`` (or the
  deprecated ``callback_url``) gets its ``transcription.success`` / ``.error`` payload sent
  (``POST`` or ``PUT``) when it finishes by the emulator's clock, and ``webhook_urls=[...]``
  get the ``transcription.*`` webhooks; retried with backoff, loopback destinations only, with
  :class:`CallbackFaults` on cue (see :mod:`gladia_async.testing._callbacks`). Every attempt
  is in ``emulator.deliveries``.

* Account limits (``plan="free" | "paid" | "enterprise"`` or an :class:`AccountLimits`; CLI
  ``--plan``, ``--max-processing``, ``--max-queued``): at most N jobs processing, M queued,
  FIFO; a creation beyond gets 429 with ``Retry-After`` (see
  :mod:`gladia_async.testing._limits`).
* Live: ``POST /v2/live``, the WebSocket and ``PATCH /v2/live/{id}``; see
  :mod:`gladia_async.testing._live` (faults in ``emulator.live.faults``).

Not emulated: the deprecated v1 routes, retention, and (unless ``plan=`` is given)
concurrency/queue limits.
"""

from __future__ import annotations

from ._app import GladiaEmulator
from ._callbacks import CallbackFaults, DeliveryRecord
from ._faults import FaultKind, FaultPlan, FaultRule, InjectedFault
from ._limits import AccountLimits
from ._live import LiveFaults
from ._runner import EmulatorProcess, RunningEmulator, run_emulator, start_emulator_process
from ._state import EmulatorStats, ManualClock, RecordedRequest
from ._thread import run_emulator_in_thread
from ._transcripts import build_result

__all__ = [
    "AccountLimits",
    "CallbackFaults",
    "DeliveryRecord",
    "EmulatorProcess",
    "EmulatorStats",
    "FaultKind",
    "FaultPlan",
    "FaultRule",
    "GladiaEmulator",
    "InjectedFault",
    "LiveFaults",
    "ManualClock",
    "RecordedRequest",
    "RunningEmulator",
    "build_result",
    "run_emulator",
    "run_emulator_in_thread",
    "start_emulator_process",
]
