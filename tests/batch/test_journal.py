"""The batch journal: identities, records that survive a crash, grouped lookups, many writers,
cancellation."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest
from anyio import wait_all_tasks_blocked

from gladia_async import GladiaSession, InvalidInput, TranscriptionOptions, unstructure
from gladia_async._batch.identity import source_identity
from gladia_async._batch.journal import BatchJournal
from gladia_async._core.errors import JournalError

from ..conftest import write_wav

URL = "https://example.com/audio/call.mp3"


# -- identity ------------------------------------------------------------------------------


def test_identity_is_deterministic_for_the_same_file_and_options(wav: Path) -> None:
    opts = TranscriptionOptions(diarization=True)
    first = source_identity(wav, opts)
    again = source_identity(str(wav), TranscriptionOptions(diarization=True))
    assert first == again
    assert len(first.token) == 32
    assert first.source == f"file:{wav.resolve()}"
    assert first.version == f"size={wav.stat().st_size},mtime_ns={wav.stat().st_mtime_ns}"


def test_identity_differs_for_other_options_namespace_or_source(wav: Path) -> None:
    base = source_identity(wav, TranscriptionOptions(diarization=True))
    tokens = {
        base.token,
        source_identity(wav, TranscriptionOptions(diarization=False)).token,
        source_identity(wav, None).token,
        source_identity(wav, TranscriptionOptions(diarization=True), namespace="rerun").token,
        source_identity(URL, TranscriptionOptions(diarization=True)).token,
    }
    assert len(tokens) == 5


def test_a_changed_file_has_another_version_and_token(wav: Path) -> None:
    before = source_identity(wav)
    write_wav(wav, seconds=3.0)  # other size
    after = source_identity(wav)
    assert after.key == before.key
    assert after.version != before.version
    assert after.token != before.token
    # Same size, only the modification time moves: still another version.
    stat = wav.stat()
    os.utime(wav, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000))
    touched = source_identity(wav)
    assert touched.version != after.version and touched.token != after.token


def test_url_and_bytes_identities() -> None:
    url = source_identity(URL)
    assert url.source == f"url:{URL}" and url.version == ""
    assert url.display == URL
    assert source_identity(b"RIFF1234").token == source_identity(bytearray(b"RIFF1234")).token
    assert source_identity(b"RIFF1234").token != source_identity(b"RIFF1235").token


def test_sources_without_a_stable_identity_are_rejected(tmp_path: Path) -> None:
    with open(write_wav(tmp_path / "a.wav"), "rb") as handle:
        with pytest.raises(InvalidInput) as info:
            source_identity(handle)
    assert info.value.argument == "source"
    with pytest.raises(InvalidInput) as missing:
        source_identity(tmp_path / "missing.wav")
    assert missing.value.argument == "source"
    with pytest.raises(InvalidInput) as bad_options:
        source_identity(URL, {"diarization": True})  # type: ignore[arg-type]
    assert bad_options.value.argument == "options"


# -- recording -----------------------------------------------------------------------------


async def test_records_come_back_after_reopening(
    tmp_path: Path, wav: Path, gladia: GladiaSession
) -> None:
    path = tmp_path / "batch.journal"
    opts = TranscriptionOptions(diarization=True)
    identity = source_identity(wav, opts)
    uploaded = await gladia.upload(wav)
    async with BatchJournal.open(path) as journal:
        assert await journal.get(identity) is None
        await journal.record_upload(identity, uploaded, uploaded_at=1000.0)
        entry = await journal.get(identity)
        assert entry is not None and entry.state == "uploaded"
        created = await gladia.submit(uploaded, opts)
        await journal.record_job(identity, created.id)
    async with BatchJournal.open(path) as journal:
        entry = await journal.get(identity)
        assert entry is not None
        assert entry.state == "created"
        assert entry.job_id == created.id
        assert entry.token == identity.token
        assert entry.uploaded_at == 1000.0
        assert entry.uploaded_audio() == uploaded
        job = await gladia.wait(created.id)
        await journal.record_final(identity, status="done", result=unstructure(job))
    async with BatchJournal.open(path) as journal:
        entry = await journal.get(identity)
        assert entry is not None and entry.finished and entry.state == "finished"
        assert entry.status == "done"
        assert entry.result["id"] == created.id
        summary = await journal.summary()
        assert (summary.total, summary.done, summary.pending_job_ids) == (1, 1, ())


async def test_a_changed_file_is_not_found_and_its_record_starts_afresh(
    tmp_path: Path, wav: Path
) -> None:
    async with BatchJournal.open(tmp_path / "j.db") as journal:
        old = source_identity(wav)
        await journal.record_upload(old, "https://files.example/old")
        await journal.record_job(old, "11111111-1111-1111-1111-111111111111")
        await journal.record_final(old, status="done")
        write_wav(wav, seconds=0.5)
        new = source_identity(wav)
        assert await journal.get(new) is None  # redo, not skip
        assert await journal.changed(new)
        await journal.record_upload(new, "https://files.example/new")
        entry = await journal.get(new)
        assert entry is not None
        # Nothing of the old version leaks into the new one.
        assert (entry.audio_url, entry.job_id, entry.status) == (
            "https://files.example/new",
            None,
            None,
        )
        assert await journal.get(old) is None
        assert not await journal.changed(new)
        assert len(await journal.entries()) == 1


async def test_summary_counts_states_and_lists_jobs_to_adopt(tmp_path: Path) -> None:
    async with BatchJournal.open(tmp_path / "j.db") as journal:
        ids = [source_identity(f"{URL}?n={n}") for n in range(5)]
        await journal.record_upload(ids[0], "https://files.example/0")
        await journal.record_job(ids[1], "job-1")
        await journal.record_job(ids[2], "job-2")
        await journal.record_final(ids[3], status="done", job_id="job-3")
        await journal.record_final(ids[4], status="error", error="boom", error_code=500)
        summary = await journal.summary()
    assert (summary.total, summary.uploaded, summary.created, summary.done, summary.failed) == (
        5,
        1,
        2,
        1,
        1,
    )
    assert summary.pending_job_ids == ("job-1", "job-2")


async def test_bad_arguments_are_typed_errors_before_any_write(tmp_path: Path) -> None:
    async with BatchJournal.open(tmp_path / "j.db") as journal:
        identity = source_identity(URL)
        with pytest.raises(InvalidInput) as info:
            await journal.record_job(identity, "")
        assert info.value.argument == "job_id"
        with pytest.raises(InvalidInput) as info:
            await journal.get("file:/x")  # type: ignore[arg-type]
        assert info.value.argument == "identity"
        with pytest.raises(InvalidInput) as info:
            await journal.record_final(identity, status="done", result=object())
        assert info.value.argument == "result"
        assert await journal.entries() == []
    with pytest.raises(InvalidInput):
        async with BatchJournal.open(tmp_path):
            pass


async def test_unusable_files_raise_journal_error(tmp_path: Path) -> None:
    garbage = tmp_path / "not-a-db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(JournalError):
        async with BatchJournal.open(garbage):
            pass
    newer = tmp_path / "newer.db"
    async with BatchJournal.open(newer):
        pass
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE journal_meta SET value = '99' WHERE name = 'schema'")
    with pytest.raises(JournalError, match="newer"):
        async with BatchJournal.open(newer):
            pass
    async with BatchJournal.open(tmp_path / "j.db") as journal:
        pass
    with pytest.raises(JournalError, match="closed"):
        await journal.get(source_identity(URL))


async def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with BatchJournal.open(path) as journal:
        await journal.record_upload(source_identity(URL), "https://files.example/1")
        with sqlite3.connect(path) as reader:  # another connection reads while it is open
            assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert reader.execute("SELECT count(*) FROM sources").fetchone()[0] == 1


# -- lookups: one grouped read for many sources --------------------------------------------


async def test_lookup_says_new_recorded_or_changed(tmp_path: Path, wav: Path) -> None:
    async with BatchJournal.open(tmp_path / "j.db") as journal:
        old = source_identity(wav)
        assert await journal.lookup(old) == (None, False)  # never seen: new, not changed
        await journal.record_job(old, "11111111-1111-1111-1111-111111111111")
        entry, changed = await journal.lookup(old)
        assert entry is not None and entry.job_id == "11111111-1111-1111-1111-111111111111"
        assert not changed
        assert entry == await journal.get(old)
        write_wav(wav, seconds=0.5)
        new = source_identity(wav)
        assert await journal.lookup(new) == (None, True)  # redo, not skip
        assert (await journal.get(new), await journal.changed(new)) == (None, True)


async def test_concurrent_lookups_are_answered_together_and_each_correctly(
    tmp_path: Path,
) -> None:
    urls = [f"https://example.com/lookup/{n}.wav" for n in range(300)]
    identities = [source_identity(url) for url in urls]
    async with BatchJournal.open(tmp_path / "j.db") as journal:
        for n, identity in enumerate(identities[:100]):
            await journal.record_job(identity, f"00000000-0000-4000-8000-{n:012d}")
        hops = 0
        answer = journal._answer

        def counted(batch: list[Any]) -> None:
            nonlocal hops
            hops += 1
            answer(batch)

        journal._answer = counted  # type: ignore[method-assign]
        found: dict[int, tuple[str | None, bool]] = {}

        async def look(n: int) -> None:
            entry, changed = await journal.lookup(identities[n])
            found[n] = (entry.job_id if entry is not None else None, changed)

        async with anyio.create_task_group() as tg:
            for n in range(len(identities)):
                tg.start_soon(look, n)
    assert found == {
        n: (f"00000000-0000-4000-8000-{n:012d}" if n < 100 else None, False) for n in range(300)
    }
    assert hops <= 10, hops  # 300 lookups at once: a few grouped reads, not one each


# -- many writers --------------------------------------------------------------------------


async def test_concurrent_writers_from_many_tasks_all_land(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    count = 200

    async def one(journal: BatchJournal, n: int) -> None:
        identity = source_identity(f"{URL}?n={n}")
        await journal.record_upload(identity, f"https://files.example/{n}")
        await journal.record_job(identity, f"job-{n}")
        await journal.record_final(identity, status="done" if n % 2 else "error")

    async with BatchJournal.open(path) as journal:
        async with anyio.create_task_group() as tg:
            for n in range(count):
                tg.start_soon(one, journal, n)
    async with BatchJournal.open(path) as journal:
        entries = await journal.entries()
        summary = await journal.summary()
    assert len(entries) == count
    by_job = {e.job_id: e for e in entries}
    assert set(by_job) == {f"job-{n}" for n in range(count)}
    assert all(e.audio_url == f"https://files.example/{e.job_id[4:]}" for e in entries)
    assert (summary.done, summary.failed) == (count // 2, count // 2)


# -- crash safety --------------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys, anyio
    from gladia_async._batch.identity import source_identity
    from gladia_async._batch.journal import BatchJournal

    async def main(path):
        async with BatchJournal.open(path) as journal:
            n = 0
            while True:
                identity = source_identity(f"https://example.com/{n}.wav")
                await journal.record_upload(identity, f"https://files.example/{n}")
                await journal.record_job(identity, f"job-{n}")
                print(n, flush=True)  # acknowledged: both records returned
                n += 1

    anyio.run(main, sys.argv[1])
    """
)


