"""What a live session is opened with: :data:`LiveOptions`, the ``POST /v2/live`` body, and
:class:`ReconnectPolicy`, kept apart from the connection it governs (as websockets does)."""

from __future__ import annotations

import enum
import random
import types
import typing
from typing import Any

import attrs

from .._core.errors import InvalidInput
from .._schema.converter import unstructure
from .._schema.models import StreamingRequest
from .._schema.validation import check_model

__all__ = [
    "DEFAULT_MAX_BUFFERED_BYTES",
    "REGIONS",
    "LiveOptions",
    "ReconnectPolicy",
    "bytes_per_second",
    "options_body",
]

#: Options of a live session: the spec's ``StreamingRequest`` (encoding, sample rate, ...).
LiveOptions = StreamingRequest

REGIONS = ("us-west", "eu-west")
#: Default bound on the unread messages' size on the wire (``max_buffered_bytes``).
DEFAULT_MAX_BUFFERED_BYTES = 16 << 20
_FORCED = {"receive_acknowledgments": True, "receive_lifecycle_events": True}


@attrs.frozen(kw_only=True)
class ReconnectPolicy:
    """How a live session reconnects after its socket drops.

    ``attempts`` connection attempts in a row **without progress** end the session with
    :class:`ConnectionFailed`. Progress is newly acknowledged audio: a socket that opens,
    sends messages and drops again before the server acknowledged any new audio does not
    start the count over. Waits grow with that count from ``backoff_initial`` to
    ``backoff_max`` (doubling, with jitter between half and all of it), and every reconnection
    (attempts and waits) is bounded by ``RetryPolicy.deadline`` too.
    """

    attempts: int = attrs.field(default=8, validator=attrs.validators.ge(1))
    backoff_initial: float = attrs.field(default=0.1, validator=attrs.validators.ge(0))
    backoff_max: float = attrs.field(default=5.0, validator=attrs.validators.ge(0))

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Return the wait before reconnection attempt ``attempt`` (1-based)."""
        cap = min(self.backoff_max, self.backoff_initial * 2.0 ** (attempt - 1))
        return rng.uniform(cap / 2, cap)


def options_body(options: StreamingRequest | None) -> tuple[dict[str, Any], dict[str, bool]]:
    """Check live options (raising :class:`InvalidInput`); return the POST body and the
    user's own ``messages_config`` flags for acknowledgements and lifecycle events."""
    if options is None:
        options = StreamingRequest()
    elif not isinstance(options, StreamingRequest):
        raise InvalidInput(
            "options", f"expected LiveOptions (StreamingRequest), got {type(options).__name__}"
        )
    check_model(options, "options")
    if options.channels is not None and not 1 <= options.channels <= 8:
        raise InvalidInput("options.channels", f"must be between 1 and 8, got {options.channels}")
    body: dict[str, Any] = unstructure(_with_enum_members(options))
    messages = dict(body.get("messages_config") or {})
    asked = {
        # Delivered only when asked for explicitly: unread messages are buffered, and one
        # acknowledgement per chunk would grow that buffer with the audio for nothing.
        "receive_acknowledgments": messages.get("receive_acknowledgments") is True,
        "receive_lifecycle_events": messages.get("receive_lifecycle_events") is True,
    }
    # The session needs both on the wire: acknowledgements drive back-pressure and resume,
    # lifecycle events tell a finished session from a dropped one. Delivery honours `asked`.
    body["messages_config"] = {**messages, **_FORCED}
    return body, asked


def _with_enum_members(value: Any) -> Any:
    """Return ``value`` with plain strings/ints in enum fields turned into enum members.

    ``LiveOptions(encoding="wav/pcm", sample_rate=16_000)`` is the natural way to write
    options; the converter unstructures enum fields by member (check_model already vetted
    the values).
    """
    cls = type(value)
    if not attrs.has(cls):
        return value
    hints = typing.get_type_hints(cls)
    changes: dict[str, Any] = {}
    for field in attrs.fields(cls):
        current = getattr(value, field.name)
        if current is None:
            continue
        fixed = _coerce(current, hints[field.name])
        if fixed is not current:
            changes[field.name] = fixed
    return attrs.evolve(value, **changes) if changes else value


def _coerce(value: Any, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is list:
        args = typing.get_args(tp)
        return [_coerce(v, args[0]) for v in value] if args and isinstance(value, list) else value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            is_enum = isinstance(option, type) and issubclass(option, enum.Enum)
            if is_enum or (typing.get_origin(option) is list and isinstance(value, list)):
                return _coerce(value, option)
        return _with_enum_members(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return value if isinstance(value, tp) else tp(value)
    return _with_enum_members(value)


def bytes_per_second(options: StreamingRequest | None) -> float:
    """Return how many bytes of audio make one second, by the options' format."""
    o = options or StreamingRequest()
    rate = int(o.sample_rate or 16_000)
    depth = int(o.bit_depth or 16)
    return rate * max(depth // 8, 1) * int(o.channels or 1)
