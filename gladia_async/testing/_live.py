"""Live transcription in the emulator: ``POST /v2/live``, the WebSocket, ``PATCH /v2/live/{id}``.

Behaviour (*emulator choice* where the docs are silent):

* ``POST /v2/live`` (optional ``region`` query, ``us-west`` or ``eu-west``) validates the body
  like ``StreamingRequest`` (400 ``"Validation failed"`` with ``validation_errors``) and
  answers 201 ``{id, created_at, url}``; ``url`` is ``ws(s)://<host>/v2/live?token=<token>``.
  The token is not the API key; the WebSocket needs no key (the token is the credential).
* The WebSocket takes binary frames or ``{"type": "audio_chunk", "data": {"chunk": b64}}``;
  a frame over 512 KiB is closed with 1009. Each chunk is acknowledged with its
  ``byte_range`` counted **from the session start, half-open** ``[start, end)`` as the
  service sends it (an empty chunk gives ``[n, n]``; see
  :func:`gladia_async._schema.live_messages.acked_end`) and ``time_range`` in seconds.
* **Keeps exactly what it acknowledged**: a chunk is kept (counted, hashed, stored) at the
  moment its acknowledgement is sent; a chunk received on a socket that then drops without
  an acknowledgement is discarded, so a client that replays everything unacknowledged
  loses nothing and duplicates nothing. :attr:`LiveSessionState.kept_bytes`,
  ``.audio`` and ``.sha256`` let tests compare with what they sent.
* Transcripts follow the audio clock: utterances of ``utterance_seconds`` of audio;
  ``speech_start`` when one begins, a partial transcript half-way (when
  ``receive_partial_transcripts``), the final transcript plus ``speech_end`` and any enabled
  realtime add-ons (translation, named entities, sentiment) when it is complete.
* ``stop_recording`` -> its acknowledgement, the last utterance, ``end_recording``,
  ``post_transcript``, ``post_final_transcript`` (the same result ``GET /v2/live/{id}``
  serves), ``post_chapterization`` / ``post_summarization`` when enabled, ``end_session``,
  then a 1000 close. Lifecycle messages only with ``receive_lifecycle_events``,
  acknowledgements only with ``receive_acknowledgments`` (the spec's defaults apply).
* The live job is ``queued`` until the first connection, ``processing`` while streaming,
  ``done`` after ``end_session``; list/get/delete/file routes serve it like any job.
* Faults on cue (:class:`LiveFaults`, ``emulator.live.faults``): drop the socket when the
  kept audio would pass given offsets, delay acknowledgements, close an idle socket with
  4408 after a silence timeout, send a message with an ``error`` object, refuse chunks
  (``acknowledged: false``), drop the socket during post-processing. A 400 on creation
  comes from the body validation or from a :class:`FaultPlan` ``status`` rule on
  ``POST /v2/live``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ._state import Job

__all__ = ["IDLE_CLOSE_CODE", "REGIONS", "LiveFaults", "LiveSessionState"]

REGIONS = ("us-west", "eu-west")
IDLE_CLOSE_CODE = 4408


@dataclass
class LiveFaults:
    """Faults for live sessions; change ``emulator.live.faults`` at any time."""

    #: Drop the socket (no close frame) when the kept audio would pass each of these session
    #: offsets; each offset fires once. The chunk that triggers it is not kept.
    drop_at_bytes: list[int] = field(default_factory=list)
    #: Seconds to wait before acknowledging (and keeping) each chunk.
    ack_delay: float = 0.0
    #: Close a socket that received nothing (no audio, no ping) for this long, with 4408.
    idle_timeout: float | None = None
    #: Once the kept audio passes this offset, send a ``translation`` message carrying an
    #: ``error`` object (the session carries on).
    error_message_at_bytes: int | None = None
    #: Refuse every chunk past this offset with ``acknowledged: false`` and an error.
    reject_chunks_at_bytes: int | None = None
    #: Drop the socket right after acknowledging ``stop_recording`` (the job still finishes).
    drop_after_stop: bool = False
    #: End the session from the server side once the kept audio passes this offset: the job
    #: finishes and the socket closes with 1000 (no ``stop_recording`` needed).
    end_at_bytes: int | None = None


@dataclass
class LiveSessionState:
    """One live session as the emulator sees it."""

    id: str
    token: str
    job: Job
    params: dict[str, Any]
    bytes_per_second: float
    kept_bytes: int = 0
    audio: bytearray = field(default_factory=bytearray)
    digest: Any = field(default_factory=hashlib.sha256)
    connections: int = 0
    drops: int = 0
    frames: int = 0
    utterances_done: int = 0
    utterance_started: bool = False
    partial_sent: bool = False
    stopped: bool = False
    ended: bool = False
    error_sent: bool = False
    messages: int = 0

    @property
    def sha256(self) -> str:
        """Hex digest of the kept audio, in order."""
        return str(self.digest.hexdigest())

    @property
    def audio_seconds(self) -> float:
        return self.kept_bytes / self.bytes_per_second
