"""``gladia-async batch status OUT``: what a batch's journal holds, and how to resume it.

Reads the journal that ``gladia-async transcribe ... --out OUT`` keeps in ``OUT`` (or a journal
file given by path) without taking the writer's lock, so it works while the batch runs. It
never contacts the API: the counts are the journal's, as of its last committed record.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import anyio
import orjson

from .. import BatchJournal
from .._batch.entries import JournalEntry
from .inputs import CommandLineError
from .resume import JOURNAL_NAME

__all__ = ["add_batch_parser", "batch_status"]

_DESCRIPTION = f"""\
Print the state of a batch from its journal ({JOURNAL_NAME} in the --out folder of
`gladia-async transcribe`): sources done, failed, created and not finished (with their job
ids), uploaded and not yet created, recorded and not started. Nothing is sent to the API.
Sources the batch never reached are not in the journal yet.

Run the same `gladia-async transcribe ... --out OUT` command again to resume: finished sources
are skipped, created jobs are collected (never created twice), recorded uploads are reused.
"""

#: The states of :class:`JournalSummary`, in the order printed, with their labels.
_STATES = (
    ("done", "done"),
    ("failed", "failed"),
    ("created", "created, not finished"),
    ("uploaded", "uploaded, not created"),
    ("new", "not started"),
)


def add_batch_parser(sub: Any, epilog: str) -> None:
    """Register ``batch status`` on the command line's subparsers."""
    batch = sub.add_parser(
        "batch",
        help="inspect a batch's journal (what a rerun of transcribe resumes)",
        description="Inspect a batch's journal (what a rerun of transcribe resumes).",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = batch.add_subparsers(dest="batch_command", required=True, metavar="ACTION")
    status = actions.add_parser(
        "status",
        help="print the journal's counts per state, pending job ids, and how to resume",
        description=_DESCRIPTION,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument(
        "out",
        metavar="OUT",
        help=f"the --out folder of `gladia-async transcribe` (or a journal file: {JOURNAL_NAME})",
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")


def _journal_path(out: Path) -> Path:
    journal = out / JOURNAL_NAME if out.is_dir() else out
    if not journal.is_file():
        where = f"{out} has no {JOURNAL_NAME}" if out.is_dir() else f"{out} does not exist"
        raise CommandLineError(
            f"no batch journal: {where} (transcribe with --out {out} keeps one there, "
            "unless --no-journal was given)"
        )
    return journal


async def batch_status(args: argparse.Namespace) -> int:
    """Print the state of the journal in ``args.out``; exit code 0 once it was read."""
    journal_path = await anyio.to_thread.run_sync(_journal_path, Path(args.out))
    async with BatchJournal.open(journal_path, exclusive=False) as journal:
        summary = await journal.summary()
        entries = await journal.entries()
    failed = [entry for entry in entries if entry.finished and entry.status != "done"]
    if args.json:
        data = {
            "journal": str(journal_path),
            "total": summary.total,
            **{state: getattr(summary, state) for state, _ in _STATES},
            "pending_job_ids": list(summary.pending_job_ids),
            "failed_sources": [_failure(entry) for entry in failed],
        }
        print(orjson.dumps(data).decode())
        return 0
    width = max(len(label) for _, label in _STATES)
    print(f"journal: {journal_path}")
    print(f"sources recorded: {summary.total}")
    for state, label in _STATES:
        print(f"  {label:<{width}}  {getattr(summary, state)}")
    if summary.pending_job_ids:
        print("pending job ids: " + " ".join(summary.pending_job_ids))
    for entry in failed:
        failure = _failure(entry)
        print(f"failed: {failure['source']}: {failure['error'] or failure['status']}")
    unfinished = summary.total - summary.done - summary.failed
    if unfinished:
        print(
            f"to resume: run the same `gladia-async transcribe ... --out {args.out}` command "
            f"again ({summary.created} created jobs are collected, not created again; "
            f"{summary.uploaded} recorded uploads are reused)"
        )
    else:
        print(
            "every recorded source is finished; running the same command again skips them "
            "and does only sources not recorded yet"
        )
    return 0


def _failure(entry: JournalEntry) -> dict[str, Any]:
    return {
        "source": entry.display,
        "status": entry.status,
        "job_id": entry.job_id,
        "error": entry.error,
        "error_code": entry.error_code,
    }
