"""What the journal holds: one entry per source and options, counts, changed options."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from .._core.errors import JournalError
from .._schema.converter import structure
from .._schema.models import UploadedAudio

__all__ = [
    "JournalEntry",
    "JournalEntryError",
    "JournalSummary",
    "OptionsChange",
    "changed_fields",
]


@attrs.frozen(kw_only=True)
class JournalEntry:
    """What the journal knows about one source: its upload, its job, its final state."""

    source: str
    version: str
    options_hash: str
    token: str
    audio_url: str | None = None
    #: The upload's ``audio_metadata`` as JSON data, when an :class:`UploadedAudio` was recorded.
    audio_metadata: dict[str, Any] | None = None
    uploaded_at: float | None = None
    job_id: str | None = None
    created_at: float | None = None
    #: Final status (``"done"``, ``"error"``, or the caller's word for a permanent failure).
    status: str | None = None
    error: str | None = None
    error_code: int | None = None
    #: The finished job as JSON data, when it was kept.
    result: Any = None
    finished_at: float | None = None
    updated_at: float

    @property
    def state(self) -> Literal["new", "uploaded", "created", "finished"]:
        """How far the source got: ``finished`` > ``created`` > ``uploaded`` > ``new``."""
        if self.status is not None:
            return "finished"
        if self.job_id is not None:
            return "created"
        if self.audio_url is not None:
            return "uploaded"
        return "new"

    @property
    def display(self) -> str:
        """The source as a person would name it: the path or the URL."""
        return self.source.split(":", 1)[1]

    @property
    def key(self) -> str:
        """The journal row: the same as :attr:`SourceIdentity.key`."""
        return f"{self.options_hash[:16]}:{self.source}"

    @property
    def finished(self) -> bool:
        """True once a final state was recorded (the source needs no more work)."""
        return self.status is not None

    def uploaded_audio(self) -> UploadedAudio | str | None:
        """The recorded upload, as the :class:`UploadedAudio` (or URL) to submit again."""
        if self.audio_url is None:
            return None
        if self.audio_metadata is None:
            return self.audio_url
        return structure(
            {"audio_url": self.audio_url, "audio_metadata": self.audio_metadata}, UploadedAudio
        )


@attrs.frozen(kw_only=True)
class JournalSummary:
    """Counts of a journal's sources by state, for ``batch status`` and progress lines."""

    total: int = 0
    new: int = 0
    uploaded: int = 0
    created: int = 0
    done: int = 0
    failed: int = 0
    #: Job ids created and not finished: what a resume adopts.
    pending_job_ids: tuple[str, ...] = ()


class JournalEntryError(JournalError):
    """One journal row cannot be read (its JSON is damaged): only that source fails.

    ``source`` names the source as a person would (its path or URL).
    """

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message)
        self.source = source


@attrs.frozen(kw_only=True)
class OptionsChange:
    """Sources a journal holds as done or in flight under other options than this run's.

    Running the batch with these options transcribes each of them again (a new job, paid
    again): the journal keeps one entry per source *and* options. ``sources`` names them (path
    or URL); ``fields`` names the options that differ (``"namespace"`` included), when the
    journal knows the earlier options. False when nothing would be transcribed again.
    """

    sources: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        """How many sources would be transcribed again."""
        return len(self.sources)

    def __bool__(self) -> bool:
        return bool(self.sources)


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    fields = {
        name
        for name in set(before.get("options", {})) | set(after.get("options", {}))
        if before.get("options", {}).get(name) != after.get("options", {}).get(name)
    }
    if before.get("namespace") != after.get("namespace"):
        fields.add("namespace")
    return fields
