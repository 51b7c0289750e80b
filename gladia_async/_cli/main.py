"""The ``gladia-async`` command line, built on the public SDK API only.

Everything a flag can get wrong is checked before the first request (:mod:`._cli_inputs`);
errors are said in the shell's terms (:mod:`._cli_messages`); progress and the summary adapt
to the terminal (:mod:`._cli_render`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import difflib
import math
import os
import re
import signal
import struct
import sys
import tempfile
import time
import wave
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import orjson

from .. import (
    AuthenticationError,
    GladiaError,
    GladiaSession,
    GladiaTimeout,
    InvalidInput,
    Outcome,
    RetryPolicy,
    TranscriptionOptions,
    __version__,
)
from .._schema.converter import unstructure
from .._schema.validation import check_job_id
from .estimate import (
    ESTIMATE_HELP,
    add_audio_limit_argument,
    add_estimate_parser,
    audio_limits,
    check_budget,
    estimate_command,
)
from .inputs import (
    CommandLineError,
    Sources,
    build_options,
    check_api_url,
    describe_skipped,
    expand_sources,
    language_codes,
)
from .messages import NO_KEY, explain
from .render import (
    OutputFailed,
    ProgressView,
    Summary,
    note,
    retry_notes,
    silence_stdout,
    standard_streams,
)
from .resume import (
    JOURNAL_NAME,
    changed_options,
    pending_job_ids,
    resume_counts,
    resume_hint,
)
from .status import add_batch_parser, batch_status

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_PIPE = 0, 1, 2, 130, 141
#: A key the API refused (401): fix the configuration, not a failure to retry later.
EXIT_BAD_KEY = EXIT_USAGE

_EPILOG = """\
exit codes:
  0    everything asked for was done
  1    some work failed (a file, a job, the API or the network); each failure is listed
  2    a usage error: bad flag or value, missing API key, malformed URL (nothing was sent),
       or an API key the API refused (401)
  130  interrupted with Ctrl-C (results already finished are kept)
  141  the reader of the output went away (e.g. `gladia-async jobs | head`)

