"""The session's settings, resolved: an argument, else its environment variable, else a default.

``GLADIA_API_KEY``, ``GLADIA_API_URL`` and ``GLADIA_REGION`` are read here and nowhere else;
an argument given to :class:`GladiaSession` always wins over its variable.
"""

from __future__ import annotations

import os
from typing import Literal

import attrs

from .checks import check_integer
from .config import Limits
from .errors import ConfigurationError, InvalidInput

__all__ = [
    "DEFAULT_BASE_URL",
    "LIVE_REGIONS",
    "LiveRegion",
    "api_key_from_env",
    "base_url_from_env",
    "limits_for",
    "region_from_env",
]

DEFAULT_BASE_URL = "https://api.gladia.io"

#: Where live sessions can run (``StreamingSupportedRegions`` in the spec).
LiveRegion = Literal["us-west", "eu-west"]
LIVE_REGIONS: tuple[LiveRegion, ...] = ("us-west", "eu-west")


def api_key_from_env(api_key: str | None) -> str:
    """Return ``api_key`` (else ``$GLADIA_API_KEY``) stripped; no key raises."""
    key = api_key if api_key is not None else os.environ.get("GLADIA_API_KEY", "")
    if not isinstance(key, str) or not key.strip():
        raise ConfigurationError(
            "no API key: pass GladiaSession(api_key=...) or set GLADIA_API_KEY "
            "(for offline work, run gladia_async.testing's emulator)"
        )
    return key.strip()


def base_url_from_env(base_url: str | None) -> str:
    """Return ``base_url``, else ``$GLADIA_API_URL``, else Gladia's API."""
    return base_url or os.environ.get("GLADIA_API_URL") or DEFAULT_BASE_URL


def region_from_env(region: LiveRegion | None) -> LiveRegion | None:
    """Return ``region`` (else ``$GLADIA_REGION``, else None: Gladia's default), checked."""
    if region is None:
        env_region = os.environ.get("GLADIA_REGION", "").strip()
        if env_region and env_region not in LIVE_REGIONS:
            raise ConfigurationError(
                f"GLADIA_REGION must be one of {', '.join(LIVE_REGIONS)}, got {env_region!r}"
            )
        return env_region if env_region else None
    if region not in LIVE_REGIONS:
        raise InvalidInput("region", f"must be one of {LIVE_REGIONS}, got {region!r}")
    return region


def limits_for(limits: Limits | None, max_concurrency: int | None) -> Limits:
    """Return ``limits`` (else the defaults), every stage capped by ``max_concurrency`` if set."""
    if max_concurrency is not None:
        check_integer("max_concurrency", max_concurrency)
    resolved = limits or Limits()
    if max_concurrency is None:
        return resolved
    # One number for the common case: every stage may use the whole pool.
    return attrs.evolve(
        resolved,
        max_connections=max_concurrency,
        uploads=max_concurrency,
        submissions=max_concurrency,
        polls=max_concurrency,
    )
