"""What the command line checks and derives before any request: sources, options, names.

Everything here is pure (no network): a bad flag fails with :class:`CommandLineError` (exit
code 2) before the first upload, so a typo never costs a transcription.
"""

from __future__ import annotations

import difflib
import enum
import hashlib
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs
import orjson
from yarl import URL

from .._core.errors import InvalidInput
from .._schema.converter import structure
from .._schema.models import (
    LanguageConfig,
    SubtitlesConfig,
    SubtitlesFormat,
    TranscriptionLanguageCode,
    TranscriptionOptions,
)
from .._schema.option_values import enum_member
from .._schema.validation import check_model

__all__ = [
    "AUDIO_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "CommandLineError",
    "Sources",
    "build_options",
    "check_api_url",
    "expand_sources",
    "language_codes",
    "output_stems",
]


class CommandLineError(Exception):
    """A bad argument, said in the shell's terms: one line on stderr, exit code 2."""


#: Extensions of the formats Gladia accepts, from the docs' "Supported files" page
#: (chapters/limits-and-specifications/supported-formats). "matroska" is .mkv / .mka.
AUDIO_EXTENSIONS = frozenset(
    {".aac", ".ac3", ".eac3", ".flac", ".m4a", ".mp2", ".mp3", ".ogg", ".opus", ".wav", ".mka"}
)
VIDEO_EXTENSIONS = frozenset(
    {".3g2", ".3gp", ".avi", ".flv", ".m4v", ".mkv", ".mov", ".mp4", ".wmv"}
)
_MEDIA = AUDIO_EXTENSIONS | VIDEO_EXTENSIONS


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


@attrs.frozen(kw_only=True)
class Sources:
    """The files and URLs a ``transcribe`` run will send, and what a folder walk left out.

    ``names`` maps each source to the path (relative to ``--out``, no extension) its results
    are written under; ``skipped`` counts left-out files by reason.
    """

    items: list[str]
    names: dict[str, str]
    skipped: Counter[str]


def expand_sources(raw: Sequence[str], *, exclude: Path | None = None) -> Sources:
    """Return the sources of ``raw`` (files, folders, URLs); folders give audio/video only.

    A file named explicitly is sent whatever its extension (the user chose it); a folder is
    walked for the extensions Gladia supports, hidden files and folders are skipped, and so is
    ``exclude`` (the results folder, when it lies inside an input folder).
    """
    items: list[str] = []
    keys: dict[str, PurePosixPath] = {}
    skipped: Counter[str] = Counter()
    seen: set[str] = set()

    def add(source: str, key: PurePosixPath) -> None:
        if source not in seen:
            seen.add(source)
            items.append(source)
            keys[source] = key

    for item in raw:
        if _is_url(item):
            add(item, _url_key(item))
            continue
        path = Path(item)
        if path.is_dir():
            for file, reason in _walk(path, exclude.resolve() if exclude else None):
                if reason is None:
                    add(str(file), PurePosixPath(file.relative_to(path).as_posix()))
                else:
                    skipped[reason] += 1
        elif path.is_file():
            add(item, PurePosixPath(path.name))
        elif path.exists():
            raise CommandLineError(f"{item}: not a regular file or folder")
        else:
            raise CommandLineError(f"{item}: no such file or folder")
    if not items:
        why = f" ({_describe_skipped(skipped)})" if skipped else ""
        raise CommandLineError(f"no audio or video files to transcribe{why}")
    return Sources(items=items, names=output_stems(keys), skipped=skipped)


def _walk(folder: Path, exclude: Path | None) -> Iterator[tuple[Path, str | None]]:
    for root, dirs, files in os.walk(folder):
        if exclude is not None:
            dirs[:] = [d for d in dirs if (Path(root) / d).resolve() != exclude]
        hidden_dirs = [d for d in dirs if d.startswith(".")]
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for _ in hidden_dirs:
            yield Path(root), "hidden folder"
        for name in sorted(files):
            file = Path(root) / name
            if name.startswith("."):
                yield file, "hidden"
            elif file.suffix.lower() not in _MEDIA:
                yield file, "not audio or video"
            else:
                yield file, None


def _describe_skipped(skipped: Counter[str]) -> str:
    return ", ".join(f"{count} {reason}" for reason, count in sorted(skipped.items()))


