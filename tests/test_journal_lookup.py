"""BatchJournal.lookup: the entry and the changed flag of a source from one read."""

from __future__ import annotations

from pathlib import Path

from gladia_async._journal import BatchJournal, source_identity

from .conftest import write_wav


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
