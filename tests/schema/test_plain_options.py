"""Options take plain strings for enums and plain dicts for config objects, checked when built."""

from __future__ import annotations

import enum
import subprocess
import sys
import textwrap
import typing
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest

from gladia_async import (
    GladiaSession,
    InvalidInput,
    TranscriptionOptions,
    options_from_dict,
)
from gladia_async._schema import models as _models
from gladia_async._schema.converter import dumps, loads
from gladia_async.live import LiveOptions
from gladia_async.models import (
    CustomVocabularyConfig,
    CustomVocabularyEntry,
    LanguageConfig,
    StreamingSupportedBitDepth,
    StreamingSupportedEncoding,
    SubtitlesConfig,
    SubtitlesFormat,
    TranscriptionJob,
    TranscriptionLanguageCode,
    TranscriptionModel,
    TranslationConfig,
    TranslationLanguageCode,
)

EN, FR = TranscriptionLanguageCode.EN, TranscriptionLanguageCode.FR


def _mentions_model(tp: Any) -> bool:
    """Whether a field type holds an enum or a model class (at any depth)."""
    args = typing.get_args(tp)
    if args:  # list[X], X | None (on 3.10 isinstance(list[X], type) is True: look inside)
        return any(_mentions_model(arg) for arg in args)
    return isinstance(tp, type) and (issubclass(tp, enum.Enum) or attrs.has(tp))


def _reachable(root: type) -> set[type]:
    found: set[type] = set()

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and attrs.has(tp) and tp not in found:
            found.add(tp)
            for hint in typing.get_type_hints(tp).values():
                visit(hint)
        for arg in typing.get_args(tp):
            visit(arg)

    visit(root)
    return found


REQUEST_CLASSES = sorted(
    _reachable(TranscriptionOptions)
    | _reachable(_models.TranscriptionRequest)
    | _reachable(_models.StreamingRequest)
    | _reachable(_models.PatchRequestParams),
    key=lambda c: c.__name__,
)


# -- the plain forms are accepted, stored as the typed ones -------------------------------------


def test_plain_strings_become_enum_members() -> None:
    config = LanguageConfig(languages=["en", "FR"], code_switching=True)
    assert config.languages == [EN, FR]
    assert all(type(code) is TranscriptionLanguageCode for code in config.languages)
    assert LanguageConfig(languages=("en",)).languages == [EN], "any sequence, stored as a list"
    assert TranscriptionOptions(model="solaria-1").model is TranscriptionModel.SOLARIA_1
    live = LiveOptions(encoding="wav/pcm", bit_depth=16)
    assert live.encoding is StreamingSupportedEncoding.WAV_PCM
    assert live.bit_depth is StreamingSupportedBitDepth.BITS_16


def test_plain_dicts_become_config_objects_and_serialise_the_same() -> None:
    plain = TranscriptionOptions(
        language_config={"languages": ["en"], "code_switching": True},
        subtitles_config={"formats": ["srt", "VTT"]},
        translation_config={"target_languages": ["fr"]},
        custom_vocabulary_config={"vocabulary": ["Gladia", {"value": "Solaria", "language": "en"}]},
    )
    typed = TranscriptionOptions(
        language_config=LanguageConfig(languages=[EN], code_switching=True),
        subtitles_config=SubtitlesConfig(formats=[SubtitlesFormat.SRT, SubtitlesFormat.VTT]),
        translation_config=TranslationConfig(target_languages=[TranslationLanguageCode.FR]),
        custom_vocabulary_config=CustomVocabularyConfig(
            vocabulary=["Gladia", CustomVocabularyEntry(value="Solaria", language=EN)]
        ),
    )
    assert plain == typed
    assert dumps(plain) == dumps(typed)
    assert orjson.loads(dumps(plain))["language_config"] == {
        "languages": ["en"],
        "code_switching": True,
    }


def test_a_dict_may_hold_built_objects() -> None:
    options = TranscriptionOptions(
        custom_vocabulary_config={"vocabulary": [CustomVocabularyEntry(value="Gladia")]}
    )
    assert options.custom_vocabulary_config == CustomVocabularyConfig(
        vocabulary=[CustomVocabularyEntry(value="Gladia")]
    )


