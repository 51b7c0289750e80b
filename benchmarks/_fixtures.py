"""Deterministic fixtures shared by the benchmarks.

:func:`make_large_job` builds the JSON of a finished pre-recorded job
(``GET /v2/pre-recorded/{id}``) for a long, two-speaker audio, shaped per the spec's
``PreRecordedResponse`` and ``TranscriptionResultDTO``: transcription (utterances with words,
sentences, srt + vtt subtitles), one translation with its own utterances and words, metadata,
file and request parameters. Same seed, same bytes.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["make_large_job"]

_VOCABULARY = (
    "the of and to a in that is was he for it with as his on be at by had are but from or have "
    "an they which one you were all we her she there would their will when who him been has "
    "more if no out do so can what up said about other into than its time only could new them "
    "man some these then two first may any like now my such make over our even most me state "
    "after also made many did must before back see through way where get much go well your "
    "know should down work year because come people just say each those take day good how long "
    "transcription speaker meeting budget quarter customer product roadmap engineering release "
    "latency throughput benchmark question answer decision follow action item deadline review"
).split()


def _srt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def _subtitles(utterances: list[dict[str, Any]], fmt: str) -> str:
    parts = ["WEBVTT\n"] if fmt == "vtt" else []
    index = 0
    for utterance in utterances:
        words = utterance["words"]
        for i in range(0, len(words), 12):
            chunk = words[i : i + 12]
            index += 1
            start, end = _srt_time(chunk[0]["start"]), _srt_time(chunk[-1]["end"])
            if fmt == "vtt":
                start, end = start.replace(",", "."), end.replace(",", ".")
            text = "".join(w["word"] for w in chunk).strip()
            parts.append(f"{index}\n{start} --> {end}\n{text}\n")
    return "\n".join(parts)


def _transcript(rng: random.Random, hours: float, words: int, language: str) -> dict[str, Any]:
    duration = hours * 3600.0
    step = duration / words
    utterances: list[dict[str, Any]] = []
    t = 0.35
    produced = 0
    speaker = 0
    while produced < words:
        count = min(words - produced, rng.randint(4, 22))
        word_list: list[dict[str, Any]] = []
        for _ in range(count):
            length = step * rng.uniform(0.55, 0.9)
            token = rng.choice(_VOCABULARY)
            word_list.append(
                {
                    "word": f" {token}",
                    "start": round(t, 3),
                    "end": round(t + length, 3),
                    "confidence": round(rng.uniform(0.6, 1.0), 2),
                }
            )
            t += step
        produced += count
        text = "".join(w["word"] for w in word_list).strip().capitalize() + "."
        utterances.append(
            {
                "start": word_list[0]["start"],
                "end": word_list[-1]["end"],
                "confidence": round(sum(w["confidence"] for w in word_list) / count, 3),
                "channel": 0,
                "speaker": speaker,
                "words": word_list,
                "text": text,
                "language": language,
            }
        )
        if rng.random() < 0.6:
            speaker = 1 - speaker
    full = " ".join(u["text"] for u in utterances)
    return {
        "full_transcript": full,
        "languages": [language],
        "sentences": [
            {
                "success": True,
                "is_empty": False,
                "exec_time": round(rng.uniform(0.5, 3.0), 3),
                "error": None,
                "results": [u["text"] for u in utterances],
            }
        ],
        "subtitles": [
            {"format": "srt", "subtitles": _subtitles(utterances, "srt")},
            {"format": "vtt", "subtitles": _subtitles(utterances, "vtt")},
        ],
        "utterances": utterances,
    }


def make_large_job(seed: int = 0, hours: float = 3.6, words: int = 30_000) -> dict[str, Any]:
    """The JSON (as Python data) of a finished job: ``hours`` of audio, ``words`` words."""
    rng = random.Random(seed)
    audio_url = "https://api.gladia.io/file/6c09400e-23d2-4bd2-be55-96a5ececfa3b"
    duration = round(hours * 3600.0, 3)
    transcription = _transcript(rng, hours, words, "en")
    translated = _transcript(rng, hours, words, "fr")
    translation_result = {"error": None, **translated}
    return {
        "id": "45463597-20b7-4af7-b3b3-f5fb778203ab",
        "request_id": "G-45463597",
        "version": 2,
        "status": "done",
        "created_at": "2023-12-28T09:04:17.210Z",
        "completed_at": "2023-12-28T09:09:48.617Z",
        "custom_metadata": {"user": "John Doe", "meeting": "quarterly-review"},
        "error_code": None,
        "post_session_metadata": {},
        "kind": "pre-recorded",
        "file": {
            "id": "6c09400e-23d2-4bd2-be55-96a5ececfa3b",
            "filename": "quarterly_review.wav",
            "source": None,
            "audio_duration": duration,
            "number_of_channels": 1,
        },
        "request_params": {
            "audio_url": audio_url,
            "custom_vocabulary": False,
            "callback": False,
            "subtitles": True,
            "subtitles_config": {"formats": ["srt", "vtt"]},
            "diarization": True,
            "diarization_config": {"number_of_speakers": 2},
            "translation": True,
            "translation_config": {"target_languages": ["fr"], "model": "base"},
            "summarization": False,
            "named_entity_recognition": False,
            "custom_spelling": False,
            "sentiment_analysis": False,
            "audio_to_llm": False,
            "pii_redaction": False,
            "sentences": True,
            "punctuation_enhanced": False,
            "language_config": {"languages": ["en"], "code_switching": False},
        },
        "result": {
            "metadata": {
                "audio_duration": duration,
                "number_of_distinct_channels": 1,
                "billing_time": duration,
                "transcription_time": round(rng.uniform(200, 400), 3),
            },
            "transcription": transcription,
            "translation": {
                "success": True,
                "is_empty": False,
                "exec_time": round(rng.uniform(20, 60), 3),
                "error": None,
                "results": [translation_result],
            },
        },
    }
