"""The emulator's custom_metadata listing filter, answered from an index, matches as a scan does."""

from __future__ import annotations

import datetime as dt

from gladia_async import GladiaSession
from gladia_async.testing import run_emulator

UTC = dt.timezone.utc
START = dt.datetime(2026, 1, 1, tzinfo=UTC)


async def test_a_metadata_lookup_sees_adds_deletes_and_out_of_order_jobs() -> None:
    async with run_emulator() as emu:
        seed = emu.emulator.seed_jobs
        later = seed(2, custom_metadata={"token": "a", "n": 1}, created_at_start=START)
        # Created earlier than the jobs above, added after them: still listed in date order.
        earlier = seed(2, custom_metadata={"token": "a"}, created_at_start=START.replace(year=2025))
        other = seed(3, custom_metadata={"token": "b", "nested": {"k": "v"}})
        async with GladiaSession(api_key=emu.api_key, base_url=emu.url) as gladia:

            async def ids(**filters: object) -> list[str]:
                async with gladia.iter_jobs(**filters) as jobs:  # type: ignore[arg-type]
                    return [job.id async for job in jobs]

            assert await ids(custom_metadata={"token": "a"}) == [
                *reversed(later),
                *reversed(earlier),
            ]
            assert await ids(custom_metadata={"token": "a", "n": "1"}) == list(reversed(later))
            assert set(await ids(custom_metadata={"token": "b", "nested": {"k": "v"}})) == set(
                other
            )
            assert await ids(custom_metadata={"token": "c"}) == []
            await gladia.delete(later[0])
            await gladia.delete(other[1])
            assert await ids(custom_metadata={"token": "a"}) == [later[1], *reversed(earlier)]
            assert set(await ids(custom_metadata={"token": "b"})) == {other[0], other[2]}