def _write_until_killed(path: Path, stop_after: int) -> int:
    """Run the writer in a child, SIGKILL it once it acknowledged ``stop_after`` sources."""
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    acknowledged = -1
    assert child.stdout is not None and child.stderr is not None
    with child:
        for line in child.stdout:
            acknowledged = int(line)
            if acknowledged >= stop_after:
                break
        # No clean shutdown: no close, no checkpoint, killed while it keeps writing.
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        acknowledged = max([acknowledged, *(int(x) for x in child.stdout.read().split())])
        assert child.returncode == -signal.SIGKILL, child.stderr.read()
    return acknowledged


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_a_journal_killed_mid_write_reopens_with_every_acknowledged_record(
    tmp_path: Path, seed: int
) -> None:
    path = tmp_path / "crash.db"
    stop_after = random.Random(seed).randint(5, 120)
    acknowledged = await anyio.to_thread.run_sync(_write_until_killed, path, stop_after)
    assert acknowledged >= stop_after
    assert Path(f"{path}-wal").exists()  # it really died before a clean close
    async with BatchJournal.open(path) as journal:
        entries = await journal.entries()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    jobs = {e.job_id for e in entries if e.job_id is not None}
    assert {f"job-{n}" for n in range(acknowledged + 1)} <= jobs
    # At most the record being written when the process died is missing its second half.
    assert len(entries) - len(jobs) <= 1
    for entry in entries:
        n = entry.display.rsplit("/", 1)[1].split(".")[0]
        assert entry.audio_url == f"https://files.example/{n}"
        assert entry.job_id in (None, f"job-{n}")


