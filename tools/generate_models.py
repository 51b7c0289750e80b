#!/usr/bin/env python3
"""Generate ``gladia_async/_schema/models.py`` from Gladia's OpenAPI spec.

Usage (from the repository root)::

    python tools/generate_models.py [--spec PATH] [--out PATH] [--check]

Every object schema in ``components.schemas`` becomes a frozen, slotted attrs class; every
string enum (named or inline on a property) becomes an :class:`OpenEnum`; numeric enums become an
:class:`OpenIntEnum`. The output is deterministic: running the script twice gives the same bytes,
and ``--check`` exits 1 when the committed file is stale.

Request-side classes (the bodies of the spec's requests, ``TranscriptionOptions`` and the config
classes they hold) get attrs converters on their enum and config-object fields: an enum field
also takes the enum's plain value, a config field also takes a dict of its JSON fields (typed by
a generated ``TypedDict``, ``<Config>Dict``). Response-only classes get none.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import keyword
import re
import sys
import textwrap
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = Path(__file__).resolve().parent.parent / "spec" / "gladia-openapi.json"
DEFAULT_OUT = ROOT / "gladia_async" / "_schema" / "models.py"
LINE = 100

#: Explicit class names; everything else is the schema name minus a trailing DTO/Dto/Enum.
RENAMES = {
    "PreRecordedResponse": "TranscriptionJob",
    "StreamingResponse": "LiveJob",
    "AudioUploadResponse": "UploadedAudio",
    "AudioUploadMetadataDTO": "AudioMetadata",
    "InitPreRecordedTranscriptionResponse": "JobCreated",
    "InitTranscriptionRequest": "TranscriptionRequest",
    "ListPreRecordedResponse": "TranscriptionJobPage",
    "ListTranscriptionResponse": "JobPage",
    "ListStreamingResponse": "LiveJobPage",
    # Collisions once the DTO suffix is gone: the live variants get a ``Live`` prefix.
    "CallbackConfig": "LiveCallbackConfig",
    "Error": "LiveError",
}

ERRATA = ROOT / "spec" / "ERRATA.md"


def _errata_module() -> Any:
    # Loaded by path, not imported: the package imports the models this script regenerates.
    path = ROOT / "gladia_async" / "testing" / "_errata.py"
    spec = importlib.util.spec_from_file_location("_gladia_errata", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def apply_errata(spec: dict[str, Any], errata: Path = ERRATA) -> dict[str, Any]:
    """Return a copy of ``spec`` with the corrections of ``spec/ERRATA.md`` applied."""
    module = _errata_module()
    result: dict[str, Any] = module.apply(spec, module.load(errata))
    return result


#: First docstring line for schemas the spec does not describe (object schemas have no
#: description in the spec). Families (callbacks, webhooks, live messages, configs) are
#: described by rule in :func:`describe`.
DESCRIPTIONS = {
    "PreRecordedEventPayload": "Identifies the pre-recorded job a webhook event is about.",
    "LiveEventPayload": "Identifies the live session a webhook event is about.",
    "UploadBody": "Body of an upload request (the audio is sent as multipart form data).",
    "AudioUploadMetadataDTO": "Metadata of an uploaded audio file.",
    "AudioUploadResponse": "An uploaded audio file: its URL to transcribe and its metadata.",
    "CustomVocabularyEntryDTO": "One custom vocabulary entry, with intensity and pronunciations.",
    "LanguageConfig": "Language detection settings: candidate languages and code switching.",
    "InitTranscriptionRequest": "Body of a request creating a pre-recorded transcription job.",
    "InitPreRecordedTranscriptionResponse": "A newly created job: its id and result URL.",
    "FileResponse": "The audio file a job transcribed.",
    "PreRecordedRequestParamsResponse": "Parameters a pre-recorded transcription job ran with.",
    "TranscriptionMetadataDTO": "Metadata of a transcription: durations and billing time.",
    "AddonErrorDTO": "Why an audio intelligence add-on failed.",
    "SentencesDTO": "Result of the sentences add-on.",
    "SubtitleDTO": "Subtitles of the transcription in one format.",
    "WordDTO": "One transcribed word with its timestamps and confidence.",
    "UtteranceDTO": "One utterance: a run of speech from one speaker, with its words.",
    "TranscriptionDTO": "The transcription itself: full text, utterances, languages, subtitles.",
    "TranslationResultDTO": "The transcription translated into one target language.",
    "TranslationDTO": "Result of the translation add-on: one result per target language.",
    "NamedEntityRecognitionResult": "One named entity found in the transcription.",
    "TranscriptionResultDTO": "Result of a finished pre-recorded job: transcription and add-ons.",
    "PreRecordedResponse": "A pre-recorded transcription job, as returned by the API.",
    "ListPreRecordedResponse": "One page of pre-recorded transcription jobs.",
    "ErrorDTO": "An error that ended a job.",
    "StreamingRequestParamsResponse": "Parameters a live session ran with.",
    "StreamingTranscriptionResultWithMessagesDTO": "Result of a live session, with its messages.",
    "StreamingResponse": "A live transcription session, as returned by the API.",
    "ListTranscriptionResponse": "One page of jobs of any kind (pre-recorded and live).",
    "ListHistoryResponse": "One page of the v1 job history (deprecated route).",
    "ListStreamingResponse": "One page of live transcription sessions.",
    "StreamingRequest": "Body of a request creating a live transcription session.",
    "InitStreamingResponse": "A newly created live session: its id and WebSocket URL.",
    "PatchRequestParamsDTO": "Body of a request patching a live session's parameters.",
    "Error": "An error reported on the live WebSocket.",
    "TranscriptionLanguageCodeEnum": "A language the transcription can detect or be told.",
    "StreamingSupportedRegions": "Region of the servers a live session runs on.",
    "ChapterizationSentence": "One sentence of a chapter.",
    "StreamingTranscriptionResultDTO": "Live transcription result: transcription and add-ons.",
    "SentimentAnalysisResult": "Sentiment and emotion of one part of the transcription.",
    "PostChapterizationResult": "One chapter produced by live chapterization.",
}

#: Words for the first line of generic descriptions.
_ACRONYMS = {"Dto": "", "Llm": "LLM", "Pii": "PII", "Ack": "acknowledgment"}


def class_name(schema: str) -> str:
    if schema in RENAMES:
        return RENAMES[schema]
    for suffix in ("DTO", "Dto", "Enum"):
        if schema.endswith(suffix) and len(schema) > len(suffix):
            return schema[: -len(suffix)]
    return schema


def words_of(name: str) -> str:
    parts = re.findall(r"[A-Z]+(?![a-z])|[A-Z][a-z0-9]*|[a-z0-9]+", name)
    out = []
    for part in parts:
        mapped = _ACRONYMS.get(part, part if part.isupper() else part.lower())
        if mapped:
            out.append(mapped)
    return " ".join(out)


def ascii_text(text: str) -> str:
    text = text.replace("\u03bc", "mu").replace("\u00b5", "mu")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join(text.split())


def single_enum(schema: dict[str, Any], prop: str) -> str | None:
    enum = schema.get("properties", {}).get(prop, {}).get("enum")
    return enum[0] if enum and len(enum) == 1 else None


def article(words: str) -> str:
    return ("an " if words[:1] in "aeiou" else "a ") + words


def describe(name: str, schema: dict[str, Any]) -> str:
    if name in DESCRIPTIONS:
        return DESCRIPTIONS[name]
    if schema.get("description"):
        text = ascii_text(schema["description"])
        return text if text.endswith(".") else text + "."
    event = single_enum(schema, "event")
    mtype = single_enum(schema, "type")
    if name.startswith("Callback") and event:
        return f"Body of the ``{event}`` request sent to your callback URL."
    if name.startswith("Webhook") and event:
        return f"Body of the ``{event}`` webhook."
    if name.endswith("Action") and mtype:
        return f"The ``{mtype}`` action, sent by the client on the live WebSocket."
    if name.endswith("Message") and mtype:
        return f"The ``{mtype}`` message, received on the live WebSocket."
    if name.endswith("ErrorResponse"):
        return f"Body of {article(words_of(name[: -len('ErrorResponse')]))} error response."
    if name.endswith("Data"):
        base = re.sub(r"(Message)?Data$", "", name)
        kind = "action" if base.endswith("Action") else "message"
        base = re.sub(r"Action$", "", base)
        return f"The ``data`` of {article(words_of(base))} live {kind}."
    if re.search(r"Config(DTO|Dto)?$", name):
        return f"Settings of the {words_of(re.sub(r'Config(DTO|Dto)?$', '', name))} feature."
    if name.endswith("DTO"):
        return f"Result of the {words_of(name[:-3])} add-on."
    text = words_of(name)
    return text[0].upper() + text[1:] + "."


def ref_name(ref: str) -> str:
    prefix = "#/components/schemas/"
    assert ref.startswith(prefix), ref
    return ref[len(prefix) :]


#: Soft keywords renamed like keywords, fixed here so the output does not depend on the Python
#: running the generator (3.12 made ``type`` a soft keyword; it stays a plain field name).
_SOFT_KEYWORDS = frozenset({"_", "case", "match"})


def field_name(json_key: str) -> str:
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", json_key).lower()
    name = re.sub(r"\W", "_", name)
    if not name or name[0].isdigit():
        name = "f_" + name
    name = name.lstrip("_") or "f"
    if keyword.iskeyword(name) or name in _SOFT_KEYWORDS:
        name += "_"
    return name


def member_name(value: Any, prefix: str) -> str:
    if isinstance(value, (int, float)):
        return f"{prefix}{value}"
    name = re.sub(r"\W+", "_", str(value)).strip("_").upper()
    if not name or name[0].isdigit():
        name = "V_" + name
    return name


def camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name))


def inline_enum_name(schema: str, prop: str) -> str:
    if prop == "status" and schema in ("PreRecordedResponse", "StreamingResponse"):
        return "JobStatus"
    if prop == "kind":
        return "JobKind"
    if prop == "type":
        return "LiveActionType" if schema.endswith("Action") else "LiveMessageType"
    if prop == "event":
        return "WebhookEvent" if schema.startswith("Webhook") else "CallbackEvent"
    if schema == "PiiRedactionConfigDTO" and prop == "processed_text_type":
        return "PiiProcessedTextType"
    return class_name(schema) + camel(prop)


INLINE_ENUM_DOCS = {
    "JobStatus": "Status of a job: queued, processing, done or error.",
    "JobKind": "Kind of a job: pre-recorded or live.",
    "LiveActionType": "Type of an action the client sends on the live WebSocket.",
    "LiveMessageType": "Type of a message received on the live WebSocket.",
    "CallbackEvent": "Event of a request sent to your callback URL.",
    "WebhookEvent": "Event of a webhook.",
    "PiiProcessedTextType": "How redacted PII is rendered in the text: marker or mask.",
}

NUMERIC_PREFIX = {
    "StreamingSupportedBitDepthEnum": "BITS_",
    "StreamingSupportedSampleRateEnum": "HZ_",
}


@dataclass
class EnumDef:
    name: str
    doc: str
    values: list[Any]
    numeric: bool
    spec_name: str | None = None  # set for named component schemas
    sources: list[str] = field(default_factory=list)


@dataclass
class Converter:
    """The attrs converter of one request-side field: a generated function."""

    function: str  # its name in the module
    shape: str  # the _option_values function: enum_member, enum_list, config, ...
    target: str  # the enum or config class
    accepts: str  # what ``__init__`` takes (the function's parameter type), without None


@dataclass
class FieldDef:
    name: str
    json_key: str
    type_: str
    required: bool  # required by the spec and not nullable: no default
    always_emit: bool  # required by the spec but nullable: default None, still serialized
    description: str
    default: str | None = None  # Python source of a non-None default (``x-sdk-default``)
    converter: Converter | None = None  # request-side enum / config fields only


@dataclass
class ClassDef:
    name: str
    spec_name: str | None
    doc: list[str]
    fields: list[FieldDef]
    deps: list[str]
    typed_dict: bool = False  # also render ``<name>Dict`` (a config class a request holds)


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class Generator:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.schemas: dict[str, dict[str, Any]] = spec["components"]["schemas"]
        self.enums: dict[str, EnumDef] = {}
        self.enum_by_values: dict[tuple[Any, ...], str] = {}
        self.classes: dict[str, ClassDef] = {}
        self.discriminators: dict[str, tuple[str, dict[str, str]]] = {}
        names: dict[str, str] = {}
        for schema in self.schemas:
            cname = class_name(schema)
            if cname in names:
                raise SystemExit(f"class name {cname} for both {names[cname]} and {schema}")
            names[cname] = schema

    # -- enums ---------------------------------------------------------------------------
    def collect_enums(self) -> None:
        for sname, schema in self.schemas.items():
            if "enum" not in schema:
                continue
            numeric = schema.get("type") in ("number", "integer")
            self.enums[class_name(sname)] = EnumDef(
                name=class_name(sname),
                doc=describe(sname, schema),
                values=list(schema["enum"]),
                numeric=numeric,
                spec_name=sname,
            )
        for sname, schema in self.schemas.items():
            for prop, pschema in schema.get("properties", {}).items():
                if "enum" not in pschema:
                    continue
                assert pschema.get("type") == "string", (sname, prop)
                name = inline_enum_name(sname, prop)
                values = tuple(pschema["enum"])
                if name.endswith(camel(prop)) and values in self.enum_by_values:
                    name = self.enum_by_values[values]  # dedupe identical unnamed enums
                enum = self.enums.get(name)
                if enum is None:
                    doc = INLINE_ENUM_DOCS.get(name) or (
                        ascii_text(pschema.get("description", "")) or f"Values of {name}."
                    )
                    enum = self.enums[name] = EnumDef(name, doc, [], numeric=False)
                for value in values:
                    if value not in enum.values:
                        enum.values.append(value)
                enum.sources.append(f"{sname}.{prop}")
                self.enum_by_values.setdefault(values, name)

    # -- types ---------------------------------------------------------------------------
    def py_type(self, owner: str, prop: str | None, s: dict[str, Any], deps: list[str]) -> str:
        if "$ref" in s:
            target = ref_name(s["$ref"])
            name = class_name(target)
            if name not in self.enums:
                deps.append(target)
            return name
        if "allOf" in s:
            assert len(s["allOf"]) == 1 and "$ref" in s["allOf"][0], (owner, prop, s)
            return self.py_type(owner, prop, s["allOf"][0], deps)
        for key in ("oneOf", "anyOf"):
            if key in s:
                members = [self.py_type(owner, None, m, deps) for m in s[key]]
                return " | ".join(dict.fromkeys(members))
        if "enum" in s and prop is not None:
            return self.inline_enum_for(owner, prop)
        kind = s.get("type")
        if kind == "string":
            return "datetime.datetime" if s.get("format") == "date-time" else "str"
        if kind == "integer":
            return "int"
        if kind == "number":
            return "float"
        if kind == "boolean":
            return "bool"
        if kind == "array":
            items = s.get("items")
            # An array without an item schema may hold anything (the spec's own example for
            # ``audio_to_llm_config.prompts`` is a list of strings while its items say array).
            inner = self.py_type(owner, None, items, deps) if items and items.get("type") else None
            if items and ("$ref" in items or "oneOf" in items or "allOf" in items):
                inner = self.py_type(owner, None, items, deps)
            if items and items.get("type") == "array" and "items" not in items:
                inner = "Any"
            return f"list[{inner or 'Any'}]"
        if kind == "object":
            extra = s.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                return f"dict[str, {self.py_type(owner, None, extra, deps)}]"
            return "dict[str, Any]"
        return "Any"

    def inline_enum_for(self, owner: str, prop: str) -> str:
        for enum in self.enums.values():
            if f"{owner}.{prop}" in enum.sources:
                return enum.name
        raise KeyError((owner, prop))

    # -- classes -------------------------------------------------------------------------
    def build_class(
        self,
        sname: str,
        cname: str,
        schema: dict[str, Any],
        doc: list[str],
        spec_name: str | None,
        all_optional: bool = False,
        skip: tuple[str, ...] = (),
    ) -> ClassDef:
        required = set(schema.get("required", []))
        fields: list[FieldDef] = []
        deps: list[str] = []
        for key, pschema in schema.get("properties", {}).items():
            if key in skip:
                continue
            type_ = self.py_type(sname, key, pschema, deps)
            is_required = key in required and not all_optional
            nullable = bool(pschema.get("nullable"))
            default = None
            if "x-sdk-default" in pschema:  # an erratum: absent means this value, not None
                value = pschema["x-sdk-default"]
                default = "attrs.field(factory=list)" if value == [] else repr(value)
            fields.append(
                FieldDef(
                    name=field_name(key),
                    json_key=key,
                    type_=type_,
                    required=is_required and not nullable,
                    always_emit=is_required and nullable,
                    description=ascii_text(pschema.get("description", "")),
                    default=default,
                )
            )
            if "discriminator" in pschema:
                disc = pschema["discriminator"]
                union = self.py_type(sname, None, pschema.get("items", pschema), [])
                mapping = {k: class_name(ref_name(v)) for k, v in disc["mapping"].items()}
                self.discriminators[union] = (disc["propertyName"], mapping)
        for f in fields:
            if f.name in {
                "str",
                "int",
                "float",
                "bool",
                "list",
                "dict",
                "datetime",
                "attrs",
                "Any",
                "enum",
                "threading",
            }:
                raise SystemExit(f"field {sname}.{f.json_key} shadows a name the module uses")
        fields.sort(key=lambda f: not f.required)  # stable: required first, spec order kept
        return ClassDef(cname, spec_name, doc, fields, deps)

    def collect_classes(self) -> None:
        for sname, schema in self.schemas.items():
            if schema.get("type") != "object":
                continue
            cname = class_name(sname)
            self.classes[cname] = self.build_class(
                sname,
                cname,
                schema,
                [describe(sname, schema), "", f"Spec schema: {sname}."],
                spec_name=sname,
            )
        request = self.schemas["InitTranscriptionRequest"]
        self.classes["TranscriptionOptions"] = self.build_class(
            "InitTranscriptionRequest",
            "TranscriptionOptions",
            request,
            [
                "Options of a pre-recorded transcription: what ``submit(audio, options)`` takes.",
                "",
                "Every field of the request body except ``audio_url`` (the SDK fills it in),",
                "all optional; unset fields are not sent, so the API applies its defaults.",
                "",
                "Spec schema: InitTranscriptionRequest (without audio_url).",
            ],
            spec_name=None,
            all_optional=True,
            skip=("audio_url",),
        )
        # Discriminated oneOf in an operation response (GET /v2/transcription/{id}).
        for ops in self.spec.get("paths", {}).values():
            for op in ops.values():
                if not isinstance(op, dict):
                    continue
                for response in op.get("responses", {}).values():
                    for content in response.get("content", {}).values():
                        s = content.get("schema", {})
                        if "oneOf" in s and "discriminator" in s:
                            union = self.py_type("", None, {"oneOf": s["oneOf"]}, [])
                            disc = s["discriminator"]
                            mapping = {
                                k: class_name(ref_name(v)) for k, v in disc["mapping"].items()
                            }
                            self.discriminators[union] = (disc["propertyName"], mapping)

    # -- request side: converters and TypedDicts ------------------------------------------
    def request_classes(self) -> list[str]:
        """Classes a request body holds: the spec's request bodies, their configs, the options."""
        roots = ["TranscriptionOptions"]
        for ops in self.spec.get("paths", {}).values():
            for op in ops.values():
                if not isinstance(op, dict):
                    continue
                for content in op.get("requestBody", {}).get("content", {}).values():
                    ref = content.get("schema", {}).get("$ref")
                    if ref:
                        roots.append(class_name(ref_name(ref)))
        found: list[str] = []

        def visit(cname: str) -> None:
            if cname not in found:
                found.append(cname)
                for dep in self.classes[cname].deps:
                    visit(class_name(dep))

        for root in roots:
            visit(root)
        return found

    def add_converters(self) -> None:
        for cname in self.request_classes():
            for f in self.classes[cname].fields:
                f.converter = self.converter_for(cname, f)
                if f.converter and f.converter.shape.startswith("config"):
                    self.classes[f.converter.target].typed_dict = True

    def converter_for(self, cname: str, f: FieldDef) -> Converter | None:
        names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", f.type_))
        if not names & (set(self.enums) | set(self.classes)):
            return None
        function = f"_{snake(cname)}_{f.name}"
        inner = re.fullmatch(r"list\[(.*)\]", f.type_)
        if f.type_ in self.enums:
            plain = "int" if self.enums[f.type_].numeric else "str"
            return Converter(function, "enum_member", f.type_, f"{f.type_} | {plain}")
        if f.type_ in self.classes:
            return Converter(function, "config", f.type_, f"{f.type_} | {f.type_}Dict")
        if inner and inner.group(1) in self.enums:
            target = inner.group(1)
            plain = "int" if self.enums[target].numeric else "str"
            return Converter(function, "enum_list", target, f"Sequence[{target} | {plain}]")
        parts = inner.group(1).split(" | ") if inner else []
        if len(parts) == 2 and parts[0] in self.classes and parts[1] == "str":
            target = parts[0]
            accepts = f"Sequence[{target} | {target}Dict | str]"
            return Converter(function, "config_or_text_list", target, accepts)
        raise SystemExit(f"{cname}.{f.name}: no converter for a field of type {f.type_}")

    def class_order(self) -> list[ClassDef]:
        order: list[ClassDef] = []
        state: dict[str, int] = {}

        def visit(cname: str) -> None:
            if state.get(cname) == 2:
                return
            if state.get(cname) == 1:
                raise SystemExit(f"schema cycle through {cname}; forward references needed")
            state[cname] = 1
            for dep in self.classes[cname].deps:
                visit(class_name(dep))
            state[cname] = 2
            order.append(self.classes[cname])

        for cname in self.classes:
            visit(cname)
        return order

    # -- output --------------------------------------------------------------------------
    def render(self) -> str:
        self.collect_enums()
        self.collect_classes()
        self.add_converters()
        out: list[str] = [HEADER]
        for enum in self.enums.values():
            out.append(render_enum(enum))
        ordered = self.class_order()
        for cls in ordered:
            for f in cls.fields:
                if f.converter:
                    out.append(render_converter(cls, f, f.converter))
            out.append(render_class(cls))
            if cls.typed_dict:
                out.append(render_typed_dict(cls))
        out.append(self.render_tables(ordered))
        return "\n\n\n".join(part.rstrip("\n") for part in out) + "\n"

    def render_tables(self, ordered: list[ClassDef]) -> str:
        lines = [
            "#: Original spec schema name -> generated class (object schemas and enums).",
            "SPEC_SCHEMAS: dict[str, type] = {",
        ]
        for sname in self.schemas:
            lines.append(f"    {q(sname)}: {class_name(sname)},")
        lines.append("}")
        lines += [
            "",
            "#: Fields whose JSON key differs from the Python name: class -> {field: JSON key}.",
            "JSON_KEYS: dict[type, dict[str, str]] = {",
        ]
        for cls in ordered:
            renamed = {f.name: f.json_key for f in cls.fields if f.name != f.json_key}
            if renamed:
                body = ", ".join(f"{q(k)}: {q(v)}" for k, v in renamed.items())
                lines.append(f"    {cls.name}: {{{body}}},")
        lines.append("}")
        lines += [
            "",
            "#: Fields the spec requires but allows to be null: they default to None (tolerant",
            "#: parsing) yet are always serialized, so what we send keeps the required key.",
            "ALWAYS_SERIALIZE: dict[type, tuple[str, ...]] = {",
        ]
        for cls in ordered:
            names = [f.name for f in cls.fields if f.always_emit]
            if names:
                inner = ", ".join(q(n) for n in names) + ("," if len(names) == 1 else "")
                entry = f"    {cls.name}: ({inner}),"
                if len(entry) <= LINE:
                    lines.append(entry)
                else:
                    lines.append(f"    {cls.name}: (")
                    lines += [f"        {q(n)}," for n in names]
                    lines.append("    ),")
        lines.append("}")
        lines += [
            "",
            "#: oneOf unions the spec discriminates: union members -> (property, {value: class}).",
            "DISCRIMINATORS: dict[tuple[type, ...], tuple[str, dict[str, type]]] = {",
        ]
        for union, (prop, mapping) in sorted(self.discriminators.items()):
            members = ", ".join(m.strip() for m in union.split("|"))
            body = ", ".join(f"{q(k)}: {v}" for k, v in mapping.items())
            lines.append(f"    ({members}): (")
            lines.append(f"        {q(prop)},")
            lines.append(f"        {{{body}}},")
            lines.append("    ),")
        lines.append("}")
        return "\n".join(lines)


