"""The ``gladia-async`` command line, built on the public SDK API only."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import math
import os
import signal
import struct
import sys
import tempfile
import time
import wave
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import anyio
import orjson

from . import (
    GladiaError,
    GladiaSession,
    InvalidInput,
    Outcome,
    Progress,
    TranscriptionOptions,
)
from ._converter import structure, unstructure

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _UsageError(Exception):
    """A bad argument: one line on stderr, exit code 2, before any request."""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api-key", help="API key (default: $GLADIA_API_KEY); never echoed")
    common.add_argument("--api-url", help="API base URL (default: $GLADIA_API_URL or Gladia's)")

    parser = argparse.ArgumentParser(
        prog="gladia-async", description="Transcribe audio with Gladia's API, concurrently."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("transcribe", parents=[common], help="transcribe files, folders or URLs")
    t.add_argument("sources", nargs="+", metavar="FILE_OR_URL")
    t.add_argument("--concurrency", type=int, default=16)
    t.add_argument("--diarization", action="store_true")
    t.add_argument("--language", help="language code, e.g. en (disables detection)")
    t.add_argument("--subtitles", help="comma-separated formats: srt,vtt")
    t.add_argument("--out", default="transcripts", help="output folder (default: transcripts)")
    t.add_argument("--options-json", help="JSON file with TranscriptionOptions fields")
    t.add_argument("--timeout", type=float, default=None, help="per-job wait limit, seconds")

    j = sub.add_parser("jobs", parents=[common], help="stream the job listing")
    j.add_argument("--status", action="append", help="queued|processing|done|error (repeat)")
    j.add_argument("--kind", action="append", help="pre-recorded|live (repeat)")
    j.add_argument("--after", help="ISO date/time (UTC when no offset)")
    j.add_argument("--before", help="ISO date/time (UTC when no offset)")
    j.add_argument("--metadata", action="append", default=[], help="custom_metadata k=v (repeat)")
    j.add_argument("--limit", type=int, default=None, help="stop after N jobs")
    j.add_argument("--json", action="store_true", help="JSON lines instead of a table")

    g = sub.add_parser("get", parents=[common], help="print one job as JSON")
    g.add_argument("job_id")
    d = sub.add_parser("delete", parents=[common], help="delete jobs")
    d.add_argument("job_ids", nargs="+")
    dl = sub.add_parser("download", parents=[common], help="download a job's audio")
    dl.add_argument("job_id")
    dl.add_argument("--out", required=True)

    e = sub.add_parser("emulator", help="run the local Gladia emulator in the foreground")
    e.add_argument("--port", type=int, default=8080)
    e.add_argument("--host", default="127.0.0.1")
    e.add_argument("--api-key", default="test-key")
    e.add_argument("--job-duration", type=float, default=1.0)
    e.add_argument("--latency", type=float, default=0.0)

    from ._live_cli import add_live_parser

    add_live_parser(sub, common)

    m = sub.add_parser("demo", parents=[common], help="show the SDK working end to end")
    m.add_argument("--files", type=int, default=6)
    m.add_argument("--out", default=None, help="output folder (default: a temp folder)")
    return parser


# -- helpers ---------------------------------------------------------------------------------


def _session(args: argparse.Namespace, **kwargs: Any) -> GladiaSession:
    try:
        return GladiaSession(api_key=args.api_key, base_url=args.api_url, **kwargs)
    except GladiaError as exc:
        raise _UsageError(str(exc)) from None


def _parse_date(text: str | None, name: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _UsageError(f"--{name}: {text!r} is not an ISO date, e.g. 2026-01-31") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _expand_sources(raw: Sequence[str]) -> list[str]:
    sources: list[str] = []
    for item in raw:
        if item.startswith(("http://", "https://")):
            sources.append(item)
            continue
        path = Path(item)
        if path.is_dir():
            sources.extend(str(p) for p in sorted(path.rglob("*")) if p.is_file())
        elif path.is_file():
            sources.append(item)
        else:
            raise _UsageError(f"{item}: no such file or folder")
    if not sources:
        raise _UsageError("no files to transcribe")
    return sources


def _options(args: argparse.Namespace) -> TranscriptionOptions:
    fields: dict[str, Any] = {}
    if args.options_json:
        try:
            fields.update(orjson.loads(Path(args.options_json).read_bytes()))
        except (OSError, orjson.JSONDecodeError) as exc:
            raise _UsageError(f"--options-json: {exc}") from None
    if args.diarization:
        fields["diarization"] = True
    if args.language:
        fields["language_config"] = {"languages": [args.language], "code_switching": False}
    if args.subtitles:
        formats = [f.strip() for f in args.subtitles.split(",") if f.strip()]
        fields["subtitles"] = True
        fields["subtitles_config"] = {"formats": formats}
    try:
        return structure(fields, TranscriptionOptions)
    except Exception as exc:
        raise _UsageError(f"invalid options: {exc}") from None


def _stem_for(source: str, index: int) -> str:
    name = source.rstrip("/").rsplit("/", 1)[-1] or "audio"
    return f"{index:04d}-{Path(name).stem}"


def _write_outcome(out: Path, outcome: Outcome) -> list[Path]:
    job = outcome.job
    assert job is not None
    stem = _stem_for(str(outcome.source), outcome.index)
    written = [out / f"{stem}.json"]
    written[0].write_bytes(orjson.dumps(unstructure(job), option=orjson.OPT_INDENT_2))
    transcription = job.result.transcription if job.result else None
    for subtitle in (transcription.subtitles if transcription else None) or []:
        path = out / f"{stem}.{subtitle.format.value}"
        path.write_text(subtitle.subtitles, encoding="utf-8")
        written.append(path)
    return written


class _ProgressView:
    """A rich progress bar on a terminal, plain line logs otherwise."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.started = time.monotonic()
        self._last_line = 0.0
        self._rich: Any = None
        if stream.isatty():
            with contextlib.suppress(ImportError):
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    TextColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )
                from rich.progress import Progress as RichProgress

                self._rich = RichProgress(
                    TextColumn("[bold]{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[stages]}"),
                    TimeElapsedColumn(),
                    TimeRemainingColumn(),
                    transient=False,
                )
                self._task = self._rich.add_task("transcribing", total=total, stages="")

    def __enter__(self) -> _ProgressView:
        if self._rich is not None:
            self._rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.stop()

    def update(self, p: Progress) -> None:
        finished = p.done + p.failed
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = finished / elapsed
        stages = (
            f"uploaded {p.uploaded} · submitted {p.submitted} · done {p.done} · failed {p.failed}"
        )
        if self._rich is not None:
            self._rich.update(self._task, completed=finished, stages=stages)
            return
        now = time.monotonic()
        if now - self._last_line < 1.0 and finished < self.total:
            return
        self._last_line = now
        eta = (self.total - finished) / rate if rate > 0 else math.inf
        eta_text = f"{eta:.0f}s" if math.isfinite(eta) else "?"
        print(
            f"[{finished}/{self.total}] {stages} · {rate:.1f} files/s · ETA {eta_text}",
            file=self.stream,
            flush=True,
        )