# -- cancellation --------------------------------------------------------------------------


async def test_cancelling_a_pending_write_leaves_the_journal_consistent(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with BatchJournal.open(path) as journal:
        first = source_identity(f"{URL}?n=1")
        await journal.record_upload(first, "https://files.example/1")
        # Another connection holds the write lock: the journal's write waits inside sqlite.
        blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.3, blocker.execute, args=("COMMIT",))
        outcome: list[str] = []
        with anyio.move_on_after(0.05) as scope:
            release.start()
            # Cancelled at 0.05 s while the write waits for the lock (released at 0.3 s).
            await journal.record_job(first, "job-1")
            outcome.append("returned")
            await anyio.lowlevel.checkpoint()
            outcome.append("not cancelled")
        release.join()
        blocker.close()
        # The write was not abandoned: it ran to its commit, the call returned, and the
        # cancellation arrived at the caller's next checkpoint.
        assert scope.cancelled_caught and outcome == ["returned"]
        entry = await journal.get(first)
        assert entry is not None and entry.audio_url == "https://files.example/1"
        assert entry.job_id == "job-1"
        second = source_identity(f"{URL}?n=2")
        await journal.record_job(second, "job-2")
        assert (await journal.summary()).created >= 1
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_cancelling_the_owner_closes_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    holder: list[BatchJournal] = []
    with anyio.move_on_after(0.2):
        async with BatchJournal.open(path) as journal:
            holder.append(journal)
            n = 0
            while True:
                await journal.record_upload(source_identity(f"{URL}?n={n}"), "https://f.example/")
                n += 1
    assert "closed" in repr(holder[0])
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT count(*) FROM sources WHERE audio_url IS NULL").fetchone()[0]
    assert rows == 0


