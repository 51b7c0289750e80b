"""``gladia-async jobs``, ``get``, ``delete`` and ``download``: one job (or a listing) at a time."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from .. import AuthenticationError, GladiaError, InvalidInput
from .._schema.converter import unstructure
from .._schema.validation import check_job_id
from .connection import QUICK_RETRY, StderrNotes, api_url, open_session
from .exit_codes import EXIT_FAILED, EXIT_OK, CommandFailed
from .inputs import CommandLineError
from .messages import explain
from .render import retry_notes, write_line

__all__ = ["delete_command", "download_command", "get_command", "jobs_command"]


def _parse_date(text: str | None, name: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CommandLineError(
            f"--{name}: {text!r} is not an ISO date/time, e.g. 2026-01-31 or 2026-01-31T12:00"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _check_job_ids(ids: Sequence[str]) -> None:
    for job_id in ids:
        try:
            check_job_id(job_id)
        except InvalidInput:
            raise CommandLineError(
                f"{job_id!r} is not a job id (a UUID such as 45463597-20b7-4af7-b3b3-"
                "f5fb778203ab); `gladia-async jobs` lists them"
            ) from None


def _job_row(job: Any) -> tuple[str, str, str, str, str]:
    file = getattr(job, "file", None)
    name = (getattr(file, "filename", None) or getattr(file, "source", None) or "") if file else ""
    kind = getattr(job, "kind", "")
    return (
        job.id,
        str(getattr(kind, "value", kind)),
        job.status.value,
        job.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        str(name),
    )


async def jobs_command(args: argparse.Namespace) -> int:
    metadata: dict[str, str] = {}
    for pair in args.metadata:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandLineError(f"--metadata: {pair!r} is not KEY=VALUE")
        metadata[key] = value
    if args.limit is not None and args.limit < 0:
        raise CommandLineError("--limit must be 0 or more")
    after = _parse_date(args.after, "after")
    before = _parse_date(args.before, "before")
    async with open_session(args, retry=QUICK_RETRY) as gladia:
        with retry_notes(StderrNotes()):
            stream = gladia.iter_jobs(
                status=args.status,
                kind=args.kind,
                after_date=after,
                before_date=before,
                custom_metadata=metadata or None,
                max_items=args.limit,
            )
            header = not args.json
            async with stream as jobs:
                async for job in jobs:
                    if header:  # printed with the first row, so a failure prints no table
                        write_line(_JOBS_HEADER)
                        header = False
                    if args.json:
                        write_line(orjson.dumps(unstructure(job)).decode())
                    else:
                        id_, kind, status, created, name = _job_row(job)
                        write_line(f"{id_:36}  {kind:12}  {status:10}  {created:19}  {name}")
            if header:
                write_line(_JOBS_HEADER)
    return EXIT_OK


_JOBS_HEADER = f"{'id':36}  {'kind':12}  {'status':10}  {'created (UTC)':19}  file"


async def get_command(args: argparse.Namespace) -> int:
    _check_job_ids([args.job_id])
    async with open_session(args, retry=QUICK_RETRY) as gladia:
        with retry_notes(StderrNotes()):
            try:
                job = await gladia.get(args.job_id)
            except AuthenticationError:
                raise  # a refused key: exit code 2, as for a missing one
            except GladiaError as exc:
                raise CommandFailed(
                    explain(exc, job_id=args.job_id, api_url=api_url(args))
                ) from None
    write_line(orjson.dumps(unstructure(job), option=orjson.OPT_INDENT_2).decode())
    return EXIT_OK


async def delete_command(args: argparse.Namespace) -> int:
    _check_job_ids(args.job_ids)
    failed = 0
    async with open_session(args, retry=QUICK_RETRY) as gladia:
        with retry_notes(StderrNotes()):
            for job_id in args.job_ids:
                try:
                    await gladia.delete(job_id)
                except AuthenticationError:
                    raise  # every other id would be refused too
                except GladiaError as exc:
                    failed += 1
                    message = explain(exc, job_id=job_id, api_url=api_url(args))
                    print(f"FAILED {job_id}: {message}", file=sys.stderr, flush=True)
                else:
                    write_line(f"deleted {job_id}")
    return EXIT_FAILED if failed else EXIT_OK


async def download_command(args: argparse.Namespace) -> int:
    _check_job_ids([args.job_id])
    target = Path(args.out)
    if target.is_dir():  # noqa: ASYNC240 - argument check, before any request
        raise CommandLineError(f"--out: {target} is a folder; give a file name")
    if not target.parent.exists():
        raise CommandLineError(f"--out: folder {target.parent} does not exist")
    async with open_session(args, retry=QUICK_RETRY) as gladia:
        with retry_notes(StderrNotes()):
            try:
                path = await gladia.download_audio(args.job_id, target)
            except AuthenticationError:
                raise  # a refused key: exit code 2, as for a missing one
            except GladiaError as exc:
                raise CommandFailed(
                    explain(exc, job_id=args.job_id, api_url=api_url(args))
                ) from None
    print(f"saved {path}", file=sys.stderr)
    return EXIT_OK
