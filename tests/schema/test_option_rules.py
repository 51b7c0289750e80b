"""Rules between options the spec cannot express: the SDK refuses them when the options are
built, and the emulator answers the same requests with a 400, as the service does."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from gladia_async import (
    GladiaSession,
    InvalidInput,
    LiveOptions,
    TranscriptionOptions,
    options_from_dict,
    structure,
)

AUDIO_URL = "https://example.com/call.wav"

SOLARIA_3_REFUSED = [
    (
        {"model": "solaria-3", "language_config": {"languages": ["en", "pt"]}},
        "language_config.languages[1]",
        "language_config.languages.1",
    ),
    (
        {"model": "solaria-3", "language_config": {"languages": ["fr"], "code_switching": True}},
        "language_config.code_switching",
        "language_config.code_switching",
    ),
    (
        {
            "model": "solaria-3",
            "language_config": {"languages": ["fr"]},
            "enable_code_switching": True,
        },
        "enable_code_switching",
        "enable_code_switching",
    ),
]


async def post(emu: Any, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{emu.url}{path}", json=body, headers={"x-gladia-key": emu.api_key}) as r,
    ):
        return r.status, await r.json()


@pytest.mark.parametrize(("options", "sdk_path", "service_path"), SOLARIA_3_REFUSED)
async def test_solaria_3_language_rules_sdk_and_emulator(
    emu: Any, options: dict[str, Any], sdk_path: str, service_path: str
) -> None:
    with pytest.raises(InvalidInput) as built:
        TranscriptionOptions(**options)
    assert built.value.argument == sdk_path
    assert "solaria" in built.value.problem  # the hint names the model to use instead
    with pytest.raises(InvalidInput) as parsed:
        options_from_dict(options)
    assert parsed.value.argument == sdk_path
    status, body = await post(emu, "/v2/pre-recorded", {**options, "audio_url": AUDIO_URL})
    assert status == 400
    assert body["message"] == "Validation failed"
    assert len(body["validation_errors"]) == 1
    assert body["validation_errors"][0].startswith(f'Field "{service_path}"')


async def test_solaria_3_with_its_languages_is_accepted(emu: Any, gladia: GladiaSession) -> None:
    options = TranscriptionOptions(model="solaria-3", language_config={"languages": ["fr", "en"]})
    job = await gladia.transcribe(AUDIO_URL, options)
    assert job.request_params is not None
    assert str(job.request_params.model) == "solaria-3"


async def test_solaria_3_without_languages_is_accepted(emu: Any, gladia: GladiaSession) -> None:
    """Gladia's SDKs send solaria-3 with no languages; the docs say languages *can* be passed."""
    job = await gladia.transcribe(AUDIO_URL, TranscriptionOptions(model="solaria-3"))
    assert job.request_params is not None
    assert str(job.request_params.model) == "solaria-3"
    status, _ = await post(emu, "/v2/pre-recorded", {"model": "solaria-3", "audio_url": AUDIO_URL})
    assert status == 201


def test_a_parsed_answer_is_never_refused_by_the_rules() -> None:
    parsed = structure({"model": "solaria-3", "enable_code_switching": True}, TranscriptionOptions)
    assert str(parsed.model) == "solaria-3"


def vocabulary(entries: list[str]) -> dict[str, Any]:
    return {
        "encoding": "wav/pcm",
        "realtime_processing": {
            "custom_vocabulary": True,
            "custom_vocabulary_config": {"vocabulary": entries},
        },
    }


VOCABULARY_PATH = "realtime_processing.custom_vocabulary_config.vocabulary"
VOCABULARY_REFUSED = [
    (["word"] * 101, VOCABULARY_PATH, "101 entries"),
    (["fine", "one two three four five six"], f"{VOCABULARY_PATH}[1]", "6 words"),
    (["x" * 5001, "y" * 5000], VOCABULARY_PATH, "10,001 characters"),
]


@pytest.mark.parametrize(("entries", "sdk_path", "said"), VOCABULARY_REFUSED)
async def test_live_vocabulary_limits_sdk_and_emulator(
    emu: Any, entries: list[str], sdk_path: str, said: str
) -> None:
    with pytest.raises(InvalidInput) as built:
        LiveOptions(**vocabulary(entries))
    assert built.value.argument == sdk_path
    assert said in built.value.problem
    status, body = await post(emu, "/v2/live", vocabulary(entries))
    assert status == 400
    service_path = sdk_path.replace("[", ".").rstrip("]")
    assert body["validation_errors"][0].startswith(f'Field "{service_path}"'), body


def test_live_vocabulary_at_the_limits_is_accepted() -> None:
    LiveOptions(**vocabulary(["one two three four five"] + ["w" * 100] * 99))


async def test_custom_metadata_over_2000_characters_sdk_and_emulator(
    emu: Any, gladia: GladiaSession
) -> None:
    meta = {"note": "x" * 1990}  # {"note":"..."} is 2,001 characters as compact JSON
    with pytest.raises(InvalidInput) as built:
        TranscriptionOptions(custom_metadata=meta)
    assert built.value.argument == "custom_metadata" and "2,001 characters" in str(built.value)
    with pytest.raises(InvalidInput):
        LiveOptions(encoding="wav/pcm", custom_metadata=meta)
    with pytest.raises(InvalidInput):  # merged by submit(): checked after the merge
        await gladia.submit(AUDIO_URL, custom_metadata=meta)
    TranscriptionOptions(custom_metadata={"note": "x" * 1989})  # exactly 2,000: fine
    status, body = await post(
        emu, "/v2/pre-recorded", {"audio_url": AUDIO_URL, "custom_metadata": meta}
    )
    assert status == 422 and "2000 characters" in body["message"]
    assert emu.stats.jobs_created == 0
