"""What a resumed batch does with one source, from what the journal holds."""

from __future__ import annotations

import time
from typing import Literal

import attrs

from .._core.errors import InvalidInput
from .entries import JournalEntry
from .identity import SourceIdentity

__all__ = ["DEFAULT_UPLOAD_MAX_AGE", "ResumeStep", "resume_step"]

#: How long a recorded upload's ``audio_url`` is reused (seconds). Gladia keeps files for the
#: account's retention period, which may be as short as "deleted within 24 hours"
#: (docs: limits and specifications, data retention): reuse younger uploads only, and upload
#: again if the API refuses an old URL.
DEFAULT_UPLOAD_MAX_AGE = 20 * 3600.0


@attrs.frozen(kw_only=True)
class ResumeStep:
    """What a resumed batch does with one source, from what the journal holds.

    ``action``:

    * ``"skip"``: finished before; the outcome is in ``entry`` (``status``, ``result``, or
      ``job_id`` to ``get()``).
    * ``"adopt"``: the job ``entry.job_id`` was created and not finished: poll it, never
      create another.
    * ``"submit"``: uploaded (``entry.uploaded_audio()``, recent enough to reuse), no job
      recorded: create the job (after the token lookup, see ``lookup_first``).
    * ``"upload"``: upload (unless the source is a URL) and create, as for a new source.

    ``lookup_first``: a creation request may have been sent before the crash (the journal
    records the upload before any creation): look the job up by ``identity.token`` in
    ``custom_metadata`` and adopt it if it exists. ``changed``: the journal held this source at
    another version (the file changed): it is redone from scratch.
    """

    action: Literal["skip", "adopt", "submit", "upload"]
    identity: SourceIdentity
    entry: JournalEntry | None = None
    lookup_first: bool = False
    changed: bool = False


def resume_step(
    identity: SourceIdentity,
    entry: JournalEntry | None,
    *,
    now: float | None = None,
    upload_max_age: float = DEFAULT_UPLOAD_MAX_AGE,
) -> ResumeStep:
    """Return the :class:`ResumeStep` for ``identity`` given the journal's row for its key.

    ``entry`` may be at another version (a changed file): then the source is redone.
    """
    if entry is None:
        return ResumeStep(action="upload", identity=identity)
    if entry.key != identity.key:
        raise InvalidInput("entry", "belongs to another source or options")
    if entry.version != identity.version:
        return ResumeStep(action="upload", identity=identity, changed=True)
    if entry.finished:
        return ResumeStep(action="skip", identity=identity, entry=entry)
    if entry.job_id is not None:
        return ResumeStep(action="adopt", identity=identity, entry=entry)
    if entry.audio_url is None:
        return ResumeStep(action="upload", identity=identity, entry=entry)
    at = time.time() if now is None else now
    fresh = entry.uploaded_at is not None and at - entry.uploaded_at < upload_max_age
    return ResumeStep(
        action="submit" if fresh else "upload",
        identity=identity,
        entry=entry,
        lookup_first=True,
    )