# -- commands --------------------------------------------------------------------------------


async def _transcribe(args: argparse.Namespace, sources: list[str]) -> int:
    if args.concurrency < 1:
        raise _UsageError("--concurrency must be >= 1")
    options = _options(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before any work
    failures: list[Outcome] = []
    done = 0
    interrupted = False
    async with _session(args, max_concurrency=args.concurrency) as gladia:
        with _ProgressView(len(sources), sys.stderr) as view, anyio.CancelScope() as scope:
            _on_sigint(scope)
            async with gladia.transcribe_many(
                sources, options, on_progress=view.update, timeout=args.timeout
            ) as outcomes:
                async for outcome in outcomes:
                    if outcome.ok:
                        _write_outcome(out, outcome)
                        done += 1
                    else:
                        failures.append(outcome)
        interrupted = scope.cancel_called
    _summary(len(sources), done, failures, out, interrupted)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failures else EXIT_OK


def _on_sigint(scope: anyio.CancelScope) -> None:
    with contextlib.suppress(NotImplementedError, RuntimeError):
        import asyncio

        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, scope.cancel)


def _summary(total: int, done: int, failures: list[Outcome], out: Path, interrupted: bool) -> None:
    print("", file=sys.stderr)
    print("| files | done | failed | not finished | results |", file=sys.stderr)
    print("|---|---|---|---|---|", file=sys.stderr)
    rest = total - done - len(failures)
    print(f"| {total} | {done} | {len(failures)} | {rest} | {out}/ |", file=sys.stderr)
    if interrupted:
        print("interrupted: results of finished files are kept", file=sys.stderr)
    for failure in failures:
        print(f"FAILED {failure.source}: {failure.error}", file=sys.stderr)


