"""A model's repr is bounded (a log line, a traceback) and still says what the model holds."""

from __future__ import annotations

import re

import attrs

from gladia_async import TranscriptionJob, TranscriptionOptions, structure, unstructure
from gladia_async.testing import build_result


def finished_job(seconds: float) -> TranscriptionJob:
    options = {"diarization": True, "sentences": True, "summarization": True}
    result = build_result(seed="repr", duration=seconds, channels=1, options=options)
    return structure(
        {
            "id": "45463597-20b7-4af7-b3b3-f5fb778203ab",
            "request_id": "G-45463597",
            "version": 2,
            "status": "done",
            "created_at": "2026-01-01T00:00:00.000Z",
            "kind": "pre-recorded",
            "result": result,
        },
        TranscriptionJob,
    )


def test_a_long_job_has_a_short_repr() -> None:
    job = finished_job(seconds=3600)
    assert job.result is not None and job.result.transcription is not None
    assert len(job.result.transcription.utterances) > 100
    assert len(str(unstructure(job))) > 200_000
    text = repr(job)
    assert len(text) < 8_000, len(text)
    # Informative still: the fields are named, the summaries say how much was left out.
    assert text.startswith("TranscriptionJob(id='45463597-")
    assert "status=<JobStatus.DONE: 'done'>" in text
    assert "full_transcript='" in text and " chars)" in text
    assert re.search(r"utterances=\[Utterance\(start=0\.0, .*\.\.\.\d+ more\]", text)


def test_a_small_model_reads_as_before() -> None:
    options = TranscriptionOptions(diarization=True, language_config={"languages": ["en"]})
    text = repr(options)
    assert text.startswith("TranscriptionOptions(custom_vocabulary=None, ")
    assert "diarization=True" in text
    assert "LanguageConfig(languages=[<TranscriptionLanguageCode.EN: 'en'>]" in text
    hidden = [f.name for f in attrs.fields(TranscriptionOptions) if not f.repr]
    assert all(f"{name}=" not in text for name in hidden)


def test_equal_models_have_equal_reprs() -> None:
    assert repr(finished_job(60)) == repr(finished_job(60))