HEADER = '''\
# This file is GENERATED by tools/generate_models.py from the OpenAPI spec
# (gladia-openapi.json). Do not edit it by hand; regenerate with:
#
#     python tools/generate_models.py
#
"""Typed models of Gladia's API v2: one attrs class per spec object schema, one enum per enum.

Classes are frozen and slotted; field names mirror the JSON keys (see ``JSON_KEYS`` for the
exceptions). Fields the spec requires are required here, everything else defaults to ``None``.
Every class keeps the JSON keys it does not declare (:attr:`GladiaModel.extra`) and writes them
back when serialized. The spec is read through ``spec/ERRATA.md`` (where the service differs).
Parse and serialize them with :mod:`gladia_async._schema.converter`.

Request-side classes (``TranscriptionOptions``, ``LanguageConfig``, ...) also take an enum
field's plain value (``languages=["en"]``) and a config field as a dict of its JSON fields
(``language_config={"languages": ["en"]}``, typed by ``LanguageConfigDict``), converted when the
object is built; a bad value raises ``InvalidInput`` naming the field.
"""

import datetime
import enum
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

import attrs

from . import option_rules as _rules
from . import option_values as _values

_PSEUDO_LOCK = threading.Lock()
_PSEUDO_MEMBERS: dict[tuple[type, Any], Any] = {}


def _pseudo_member(cls: type[enum.Enum], base: Any, value: Any) -> Any:
    """Return the cached pseudo-member of ``cls`` for an unknown ``value`` (created once)."""
    key = (cls, value)
    member = _PSEUDO_MEMBERS.get(key)
    if member is None:
        with _PSEUDO_LOCK:
            member = _PSEUDO_MEMBERS.get(key)
            if member is None:
                member = base.__new__(cls, value)
                member._name_ = str(value)
                member._value_ = value
                _PSEUDO_MEMBERS[key] = member
    return member


class OpenEnum(str, enum.Enum):
    """A string enum that accepts values it does not know.

    The server may add values in the future; ``Cls("new")`` then returns a cached pseudo-member
    whose ``.value`` is ``"new"`` and which equals no known member, instead of raising.
    ``str(member)`` is the value.
    """

    def __str__(self) -> str:
        return str.__str__(self)

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        return _pseudo_member(cls, str, str.__str__(value))


#: A model's repr shows this many items of a list (then how many more), this many characters
#: of a string, and nested models this deep: a finished job holds every word of its audio, and
#: a full repr of it ran to tens of thousands of characters in a log line or a traceback.
_REPR_ITEMS = 3
_REPR_CHARS = 120
_REPR_DEPTH = 4


def _short_repr(value: Any, depth: int) -> str:
    """``repr(value)``, bounded: long lists and strings summarized, deep models elided."""
    if isinstance(value, GladiaModel):
        return value._bounded_repr(depth)
    if isinstance(value, (list, tuple)):
        items = [_short_repr(item, depth) for item in value[:_REPR_ITEMS]]
        if len(value) > _REPR_ITEMS:
            items.append(f"...{len(value) - _REPR_ITEMS} more")
        text = ", ".join(items)
        return f"[{text}]" if isinstance(value, list) else f"({text}{',' * (len(value) == 1)})"
    if isinstance(value, dict):
        pairs = [f"{k!r}: {_short_repr(v, depth)}" for k, v in list(value.items())[:_REPR_ITEMS]]
        if len(value) > _REPR_ITEMS:
            pairs.append(f"...{len(value) - _REPR_ITEMS} more")
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, str) and len(value) > _REPR_CHARS:
        return f"{value[:_REPR_CHARS]!r}...({len(value)} chars)"
    return repr(value)


@attrs.frozen(kw_only=True, repr=False)
class GladiaModel:
    """Base of every model: what it adds is the JSON keys the model does not declare.

    ``extra`` holds them as received (``None`` when there were none); they are also readable as
    attributes (``job.result.some_new_block``) and are written back when the model is
    serialized, so a field Gladia adds next month is neither lost nor out of reach.

    A model's ``repr`` is bounded: every field is named, but a long list shows its first items
    and how many more, a long string its start and its length, and models nested deeper than
    a few levels show as ``Name(...)``. Read the fields (or serialize the model) for all of it.
    """

    #: JSON keys this model does not declare, as received (None when there were none).
    extra: dict[str, Any] | None = attrs.field(default=None, repr=False)
    # Keys whose presence differs from what the defaults imply (an explicit null or default
    # value, an absent always-written key): the converter restores them when serializing.
    _flip: frozenset[str] | None = attrs.field(
        default=None, init=False, repr=False, eq=False, hash=False
    )
    # The converter is built on the models, so they cannot import it: it installs its
    # ``unstructure`` and ``dumps`` here when it is imported, and importing any module of
    # ``gladia_async._schema`` (a model's own, too) imports it first (the package's __init__).
    _unstructure: ClassVar[Callable[[Any], Any]]
    _dumps: ClassVar[Callable[[Any], bytes]]

    if not TYPE_CHECKING:  # unknown keys read as attributes; type checkers still flag typos

        def __getattr__(self, name: str) -> Any:
            extra = object.__getattribute__(self, "extra")
            if extra is not None and name in extra:
                return extra[name]
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        return self._bounded_repr(0)

    def _bounded_repr(self, depth: int) -> str:
        name = type(self).__name__
        if depth >= _REPR_DEPTH:
            return f"{name}(...)"
        fields = [
            f"{field.name}={_short_repr(getattr(self, field.name), depth + 1)}"
            for field in attrs.fields(type(self))
            if field.repr
        ]
        return f"{name}({', '.join(fields)})"

    def to_dict(self) -> dict[str, Any]:
        """Return the model as JSON data (dicts, lists, strings, numbers), losslessly.

        The same output as the converter's ``unstructure``: keys as the API spells them,
        unknown keys (:attr:`extra`) and explicit nulls kept, date-times as ISO 8601 text, so
        ``structure(model.to_dict(), type(model)) == model``.
        """
        data: dict[str, Any] = GladiaModel._unstructure(self)
        return data

    def to_json(self) -> str:
        """Return the model as a JSON document (``json.loads`` of it equals :meth:`to_dict`)."""
        return GladiaModel._dumps(self).decode()


class OpenIntEnum(int, enum.Enum):
    """An integer enum that accepts values it does not know (see :class:`OpenEnum`)."""

    def __str__(self) -> str:
        return int.__repr__(self)

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if isinstance(value, float):
            if not value.is_integer():
                return None
            value = int(value)
        return _pseudo_member(cls, int, int(value))
'''


