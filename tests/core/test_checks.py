"""The argument checks of ``_core/checks.py``: a boolean is never a number, and the messages
are the ones the SDK gave before the checks were gathered in one module."""

from __future__ import annotations

import math
from typing import Any

import pytest

from gladia_async import InvalidInput, Limits, PollPolicy, RetryPolicy, Timeouts
from gladia_async._api.jobs import ReconcilePolicy
from gladia_async._api.pagination import JobFilters
from gladia_async._core.checks import check_integer, check_number, check_timeout, check_token
from gladia_async._schema.validation import check_model
from gladia_async.models import TranscriptionOptions


def _message(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(InvalidInput) as caught:
        call(*args, **kwargs)
    return str(caught.value)


@pytest.mark.parametrize("value", [True, False, 0, -3, 1.5, "2", None])
def test_check_integer_refuses_booleans_and_what_is_below_low(value: object) -> None:
    assert (
        _message(check_integer, "n", value, low=1) == f"n: must be an integer >= 1, got {value!r}"
    )


def test_check_integer_passes_integers_and_none_when_allowed() -> None:
    assert check_integer("n", 1) == 1
    assert check_integer("n", 0, low=0) == 0
    assert check_integer("n", None, low=0, allow_none=True) is None
    assert _message(check_integer, "n", -1, low=0, allow_none=True) == (
        "n: must be an integer >= 0 or None, got -1"
    )


@pytest.mark.parametrize("value", [True, math.nan, 0.5, "3", None])
def test_check_number_refuses_booleans_nan_and_what_is_below_low(value: object) -> None:
    assert _message(check_number, "x", value, low=1) == f"x: must be a number >= 1, got {value!r}"


def test_check_number_says_positive_for_above_zero_and_allows_none_on_request() -> None:
    assert _message(check_number, "x", 0, above=True) == "x: must be a positive number, got 0"
    assert _message(check_number, "x", 2, low=2, above=True) == "x: must be a number > 2, got 2"
    assert _message(check_number, "x", -1, allow_none=True) == (
        "x: must be a number >= 0 or None, got -1"
    )
    assert check_number("x", None, allow_none=True) is None
    assert check_number("x", 3) == 3.0 and type(check_number("x", 3)) is float
    assert check_number("x", math.inf, low=1) == math.inf


def test_check_timeout_and_token_keep_their_messages() -> None:
    assert check_timeout(None) is None and check_timeout(2) == 2.0
    assert _message(check_timeout, True) == "timeout: expected seconds as a number, got bool"
    assert _message(check_timeout, math.inf) == (
        "timeout: must be a positive finite number of seconds, got inf"
    )
    assert _message(check_token, " ") == (
        "idempotency_token: expected a non-empty string, e.g. uuid.uuid4().hex"
    )
    assert _message(check_token, "x" * 201) == (
        "idempotency_token: at most 200 printable characters"
    )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: Timeouts(connect=True),
            "Timeouts.connect: must be a finite number >= 0 (or None for no limit), got True",
        ),
        (
            lambda: Timeouts(read=math.nan),
            "Timeouts.read: must be a finite number >= 0 (or None for no limit), got nan",
        ),
        (lambda: Limits(uploads=True), "Limits.uploads: must be an integer >= 1, got True"),
        (lambda: RetryPolicy(attempts=0), "RetryPolicy.attempts: must be an integer >= 1, got 0"),
        (
            lambda: PollPolicy(multiplier=0.5),
            "PollPolicy.multiplier: must be a number >= 1, got 0.5",
        ),
        (lambda: ReconcilePolicy(attempts=False), "attempts: must be an integer >= 1, got False"),
        (
            lambda: ReconcilePolicy(horizon=math.inf),
            "horizon: expected a finite number, got inf",
        ),
        (lambda: ReconcilePolicy(horizon=-1), "horizon: must be >= 0, got -1"),
    ],
)
def test_configuration_objects_keep_their_messages(build: Any, message: str) -> None:
    assert _message(build) == message


def test_listing_filters_keep_their_messages() -> None:
    filters: dict[str, Any] = {
        "status": None,
        "kind": None,
        "date": None,
        "after_date": None,
        "before_date": None,
        "custom_metadata": None,
        "endpoint": None,
    }
    assert _message(JobFilters.build, page_size=True, offset=0, **filters) == (
        "page_size: must be an integer >= 1, got True"
    )
    assert _message(JobFilters.build, page_size=10, offset=-1, **filters) == (
        "offset: must be an integer >= 0, got -1"
    )


def test_request_fields_are_checked_by_their_declared_scalar_type() -> None:
    options = TranscriptionOptions(diarization=True)
    object.__setattr__(options, "diarization", 1)  # what a type checker would have caught
    assert _message(check_model, options, "options") == (
        "options.diarization: expected true/false, got 1"
    )
