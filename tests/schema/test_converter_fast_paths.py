"""The converter's fast paths keep the generic path's promises.

Lists of scalars (``list[str]``) coerce a number to its text as any string field
does, and refuse an object or array; an enum field gives its known member, or a pseudo-member
for a value this SDK does not know yet. Small bodies skip the consume step but decode alike.
"""

from __future__ import annotations

import orjson
import pytest

from gladia_async._schema import models as m
from gladia_async._schema.converter import ResponseFormatError, loads_or_raise, structure_or_raise


def _job(languages: object, status: object = "done") -> bytes:
    return orjson.dumps(
        {
            "id": "45463597-20b7-4af7-b3b3-f5fb778203ab",
            "request_id": "G-45463597",
            "version": 2,
            "status": status,
            "created_at": "2024-01-01T00:00:00Z",
            "kind": "pre-recorded",
            "result": {
                "metadata": {
                    "audio_duration": 3.0,
                    "number_of_distinct_channels": 1,
                    "billing_time": 3.0,
                    "transcription_time": 1.0,
                },
                "transcription": {
                    "full_transcript": "hi",
                    "languages": languages,
                    "utterances": [],
                },
            },
        }
    )


def test_a_list_of_strings_takes_numbers_as_text_like_any_string_field() -> None:
    config = structure_or_raise(
        {"spelling_dictionary": {"Gladia": ["gladya", 7, 1.5]}}, m.CustomSpellingConfig
    )
    assert config.spelling_dictionary == {"Gladia": ["gladya", "7", "1.5"]}
    assert {type(x) for x in config.spelling_dictionary["Gladia"]} == {str}


@pytest.mark.parametrize("bad", [[{"a": 1}], [["a"]], [True], [None], "gladya"])
def test_a_list_of_strings_refuses_objects_arrays_booleans_nulls_and_a_bare_string(
    bad: object,
) -> None:
    with pytest.raises(ResponseFormatError, match="spelling_dictionary"):
        structure_or_raise({"spelling_dictionary": {"Gladia": bad}}, m.CustomSpellingConfig)


def test_an_enum_field_gives_the_known_member_or_keeps_an_unknown_value() -> None:
    done = loads_or_raise(_job(["en"]), m.TranscriptionJob)
    assert done.status is m.JobStatus.DONE
    future = loads_or_raise(_job(["en"], status="archived"), m.TranscriptionJob)
    assert future.status == "archived" and isinstance(future.status, m.JobStatus)