async def test_a_failed_record_leaves_no_half_written_row(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with BatchJournal.open(path):
        pass
    with sqlite3.connect(path) as db:  # make the second statement of a record fail
        db.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE ON sources WHEN NEW.audio_url = 'https://no' "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    async with BatchJournal.open(path) as journal:
        identity = source_identity(URL)
        with pytest.raises(JournalError, match="disk says no") as info:
            await journal.record_upload(identity, "https://no")
        assert isinstance(info.value.__cause__, sqlite3.Error)
        assert await journal.entries() == []  # the row's insert was rolled back with it
        await journal.record_upload(identity, "https://yes")
        assert [e.audio_url for e in await journal.entries()] == ["https://yes"]


# -- resume plan ---------------------------------------------------------------------------


async def test_the_resume_plan_skips_adopts_reuses_and_redoes(tmp_path: Path) -> None:
    files = [write_wav(tmp_path / f"{n}.wav", seconds=0.2) for n in range(6)]
    opts = TranscriptionOptions(diarization=True)
    ids = [source_identity(f, opts) for f in files]
    async with BatchJournal.open(tmp_path / "j.db") as journal:
        await journal.record_final(ids[0], status="done", job_id="job-0")  # finished
        await journal.record_upload(ids[1], "https://files.example/1")
        await journal.record_job(ids[1], "job-1")  # created, not finished
        await journal.record_upload(ids[2], "https://files.example/2")  # uploaded just now
        week_ago = time.time() - 7 * 86_400
        await journal.record_upload(ids[3], "https://files.example/3", uploaded_at=week_ago)
        await journal.record_final(ids[4], status="done", job_id="job-4")
        write_wav(files[4], seconds=0.3)  # changed since: redo
        # files[5]: never seen
        plan = await journal.plan([source_identity(f, opts) for f in files])
    assert [(s.action, s.lookup_first, s.changed) for s in plan] == [
        ("skip", False, False),
        ("adopt", False, False),
        ("submit", True, False),
        ("upload", True, False),  # too old to trust: upload again, but look for a job first
        ("upload", False, True),
        ("upload", False, False),
    ]
    assert plan[0].entry is not None and plan[0].entry.job_id == "job-0"
    assert plan[1].entry is not None and plan[1].entry.job_id == "job-1"
    assert plan[2].entry is not None
    assert plan[2].entry.uploaded_audio() == "https://files.example/2"


async def test_the_resume_plan_checks_its_arguments(tmp_path: Path) -> None:
    async with BatchJournal.open(tmp_path / "j.db") as journal:
        with pytest.raises(InvalidInput) as info:
            await journal.plan([source_identity(URL)], upload_max_age=-1)
        assert info.value.argument == "upload_max_age"
        with pytest.raises(InvalidInput) as info:
            await journal.plan([URL])  # type: ignore[list-item]
        assert info.value.argument == "identity"


# -- group commit --------------------------------------------------------------------------


async def test_writes_queued_behind_a_flush_share_one_commit_and_fail_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.db"
    async with BatchJournal.open(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE ON sources WHEN NEW.audio_url = 'https://no' "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    blocker = sqlite3.connect(path, isolation_level=None)
    errors: dict[int, BaseException] = {}

    async def record(journal: BatchJournal, n: int, audio_url: str) -> None:
        try:
            await journal.record_upload(source_identity(f"{URL}?n={n}"), audio_url)
        except JournalError as exc:
            errors[n] = exc

    async with BatchJournal.open(path) as journal:
        blocker.execute("BEGIN IMMEDIATE")  # the first flush waits in its thread
        async with anyio.create_task_group() as tg:
            tg.start_soon(record, journal, 0, "https://ok/0")
            await wait_all_tasks_blocked()
            for n in range(1, 21):  # these queue up behind it: the next flush takes them all
                tg.start_soon(record, journal, n, "https://no" if n == 7 else f"https://ok/{n}")
            await wait_all_tasks_blocked()
            blocker.execute("COMMIT")
        blocker.close()
        entries = await journal.entries()
    assert list(errors) == [7] and "disk says no" in str(errors[7])
    assert sorted(e.audio_url for e in entries) == sorted(
        f"https://ok/{n}" for n in range(21) if n != 7
    )


async def test_a_writer_cancelled_while_queued_withdraws_its_write(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    blocker = sqlite3.connect(path, isolation_level=None)
    returned: list[str] = []
    async with BatchJournal.open(path) as journal:
        blocker.execute("BEGIN IMMEDIATE")
        follower = anyio.CancelScope()

        async def queued() -> None:
            with follower:
                await journal.record_upload(source_identity(f"{URL}?n=2"), "https://ok/2")
                returned.append("follower")

        async with anyio.create_task_group() as tg:
            tg.start_soon(journal.record_upload, source_identity(f"{URL}?n=1"), "https://ok/1")
            await wait_all_tasks_blocked()
            tg.start_soon(queued)
            await wait_all_tasks_blocked()
            follower.cancel()  # its write was never taken by a flush
            await wait_all_tasks_blocked()
            blocker.execute("COMMIT")
        blocker.close()
        entries = await journal.entries()
        await journal.record_upload(source_identity(f"{URL}?n=3"), "https://ok/3")
        later = await journal.entries()
    assert returned == []
    assert [e.audio_url for e in entries] == ["https://ok/1"]
    assert [e.audio_url for e in later] == ["https://ok/1", "https://ok/3"]


async def test_a_second_batch_cannot_write_a_journal_in_use(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with BatchJournal.open(path) as first:
        await first.record_job(source_identity(URL), "job-1")
        with pytest.raises(JournalError, match="in use by another batch"):
            async with BatchJournal.open(path):
                pass
        async with BatchJournal.open(path, exclusive=False) as reader:  # a status command
            assert (await reader.summary()).pending_job_ids == ("job-1",)
    async with BatchJournal.open(path) as again:  # released on close
        assert (await again.summary()).created == 1