@pytest.mark.parametrize("cls", REQUEST_CLASSES, ids=lambda c: c.__name__)
def test_every_request_enum_and_config_field_converts(cls: type) -> None:
    hints = typing.get_type_hints(cls)
    # The class's own required fields (audio_url): plain strings.
    base = {f.name: "x" for f in attrs.fields(cls) if f.default is attrs.NOTHING}
    for field in attrs.fields(cls):
        if field.name in ("extra", "_flip"):
            continue
        assert (field.converter is not None) == _mentions_model(hints[field.name]), field.name
        config = [
            t for t in typing.get_args(hints[field.name]) if isinstance(t, type) and attrs.has(t)
        ]
        required = config and any(f.default is attrs.NOTHING for f in attrs.fields(config[0]))
        if config and not required and typing.get_origin(hints[field.name]) is not list:
            assert getattr(cls(**base, **{field.name: {}}), field.name) == config[0](), field.name


def test_response_models_have_no_converters() -> None:
    # Building a parsed response does no per-field work, and keeps unknown values as they came.
    for cls in _reachable(TranscriptionJob) - set(REQUEST_CLASSES):
        assert not [f.name for f in attrs.fields(cls) if f.converter is not None], cls
    raw = orjson.dumps(
        {
            "id": "45463597-20b7-4af7-b3b3-f5fb778203ab",
            "request_id": "G-1",
            "version": 2,
            "status": "done",
            "created_at": "2024-01-01T00:00:00Z",
            "kind": "pre-recorded",
            "request_params": {
                "audio_url": "https://example.com/a.wav",
                "language_config": {"languages": ["xx-new"]},
            },
        }
    )
    job = loads(raw, TranscriptionJob)
    assert job.request_params is not None and job.request_params.language_config is not None
    assert [c.value for c in job.request_params.language_config.languages or []] == ["xx-new"]


def test_the_json_path_takes_the_same_values() -> None:
    options = options_from_dict({"language_config": {"languages": ["EN"]}, "model": "Solaria-1"})
    assert options == TranscriptionOptions(language_config={"languages": ["en"]}, model="solaria-1")


# -- bad values fail at construction, naming the field --------------------------------------


