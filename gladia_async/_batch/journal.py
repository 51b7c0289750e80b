"""The batch journal: what a batch did to each source, on disk, so a rerun can resume.

One SQLite file (see :mod:`~gladia_async._batch.store` for its tables) with one row per source
and set of options: the source's identity, its upload's ``audio_url``, the job id once created
and the final state. Every record is one committed transaction before the call returns, so a
crash (SIGKILL, OOM, power loss with ``durability="full"``) loses at most the record being
written, never one that was acknowledged, and never leaves a half-written row.

Threading: a :class:`BatchJournal` owns one ``sqlite3`` connection. Every call on it runs in a
worker thread (``anyio.to_thread.run_sync``) under the journal's own ``CapacityLimiter(1)``, so
exactly one thread uses the connection at any moment and the event loop never blocks on disk.
The connection is opened with ``check_same_thread=False`` because successive calls may run on
different pool threads; the limiter, not sqlite, is what serialises them. A call is never
abandoned on cancellation: a cancelled caller waits for its transaction to commit or roll back
(milliseconds) and then sees the cancellation, so no thread is left writing after the journal
closes.

Identity: :func:`~gladia_async._batch.identity.source_identity` names a source (its path, size
and mtime, or its URL, plus the options); a file that changed since it was journalled has
another identity: :meth:`BatchJournal.get` does not return the old entry (the source is
redone) and the next record replaces it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio
import anyio.to_thread
import attrs
import orjson

from .._core.checks import check_minimum
from .._core.errors import InvalidInput, JournalError
from .._schema.converter import unstructure
from .._schema.models import TranscriptionOptions, UploadedAudio
from . import store
from .entries import JournalEntry, JournalSummary, OptionsChange
from .identity import SourceIdentity, check_identity, options_hash, options_json
from .lock import resolve, take_lock
from .resume import DEFAULT_UPLOAD_MAX_AGE, ResumeStep, resume_step

__all__ = ["BatchJournal"]

_T = TypeVar("_T")


@attrs.define(eq=False)
class _Write:
    """One queued write: what to run, and how it went."""

    fn: Callable[[store.Connection], None]
    done: bool = False
    error: JournalError | None = None


@attrs.define(eq=False)
class _Read:
    """One queued lookup: the source's key and version, and what the journal holds."""

    key: str
    version: str
    done: bool = False
    entry: JournalEntry | None = None
    changed: bool = False
    error: JournalError | None = None


