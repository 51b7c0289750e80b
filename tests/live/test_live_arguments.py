"""A live session's plain arguments are checked as it is built: InvalidInput, same words."""

from __future__ import annotations

import pytest

from gladia_async import GladiaSession, InvalidInput, LiveOptions

PCM = LiveOptions(encoding="wav/pcm", sample_rate=16_000)

BAD: list[tuple[str, object, str]] = [
    ("max_buffered_messages", 0, "must be an integer >= 1, got 0"),
    ("max_buffered_messages", True, "must be an integer >= 1, got True"),
    ("max_buffered_bytes", 1.5, "must be an integer >= 1, got 1.5"),
    ("max_unacked_bytes", "1", "must be an integer >= 1, got '1'"),
    ("keepalive", 0, "must be a positive number or None, got 0"),
    ("keepalive", False, "must be a positive number or None, got False"),
    ("finish_timeout", -1, "must be a positive number of seconds or None"),
    ("finish_timeout", True, "must be a positive number of seconds or None"),
    ("finish_timeout", "10", "must be a positive number of seconds or None"),  # was TypeError
]


@pytest.mark.parametrize(("argument", "value", "problem"), BAD)
def test_a_bad_plain_argument_raises_invalid_input(
    argument: str, value: object, problem: str
) -> None:
    gladia = GladiaSession(api_key="k")
    with pytest.raises(InvalidInput) as raised:
        gladia.live(PCM, **{argument: value})  # type: ignore[arg-type]
    assert (raised.value.argument, raised.value.problem) == (argument, problem)


def test_good_plain_arguments_are_taken() -> None:
    live = GladiaSession(api_key="k").live(
        PCM, max_buffered_messages=1, keepalive=0.5, finish_timeout=None, max_unacked_bytes=1
    )
    assert repr(live) == "LiveSession(id='', state='new')"
