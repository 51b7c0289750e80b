"""Where a batch's results go: the ``--out`` folder checked before any request, and each
finished job's files written whole."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import orjson

from .. import Outcome
from .._schema.converter import unstructure
from .inputs import CommandLineError

__all__ = ["check_out", "write_outcome"]


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


def check_out(out: Path, stems: Iterable[str]) -> None:
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


def write_outcome(out: Path, stem: str, outcome: Outcome) -> list[Path]:
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
