"""The receiver needs of a session only what its JobLookup protocol says: get, wait, transport."""

from __future__ import annotations

from pathlib import Path

import orjson

from gladia_async import CallbackReceiver, GladiaSession, TranscriptionJob
from gladia_async._http.transport import Transport
from gladia_async.testing import CallbackFaults, run_emulator

from .test_callbacks import Inbox, serve_aiohttp, session_for


class OnlyTheLookup:
    """A JobLookup over a session that exposes nothing else of it (and counts the calls)."""

    def __init__(self, session: GladiaSession) -> None:
        self._session = session
        self.calls: list[str] = []

    @property
    def transport(self) -> Transport:
        self.calls.append("transport")
        return self._session.transport

    async def get(self, job: str) -> TranscriptionJob:
        self.calls.append("get")
        return await self._session.get(job)

    async def wait(self, job: str, *, raise_on_error: bool = True) -> TranscriptionJob:
        self.calls.append("wait")
        return await self._session.wait(job, raise_on_error=raise_on_error)


async def test_verify_and_the_wait_fallback_go_through_the_job_lookup_alone(wav: Path) -> None:
    inbox = Inbox()
    async with (
        run_emulator(job_duration=0.05, callback_faults=CallbackFaults(lose=1.0)) as emu,
        session_for(emu) as gladia,
    ):
        lookup = OnlyTheLookup(gladia)
        receiver = CallbackReceiver(inbox, session=lookup, verify=True)
        async with serve_aiohttp(receiver) as url:
            created = await gladia.submit(await gladia.upload(wav), receiver.options(url))
            # The callback is lost: the result comes by the lookup's polling.
            result = await receiver.wait(created, fallback_after=0.1, timeout=20)
            assert lookup.calls == ["wait"]
            # A webhook (the emulator's callbacks are all lost) is verified by the lookup's get.
            body = orjson.dumps({"event": "transcription.success", "payload": {"id": created.id}})
            reply = await receiver.receive(body)
    assert result.transcription is not None
    assert reply.status == 200, reply.body
    assert lookup.calls == ["wait", "get"]
    assert [(d.name, d.job_id) for d in inbox.deliveries] == [("transcription.success", created.id)]
    assert inbox.deliveries[0].job is not None and inbox.deliveries[0].job.result == result
