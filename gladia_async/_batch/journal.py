"""The batch journal: what a batch did to each source, on disk, so a rerun can resume.

One SQLite file (the standard library's :mod:`sqlite3`, WAL mode, no server) with one row per
source and set of options: the source's identity, its upload's ``audio_url``, the job id once
created and the final state. Every record is one committed transaction before the call returns,
so a crash (SIGKILL, OOM, power loss with ``durability="full"``) loses at most the record being
written, never one that was acknowledged, and never leaves a half-written row.

Threading: a :class:`BatchJournal` owns one ``sqlite3`` connection. Every call on it runs in a
worker thread (``anyio.to_thread.run_sync``) under the journal's own ``CapacityLimiter(1)``, so
exactly one thread uses the connection at any moment and the event loop never blocks on disk.
The connection is opened with ``check_same_thread=False`` because successive calls may run on
different pool threads; the limiter, not sqlite, is what serialises them. A call is never
abandoned on cancellation: a cancelled caller waits for its transaction to commit or roll back
(milliseconds) and then sees the cancellation, so no thread is left writing after the journal
closes.

Identity: :func:`source_identity` names a source by its absolute path plus size and
modification time (``st_mtime_ns``), or by its URL, plus a hash of the options. Its ``token``
is derived from all of that (not random), so a rerun, even without the journal file, can find
the jobs it created through the ``custom_metadata`` token lookup. A file that changed since it
was journalled has another identity: :meth:`BatchJournal.get` does not return the old entry
(the source is redone) and the next record replaces it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

import anyio
import anyio.to_thread
import attrs
import orjson

from .._core.errors import InvalidInput, JournalError
from .._schema.converter import unstructure
from .._schema.models import TranscriptionOptions, UploadedAudio

__all__ = [
    "DEFAULT_UPLOAD_MAX_AGE",
    "BatchJournal",
    "JournalEntry",
    "JournalEntryError",
    "JournalError",
    "JournalSummary",
    "OptionsChange",
    "ResumeStep",
    "SourceIdentity",
    "resume_step",
    "source_identity",
]

#: How long a recorded upload's ``audio_url`` is reused (seconds). Gladia keeps files for the
#: account's retention period, which may be as short as "deleted within 24 hours"
#: (docs: limits and specifications, data retention): reuse younger uploads only, and upload
#: again if the API refuses an old URL.
DEFAULT_UPLOAD_MAX_AGE = 20 * 3600.0

_T = TypeVar("_T")

#: Bumped when the table layout changes; an older SDK refuses a newer journal.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sources (
    key           TEXT PRIMARY KEY,   -- options hash + source: one row per source and options
    source        TEXT NOT NULL,      -- 'file:/abs/path', 'url:https://...', 'bytes:sha256'
    version       TEXT NOT NULL,      -- 'size=..,mtime_ns=..' for files, '' otherwise
    options_hash  TEXT NOT NULL,
    token         TEXT NOT NULL,      -- the custom_metadata idempotency token
    audio_url     TEXT,
    audio_meta    TEXT,               -- JSON of the upload's audio_metadata
    uploaded_at   REAL,               -- unix time
    job_id        TEXT,
    created_at    REAL,
    status        TEXT,               -- final status: 'done', 'error', 'failed'
    error         TEXT,
    error_code    INTEGER,
    result        TEXT,               -- JSON of the finished job, when kept
    finished_at   REAL,
    updated_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sources_job_id ON sources (job_id);
"""

_COLUMNS = (
    "key, source, version, options_hash, token, audio_url, audio_meta, uploaded_at, job_id, "
    "created_at, status, error, error_code, result, finished_at, updated_at"
)

#: The fields a new version of a source starts without.
_RESET = (
    "audio_url = NULL, audio_meta = NULL, uploaded_at = NULL, job_id = NULL, created_at = NULL, "
    "status = NULL, error = NULL, error_code = NULL, result = NULL, finished_at = NULL"
)


