"""The ``gladia-async`` command line, built on the public SDK API only: the entry point.

:func:`main` parses the arguments (:mod:`.parser`), runs the command (:mod:`.transcribe`,
:mod:`.jobs`, :mod:`.live`, :mod:`.demo`, ...) and turns whatever it raises into an exit code
(:mod:`.exit_codes`) and one line on stderr. Everything a flag can get wrong is checked before
the first request (:mod:`.inputs`); errors are said in the shell's terms (:mod:`.messages`);
progress and the summary adapt to the terminal (:mod:`.render`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

import anyio

from .. import AuthenticationError, GladiaError, InvalidInput
from .connection import api_url
from .demo import demo_command
from .estimate import estimate_command
from .exit_codes import (
    EXIT_BAD_KEY,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PIPE,
    EXIT_USAGE,
    CommandFailed,
)
from .inputs import CommandLineError, language_codes
from .jobs import delete_command, download_command, get_command, jobs_command
from .live import live_command
from .messages import explain
from .parser import build_parser, parse_args
from .render import OutputFailed, silence_stdout, standard_streams, write_line
from .status import batch_status
from .transcribe import transcribe_command

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["main"]


async def _languages(args: argparse.Namespace) -> int:
    write_line(" ".join(language_codes()))
    return EXIT_OK


_COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "jobs": jobs_command,
    "get": get_command,
    "delete": delete_command,
    "download": download_command,
    "languages": _languages,
    "demo": demo_command,
    "live": live_command,
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
        return transcribe_command(args)  # its checks run before the event loop starts
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
    args = parse_args(build_parser(command_name), argv)
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
                print(f"gladia-async: {explain(leaf, api_url=api_url(args))}", file=sys.stderr)
                return EXIT_BAD_KEY
        for leaf in leaves:
            if isinstance(leaf, CommandFailed):
                print(f"gladia-async: {leaf}", file=sys.stderr)
                return EXIT_FAILED
            if isinstance(leaf, GladiaError):
                print(f"gladia-async: {explain(leaf, api_url=api_url(args))}", file=sys.stderr)
                return EXIT_FAILED
        for leaf in leaves:
            if isinstance(leaf, OSError):  # the user's disk or folders: said, not traced
                where = f"{leaf.filename}: " if leaf.filename else ""
                print(f"gladia-async: error: {where}{leaf.strerror or leaf}", file=sys.stderr)
                return EXIT_FAILED
        raise
