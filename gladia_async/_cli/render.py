"""What the command line shows while it works: progress, retry notes and the final summary.

On a terminal (and with ``rich`` installed, the ``cli`` extra) a live progress bar sized to
the terminal and a summary table; otherwise plain lines that read well in a log file.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any, TextIO, cast

from .. import Progress

__all__ = [
    "OutputFailed",
    "ProgressView",
    "Summary",
    "note",
    "retry_notes",
    "standard_streams",
    "write_line",
]

#: Room for the stage counts or a retry note beside the bar.
_INFO_WIDTH = 34

_ERROR_WORDS = {
    "ConnectionFailed": "connection failed",
    "GladiaTimeout": "timed out",
    "ServerError": "server error",
    "RateLimitError": "rate limited",
    "ResponseFormatError": "bad answer",
}


def escape(text: str) -> str:
    """Return ``text`` with rich markup escaped (a ``[request_id ...]`` must stay visible)."""
    return text.replace("[", "\\[")


class OutputFailed(Exception):
    """stdout cannot take the command's output (closed, or its disk is full): exit code 1."""


class _Stdout(io.TextIOBase):
    """stdout as the commands write to it: a write that cannot happen is :class:`OutputFailed`
    (a reader that went away stays ``BrokenPipeError``: exit code 141)."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__()
        self._stream = stream

    def _failed(self, exc: OSError | None) -> OutputFailed:
        if exc is None:
            return OutputFailed("stdout is closed (>&-): the output has nowhere to go")
        silence_stdout()  # what is buffered must not fail again at exit
        return OutputFailed(f"cannot write to stdout: {exc.strerror or exc}")

    def write(self, text: str) -> int:
        if self._stream is None:
            raise self._failed(None)
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            failure = self._failed(exc)
        raise failure  # outside the handler: one clear line, no chained OS detail

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            failure = self._failed(exc)
        else:
            return
        raise failure

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._stream is not None and self._stream.isatty()

    def fileno(self) -> int:
        if self._stream is None:
            raise io.UnsupportedOperation("stdout is closed")
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"


def silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush is quiet."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)


@contextlib.contextmanager
def standard_streams() -> Iterator[None]:
    """Run the command with stdout and stderr it can always use.

    A closed descriptor 0-2 gets /dev/null, so no file or socket the command opens can take
    its number (a journal written to as if it were stderr). A closed stderr swallows the
    messages (the user asked for none); a closed or failing stdout makes a write raise
    :class:`OutputFailed`, said on stderr in one line, instead of a traceback.
    """
    for fd in (0, 1, 2):  # lowest first: os.open returns the lowest free number
        try:
            os.fstat(fd)
        except OSError as exc:
            if exc.errno != errno.EBADF:
                continue
            with contextlib.suppress(OSError):
                opened = os.open(os.devnull, os.O_RDWR)
                if opened != fd:
                    os.dup2(opened, fd)
                    os.close(opened)
    saved = sys.stdout, sys.stderr
    quiet: TextIO | None = None
    if sys.stderr is None:
        quiet = sys.stderr = open(os.devnull, "w")
    sys.stdout = cast(TextIO, _Stdout(saved[0]))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        if quiet is not None:
            quiet.close()


def eta_text(finished: int, total: int, elapsed: float) -> str:
    """The time left as ``H:MM:SS``, from the rate jobs finished at since the start.

    ``-:--:--`` until a job has finished. Not the rate of the last few seconds: under account
    limits jobs finish in bursts (the slots free together), and a burst's rate would promise
    ``0:00:01`` with most of the run still to go.
    """
    if finished >= total:
        return "0:00:00"
    if finished <= 0 or not elapsed > 0:
        return "-:--:--"
    left = (total - finished) * elapsed / finished
    if not math.isfinite(left) or left >= 100 * 3600:
        return "-:--:--"
    minutes, seconds = divmod(math.ceil(left), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def _rich_console(stream: TextIO) -> Any | None:
    if not stream.isatty():
        return None
    try:
        from rich.console import Console
    except ImportError:  # the `cli` extra is not installed: plain lines
        return None
    return Console(file=stream, highlight=False)


class ProgressView:
    """A progress bar on a terminal, a line every second otherwise; shows retries as they come.

    Use as a context manager; pass :meth:`update` as ``on_progress`` and :meth:`retrying` to
    :func:`retry_notes`.
    """

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.started = time.monotonic()
        self._last_line = 0.0
        self._last_note = -math.inf
        self._note = ""
        self._last: Progress | None = None
        self._console = _rich_console(stream)
        self._rich: Any = None
        if self._console is not None:
            self._rich = self._build(self._console.width)
            self._task = self._rich.add_task("", total=total, info="")

    def _build(self, width: int) -> Any:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            ProgressColumn,
            Task,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as RichProgress
        from rich.text import Text

        view = self

        class TimeLeftColumn(ProgressColumn):
            """rich's TimeRemainingColumn reads a burst of finishes as the pace: see eta_text."""

            def render(self, task: Task) -> Text:
                elapsed = time.monotonic() - view.started
                left = eta_text(int(task.completed), view.total, elapsed)
                return Text(left, style="progress.remaining")

        # Fit the width: counts and elapsed time always, then the bar, the time left, and the
        # stage counts (or the retry note) only where there is room for them.
        counts = 2 * len(str(self.total)) + 1
        columns: list[Any] = [MofNCompleteColumn(), TimeElapsedColumn()]
        used = counts + 1 + 7
        if width - used >= 8 + 10:
            columns.append(TimeLeftColumn())
            used += 8
        if width - used >= _INFO_WIDTH + 1 + 10 + 1:
            columns.append(TextColumn("{task.fields[info]}"))
            used += _INFO_WIDTH + 1
        bar = min(40, width - used - 2)
        if bar >= 6:
            columns.insert(0, BarColumn(bar_width=bar))
        return RichProgress(*columns, console=self._console, transient=False, expand=False)

    def __enter__(self) -> ProgressView:
        if self._rich is not None:
            self._rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.stop()

    def _info(self) -> str:
        if self._note:
            return f"[yellow]retrying: {escape(self._note[: _INFO_WIDTH - 10])}"
        p = self._last
        if p is None:
            return ""
        return f"[dim]up {p.uploaded} sent {p.submitted} ok {p.done} failed {p.failed}"

    def update(self, p: Progress) -> None:
        """Show the batch's counts (an ``on_progress`` callback)."""
        self._last = p
        finished = p.done + p.failed
        if self._rich is not None:
            self._rich.update(self._task, completed=finished, info=self._info())
            return
        now = time.monotonic()
        if now - self._last_line < 1.0 and finished < self.total:
            return
        self._last_line = now
        elapsed = now - self.started
        left = eta_text(finished, self.total, elapsed)
        print(
            f"[{finished}/{self.total}] uploaded {p.uploaded} · submitted {p.submitted} · "
            f"done {p.done} · failed {p.failed} · {elapsed:.0f}s elapsed · ETA {left}",
            file=self.stream,
            flush=True,
        )

    def retrying(self, note: str) -> None:
        """Show that requests are being retried (``note`` says why); ``""`` clears it."""
        if note == self._note:
            return
        self._note = note
        if self._rich is not None:
            self._rich.update(self._task, info=self._info())
        elif note and time.monotonic() - self._last_note >= 2.0:
            self._last_note = time.monotonic()
            print(f"retrying: {note}", file=self.stream, flush=True)