@attrs.frozen(kw_only=True)
class SourceIdentity:
    """Who a source is, for the journal and the idempotency token.

    ``source`` names it (``file:<absolute path>``, ``url:<url>`` or ``bytes:<sha256>``),
    ``version`` tells one state of a file from another (size and ``st_mtime_ns``; empty for URLs
    and bytes), ``options_hash`` is the hash of the transcription options (and namespace).
    """

    source: str
    version: str
    options_hash: str
    #: Deterministic idempotency token for ``custom_metadata`` (32 hex characters).
    token: str

    @property
    def key(self) -> str:
        """The journal row this identity lives in: one per source and options, any version."""
        return f"{self.options_hash[:16]}:{self.source}"

    @property
    def display(self) -> str:
        """The source as a person would name it: the path or the URL."""
        return self.source.split(":", 1)[1]


def _digest(*parts: str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode("utf-8", "surrogatepass"))
        hasher.update(b"\x00")
    return hasher.hexdigest()


def options_hash(options: TranscriptionOptions | None, namespace: str = "") -> str:
    """Return the hash of ``options`` (canonical JSON, unset fields left out) and ``namespace``."""
    body = unstructure(options) if options is not None else {}
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()
    return _digest("options", canonical, namespace)


def _options_json(options: TranscriptionOptions | None, namespace: str) -> str:
    """What ``journal_meta`` keeps of a set of options, to say later which fields changed."""
    body = unstructure(options) if options is not None else {}
    return orjson.dumps({"options": body, "namespace": namespace}).decode()


@attrs.frozen(kw_only=True)
class OptionsChange:
    """Sources a journal holds as done or in flight under other options than this run's.

    Running the batch with these options transcribes each of them again (a new job, paid
    again): the journal keeps one entry per source *and* options. ``sources`` names them (path
    or URL); ``fields`` names the options that differ (``"namespace"`` included), when the
    journal knows the earlier options. False when nothing would be transcribed again.
    """

    sources: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        """How many sources would be transcribed again."""
        return len(self.sources)

    def __bool__(self) -> bool:
        return bool(self.sources)