async def _jobs(args: argparse.Namespace) -> int:
    metadata: dict[str, str] = {}
    for pair in args.metadata:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise _UsageError(f"--metadata: {pair!r} is not key=value")
        metadata[key] = value
    if args.limit is not None and args.limit < 0:
        raise _UsageError("--limit must be >= 0")
    async with _session(args) as gladia:
        try:
            stream = gladia.iter_jobs(
                status=args.status,
                kind=args.kind,
                after_date=_parse_date(args.after, "after"),
                before_date=_parse_date(args.before, "before"),
                custom_metadata=metadata or None,
                max_items=args.limit,
            )
        except InvalidInput as exc:
            raise _UsageError(str(exc)) from None
        if not args.json:
            print(f"{'id':36}  {'kind':12}  {'status':10}  created_at")
        async with stream as jobs:
            async for job in jobs:
                if args.json:
                    sys.stdout.write(orjson.dumps(unstructure(job)).decode() + "\n")
                else:
                    print(
                        f"{job.id:36}  {job.kind.value:12}  {job.status.value:10}  "
                        f"{job.created_at.isoformat()}"
                    )
                sys.stdout.flush()
    return EXIT_OK


async def _get(args: argparse.Namespace) -> int:
    async with _session(args) as gladia:
        job = await gladia.get(args.job_id)
    print(orjson.dumps(unstructure(job), option=orjson.OPT_INDENT_2).decode())
    return EXIT_OK


async def _delete(args: argparse.Namespace) -> int:
    failed = 0
    async with _session(args) as gladia:
        for job_id in args.job_ids:
            try:
                await gladia.delete(job_id)
                print(f"deleted {job_id}")
            except GladiaError as exc:
                failed += 1
                print(f"FAILED {job_id}: {exc}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


async def _download(args: argparse.Namespace) -> int:
    async with _session(args) as gladia:
        path = await gladia.download_audio(args.job_id, args.out)
    print(f"saved {path}")
    return EXIT_OK


async def _live(args: argparse.Namespace) -> int:
    from ._live_cli import run_live

    async with _session(args) as gladia:
        return await run_live(args, gladia)


async def _emulator(args: argparse.Namespace) -> int:
    from .testing import run_emulator

    async with run_emulator(
        host=args.host,
        port=args.port,
        api_keys=(args.api_key,),
        job_duration=args.job_duration,
        latency=args.latency,
    ) as emu:
        print(f"Gladia emulator on {emu.url} (key: the one given with --api-key)", flush=True)
        await anyio.sleep_forever()
    return EXIT_OK


def write_demo_wavs(folder: Path, count: int) -> list[Path]:
    """Write ``count`` short mono 16 kHz WAV tones (1-4 s) into ``folder``."""
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
        yield key, args.api_url
        return
    from .testing import run_emulator

    async with run_emulator(job_duration=1.0, latency=0.01) as emu:
        print(f"No GLADIA_API_KEY set: started the embedded Gladia emulator on {emu.url}")
        yield emu.api_key, emu.url


async def _demo(args: argparse.Namespace) -> int:
    if args.files < 1:
        raise _UsageError("--files must be >= 1")
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="gladia-demo-"))
    audio_dir = work / "audio"
    out = work / "transcripts"
    audio_dir.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    wavs = write_demo_wavs(audio_dir, args.files)
    print(f"Wrote {len(wavs)} WAV files to {audio_dir}")
    async with _demo_target(args) as (key, url):
        options = TranscriptionOptions(diarization=True, subtitles=None)
        async with GladiaSession(api_key=key, base_url=url, max_concurrency=8) as gladia:
            failures = 0
            with _ProgressView(len(wavs), sys.stderr) as view:
                async with gladia.transcribe_many(
                    [str(p) for p in wavs], options, on_progress=view.update
                ) as outcomes:
                    async for outcome in outcomes:
                        if outcome.ok:
                            written = _write_outcome(out, outcome)
                            assert outcome.job is not None and outcome.job.result is not None
                            text = outcome.job.result.transcription
                            words = text.full_transcript if text else ""
                            print(f"  {Path(str(outcome.source)).name}: {words[:60]!r}...")
                            print(f"    -> {written[0]}")
                        else:
                            failures += 1
                            print(f"  {outcome.source}: FAILED {outcome.error}")
            print("Job listing (newest first, streamed across pages):")
            async with gladia.iter_jobs(page_size=4, max_items=args.files) as jobs:
                async for job in jobs:
                    print(f"  {job.id}  {job.status.value:10}  {job.created_at:%H:%M:%S}")
    print(f"Done: {len(wavs) - failures}/{len(wavs)} transcribed; results in {out}")
    return EXIT_FAILED if failures else EXIT_OK


_COMMANDS = {
    "jobs": _jobs,
    "get": _get,
    "delete": _delete,
    "download": _download,
    "emulator": _emulator,
    "demo": _demo,
    "live": _live,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "transcribe":
            sources = _expand_sources(args.sources)
            return anyio.run(_transcribe, args, sources)
        return anyio.run(_COMMANDS[args.command], args)
    except (_UsageError, InvalidInput) as exc:
        print(f"gladia-async: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except GladiaError as exc:
        print(f"gladia-async: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("gladia-async: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