def q(value: str) -> str:
    """A double-quoted Python string literal, as ruff format writes it."""
    return json.dumps(value)


def wrap_comment(text: str, indent: str) -> list[str]:
    width = LINE - len(indent) - 3
    return [f"{indent}#: {line}" for line in textwrap.wrap(text, width)]


def docstring(lines: list[str], indent: str) -> list[str]:
    wrapped: list[str] = []
    for line in lines:
        line = line.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        if not line:
            wrapped.append("")
            continue
        wrapped += textwrap.wrap(line, LINE - len(indent) - 3) or [""]
    if len(wrapped) == 1 and len(indent) + 6 + len(wrapped[0]) <= LINE:
        return [f'{indent}"""{wrapped[0]}"""']
    body = [f'{indent}"""{wrapped[0]}']
    body += [f"{indent}{line}" if line else "" for line in wrapped[1:]]
    body.append(f'{indent}"""')
    return body


def render_enum(enum: EnumDef) -> str:
    base = "OpenIntEnum" if enum.numeric else "OpenEnum"
    doc = [enum.doc, ""]
    if enum.spec_name:
        doc.append(f"Spec schema: {enum.spec_name}.")
    else:
        doc.append(
            f"Inline in the spec: {', '.join(enum.sources[:3])}"
            + (", and others" if len(enum.sources) > 3 else "")
            + "."
        )
    lines = [f"class {enum.name}({base}):", *docstring(doc, "    "), ""]
    prefix = NUMERIC_PREFIX.get(enum.spec_name or "", "V_")
    seen: set[str] = set()
    for value in enum.values:
        member = member_name(value, prefix)
        if member in seen:
            raise SystemExit(f"duplicate member {member} in {enum.name}")
        seen.add(member)
        literal = str(int(value)) if enum.numeric else q(value)
        lines.append(f"    {member} = {literal}")
    return "\n".join(lines)


