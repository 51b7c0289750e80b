"""Job listings as streams: follow the server's ``next`` links, one page ahead.

:class:`PageStream` is an async iterator *and* an async context manager. Breaking out of the loop
and dropping it cancels the in-flight prefetch; ``async with`` (or ``aclose()``) also waits for
that cancellation to finish, so nothing is pending once the block exits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import attrs
import orjson
from yarl import URL

from ._closing import AsyncClosing
from ._errors import InvalidInput
from ._models import JobPage, JobStatus, LiveJob, TranscriptionJob

if TYPE_CHECKING:
    from ._transport import Transport

__all__ = ["JobFilters", "JobStream", "Page", "PageStream"]

#: One page of a listing: ``items``, ``first``, ``current``, ``next`` (None on the last page).
Page = JobPage

_KINDS = ("pre-recorded", "live")
_ENDPOINTS = ("transcription", "pre-recorded", "live")
_METADATA_MAX_CHARS = 2000  # docs: custom_metadata filter, stringified


def _iso(value: object, argument: str) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInput(argument, "naive datetime; give it a timezone (e.g. UTC)")
        utc = value.astimezone(dt.timezone.utc)
        return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    raise InvalidInput(argument, f"expected an aware datetime, got {type(value).__name__}")


@attrs.frozen(kw_only=True)
class JobFilters:
    """Checked listing filters, turned into the spec's query parameters."""

    endpoint: str
    params: tuple[tuple[str, str], ...]

    @classmethod
    def build(
        cls,
        *,
        status: Sequence[str | JobStatus] | None,
        kind: Sequence[str] | None,
        date: object,
        after_date: object,
        before_date: object,
        custom_metadata: Mapping[str, Any] | None,
        page_size: int,
        offset: int,
        endpoint: str | None,
    ) -> JobFilters:
        """Check every filter (raising :class:`InvalidInput`) and build the query."""
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise InvalidInput("page_size", f"must be an integer >= 1, got {page_size!r}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidInput("offset", f"must be an integer >= 0, got {offset!r}")
        params: list[tuple[str, str]] = [("offset", str(offset)), ("limit", str(page_size))]
        if endpoint is None:
            endpoint = "transcription"
        if endpoint not in _ENDPOINTS:
            raise InvalidInput("endpoint", f"must be one of {_ENDPOINTS}, got {endpoint!r}")
        if date is not None:
            if isinstance(date, dt.datetime):
                params.append(("date", _iso(date, "date")[:10]))
            elif isinstance(date, dt.date):
                params.append(("date", date.isoformat()))
            else:
                raise InvalidInput("date", f"expected a date, got {type(date).__name__}")
        if before_date is not None:
            params.append(("before_date", _iso(before_date, "before_date")))
        if after_date is not None:
            params.append(("after_date", _iso(after_date, "after_date")))
        if status is not None:
            if isinstance(status, (str, bytes)) or not isinstance(status, Sequence):
                raise InvalidInput("status", "expected a list of statuses, e.g. ['done']")
            known = {s.value for s in JobStatus}
            for value in status:
                text = value.value if isinstance(value, JobStatus) else value
                if text not in known:
                    raise InvalidInput("status", f"{value!r} is not one of {sorted(known)}")
                params.append(("status", str(text)))
        if kind is not None:
            if isinstance(kind, (str, bytes)) or not isinstance(kind, Sequence):
                raise InvalidInput("kind", "expected a list of kinds, e.g. ['pre-recorded']")
            for value in kind:
                text = getattr(value, "value", value)
                if text not in _KINDS:
                    raise InvalidInput("kind", f"{value!r} is not one of {list(_KINDS)}")
                if endpoint != "transcription":
                    raise InvalidInput("kind", f"the {endpoint} listing has no kind filter")
                params.append(("kind", str(text)))
        if custom_metadata is not None:
            if not isinstance(custom_metadata, Mapping):
                raise InvalidInput("custom_metadata", "expected a mapping, e.g. {'user': '42'}")
            try:
                encoded = orjson.dumps(dict(custom_metadata)).decode()
            except TypeError as exc:
                raise InvalidInput("custom_metadata", f"not JSON-serialisable: {exc}") from None
            if len(encoded) > _METADATA_MAX_CHARS:
                raise InvalidInput(
                    "custom_metadata", f"{len(encoded)} characters as JSON; the API allows 2000"
                )
            params.append(("custom_metadata", encoded))
        return cls(endpoint=endpoint, params=tuple(params))


class PageStream(AsyncClosing):
    """Async iterator over listing pages; also an async context manager.

    With ``prefetch`` it fetches the next page while the caller works on the current one (one
    page ahead, never more), follows ``next`` verbatim, refuses a ``next``
    on another origin. Memory holds at most the current page plus the prefetched ones.
    """

    def __init__(self, transport: Transport, filters: JobFilters, *, prefetch: bool = True) -> None:
        self._transport = transport
        self._filters = filters
        self._prefetch = prefetch
        self._pending: list[asyncio.Task[Page]] = []
        self._next_url: URL | None = None
        self._started = False
        self._done = False

    def __aiter__(self) -> PageStream:
        return self

    async def _fetch(self, url: URL, params: Any) -> Page:
        return await self._transport.request_json(
            "GET", url, JobPage, retry="always", params=params, ok=(200,)
        )

    def _first_request(self) -> tuple[URL, Any]:
        return self._transport.url(f"/v2/{self._filters.endpoint}"), list(self._filters.params)

    async def __anext__(self) -> Page:
        if self._done:
            raise StopAsyncIteration
        try:
            if not self._started:
                self._started = True
                url, params = self._first_request()
                page = await self._fetch(url, params)
            elif self._pending:
                page = await self._pending.pop(0)
            elif self._next_url is not None:
                page = await self._fetch(self._next_url, None)
            else:
                raise StopAsyncIteration
            self._advance(page)
            if self._pending:
                # Let the prefetch put its request on the wire now: a consumer that works
                # through the page without awaiting would otherwise delay it to the next page.
                for _ in range(3):
                    await asyncio.sleep(0)
        except BaseException:
            self._done = True
            await self.aclose()
            raise
        return page

    def _advance(self, page: Page) -> None:
        if page.next is None:
            self._next_url = None
            return
        # Followed exactly as given: the pagination contract is the server's link.
        url = self._transport.check_same_origin(URL(page.next, encoded=True), "next link")
        if self._prefetch:
            # One page ahead at most: the link after it is known only once it arrives.
            self._pending.append(asyncio.ensure_future(self._fetch(url, None)))
            self._next_url = None
        else:
            self._next_url = url

    def _cancel_pending(self) -> list[asyncio.Task[Page]]:
        tasks, self._pending = self._pending, []
        for task in tasks:
            task.cancel()
        return tasks

    async def aclose(self) -> None:
        """Stop the stream: cancel the prefetch and wait until it has let go of its connection."""
        self._done = True
        tasks = self._cancel_pending()
        if tasks:
            # Shielded: when the caller is being cancelled, still wait for the cancellation.
            with anyio.CancelScope(shield=True):
                await asyncio.gather(*tasks, return_exceptions=True)

    def __del__(self) -> None:
        # Dropped without aclose (a bare `break`): cancel what is in flight.
        for task in self._pending:
            if not task.done():
                task.cancel()


class JobStream(AsyncClosing):
    """Async iterator over the jobs of a listing, page after page; also an async context manager.

    Items are :class:`TranscriptionJob` or :class:`LiveJob`, by their ``kind``.
    """

    def __init__(self, pages: PageStream, max_items: int | None) -> None:
        self._pages = pages
        self._max_items = max_items
        self._items: list[TranscriptionJob | LiveJob] = []
        self._index = 0
        self._seen = 0

    def __aiter__(self) -> JobStream:
        return self

    async def __anext__(self) -> TranscriptionJob | LiveJob:
        if self._max_items is not None and self._seen >= self._max_items:
            await self.aclose()
            raise StopAsyncIteration
        while self._index >= len(self._items):
            page = await self._pages.__anext__()
            self._items = list(page.items)
            self._index = 0
        item = self._items[self._index]
        self._items[self._index] = None  # type: ignore[call-overload]  # let it be freed
        self._index += 1
        self._seen += 1
        return item

    async def aclose(self) -> None:
        """Stop the stream and cancel any page request in flight."""
        self._items = []
        await self._pages.aclose()
