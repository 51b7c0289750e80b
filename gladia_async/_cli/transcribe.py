"""``gladia-async transcribe``: flags checked, ``--out`` tried, the estimate and the journal's
options compared before the first upload; then the batch, its progress and its summary."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.to_thread

from .. import GladiaTimeout, TranscriptionOptions
from .connection import BATCH_RETRY, QUICK_RETRY, api_url, credentials, open_session
from .estimate import audio_limits, check_budget
from .exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from .inputs import CommandLineError, Sources, build_options, describe_skipped, expand_sources
from .messages import explain
from .parser import duration
from .render import ProgressView, Summary, note, retry_notes
from .results import check_out, write_outcome
from .resume import JOURNAL_NAME, changed_options, pending_job_ids, resume_counts, resume_hint

__all__ = ["cancel_on_ctrl_c", "transcribe_command"]


@contextlib.contextmanager
def cancel_on_ctrl_c(scope: anyio.CancelScope) -> Iterator[None]:
    """First Ctrl-C cancels ``scope`` (a clean stop with a summary); a second one aborts."""
    loop = asyncio.get_running_loop()

    def first() -> None:
        scope.cancel()
        loop.remove_signal_handler(signal.SIGINT)  # the next Ctrl-C raises KeyboardInterrupt

    try:
        loop.add_signal_handler(signal.SIGINT, first)
    except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


async def _preflight(args: argparse.Namespace) -> None:
    """One cheap listing request: a wrong key or an unreachable URL fails before any upload."""
    async with (
        open_session(args, retry=QUICK_RETRY) as probe,
        probe.iter_jobs(page_size=1, max_items=1, prefetch=False) as jobs,
    ):
        async for _ in jobs:
            break


async def _refuse_changed_options(
    journal: Path, sources: Sources, options: TranscriptionOptions, out: Path
) -> None:
    """Stop before spending when the rerun would transcribe journalled sources again."""
    if not await anyio.to_thread.run_sync(journal.exists):
        return
    change = await changed_options(journal, sources.items, options)
    if not change:
        return
    what = f" ({', '.join(change.fields)} changed)" if change.fields else ""
    raise CommandLineError(
        f"{change.count} of {len(sources.items)} sources were already transcribed (or are "
        f"being transcribed) in --out {out} with other options{what}; running this command "
        "transcribes them again and pays again: add --accept-changed-options to do so, or "
        "use another --out"
    )


async def _transcribe(
    args: argparse.Namespace, sources: Sources, options: TranscriptionOptions
) -> int:
    out = Path(args.out)
    check_out(out, sources.names.values())  # before any request: nothing spent on a result
    skipped = describe_skipped(sources.skipped)
    if skipped:
        note(f"gladia-async: {skipped}", sys.stderr)
    estimated = await check_budget(args, sources.items)  # refusals send nothing
    journal = None if args.no_journal else out / JOURNAL_NAME
    if journal is not None and not args.accept_changed_options:
        await _refuse_changed_options(journal, sources, options, out)
    await _preflight(args)
    note(f"gladia-async: estimate: {estimated.summary()}.", sys.stderr)
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before any work
    failures: list[tuple[str, str]] = []
    timed_out: list[str] = []
    done = 0
    base_url = api_url(args)
    async with open_session(
        args, max_concurrency=args.concurrency, retry=BATCH_RETRY, limits=audio_limits(args)
    ) as gladia:
        with (
            ProgressView(len(sources.items), sys.stderr) as view,
            retry_notes(view.retrying),
            anyio.CancelScope() as scope,
            cancel_on_ctrl_c(scope),
        ):
            async with gladia.transcribe_many(
                sources.items,
                options,
                on_progress=view.update,
                timeout=args.timeout,
                journal=journal,
            ) as outcomes:
                async for outcome in outcomes:
                    source = str(outcome.source)
                    if outcome.ok:
                        # In a thread: a long transcript's JSON must not freeze the progress bar.
                        with anyio.CancelScope(shield=True):  # written and counted, or neither
                            await anyio.to_thread.run_sync(
                                write_outcome, out, sources.names[source], outcome
                            )
                            done += 1
                    else:
                        assert outcome.error is not None
                        message = explain(outcome.error, job_id=outcome.job_id, api_url=base_url)
                        failures.append((source, message))
                        if isinstance(outcome.error, GladiaTimeout) and outcome.job_id:
                            timed_out.append(outcome.job_id)
        interrupted = scope.cancel_called
        counts = resume_counts(outcomes.progress)
    Summary(
        total=len(sources.items),
        done=done,
        failed=failures,
        skipped=sum(sources.skipped.values()),
        out=f"{out}{os.sep}",
        interrupted=interrupted,
    ).print(sys.stderr)
    if counts is not None:
        note(counts, sys.stderr)
    if interrupted or timed_out:
        pending = await pending_job_ids(journal, timed_out)
        for line in resume_hint(pending, journal=journal is not None):
            note(line, sys.stderr)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failures else EXIT_OK


def transcribe_command(args: argparse.Namespace) -> int:
    """``gladia-async transcribe``: every flag checked before the event loop and any file read."""
    args.timeout = duration(args.timeout)
    if args.concurrency < 1:
        raise CommandLineError(f"--concurrency must be 1 or more, got {args.concurrency}")
    options = build_options(
        options_json=args.options_json,
        diarization=args.diarization,
        language=args.language,
        subtitles=args.subtitles,
    )
    sources = expand_sources(args.sources, exclude=Path(args.out))
    credentials(args)  # the key and URL are checked before any file is read or sent
    result: int = anyio.run(_transcribe, args, sources, options)
    return result