def call(head: str, args: list[str], tail: str, indent: str) -> list[str]:
    """``head(args)tail`` as ruff format writes it: one line, else args on one or many lines."""
    one = f"{indent}{head}({', '.join(args)}){tail}"
    if len(one) <= LINE:
        return [one]
    inner = indent + "    " + ", ".join(args)
    if len(inner) <= LINE:
        return [f"{indent}{head}(", inner, f"{indent}){tail}"]
    return [f"{indent}{head}(", *[f"{indent}    {a}," for a in args], f"{indent}){tail}"]


def render_converter(cls: ClassDef, f: FieldDef, conv: Converter) -> str:
    optional = "" if f.required else " | None"
    returns = f" -> {f.type_}{optional}:"
    lines = call(f"def {conv.function}", [f"value: {conv.accepts}{optional}"], returns, "")
    if len(lines) == 3:  # ruff splits a lone parameter with a trailing comma
        lines[1] += ","
    argument = q(f.name)  # the keyword the caller wrote
    if conv.shape in ("enum_member", "config"):
        check = f"type(value) is {conv.target}"
        lines.append(f"    if {'value is None or ' if optional else ''}{check}:")
        lines.append("        return value")
    elif optional:
        lines += ["    if value is None:", "        return None"]
    lines += call(f"return _values.{conv.shape}", ["value", conv.target, argument], "", "    ")
    return "\n".join(lines)


