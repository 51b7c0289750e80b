"""Rules between request options that the spec cannot express, checked when options are built.

The generated request models call :func:`check_transcription` (``TranscriptionOptions``,
``TranscriptionRequest``) and :func:`check_live` (``LiveOptions``) from their
``__attrs_post_init__``, so a combination Gladia refuses raises
:class:`~gladia_async.InvalidInput` naming the field's path, before any request. Each rule comes
from Gladia's documentation (``spec/ERRATA.md``, "Option rules"); the emulator enforces the same
ones with the service's 400 message shape.

Objects are read by attribute only: this module must not import the models (they import it).
"""

from __future__ import annotations

import json
from typing import Any

from .._core.errors import InvalidInput

__all__ = [
    "LIVE_VOCABULARY_MAX_CHARS",
    "LIVE_VOCABULARY_MAX_ENTRIES",
    "LIVE_VOCABULARY_MAX_WORDS",
    "MAX_CUSTOM_METADATA_CHARS",
    "RULE_HOOKS",
    "SOLARIA_3_LANGUAGES",
    "check_built",
    "check_custom_metadata",
    "check_live",
    "check_transcription",
]

#: Docs (models): solaria-3 covers "EN, FR, DE, ES, IT", with no code switching.
SOLARIA_3_LANGUAGES = ("en", "fr", "de", "es", "it")
#: Docs (custom metadata): "cannot be longer than 2000 characters when stringified".
MAX_CUSTOM_METADATA_CHARS = 2000
#: Live custom vocabulary: 10,000 characters in all, 100 entries, 5 words per entry.
LIVE_VOCABULARY_MAX_CHARS = 10_000
LIVE_VOCABULARY_MAX_ENTRIES = 100
LIVE_VOCABULARY_MAX_WORDS = 5


def _text(value: Any) -> str:
    raw = getattr(value, "value", value)
    return raw if isinstance(raw, str) else str(raw)


def check_custom_metadata(value: Any, argument: str = "custom_metadata") -> None:
    """Raise :class:`InvalidInput` if ``value`` is over 2,000 characters as compact JSON."""
    if value is None:
        return
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_no_json)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(argument, f"not JSON-serializable: {exc}") from None
    if len(text) > MAX_CUSTOM_METADATA_CHARS:
        raise InvalidInput(
            argument,
            f"{len(text):,} characters as JSON; Gladia allows at most "
            f"{MAX_CUSTOM_METADATA_CHARS:,}: keep ids and short labels there, the rest in your "
            "own store under that id",
        )


def _no_json(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def check_transcription(options: Any) -> None:
    """The rules of a pre-recorded request: solaria-3's languages, ``custom_metadata``'s size."""
    check_custom_metadata(getattr(options, "custom_metadata", None))
    if _text(getattr(options, "model", None)) != "solaria-3":
        return
    config = getattr(options, "language_config", None)
    languages = list(getattr(config, "languages", None) or [])
    covered = ", ".join(SOLARIA_3_LANGUAGES)
    # No languages is allowed: Gladia's models page says languages *can* be passed ("for
    # example ["fr"], or several from EN/FR/DE/ES/IT"), and Gladia's own SDKs send solaria-3
    # without any; the model then detects among the five it covers.
    for index, language in enumerate(languages):
        code = _text(language)
        if code not in SOLARIA_3_LANGUAGES:
            raise InvalidInput(
                f"language_config.languages[{index}]",
                f"solaria-3 transcribes {covered} only, not {code!r}; use solaria-1 (the "
                "default model) for it",
            )
    for path, value in (
        ("language_config.code_switching", getattr(config, "code_switching", None)),
        ("enable_code_switching", getattr(options, "enable_code_switching", None)),
    ):
        if value is True:
            raise InvalidInput(
                path,
                "solaria-3 has no code switching (it keeps the first language it detects); "
                "leave it off, or use solaria-1 for audio that switches languages",
            )


def check_live(options: Any) -> None:
    """The rules of a live session: the custom vocabulary's size, ``custom_metadata``'s size."""
    check_custom_metadata(getattr(options, "custom_metadata", None))
    processing = getattr(options, "realtime_processing", None)
    config = getattr(processing, "custom_vocabulary_config", None)
    vocabulary = list(getattr(config, "vocabulary", None) or [])
    path = "realtime_processing.custom_vocabulary_config.vocabulary"
    if len(vocabulary) > LIVE_VOCABULARY_MAX_ENTRIES:
        raise InvalidInput(
            path,
            f"{len(vocabulary)} entries; a live session takes at most "
            f"{LIVE_VOCABULARY_MAX_ENTRIES}: keep the words the model gets wrong",
        )
    total = 0
    for index, entry in enumerate(vocabulary):
        text = entry if isinstance(entry, str) else getattr(entry, "value", "")
        text = text if isinstance(text, str) else ""
        words = len(text.split())
        if words > LIVE_VOCABULARY_MAX_WORDS:
            raise InvalidInput(
                f"{path}[{index}]",
                f"{words} words; a live vocabulary entry has at most "
                f"{LIVE_VOCABULARY_MAX_WORDS}: split the phrase into its unusual words",
            )
        total += len(text)
    if total > LIVE_VOCABULARY_MAX_CHARS:
        raise InvalidInput(
            path,
            f"{total:,} characters in all; a live session takes at most "
            f"{LIVE_VOCABULARY_MAX_CHARS:,}: shorten the list",
        )


#: The ``__attrs_post_init__`` of the request models: only rules, no state, so the converter may
#: build those classes without ``__init__`` (a parsed answer is never refused) and
#: :func:`check_built` applies them to options built from JSON.
RULE_HOOKS = frozenset({check_transcription, check_live})


def check_built(value: Any) -> None:
    """Apply the rules of ``value``'s class to an object built without ``__init__``."""
    hook = getattr(type(value), "__attrs_post_init__", None)
    if hook in RULE_HOOKS:
        hook(value)