def describe_skipped(skipped: Counter[str]) -> str:
    """Return a one-line note on the files a folder walk left out (empty when none)."""
    total = sum(skipped.values())
    if not total:
        return ""
    noun = "entry" if total == 1 else "entries"
    return f"skipped {total} {noun} ({_describe_skipped(skipped)}); supported: " + " ".join(
        sorted(e.lstrip(".") for e in _MEDIA)
    )


def _url_key(url: str) -> PurePosixPath:
    name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]) or "audio"
    return PurePosixPath(name.replace("\\", "_"))


def output_stems(keys: dict[str, PurePosixPath]) -> dict[str, str]:
    """Map each source to a stable, collision-free output stem (a relative posix path).

    The stem is the source's path without its extension (``sub/call.wav`` -> ``sub/call``), so
    a rerun writes the same names and overwrites its earlier results. Sources that would share
    a stem keep their extension (``call.wav`` and ``call.mp3``); any still sharing one get a
    short hash of the source, which depends only on the source, never on the order. A part
    too long for a file name (with its suffix and the temporary name it is written under) is
    cut and gets a hash of the whole part, so a long source name is written, not refused.
    """

    def plain(key: PurePosixPath) -> str:
        stem = key.with_suffix("").as_posix() if key.suffix else key.as_posix()
        return _safe(stem)

    first = {source: plain(key) for source, key in keys.items()}
    counts = Counter(first.values())
    second = {
        source: first[source] if counts[first[source]] == 1 else _safe(keys[source].as_posix())
        for source in keys
    }
    counts = Counter(second.values())
    names = {}
    for source, stem in second.items():
        if counts[stem] > 1:
            digest = hashlib.sha256(os.path.abspath(source).encode()).hexdigest()[:8]
            stem = f"{stem}-{digest}"
        names[source] = "/".join(_fit_part(part) for part in stem.split("/"))
    return names


#: The longest part of an output stem, in bytes: file systems allow 255, and a result is written
#: as ``.STEM.json.XXXXXXXX.tmp`` before its rename (19 bytes more); the margin is for others.
_MAX_PART_BYTES = 200


def _fit_part(part: str) -> str:
    raw = os.fsencode(part)
    if len(raw) <= _MAX_PART_BYTES:
        return part
    digest = hashlib.sha256(raw).hexdigest()[:8]
    head = part[: _MAX_PART_BYTES - 9]
    while len(os.fsencode(head)) > _MAX_PART_BYTES - 9:  # cut whole characters, never bytes
        head = head[:-1]
    return f"{head}-{digest}"