@pytest.mark.parametrize(
    ("build", "argument", "problem"),
    [
        (lambda: LanguageConfig(languages=["klingon"]), "languages[0]", "not a language code"),
        (lambda: LanguageConfig(languages=["en-US"]), "languages[0]", "did you mean en?"),
        (lambda: LanguageConfig(languages=["fre"]), "languages[0]", "did you mean fr"),
        (lambda: LanguageConfig(languages="en"), "languages", "expected a list"),
        (lambda: LanguageConfig(languages=[42]), "languages[0]", "got a number (42)"),
        (lambda: TranscriptionOptions(model="solaria-9"), "model", "is not one of"),
        (lambda: SubtitlesConfig(formats=["pdf"]), "formats[0]", "'pdf' is not one of"),
        (lambda: LiveOptions(bit_depth=12), "bit_depth", "is not one of"),
        (
            lambda: TranscriptionOptions(language_config={"languages": ["xx"]}),
            "language_config.languages[0]",
            "not a language code",
        ),
        (
            lambda: TranscriptionOptions(language_config={"langauges": ["en"]}),
            "language_config.langauges",
            "did you mean 'languages'",
        ),
        (
            lambda: TranscriptionOptions(language_config={"code_switching": "yes"}),
            "language_config.code_switching",
            "expected true/false",
        ),
        (
            lambda: TranscriptionOptions(translation_config={"model": "base"}),
            "translation_config.target_languages",
            "required",
        ),
        (
            lambda: TranscriptionOptions(language_config=["en"]),
            "language_config",
            "expected a LanguageConfig or a dict of its fields",
        ),
        (
            lambda: CustomVocabularyConfig(vocabulary=[{"value": "x", "language": "xx"}]),
            "vocabulary[0].language",
            "not a language code",
        ),
    ],
)
def test_bad_plain_values_raise_invalid_input_naming_the_field(
    build: Any, argument: str, problem: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        build()
    assert caught.value.argument == argument
    assert problem in caught.value.problem


def test_dict_and_json_paths_report_the_same_problem() -> None:
    with pytest.raises(InvalidInput) as from_dict:
        TranscriptionOptions(subtitles_config={"formats": ["srt", "ass"]})
    with pytest.raises(InvalidInput) as from_json:
        options_from_dict({"subtitles_config": {"formats": ["srt", "ass"]}})
    assert from_dict.value.problem == from_json.value.problem
    assert from_dict.value.argument == "subtitles_config.formats[1]"
    assert from_json.value.argument == "options.subtitles_config.formats[1]"


async def test_bad_plain_values_fail_before_any_request(emu: Any) -> None:
    async with GladiaSession(api_key=emu.api_key, base_url=emu.url) as gladia:
        with pytest.raises(InvalidInput):
            await gladia.submit(
                "https://example.com/a.wav",
                TranscriptionOptions(language_config={"languages": ["klingon"]}),
            )
        with pytest.raises(InvalidInput):
            await gladia.transcribe("https://example.com/a.wav", TranscriptionOptions(model="x"))
    assert emu.stats.requests_total == 0


async def test_plain_options_reach_the_server_as_typed_ones(emu: Any) -> None:
    async with GladiaSession(api_key=emu.api_key, base_url=emu.url) as gladia:
        job = await gladia.transcribe(
            "https://example.com/a.wav",
            TranscriptionOptions(language_config={"languages": ["FR"]}, subtitles=True),
        )
    assert job.request_params is not None and job.request_params.language_config is not None
    assert job.request_params.language_config.languages == [FR]


# -- mypy --strict -----------------------------------------------------------------------------

ACCEPTED = """
from gladia_async import TranscriptionOptions
from gladia_async.live import LiveOptions
from gladia_async.models import LanguageConfig, LanguageConfigDict, TranscriptionLanguageCode

codes: list[TranscriptionLanguageCode] = [TranscriptionLanguageCode.EN]
config: LanguageConfigDict = {"languages": ["en"], "code_switching": True}
options = [
    LanguageConfig(languages=["en"]),
    LanguageConfig(languages=codes),
    TranscriptionOptions(language_config={"languages": ["en"], "code_switching": True}),
    TranscriptionOptions(language_config=config, subtitles_config={"formats": ["srt"]}),
    TranscriptionOptions(model="solaria-1"),
    LiveOptions(encoding="wav/pcm", bit_depth=16, sample_rate=16000),
]
stored: list[TranscriptionLanguageCode] | None = LanguageConfig(languages=["en"]).languages
"""

#: Bad code -> what mypy's message says (a dict is checked against the config's TypedDict).
REJECTED = {
    "LanguageConfig(languages=[42])": '"int"; expected "str"  [list-item]',
    'TranscriptionOptions(language_config={"languages": ["en"], "code_swiching": True})': (
        'expected "LanguageConfig | LanguageConfigDict | None"  [arg-type]'
    ),
    'TranscriptionOptions(language_config={"languages": [42]})': "LanguageConfigDict",
    'TranscriptionOptions(translation_config={"model": "base"})': "TranslationConfigDict",
    "TranscriptionOptions(model=3)": '"int"; expected "TranscriptionModel | str | None"',
}


def test_mypy_strict_accepts_plain_forms_and_rejects_bad_ones(tmp_path: Path) -> None:
    accepted = tmp_path / "accepted.py"
    accepted.write_text(textwrap.dedent(ACCEPTED))
    rejected = tmp_path / "rejected.py"
    lines = [
        "from gladia_async import TranscriptionOptions",
        "from gladia_async.models import LanguageConfig",
    ]
    first = len(lines) + 1
    lines += list(REJECTED)
    rejected.write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            str(accepted),
            str(rejected),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = result.stdout
    assert "accepted.py" not in out, out
    for n, expected in enumerate(REJECTED.values(), start=first):
        assert any(
            line.startswith(f"{rejected.name}:{n}: error:") and expected in line
            for line in out.replace(str(tmp_path) + "/", "").splitlines()
        ), (n, expected, out)
