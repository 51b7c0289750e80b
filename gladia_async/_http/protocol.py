"""aiohttp's connection protocol, patched to arm its read timer once per stall, not per chunk."""

from __future__ import annotations

from aiohttp.client_proto import ResponseHandler

__all__ = ["LazyReadTimeout"]


def _lazy_read_timeout_class() -> type[ResponseHandler] | None:
    """aiohttp's connection protocol with a ``sock_read`` timer armed once per stall.

    aiohttp cancels and re-creates its read timer on every chunk received (three loop timers
    per small response). This one records the time of the last chunk and keeps one timer: when
    it fires early (data came meanwhile) it re-arms for the remaining time, else it fails the
    read exactly as aiohttp does. Same bound, a fraction of the timer work. Used only when
    aiohttp's protocol has the hooks it overrides (else aiohttp's own timer runs).
    """
    hooks = ("_reschedule_timeout", "_drop_timeout", "_on_read_timeout", "start_timeout")
    if not all(callable(getattr(ResponseHandler, hook, None)) for hook in hooks):
        return None  # pragma: no cover - another aiohttp

    class LazyReadTimeout(ResponseHandler):
        _read_deadline = 0.0

        def _reschedule_timeout(self) -> None:
            timeout = self._read_timeout
            if not timeout:
                self._drop_timeout()
                return
            self._read_deadline = self._loop.time() + timeout
            if self._read_timeout_handle is None:
                self._read_timeout_handle = self._loop.call_at(
                    self._read_deadline, self._check_read_timeout
                )

        def _check_read_timeout(self) -> None:
            self._read_timeout_handle = None
            if not self._read_timeout:
                return
            if self._loop.time() < self._read_deadline:  # data came since: wait the rest
                self._read_timeout_handle = self._loop.call_at(
                    self._read_deadline, self._check_read_timeout
                )
                return
            self._on_read_timeout()

    return LazyReadTimeout


#: None with an aiohttp whose protocol lacks the hooks (its own timer runs then).
LazyReadTimeout = _lazy_read_timeout_class()
