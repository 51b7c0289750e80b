"""``GLADIA_REGION`` / ``region=``: where live sessions run, sent as ``POST /v2/live?region=``."""

from __future__ import annotations

from typing import Any

import pytest

from gladia_async import ConfigurationError, GladiaSession, InvalidInput, LiveOptions

from ..conftest import FAST_POLL, FAST_RETRY

PCM = LiveOptions(encoding="wav/pcm", sample_rate=16_000, bit_depth=16, channels=1)


def session(emu: Any, **kwargs: Any) -> GladiaSession:
    return GladiaSession(
        api_key=emu.api_key, base_url=emu.url, poll=FAST_POLL, retry=FAST_RETRY, **kwargs
    )


async def live_init_query(gladia: GladiaSession, emu: Any, **kwargs: Any) -> str:
    async with gladia.live(PCM, **kwargs) as live:
        await live.send(b"\0" * 3200)
    inits = [r for r in emu.requests if r.method == "POST" and r.path == "/v2/live"]
    return str(inits[-1].query_string)


@pytest.fixture(autouse=True)
def no_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLADIA_REGION", raising=False)


async def test_GLADIA_REGION_is_sent_on_live_init(
    emu: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLADIA_REGION", "eu-west")
    async with session(emu) as gladia:
        assert gladia.region == "eu-west"
        assert await live_init_query(gladia, emu) == "region=eu-west"
        # The live call's own region wins over the session's.
        assert await live_init_query(gladia, emu, region="us-west") == "region=us-west"


async def test_region_argument_wins_over_the_environment(
    emu: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLADIA_REGION", "eu-west")
    async with session(emu, region="us-west") as gladia:
        assert await live_init_query(gladia, emu) == "region=us-west"


async def test_no_region_sends_none(emu: Any) -> None:
    async with session(emu) as gladia:
        assert gladia.region is None
        assert await live_init_query(gladia, emu) == ""


def test_a_wrong_GLADIA_REGION_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLADIA_REGION", "mars-north")
    with pytest.raises(ConfigurationError, match="GLADIA_REGION"):
        GladiaSession(api_key="k")


def test_a_wrong_region_argument_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="region"):
        GladiaSession(api_key="k", region="mars-north")  # type: ignore[arg-type]
