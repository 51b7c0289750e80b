"""Audio over Gladia's duration or size limit is refused before any request is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gladia_async import (
    MAX_AUDIO_DURATION_ENTERPRISE,
    AudioTooLargeError,
    AudioTooLongError,
    GladiaError,
    GladiaSession,
    InvalidInput,
    Limits,
    UnprocessableEntityError,
)

from ..audio_headers import sparse_wav, wav_header
from ..conftest import FAST_POLL, FAST_RETRY


@pytest.fixture
def long_wav(tmp_path: Path) -> Path:
    return sparse_wav(tmp_path / "long.wav", 140 * 60)


async def test_upload_of_a_140_minute_wav_sends_nothing(
    gladia: GladiaSession, emu: Any, long_wav: Path
) -> None:
    with pytest.raises(AudioTooLongError) as caught:
        await gladia.upload(long_wav)
    assert isinstance(caught.value, GladiaError) and isinstance(caught.value, InvalidInput)
    assert "135 minutes" in str(caught.value) and "2 h 20 min" in str(caught.value)
    assert "max_audio_duration" in str(caught.value)
    assert (caught.value.actual, caught.value.limit) == (8400.0, 8100.0)
    assert emu.stats.requests_total == 0


async def test_transcribe_of_a_140_minute_wav_sends_nothing(
    gladia: GladiaSession, emu: Any, long_wav: Path
) -> None:
    with pytest.raises(AudioTooLongError):
        await gladia.transcribe(long_wav)
    assert emu.stats.requests_total == 0


async def test_bytes_and_file_objects_are_checked_too(gladia: GladiaSession, emu: Any) -> None:
    blob = wav_header(0, rate=100, bits=8) + bytes(100 * 140 * 60)  # 140 min at 100 bytes/s
    with pytest.raises(AudioTooLongError):
        await gladia.upload(blob)
    import io

    with pytest.raises(AudioTooLongError):
        await gladia.upload(io.BytesIO(blob))
    assert emu.stats.requests_total == 0


async def test_an_enterprise_limit_lets_the_long_file_through(emu: Any) -> None:
    long_wav = wav_header(0, rate=100, bits=8) + bytes(100 * 140 * 60)  # 140 min, 840 kB
    async with GladiaSession(
        api_key=emu.api_key,
        base_url=emu.url,
        poll=FAST_POLL,
        retry=FAST_RETRY,
        limits=Limits(max_audio_duration=MAX_AUDIO_DURATION_ENTERPRISE),
        max_concurrency=4,  # rebuilding the limits for concurrency keeps the audio limit
    ) as gladia:
        assert gladia.limits.max_audio_duration == MAX_AUDIO_DURATION_ENTERPRISE
        with pytest.raises(GladiaError) as caught:
            await gladia.upload(long_wav)  # sent; the emulator applies its own (default) limit
    assert isinstance(caught.value, UnprocessableEntityError), caught.value
    assert "maximum allowed duration of 135 minutes" in caught.value.message
    assert emu.stats.uploads == 0 and emu.stats.requests_total >= 1


async def test_a_lower_size_limit_is_checked_before_sending(emu: Any, tmp_path: Path) -> None:
    path = sparse_wav(tmp_path / "ten.wav", 10)
    async with GladiaSession(
        api_key=emu.api_key, base_url=emu.url, limits=Limits(max_audio_bytes=100_000)
    ) as gladia:
        with pytest.raises(AudioTooLargeError) as caught:
            await gladia.upload(path)
    assert "MB" in str(caught.value) and caught.value.limit == 100_000
    assert emu.stats.requests_total == 0


async def test_unknown_duration_is_never_refused(gladia: GladiaSession, emu: Any) -> None:
    uploaded = await gladia.upload(b"\xff\xf1" + bytes(5000), filename="clip.aac")
    assert uploaded.audio_url


async def test_transcribe_many_makes_the_long_file_its_own_outcome(
    gladia: GladiaSession, emu: Any, long_wav: Path, wav: Path
) -> None:
    async with gladia.transcribe_many([long_wav, wav]) as outcomes:
        results = {Path(str(o.source)).name: o async for o in outcomes}
    assert isinstance(results["long.wav"].error, AudioTooLongError)
    assert results["call.wav"].ok
    assert emu.stats.uploads == 1, "only the file within the limits was uploaded"


async def test_the_emulator_refuses_too_long_audio_as_the_service_does(emu: Any) -> None:
    import aiohttp

    blob = wav_header(0, rate=100, bits=8) + bytes(100 * 140 * 60)
    form = aiohttp.FormData()
    form.add_field("audio", blob, filename="long.wav", content_type="audio/wav")
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{emu.url}/v2/upload", data=form, headers={"x-gladia-key": emu.api_key}) as r,
    ):
        body = await r.json()
    assert r.status == 422
    assert "135 minutes" in body["message"]
    assert emu.stats.uploads == 0


async def test_the_enterprise_emulator_takes_four_hours_fifteen() -> None:
    from gladia_async.testing import run_emulator

    async with run_emulator(plan="enterprise") as emu:
        assert emu.emulator.max_audio_duration == MAX_AUDIO_DURATION_ENTERPRISE
