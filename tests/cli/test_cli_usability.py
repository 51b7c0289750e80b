"""Command-line details a user meets in the first hour: each message says where and what."""

from __future__ import annotations

import argparse
import io
import re
import tempfile
import time
from pathlib import Path

import pytest

from gladia_async import Progress
from gladia_async._cli.main import main
from gladia_async._cli.parser import build_parser, duration
from gladia_async._cli.render import ProgressView, eta_text
from gladia_async.testing import FaultPlan, run_emulator_in_thread

ROOT = Path(__file__).resolve().parents[2]


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert lines, "an error line on stderr"
    return lines[-1]


# -- --options-json names the field -----------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ('{"diarization": "yes"}', "--options-json: diarization: expected true/false"),
        (
            '{"diarization_config": {"min_speakers": "two"}}',
            "--options-json: diarization_config.min_speakers: expected an integer",
        ),
    ],
)
def test_options_json_errors_name_the_field_path(
    options: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "options.json").write_text(options)
    code = main(["transcribe", "a.wav", "--options-json", str(tmp_path / "options.json")])
    assert code == 2
    assert expected in error_line(capsys)


# -- a misspelt flag ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "suggestion"),
    [
        (["transcribe", "a.wav", "--diarisation"], "did you mean --diarization?"),
        (["transcribe", "a.wav", "--concurency=4"], "did you mean --concurrency?"),
        (["jobs", "--limt", "3"], "did you mean --limit?"),
    ],
)
def test_a_misspelt_flag_gets_a_suggestion(
    argv: list[str], suggestion: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    line = error_line(capsys)
    assert "unrecognized arguments" in line and suggestion in line


def test_a_flag_nothing_like_any_other_gets_no_guess(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["jobs", "--zzzzzz"])
    assert "did you mean" not in error_line(capsys)


# -- --timeout takes durations -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("1.5", 1.5), (" 5m", 300), ("1h", 3600), ("2H", 7200)],
)
def test_timeout_accepts_durations(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "m", "0", "0s", "-1m", "nan", "inf", "1h30"])
def test_a_bad_timeout_says_what_a_duration_looks_like(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transcribe", "a.wav", f"--timeout={text}"]) == 2
    line = error_line(capsys)
    assert line.startswith("gladia-async: error: --timeout: ") and "90s, 5m or 1h" in line


def test_a_timeout_in_minutes_reaches_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []

    def fake_run(function: object, args: argparse.Namespace, *_: object) -> int:
        seen.append(args.timeout)
        return 0

    monkeypatch.setenv("GLADIA_API_KEY", "k")
    monkeypatch.setattr("gladia_async._cli.transcribe.anyio.run", fake_run)
    assert main(["transcribe", "https://example.com/a.wav", "--timeout", "5m"]) == 0
    assert seen == [300.0]


# -- the time left under account limits ----------------------------------------------------------


def test_the_time_left_comes_from_the_rate_since_the_start() -> None:
    assert eta_text(0, 10, 50.0) == "-:--:--", "unknown until a job finished"
    assert eta_text(3, 10, 50.0) == "0:01:57"  # 7 more at 3 per 50 s
    assert eta_text(10, 10, 50.0) == "0:00:00"
    assert eta_text(1, 10**9, 3600.0) == "-:--:--", "no absurd hours"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_burst_of_finished_jobs_does_not_promise_the_end() -> None:
    """Under account limits jobs finish together when slots free: 5 of 10 done at once after
    50 s leaves about 50 s, not the ``0:00:01`` a burst's instant rate gives."""
    pytest.importorskip("rich")
    view = ProgressView(10, _Terminal())
    assert view._rich is not None
    view.started = time.monotonic() - 50
    with view:
        view.update(Progress(seen=10, uploaded=10, submitted=10))
        for done in range(1, 6):  # five finish within a millisecond
            view.update(Progress(seen=10, uploaded=10, submitted=10, done=done))
        task = view._rich.tasks[0]
        shown = [str(column.render(task)) for column in view._rich.columns]
    times = [t for t in shown if re.fullmatch(r"-?\d+:\d\d:\d\d|-:--:--", t)]
    left = times[-1]  # elapsed first, the time left last
    hours, minutes, seconds = (int(x) for x in left.split(":"))
    assert 40 <= hours * 3600 + minutes * 60 + seconds <= 60, shown


# -- a refused key -----------------------------------------------------------------------------


def test_a_refused_key_exits_with_the_documented_code(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = (ROOT / "docs" / "guides" / "cli.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| `2` |"))
    assert "refused" in row, "the docs list the code of a refused key"
    monkeypatch.delenv("GLADIA_API_KEY", raising=False)
    with run_emulator_in_thread() as emu:
        for command in (["jobs"], ["get", "45463597-20b7-4af7-b3b3-f5fb778203ab"]):
            code = main([*command, "--api-key", "not-the-key", "--api-url", emu.url])
            assert code == 2, command
            err = capsys.readouterr().err
            assert "key was refused" in err and "not-the-key" not in err


# -- the emulator's --help example -------------------------------------------------------------


def test_the_faults_example_of_emulator_help_is_a_valid_plan(tmp_path: Path) -> None:
    emulator = build_parser("emulator").commands["emulator"]
    help_text = next(a.help for a in emulator._actions if "--faults" in a.option_strings)
    assert help_text is not None
    example = help_text[help_text.index("{") :]
    (tmp_path / "plan.json").write_text(example)
    plan = FaultPlan.from_json(tmp_path / "plan.json")
    assert plan.rules and plan.rules[0].status == 503


# -- the demo cleans up ---------------------------------------------------------------------


def test_the_demo_removes_its_temp_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GLADIA_API_KEY", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["demo", "--files", "1"]) == 0
    assert "Done: 1/1 transcribed" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == [], "nothing left behind"


def test_the_demo_keeps_an_out_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLADIA_API_KEY", raising=False)
    assert main(["demo", "--files", "1", "--out", str(tmp_path / "work")]) == 0
    assert list((tmp_path / "work" / "transcripts").glob("*.json"))
