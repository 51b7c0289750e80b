"""What a batch reports: each source's outcome, the running counts, and how a source got there."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

import attrs

from .._schema.models import TranscriptionJob, TranscriptionResult
from .admission import AdmissionTicket
from .identity import SourceIdentity

__all__ = ["Outcome", "Progress", "ProgressCallback", "Resumed", "SourceRun", "WaitBy"]

#: How a source's outcome came from an earlier run: its final state was journalled
#: (``"skipped"``), its job was found and polled, never created again (``"adopted"``), or its
#: journalled upload was submitted without uploading again (``"reused_upload"``).
Resumed = Literal["skipped", "adopted", "reused_upload"]
"""How a batch used an earlier run's work for a source (see ``Outcome.resumed``)."""


@attrs.frozen(kw_only=True)
class Outcome:
    """What happened to one source of a batch: its finished job, or the error that stopped it.

    ``job_id`` is set once the job exists; ``token`` is the idempotency token the batch gave
    the source's job (look the job up with it after a :class:`JobUnconfirmedError`).
    ``resumed`` says how an earlier run's work was used (None: this run did all of it);
    ``changed`` is True when the journal held the source's file at another size or mtime.
    """

    source: Any
    index: int
    job: TranscriptionJob | None = None
    job_id: str | None = None
    error: BaseException | None = None
    #: The source's idempotency token, stored in the job's ``custom_metadata``.
    token: str | None = None
    #: How an earlier run's work was used: ``"skipped"``, ``"adopted"``, ``"reused_upload"``.
    resumed: Resumed | None = None
    #: True when the source's file changed since the journal entry, so it was redone.
    changed: bool = False
    #: The transcription result when it came by callback (``via=``; ``job`` is then None).
    result: TranscriptionResult | None = None

    @property
    def ok(self) -> bool:
        """True when the job finished with status ``done``."""
        return self.error is None and (self.job is not None or self.result is not None)


@attrs.define(kw_only=True)
class Progress:
    """Running counts of a batch, for a progress bar."""

    seen: int = 0
    uploaded: int = 0
    submitted: int = 0
    done: int = 0
    failed: int = 0
    #: Resume counts: finished before (journal), jobs found and polled, uploads reused,
    #: files redone because they changed since the journal saw them.
    skipped: int = 0
    adopted: int = 0
    reused_uploads: int = 0
    changed: int = 0
    finished_input: bool = False

    @property
    def in_flight(self) -> int:
        """Sources started and not yet finished."""
        return self.seen - self.done - self.failed


#: How a batch waits for a job by callback (``via=``): the job id in, its result out.
WaitBy = Callable[[str], Awaitable[TranscriptionResult]]

#: Called (synchronously, in the event loop) after every change of the counts. An exception
#: it raises is logged once and ignored.
ProgressCallback = Callable[[Progress], None]


@attrs.define(kw_only=True)
class SourceRun:
    """What one source's task knows so far: identity, token, job, admission place."""

    identity: SourceIdentity | None
    token: str
    job_id: str | None = None
    resumed: Resumed | None = None
    changed: bool = False
    ticket: AdmissionTicket | None = None
