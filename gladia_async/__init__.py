"""gladia-async: an asyncio-native SDK for Gladia's speech-to-text API v2.

::

    async with GladiaSession() as gladia:
        job = await gladia.transcribe("call.wav", TranscriptionOptions(diarization=True))
        print(job.result.transcription.full_transcript)

The generated API models live in :mod:`gladia_async.models`; the local emulator in
:mod:`gladia_async.testing`.
"""

from ._batch import TOKEN_KEY, BatchRun, Outcome, Progress, ProgressCallback
from ._config import Limits, PollPolicy, RetryPolicy, Timeouts
from ._converter import structure, unstructure
from ._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConnectionFailed,
    ForeignURLError,
    GladiaError,
    GladiaTimeout,
    InvalidInput,
    JobFailedError,
    JobUnconfirmedError,
    NotFoundError,
    PaginationLoopError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ResponseFormatError,
    ResponseTooLargeError,
    ServerError,
    SessionClosedError,
    TransportError,
    UnprocessableEntityError,
    UsageError,
    WrongEventLoopError,
)
from ._live import LiveOptions, LiveSession, LiveSessionError, ReconnectPolicy
from ._live_models import (
    AudioChunkAckMessage,
    LiveEvent,
    LiveFinalResult,
    LiveMessage,
    PostFinalTranscriptMessage,
    Reconnected,
    Reconnecting,
    TranscriptMessage,
    UnknownMessage,
)
from ._models import (
    JobCreated,
    JobKind,
    JobPage,
    JobStatus,
    LiveJob,
    TranscriptionJob,
    TranscriptionOptions,
    TranscriptionResult,
    UploadedAudio,
)
from ._pagination import JobStream, Page, PageStream
from ._session import GladiaSession
from ._uploads import AudioSource
from ._version import __version__

__all__ = [
    "TOKEN_KEY",
    "APIStatusError",
    "AudioChunkAckMessage",
    "AudioSource",
    "AuthenticationError",
    "BadRequestError",
    "BatchRun",
    "ConfigurationError",
    "ConnectionFailed",
    "ForeignURLError",
    "GladiaError",
    "GladiaSession",
    "GladiaTimeout",
    "InvalidInput",
    "JobCreated",
    "JobFailedError",
    "JobKind",
    "JobPage",
    "JobStatus",
    "JobStream",
    "JobUnconfirmedError",
    "Limits",
    "LiveEvent",
    "LiveFinalResult",
    "LiveJob",
    "LiveMessage",
    "LiveOptions",
    "LiveSession",
    "LiveSessionError",
    "NotFoundError",
    "Outcome",
    "Page",
    "PageStream",
    "PaginationLoopError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PollPolicy",
    "PostFinalTranscriptMessage",
    "Progress",
    "ProgressCallback",
    "RateLimitError",
    "ReconnectPolicy",
    "Reconnected",
    "Reconnecting",
    "ResponseFormatError",
    "ResponseTooLargeError",
    "RetryPolicy",
    "ServerError",
    "SessionClosedError",
    "Timeouts",
    "TranscriptMessage",
    "TranscriptionJob",
    "TranscriptionOptions",
    "TranscriptionResult",
    "TransportError",
    "UnknownMessage",
    "UnprocessableEntityError",
    "UploadedAudio",
    "UsageError",
    "WrongEventLoopError",
    "__version__",
    "structure",
    "unstructure",
]
