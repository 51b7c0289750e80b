"""The live recording downloads as a job's audio does: one routine, one time class, one check.

A long live recording takes long to download by nature: like every upload and download, it
is bounded by ``Timeouts.upload`` (and the stall bounds), never by ``Timeouts.request``. And
a destination that cannot be written raises :class:`InvalidInput` before any request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from gladia_async import GladiaSession, InvalidInput, RetryPolicy, Timeouts
from tests.hostile.raw_http import KEY
from tests.hostile.slow_files import slow_files

JOB_ID = "6a1c5b0e-2f4d-4c8a-9e3b-7d5f1a2b3c4d"

Download = Callable[[GladiaSession, Path], Awaitable[Path]]
DOWNLOADS: dict[str, Download] = {
    "live recording": lambda gladia, dest: gladia.download_live_audio(JOB_ID, dest),
    "job audio": lambda gladia, dest: gladia.download_audio(JOB_ID, dest),
}

pytestmark = pytest.mark.reliability


@pytest.mark.parametrize("download", DOWNLOADS.values(), ids=DOWNLOADS.keys())
async def test_a_download_slower_than_the_request_timeout_completes(
    download: Download, tmp_path: Path
) -> None:
    # 8 chunks, one every 0.15 s: ~1.2 s of steady progress, over twice Timeouts.request.
    timeouts = Timeouts(request=0.5, read=5.0, upload=30.0)
    async with slow_files(chunks=8, interval=0.15) as server:
        async with GladiaSession(
            api_key=KEY, base_url=server.url, timeouts=timeouts, retry=RetryPolicy(attempts=1)
        ) as gladia:
            with anyio.fail_after(20):
                path = await download(gladia, tmp_path / "recording.wav")
    assert path == tmp_path / "recording.wav"
    assert path.stat().st_size == server.size
    assert server.requests == 1


@pytest.mark.parametrize("download", DOWNLOADS.values(), ids=DOWNLOADS.keys())
@pytest.mark.parametrize(
    ("dest", "message"),
    [
        (lambda tmp: tmp / "missing" / "recording.wav", "does not exist"),
        (lambda tmp: tmp, "is a directory"),
    ],
    ids=["missing folder", "a folder"],
)
async def test_an_unwritable_destination_raises_invalid_input_before_any_request(
    download: Download, dest: Callable[[Path], Path], message: str, tmp_path: Path
) -> None:
    async with slow_files(chunks=1, interval=0.0) as server:
        async with GladiaSession(api_key=KEY, base_url=server.url) as gladia:
            with pytest.raises(InvalidInput, match=message) as raised:
                await download(gladia, dest(tmp_path))
    assert raised.value.argument == "dest"
    assert server.requests == 0
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind either
