"""The generated models and the converter, checked against the OpenAPI spec itself.

* every object schema: an instance assembled from the spec's property examples structures into
  its class and round-trips (``unstructure(structure(x)) == x`` modulo dropped ``None``s, keys the
  schema does not declare, and datetime normalization);
* every JSON example of an operation response does the same;
* tolerance: unknown keys ignored, unknown enum values kept, lenient datetimes;
* strictness: a missing required field or a wrong type is a ``ResponseFormatError``;
* property-based: random ``PreRecordedResponse`` documents drawn from the schema.
"""

from __future__ import annotations

import datetime
import enum
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gladia_async import GladiaError
from gladia_async._schema import models as m
from gladia_async._schema.converter import (
    _CONSUME_FROM_BYTES,
    ResponseFormatError,
    StructureError,
    dumps,
    loads,
    loads_or_raise,
    structure,
    structure_or_raise,
    unstructure,
)

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "tools" / "generate_models.py"
# The contract, vendored in spec/ (a copy of Gladia's published OpenAPI document).
SPEC_PATH = Path(os.environ.get("GLADIA_OPENAPI_SPEC", ROOT / "spec" / "gladia-openapi.json"))

sys.path.insert(0, str(ROOT / "tools"))
from generate_models import apply_errata  # noqa: E402

# The spec as the models implement it: with the generator's errata (schema vs. own example).
SPEC: dict[str, Any] = apply_errata(json.loads(SPEC_PATH.read_text(encoding="utf-8")))
SCHEMAS: dict[str, dict[str, Any]] = SPEC["components"]["schemas"]
OBJECT_SCHEMAS = [name for name, s in SCHEMAS.items() if s.get("type") == "object"]
ENUM_SCHEMAS = [name for name, s in SCHEMAS.items() if "enum" in s]
UTC = datetime.timezone.utc