def _changed_fields(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    fields = {
        name
        for name in set(before.get("options", {})) | set(after.get("options", {}))
        if before.get("options", {}).get(name) != after.get("options", {}).get(name)
    }
    if before.get("namespace") != after.get("namespace"):
        fields.add("namespace")
    return fields


def source_identity(
    source: object,
    options: TranscriptionOptions | None = None,
    *,
    namespace: str = "",
) -> SourceIdentity:
    """Return the :class:`SourceIdentity` of a path, URL or ``bytes`` source with ``options``.

    A path is resolved to an absolute path and ``stat``-ed once (size and ``st_mtime_ns``); a
    URL is taken verbatim; ``bytes`` are hashed. ``namespace`` separates otherwise identical
    batches that must not share jobs (two runs with different namespaces never adopt each
    other's jobs). Streams and file objects have no stable identity: :class:`InvalidInput`.
    """
    from .._http.uploads import is_url

    if not isinstance(namespace, str):
        raise InvalidInput("namespace", f"expected a string, got {type(namespace).__name__}")
    if options is not None and not isinstance(options, TranscriptionOptions):
        raise InvalidInput(
            "options", f"expected TranscriptionOptions or None, got {type(options).__name__}"
        )
    version = ""
    if is_url(source):
        name = f"url:{source}"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(os.fspath(source))
        try:
            resolved = path.resolve()
            info = resolved.stat()
        except OSError as exc:
            raise InvalidInput("source", f"cannot stat {str(path)!r}: {exc.strerror}") from None
        except RuntimeError:  # a symlink loop, before Python 3.13
            raise InvalidInput("source", f"{str(path)!r} is a symlink loop") from None
        except ValueError as exc:  # an embedded NUL: no such path can exist
            raise InvalidInput("source", f"{str(path)!r} is not a usable path ({exc})") from None
        # A name that is not UTF-8 (bytes the file system allows) is kept escaped: the journal
        # stores text, and the escaped form still tells every such file from every other.
        name = "file:" + os.fsencode(resolved).decode("utf-8", "backslashreplace")
        version = f"size={info.st_size},mtime_ns={info.st_mtime_ns}"
    elif isinstance(source, (bytes, bytearray, memoryview)):
        name = f"bytes:{hashlib.sha256(source).hexdigest()}"
    else:
        raise InvalidInput(
            "source",
            f"a journal identifies paths, URLs and bytes; a {type(source).__name__} has no "
            "stable identity across runs",
        )
    opts = options_hash(options, namespace)
    token = _digest("token", name, version, opts)[:32]
    return SourceIdentity(source=name, version=version, options_hash=opts, token=token)


@attrs.frozen(kw_only=True)
class JournalEntry:
    """What the journal knows about one source: its upload, its job, its final state."""

    source: str
    version: str
    options_hash: str
    token: str
    audio_url: str | None = None
    #: The upload's ``audio_metadata`` as JSON data, when an :class:`UploadedAudio` was recorded.
    audio_metadata: dict[str, Any] | None = None
    uploaded_at: float | None = None
    job_id: str | None = None
    created_at: float | None = None
    #: Final status (``"done"``, ``"error"``, or the caller's word for a permanent failure).
    status: str | None = None
    error: str | None = None
    error_code: int | None = None
    #: The finished job as JSON data, when it was kept.
    result: Any = None
    finished_at: float | None = None
    updated_at: float

    @property
    def state(self) -> Literal["new", "uploaded", "created", "finished"]:
        """How far the source got: ``finished`` > ``created`` > ``uploaded`` > ``new``."""
        if self.status is not None:
            return "finished"
        if self.job_id is not None:
            return "created"
        if self.audio_url is not None:
            return "uploaded"
        return "new"

    @property
    def display(self) -> str:
        """The source as a person would name it: the path or the URL."""
        return self.source.split(":", 1)[1]

    @property
    def key(self) -> str:
        """The journal row: the same as :attr:`SourceIdentity.key`."""
        return f"{self.options_hash[:16]}:{self.source}"

    @property
    def finished(self) -> bool:
        """True once a final state was recorded (the source needs no more work)."""
        return self.status is not None

    def uploaded_audio(self) -> UploadedAudio | str | None:
        """The recorded upload, as the :class:`UploadedAudio` (or URL) to submit again."""
        if self.audio_url is None:
            return None
        if self.audio_metadata is None:
            return self.audio_url
        from .._schema.converter import structure

        return structure(
            {"audio_url": self.audio_url, "audio_metadata": self.audio_metadata}, UploadedAudio
        )


@attrs.frozen(kw_only=True)
class ResumeStep:
    """What a resumed batch does with one source, from what the journal holds.

    ``action``:

    * ``"skip"``: finished before; the outcome is in ``entry`` (``status``, ``result``, or
      ``job_id`` to ``get()``).
    * ``"adopt"``: the job ``entry.job_id`` was created and not finished: poll it, never
      create another.
    * ``"submit"``: uploaded (``entry.uploaded_audio()``, recent enough to reuse), no job
      recorded: create the job (after the token lookup, see ``lookup_first``).
    * ``"upload"``: upload (unless the source is a URL) and create, as for a new source.

    ``lookup_first``: a creation request may have been sent before the crash (the journal
    records the upload before any creation): look the job up by ``identity.token`` in
    ``custom_metadata`` and adopt it if it exists. ``changed``: the journal held this source at
    another version (the file changed): it is redone from scratch.
    """

    action: Literal["skip", "adopt", "submit", "upload"]
    identity: SourceIdentity
    entry: JournalEntry | None = None
    lookup_first: bool = False
    changed: bool = False


def resume_step(
    identity: SourceIdentity,
    entry: JournalEntry | None,
    *,
    now: float | None = None,
    upload_max_age: float = DEFAULT_UPLOAD_MAX_AGE,
) -> ResumeStep:
    """Return the :class:`ResumeStep` for ``identity`` given the journal's row for its key.

    ``entry`` may be at another version (a changed file): then the source is redone.
    """
    if entry is None:
        return ResumeStep(action="upload", identity=identity)
    if entry.key != identity.key:
        raise InvalidInput("entry", "belongs to another source or options")
    if entry.version != identity.version:
        return ResumeStep(action="upload", identity=identity, changed=True)
    if entry.finished:
        return ResumeStep(action="skip", identity=identity, entry=entry)
    if entry.job_id is not None:
        return ResumeStep(action="adopt", identity=identity, entry=entry)
    if entry.audio_url is None:
        return ResumeStep(action="upload", identity=identity, entry=entry)
    at = time.time() if now is None else now
    fresh = entry.uploaded_at is not None and at - entry.uploaded_at < upload_max_age
    return ResumeStep(
        action="submit" if fresh else "upload",
        identity=identity,
        entry=entry,
        lookup_first=True,
    )


@attrs.frozen(kw_only=True)
class JournalSummary:
    """Counts of a journal's sources by state, for ``batch status`` and progress lines."""

    total: int = 0
    new: int = 0
    uploaded: int = 0
    created: int = 0
    done: int = 0
    failed: int = 0
    #: Job ids created and not finished: what a resume adopts.
    pending_job_ids: tuple[str, ...] = ()


class JournalEntryError(JournalError):
    """One journal row cannot be read (its JSON is damaged): only that source fails.

    ``source`` names the source as a person would (its path or URL).
    """

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message)
        self.source = source


