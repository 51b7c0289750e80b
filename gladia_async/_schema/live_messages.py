"""Messages of the live WebSocket (``spec/gladia-asyncapi.yaml``) as lenient attrs classes.

Every server message is parsed into one of these classes, chosen by its ``type`` (and, for
the acknowledgements that reuse the client's action names ``audio_chunk`` and
``stop_recording``, by the presence of ``acknowledged``). They are deliberately lenient:
Gladia's own documentation examples omit fields the schema calls required, so every field
except ``type`` is optional, and unknown keys are ignored. A message of a type this SDK does
not know becomes an :class:`UnknownMessage`, never an error.

Byte offsets: an acknowledgement's ``byte_range`` counts from the **start of the session**
(not from the start of the current connection) and is **half-open** ``[start, end)``:
``[0, 4096]`` covers 4,096 bytes and an empty chunk is acknowledged ``[n, n]``, as Gladia's
docs (``[1024, 2048]``) and its own clients read it (``spec/ERRATA.md``, "Live
acknowledgements are half-open"). :func:`acked_end` is the one place that turns a range into
"everything before this offset is kept".
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = [
    "MAX_FRAME_BYTES",
    "AudioChunkAckData",
    "AudioChunkAckMessage",
    "EndRecordingMessage",
    "EndSessionMessage",
    "LiveErrorDetail",
    "LiveErrorMessage",
    "LiveEvent",
    "LiveFinalResult",
    "LiveMessage",
    "LiveTranscription",
    "LiveUtterance",
    "LiveWord",
    "NamedEntity",
    "NamedEntityRecognitionData",
    "NamedEntityRecognitionMessage",
    "PostChapterizationMessage",
    "PostFinalTranscriptMessage",
    "PostSummarizationData",
    "PostSummarizationMessage",
    "PostTranscriptMessage",
    "Reconnected",
    "Reconnecting",
    "SentimentAnalysisData",
    "SentimentAnalysisMessage",
    "SentimentResult",
    "SessionNearingLimit",
    "SpeechEndMessage",
    "SpeechEventData",
    "SpeechStartMessage",
    "StartRecordingMessage",
    "StartSessionMessage",
    "StopRecordingAckMessage",
    "TranscriptData",
    "TranscriptMessage",
    "TranslationData",
    "TranslationMessage",
    "UnknownMessage",
    "acked_end",
]

#: Largest binary frame Gladia accepts; bigger frames are closed with code 1009.
MAX_FRAME_BYTES = 512 * 1024


def acked_end(byte_range: list[int] | list[float] | None) -> int | None:
    """Return the session offset just past an acknowledged half-open ``[start, end)`` range.

    That is ``end`` itself: everything before it is kept by the server.
    """
    if not byte_range or len(byte_range) != 2:
        return None
    return int(byte_range[1])


# -- shared pieces ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class LiveErrorDetail:
    """An ``error`` object inside a live message: what failed and why."""

    status_code: int | str | None = None
    exception: str | None = None
    message: str | None = None


@attrs.frozen(kw_only=True)
class LiveWord:
    """One recognised word with its timing (seconds from the session start)."""

    word: str | None = None
    start: float | None = None
    end: float | None = None
    confidence: float | None = None


@attrs.frozen(kw_only=True)
class LiveUtterance:
    """A continuous segment of speech: text, timing, channel, language and words."""

    text: str | None = None
    start: float | None = None
    end: float | None = None
    confidence: float | None = None
    channel: int | None = None
    language: str | None = None
    speaker: int | None = None
    words: list[LiveWord] | None = None


@attrs.frozen(kw_only=True)
class LiveMessage:
    """Base of every message received on the live WebSocket.

    ``error`` is set when the server reports a failure inside the message (an add-on that
    failed, a refused action); the message still arrives so nothing is silently dropped.
    """

    type: str
    session_id: str | None = None
    created_at: str | None = None
    error: LiveErrorDetail | None = None


# -- realtime ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TranscriptData:
    """The ``data`` of a transcript message: utterance id, finality and the utterance."""

    id: str | None = None
    is_final: bool | None = None
    utterance: LiveUtterance | None = None


@attrs.frozen(kw_only=True)
class TranscriptMessage(LiveMessage):
    """A partial (``data.is_final`` false) or final transcript of an utterance."""

    data: TranscriptData | None = None


@attrs.frozen(kw_only=True)
class SpeechEventData:
    """When (seconds from the session start) and on which channel speech started or ended."""

    time: float | None = None
    channel: int | None = None


@attrs.frozen(kw_only=True)
class SpeechStartMessage(LiveMessage):
    """Speech activity started on a channel."""

    data: SpeechEventData | None = None


@attrs.frozen(kw_only=True)
class SpeechEndMessage(LiveMessage):
    """Speech activity ended on a channel."""

    data: SpeechEventData | None = None


@attrs.frozen(kw_only=True)
class TranslationData:
    """An utterance and its translation into one target language."""

    utterance_id: str | None = None
    utterance: LiveUtterance | None = None
    original_language: str | None = None
    target_language: str | None = None
    translated_utterance: LiveUtterance | None = None


@attrs.frozen(kw_only=True)
class TranslationMessage(LiveMessage):
    """Realtime translation of an utterance (``data`` is None when ``error`` is set)."""

    data: TranslationData | None = None


@attrs.frozen(kw_only=True)
class NamedEntity:
    """One named entity found in an utterance."""

    entity_type: str | None = None
    text: str | None = None
    start: float | None = None
    end: float | None = None


@attrs.frozen(kw_only=True)
class NamedEntityRecognitionData:
    """The entities found in one utterance."""

    utterance_id: str | None = None
    utterance: LiveUtterance | None = None
    results: list[NamedEntity] | None = None


@attrs.frozen(kw_only=True)
class NamedEntityRecognitionMessage(LiveMessage):
    """Realtime named entities of an utterance."""

    data: NamedEntityRecognitionData | None = None


@attrs.frozen(kw_only=True)
class SentimentResult:
    """Sentiment and emotion of one segment of an utterance."""

    sentiment: str | None = None
    emotion: str | None = None
    text: str | None = None
    start: float | None = None
    end: float | None = None
    channel: int | None = None


@attrs.frozen(kw_only=True)
class SentimentAnalysisData:
    """Sentiment results for one utterance."""

    utterance_id: str | None = None
    utterance: LiveUtterance | None = None
    results: list[SentimentResult] | None = None


@attrs.frozen(kw_only=True)
class SentimentAnalysisMessage(LiveMessage):
    """Realtime sentiment analysis of an utterance."""

    data: SentimentAnalysisData | None = None


# -- post-processing --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class LiveTranscription:
    """The whole session's transcript: full text, languages, utterances, subtitles."""

    full_transcript: str | None = None
    languages: list[str] | None = None
    utterances: list[LiveUtterance] | None = None
    sentences: list[Any] | None = None
    subtitles: list[Any] | None = None


