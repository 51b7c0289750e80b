"""The journal's SQLite file: its tables, opening it, and every statement run on it.

One SQLite file (the standard library's :mod:`sqlite3`, WAL mode, no server) with one row per
source and set of options: the source's identity, its upload's ``audio_url``, the job id once
created and the final state. This is the only module that speaks SQL (or imports
:mod:`sqlite3`); :class:`~gladia_async._batch.journal.BatchJournal` runs these functions in its
worker thread, one at a time, and owns the transactions' grouping.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from .._core.errors import InvalidInput, JournalError
from .entries import JournalEntry, JournalEntryError, JournalSummary, OptionsChange, changed_fields
from .identity import SourceIdentity

__all__ = [
    "COLUMNS",
    "SCHEMA_VERSION",
    "Connection",
    "Error",
    "commit_each",
    "connect",
    "entry",
    "transaction",
]

#: What the store's statements raise, and the connection they run on.
Error = sqlite3.Error
Connection = sqlite3.Connection

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

COLUMNS = (
    "key, source, version, options_hash, token, audio_url, audio_meta, uploaded_at, job_id, "
    "created_at, status, error, error_code, result, finished_at, updated_at"
)

#: The fields a new version of a source starts without.
_RESET = (
    "audio_url = NULL, audio_meta = NULL, uploaded_at = NULL, job_id = NULL, created_at = NULL, "
    "status = NULL, error = NULL, error_code = NULL, result = NULL, finished_at = NULL"
)


@contextlib.contextmanager
def transaction(db: Connection) -> Iterator[None]:
    """One explicit write transaction (the connection is in autocommit mode otherwise)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _schema_number(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


#: The columns every journal's tables have (a database with other tables of these names is
#: another program's file, not a journal).
_LAYOUT = {
    "journal_meta": {"name", "value"},
    "sources": {column.strip() for column in COLUMNS.split(",")},
}


def _check_layout(db: Connection, path: Path) -> None:
    for table, columns in _LAYOUT.items():
        found = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if not columns <= found:
            missing = ", ".join(sorted(columns - found))
            raise JournalError(
                f"{str(path)!r} is not a gladia-async journal (its {table} table has no "
                f"{missing}); pass another journal path"
            )


def connect(path: Path, durability: str) -> Connection:
    if path.is_dir():
        raise InvalidInput("path", f"{str(path)!r} is a directory; pass a file path")
    try:
        # isolation_level=None: no implicit transactions; transaction() makes them explicit.
        db = sqlite3.connect(path, timeout=10.0, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise JournalError(f"cannot open the journal {str(path)!r}: {exc}") from exc
    try:
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise JournalError(f"the journal {str(path)!r} cannot use WAL mode (got {mode!r})")
        db.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        with transaction(db):
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


def entry(row: tuple[Any, ...]) -> JournalEntry:
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


#: Keys per ``IN (...)`` of a grouped lookup (SQLite allows 999 parameters at least).
_READ_CHUNK = 500


# -- reading ---------------------------------------------------------------------------------


def read_entry(db: Connection, key: str, version: str) -> JournalEntry | None:
    """The entry at ``key`` if it is at ``version``, else None."""
    row = db.execute(f"SELECT {COLUMNS} FROM sources WHERE key = ?", (key,)).fetchone()
    if row is None or row[2] != version:
        return None
    return entry(row)


def read_changed(db: Connection, key: str, version: str) -> bool:
    """True when ``key`` is held at another version than ``version``."""
    row = db.execute("SELECT version FROM sources WHERE key = ?", (key,)).fetchone()
    return row is not None and row[0] != version


def read_lookups(
    db: Connection, wanted: Sequence[tuple[str, str]]
) -> list[tuple[JournalEntry | None, bool, JournalEntryError | None]]:
    """For each ``(key, version)``: its entry (or None), whether it changed, its row's damage.

    One query per chunk of keys; a damaged row fails its own lookups, not the others.
    """
    rows: dict[str, tuple[Any, ...]] = {}
    keys = list(dict.fromkeys(key for key, _ in wanted))
    for start in range(0, len(keys), _READ_CHUNK):
        chunk = keys[start : start + _READ_CHUNK]
        marks = ", ".join("?" * len(chunk))
        query = f"SELECT {COLUMNS} FROM sources WHERE key IN ({marks})"
        for row in db.execute(query, chunk):
            rows[row[0]] = row
    answers: list[tuple[JournalEntry | None, bool, JournalEntryError | None]] = []
    for key, version in wanted:
        row = rows.get(key)
        found: JournalEntry | None = None
        damage: JournalEntryError | None = None
        if row is not None and row[2] == version:
            try:
                found = entry(row)
            except JournalEntryError as exc:  # this source fails, not the group
                damage = exc
        answers.append((found, row is not None and row[2] != version, damage))
    return answers


def read_entries(db: Connection) -> list[JournalEntry]:
    """Every entry, in the order sources were first journalled."""
    rows = db.execute(f"SELECT {COLUMNS} FROM sources ORDER BY rowid").fetchall()
    return [entry(row) for row in rows]


def read_summary(db: Connection) -> JournalSummary:
    """The counts of sources by state, and the job ids a resume would adopt."""
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
            "SELECT job_id FROM sources WHERE job_id IS NOT NULL AND status IS NULL ORDER BY rowid"
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


def read_options_change(
    db: Connection, wanted: Sequence[SourceIdentity], current: dict[str, Any]
) -> OptionsChange:
    """The sources of ``wanted`` held done or in flight under other options only.

    ``current`` is this run's options as :func:`~gladia_async._batch.identity.options_json`
    writes them, to name the fields that changed.
    """
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
                fields |= changed_fields(orjson.loads(meta[0]), current)
    return OptionsChange(sources=tuple(again), fields=tuple(sorted(fields)))


# -- writing ---------------------------------------------------------------------------------


def closed_error() -> Error:
    """What a write or read on a closed journal's connection fails with."""
    return sqlite3.ProgrammingError("the journal is closed")


def commit_each(
    db: Connection, writes: Sequence[Callable[[Connection], None]]
) -> list[Error | None]:
    """Run ``writes`` in one transaction, a savepoint each, so one failing write fails alone.

    Returns each write's error (None: committed); a transaction that cannot commit fails all.
    """
    errors: list[Error | None] = [None] * len(writes)
    try:
        with transaction(db):
            for index, write in enumerate(writes):
                db.execute("SAVEPOINT record")
                try:
                    write(db)
                except sqlite3.Error as exc:
                    db.execute("ROLLBACK TO record")
                    errors[index] = exc
                db.execute("RELEASE record")
    except sqlite3.Error as exc:
        errors = [error or exc for error in errors]
    return errors


def write_options(db: Connection, name: str, value: str) -> None:
    """Keep a run's options under ``name`` (the first record of them stays)."""
    db.execute("INSERT OR IGNORE INTO journal_meta (name, value) VALUES (?, ?)", (name, value))


def upsert(
    db: Connection,
    identity: SourceIdentity,
    assignments: str,
    params: tuple[Any, ...],
    now: float,
) -> None:
    """Set ``assignments`` on the identity's row, creating it (or starting a new version)."""
    # Runs inside commit_each's transaction (its own savepoint): all of it or none of it.
    row = db.execute("SELECT version FROM sources WHERE key = ?", (identity.key,)).fetchone()
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
