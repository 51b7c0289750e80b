"""A batch cancelled (Ctrl-C, a timeout) leaves every job it knows of in its journal.

The moment cancellation is likeliest to lose something is right after an answer arrived and
before it was recorded: a job the API created (the batch has its id) or an upload it stored.
Those records are finished under cancellation, so the journal lists the job as pending (the
command line prints it) and a rerun adopts it without a lookup, and reuses the upload.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web

from gladia_async import BatchJournal, GladiaSession, PollPolicy, Progress, TranscriptionOptions
from gladia_async.testing import GladiaEmulator, run_emulator

from ..conftest import write_wav

OPTIONS = TranscriptionOptions(diarization=True)


@pytest.mark.parametrize("stage", ["submitted", "uploaded"])
async def test_a_batch_cancelled_right_after_an_answer_keeps_it_in_the_journal(
    tmp_path: Path, stage: str
) -> None:
    paths = [write_wav(tmp_path / f"s{i}.wav", seconds=0.05 + i / 1000) for i in range(12)]
    journal_path = tmp_path / "batch.journal"
    async with run_emulator(job_duration=5.0) as emu:
        poll = PollPolicy(interval_initial=0.05, interval_max=0.05)
        async with GladiaSession(api_key=emu.api_key, base_url=emu.url, poll=poll) as gladia:
            with anyio.CancelScope() as scope:

                def on_progress(progress: Progress) -> None:
                    # Called right after the answer, before the batch records it: cancel there,
                    # as a Ctrl-C landing at that moment would.
                    if getattr(progress, stage) == 3:
                        scope.cancel()

                async with gladia.transcribe_many(
                    paths, OPTIONS, journal=journal_path, on_progress=on_progress
                ) as outcomes:
                    async for _ in outcomes:
                        pass
            assert scope.cancel_called
        jobs = set(emu.emulator.jobs)
        uploads = set(emu.emulator.uploads)
    async with BatchJournal.open(journal_path) as journal:
        summary = await journal.summary()
        entries = await journal.entries()
        known = {e.audio_url.rsplit("/", 1)[1] for e in entries if e.audio_url is not None}
    # The 3 answers the batch had received are all recorded (creations or uploads still in
    # flight when it was cancelled may exist too: a rerun finds those by their token).
    if stage == "submitted":
        assert len(summary.pending_job_ids) >= 3, "every created job the batch knew is pending"
        assert set(summary.pending_job_ids) <= jobs
    else:
        assert len(known) >= 3, "every upload the batch received is in the journal"
        assert known <= uploads


class _CancelAfterCreation(GladiaEmulator):
    """Creates the job, then cancels the client before it reads the answer (a crash there)."""

    scope: anyio.CancelScope | None = None

    def make_app(self) -> web.Application:
        app = super().make_app()
        app.middlewares.insert(0, self._cancel_after_creation)
        return app

    @web.middleware
    async def _cancel_after_creation(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[Any]]
    ) -> Any:
        response = await handler(request)
        if self.scope is not None and self._route_key(request) == "POST /v2/pre-recorded":
            self.scope.cancel()
            await anyio.sleep_forever()  # the answer never leaves
        return response


async def test_a_url_source_stopped_between_creation_and_answer_is_adopted_not_recreated(
    tmp_path: Path,
) -> None:
    journal_path = tmp_path / "batch.journal"
    emulator = _CancelAfterCreation(job_duration=0.05)
    async with run_emulator(emulator=emulator) as emu:
        sources = [f"{emu.url}/audio/call.wav"]
        poll = PollPolicy(interval_initial=0.02, interval_max=0.05)
        async with GladiaSession(api_key=emu.api_key, base_url=emu.url, poll=poll) as gladia:
            with anyio.CancelScope() as emulator.scope:
                async with gladia.transcribe_many(
                    sources, OPTIONS, journal=journal_path
                ) as outcomes:
                    async for _ in outcomes:
                        pass
            emulator.scope = None
            assert len(emu.emulator.jobs) == 1, "the job was created, its answer never read"
            async with gladia.transcribe_many(sources, OPTIONS, journal=journal_path) as rerun:
                [outcome] = [outcome async for outcome in rerun]
        assert outcome.ok and outcome.resumed == "adopted"
        assert len(emu.emulator.jobs) == 1, "0 duplicate jobs"