environment:
  GLADIA_API_KEY   API key (or --api-key)
  GLADIA_API_URL   API base URL (or --api-url; default https://api.gladia.io)
"""

#: Interactive commands and the first contact of a batch: a refused connection fails in well
#: under a second instead of backing off for seconds with nothing on screen.
_QUICK_RETRY = RetryPolicy(attempts=3, backoff_initial=0.1, backoff_max=0.3, deadline=30.0)
#: Inside a batch the network may blip: retry longer, with the retries shown on screen.
_BATCH_RETRY = RetryPolicy(attempts=6, backoff_initial=0.25, backoff_max=8.0, deadline=120.0)


class _Parser(argparse.ArgumentParser):
    """The top-level parser: knows its commands' parsers, to suggest a misspelt flag."""

    commands: dict[str, argparse.ArgumentParser]


_DURATION = re.compile(r"(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[smh]?)", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


def _duration(text: str | None, flag: str = "--timeout") -> float | None:
    """A duration flag's seconds: ``90``, ``90s``, ``5m`` or ``1h``; raise if it is none."""
    if text is None:
        return None
    match = _DURATION.fullmatch(text.strip())
    seconds = float(match["number"]) * _UNIT_SECONDS[match["unit"].lower()] if match else 0
    if not match or not 0 < seconds < float("inf"):
        raise CommandLineError(
            f"{flag}: expected a duration greater than 0 such as 90, 90s, 5m or 1h, got {text!r}"
        )
    return seconds


def _suggest(parser: argparse.ArgumentParser, unknown: list[str]) -> str:
    """``--diarisation`` -> ``; did you mean --diarization?``, from the command's own flags."""
    flags = [o for action in parser._actions for o in action.option_strings if o.startswith("--")]
    hints = {}
    for token in unknown:
        name = token.split("=", 1)[0]
        if name.startswith("-"):
            close = difflib.get_close_matches(name, flags, n=1, cutoff=0.6)
            if close:
                hints[name] = close[0]
    if len(hints) == 1:
        return f"; did you mean {next(iter(hints.values()))}?"
    return "".join(f"; {name}: did you mean {flag}?" for name, flag in hints.items())


def _parse(parser: _Parser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; an unknown flag exits 2 with the closest flag of its command."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        command = parser.commands.get(getattr(args, "command", None) or "", parser)
        command.error(f"unrecognized arguments: {' '.join(unknown)}{_suggest(command, unknown)}")
    return args


def _parser(command_name: str | None = None) -> _Parser:
    """The CLI's parser; the ``emulator`` command's own options only when it is the one run.

    Its options come from the emulator package, which ``--help``/``--version`` and every other
    command must not import (it is heavy); the top-level help lists the command either way.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api-key", help="API key (default: $GLADIA_API_KEY); never printed", metavar="KEY"
    )
    common.add_argument(
        "--api-url",
        help="API base URL (default: $GLADIA_API_URL, else https://api.gladia.io)",
        metavar="URL",
    )

    parser = _Parser(
        prog="gladia-async",
        description="Transcribe audio and video with Gladia's API, concurrently.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"gladia-async {__version__} (Python {sys.version.split()[0]})",
        help="print the version and exit",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=argparse.ArgumentParser
    )

    def command(
        name: str, help: str, *, api: bool = True, epilog: str = _EPILOG
    ) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            parents=[common] if api else [],
            help=help,
            description=help[0].upper() + help[1:] + ".",
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    t = command("transcribe", "transcribe files, folders (their audio/video files) or URLs")
    t.add_argument(
        "sources",
        nargs="+",
        metavar="FILE_FOLDER_OR_URL",
        help="audio/video files, folders (walked for supported formats) or http(s) URLs",
    )
    t.add_argument(
        "--out",
        default="transcripts",
        metavar="FOLDER",
        help="where results go, one NAME.json (and NAME.srt...) per source, named after it; "
        "a rerun overwrites (default: transcripts)",
    )
    t.add_argument(
        "--language",
        metavar="CODE[,CODE]",
        help="spoken language, e.g. en (case-insensitive); several = detect among them",
    )
    t.add_argument(
        "--subtitles", metavar="FORMATS", help="subtitle files to write: srt, vtt or srt,vtt"
    )
    t.add_argument("--diarization", action="store_true", help="tell the speakers apart")
    t.add_argument(
        "--options-json",
        metavar="FILE",
        help="JSON object of further transcription options (API field names); flags win",
    )
    t.add_argument(
        "--concurrency",
        type=int,
        default=16,
        metavar="N",
        help="files uploaded/transcribed at once (default: 16)",
    )
    t.add_argument(
        "--no-journal",
        action="store_true",
        help=f"keep no journal in --out ({JOURNAL_NAME}); by default a rerun of the same "
        "command resumes from it",
    )
    t.add_argument(
        "--accept-changed-options",
        action="store_true",
        help="transcribe again (and pay again for) sources the journal in --out holds done or "
        "in flight with other options; without it such a rerun stops before spending",
    )
    t.add_argument(
        "--timeout",
        default=None,
        metavar="DURATION",
        help="give up on a job not finished after this long: seconds (90, 90s) or 5m, 1h "
        "(default: 1 hour)",
    )
    t.add_argument(
        "--max-hours",
        type=float,
        default=None,
        metavar="HOURS",
        help="refuse the batch (nothing sent) if its estimate is over this many billed hours",
    )
    add_audio_limit_argument(t)

    j = command("jobs", "list jobs, newest first")
    j.add_argument(
        "--status",
        action="append",
        type=str.lower,
        choices=["queued", "processing", "done", "error"],
        help="only jobs with this status (repeat for several)",
    )
    j.add_argument(
        "--kind",
        action="append",
        type=str.lower,
        choices=["pre-recorded", "live"],
        help="only jobs of this kind (repeat for several)",
    )
    j.add_argument(
        "--after", metavar="WHEN", help="created after, ISO date/time (UTC if no offset)"
    )
    j.add_argument(
        "--before", metavar="WHEN", help="created before, ISO date/time (UTC if no offset)"
    )
    j.add_argument(
        "--metadata",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only jobs whose custom_metadata has KEY=VALUE (repeat for several)",
    )
    j.add_argument("--limit", type=int, default=None, metavar="N", help="stop after N jobs")
    j.add_argument("--json", action="store_true", help="one JSON object per line, not a table")

    g = command("get", "print one job (status, result) as JSON")
    g.add_argument("job_id", metavar="JOB_ID", help="the job's id (a UUID)")
    d = command("delete", "delete finished jobs and their data")
    d.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="ids of the jobs to delete")
    dl = command("download", "download the audio file a job transcribed")
    dl.add_argument("job_id", metavar="JOB_ID", help="the job's id (a UUID)")
    dl.add_argument("--out", required=True, metavar="FILE", help="file to write")

    from .live import add_live_parser

    add_live_parser(sub, common)
    add_batch_parser(sub, _EPILOG)

    command("languages", "list the language codes --language accepts", api=False)
    add_estimate_parser(command("estimate", ESTIMATE_HELP, api=False))

    emulator_help = "run the local Gladia emulator in the foreground"
    if command_name == "emulator":
        from ..testing._command import EPILOG, add_emulator_arguments

        add_emulator_arguments(command("emulator", emulator_help, api=False, epilog=EPILOG))
    else:
        command("emulator", emulator_help, api=False)

    m = command("demo", "show the SDK working end to end (uses the emulator without a key)")
    m.add_argument(
        "--files", type=int, default=6, metavar="N", help="WAV files to generate (default: 6)"
    )
    m.add_argument(
        "--out",
        default=None,
        metavar="FOLDER",
        help="work folder, kept (default: a temp one, removed at the end)",
    )
    parser.commands = dict(sub.choices)
    return parser


# -- helpers ---------------------------------------------------------------------------------


def _credentials(args: argparse.Namespace) -> tuple[str, str | None]:
    """Return the API key and base URL to use, or raise :class:`CommandLineError`."""
    key = args.api_key if args.api_key is not None else os.environ.get("GLADIA_API_KEY", "")
    if not key.strip():
        raise CommandLineError(NO_KEY)
    return key, check_api_url(args.api_url)


def _session(args: argparse.Namespace, **kwargs: Any) -> GladiaSession:
    key, url = _credentials(args)
    try:
        return GladiaSession(api_key=key, base_url=url, **kwargs)
    except GladiaError as exc:
        raise CommandLineError(explain(exc)) from None
    except ValueError as exc:  # a URL yarl accepted but the transport did not
        origin = "--api-url" if args.api_url is not None else "GLADIA_API_URL"
        raise CommandLineError(f"{origin}: {url!r} is not a valid URL ({exc})") from None


def _api_url(args: argparse.Namespace) -> str:
    # getattr: commands that never contact the API (`batch status`) have no --api-url.
    given = getattr(args, "api_url", None)
    return given or os.environ.get("GLADIA_API_URL") or "https://api.gladia.io"


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


def _out(text: str) -> None:
    """Write a line to stdout now (a closed pipe raises ``BrokenPipeError``, handled in main)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


_SUBTITLE_SUFFIXES = (".srt", ".vtt")


def _check_out(out: Path, stems: Iterable[str]) -> None:
    """Create ``out`` and make sure every result's folder can be written, or raise
    :class:`CommandLineError` (exit 2) before the first request.

    Tried, not guessed from permission bits (they do not tell for root, ACLs or a read-only
    mount): a file is created and removed in each folder that exists. Names were already cut to
    fit (``output_stems``).
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandLineError(f"--out: cannot create the folder {out} ({_why(exc)})") from None
    if not out.is_dir():
        raise CommandLineError(f"--out: {out} exists and is not a folder")
    checked: set[Path] = set()
    for stem in stems:
        folder = (out / stem).parent
        while folder != out and not folder.exists():  # created when its result is written
            folder = folder.parent
        if folder in checked:
            continue
        checked.add(folder)
        if not folder.is_dir():
            raise CommandLineError(
                f"--out: results would go into {folder}, which is a file, not a folder"
            )
        try:
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".gladia-probe.")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise CommandLineError(f"--out: cannot write into {folder} ({_why(exc)})") from None


def _why(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _write_outcome(out: Path, stem: str, outcome: Outcome) -> list[Path]:
    """Write a finished job's JSON and subtitles as ``out/stem.*``; return the paths.

    Each file appears whole or not at all (written beside and renamed), and subtitles a
    previous run left under this stem but this run did not ask for are removed, so the folder
    always holds exactly this run's results for the source.
    """
    job = outcome.job
    assert job is not None
    base = out / stem
    json_path = base.parent / f"{base.name}.json"
    _write_atomic(json_path, orjson.dumps(unstructure(job), option=orjson.OPT_INDENT_2))
    written = [json_path]
    transcription = job.result.transcription if job.result else None
    for subtitle in (transcription.subtitles if transcription else None) or []:
        path = base.parent / f"{base.name}.{subtitle.format.value}"
        _write_atomic(path, subtitle.subtitles.encode("utf-8"))
        written.append(path)
    for suffix in _SUBTITLE_SUFFIXES:
        stale = base.parent / f"{base.name}{suffix}"
        if stale not in written:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
    return written


@contextlib.contextmanager
def _cancel_on_ctrl_c(scope: anyio.CancelScope) -> Iterator[None]:
    """First Ctrl-C cancels ``scope`` (a clean stop with a summary); a second one aborts."""
    import asyncio

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
        _session(args, retry=_QUICK_RETRY) as probe,
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


# -- commands --------------------------------------------------------------------------------


async def _transcribe(
    args: argparse.Namespace, sources: Sources, options: TranscriptionOptions
) -> int:
    out = Path(args.out)
    _check_out(out, sources.names.values())  # before any request: nothing spent on a result
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
    api_url = _api_url(args)
    async with _session(
        args, max_concurrency=args.concurrency, retry=_BATCH_RETRY, limits=audio_limits(args)
    ) as gladia:
        with (
            ProgressView(len(sources.items), sys.stderr) as view,
            retry_notes(view.retrying),
            anyio.CancelScope() as scope,
            _cancel_on_ctrl_c(scope),
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
                                _write_outcome, out, sources.names[source], outcome
                            )
                            done += 1
                    else:
                        assert outcome.error is not None
                        message = explain(outcome.error, job_id=outcome.job_id, api_url=api_url)
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


async def _jobs(args: argparse.Namespace) -> int:
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
    async with _session(args, retry=_QUICK_RETRY) as gladia:
        with retry_notes(_StderrNotes()):
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
                        _out(_JOBS_HEADER)
                        header = False
                    if args.json:
                        _out(orjson.dumps(unstructure(job)).decode())
                    else:
                        id_, kind, status, created, name = _job_row(job)
                        _out(f"{id_:36}  {kind:12}  {status:10}  {created:19}  {name}")
            if header:
                _out(_JOBS_HEADER)
    return EXIT_OK


_JOBS_HEADER = f"{'id':36}  {'kind':12}  {'status':10}  {'created (UTC)':19}  file"


class _StderrNotes:
    """Retry notes as stderr lines, at most one every two seconds (retries come in bursts)."""

    def __init__(self) -> None:
        self._last = -math.inf

    def __call__(self, note: str) -> None:
        now = time.monotonic()
        if note and now - self._last >= 2.0:
            self._last = now
            print(f"gladia-async: retrying: {note}", file=sys.stderr, flush=True)


async def _get(args: argparse.Namespace) -> int:
    _check_job_ids([args.job_id])
    async with _session(args, retry=_QUICK_RETRY) as gladia:
        with retry_notes(_StderrNotes()):
            try:
                job = await gladia.get(args.job_id)
            except AuthenticationError:
                raise  # a refused key: exit code 2, as for a missing one
            except GladiaError as exc:
                raise _Failed(explain(exc, job_id=args.job_id, api_url=_api_url(args))) from None
    _out(orjson.dumps(unstructure(job), option=orjson.OPT_INDENT_2).decode())
    return EXIT_OK


async def _delete(args: argparse.Namespace) -> int:
    _check_job_ids(args.job_ids)
    failed = 0
    async with _session(args, retry=_QUICK_RETRY) as gladia:
        with retry_notes(_StderrNotes()):
            for job_id in args.job_ids:
                try:
                    await gladia.delete(job_id)
                except AuthenticationError:
                    raise  # every other id would be refused too
                except GladiaError as exc:
                    failed += 1
                    message = explain(exc, job_id=job_id, api_url=_api_url(args))
                    print(f"FAILED {job_id}: {message}", file=sys.stderr, flush=True)
                else:
                    _out(f"deleted {job_id}")
    return EXIT_FAILED if failed else EXIT_OK


async def _download(args: argparse.Namespace) -> int:
    _check_job_ids([args.job_id])
    target = Path(args.out)
    if target.is_dir():  # noqa: ASYNC240 - argument check, before any request
        raise CommandLineError(f"--out: {target} is a folder; give a file name")
    if not target.parent.exists():
        raise CommandLineError(f"--out: folder {target.parent} does not exist")
    async with _session(args, retry=_QUICK_RETRY) as gladia:
        with retry_notes(_StderrNotes()):
            try:
                path = await gladia.download_audio(args.job_id, target)
            except AuthenticationError:
                raise  # a refused key: exit code 2, as for a missing one
            except GladiaError as exc:
                raise _Failed(explain(exc, job_id=args.job_id, api_url=_api_url(args))) from None
    print(f"saved {path}", file=sys.stderr)
    return EXIT_OK


async def _live(args: argparse.Namespace) -> int:
    from .live import run_live

    async with _session(args) as gladia:
        return await run_live(args, gladia)


async def _languages(args: argparse.Namespace) -> int:
    _out(" ".join(language_codes()))
    return EXIT_OK


def write_demo_wavs(folder: Path, count: int) -> list[Path]:
    """Write ``count`` short mono 16 kHz WAV tones (1-4 s) into ``folder``; return the paths."""
    paths = []
    rate = 16_000
    for i in range(count):
        seconds = 1 + i % 4
        freq = 220 * (1 + i % 5)
        path = folder / f"call-{i + 1:02d}.wav"
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * n / rate)))
            for n in range(rate * seconds)
        )
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(frames)
        paths.append(path)
    return paths


@contextlib.asynccontextmanager
async def _demo_target(args: argparse.Namespace) -> AsyncIterator[tuple[str | None, str | None]]:
    key = args.api_key or os.environ.get("GLADIA_API_KEY")
    if key:
        print("Using Gladia's API (an API key is set).")
        yield key, check_api_url(args.api_url)
        return
    from ..testing import run_emulator

    async with run_emulator(job_duration=1.0, latency=0.01) as emu:
        print(f"No GLADIA_API_KEY set: started the embedded Gladia emulator on {emu.url}")
        yield emu.api_key, emu.url


async def _demo(args: argparse.Namespace) -> int:
    if args.files < 1:
        raise CommandLineError("--files must be 1 or more")
    if args.out:
        return await _demo_in(args, Path(args.out))
    # Without --out, nothing is left behind: the temp folder goes, whatever happens.
    with tempfile.TemporaryDirectory(prefix="gladia-demo-") as work:
        code = await _demo_in(args, Path(work))
    print("(the temp folder is removed; keep the files with --out FOLDER)")
    return code


async def _demo_in(args: argparse.Namespace, work: Path) -> int:
    audio_dir = work / "audio"
    out = work / "transcripts"
    audio_dir.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    wavs = write_demo_wavs(audio_dir, args.files)
    sources = expand_sources([str(audio_dir)])
    print(f"Wrote {len(wavs)} WAV files to {audio_dir}")
    async with _demo_target(args) as (key, url):
        options = TranscriptionOptions(diarization=True, subtitles=None)
        async with GladiaSession(api_key=key, base_url=url, max_concurrency=8) as gladia:
            failures = 0
            with ProgressView(len(sources.items), sys.stderr) as view:
                async with gladia.transcribe_many(
                    sources.items, options, on_progress=view.update
                ) as outcomes:
                    async for outcome in outcomes:
                        source = str(outcome.source)
                        if outcome.ok:
                            written = _write_outcome(out, sources.names[source], outcome)
                            assert outcome.job is not None and outcome.job.result is not None
                            text = outcome.job.result.transcription
                            words = text.full_transcript if text else ""
                            print(f"  {Path(source).name}: {words[:60]!r}...")
                            print(f"    -> {written[0]}")
                        else:
                            failures += 1
                            assert outcome.error is not None
                            print(f"  {source}: FAILED {explain(outcome.error)}")
            print("Job listing (newest first, streamed across pages):")
            async with gladia.iter_jobs(page_size=4, max_items=args.files) as jobs:
                async for job in jobs:
                    print(f"  {job.id}  {job.status.value:10}  {job.created_at:%H:%M:%S}")
    print(f"Done: {len(wavs) - failures}/{len(wavs)} transcribed; results in {out}")
    return EXIT_FAILED if failures else EXIT_OK


class _Failed(Exception):
    """A command failed for a reason already said in the shell's terms: exit code 1."""


_COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "jobs": _jobs,
    "get": _get,
    "delete": _delete,
    "download": _download,
    "languages": _languages,
    "demo": _demo,
    "live": _live,
    "batch": batch_status,
    "estimate": estimate_command,
}


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _run(args: argparse.Namespace) -> int:
    if args.command == "emulator":
        from ..testing._command import run

        return run(args, "gladia-async emulator")
    if args.command == "transcribe":
        args.timeout = _duration(args.timeout)
        if args.concurrency < 1:
            raise CommandLineError(f"--concurrency must be 1 or more, got {args.concurrency}")
        options = build_options(
            options_json=args.options_json,
            diarization=args.diarization,
            language=args.language,
            subtitles=args.subtitles,
        )
        sources = expand_sources(args.sources, exclude=Path(args.out))
        _credentials(args)  # the key and URL are checked before any file is read or sent
        result: int = anyio.run(_transcribe, args, sources, options)
        return result
    result = anyio.run(_COMMANDS[args.command], args)
    return int(result)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Whatever the user's environment does to the output (stdout or stderr closed, stdout on a
    full disk, a reader that goes away), the command ends with an exit code and at most one
    line on stderr, never a traceback.
    """
    with standard_streams():
        try:
            code = _main(argv)
            sys.stdout.flush()  # a full disk shows here, not in the interpreter's final flush
        except OutputFailed as exc:  # from argparse's own output (--help, --version)
            print(f"gladia-async: error: {exc}", file=sys.stderr)
            code = EXIT_FAILED
        except BrokenPipeError:
            silence_stdout()
            code = EXIT_PIPE
    return code


def _main(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # The top-level options take no value: the first other word is the command.
    command_name = next((word for word in argv if not word.startswith("-")), None)
    args = _parse(_parser(command_name), argv)
    try:
        return _run(args)
    except BaseException as exc:  # sorted below; unknown ones are re-raised
        leaves = _leaves(exc)
        if any(isinstance(e, KeyboardInterrupt) for e in leaves):
            print("gladia-async: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        if any(isinstance(e, BrokenPipeError) for e in leaves):
            silence_stdout()
            return EXIT_PIPE
        for leaf in leaves:
            if isinstance(leaf, OutputFailed):
                print(f"gladia-async: error: {leaf}", file=sys.stderr)
                return EXIT_FAILED
        for leaf in leaves:
            if isinstance(leaf, CommandLineError):
                print(f"gladia-async: error: {leaf}", file=sys.stderr)
                return EXIT_USAGE
            if isinstance(leaf, InvalidInput):
                print(f"gladia-async: error: {explain(leaf)}", file=sys.stderr)
                return EXIT_USAGE
            if isinstance(leaf, AuthenticationError):
                print(f"gladia-async: {explain(leaf, api_url=_api_url(args))}", file=sys.stderr)
                return EXIT_BAD_KEY
        for leaf in leaves:
            if isinstance(leaf, _Failed):
                print(f"gladia-async: {leaf}", file=sys.stderr)
                return EXIT_FAILED
            if isinstance(leaf, GladiaError):
                print(f"gladia-async: {explain(leaf, api_url=_api_url(args))}", file=sys.stderr)
                return EXIT_FAILED
        for leaf in leaves:
            if isinstance(leaf, OSError):  # the user's disk or folders: said, not traced
                where = f"{leaf.filename}: " if leaf.filename else ""
                print(f"gladia-async: error: {where}{leaf.strerror or leaf}", file=sys.stderr)
                return EXIT_FAILED
        raise