@attrs.frozen(kw_only=True)
class LiveFinalResult:
    """The final result of a live session: metadata, transcription and add-on results.

    The same shape whether it came from the ``post_final_transcript`` message or from
    ``GET /v2/live/{id}``. Add-on results are kept as JSON data (their shapes vary by add-on).
    """

    metadata: dict[str, Any] | None = None
    transcription: LiveTranscription | None = None
    translation: dict[str, Any] | None = None
    summarization: dict[str, Any] | None = None
    named_entity_recognition: dict[str, Any] | None = None
    sentiment_analysis: dict[str, Any] | None = None
    chapterization: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class PostTranscriptMessage(LiveMessage):
    """The aggregated transcript, sent after ``stop_recording``."""

    data: LiveTranscription | None = None


@attrs.frozen(kw_only=True)
class PostFinalTranscriptMessage(LiveMessage):
    """The final result (transcription plus add-ons), sent after ``stop_recording``."""

    data: LiveFinalResult | None = None


@attrs.frozen(kw_only=True)
class PostChapterizationMessage(LiveMessage):
    """Chapters of the session (``data.results``), when chapterization was asked for."""

    data: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class PostSummarizationData:
    """The summary text."""

    results: str | None = None


@attrs.frozen(kw_only=True)
class PostSummarizationMessage(LiveMessage):
    """Summary of the session, when summarization was asked for."""

    data: PostSummarizationData | None = None


# -- acknowledgements -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AudioChunkAckData:
    """The byte and time ranges an acknowledgement covers, in session offsets.

    ``byte_range`` is half-open ``[start, end)``: ``end`` is the offset just past the kept
    bytes (:func:`acked_end`).
    """

    byte_range: list[int] | None = None
    time_range: list[float] | None = None