def _safe(stem: str) -> str:
    parts = [p for p in stem.split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "audio"


# -- options ---------------------------------------------------------------------------------


def language_codes() -> list[str]:
    """Return the language codes Gladia transcribes (the spec's enum), sorted."""
    return sorted(m.value for m in TranscriptionLanguageCode)


def _language(text: str) -> TranscriptionLanguageCode:
    try:  # the Python API's own check: case-insensitive, with its "did you mean"
        return enum_member(text, TranscriptionLanguageCode, "--language")
    except InvalidInput as exc:
        end = " " if exc.problem.endswith("?") else ". "
        raise CommandLineError(
            f"--language: {exc.problem}{end}`gladia-async languages` lists them all."
        ) from None


def _subtitle_formats(text: str) -> list[SubtitlesFormat]:
    known = [m.value for m in SubtitlesFormat]
    formats = []
    for raw in text.split(","):
        name = raw.strip().lower().lstrip(".")
        if not name:
            continue
        try:
            formats.append(enum_member(name, SubtitlesFormat, "--subtitles"))
        except InvalidInput:
            raise CommandLineError(
                f"--subtitles: {raw.strip()!r} is not a subtitle format; use one or more of "
                f"{','.join(known)} (comma-separated)"
            ) from None
    if not formats:
        raise CommandLineError(f"--subtitles: give one or more of {','.join(known)}")
    return formats


def _unknown_enum_values(value: Any, where: str) -> Iterator[tuple[str, str, type[enum.Enum]]]:
    """Yield ``(field path, value, enum)`` for every enum value the spec does not define.

    The converter turns unknown values into pseudo-members (so a newer server never breaks an
    older client); in a request they are typos, caught here before anything is sent.
    """
    if isinstance(value, enum.Enum):
        cls = type(value)
        if value not in list(cls):
            yield where, str(value.value), cls
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _unknown_enum_values(item, f"{where}[{i}]")
    elif attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            yield from _unknown_enum_values(getattr(value, field.name), f"{where}.{field.name}")


def _options_json(path: str) -> dict[str, Any]:
    try:
        data = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise CommandLineError(f"--options-json: cannot read {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise CommandLineError(f"--options-json: {path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CommandLineError(f"--options-json: {path} must hold a JSON object of options")
    if "audio_url" in data:
        raise CommandLineError("--options-json: leave out audio_url; give the files as arguments")
    return data


def build_options(
    *,
    options_json: str | None,
    diarization: bool,
    language: str | None,
    subtitles: str | None,
) -> TranscriptionOptions:
    """Return the transcription options of the flags, checked as the Python API checks them.

    Flags override fields of ``--options-json``. Raises :class:`CommandLineError` naming the
    flag (or the JSON field) at fault.
    """
    fields: dict[str, Any] = _options_json(options_json) if options_json else {}
    known = {f.name for f in attrs.fields(TranscriptionOptions)}
    unknown = sorted(set(fields) - known)
    if unknown:
        guesses = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f"; did you mean {guesses[0]}?" if guesses else ""
        raise CommandLineError(f"--options-json: unknown option {unknown[0]!r}{hint}")
    try:
        options = structure(fields, TranscriptionOptions)
    except Exception as exc:
        # The converter's message says what is wrong, not where: the SDK's own checks name
        # the field's path (diarization_config.min_speakers), as they do for Python callers.
        raise CommandLineError(f"--options-json: {_where(fields) or _first_line(exc)}") from None
    changes: dict[str, Any] = {}
    if diarization:
        changes["diarization"] = True
    if language is not None:
        codes = [_language(c) for c in language.split(",") if c.strip()]
        if not codes:
            raise CommandLineError("--language: give a language code such as en")
        # One code fixes the language; several leave detection (among them) to the API.
        changes["language_config"] = LanguageConfig(
            languages=codes, code_switching=False if len(codes) == 1 else None
        )
    if subtitles is not None:
        changes["subtitles"] = True
        changes["subtitles_config"] = attrs.evolve(
            options.subtitles_config or SubtitlesConfig(), formats=_subtitle_formats(subtitles)
        )
    options = attrs.evolve(options, **changes)
    for where, value, cls in _unknown_enum_values(options, "options"):
        known_values = ", ".join(sorted(str(m.value) for m in cls)[:12])
        raise CommandLineError(
            f"--options-json: {where.removeprefix('options.')}: {value!r} is not one of "
            f"{known_values}{', ...' if len(cls) > 12 else ''}"
        )
    try:
        check_model(options, "options")  # the very checks GladiaSession runs before a request
    except InvalidInput as exc:
        raise CommandLineError(
            f"--options-json: {exc.argument.removeprefix('options.')}: {exc.problem}"
        ) from None
    return options


def _where(fields: dict[str, Any]) -> str | None:
    """The SDK's message for options that do not structure, naming the field's path."""
    try:
        check_model(TranscriptionOptions(**fields), "options")
    except InvalidInput as exc:
        return f"{exc.argument.removeprefix('options.')}: {exc.problem}"
    except Exception:  # no better message than the converter's
        return None
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def check_api_url(flag_value: str | None) -> str | None:
    """Return the API base URL to use (``--api-url``, else ``$GLADIA_API_URL``), checked.

    A malformed value fails here, naming where it came from, instead of deep in the transport.
    """
    if flag_value is not None:
        value, origin = flag_value, "--api-url"
    elif os.environ.get("GLADIA_API_URL"):
        value, origin = os.environ["GLADIA_API_URL"], "GLADIA_API_URL"
    else:
        return None
    example = "e.g. https://api.gladia.io or http://127.0.0.1:8080"
    try:
        url = URL(value.strip())
        port = url.port  # yarl checks the port range lazily
    except (ValueError, TypeError) as exc:
        raise CommandLineError(
            f"{origin}: {value!r} is not a valid URL ({exc}); {example}"
        ) from None
    if url.scheme not in ("http", "https") or not url.host or port is None:
        raise CommandLineError(f"{origin}: {value!r} is not an http(s) URL; {example}")
    return value.strip()
