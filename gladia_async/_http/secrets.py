"""The API key's secrecy: the key as a value that never shows itself, and key scrubbing.

The key travels in one header (:data:`API_KEY_HEADER`), pre-built once and hidden from
``repr``. Every text that may have seen the key (an error body, an exception message, a cause
chain) is scrubbed here before it reaches an exception of ours.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from typing import Any

import aiohttp

from .._core.errors import ConfigurationError, InvalidInput, RootCause

__all__ = [
    "API_KEY_HEADER",
    "KeyedHeaders",
    "Secret",
    "chain_cause",
    "check_api_key",
    "check_headers",
    "safe_cause",
    "scrub_body",
    "scrub_text",
]

#: The header that carries the API key (compared case-insensitively).
API_KEY_HEADER = "x-gladia-key"


class Secret:
    """A string that never shows itself in ``repr``/``str``/logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value, for the one header that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


class KeyedHeaders:
    """The pre-built headers carrying the key; hidden from ``repr`` and ``vars()``."""

    __slots__ = ("headers",)

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = headers

    def __repr__(self) -> str:
        return "KeyedHeaders(********)"


def check_headers(headers: object) -> dict[str, str]:
    """Check the user's extra headers; raise :class:`InvalidInput` before any request.

    A header named like the key's (any case) is refused: it could replace or reveal the key.
    Names and values must be strings without line breaks (no header injection).
    """
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise InvalidInput(
            "headers", f"expected a mapping of str to str, got {type(headers).__name__}"
        )
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidInput("headers", "names and values must be strings")
        if not name or any(c in name for c in " \t\r\n:") or not name.isascii():
            raise InvalidInput("headers", f"{name!r} is not a valid header name")
        if name.lower() == API_KEY_HEADER:
            raise InvalidInput(
                f"headers[{name!r}]",
                "the API key header is set by the session (pass api_key= or set GLADIA_API_KEY)",
            )
        if "\r" in value or "\n" in value or "\0" in value:
            raise InvalidInput(f"headers[{name!r}]", "a header value must not contain line breaks")
        checked[name] = value
    return checked


def check_api_key(key: str) -> str:
    """Return ``key`` if it can travel in an HTTP header; raise :class:`ConfigurationError`."""
    if not key or any(not 0x21 <= ord(c) <= 0x7E for c in key):
        raise ConfigurationError(
            "the API key is empty or contains spaces, line breaks or non-ASCII characters; "
            "copy it again from app.gladia.io (pass api_key= or set GLADIA_API_KEY)"
        )
    return key


# -- keeping the key out of exceptions ------------------------------------------------------


def scrub_text(text: str, key: Secret) -> str:
    """Return ``text`` with the key replaced by asterisks."""
    secret = key.reveal()
    return text.replace(secret, "********") if secret and secret in text else text


def scrub_body(body: Any, key: Secret) -> Any:
    """Return a decoded error body fit for an exception: its text form if it held the key."""
    if isinstance(body, str):
        return scrub_text(body, key)
    secret = key.reveal()
    if body is not None and secret in repr(body):
        return scrub_text(repr(body), key)
    return body


def _mentions(exc: BaseException, secret: str) -> bool:
    try:
        text = "".join(traceback.format_exception_only(type(exc), exc)) + repr(exc)
        text += repr(getattr(exc, "__dict__", {})) + repr(exc.args)
    except Exception:  # a repr that fails is not trusted
        return True
    return secret in text


def safe_cause(exc: BaseException, key: Secret, depth: int = 0) -> BaseException:
    """Return ``exc`` (chain included) fit to travel as a cause: no key, no frames.

    aiohttp's response errors carry the request (headers, key included) and are always replaced;
    any other exception is kept when nothing it renders mentions the key. Tracebacks are dropped:
    their frames' locals hold the request headers.
    """
    secret = key.reveal()
    replaced: BaseException
    if (
        isinstance(exc, aiohttp.ClientResponseError)
        or _carries_proxy_auth(exc)
        or _mentions(exc, secret)
    ):
        replaced = RootCause(
            f"{type(exc).__module__}.{type(exc).__qualname__}: "
            + scrub_text(str(getattr(exc, "message", "") or exc), key)
        )
    else:
        replaced = exc
    inner = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    replaced.__traceback__ = None
    replaced.__context__ = None
    replaced.__suppress_context__ = True
    if inner is None or inner is exc or depth >= 8:
        replaced.__cause__ = None
    else:
        replaced.__cause__ = safe_cause(inner, key, depth + 1)
    return replaced


def _carries_proxy_auth(exc: BaseException) -> bool:
    """True if ``exc`` holds a connection key with proxy credentials (aiohttp's connect errors)."""
    for held in (getattr(exc, "_conn_key", None), *getattr(exc, "args", ())):
        if getattr(held, "proxy_auth", None) is not None:
            return True
    return False


def chain_cause(error: BaseException, cause: BaseException, key: Secret) -> None:
    """Set ``error.__cause__`` to a scrubbed copy of ``cause``; the context stays empty."""
    error.__cause__ = safe_cause(cause, key)
    error.__suppress_context__ = True