@attrs.frozen(kw_only=True)
class AudioChunkAckMessage(LiveMessage):
    """The server kept (``acknowledged``) or refused an audio chunk."""

    acknowledged: bool = False
    data: AudioChunkAckData | None = None


@attrs.frozen(kw_only=True)
class StopRecordingAckMessage(LiveMessage):
    """The server accepted (``acknowledged``) or refused ``stop_recording``."""

    acknowledged: bool = False
    data: dict[str, Any] | None = None


# -- lifecycle --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class StartSessionMessage(LiveMessage):
    """The session is created and ready."""


@attrs.frozen(kw_only=True)
class StartRecordingMessage(LiveMessage):
    """Audio capture began."""


@attrs.frozen(kw_only=True)
class EndRecordingMessage(LiveMessage):
    """The server stopped receiving audio (``data`` holds provider metadata)."""

    data: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class EndSessionMessage(LiveMessage):
    """The session is over; nothing more will be sent."""


@attrs.frozen(kw_only=True)
class LiveErrorMessage(LiveMessage):
    """The server reports an error on the socket (``{"type": "error", "data": ...}``).

    ``data`` is kept as sent (JSON): its shape is documented nowhere (``spec/ERRATA.md``,
    "The live `error` message"). :attr:`detail` reads the error from ``error`` or ``data``.
    """

    data: Any = None

    @property
    def detail(self) -> LiveErrorDetail | None:
        """Return the error as a :class:`LiveErrorDetail`, from ``error`` or from ``data``."""
        if self.error is not None:
            return self.error
        data = self.data
        if isinstance(data, dict):
            code = data.get("status_code")
            exception = data.get("exception")
            message = data.get("message")
            return LiveErrorDetail(
                status_code=code if isinstance(code, (int, str)) else None,
                exception=exception if isinstance(exception, str) else None,
                message=message if isinstance(message, str) else None,
            )
        if isinstance(data, str):
            return LiveErrorDetail(message=data)
        return None


@attrs.frozen(kw_only=True)
class UnknownMessage(LiveMessage):
    """A message this SDK cannot parse into a known class; ``raw`` is the decoded JSON."""

    raw: Any = None


# -- events produced by the SDK itself --------------------------------------------------------


@attrs.frozen(kw_only=True)
class LiveEvent:
    """Base of the events the SDK itself adds to the message stream (not sent by Gladia)."""


@attrs.frozen(kw_only=True)
class Reconnecting(LiveEvent):
    """The socket closed unexpectedly; the SDK will reconnect after ``delay`` seconds.

    ``unacknowledged_bytes`` is the audio that will be replayed once the socket is back.
    """

    attempt: int
    close_code: int | None
    delay: float
    unacknowledged_bytes: int


@attrs.frozen(kw_only=True)
class Reconnected(LiveEvent):
    """The socket is back; the unacknowledged audio was replayed.

    ``gap_seconds`` is the time without a socket; ``replayed_bytes`` / ``replayed_frames``
    what was sent again; ``attempts`` how many tries it took.
    """

    attempts: int
    gap_seconds: float
    replayed_bytes: int
    replayed_frames: int


@attrs.frozen(kw_only=True)
class SessionNearingLimit(LiveEvent):
    """The session has streamed ``audio_seconds`` of audio, close to Gladia's 3-hour cap."""

    audio_seconds: float
    limit_seconds: float


#: Server message classes by ``type``; acknowledgements are chosen separately.
MESSAGE_TYPES: dict[str, type[LiveMessage]] = {
    "transcript": TranscriptMessage,
    "speech_start": SpeechStartMessage,
    "speech_end": SpeechEndMessage,
    "translation": TranslationMessage,
    "named_entity_recognition": NamedEntityRecognitionMessage,
    "sentiment_analysis": SentimentAnalysisMessage,
    "post_transcript": PostTranscriptMessage,
    "post_final_transcript": PostFinalTranscriptMessage,
    "post_chapterization": PostChapterizationMessage,
    "post_summarization": PostSummarizationMessage,
    "start_session": StartSessionMessage,
    "start_recording": StartRecordingMessage,
    "end_recording": EndRecordingMessage,
    "end_session": EndSessionMessage,
    "error": LiveErrorMessage,
}
ACK_TYPES: dict[str, type[LiveMessage]] = {
    "audio_chunk": AudioChunkAckMessage,
    "stop_recording": StopRecordingAckMessage,
}
