"""What ``gladia-async transcribe`` says about resuming: counts of reused work, pending jobs.

The journal lives in the output folder (:data:`JOURNAL_NAME`), so running the same command
again resumes: finished sources are skipped, jobs still running are polled (never created
again), recorded uploads are reused, changed files are redone.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import anyio.to_thread

from .. import (
    BatchJournal,
    GladiaError,
    InvalidInput,
    OptionsChange,
    Progress,
    SourceIdentity,
    TranscriptionOptions,
    source_identity,
)

__all__ = ["JOURNAL_NAME", "changed_options", "pending_job_ids", "resume_counts", "resume_hint"]

#: The journal's file name inside ``--out``.
JOURNAL_NAME = ".gladia-batch.journal"


def resume_counts(progress: Progress) -> str | None:
    """One line of what this run took over from an earlier one, or None for a fresh run."""
    reused = progress.skipped + progress.adopted + progress.reused_uploads
    if not reused and not progress.changed:
        return None
    parts = [
        f"{progress.skipped} skipped (finished before)",
        f"{progress.adopted} adopted (jobs already created)",
        f"{progress.reused_uploads} reused uploads",
        f"{progress.uploaded} uploaded",
    ]
    if progress.changed:
        parts.append(f"{progress.changed} changed files redone")
    return "resumed: " + ", ".join(parts)


async def pending_job_ids(journal: Path | None, extra: Iterable[str]) -> list[str]:
    """Job ids created and not finished: the journal's, plus ``extra`` (timed-out outcomes)."""
    found: list[str] = []
    if journal is not None and journal.exists():  # noqa: ASYNC240 - one stat after the batch
        try:
            async with BatchJournal.open(journal, exclusive=False) as opened:
                found.extend((await opened.summary()).pending_job_ids)
        except GladiaError:
            pass  # the ids below are still worth printing
    for job_id in extra:
        if job_id not in found:
            found.append(job_id)
    return found


async def changed_options(
    journal: Path, sources: Iterable[str], options: TranscriptionOptions
) -> OptionsChange:
    """The journalled sources this run would transcribe again because its options differ.

    Read without the writer's lock (nothing is written); a journal that cannot be read raises
    :class:`JournalError`, said in one line before anything is spent.
    """

    def identities() -> list[SourceIdentity]:
        found = []
        for source in sources:
            try:
                found.append(source_identity(source, options))
            except InvalidInput:
                continue  # the batch reports it as that source's outcome
        return found

    wanted = await anyio.to_thread.run_sync(identities)
    async with BatchJournal.open(journal, exclusive=False) as opened:
        return await opened.changed_options(wanted, options)


def resume_hint(pending: list[str], *, journal: bool) -> list[str]:
    """The lines printed after Ctrl-C or ``--timeout``: the pending ids, and how to resume."""
    lines = []
    if pending:
        lines.append(f"{len(pending)} jobs still pending: " + " ".join(pending))
    how = "run the same command again to resume"
    if journal:
        how += " (finished files are skipped, pending jobs collected, never paid for twice)"
    else:
        how += " (without the journal, jobs are found again by their token)"
    lines.append(how)
    return lines
