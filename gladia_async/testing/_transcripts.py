"""Deterministic, spec-shaped transcription results.

``build_result(seed=..., duration=..., channels=..., options=...)`` returns a dict shaped like
the spec's ``TranscriptionResultDTO``: same inputs, same output. Words are drawn by a seeded
RNG from a fixed vocabulary at about 2.5 words per second of audio, grouped into utterances
(one sentence each, capitalised and punctuated) that rotate over the audio channels. Add-on
blocks appear only when the options (the job's request params) enable them.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

__all__ = ["WORDS_PER_SECOND", "build_live_result", "build_result"]

WORDS_PER_SECOND = 2.5

_VOCABULARY = (
    "the a an and or but so because when while after before this that these those it we you "
    "they he she our your their team project meeting customer product report budget quarter "
    "market plan idea question answer result update schedule call email document version "
    "system service data model audio voice speech text language word sentence minute hour day "
    "week month year today tomorrow yesterday morning afternoon evening is are was were be "
    "been have has had do does did will would can could should must might need want think "
    "know see say tell ask give take make get go come work start finish review check send "
    "share discuss agree decide improve deliver build test deploy support really very quite "
    "just also still already again maybe probably certainly clearly quickly new good great "
    "important next last first final small large early late open ready simple several many"
).split()
_PEOPLE = ("Alice", "Bob", "Charlie", "Diana", "Ethan", "Fatima", "Gabriel", "Hana")
_PLACES = ("Paris", "London", "Berlin", "Madrid", "Tokyo", "Montreal", "Lisbon", "Boston")
_ORGS = ("Gladia", "Acme", "Globex", "Initech", "Umbrella")
_SENTIMENTS = (("positive", "joy"), ("neutral", "neutral"), ("negative", "sadness"))


def _r(value: float) -> float:
    return round(value, 3)


def _rng(seed: str) -> random.Random:
    digest = hashlib.sha256(seed.encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _timestamp(seconds: float, sep: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def _utterances(
    rng: random.Random, duration: float, channels: int, languages: list[str], speakers: int
) -> list[dict[str, Any]]:
    count = max(1, round(duration * WORDS_PER_SECOND)) if duration > 0 else 0
    if count == 0:
        return []
    slot = duration / count
    vocab = rng.choices(_VOCABULARY, k=count)
    confidences = [0.8 + 0.19 * x for x in (rng.random() for _ in range(count))]
    for index in range(0, count, 37):  # sprinkle named entities deterministically
        pool = (_PEOPLE, _PLACES, _ORGS)[index % 3]
        vocab[index] = pool[rng.randrange(len(pool))]
    utterances: list[dict[str, Any]] = []
    position = 0
    number = 0
    while position < count:
        size = min(rng.randint(6, 18), count - position)
        words: list[dict[str, Any]] = []
        texts: list[str] = []
        for offset in range(size):
            i = position + offset
            token = vocab[i]
            if offset == 0:
                token = token[:1].upper() + token[1:]
            if offset == size - 1:
                token += "?" if rng.random() < 0.15 else "."
            start = i * slot
            words.append(
                {
                    "word": token,
                    "start": _r(start),
                    "end": _r(start + slot * 0.85),
                    "confidence": _r(confidences[i]),
                }
            )
            texts.append(token)
        conf = sum(w["confidence"] for w in words) / size
        utterance: dict[str, Any] = {
            "start": words[0]["start"],
            "end": words[-1]["end"],
            "confidence": _r(conf),
            "channel": number % channels,
            "words": words,
            "text": " ".join(texts),
            "language": languages[number % len(languages)],
        }
        if speakers:
            utterance["speaker"] = number % speakers
        utterances.append(utterance)
        position += size
        number += 1
    return utterances


def _subtitles(utterances: list[dict[str, Any]], fmt: str, config: dict[str, Any]) -> str:
    max_chars = int(config.get("maximum_characters_per_row") or 42)
    max_rows = int(config.get("maximum_rows_per_caption") or 2)
    max_duration = float(config.get("maximum_duration") or 6)
    budget = max_chars * max_rows
    cues: list[tuple[float, float, str]] = []
    for utt in utterances:
        current: list[dict[str, Any]] = []
        length = 0
        for word in utt["words"]:
            extra = len(word["word"]) + (1 if current else 0)
            too_long = current and (
                length + extra > budget or word["end"] - current[0]["start"] > max_duration
            )
            if too_long:
                cues.append(_cue(current, max_chars))
                current, length, extra = [], 0, len(word["word"])
            current.append(word)
            length += extra
        if current:
            cues.append(_cue(current, max_chars))
    sep = "," if fmt == "srt" else "."
    parts: list[str] = [] if fmt == "srt" else ["WEBVTT\n"]
    for index, (start, end, text) in enumerate(cues, 1):
        head = f"{index}\n" if fmt == "srt" else ""
        parts.append(f"{head}{_timestamp(start, sep)} --> {_timestamp(end, sep)}\n{text}\n")
    return "\n".join(parts)


def _cue(words: list[dict[str, Any]], max_chars: int) -> tuple[float, float, str]:
    rows: list[str] = []
    row = ""
    for word in words:
        token = word["word"]
        if row and len(row) + 1 + len(token) > max_chars:
            rows.append(row)
            row = token
        else:
            row = f"{row} {token}" if row else token
    rows.append(row)
    return words[0]["start"], words[-1]["end"], "\n".join(rows)


def _addon(results: Any, *, exec_time: float, empty: bool = False) -> dict[str, Any]:
    return {
        "success": True,
        "is_empty": empty,
        "exec_time": _r(exec_time),
        "error": None,
        "results": results,
    }


def _summary(sentences: list[str], kind: str) -> str:
    picked = sentences[:: max(1, len(sentences) // 5)][:5]
    if not picked:
        return ""
    if kind == "bullet_points":
        return "\n".join(f"- {s}" for s in picked)
    if kind == "concise":
        return picked[0]
    return "This conversation covers the following points. " + " ".join(picked)


def _entities(utterances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    kinds = {**{p: "PERSON" for p in _PEOPLE}, **{p: "LOCATION" for p in _PLACES}}
    kinds.update({o: "ORGANIZATION" for o in _ORGS})
    for utt in utterances:
        for word in utt["words"]:
            bare = word["word"].rstrip(".?")
            entity = kinds.get(bare)
            if entity:
                out.append(
                    {
                        "entity_type": entity,
                        "text": bare,
                        "start": word["start"],
                        "end": word["end"],
                    }
                )
    return out


def _apply_spelling(utterances: list[dict[str, Any]], dictionary: dict[str, Any]) -> None:
    mapping = {
        str(variant).lower(): str(target)
        for target, variants in dictionary.items()
        if isinstance(variants, list)
        for variant in variants
    }
    if not mapping:
        return
    for utt in utterances:
        changed = False
        for word in utt["words"]:
            token = word["word"]
            core = token.rstrip(".?")
            replacement = mapping.get(core.lower())
            if replacement is not None:
                word["word"] = replacement + token[len(core) :]
                changed = True
        if changed:
            utt["text"] = " ".join(w["word"] for w in utt["words"])


def _languages(options: dict[str, Any]) -> list[str]:
    config = options.get("language_config") or {}
    languages = [x for x in config.get("languages") or [] if isinstance(x, str)]
    if not languages:
        return ["en"]
    return languages if config.get("code_switching") else languages[:1]


def _speakers(options: dict[str, Any]) -> int:
    if not options.get("diarization"):
        return 0
    config = options.get("diarization_config") or {}
    for key in ("number_of_speakers", "max_speakers", "min_speakers"):
        value = config.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return 2


def _core(seed: str, duration: float, channels: int, options: dict[str, Any]) -> dict[str, Any]:
    rng = _rng(seed)
    channels = max(1, int(channels))
    languages = _languages(options)
    utterances = _utterances(rng, max(0.0, duration), channels, languages, _speakers(options))
    if options.get("custom_spelling"):
        config = options.get("custom_spelling_config") or {}
        _apply_spelling(utterances, config.get("spelling_dictionary") or {})
    full = " ".join(u["text"] for u in utterances)
    transcription: dict[str, Any] = {
        "full_transcript": full,
        "languages": sorted(set(languages)),
        "utterances": utterances,
    }
    metadata = {
        "audio_duration": _r(duration),
        "number_of_distinct_channels": channels,
        "billing_time": _r(duration),
        "transcription_time": _r(1.0 + duration / 60.0),
    }
    return {"metadata": metadata, "transcription": transcription}


def _sentences(utterances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for utt in utterances:
        sentence = {
            "sentence": utt["text"],
            "start": utt["start"],
            "end": utt["end"],
            "confidence": utt["confidence"],
            "language": utt["language"],
            "channel": utt["channel"],
            "words": utt["words"],
        }
        if "speaker" in utt:
            sentence["speaker"] = utt["speaker"]
        out.append(sentence)
    return out


def _chapters(utterances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    step = max(1, len(utterances) // 4)
    chapters = []
    for first in range(0, len(utterances), step):
        span = utterances[first : first + step]
        text = " ".join(u["text"] for u in span)
        chapters.append(
            {
                "summary": text,
                "headline": span[0]["text"][:40],
                "gist": span[0]["text"][:24],
                "keywords": sorted({w["word"].strip(".?").lower() for w in span[0]["words"]})[:5],
                "start": span[0]["start"],
                "end": span[-1]["end"],
            }
        )
    return chapters


def build_result(
    *, seed: str, duration: float, channels: int, options: dict[str, Any]
) -> dict[str, Any]:
    """Return a deterministic ``TranscriptionResultDTO``-shaped dict for a pre-recorded job."""
    result = _core(seed, duration, channels, options)
    transcription = result["transcription"]
    utterances: list[dict[str, Any]] = transcription["utterances"]
    sentences = [u["text"] for u in utterances]
    exec_time = 0.05 + duration / 600.0
    if options.get("sentences"):
        # Objects, as Gladia's docs show them (the spec says strings): spec/ERRATA.md.
        block = _addon(_sentences(utterances), exec_time=exec_time, empty=not utterances)
        transcription["sentences"] = [block]
        result["sentences"] = block
    subtitles_of: Any = None
    if options.get("subtitles"):
        config = options.get("subtitles_config") or {}
        formats = list(dict.fromkeys(config.get("formats") or ["srt"]))

        def subtitles_of(utts: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{"format": fmt, "subtitles": _subtitles(utts, fmt, config)} for fmt in formats]

        transcription["subtitles"] = subtitles_of(utterances)
    if options.get("translation"):
        config = options.get("translation_config") or {}
        results = []
        for lang in config.get("target_languages") or []:
            translated = [
                {**u, "text": f"[{lang}] {u['text']}", "language": lang} for u in utterances
            ]
            item: dict[str, Any] = {
                "error": None,
                "full_transcript": " ".join(u["text"] for u in translated),
                "languages": [lang],
                "utterances": translated,
            }
            # With subtitles or sentences on, each translation carries its own (the service
            # does; TranslationResultDTO.subtitles / .sentences in the spec).
            if subtitles_of is not None:
                item["subtitles"] = subtitles_of(translated)
            if options.get("sentences"):
                item["sentences"] = [
                    _addon(_sentences(translated), exec_time=exec_time, empty=not translated)
                ]
            results.append(item)
        result["translation"] = _addon(results, exec_time=exec_time, empty=not results)
    if options.get("chapterization"):
        chapters = _chapters(utterances)
        result["chapterization"] = _addon(chapters, exec_time=exec_time, empty=not chapters)
    if options.get("summarization"):
        kind = (options.get("summarization_config") or {}).get("type") or "general"
        text = _summary(sentences, kind)
        result["summarization"] = _addon(text, exec_time=exec_time, empty=not text)
    if options.get("named_entity_recognition"):
        found = _entities(utterances)
        result["named_entity_recognition"] = _addon(found, exec_time=exec_time, empty=not found)
    if options.get("sentiment_analysis"):
        rows = []
        for index, utt in enumerate(utterances):
            sentiment, emotion = _SENTIMENTS[index % len(_SENTIMENTS)]
            rows.append(
                {
                    "text": utt["text"],
                    "sentiment": sentiment,
                    "emotion": emotion,
                    "start": utt["start"],
                    "end": utt["end"],
                    "channel": utt["channel"],
                }
            )
            if "speaker" in utt:
                rows[-1]["speaker"] = utt["speaker"]
        # A list of objects, as Gladia's docs show it (the spec says a string): spec/ERRATA.md.
        result["sentiment_analysis"] = _addon(rows, exec_time=exec_time, empty=not rows)
    if options.get("audio_to_llm"):
        prompts = (options.get("audio_to_llm_config") or {}).get("prompts") or []
        llm = []
        for prompt in prompts:
            text = prompt if isinstance(prompt, str) else " ".join(map(str, prompt))
            answer = f"Answer to '{text}': " + (sentences[0] if sentences else "(no speech)")
            llm.append(_addon({"prompt": text, "response": answer}, exec_time=exec_time))
        result["audio_to_llm"] = _addon(llm, exec_time=exec_time, empty=not llm)
    return result


def build_live_result(
    *, seed: str, duration: float, channels: int, options: dict[str, Any]
) -> dict[str, Any]:
    """Return a ``StreamingTranscriptionResultWithMessagesDTO``-shaped dict for a live job."""
    realtime = options.get("realtime_processing") or {}
    post = options.get("post_processing") or {}
    flat = {"language_config": options.get("language_config"), **realtime, **post}
    result = build_result(seed=seed, duration=duration, channels=channels, options=flat)
    result.pop("audio_to_llm", None)
    result.pop("sentences", None)
    if post.get("chapterization"):
        utterances = result["transcription"]["utterances"]
        chapters = [
            {
                "headline": u["text"][:40],
                "summary": u["text"],
                "start": u["start"],
                "end": u["end"],
                "keywords": [],
            }
            for u in utterances[:: max(1, len(utterances) // 4)]
        ]
        result["chapterization"] = _addon({"chapters": chapters}, exec_time=0.1)
    result["messages"] = []
    return result