def _json_column(source: str, column: str, text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        shown = source.split(":", 1)[-1]
        raise JournalEntryError(
            f"the journal's entry for {shown!r} is damaged ({column} is not JSON); "
            "this source cannot be resumed: remove it from the journal or use another one",
            source=shown,
        ) from None


def _entry(row: tuple[Any, ...]) -> JournalEntry:
    (
        _key,
        source,
        version,
        opts,
        token,
        audio_url,
        audio_meta,
        uploaded_at,
        job_id,
        created_at,
        status,
        error,
        error_code,
        result,
        finished_at,
        updated_at,
    ) = row
    return JournalEntry(
        source=source,
        version=version,
        options_hash=opts,
        token=token,
        audio_url=audio_url,
        audio_metadata=_json_column(source, "audio_meta", audio_meta),
        uploaded_at=uploaded_at,
        job_id=job_id,
        created_at=created_at,
        status=status,
        error=error,
        error_code=error_code,
        result=_json_column(source, "result", result),
        finished_at=finished_at,
        updated_at=updated_at,
    )


@attrs.define(eq=False)
class _Write:
    """One queued write: what to run, and how it went."""

    fn: Callable[[sqlite3.Connection], None]
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


#: Keys per ``IN (...)`` of a grouped lookup (SQLite allows 999 parameters at least).
_READ_CHUNK = 500


class BatchJournal:
    """An open journal file: look sources up, record their progress; every record committed.

    Open it with ``async with BatchJournal.open(path) as journal:``. Safe to share between the
    tasks of one event loop (calls are serialised on one connection). Another process may read
    the file while a batch writes it (``batch status``); two batches writing one journal at the
    same time are not supported.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
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
        target = await anyio.to_thread.run_sync(_resolve, given)
        lock = await anyio.to_thread.run_sync(_lock, target) if exclusive else None
        try:
            connection = await anyio.to_thread.run_sync(_connect, target, durability)
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

    async def _run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._closed:
            raise JournalError(f"the journal {str(self._path)!r} is closed")
        db = self._db

        def call() -> _T:
            try:
                return fn(db)
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

        # Not abandoned on cancellation: the caller waits for the transaction to end, so no
        # thread touches the connection after the caller (or the journal) moved on.
        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    async def _write(self, fn: Callable[[sqlite3.Connection], None]) -> None:
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
        db = self._db
        try:
            if self._closed:
                raise sqlite3.ProgrammingError("the journal is closed")
            with _transaction(db):
                for item in batch:
                    db.execute("SAVEPOINT record")
                    try:
                        item.fn(db)
                    except sqlite3.Error as exc:
                        db.execute("ROLLBACK TO record")
                        item.error = self._error(exc)
                    db.execute("RELEASE record")
        except sqlite3.Error as exc:
            for item in batch:
                item.error = item.error or self._error(exc)
        for item in batch:
            item.done = True

    def _error(self, exc: sqlite3.Error) -> JournalError:
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
        _check_identity(identity)

        def read(db: sqlite3.Connection) -> JournalEntry | None:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM sources WHERE key = ?", (identity.key,)
            ).fetchone()
            if row is None or row[2] != identity.version:
                return None
            return _entry(row)

        return await self._run(read)

    async def changed(self, identity: SourceIdentity) -> bool:
        """True when the journal holds this source with these options at another version."""
        _check_identity(identity)

        def read(db: sqlite3.Connection) -> bool:
            row = db.execute(
                "SELECT version FROM sources WHERE key = ?", (identity.key,)
            ).fetchone()
            return row is not None and row[0] != identity.version

        return await self._run(read)

    async def lookup(self, identity: SourceIdentity) -> tuple[JournalEntry | None, bool]:
        """Return ``(get(identity), changed(identity))``, read together with other lookups.

        Grouped like the writes: the first caller to find no read running takes every lookup
        queued meanwhile and answers them all in one thread hop (one query per few hundred
        keys), so a batch starting thousands of sources does not queue one hop per source
        behind the journal's single connection. A caller cancelled before its lookup was taken
        withdraws it; once taken, the read runs to its end (it changes nothing).
        """
        _check_identity(identity)
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
                raise sqlite3.ProgrammingError("the journal is closed")
            rows: dict[str, tuple[Any, ...]] = {}
            keys = list(dict.fromkeys(item.key for item in batch))
            for start in range(0, len(keys), _READ_CHUNK):
                chunk = keys[start : start + _READ_CHUNK]
                marks = ", ".join("?" * len(chunk))
                query = f"SELECT {_COLUMNS} FROM sources WHERE key IN ({marks})"
                for row in self._db.execute(query, chunk):
                    rows[row[0]] = row
            for item in batch:
                row = rows.get(item.key)
                if row is not None and row[2] == item.version:
                    try:
                        item.entry = _entry(row)
                    except JournalEntryError as exc:  # this source fails, not the group
                        item.error = exc
                item.changed = row is not None and row[2] != item.version
        except sqlite3.Error as exc:
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
            _check_identity(identity)
        _check_number("upload_max_age", upload_max_age)
        by_key = {entry.key: entry for entry in await self.entries()}
        now = time.time()
        return [
            resume_step(i, by_key.get(i.key), now=now, upload_max_age=upload_max_age)
            for i in wanted
        ]

    async def entries(self) -> list[JournalEntry]:
        """Return every entry, in the order sources were first journalled."""

        def read(db: sqlite3.Connection) -> list[JournalEntry]:
            rows = db.execute(f"SELECT {_COLUMNS} FROM sources ORDER BY rowid").fetchall()
            return [_entry(row) for row in rows]

        return await self._run(read)

    async def summary(self) -> JournalSummary:
        """Return the counts of sources by state, and the job ids a resume would adopt."""

        def read(db: sqlite3.Connection) -> JournalSummary:
            counts = dict(
                db.execute(
                    """
                    SELECT CASE
                        WHEN status = 'done' THEN 'done'
                        WHEN status IS NOT NULL THEN 'failed'
                        WHEN job_id IS NOT NULL THEN 'created'
                        WHEN audio_url IS NOT NULL THEN 'uploaded'
                        ELSE 'new' END AS state, count(*)
                    FROM sources GROUP BY state
                    """
                ).fetchall()
            )
            pending = tuple(
                job_id
                for (job_id,) in db.execute(
                    "SELECT job_id FROM sources WHERE job_id IS NOT NULL AND status IS NULL "
                    "ORDER BY rowid"
                )
            )
            return JournalSummary(
                total=sum(counts.values()),
                new=counts.get("new", 0),
                uploaded=counts.get("uploaded", 0),
                created=counts.get("created", 0),
                done=counts.get("done", 0),
                failed=counts.get("failed", 0),
                pending_job_ids=pending,
            )

        return await self._run(read)

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
            _check_identity(identity)
        current = orjson.loads(_options_json(options, namespace))

        def read(db: sqlite3.Connection) -> OptionsChange:
            rows: dict[str, list[tuple[str, bool]]] = {}
            names = list(dict.fromkeys(identity.source for identity in wanted))
            for start in range(0, len(names), _READ_CHUNK):
                chunk = names[start : start + _READ_CHUNK]
                marks = ", ".join("?" * len(chunk))
                query = (
                    "SELECT source, options_hash, job_id IS NOT NULL AND "
                    "(status IS NULL OR status = 'done') FROM sources "
                    f"WHERE source IN ({marks})"
                )
                for source, opts, spent in db.execute(query, chunk):
                    rows.setdefault(source, []).append((opts, bool(spent)))
            again: list[str] = []
            earlier: set[str] = set()
            for identity in wanted:
                found = rows.get(identity.source, [])
                if any(opts == identity.options_hash for opts, _ in found):
                    continue  # this run's options already have an entry: resumed, not redone
                others = {opts for opts, spent in found if spent}
                if others:
                    again.append(identity.display)
                    earlier |= others
            fields: set[str] = set()
            for opts in earlier:
                meta = db.execute(
                    "SELECT value FROM journal_meta WHERE name = ?", (f"options:{opts}",)
                ).fetchone()
                if meta is not None:
                    with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
                        fields |= _changed_fields(orjson.loads(meta[0]), current)
            return OptionsChange(sources=tuple(again), fields=tuple(sorted(fields)))

        return await self._run(read)

    # -- writing ---------------------------------------------------------------------------

    async def record_options(
        self, options: TranscriptionOptions | None = None, *, namespace: str = ""
    ) -> None:
        """Keep this run's options, so a later run with other options can say what changed."""
        name = f"options:{options_hash(options, namespace)}"
        value = _options_json(options, namespace)

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR IGNORE INTO journal_meta (name, value) VALUES (?, ?)", (name, value)
            )

        await self._write(write)

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
        _check_identity(identity)
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
        _check_identity(identity)
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
        _check_identity(identity)
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

        def write(db: sqlite3.Connection) -> None:
            # Runs inside _commit's transaction (its own savepoint): all of it or none of it.
            row = db.execute(
                "SELECT version FROM sources WHERE key = ?", (identity.key,)
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO sources (key, source, version, options_hash, token, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        identity.key,
                        identity.source,
                        identity.version,
                        identity.options_hash,
                        identity.token,
                        now,
                    ),
                )
            elif row[0] != identity.version:
                db.execute(
                    f"UPDATE sources SET version = ?, token = ?, {_RESET} WHERE key = ?",
                    (identity.version, identity.token, identity.key),
                )
            db.execute(
                f"UPDATE sources SET {assignments}, updated_at = ? WHERE key = ?",
                (*params, now, identity.key),
            )

        await self._write(write)


