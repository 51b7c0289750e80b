"""The command line's parser: every command's flags, a misspelt flag's suggestion, durations."""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Sequence

from .. import __version__
from .estimate import ESTIMATE_HELP, add_audio_limit_argument, add_estimate_parser
from .exit_codes import EPILOG
from .inputs import CommandLineError
from .live import add_live_parser
from .resume import JOURNAL_NAME
from .status import add_batch_parser

__all__ = ["CommandParser", "build_parser", "duration", "parse_args"]


class CommandParser(argparse.ArgumentParser):
    """The top-level parser: knows its commands' parsers, to suggest a misspelt flag."""

    commands: dict[str, argparse.ArgumentParser]


_DURATION = re.compile(r"(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[smh]?)", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


def duration(text: str | None, flag: str = "--timeout") -> float | None:
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


def parse_args(parser: CommandParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; an unknown flag exits 2 with the closest flag of its command."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        command = parser.commands.get(getattr(args, "command", None) or "", parser)
        command.error(f"unrecognized arguments: {' '.join(unknown)}{_suggest(command, unknown)}")
    return args


def build_parser(command_name: str | None = None) -> CommandParser:
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

    parser = CommandParser(
        prog="gladia-async",
        description="Transcribe audio and video with Gladia's API, concurrently.",
        epilog=EPILOG,
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
        name: str, help: str, *, api: bool = True, epilog: str = EPILOG
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

    add_live_parser(sub, common)
    add_batch_parser(sub, EPILOG)

    command("languages", "list the language codes --language accepts", api=False)
    add_estimate_parser(command("estimate", ESTIMATE_HELP, api=False))

    emulator_help = "run the local Gladia emulator in the foreground"
    if command_name == "emulator":
        from ..testing._command import EPILOG as EMULATOR_EPILOG
        from ..testing._command import add_emulator_arguments

        add_emulator_arguments(
            command("emulator", emulator_help, api=False, epilog=EMULATOR_EPILOG)
        )
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
