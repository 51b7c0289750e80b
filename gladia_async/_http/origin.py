"""Where the API key may go: the configured origin, and the URLs checked against it.

An origin is a (scheme, host, port) triple, as browsers compare them; ``wss://`` (``ws://``) on
the API's host and port counts as its ``https://`` (``http://``).
"""

from __future__ import annotations

from yarl import URL

from .._core.errors import ConfigurationError, ForeignURLError, ResponseFormatError
from .failures import MaybeSent

__all__ = ["WS_SCHEMES", "origin_of", "parse_base_url", "redirect_target"]

#: The HTTP scheme a WebSocket scheme stands for (yarl knows their default ports).
WS_SCHEMES = {"ws": "http", "wss": "https"}


def origin_of(url: URL) -> tuple[str, str, int | None]:
    """Return the (scheme, host, port) triple that decides where the key may go."""
    return (url.scheme, (url.host or "").lower(), url.port)


def parse_base_url(base_url: object) -> URL:
    """Check and normalise a base URL; raise :class:`ConfigurationError` when it is unusable.

    A trailing ``/v2`` is dropped: every path the SDK sends starts with ``/v2`` already.
    """
    hint = "use e.g. https://api.gladia.io (set base_url= or GLADIA_API_URL)"
    if not isinstance(base_url, str) or not base_url.strip():
        raise ConfigurationError(f"base_url must be a non-empty URL string; {hint}")
    text = base_url.strip()
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise ConfigurationError(f"base_url {text!r} contains spaces or control characters; {hint}")
    try:
        url = URL(text)
        port = url.port
        host = url.host
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"base_url {text!r} is not a valid URL ({exc}); {hint}") from None
    if url.scheme not in ("http", "https") or not host:
        raise ConfigurationError(f"base_url must be an absolute http(s) URL, got {text!r}; {hint}")
    if port is not None and not 0 < port < 65536:
        raise ConfigurationError(f"base_url {text!r} has an invalid port; {hint}")
    if url.user or url.password:
        raise ConfigurationError(f"base_url {text!r} must not carry credentials; {hint}")
    path = url.path.rstrip("/")
    if path.endswith("/v2"):
        path = path[: -len("/v2")]
    return url.with_path(path).with_query(None).with_fragment(None)


def redirect_target(url: URL, location: str) -> URL:
    """The URL a redirect points at; raise :class:`MaybeSent` if it is no usable http(s) URL."""
    try:
        target = url.join(URL(location))
        target_origin = origin_of(target)
    except (ValueError, TypeError):
        raise MaybeSent(
            ResponseFormatError(f"{url.path} redirected to a malformed Location header")
        ) from None
    if target.scheme not in ("http", "https") or not target_origin[1]:
        raise MaybeSent(
            ForeignURLError(
                f"{url.path} redirected to a {target.scheme or 'relative'}: URL; only http(s) "
                "redirects are followed"
            )
        )
    return target