def render_typed_dict(cls: ClassDef) -> str:
    name = f"{cls.name}Dict"
    required = [f for f in cls.fields if f.required]
    optional = [f for f in cls.fields if not f.required]
    for f in cls.fields:
        if f.json_key != f.name or "datetime" in f.type_:
            raise SystemExit(f"{cls.name}.{f.json_key}: not representable in {name}")

    def entries(fields: list[FieldDef]) -> list[str]:
        lines = []
        for f in fields:
            type_ = f.converter.accepts if f.converter else f.type_
            lines.append(f"    {f.name}: {type_}{'' if f.required else ' | None'}")
        return lines

    doc = [
        f"A :class:`{cls.name}` as a dict of its JSON fields, for mypy to check the keys.",
        "",
        f"Where a request takes a ``{cls.name}``, this dict is accepted too, and turned into one "
        "when the request object is built: it is checked as strict JSON options are, and a bad "
        "key or value raises ``InvalidInput``.",
    ]
    out: list[str] = []
    base = "TypedDict"
    if required:
        base = f"_{name}Required"
        out += [f"class {base}(TypedDict):", *entries(required), "", ""]
    out += [f"class {name}({base}, total=False):", *docstring(doc, "    ")]
    if optional:
        out += ["", *entries(optional)]
    return "\n".join(out)