class BatchJournal:
    """An open journal file: look sources up, record their progress; every record committed.

    Open it with ``async with BatchJournal.open(path) as journal:``. Safe to share between the
    tasks of one event loop (calls are serialised on one connection). Another process may read
    the file while a batch writes it (``batch status``); two batches writing one journal at the
    same time are not supported.
    """

    def __init__(self, connection: store.Connection, path: Path) -> None:
        self._db = connection
        self._path = path
        self._limiter = anyio.CapacityLimiter(1)
        self._closed = False
        self._queue: list[_Write] = []
        self._flushing = False
        self._flushed = anyio.Event()
        self._reads: list[_Read] = []
        self._reading = False
        self._read_done = anyio.Event()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"BatchJournal({str(self._path)!r}, {state})"

    @property
    def path(self) -> Path:
        """The journal file."""
        return self._path

    # -- opening and closing ---------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        durability: Literal["normal", "full"] = "normal",
        exclusive: bool = True,
    ) -> AsyncIterator[BatchJournal]:
        """Open (or create) the journal at ``path`` for the duration of the block.

        ``durability="normal"`` (WAL, ``synchronous=NORMAL``) keeps every acknowledged record
        through a process crash; ``"full"`` also through a power loss, at one fsync per record.
        ``exclusive`` (the default) takes an advisory lock on ``<path>.lock`` for the block:
        a second batch opening the same journal gets :class:`JournalError` instead of racing
        the first one into duplicate jobs. The OS drops the lock when the process dies, so a
        crashed batch never blocks its resume. ``exclusive=False`` is for readers (a status
        command). The lock is taken on the resolved path, so a symlink to a journal shares
        its target's lock; it works on POSIX (``flock``) and Windows (``msvcrt.locking``),
        and its file is removed when the block ends.

        Every way the file can fail to open (locked, not a database, damaged, another schema,
        an unwritable folder) raises :class:`JournalError` here, at once.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidInput("path", f"expected a file path, got {type(path).__name__}")
        if durability not in ("normal", "full"):
            raise InvalidInput("durability", f"must be 'normal' or 'full', got {durability!r}")
        given = Path(os.fspath(path))
        target = await anyio.to_thread.run_sync(resolve, given)
        lock = await anyio.to_thread.run_sync(take_lock, target) if exclusive else None
        try:
            connection = await anyio.to_thread.run_sync(store.connect, target, durability)
            journal = cls(connection, given)
            try:
                yield journal
            finally:
                with anyio.CancelScope(shield=True):
                    await journal._close()
        finally:
            if lock is not None:
                lock.release()

    async def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await anyio.to_thread.run_sync(self._db.close, limiter=self._limiter)

    # -- the one way into the connection --------------------------------------------------

    async def _run(self, fn: Callable[[store.Connection], _T]) -> _T:
        if self._closed:
            raise JournalError(f"the journal {str(self._path)!r} is closed")
        db = self._db

        def call() -> _T:
            try:
                return fn(db)
            except store.Error as exc:
                raise self._error(exc) from exc

        # Not abandoned on cancellation: the caller waits for the transaction to end, so no
        # thread touches the connection after the caller (or the journal) moved on.
        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    async def _write(self, fn: Callable[[store.Connection], None]) -> None:
        """Apply ``fn`` in a committed transaction, shared with the writes queued meanwhile.

        Group commit: the first writer to find no flush running takes every queued write and
        commits them in one transaction (one thread hop, one WAL append), each in its own
        savepoint so one failing write fails alone. The others wait for that flush and, if
        their write came too late for it, lead the next. Returns once ``fn`` is committed.
        A writer cancelled before its write was taken withdraws it; once taken, it lands.
        """
        if self._closed:
            raise JournalError(f"the journal {str(self._path)!r} is closed")
        item = _Write(fn)
        self._queue.append(item)
        try:
            while not item.done:
                if self._flushing:
                    await self._flushed.wait()
                else:
                    await self._flush()
        except BaseException:
            if not item.done and item in self._queue:
                self._queue.remove(item)
            raise
        if item.error is not None:
            raise item.error

    async def _flush(self) -> None:
        self._flushing = True
        batch, self._queue = self._queue, []
        try:
            await anyio.to_thread.run_sync(self._commit, batch, limiter=self._limiter)
        finally:
            # Writes not run (cancelled before the thread started) go back to the front.
            self._queue[:0] = [item for item in batch if not item.done]
            self._flushing = False
            flushed, self._flushed = self._flushed, anyio.Event()
            flushed.set()

    def _commit(self, batch: list[_Write]) -> None:
        """In the worker thread: run ``batch`` in one transaction, a savepoint per write."""
        if self._closed:
            closed = store.closed_error()
            errors: list[store.Error | None] = [closed] * len(batch)
        else:
            errors = store.commit_each(self._db, [item.fn for item in batch])
        for item, error in zip(batch, errors, strict=True):
            if error is not None:
                item.error = self._error(error)
            item.done = True

    def _error(self, exc: store.Error) -> JournalError:
        error = JournalError(
            f"journal {str(self._path)!r}: {exc}; the batch cannot record its progress"
        )
        error.__cause__ = exc
        return error

    # -- reading ---------------------------------------------------------------------------

    async def get(self, identity: SourceIdentity) -> JournalEntry | None:
        """Return the entry for exactly this identity, or None (never seen, or changed since).

        A file whose size or modification time differs from the journalled one gets None: it
        must be redone, and the next record replaces the stale entry.
        """
        check_identity(identity)

        return await self._run(lambda db: store.read_entry(db, identity.key, identity.version))

    async def changed(self, identity: SourceIdentity) -> bool:
        """True when the journal holds this source with these options at another version."""
        check_identity(identity)

        return await self._run(lambda db: store.read_changed(db, identity.key, identity.version))

    async def lookup(self, identity: SourceIdentity) -> tuple[JournalEntry | None, bool]:
        """Return ``(get(identity), changed(identity))``, read together with other lookups.

        Grouped like the writes: the first caller to find no read running takes every lookup
        queued meanwhile and answers them all in one thread hop (one query per few hundred
        keys), so a batch starting thousands of sources does not queue one hop per source
        behind the journal's single connection. A caller cancelled before its lookup was taken
        withdraws it; once taken, the read runs to its end (it changes nothing).
        """
        check_identity(identity)
        if self._closed:
            raise JournalError(f"the journal {str(self._path)!r} is closed")
        item = _Read(identity.key, identity.version)
        self._reads.append(item)
        try:
            while not item.done:
                if self._reading:
                    await self._read_done.wait()
                else:
                    await self._read_all()
        except BaseException:
            if not item.done and item in self._reads:
                self._reads.remove(item)
            raise
        if item.error is not None:
            raise item.error
        return item.entry, item.changed

    async def _read_all(self) -> None:
        self._reading = True
        batch, self._reads = self._reads, []
        try:
            await anyio.to_thread.run_sync(self._answer, batch, limiter=self._limiter)
        finally:
            self._reads[:0] = [item for item in batch if not item.done]
            self._reading = False
            done, self._read_done = self._read_done, anyio.Event()
            done.set()

    def _answer(self, batch: list[_Read]) -> None:
        """In the worker thread: answer every lookup of ``batch`` (a query per chunk of keys)."""
        try:
            if self._closed:
                raise store.closed_error()
            answers = store.read_lookups(self._db, [(item.key, item.version) for item in batch])
            for item, (entry, changed, damage) in zip(batch, answers, strict=True):
                item.entry, item.changed, item.error = entry, changed, damage
        except store.Error as exc:
            for item in batch:
                item.error = self._error(exc)
        for item in batch:
            item.done = True

    async def plan(
        self,
        identities: Iterable[SourceIdentity],
        *,
        upload_max_age: float = DEFAULT_UPLOAD_MAX_AGE,
    ) -> list[ResumeStep]:
        """Return what a resumed batch does with each source (one read for all of them)."""
        wanted = list(identities)
        for identity in wanted:
            check_identity(identity)
        check_minimum(upload_max_age, "upload_max_age", 0.0)
        by_key = {entry.key: entry for entry in await self.entries()}
        now = time.time()
        return [
            resume_step(i, by_key.get(i.key), now=now, upload_max_age=upload_max_age)
            for i in wanted
        ]

    async def entries(self) -> list[JournalEntry]:
        """Return every entry, in the order sources were first journalled."""

        return await self._run(store.read_entries)

    async def summary(self) -> JournalSummary:
        """Return the counts of sources by state, and the job ids a resume would adopt."""

        return await self._run(store.read_summary)

    async def changed_options(
        self,
        identities: Iterable[SourceIdentity],
        options: TranscriptionOptions | None = None,
        *,
        namespace: str = "",
    ) -> OptionsChange:
        """Return the sources this journal holds done or in flight under other options.

        ``identities`` are this run's (:func:`source_identity` with ``options`` and
        ``namespace``). A source counts when the journal has a job for it (finished ``done``,
        or created and not finished) under another options hash and none under this run's:
        running the batch would create a job for it again. Ask before spending, and let the
        user decide (the CLI refuses without ``--accept-changed-options``).
        """
        wanted = list(identities)
        for identity in wanted:
            check_identity(identity)
        current = orjson.loads(options_json(options, namespace))

        return await self._run(lambda db: store.read_options_change(db, wanted, current))

    # -- writing ---------------------------------------------------------------------------

    async def record_options(
        self, options: TranscriptionOptions | None = None, *, namespace: str = ""
    ) -> None:
        """Keep this run's options, so a later run with other options can say what changed."""
        name = f"options:{options_hash(options, namespace)}"
        value = options_json(options, namespace)

        await self._write(lambda db: store.write_options(db, name, value))

    async def record_upload(
        self,
        identity: SourceIdentity,
        uploaded: UploadedAudio | str,
        *,
        uploaded_at: float | None = None,
    ) -> None:
        """Record the source's upload (its ``audio_url``); committed when this returns.

        ``uploaded_at`` (unix time, default now) lets a resume judge whether the URL may have
        expired. A new version of the source starts its entry afresh.
        """
        check_identity(identity)
        if isinstance(uploaded, UploadedAudio):
            audio_url = uploaded.audio_url
            meta: bytes | None = orjson.dumps(unstructure(uploaded.audio_metadata))
        elif isinstance(uploaded, str) and uploaded:
            audio_url, meta = uploaded, None
        else:
            raise InvalidInput(
                "uploaded", f"expected UploadedAudio or an audio URL, got {type(uploaded).__name__}"
            )
        at = time.time() if uploaded_at is None else float(uploaded_at)
        await self._upsert(
            identity,
            "audio_url = ?, audio_meta = ?, uploaded_at = ?",
            (audio_url, meta.decode() if meta is not None else None, at),
        )

    async def record_job(
        self, identity: SourceIdentity, job_id: str, *, created_at: float | None = None
    ) -> None:
        """Record the job created for the source; committed when this returns."""
        check_identity(identity)
        if not isinstance(job_id, str) or not job_id:
            raise InvalidInput("job_id", f"expected a job id string, got {job_id!r}")
        at = time.time() if created_at is None else float(created_at)
        await self._upsert(identity, "job_id = ?, created_at = ?", (job_id, at))

    async def record_final(
        self,
        identity: SourceIdentity,
        *,
        status: str,
        error: str | None = None,
        error_code: int | None = None,
        result: Any = None,
        job_id: str | None = None,
    ) -> None:
        """Record the source's final state; a resume skips it from then on.

        ``status`` is the job's (``"done"``, ``"error"``) or the caller's word for a failure no
        retry can fix (``"failed"``: rejected audio, invalid options). ``result`` is anything
        ``orjson`` can serialise (for instance ``unstructure(job)``), kept so a resume can
        report the outcome without a request. Never put an API key in ``error``.
        """
        check_identity(identity)
        if not isinstance(status, str) or not status:
            raise InvalidInput("status", f"expected a non-empty string, got {status!r}")
        if error is not None and not isinstance(error, str):
            raise InvalidInput("error", f"expected a string or None, got {type(error).__name__}")
        try:
            blob = orjson.dumps(result).decode() if result is not None else None
        except TypeError as exc:
            raise InvalidInput("result", f"cannot be stored as JSON: {exc}") from None
        assignments = "status = ?, error = ?, error_code = ?, result = ?, finished_at = ?"
        params: tuple[Any, ...] = (status, error, error_code, blob, time.time())
        if job_id is not None:
            assignments += ", job_id = ?"
            params += (job_id,)
        await self._upsert(identity, assignments, params)

    async def _upsert(
        self, identity: SourceIdentity, assignments: str, params: tuple[Any, ...]
    ) -> None:
        now = time.time()
        await self._write(lambda db: store.upsert(db, identity, assignments, params, now))
