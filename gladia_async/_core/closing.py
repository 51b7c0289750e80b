"""Bases for the SDK's closeable objects: ``async with x:`` calls ``await x.aclose()``."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

import anyio
import anyio.abc

from .errors import UsageError

__all__ = ["AsyncClosing", "AsyncOwner"]

_T = TypeVar("_T", bound="AsyncClosing")
_O = TypeVar("_O", bound="AsyncOwner")


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


class AsyncOwner(AsyncClosing):
    """Mixin: an object whose background work lives in a task group its ``async with`` owns.

    ``async with`` enters an anyio task group; the object starts its background tasks there
    (:attr:`task_group`), and leaving the block closes the object and then waits for every
    one of them, so no task outlives the block. Without ``async with`` there is no task group
    and the object must do its work in the caller's own task (or refuse to run).

    Background tasks must never raise into the task group (that would cancel the caller's
    block): they keep their errors and hand them over when the caller asks for a result.
    """

    _task_group: anyio.abc.TaskGroup | None = None
    _was_entered: bool = False

    @property
    def task_group(self) -> anyio.abc.TaskGroup | None:
        """The task group of the enclosing ``async with``, or None outside one."""
        return self._task_group

    async def __aenter__(self: _O) -> _O:
        if self._was_entered:
            raise UsageError(f"{type(self).__name__} can be entered with `async with` only once")
        self._was_entered = True
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.aclose()
        finally:
            task_group, self._task_group = self._task_group, None
            if task_group is not None:
                # aclose() has stopped every task, so the group only checks out. The block's
                # own exception is not handed in: anyio would wrap it in an ExceptionGroup, and
                # it must reach the caller as it is.
                await task_group.__aexit__(None, None, None)
