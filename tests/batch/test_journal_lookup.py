"""BatchJournal.lookup: the entry and the changed flag of a source from one read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from gladia_async._batch.identity import source_identity
from gladia_async._batch.journal import BatchJournal

from ..conftest import write_wav


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