def render_field(f: FieldDef) -> list[str]:
    if f.converter is None:
        if f.required:
            return [f"    {f.name}: {f.type_}"]
        if f.default is not None:
            return [f"    {f.name}: {f.type_} = {f.default}"]
        return [f"    {f.name}: {f.type_} | None = None"]
    args = [f"converter={f.converter.function}"]
    if not f.required:
        default = f.default or "None"
        if default.startswith("attrs.field(factory="):
            args.insert(0, default[len("attrs.field(") : -1])
        else:
            args.insert(0, f"default={default}")
    optional = "" if f.required else " | None"
    return call(f"{f.name}: {f.type_}{optional} = attrs.field", args, "", "    ")


#: Request classes whose options have rules the spec cannot express: the function of
#: ``gladia_async/_schema/option_rules.py`` their ``__attrs_post_init__`` calls.
RULE_HOOKS = {
    "TranscriptionOptions": "check_transcription",
    "TranscriptionRequest": "check_transcription",
    "StreamingRequest": "check_live",
}


def render_class(cls: ClassDef) -> str:
    lines = [
        "@attrs.frozen(kw_only=True, repr=False)",  # GladiaModel's bounded repr
        f"class {cls.name}(GladiaModel):",
        *docstring(cls.doc, "    "),
    ]
    for f in cls.fields:
        lines.append("")
        if f.description:
            lines += wrap_comment(f.description, "    ")
        lines += render_field(f)
    hook = RULE_HOOKS.get(cls.name)
    if hook is not None:
        # Called by __init__ only: parsing (the converter) skips it, options_from_dict calls it.
        lines += ["", f"    __attrs_post_init__ = _rules.{hook}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if --out is stale")
    args = parser.parse_args(argv)
    spec = json.loads(args.spec.read_text(encoding="utf-8"))
    code = Generator(apply_errata(spec)).render()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != code:
            print(f"{args.out} is stale; run python tools/generate_models.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(code, encoding="utf-8")
    print(f"wrote {args.out} ({code.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
