"""``gladia-async demo``: generated WAV files transcribed end to end, against the embedded
emulator when no API key is set."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import struct
import sys
import tempfile
import wave
from collections.abc import AsyncIterator
from pathlib import Path

from .. import GladiaSession, TranscriptionOptions
from .exit_codes import EXIT_FAILED, EXIT_OK
from .inputs import CommandLineError, check_api_url, expand_sources
from .messages import explain
from .render import ProgressView
from .results import write_outcome

__all__ = ["demo_command", "write_demo_wavs"]


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


async def demo_command(args: argparse.Namespace) -> int:
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
                            written = write_outcome(out, sources.names[source], outcome)
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
