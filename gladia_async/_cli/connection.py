"""How a command reaches the API: the key and URL (flags or environment), the session, the
retry policies and the retry notes on stderr."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any

from .. import GladiaError, GladiaSession, RetryPolicy
from .inputs import CommandLineError, check_api_url
from .messages import NO_KEY, explain

__all__ = ["BATCH_RETRY", "QUICK_RETRY", "StderrNotes", "api_url", "credentials", "open_session"]

#: Interactive commands and the first contact of a batch: a refused connection fails in well
#: under a second instead of backing off for seconds with nothing on screen.
QUICK_RETRY = RetryPolicy(attempts=3, backoff_initial=0.1, backoff_max=0.3, deadline=30.0)
#: Inside a batch the network may blip: retry longer, with the retries shown on screen.
BATCH_RETRY = RetryPolicy(attempts=6, backoff_initial=0.25, backoff_max=8.0, deadline=120.0)


def credentials(args: argparse.Namespace) -> tuple[str, str | None]:
    """Return the API key and base URL to use, or raise :class:`CommandLineError`."""
    key = args.api_key if args.api_key is not None else os.environ.get("GLADIA_API_KEY", "")
    if not key.strip():
        raise CommandLineError(NO_KEY)
    return key, check_api_url(args.api_url)


def open_session(args: argparse.Namespace, **kwargs: Any) -> GladiaSession:
    """A session for the key and URL the flags or the environment give; a bad one exits 2."""
    key, url = credentials(args)
    try:
        return GladiaSession(api_key=key, base_url=url, **kwargs)
    except GladiaError as exc:
        raise CommandLineError(explain(exc)) from None
    except ValueError as exc:  # a URL yarl accepted but the transport did not
        origin = "--api-url" if args.api_url is not None else "GLADIA_API_URL"
        raise CommandLineError(f"{origin}: {url!r} is not a valid URL ({exc})") from None


def api_url(args: argparse.Namespace) -> str:
    """The API base URL the command talks to, as said in error messages."""
    # getattr: commands that never contact the API (`batch status`) have no --api-url.
    given = getattr(args, "api_url", None)
    return given or os.environ.get("GLADIA_API_URL") or "https://api.gladia.io"


class StderrNotes:
    """Retry notes as stderr lines, at most one every two seconds (retries come in bursts)."""

    def __init__(self) -> None:
        self._last = -math.inf

    def __call__(self, note: str) -> None:
        now = time.monotonic()
        if note and now - self._last >= 2.0:
            self._last = now
            print(f"gladia-async: retrying: {note}", file=sys.stderr, flush=True)