class _RetryHandler(logging.Handler):
    """Turns the transport's debug records into retry notes (and clears them on success)."""

    def __init__(self, show: Any) -> None:
        super().__init__(logging.DEBUG)
        self._show = show
        self._last = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = str(record.msg)
            args = record.args if isinstance(record.args, tuple) else ()
            if msg.startswith("retrying") and len(args) >= 4:
                error = _ERROR_WORDS.get(str(args[2]), str(args[2]))
                self._show(f"{error}, attempt {int(str(args[3])) + 1}")
                self._last = time.monotonic()
            elif "->" in msg and time.monotonic() - self._last > 1.0:
                self._show("")  # an answer came back: the network works again
        except Exception:  # a display problem must never break a request
            self.handleError(record)


@contextlib.contextmanager
def retry_notes(show: Any) -> Iterator[None]:
    """Call ``show(note)`` while the SDK retries requests, ``show("")`` once answers flow."""
    logger = logging.getLogger("gladia_async")
    handler = _RetryHandler(show)
    old_level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.DEBUG:
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


class Summary:
    """The end-of-run report: counts, where results went, and one line per failed file."""

    def __init__(
        self,
        *,
        total: int,
        done: int,
        failed: Sequence[tuple[str, str]],
        skipped: int,
        out: str,
        interrupted: bool,
    ) -> None:
        self.total = total
        self.done = done
        self.failed = failed
        self.skipped = skipped
        self.out = out
        self.interrupted = interrupted

    @property
    def not_finished(self) -> int:
        """Sources neither done nor failed (the run was interrupted)."""
        return self.total - self.done - len(self.failed)

    def print(self, stream: TextIO) -> None:
        """Write the summary: a table on a terminal, plain lines otherwise."""
        console = _rich_console(stream)
        if console is None:
            self._plain(stream)
        else:
            self._table(console)

    def _plain(self, stream: TextIO) -> None:
        parts = [f"{self.done} done", f"{len(self.failed)} failed"]
        if self.not_finished:
            parts.append(f"{self.not_finished} not finished")
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        print(f"{self.total} files: {', '.join(parts)}; results in {self.out}", file=stream)
        if self.interrupted:
            print("interrupted: results of finished files are kept", file=stream)
        for source, message in self.failed:
            print(f"FAILED {source}: {message}", file=stream)
        stream.flush()

    def _table(self, console: Any) -> None:
        from rich.table import Table
        from rich.text import Text

        failed = Text(str(len(self.failed)), style="red" if self.failed else "")
        cells = [
            ("files", Text(str(self.total))),
            ("done", Text(str(self.done), style="green")),
            ("failed", failed),
            ("not finished", Text(str(self.not_finished))),
            ("skipped", Text(str(self.skipped))),
            ("results", Text(self.out)),
        ]
        if console.width >= 70:
            table = Table(expand=False)
            for name, _ in cells:
                table.add_column(name, justify="right" if name != "results" else "left")
            table.add_row(*(value for _, value in cells))
        else:  # narrow: one row per figure, so no header is cut
            table = Table(show_header=False, expand=False)
            table.add_column(justify="left")
            table.add_column(justify="right", overflow="fold")
            for name, value in cells:
                table.add_row(name, value)
        console.print(table)
        if self.interrupted:
            console.print("[yellow]interrupted[/]: results of finished files are kept")
        if self.failed:
            failures = Table(expand=False)
            failures.add_column(
                "failed file", overflow="fold", max_width=max(12, console.width // 3)
            )
            failures.add_column("why", overflow="fold")
            for source, message in self.failed:
                failures.add_row(Text(source), Text(message))
            console.print(failures)


def note(text: str, stream: TextIO) -> None:
    """Print a note for the user: wrapped to the terminal's width on a terminal."""
    console = _rich_console(stream)
    if console is None:
        print(text, file=stream, flush=True)
    else:
        from rich.text import Text

        console.print(Text(text))


def write_line(text: str) -> None:
    """Write a line to stdout now (a closed pipe raises ``BrokenPipeError``, handled in main)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
