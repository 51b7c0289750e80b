"""One base for the SDK's closeable objects: ``async with x:`` calls ``await x.aclose()``."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

__all__ = ["AsyncClosing"]

_T = TypeVar("_T", bound="AsyncClosing")


class AsyncClosing:
    """Mixin: an async context manager whose exit awaits :meth:`aclose`."""

    async def aclose(self) -> None:
        """Release what the object holds; idempotent."""

    async def __aenter__(self: _T) -> _T:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