# -- schema helpers --------------------------------------------------------------------------


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` and single-``allOf`` indirections (keeping the outer example)."""
    while True:
        if "$ref" in schema:
            schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            inner = resolve(schema["allOf"][0])
            if "example" in schema and "example" not in inner:
                inner = {**inner, "example": schema["example"]}
            schema = inner
        else:
            return schema


def pick_variant(schema: dict[str, Any], value: Any) -> dict[str, Any]:
    variants = [resolve(v) for v in schema.get("oneOf", schema.get("anyOf", []))]
    if isinstance(value, dict):
        objects = [v for v in variants if v.get("type") == "object"]
        kind = value.get("kind")
        for variant in objects:
            if kind is not None and variant["properties"].get("kind", {}).get("enum") == [kind]:
                return variant
        return objects[0]
    return next((v for v in variants if v.get("type") != "object"), variants[0])


def normalize(value: Any, schema: dict[str, Any]) -> Any:
    """Canonical form of ``value`` read through ``schema``.

    Drops keys the schema does not declare and ``None`` values (the converter omits unset
    optional fields), and turns date-time strings into aware datetimes.
    """
    schema = resolve(schema)
    if "oneOf" in schema or "anyOf" in schema:
        schema = pick_variant(schema, value)
    if value is None:
        return None
    kind = schema.get("type")
    if kind == "object" and "properties" in schema and isinstance(value, dict):
        props = schema["properties"]
        out = {}
        for key, item in value.items():
            if key in props and item is not None:
                out[key] = normalize(item, props[key])
        return out
    if kind == "array" and isinstance(value, list):
        items = schema.get("items") or {}
        return [normalize(item, items) for item in value]
    if kind == "string" and schema.get("format") == "date-time" and isinstance(value, str):
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


def assemble(schema: dict[str, Any], *, required_only: bool = False, depth: int = 0) -> Any:
    """An instance of ``schema`` built from the spec's examples (placeholders where none)."""
    if "example" in schema:
        return schema["example"]
    schema = resolve(schema)
    if "example" in schema and schema.get("type") != "object":
        return schema["example"]
    if "oneOf" in schema or "anyOf" in schema:
        return assemble(resolve((schema.get("oneOf") or schema["anyOf"])[0]), depth=depth + 1)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        if "properties" not in schema:
            return {"key": "value"}
        required = set(schema.get("required", []))
        return {
            key: assemble(prop, required_only=required_only, depth=depth + 1)
            for key, prop in schema["properties"].items()
            if not required_only or key in required
        }
    if kind == "array":
        items = schema.get("items")
        return [assemble(items, depth=depth + 1)] if items and items.get("type", "x") else []
    if kind == "string":
        return "2024-05-06T07:08:09.123Z" if schema.get("format") == "date-time" else "text"
    if kind == "integer":
        return 3
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    return {"any": "thing"}


def round_trip(data: Any, cls: Any, schema: dict[str, Any]) -> Any:
    obj = structure(data, cls)
    assert normalize(unstructure(obj), schema) == normalize(data, schema)
    assert loads(dumps(obj), cls) == obj
    return obj


# -- the generated module --------------------------------------------------------------------


def own_fields(cls: Any) -> list[Any]:
    """The fields a model declares (without ``GladiaModel``'s ``extra`` and ``_flip``)."""
    base = {f.name for f in attrs.fields(m.GladiaModel)}
    return [f for f in attrs.fields(cls) if f.name not in base]


def test_every_schema_has_a_model() -> None:
    assert set(m.SPEC_SCHEMAS) == set(SCHEMAS)
    assert len(m.SPEC_SCHEMAS) == 138 + 4  # the spec's, and the shapes spec/ERRATA.md adds
    for name in OBJECT_SCHEMAS:
        cls = m.SPEC_SCHEMAS[name]
        assert attrs.has(cls), name
        assert f"Spec schema: {name}." in (cls.__doc__ or ""), name
        assert cls.__doc__ and cls.__doc__.splitlines()[0].strip(), name
        assert "__slots__" in cls.__dict__, name
        assert attrs.fields_dict(cls).keys() >= set(
            f.name for f in attrs.fields(cls)
        )  # sanity: attrs metadata is there
    for name in ENUM_SCHEMAS:
        cls = m.SPEC_SCHEMAS[name]
        assert issubclass(cls, (m.OpenEnum, m.OpenIntEnum)), name
        assert [member.value for member in cls] == SCHEMAS[name]["enum"]


@pytest.mark.parametrize(
    ("spec_name", "class_name"),
    [
        ("WordDTO", "Word"),
        ("UtteranceDTO", "Utterance"),
        ("TranscriptionResultDTO", "TranscriptionResult"),
        ("PreRecordedResponse", "TranscriptionJob"),
        ("StreamingResponse", "LiveJob"),
        ("AudioUploadResponse", "UploadedAudio"),
        ("AudioUploadMetadataDTO", "AudioMetadata"),
        ("InitPreRecordedTranscriptionResponse", "JobCreated"),
        ("InitTranscriptionRequest", "TranscriptionRequest"),
        ("ListPreRecordedResponse", "TranscriptionJobPage"),
        ("ListTranscriptionResponse", "JobPage"),
        ("ListStreamingResponse", "LiveJobPage"),
        ("CallbackConfigDto", "CallbackConfig"),
    ],
)
def test_class_names(spec_name: str, class_name: str) -> None:
    assert m.SPEC_SCHEMAS[spec_name] is getattr(m, class_name)
    assert m.SPEC_SCHEMAS[spec_name].__name__ == class_name


def test_fields_follow_the_spec() -> None:
    for name in OBJECT_SCHEMAS:
        schema = SCHEMAS[name]
        cls = m.SPEC_SCHEMAS[name]
        keys = m.JSON_KEYS.get(cls, {})
        fields = own_fields(cls)
        assert {keys.get(f.name, f.name) for f in fields} == set(schema["properties"]), name
        seen_optional = False
        for f in fields:
            key = keys.get(f.name, f.name)
            prop = schema["properties"][key]
            required = key in schema.get("required", []) and not prop.get("nullable")
            if f.default is attrs.NOTHING:
                assert required and not seen_optional, (name, f.name)
            elif "x-sdk-default" in prop:  # an erratum's default, where the service omits it
                default = f.default.factory() if isinstance(f.default, attrs.Factory) else f.default
                assert default == prop["x-sdk-default"], (name, f.name)
                seen_optional = True
            else:
                assert f.default is None, (name, f.name)  # lists too: None, not []
                seen_optional = True


def test_transcription_options_is_the_request_without_audio_url() -> None:
    request = {f.name for f in own_fields(m.TranscriptionRequest)}
    options = own_fields(m.TranscriptionOptions)
    assert {f.name for f in options} == request - {"audio_url"}
    assert all(f.default is None for f in options)
    assert m.TranscriptionOptions() == m.TranscriptionOptions()
    assert unstructure(m.TranscriptionOptions()) == {}


def test_inline_enums() -> None:
    job = attrs.fields_dict(m.TranscriptionJob)
    live = attrs.fields_dict(m.LiveJob)
    assert job["status"].type is m.JobStatus and live["status"].type is m.JobStatus
    assert job["kind"].type is m.JobKind and live["kind"].type is m.JobKind
    assert {k.value for k in m.JobKind} == {"pre-recorded", "live"}
    assert m.JobStatus.DONE.value == "done"


def test_generated_file_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check", "--spec", str(SPEC_PATH)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# -- spec examples ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", OBJECT_SCHEMAS)
def test_schema_example_round_trips(name: str) -> None:
    schema = SCHEMAS[name]
    round_trip(assemble(schema), m.SPEC_SCHEMAS[name], schema)


@pytest.mark.parametrize("name", OBJECT_SCHEMAS)
def test_schema_minimal_example_round_trips(name: str) -> None:
    schema = SCHEMAS[name]
    round_trip(assemble(schema, required_only=True), m.SPEC_SCHEMAS[name], schema)


def _response_examples() -> list[Any]:
    found = []
    for path, ops in SPEC["paths"].items():
        for method, op in ops.items():
            if not isinstance(op, dict):
                continue
            for code, response in op.get("responses", {}).items():
                for ctype, content in response.get("content", {}).items():
                    if "json" not in ctype:
                        continue
                    schema = content.get("schema", {})
                    examples = [content["example"]] if "example" in content else []
                    examples += [e["value"] for e in content.get("examples", {}).values()]
                    if "example" in schema:
                        examples.append(schema["example"])
                    for i, example in enumerate(examples):
                        found.append(
                            pytest.param(schema, example, id=f"{method.upper()} {path} {code} #{i}")
                        )
    return found


RESPONSE_EXAMPLES = _response_examples()


def _class_for(schema: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return m.SPEC_SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    members = [m.SPEC_SCHEMAS[s["$ref"].rsplit("/", 1)[-1]] for s in schema["oneOf"]]
    union: Any = members[0]
    for member in members[1:]:
        union = union | member
    return union


def test_there_are_response_examples() -> None:
    assert RESPONSE_EXAMPLES


@pytest.mark.parametrize(("schema", "example"), RESPONSE_EXAMPLES)
def test_response_example_round_trips(schema: dict[str, Any], example: Any) -> None:
    obj = structure(example, _class_for(schema))
    assert normalize(unstructure(obj), schema) == normalize(example, schema)


def test_response_example_discriminates_kind() -> None:
    _, example = RESPONSE_EXAMPLES[0].values
    job = structure(example, m.TranscriptionJob | m.LiveJob)  # type: ignore[arg-type]
    assert isinstance(job, m.TranscriptionJob)
    assert job.status is m.JobStatus.QUEUED
    assert job.created_at == datetime.datetime(2023, 12, 28, 9, 4, 17, 210000, tzinfo=UTC)


# -- tolerance -------------------------------------------------------------------------------

WORD: dict[str, Any] = {"word": " hi", "start": 0.5, "end": 0.9, "confidence": 0.97}
UTTERANCE: dict[str, Any] = {
    "start": 0.5,
    "end": 0.9,
    "confidence": 0.97,
    "channel": 0,
    "speaker": 1,
    "words": [WORD],
    "text": "hi",
    "language": "en",
}
METADATA: dict[str, Any] = {
    "audio_duration": 3.5,
    "number_of_distinct_channels": 1,
    "billing_time": 3.5,
    "transcription_time": 1.25,
}
JOB: dict[str, Any] = {
    "id": "45463597-20b7-4af7-b3b3-f5fb778203ab",
    "request_id": "G-45463597",
    "version": 2,
    "status": "done",
    "created_at": "2023-12-28T09:04:17.210Z",
    "completed_at": "2023-12-28T09:04:37.210Z",
    "post_session_metadata": {},
    "kind": "pre-recorded",
    "result": {
        "metadata": METADATA,
        "transcription": {
            "full_transcript": "hi",
            "languages": ["en"],
            "utterances": [UTTERANCE],
        },
    },
}


def test_job_structures() -> None:
    job = structure(JOB, m.TranscriptionJob)
    assert job.status is m.JobStatus.DONE
    assert job.result is not None and job.result.transcription is not None
    utterance = job.result.transcription.utterances[0]
    assert utterance.words == [m.Word(word=" hi", start=0.5, end=0.9, confidence=0.97)]
    assert utterance.language is m.TranscriptionLanguageCode.EN
    assert job.file is None and job.request_params is None
    assert unstructure(job) == JOB


def test_unknown_keys_are_kept_readable_and_written_back() -> None:
    data = {**JOB, "brand_new_field": {"x": 1}, "result": {**JOB["result"], "future": [1, 2]}}
    word = {**WORD, "speaker_confidence": 0.4}
    data["result"]["transcription"] = {
        **JOB["result"]["transcription"],
        "utterances": [{**UTTERANCE, "words": [word, WORD], "emotion": "calm"}],
    }
    job = structure(data, m.TranscriptionJob)
    assert job.extra == {"brand_new_field": {"x": 1}}
    assert job.brand_new_field == {"x": 1}  # readable as an attribute, like the official SDK
    assert job.result is not None and job.result.future == [1, 2]
    assert job.result.transcription is not None
    utterance = job.result.transcription.utterances[0]
    assert utterance.extra == {"emotion": "calm"}
    assert utterance.words[0].speaker_confidence == 0.4  # the flat fast path keeps them too
    assert utterance.words[1].extra is None
    assert unstructure(job) == data
    assert loads(dumps(job), m.TranscriptionJob) == job
    assert job != structure(JOB, m.TranscriptionJob), "what was received is part of the value"
    with pytest.raises(AttributeError, match="no_such_field"):
        _ = job.no_such_field


def test_explicit_nulls_and_defaults_are_written_back() -> None:
    data = {**JOB, "custom_metadata": None, "error_code": None, "file": None}
    data["result"] = {
        **JOB["result"],
        "translation": None,
        "transcription": {
            **JOB["result"]["transcription"],
            "utterances": [{**UTTERANCE, "speaker": None, "words": [{**WORD}]}],
        },
    }
    job = structure(data, m.TranscriptionJob)
    assert job.custom_metadata is None and job.file is None
    assert unstructure(job) == data
    assert unstructure(structure(JOB, m.TranscriptionJob)) == JOB, "absent stays absent"
    built = m.TranscriptionJob(
        **{f.name: getattr(job, f.name) for f in own_fields(m.TranscriptionJob)}
    )
    assert "custom_metadata" not in unstructure(built), "a model built in code omits its Nones"


def test_unknown_enum_values_are_kept() -> None:
    data = {**JOB, "status": "paused"}
    data["result"] = {
        "metadata": METADATA,
        "transcription": {
            "full_transcript": "hi",
            "languages": ["tlh"],
            "utterances": [{**UTTERANCE, "language": "tlh"}],
        },
    }
    job = structure(data, m.TranscriptionJob)
    assert job.status.value == "paused" and str(job.status) == "paused"
    assert job.status not in (m.JobStatus.QUEUED, m.JobStatus.PROCESSING, m.JobStatus.DONE)
    assert job.status != m.JobStatus.ERROR
    assert isinstance(job.status, m.JobStatus)
    assert job.result is not None and job.result.transcription is not None
    assert job.result.transcription.languages[0].value == "tlh"
    assert job.result.transcription.utterances[0].language.value == "tlh"
    assert unstructure(job)["status"] == "paused"


def test_open_enum_semantics() -> None:
    paused = m.JobStatus("paused")
    assert paused is m.JobStatus("paused")  # cached
    assert paused.value == "paused" and str(paused) == "paused" and f"{paused}" == "paused"
    assert paused == "paused" and paused not in list(m.JobStatus)
    assert all(paused != member for member in m.JobStatus)
    assert pickle.loads(pickle.dumps(paused)) is paused
    assert m.JobStatus("done") is m.JobStatus.DONE
    assert str(m.JobStatus.DONE) == "done" and f"{m.JobStatus.DONE}" == "done"
    assert m.JobStatus.DONE == "done"  # type: ignore[comparison-overlap]
    assert isinstance(m.JobStatus.DONE, str) and isinstance(m.JobStatus.DONE, enum.Enum)
    with pytest.raises(ValueError):
        m.JobStatus(5)
    depth = m.StreamingSupportedBitDepth(12)
    assert depth.value == 12 and str(depth) == "12" and depth == 12
    assert m.StreamingSupportedBitDepth(16.0) is m.StreamingSupportedBitDepth.BITS_16
    assert str(m.StreamingSupportedBitDepth.BITS_16) == "16"


def test_options_serialize_only_what_is_set() -> None:
    assert unstructure(m.TranscriptionOptions(diarization=True)) == {"diarization": True}
    assert dumps(m.TranscriptionOptions(diarization=True)) == b'{"diarization":true}'
    options = m.TranscriptionOptions(
        diarization=True,
        diarization_config=m.DiarizationConfig(number_of_speakers=2),
        translation_config=m.TranslationConfig(
            target_languages=[m.TranslationLanguageCode.FR], model=m.TranslationModel.BASE
        ),
        custom_vocabulary_config=m.CustomVocabularyConfig(
            vocabulary=["Westeros", m.CustomVocabularyEntry(value="Stark")]
        ),
        custom_metadata={"user": "John Doe"},
    )
    assert unstructure(options) == {
        "diarization": True,
        "diarization_config": {"number_of_speakers": 2},
        "translation_config": {"target_languages": ["fr"], "model": "base"},
        "custom_vocabulary_config": {"vocabulary": ["Westeros", {"value": "Stark"}]},
        "custom_metadata": {"user": "John Doe"},
    }
    assert structure(unstructure(options), m.TranscriptionOptions) == options


def test_required_nullable_fields_are_always_serialized() -> None:
    file = m.FileResponse(id="f")
    assert unstructure(file) == {
        "id": "f",
        "filename": None,
        "source": None,
        "audio_duration": None,
        "number_of_channels": None,
    }


def test_renamed_json_keys() -> None:
    data = {
        "timestamp": "2023-12-28T09:04:17.210Z",
        "path": "/v2/pre-recorded",
        "request_id": "G-1",
        "statusCode": 400,
        "message": "bad",
        "validation_errors": ["x"],
    }
    error = structure(data, m.BadRequestErrorResponse)
    assert error.status_code == 400
    assert unstructure(error) == data


def test_union_with_discriminator() -> None:
    live = {**JOB, "kind": "live", "result": None}
    page = {"first": "a", "current": "a", "next": None, "items": [JOB, live]}
    parsed = structure(page, m.JobPage)
    assert [type(item) for item in parsed.items] == [m.TranscriptionJob, m.LiveJob]
    assert unstructure(parsed)["items"][1]["kind"] == "live"
    # A kind this client does not know still parses, as the first class that fits.
    future = structure({**page, "items": [{**JOB, "kind": "batch"}]}, m.JobPage)
    assert isinstance(future.items[0], m.TranscriptionJob)
    assert future.items[0].kind.value == "batch"


def test_union_without_discriminator() -> None:
    config = structure(
        {"vocabulary": ["Westeros", {"value": "Stark", "intensity": 0.4}]},
        m.CustomVocabularyConfig,
    )
    assert config.vocabulary[0] == "Westeros"
    assert config.vocabulary[1] == m.CustomVocabularyEntry(value="Stark", intensity=0.4)
    with pytest.raises(StructureError):
        structure({"vocabulary": [42]}, m.CustomVocabularyConfig)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-12-28T09:04:17.210Z", datetime.datetime(2023, 12, 28, 9, 4, 17, 210000, UTC)),
        ("2023-12-28T09:04:17Z", datetime.datetime(2023, 12, 28, 9, 4, 17, tzinfo=UTC)),
        ("2023-12-28T09:04:17.210+00:00", datetime.datetime(2023, 12, 28, 9, 4, 17, 210000, UTC)),
        (
            "2023-12-28T11:04:17.5+02:00",
            datetime.datetime(2023, 12, 28, 9, 4, 17, 500000, UTC),
        ),
        ("2023-12-28T09:04:17.2104567Z", datetime.datetime(2023, 12, 28, 9, 4, 17, 210456, UTC)),
        ("2023-12-28T09:04:17.210", datetime.datetime(2023, 12, 28, 9, 4, 17, 210000, UTC)),
    ],
)
def test_datetimes_are_aware(text: str, expected: datetime.datetime) -> None:
    job = structure({**JOB, "created_at": text}, m.TranscriptionJob)
    assert job.created_at.tzinfo is not None
    assert job.created_at == expected


def test_datetimes_serialize_with_z() -> None:
    job = structure(JOB, m.TranscriptionJob)
    assert unstructure(job)["created_at"] == "2023-12-28T09:04:17.210Z"
    shifted = attrs.evolve(
        job, created_at=datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, datetime.timezone.utc)
    )
    assert unstructure(shifted)["created_at"] == "2024-01-02T03:04:05.123456Z"


# -- strictness ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param({k: v for k, v in JOB.items() if k != "id"}, id="missing id"),
        pytest.param({k: v for k, v in JOB.items() if k != "status"}, id="missing status"),
        pytest.param({**JOB, "created_at": 12}, id="created_at not a string"),
        pytest.param({**JOB, "created_at": "yesterday"}, id="created_at not a date"),
        pytest.param({**JOB, "status": None}, id="status null"),
        pytest.param({**JOB, "result": {"transcription": "hi"}}, id="object is a string"),
        pytest.param(
            {**JOB, "result": {"transcription": {"full_transcript": "x", "languages": []}}},
            id="missing nested utterances",
        ),
        pytest.param(
            {
                **JOB,
                "result": {
                    "transcription": {
                        "full_transcript": "x",
                        "languages": [],
                        "utterances": [{**UTTERANCE, "words": [{"word": "x"}]}],
                    }
                },
            },
            id="word without timestamps",
        ),
        pytest.param(
            {
                **JOB,
                "result": {
                    "transcription": {
                        "full_transcript": "x",
                        "languages": [],
                        "utterances": [{**UTTERANCE, "start": "soon"}],
                    }
                },
            },
            id="start not a number",
        ),
        pytest.param([JOB], id="list instead of object"),
        pytest.param(None, id="null"),
    ],
)
def test_malformed_data_is_a_response_format_error(broken: Any) -> None:
    with pytest.raises(StructureError):
        structure(broken, m.TranscriptionJob)
    with pytest.raises(ResponseFormatError) as info:
        structure_or_raise(broken, m.TranscriptionJob)
    assert info.value.cls_name == "TranscriptionJob"
    assert isinstance(info.value, GladiaError), "part of the SDK's error hierarchy"
    assert "TranscriptionJob" in str(info.value)
    if isinstance(broken, dict) and broken.get("result") != JOB.get("result"):
        # A small body's result block is deferred: the job parses, its first read reports.
        job = loads_or_raise(orjson.dumps(broken), m.TranscriptionJob)
        assert job.id == JOB["id"]
        with pytest.raises(ResponseFormatError, match=r"at \$\.result\.") as lazy:
            job.result  # noqa: B018
        assert lazy.value.cls_name == "TranscriptionJob"
        with pytest.raises(ResponseFormatError):
            job.result  # noqa: B018  (still reported: nothing half-built was stored)
    else:
        with pytest.raises(ResponseFormatError):
            loads_or_raise(orjson.dumps(broken), m.TranscriptionJob)


def test_missing_field_message_names_it() -> None:
    with pytest.raises(ResponseFormatError, match="request_id"):
        structure_or_raise({k: v for k, v in JOB.items() if k != "request_id"}, m.TranscriptionJob)


def test_invalid_json_is_a_response_format_error() -> None:
    with pytest.raises(ResponseFormatError, match="not valid JSON"):
        loads_or_raise(b"{nope", m.TranscriptionJob)
    with pytest.raises(ValueError):
        loads(b"{nope", m.TranscriptionJob)


def test_parsing_a_large_payload_leaves_the_gc_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """No process-wide switch: another thread's collections are none of the parser's business."""
    import gc

    def forbidden() -> None:
        raise AssertionError("the converter switched the cyclic GC off")

    words = [{**WORD, "start": float(i)} for i in range(2000)]
    data = {**JOB}
    data["result"] = {
        "metadata": METADATA,
        "transcription": {
            "full_transcript": "hi " * 400_000,  # a multi-megabyte body
            "languages": ["en"],
            "utterances": [{**UTTERANCE, "words": words}],
        },
    }
    raw = orjson.dumps(data)
    monkeypatch.setattr(gc, "disable", forbidden)
    monkeypatch.setattr(gc, "freeze", forbidden)
    monkeypatch.setattr(gc, "set_threshold", forbidden)
    job = loads(raw, m.TranscriptionJob)
    assert job.result is not None and job.result.transcription is not None
    assert len(job.result.transcription.utterances[0].words) == 2000
    assert loads_or_raise(raw, m.TranscriptionJob) == job
    where = r"at \$\.result\.transcription\.utterances\[0\]\.start: required field missing"
    with pytest.raises(ResponseFormatError, match=where):
        loads_or_raise(raw.replace(b'"start"', b'"begin"'), m.TranscriptionJob)
    assert gc.isenabled()


def test_structure_never_changes_the_callers_data() -> None:
    """Only a tree ``loads`` parsed itself is consumed while structuring (for the GC's sake)."""
    import copy

    data = {**JOB}
    data["result"] = {
        **JOB["result"],
        "transcription": {
            **JOB["result"]["transcription"],
            "utterances": [{**UTTERANCE, "words": [{**WORD, "start": float(i)}]} for i in range(3)],
        },
    }
    before = copy.deepcopy(data)
    job = structure(data, m.TranscriptionJob)
    assert data == before
    assert structure_or_raise(data, m.TranscriptionJob) == job and data == before
    raw = orjson.dumps(data)
    assert loads(raw, m.TranscriptionJob) == job == loads_or_raise(raw, m.TranscriptionJob)
    assert unstructure(loads(raw, m.TranscriptionJob)) == data


@pytest.mark.parametrize("count", [3, 600], ids=["small body, deferred", "large body, consumed"])
def test_a_consumed_tree_still_names_the_right_json_path(count: int) -> None:
    utterances = [{**UTTERANCE, "words": [WORD, WORD]} for _ in range(count)]
    bad = count - 1
    utterances[bad] = {**UTTERANCE, "words": [WORD, {k: v for k, v in WORD.items() if k != "end"}]}
    data = {
        **JOB,
        "result": {
            **JOB["result"],
            "transcription": {**JOB["result"]["transcription"], "utterances": utterances},
        },
    }
    raw = orjson.dumps(data)
    assert (len(raw) >= _CONSUME_FROM_BYTES) == (count > 3)
    where = rf"at \$\.result\.transcription\.utterances\[{bad}\]\.words\[1\]\.end: required"
    with pytest.raises(ResponseFormatError, match=where):
        loads_or_raise(raw, m.TranscriptionJob).result  # noqa: B018


def test_a_union_member_failing_half_way_leaves_the_value_whole() -> None:
    # Utterance fails on ``language`` (read after its words); Sentence must still see them.
    data = {**UTTERANCE, "words": [WORD, WORD], "language": 5}
    parsed = loads(orjson.dumps(data), m.Utterance | m.Sentence)  # type: ignore[arg-type]
    assert isinstance(parsed, m.Sentence)
    assert parsed.words is not None and len(parsed.words) == 2


# -- property-based --------------------------------------------------------------------------

_JSON_SCALARS = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8)
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
_DATETIMES = st.datetimes(
    min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2100, 1, 1)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


def from_schema(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """JSON documents valid for ``schema`` (enums sometimes get values the spec lacks)."""
    nullable = bool(schema.get("nullable"))
    schema = resolve(schema)
    strategy = _from_resolved(schema, depth)
    return st.none() | strategy if nullable else strategy


def _from_resolved(schema: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    if "oneOf" in schema or "anyOf" in schema:
        return st.one_of(
            [from_schema(v, depth + 1) for v in (schema.get("oneOf") or schema["anyOf"])]
        )
    if "enum" in schema:
        known = st.sampled_from(schema["enum"])
        if schema.get("type") == "string":
            return known | st.text("abcdefghij_", min_size=1, max_size=6)
        return known
    kind = schema.get("type")
    if kind == "object":
        if "properties" not in schema:
            extra = schema.get("additionalProperties")
            values = from_schema(extra, depth + 1) if isinstance(extra, dict) else _JSON_VALUES
            return st.dictionaries(st.text(max_size=5), values, max_size=3)
        required = set(schema.get("required", []))
        props = schema["properties"]
        return st.fixed_dictionaries(
            {k: from_schema(p, depth + 1) for k, p in props.items() if k in required},
            optional={k: from_schema(p, depth + 1) for k, p in props.items() if k not in required},
        )
    if kind == "array":
        items = schema.get("items")
        inner = from_schema(items, depth + 1) if items and items.get("type", "x") else _JSON_VALUES
        return st.lists(inner, max_size=2 if depth < 4 else 1)
    if kind == "string":
        if schema.get("format") == "date-time":
            return _DATETIMES.map(lambda d: d.isoformat(timespec="milliseconds") + "Z")
        return st.text(max_size=10)
    if kind == "integer":
        return st.integers(-(2**31), 2**31)
    if kind == "number":
        return st.integers(-1000, 1000) | st.floats(
            -1e6, 1e6, allow_nan=False, allow_infinity=False
        )
    if kind == "boolean":
        return st.booleans()
    return _JSON_VALUES


@pytest.mark.reliability
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(from_schema(SCHEMAS["PreRecordedResponse"]))
def test_generated_jobs_round_trip(document: dict[str, Any]) -> None:
    schema = SCHEMAS["PreRecordedResponse"]
    job = structure(document, m.TranscriptionJob)
    assert isinstance(job, m.TranscriptionJob)
    assert normalize(unstructure(job), schema) == normalize(document, schema)
    assert loads(dumps(job), m.TranscriptionJob) == job


@pytest.mark.reliability
@pytest.mark.parametrize(
    "schema_name",
    [
        "StreamingResponse",
        "AudioUploadResponse",
        "InitPreRecordedTranscriptionResponse",
        "FileResponse",
        "TranscriptionResultDTO",
    ],
)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_generated_documents_of_other_schemas_round_trip(
    schema_name: str, data: st.DataObject
) -> None:
    schema = SCHEMAS[schema_name]
    cls = m.SPEC_SCHEMAS[schema_name]
    document = data.draw(from_schema(schema))
    obj = structure(document, cls)
    assert normalize(unstructure(obj), schema) == normalize(document, schema)
