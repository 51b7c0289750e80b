"""Fidelity to the real service (issue 17): what passes against the emulator passes against Gladia.

* the emulator reads the ``custom_metadata`` filter in both forms (JSON, and the official SDK's
  bracket keys), answers 400 to one it cannot read, and a filter matching nothing returns nothing;
* ``model`` is accepted and echoed; ``request_params`` echoes what the service echoes;
* the shapes Gladia's docs show (sentiment, sentences, chapters; subtitles inside translations)
  come back typed, never as stringified structures;
* the SDK and the emulator read the spec through the same errata (``spec/ERRATA.md``): every
  ``TranscriptionOptions`` the SDK can build passes the emulator's validation;
* strict options from JSON: wrong types, misspelt keys and unknown enum values are refused;
* every example in ``spec/`` and in Gladia's vendored docs round-trips to the same JSON.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from gladia_async import (
    GladiaSession,
    InvalidInput,
    TranscriptionModel,
    TranscriptionOptions,
    options_from_dict,
)
from gladia_async._schema import models as m
from gladia_async._schema.converter import (
    ResponseFormatError,
    structure,
    structure_or_raise,
    unstructure,
    validation_error_items,
)
from gladia_async.testing import RunningEmulator, run_emulator
from gladia_async.testing._errata import apply as apply_errata
from gladia_async.testing._validation import ECHOED_DEFAULTS, rule_errors, validate

from ..conftest import FAST_POLL, FAST_RETRY

ROOT = Path(__file__).resolve().parents[2]
# Gladia's docs pages vendored next to the checkout (../shared/reference/docs, from the main
# checkout or from a worktree one level deeper); GLADIA_REFERENCE_DOCS points elsewhere.
DOCS = next(
    (
        path
        for path in (
            Path(os.environ.get("GLADIA_REFERENCE_DOCS", "/nonexistent")),
            ROOT.parent / "shared" / "reference" / "docs",
            ROOT.parent.parent / "shared" / "reference" / "docs",
        )
        if path.is_dir()
    ),
    ROOT / "docs-not-vendored",
)
SPEC = apply_errata(json.loads((ROOT / "spec" / "gladia-openapi.json").read_text("utf-8")))
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
EXTERNAL = "https://files.example.com/audio/meeting.mp3"


def session_for(emu: RunningEmulator) -> GladiaSession:
    return GladiaSession(api_key=emu.api_key, base_url=emu.url, poll=FAST_POLL, retry=FAST_RETRY)


async def listed(emu: RunningEmulator, query: str, *, limit: int = 100) -> tuple[int, Any]:
    """GET /v2/pre-recorded?query (raw, so the query is sent exactly as written)."""
    url = f"{emu.url}/v2/pre-recorded?{query}&limit={limit}"
    async with aiohttp.ClientSession(headers=emu.headers) as http, http.get(url) as resp:
        return resp.status, await resp.json()


async def walk_ids(emu: RunningEmulator, query: str) -> set[str]:
    """Every id of a filtered listing, following ``next`` one item at a time."""
    status, page = await listed(emu, query, limit=1)
    assert status == 200, page
    ids = {item["id"] for item in page["items"]}
    async with aiohttp.ClientSession(headers=emu.headers) as http:
        while page["next"]:
            async with http.get(page["next"]) as resp:
                assert resp.status == 200
                page = await resp.json()
            ids |= {item["id"] for item in page["items"]}
    return ids


# -- the custom_metadata filter --------------------------------------------------------------


async def test_bracket_filter_as_the_official_sdk_sends_it() -> None:
    async with run_emulator() as emu:
        mine = emu.emulator.seed_jobs(3, custom_metadata={"user": 42, "team": {"id": "a"}})
        other = emu.emulator.seed_jobs(4, custom_metadata={"user": 7, "team": {"id": "b"}})
        emu.emulator.seed_jobs(2)  # no metadata at all
        assert await walk_ids(emu, "custom_metadata[user]=42") == set(mine)
        assert await walk_ids(emu, "custom_metadata%5Buser%5D=7") == set(other)  # encoded
        assert await walk_ids(emu, "custom_metadata[team][id]=b") == set(other)
        json_form = quote(json.dumps({"user": "42"}))
        assert await walk_ids(emu, f"custom_metadata={json_form}") == set(mine)


async def test_a_filter_matching_nothing_returns_nothing() -> None:
    async with run_emulator() as emu:
        emu.emulator.seed_jobs(5, custom_metadata={"user": "42"})
        nothing = quote(json.dumps({"user": "nobody"}))
        for query in ("custom_metadata[user]=nobody", f"custom_metadata={nothing}"):
            status, page = await listed(emu, query)
            assert status == 200
            assert page["items"] == [] and page["next"] is None, query


@pytest.mark.parametrize(
    "query",
    [
        "custom_metadata[user=42",
        "custom_metadata.user=42",
        "custom_metadata[]=42",
        "custom_metadata[a][]x=1",
        "custom_metadata[user]=1&custom_metadata[user]=2",
        "custom_metadata=not-json",
        "custom_metadata=%5B1%5D",
    ],
)
async def test_an_unreadable_filter_is_a_400_never_ignored(query: str) -> None:
    async with run_emulator() as emu:
        emu.emulator.seed_jobs(3, custom_metadata={"user": "42"})
        status, body = await listed(emu, query)
        assert status == 400, body
        assert body["validation_errors"]


async def test_list_then_delete_on_a_bracket_filter_deletes_only_matches() -> None:
    async with run_emulator() as emu:
        keep = emu.emulator.seed_jobs(4, custom_metadata={"batch": "keep"})
        drop = emu.emulator.seed_jobs(3, custom_metadata={"batch": "drop"})
        async with aiohttp.ClientSession(headers=emu.headers) as http:
            for job_id in await walk_ids(emu, "custom_metadata[batch]=drop"):
                async with http.delete(f"{emu.url}/v2/pre-recorded/{job_id}") as resp:
                    assert resp.status == 202
        assert set(emu.emulator.jobs) == set(keep)
        assert not set(drop) & set(emu.emulator.jobs)


# -- model and request_params ----------------------------------------------------------------


async def test_model_is_accepted_and_echoed(wav: Path) -> None:
    async with run_emulator(job_duration=0.05) as emu, session_for(emu) as gladia:
        # solaria-3 takes its language(s) among en, fr, de, es, it (Gladia's docs).
        options = TranscriptionOptions(
            model=TranscriptionModel.SOLARIA_3, language_config={"languages": ["en"]}
        )
        job = await gladia.transcribe(wav, options)
        assert job.request_params is not None
        assert job.request_params.model is TranscriptionModel.SOLARIA_3
        default = await gladia.transcribe(wav)
        assert default.request_params is not None
        assert default.request_params.model is TranscriptionModel.SOLARIA_1


async def test_an_unknown_model_is_a_400() -> None:
    async with run_emulator() as emu, aiohttp.ClientSession(headers=emu.headers) as http:
        body = {"audio_url": EXTERNAL, "model": "solaria-42"}
        async with http.post(f"{emu.url}/v2/pre-recorded", json=body) as resp:
            assert resp.status == 400
            assert any("model" in e for e in (await resp.json())["validation_errors"])


async def test_request_params_echo_what_the_service_echoes() -> None:
    async with (
        run_emulator(job_duration=0) as emu,
        aiohttp.ClientSession(headers=emu.headers) as http,
    ):
        body = {"audio_url": EXTERNAL, "diarization": True, "custom_vocabulary": False}
        async with http.post(f"{emu.url}/v2/pre-recorded", json=body) as resp:
            created = await resp.json()
        async with http.get(created["result_url"]) as resp:
            params = (await resp.json())["request_params"]
    # What was sent, and the defaults of the spec's own real-answer example; no others.
    assert set(params) == ECHOED_DEFAULTS | {"audio_url", "custom_vocabulary"}
    assert params["diarization"] is True and params["custom_vocabulary"] is False
    for omitted in ("callback", "audio_to_llm", "pii_redaction"):
        assert omitted not in params
    example = SPEC["paths"]["/v2/transcription/{id}"]["get"]["responses"]["200"]["content"]
    real = example["application/json"]["schema"]["example"]["request_params"]
    assert set(real) <= set(params), "everything the real answer shows is echoed"


# -- documented shapes, typed ----------------------------------------------------------------


async def test_documented_result_shapes_come_back_typed(wav: Path) -> None:
    options = TranscriptionOptions(
        diarization=True,
        sentences=True,
        subtitles=True,
        subtitles_config=m.SubtitlesConfig(formats=[m.SubtitlesFormat.SRT, m.SubtitlesFormat.VTT]),
        translation=True,
        translation_config=m.TranslationConfig(
            target_languages=[m.TranslationLanguageCode.FR, m.TranslationLanguageCode.DE]
        ),
        sentiment_analysis=True,
        chapterization=True,
        pii_redaction=True,
        pii_redaction_config=m.PiiRedactionConfig(
            entity_types=[m.PiiRedactionEntityType.GDPR, m.PiiRedactionEntityType.EMAIL_ADDRESS]
        ),
    )
    async with run_emulator(job_duration=0.05) as emu, session_for(emu) as gladia:
        job = await gladia.transcribe(wav, options)
    result = job.result
    assert result is not None and result.translation is not None
    translations = result.translation.results
    assert translations is not None and len(translations) == 2
    for translated in translations:  # subtitles inside each translation, as the service does
        assert translated.subtitles is not None
        assert [s.format for s in translated.subtitles] == ["srt", "vtt"]
        assert translated.sentences and isinstance(translated.sentences[0].results, list)
    assert result.sentiment_analysis is not None
    rows = result.sentiment_analysis.results
    assert isinstance(rows, list) and isinstance(rows[0], m.SentimentAnalysisResult)
    assert result.sentences is not None and result.sentences.results
    assert isinstance(result.sentences.results[0], m.Sentence)
    assert result.sentences.results[0].words
    assert result.chapterization is not None
    chapters = result.chapterization.results
    assert isinstance(chapters, list) and isinstance(chapters[0], m.Chapter)
    assert chapters[0].keywords is not None


def test_union_fields_accept_both_shapes() -> None:
    addon = {"success": True, "is_empty": False, "exec_time": 0.5, "error": None}
    sentiment = structure({**addon, "results": "[]"}, m.SentimentAnalysis)
    assert sentiment.results == "[]"
    rows = [{"text": "x", "sentiment": "neutral", "emotion": "calm", "start": 0, "end": 1}]
    rows[0]["channel"] = 0
    sentiment = structure({**addon, "results": rows}, m.SentimentAnalysis)
    assert isinstance(sentiment.results, list) and sentiment.results[0].emotion == "calm"
    sentences = structure({**addon, "results": ["plain", {"sentence": "s"}]}, m.Sentences)
    assert sentences.results == ["plain", m.Sentence(sentence="s")]
    chapters = structure({**addon, "results": {"chapters": []}}, m.Chapterization)
    assert chapters.results == {"chapters": []}
    for data in (
        {**addon, "results": rows},
        {**addon, "results": ["plain", {"sentence": "s", "new": 1}]},
    ):
        cls = m.SentimentAnalysis if data["results"] is rows else m.Sentences
        assert unstructure(structure(data, cls)) == data


@pytest.mark.parametrize(
    ("cls", "data", "path"),
    [
        (m.Chapterization, {"results": 3}, "$.results"),
        (m.Chapterization, {"results": [{"keywords": "abc"}]}, "$.results[0].keywords"),
        (m.Chapterization, {"results": [{"gist": {"a": 1}}]}, "$.results[0].gist"),
        (m.Summarization, {"success": "false", "is_empty": False, "exec_time": 1}, "$.success"),
        (m.Sentences, {"results": [{"words": {"w": 1}}]}, "$.results[0].words"),
        (m.TranscriptionJob, [], "$"),
        (m.TranscriptionResult, {"metadata": []}, "$.metadata"),
        (m.Utterance, {"start": 0, "end": 1, "text": "x", "words": [{"word": "x"}]}, "$.words[0]"),
    ],
)
def test_every_structuring_failure_names_its_json_path(cls: Any, data: Any, path: str) -> None:
    base = {"success": True, "is_empty": False, "exec_time": 0.5}
    if cls in (m.Chapterization, m.Sentences):
        data = {**base, **data}
    with pytest.raises(ResponseFormatError) as info:
        structure_or_raise(data, cls)
    assert f"at {path}" in str(info.value)
    assert info.value.json_path.startswith(path)  # type: ignore[attr-defined]


def test_validation_errors_become_typed_items() -> None:
    items = validation_error_items(
        ['Field "language" must be a string', {"loc": ["body", "x"], "msg": "bad"}, 3]
    )
    assert items[0] == 'Field "language" must be a string'
    assert items[1] == m.ValidationErrorDetail(loc=["body", "x"], msg="bad")
    assert items[2] == "3"  # JSON text, never a Python repr
    error = {
        "timestamp": "2023-12-28T09:04:17.210Z",
        "path": "/v2/pre-recorded",
        "request_id": "G-821fe9df",
        "statusCode": 400,
        "message": "Validation failed",
        "validation_errors": [{"loc": ["a", 0], "msg": "m"}, "text"],
    }
    body = structure(error, m.BadRequestErrorResponse)
    assert unstructure(body) == error
    assert body.validation_errors == [m.ValidationErrorDetail(loc=["a", 0], msg="m"), "text"]


def test_live_messages_as_the_docs_show_them() -> None:
    message = {
        "type": "transcript",
        "session_id": "de70f43f-3041-46e0-892c-8e7f53800a22",
        "created_at": "2025-04-09T08:44:16.471Z",
        "data": {
            "id": "00_00000000",
            "utterance": {"text": "Hello", "start": 0.188, "end": 2.852, "language": "en"},
        },
    }
    parsed = structure(message, m.TranscriptMessage)
    assert parsed.data is not None and parsed.data.is_final is False
    assert parsed.data.utterance.words == [] and parsed.data.utterance.channel == 0
    assert parsed.data.utterance.confidence is None
    assert unstructure(parsed) == message


# -- one errata for the SDK and the emulator ---------------------------------------------------


def _valid_json(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """JSON values valid for ``schema`` (within its bounds, formats and enums)."""
    if "$ref" in schema:
        return _valid_json(SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]], depth)
    if "allOf" in schema:
        return _valid_json(schema["allOf"][0], depth)
    if "oneOf" in schema:
        return st.one_of([_valid_json(s, depth + 1) for s in schema["oneOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties")
        if not props:
            extra = schema.get("additionalProperties")
            values = _valid_json(extra, depth + 1) if isinstance(extra, dict) else st.text()
            return st.dictionaries(st.text(max_size=4), values, max_size=2)
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: _valid_json(p, depth + 1) for k, p in props.items() if k in required},
            optional={
                k: _valid_json(p, depth + 1)
                for k, p in props.items()
                if k not in required and k != "custom_metadata"
            },
        )
    if kind == "array":
        items = schema.get("items") or {"type": "string"}
        low = schema.get("minItems", 0)
        return st.lists(_valid_json(items, depth + 1), min_size=low, max_size=max(low, 2))
    if kind == "string":
        if schema.get("format") == "uri":
            return st.just("https://hooks.example.com/gladia")
        return st.text(min_size=1, max_size=8)
    if kind in ("number", "integer"):
        low, high = schema.get("minimum", -1000), schema.get("maximum", 1000)
        if kind == "integer":
            return st.integers(int(low), int(high))
        return st.floats(low, high, allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    return st.text(max_size=4)


_REQUEST = dict(SCHEMAS["InitTranscriptionRequest"])
_REQUEST["properties"] = {k: v for k, v in _REQUEST["properties"].items() if k != "audio_url"}
_REQUEST["required"] = []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_valid_json(_REQUEST))
def test_every_sdk_built_options_pass_the_emulator_validation(document: dict[str, Any]) -> None:
    try:
        options = options_from_dict(document)  # what the SDK builds from it (strict)
    except InvalidInput as exc:
        # A rule the spec cannot express (solaria-3's languages, ...): nothing is built.
        assert exc.argument.startswith(RULE_PATHS), exc
        reject()
    body = {**unstructure(options), "audio_url": EXTERNAL}
    assert validate("InitTranscriptionRequest", body, skip_format=frozenset({"audio_url"})) == []
    assert rule_errors("InitTranscriptionRequest", body) == []  # nor refused by the rules


RULE_PATHS = ("language_config", "enable_code_switching", "custom_metadata")


def test_pii_entity_types_built_by_the_sdk_pass_the_emulator() -> None:
    options = TranscriptionOptions(
        pii_redaction=True,
        pii_redaction_config=m.PiiRedactionConfig(entity_types=[m.PiiRedactionEntityType.GDPR]),
    )
    body = {**unstructure(options), "audio_url": EXTERNAL}
    assert validate("InitTranscriptionRequest", body) == []


def test_the_emulator_spec_subset_matches_the_errata() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gladia_async.testing._gen_spec_subset", "--check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


# -- strict options from JSON ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"diarization": "false"}, "options.diarization: expected true/false"),
        ({"diarization": "yes"}, "options.diarization: expected true/false"),
        ({"diarisation": True}, "did you mean 'diarization'"),
        ({"model": "solaria-2"}, "options.model: 'solaria-2' is not one of"),
        ({"diarization_config": {"number_of_speakers": "3"}}, "number_of_speakers"),
        ({"language_config": {"languages": "en"}}, "options.language_config.languages"),
        ({"subtitles_config": {"formats": ["srt", "ass"]}}, r"formats\[1\]"),
        ({"custom_metadata": ["a"]}, "options.custom_metadata: expected an object"),
    ],
)
def test_options_from_json_are_checked_strictly(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        options_from_dict(data)


def test_unknown_enum_values_only_when_allowed() -> None:
    options = options_from_dict({"model": "solaria-9"}, allow_unknown_values=True)
    assert options.model is not None and options.model.value == "solaria-9"
    assert options_from_dict({"model": "solaria-fusion", "moderation": True}) == (
        TranscriptionOptions(model=TranscriptionModel.SOLARIA_FUSION, moderation=True)
    )


# -- every example round-trips exactly -----------------------------------------------------------


def _response_examples() -> list[Any]:
    found = []
    for path, ops in SPEC["paths"].items():
        for method, op in ops.items():
            if not isinstance(op, dict):
                continue
            for code, response in op.get("responses", {}).items():
                for ctype, content in response.get("content", {}).items():
                    schema = content.get("schema", {})
                    if "json" not in ctype or "example" not in schema:
                        continue
                    if "$ref" in schema:
                        cls: Any = m.SPEC_SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
                    else:
                        cls = m.TranscriptionJob | m.LiveJob
                    found.append(pytest.param(cls, schema["example"], id=f"{method} {path} {code}"))
    return found


@pytest.mark.parametrize(("cls", "example"), _response_examples())
def test_spec_response_examples_round_trip_exactly(cls: Any, example: Any) -> None:
    assert unstructure(structure(example, cls)) == example


def _doc_examples() -> list[Any]:
    found = []
    for page in sorted(DOCS.glob("*.mdx")):
        text = page.read_text("utf-8")
        for i, block in enumerate(re.findall(r"```json[^\n]*\n(.*?)```", text, re.S)):
            block = re.sub(r"\s//[^\n]*", "", block).strip()  # the docs annotate with comments
            if not block.startswith("{"):
                block = "{" + block + "}"  # a fragment of a request body
            data = json.loads(block)
            if data.get("type") == "transcript":
                cls: Any = m.TranscriptMessage
            elif "audio_metadata" in data:
                cls = m.UploadedAudio
            elif "url" in data and "id" in data:
                cls = m.InitStreamingResponse
            elif "channels" in data:
                cls = m.StreamingRequest
            else:
                cls = m.TranscriptionRequest if "audio_url" in data else TranscriptionOptions
            found.append(pytest.param(cls, data, id=f"{page.stem} #{i}"))
    return found


DOC_EXAMPLES = _doc_examples() if DOCS.is_dir() else []


@pytest.mark.skipif(not DOC_EXAMPLES, reason="Gladia's docs are not vendored next to this checkout")
@pytest.mark.parametrize(("cls", "example"), DOC_EXAMPLES)
def test_gladia_docs_examples_round_trip_exactly(cls: Any, example: Any) -> None:
    assert unstructure(structure_or_raise(example, cls)) == example


# -- the official SDK against the emulator -----------------------------------------------------


def test_the_official_sdk_passes_every_probe_step() -> None:
    pytest.importorskip("gladiaio_sdk", reason="pip install --no-deps gladiaio-sdk==2.2.1")
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from official_sdk_probe import probe
    finally:
        sys.path.remove(str(ROOT / "tools"))
    import asyncio

    passed, total, failures = asyncio.run(probe())
    assert failures == [] and passed == total >= 26