def _check_number(argument: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise InvalidInput(argument, f"must be a number >= 0, got {value!r}")


def _check_identity(identity: object) -> None:
    if not isinstance(identity, SourceIdentity):
        raise InvalidInput(
            "identity",
            f"expected the SourceIdentity from source_identity(), got {type(identity).__name__}",
        )


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One explicit write transaction (the connection is in autocommit mode otherwise)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class _WriterLock:
    """The journal's writer lock: ``<journal>.lock``, held open and locked for the block.

    POSIX: ``fcntl.flock``; Windows: ``msvcrt.locking`` on the file's first byte. Both are
    dropped by the OS when the process dies, so a crashed batch never blocks its resume. The
    lock file is removed on release; a run that opened the file just before that removal finds
    its lock on a file no longer at the path and takes the lock again on the new one, so two
    runs never both hold "the" lock.
    """

    def __init__(self, handle: IO[bytes], path: Path) -> None:
        self._handle = handle
        self._path = path

    @classmethod
    def take(cls, journal: Path) -> _WriterLock:
        path = Path(f"{journal}.lock")
        for _ in range(_LOCK_ATTEMPTS):
            try:
                handle = open(path, "ab")  # held open for the journal's lifetime
            except OSError as exc:
                raise JournalError(
                    f"cannot create the journal's lock file {str(path)!r}: {exc.strerror}; "
                    "the folder must be writable"
                ) from None
            try:
                _lock_file(handle)
            except OSError:
                handle.close()
                raise JournalError(
                    f"the journal {str(journal)!r} is in use by another batch; wait for it to "
                    "finish (two batches writing one journal would create duplicate jobs)"
                ) from None
            if _same_file(handle, path):
                return cls(handle, path)
            handle.close()  # removed by its holder between our open and our lock: again
        raise JournalError(f"cannot take the journal's lock {str(path)!r}; try again")

    def release(self) -> None:
        """Remove the lock file and drop the lock (the removal first: see the class docs)."""
        if sys.platform != "win32":
            with contextlib.suppress(OSError):
                os.unlink(self._path)
        self._handle.close()  # closing the descriptor releases the lock
        if sys.platform == "win32":  # Windows cannot remove an open file: after closing it
            with contextlib.suppress(OSError):
                os.unlink(self._path)


#: Tries to lock a lock file that its holder removed meanwhile (see :class:`_WriterLock`).
_LOCK_ATTEMPTS = 5


def _lock_file(handle: IO[bytes]) -> None:
    """Lock ``handle`` without waiting; ``OSError`` when another process holds it."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _same_file(handle: IO[bytes], path: Path) -> bool:
    if sys.platform == "win32":  # pragma: no cover - an open file cannot be removed there
        return True
    try:
        on_disk = os.stat(path)
    except OSError:
        return False
    held = os.fstat(handle.fileno())
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


def _lock(path: Path) -> _WriterLock:
    """Take the journal's writer lock on its resolved path (a symlink locks its target)."""
    if path.is_dir():
        raise InvalidInput("path", f"{str(path)!r} is a directory; pass a file path")
    return _WriterLock.take(path)


def _resolve(path: Path) -> Path:
    """The journal's real path: every name for one file shares one lock."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before 3.13)
        raise JournalError(f"cannot open the journal {str(path)!r}: {exc}") from None
    except ValueError as exc:
        raise InvalidInput("journal", f"{str(path)!r} is not a usable path ({exc})") from None


def _schema_number(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


#: The columns every journal's tables have (a database with other tables of these names is
#: another program's file, not a journal).
_LAYOUT = {
    "journal_meta": {"name", "value"},
    "sources": {column.strip() for column in _COLUMNS.split(",")},
}


def _check_layout(db: sqlite3.Connection, path: Path) -> None:
    for table, columns in _LAYOUT.items():
        found = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if not columns <= found:
            missing = ", ".join(sorted(columns - found))
            raise JournalError(
                f"{str(path)!r} is not a gladia-async journal (its {table} table has no "
                f"{missing}); pass another journal path"
            )


def _connect(path: Path, durability: str) -> sqlite3.Connection:
    if path.is_dir():
        raise InvalidInput("path", f"{str(path)!r} is a directory; pass a file path")
    try:
        # isolation_level=None: no implicit transactions; _transaction() makes them explicit.
        db = sqlite3.connect(path, timeout=10.0, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise JournalError(f"cannot open the journal {str(path)!r}: {exc}") from exc
    try:
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise JournalError(f"the journal {str(path)!r} cannot use WAL mode (got {mode!r})")
        db.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        with _transaction(db):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            _check_layout(db, path)
            found = db.execute("SELECT value FROM journal_meta WHERE name = 'schema'").fetchone()
            if found is None:
                db.execute(
                    "INSERT INTO journal_meta (name, value) VALUES ('schema', ?)",
                    (str(SCHEMA_VERSION),),
                )
            else:
                version = _schema_number(found[0])
                if version is None:
                    raise JournalError(
                        f"{str(path)!r} is not a gladia-async journal (schema {found[0]!r}); "
                        "pass another journal path"
                    )
                if version > SCHEMA_VERSION:
                    raise JournalError(
                        f"the journal {str(path)!r} was written by a newer gladia-async "
                        f"(schema {version}); upgrade to resume it"
                    )
    except BaseException as exc:
        db.close()
        if isinstance(exc, JournalError):
            raise
        if isinstance(exc, sqlite3.Error):
            raise JournalError(f"cannot open the journal {str(path)!r}: {exc}") from exc
        raise
    return db
