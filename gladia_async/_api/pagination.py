"""Job listings as streams: follow the server's ``next`` links, one page ahead.

:class:`PageStream` and :class:`JobStream` are async iterators *and* async context managers.

* Ownership: the page prefetch runs only inside ``async with``, in a task group that block
  owns; leaving the block cancels it and waits for it. Iterated without ``async with``, a
  stream has no background task at all: each page is fetched in ``__anext__``.
* A ``next`` link that points at a page already read in the same walk raises
  :class:`PaginationLoopError`; one on another origin raises :class:`ForeignURLError`. Either is
  raised when the next page is asked for, after every item of the current page was yielded.
* :class:`JobStream` yields each job id once per walk: a job listed again (offset pages shift
  when jobs are created or deleted during the walk) is skipped. This keeps the ids seen so far
  (about 100 bytes per job).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import attrs
import orjson
from yarl import URL

from .._core.checks import check_integer
from .._core.closing import AsyncClosing, AsyncOwner
from .._core.errors import GladiaError, InvalidInput, PaginationLoopError, ResponseFormatError
from .._schema.models import JobPage, JobStatus, LiveJob, TranscriptionJob

if TYPE_CHECKING:
    from .._http.transport import Transport

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
        check_integer("page_size", page_size, low=1)
        check_integer("offset", offset, low=0)
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


class _Prefetch:
    """One page request running in the owner's task group; keeps its page or its error."""

    def __init__(self) -> None:
        self.scope = anyio.CancelScope()
        self.finished = anyio.Event()
        self.page: Page | None = None
        self.error: Exception | None = None

    async def run(self, fetch: Any, url: URL) -> None:
        try:
            with self.scope:
                self.page = await fetch(url, None)
        except Exception as exc:  # handed to the consumer; never raised into the task group
            self.error = exc
        finally:
            self.finished.set()


def _page_key(url: URL) -> tuple[Any, ...]:
    """What makes two links the same page: origin, path and the query in any order."""
    return (
        url.scheme,
        (url.host or "").lower(),
        url.port,
        url.path,
        tuple(sorted(url.query.items())),
    )


class PageStream(AsyncOwner):
    """Async iterator over listing pages; also an async context manager.

    Inside ``async with`` and with ``prefetch``, the next page is fetched while the caller works
    on the current one (one page ahead, never more); outside, pages are fetched on demand. The
    ``next`` link is followed verbatim; a link to another origin or back to a page already read
    is refused (after the current page was handed over). Memory holds the current page, the
    prefetched one, and one small key per page read.
    """

    def __init__(self, transport: Transport, filters: JobFilters, *, prefetch: bool = True) -> None:
        self._transport = transport
        self._filters = filters
        self._prefetch = prefetch
        self._pending: _Prefetch | None = None
        self._next_url: URL | None = None
        self._next_error: Exception | None = None
        self._visited: set[tuple[Any, ...]] = set()
        self._started = False
        self._done = False

    def __aiter__(self) -> PageStream:
        return self

    async def _fetch(self, url: URL, params: Any) -> Page:
        return await self._transport.request_json(
            "GET", url, JobPage, retry="always", params=params, ok=(200,)
        )

    async def __anext__(self) -> Page:
        if self._done:
            raise StopAsyncIteration
        try:
            page = await self._next_page()
        except BaseException:
            self._done = True
            await self.aclose()
            raise
        self._advance(page)
        if self._pending is not None:
            # Let the prefetch put its request on the wire now: a consumer that works through
            # the page without awaiting would otherwise delay it to the next page.
            for _ in range(3):
                await anyio.lowlevel.checkpoint()
        return page

    async def _next_page(self) -> Page:
        if not self._started:
            self._started = True
            url = self._transport.url(f"/v2/{self._filters.endpoint}")
            params = list(self._filters.params)
            self._visited.add(_page_key(url.with_query(params)))
            return await self._fetch(url, params)
        if self._pending is not None:
            pending = self._pending
            await pending.finished.wait()
            self._pending = None
            if pending.error is not None:
                raise pending.error
            assert pending.page is not None
            return pending.page
        if self._next_error is not None:
            raise self._next_error
        if self._next_url is not None:
            url, self._next_url = self._next_url, None
            return await self._fetch(url, None)
        raise StopAsyncIteration

    def _advance(self, page: Page) -> None:
        """Check the page's ``next`` link and, inside ``async with``, start fetching it.

        A refused link is kept and raised when the next page is asked for, so every item of
        this page reaches the caller first.
        """
        try:
            if page.current:
                self._visited.add(_page_key(self._transport.base_url.join(URL(page.current))))
        except (ValueError, TypeError):
            pass  # only a key against loops; a malformed `current` is never requested
        if page.next is None:
            self._next_url = None
            return
        try:
            # Followed exactly as given: the pagination contract is the server's link.
            url = self._transport.check_same_origin(URL(page.next, encoded=True), "next link")
            key = _page_key(url)
            if key in self._visited:
                raise PaginationLoopError(
                    f"the listing's next link {url.path}?{url.query_string} points at a page "
                    "already read in this walk; stopped instead of looping forever",
                    cls_name="JobPage",
                )
        except GladiaError as exc:
            self._next_error = exc
            return
        except (ValueError, TypeError) as exc:
            self._next_error = ResponseFormatError(
                f"the listing's next link is not a valid URL ({type(exc).__name__})",
                cls_name="JobPage",
            )
            return
        self._visited.add(key)
        task_group = self.task_group
        if self._prefetch and task_group is not None:
            pending = _Prefetch()
            self._pending = pending
            task_group.start_soon(pending.run, self._fetch, url)
        else:
            self._next_url = url

    async def aclose(self) -> None:
        """Stop the stream: cancel the prefetch and wait until it has let go of its connection."""
        self._done = True
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.scope.cancel()
            # Shielded: when the caller is being cancelled, still wait for the cancellation.
            with anyio.CancelScope(shield=True):
                await pending.finished.wait()


class JobStream(AsyncClosing):
    """Async iterator over the jobs of a listing, page after page; also an async context manager.

    Items are :class:`TranscriptionJob` or :class:`LiveJob`, by their ``kind``. A job id already
    yielded in this walk is not yielded again (offset pages shift while jobs are created).
    """

    def __init__(self, pages: PageStream, max_items: int | None) -> None:
        self._pages = pages
        self._max_items = max_items
        self._items: list[TranscriptionJob | LiveJob] = []
        self._index = 0
        self._seen = 0
        self._ids: set[str] = set()

    def __aiter__(self) -> JobStream:
        return self

    async def __aenter__(self) -> JobStream:
        await self._pages.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._items = []
        await self._pages.__aexit__(exc_type, exc, tb)

    async def __anext__(self) -> TranscriptionJob | LiveJob:
        if self._max_items is not None and self._seen >= self._max_items:
            await self.aclose()
            raise StopAsyncIteration
        while True:
            while self._index >= len(self._items):
                page = await self._pages.__anext__()
                self._items = list(page.items)
                self._index = 0
            item = self._items[self._index]
            self._items[self._index] = None  # type: ignore[call-overload]  # let it be freed
            self._index += 1
            if item.id not in self._ids:
                break
        self._ids.add(item.id)
        self._seen += 1
        return item

    async def aclose(self) -> None:
        """Stop the stream and cancel any page request in flight."""
        self._items = []
        await self._pages.aclose()
