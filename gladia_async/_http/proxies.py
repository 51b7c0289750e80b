"""Which proxy a request goes through: ``proxy=``, else the environment's, read once.

As requests and httpx do: ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` by scheme, unless
``NO_PROXY`` names the host; a host on this machine never goes through a proxy.
"""

from __future__ import annotations

import contextlib
import ipaddress
import urllib.request
from collections.abc import Callable, Mapping

from yarl import URL

from .._core.errors import InvalidInput
from .origin import WS_SCHEMES, origin_of

__all__ = ["ProxyRoutes", "environment_proxies", "parse_proxy"]

#: Origins :meth:`ProxyRoutes.proxy_for` keeps resolved (cleared whole when full).
_CACHE_SIZE = 1024


def parse_proxy(proxy: object) -> URL | None:
    """Check an explicit proxy URL; raise :class:`InvalidInput` (never echoing credentials)."""
    if proxy is None:
        return None
    if not isinstance(proxy, (str, URL)) or not str(proxy).strip():
        raise InvalidInput("proxy", "expected a proxy URL string such as 'http://proxy:3128'")
    try:
        url = URL(str(proxy).strip())
        host, port = url.host, url.port
    except (ValueError, TypeError):
        raise InvalidInput("proxy", "is not a valid URL") from None
    if url.scheme not in ("http", "https") or not host or (port is not None and not 0 < port):
        raise InvalidInput(
            "proxy",
            f"must be an absolute http:// URL with a host, got a {url.scheme or 'relative'}: URL",
        )
    return url


#: urllib's NO_PROXY matching (``*``, domain suffixes, ``host:port``), as requests and httpx use.
_no_proxy_names: Callable[[str, Mapping[str, str]], bool] = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]


def _is_loopback(host: str) -> bool:
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def environment_proxies() -> dict[str, str]:
    """The environment's proxy settings by lowercase scheme (``no`` for ``NO_PROXY``)."""
    return {
        scheme: value
        for scheme, value in urllib.request.getproxies_environment().items()
        if scheme in ("http", "https", "all", "no") and value
    }


class ProxyRoutes:
    """The proxy of each origin: the explicit one, or the environment's as read at creation."""

    __slots__ = ("_by_origin", "_env", "_proxy")

    def __init__(self, proxy: object, trust_env: bool) -> None:
        self._proxy = parse_proxy(proxy)
        # Read once, as httpx does: the environment's proxies by scheme, and NO_PROXY.
        self._env = environment_proxies() if trust_env and self._proxy is None else {}
        self._by_origin: dict[tuple[str, str, int | None], URL | None] = {}

    @property
    def explicit(self) -> URL | None:
        """The explicit proxy (``proxy=``), credentials included; None: none given."""
        return self._proxy

    def proxy_for(self, url: URL) -> URL | None:
        """The proxy a request to ``url`` goes through (None: direct).

        ``proxy=`` wins; else, with ``trust_env``, ``HTTP_PROXY`` / ``HTTPS_PROXY`` /
        ``ALL_PROXY`` as read when the session was made, unless ``NO_PROXY`` names the host or
        the host is this machine (``localhost``, ``127.0.0.1``, ``::1``: a local emulator is
        never sent to a corporate proxy).
        """
        if self._proxy is not None or not self._env:
            return self._proxy
        origin = origin_of(url)
        try:
            return self._by_origin[origin]
        except KeyError:
            pass
        scheme = WS_SCHEMES.get(url.scheme, url.scheme)
        chosen: URL | None = None
        text = self._env.get(scheme) or self._env.get("all")
        host = url.host or ""
        if text and not _is_loopback(host) and not _no_proxy_names(host, self._env):
            with contextlib.suppress(ValueError, TypeError):
                chosen = parse_proxy(text if "://" in text else f"http://{text}")
        if len(self._by_origin) >= _CACHE_SIZE:
            self._by_origin.clear()
        self._by_origin[origin] = chosen
        return chosen
