"""Kill tests of resumable batches: journal + deterministic tokens + token lookup.

``test_transcribe_many_killed_...`` drives the real ``transcribe_many(journal=PATH)`` in a child
process, killed after the n-th progress event of a kind (uploads, creations, polls of the other
sources in flight), rerun until it finishes, then once more (every source skipped). The first
test drives the journal by hand (see ``_DRIVER``: the resume rules of ``BatchJournal.plan``, the
journal written before each step it guards) in a child process, SIGKILLs the child at chosen
points (mid-upload, between a creation request and its response, mid-poll, right after a
record), reruns the same command until it finishes, and checks against the in-process emulator:
every source exactly one job (0 duplicates), no source uploaded again after its upload was
journalled, every source finished in the journal, and a sound journal file.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import sys
import textwrap
from collections import Counter
from pathlib import Path

import anyio
import pytest

from gladia_async import TOKEN_KEY
from gladia_async._journal import BatchJournal
from gladia_async.testing import run_emulator

from .conftest import write_wav

pytestmark = pytest.mark.reliability

_DRIVER = textwrap.dedent(
    """
    import sys
    import anyio
    from gladia_async import GladiaSession, PollPolicy, TOKEN_KEY, TranscriptionOptions
    from gladia_async import unstructure
    from gladia_async._journal import BatchJournal, source_identity

    url, key, journal_path, *paths = sys.argv[1:]
    options = TranscriptionOptions(diarization=True)

    def say(*words):
        print(*words, flush=True)

    async def find_by_token(gladia, token):
        async with gladia.iter_jobs(
            custom_metadata={TOKEN_KEY: token}, page_size=1, max_items=1, prefetch=False
        ) as jobs:
            async for job in jobs:
                return job.id
        return None

    async def one(gladia, journal, step, limit):
        async with limit:
            identity, entry = step.identity, step.entry
            if step.action == "skip":
                return
            job_id = entry.job_id if step.action == "adopt" else None
            if job_id is None and step.lookup_first:
                job_id = await find_by_token(gladia, identity.token)
                if job_id is not None:
                    await journal.record_job(identity, job_id)
            if job_id is None:
                if step.action == "submit":
                    audio = entry.uploaded_audio()
                else:
                    say("upload-start", identity.display)
                    audio = await gladia.upload(identity.display)
                    await journal.record_upload(identity, audio)  # before any creation
                    say("uploaded", identity.display)
                say("create-start", identity.display)
                created = await gladia.submit(
                    audio, options, custom_metadata={TOKEN_KEY: identity.token}
                )
                job_id = created.id
                await journal.record_job(identity, job_id)
                say("created", identity.display)
            say("poll", identity.display)
            job = await gladia.wait(job_id)
            await journal.record_final(identity, status=job.status.value, job_id=job_id)
            say("final", identity.display)

    async def main():
        poll = PollPolicy(interval_initial=0.02, interval_max=0.05, deadline=60)
        async with BatchJournal.open(journal_path) as journal:
            steps = await journal.plan([source_identity(p, options) for p in paths])
            say("plan", *sorted(s.action for s in steps))
            async with GladiaSession(api_key=key, base_url=url, poll=poll) as gladia:
                limit = anyio.CapacityLimiter(8)
                async with anyio.create_task_group() as tg:
                    for step in steps:
                        tg.start_soon(one, gladia, journal, step, limit)
        say("done")

    anyio.run(main)
    """
)

#: Where each run is killed: (event to wait for, how many of them to let pass first).
_KILL_EVENTS = ("upload-start", "create-start", "poll", "uploaded", "created", "final")


async def _run_once(
    args: list[str], kill_at: tuple[str, int] | None, sig: signal.Signals = signal.SIGKILL
) -> tuple[bool, list[str]]:
    """Run the driver; send it ``sig`` at ``kill_at``. Return (finished cleanly, lines seen)."""
    seen: list[str] = []
    async with await anyio.open_process(
        [sys.executable, "-c", _DRIVER, *args],
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    ) as process:
        assert process.stdout is not None
        buffer = b""
        count = 0
        killed = False
        async for chunk in process.stdout:
            buffer += chunk
            *lines, rest = buffer.split(b"\n")
            buffer = rest
            for raw in lines:
                line = raw.decode()
                seen.append(line)
                if kill_at is not None and not killed and line.startswith(kill_at[0] + " "):
                    count += 1
                    if count > kill_at[1]:
                        process.send_signal(sig)
                        killed = True
        code = await process.wait()
    if killed and code != 0:  # (a SIGINT may land after the last source finished)
        assert code in (-sig, 1, 130), (code, seen[-5:])
        return False, seen
    assert code == 0, seen[-5:]
    return True, seen


@pytest.mark.parametrize(
    ("seed", "sig"), [(7, signal.SIGKILL), (8, signal.SIGKILL), (9, signal.SIGINT)]
)
async def test_a_batch_killed_at_many_points_resumes_to_exactly_one_job_per_source(
    tmp_path: Path, seed: int, sig: signal.Signals
) -> None:
    rng = random.Random(seed)
    paths = [write_wav(tmp_path / f"s{n:03d}.wav", seconds=0.05) for n in range(40)]
    journal_path = tmp_path / "batch.journal"
    kills = [(_KILL_EVENTS[n % len(_KILL_EVENTS)], rng.randint(0, 12)) for n in range(12)]
    async with run_emulator(job_duration=0.15, latency=0.01) as emu:
        args = [emu.url, emu.api_key, str(journal_path), *map(str, paths)]
        runs = 0
        finished = False
        # Uploads a kill may have cut between the request and its journal record.
        allowed = Counter({path.name: 1 for path in paths})
        for kill_at in [*kills, None, None]:
            runs += 1
            finished, seen = await _run_once(args, kill_at, sig)
            started = {line.split(" ", 1)[1] for line in seen if line.startswith("upload-start")}
            recorded = {line.split(" ", 1)[1] for line in seen if line.startswith("uploaded")}
            allowed.update(Path(name).name for name in started - recorded)
            if finished:
                break
        assert finished, "the batch never finished"
        _, last = await _run_once(args, None)  # a rerun of a finished batch does nothing
        emulator = emu.emulator
        jobs = [emulator.jobs[job_id] for job_id in emulator.jobs]
        uploads = list(emulator._uploads.values())  # in upload order
    assert last[0] == "plan " + " ".join(["skip"] * len(paths))
    tokens = Counter(job["custom_metadata"][TOKEN_KEY] for job in jobs)
    assert len(tokens) == len(paths) and set(tokens.values()) == {1}, "duplicate jobs"
    async with BatchJournal.open(journal_path) as journal:
        entries = await journal.entries()
    assert len(entries) == len(paths)
    assert {e.status for e in entries} == {"done"}
    assert {e.job_id for e in entries} == {job["id"] for job in jobs}
    # Every extra upload of a file is explained by a kill before its upload was journalled,
    # and the upload each job used is its file's last one.
    per_file = Counter(u.filename for u in uploads)
    assert all(per_file[name] <= allowed[name] for name in per_file), (per_file, allowed)
    last_upload = {u.filename: u.id for u in uploads}
    for entry in entries:
        assert entry.audio_url is not None
        assert entry.audio_url.rsplit("/", 1)[1] == last_upload[Path(entry.display).name]
    with sqlite3.connect(journal_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert runs >= 10  # really killed that many times


_BATCH_DRIVER = textwrap.dedent(
    """
    import sys
    import anyio
    from gladia_async import GladiaSession, PollPolicy, TranscriptionOptions

    url, key, journal_path, *paths = sys.argv[1:]
    options = TranscriptionOptions(diarization=True)
    last = {}

    def progress(p):
        # One line per stage event: the test kills the process after the n-th of a kind.
        for name in ("uploaded", "submitted", "done", "adopted", "reused_uploads"):
            value = getattr(p, name)
            if value != last.get(name, 0):
                last[name] = value
                print(name, value, flush=True)

    async def main():
        poll = PollPolicy(interval_initial=0.02, interval_max=0.05, deadline=60)
        async with GladiaSession(api_key=key, base_url=url, poll=poll) as gladia:
            async with gladia.transcribe_many(
                paths, options, journal=journal_path, on_progress=progress
            ) as outcomes:
                async for outcome in outcomes:
                    print("outcome", outcome.index, outcome.ok, outcome.resumed, flush=True)
        print("finished", flush=True)

    anyio.run(main)
    """
)

#: transcribe_many's progress events: killing after one is mid-upload, mid-creation or
#: mid-poll for the other sources in flight (8 uploads, 16 creations, 32 polls at once).
_BATCH_EVENTS = ("uploaded", "submitted", "done")


@pytest.mark.parametrize(
    ("seed", "sig"), [(17, signal.SIGKILL), (18, signal.SIGKILL), (19, signal.SIGINT)]
)
async def test_transcribe_many_killed_at_many_points_resumes_exactly_once(
    tmp_path: Path, seed: int, sig: signal.Signals
) -> None:
    rng = random.Random(seed)
    n = 150
    paths = [write_wav(tmp_path / f"s{i:03d}.wav", seconds=0.05 + i / 10_000) for i in range(n)]
    journal_path = tmp_path / "batch.journal"
    kills = [(_BATCH_EVENTS[i % len(_BATCH_EVENTS)], rng.randint(0, 8)) for i in range(20)]
    # Upload ids the journal held after each run: a journalled upload is never replaced.
    journalled: dict[str, str] = {}
    async with run_emulator(job_duration=0.15, latency=0.01) as emu:
        args = [emu.url, emu.api_key, str(journal_path), *map(str, paths)]
        runs, finished, seen = 0, False, []
        for kill_at in [*kills, None, None]:
            runs += 1
            finished, seen = await _run_batch_once(args, kill_at, sig)
            if journal_path.exists():
                async with BatchJournal.open(journal_path, exclusive=False) as journal:
                    for entry in await journal.entries():
                        if entry.audio_url is not None:
                            previous = journalled.setdefault(entry.display, entry.audio_url)
                            assert previous == entry.audio_url, "a journalled upload was redone"
            if finished:
                break
        assert finished, "the batch never finished"
        indices = [int(line.split()[1]) for line in seen if line.startswith("outcome ")]
        assert sorted(indices) == list(range(n)), "every source exactly one outcome"
        assert all(line.split()[2] == "True" for line in seen if line.startswith("outcome "))
        _, last = await _run_batch_once(args, None)  # a rerun of a finished batch does nothing
        jobs = list(emu.emulator.jobs.values())
        uploads = list(emu.emulator._uploads.values())
    assert {line.split()[3] for line in last if line.startswith("outcome ")} == {"skipped"}
    tokens = Counter(job["custom_metadata"][TOKEN_KEY] for job in jobs)
    assert len(tokens) == n and set(tokens.values()) == {1}, "duplicate jobs"
    async with BatchJournal.open(journal_path) as journal:
        entries = await journal.entries()
    assert len(entries) == n and {e.status for e in entries} == {"done"}
    assert {e.job_id for e in entries} == {job["id"] for job in jobs}
    upload_ids = {u.id for u in uploads}
    for entry in entries:
        assert entry.audio_url is not None and entry.audio_url.rsplit("/", 1)[1] in upload_ids
        assert journalled.get(entry.display, entry.audio_url) == entry.audio_url
    with sqlite3.connect(journal_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert runs >= 10  # really killed that many times


async def _run_batch_once(
    args: list[str], kill_at: tuple[str, int] | None, sig: signal.Signals = signal.SIGKILL
) -> tuple[bool, list[str]]:
    """Run the transcribe_many driver; send ``sig`` at ``kill_at``. (finished, lines seen)."""
    seen: list[str] = []
    async with await anyio.open_process(
        [sys.executable, "-c", _BATCH_DRIVER, *args],
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    ) as process:
        assert process.stdout is not None
        buffer = b""
        count = 0
        killed = False
        async for chunk in process.stdout:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for raw in lines:
                line = raw.decode()
                seen.append(line)
                if kill_at is not None and not killed and line.startswith(kill_at[0] + " "):
                    count += 1
                    if count > kill_at[1]:
                        process.send_signal(sig)
                        killed = True
        code = await process.wait()
    if killed and code != 0:
        assert code in (-sig, 1, 130), (code, seen[-5:])
        return False, seen
    assert code == 0, seen[-5:]
    return "finished" in seen, seen
