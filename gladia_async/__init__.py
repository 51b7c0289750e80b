"""gladia-async: an asyncio-native SDK for Gladia's speech-to-text API v2.

::

    async with GladiaSession() as gladia:
        job = await gladia.transcribe("call.wav", TranscriptionOptions(diarization=True))
        print(job.result.transcription.full_transcript)

The generated API models live in :mod:`gladia_async.models`; the local emulator in
:mod:`gladia_async.testing`.
"""

from ._admission import AdmissionWindow
from ._batch import TOKEN_KEY, BatchRun, Outcome, Progress, ProgressCallback, Resumed
from ._callbacks import (
    CallbackPayload,
    CallbackReceiver,
    CallbackReply,
    Delivery,
    DeliveryHandler,
    MalformedCallbackError,
    UnknownEvent,
    WebhookPayload,
    parse_callback,
    parse_webhook,
)
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
    JournalError,
    NotFoundError,
    PaginationLoopError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PoolTimeout,
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
from ._jobs import ReconcilePolicy
from ._journal import (
    BatchJournal,
    OptionsChange,
    SourceIdentity,
    source_identity,
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
    TranscriptionModel,
    TranscriptionOptions,
    TranscriptionResult,
    UploadedAudio,
)
from ._pagination import JobStream, Page, PageStream
from ._session import GladiaSession
from ._uploads import AudioSource
from ._validation import options_from_dict
from ._version import __version__

__all__ = [
    "TOKEN_KEY",
    "APIStatusError",
    "AdmissionWindow",
    "AudioChunkAckMessage",
    "AudioSource",
    "AuthenticationError",
    "BadRequestError",
    "BatchJournal",
    "BatchRun",
    "CallbackPayload",
    "CallbackReceiver",
    "CallbackReply",
    "ConfigurationError",
    "ConnectionFailed",
    "Delivery",
    "DeliveryHandler",
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
    "JournalError",
    "Limits",
    "LiveEvent",
    "LiveFinalResult",
    "LiveJob",
    "LiveMessage",
    "LiveOptions",
    "LiveSession",
    "LiveSessionError",
    "MalformedCallbackError",
    "NotFoundError",
    "OptionsChange",
    "Outcome",
    "Page",
    "PageStream",
    "PaginationLoopError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PollPolicy",
    "PoolTimeout",
    "PostFinalTranscriptMessage",
    "Progress",
    "ProgressCallback",
    "RateLimitError",
    "ReconcilePolicy",
    "ReconnectPolicy",
    "Reconnected",
    "Reconnecting",
    "ResponseFormatError",
    "ResponseTooLargeError",
    "Resumed",
    "RetryPolicy",
    "ServerError",
    "SessionClosedError",
    "SourceIdentity",
    "Timeouts",
    "TranscriptMessage",
    "TranscriptionJob",
    "TranscriptionModel",
    "TranscriptionOptions",
    "TranscriptionResult",
    "TransportError",
    "UnknownEvent",
    "UnknownMessage",
    "UnprocessableEntityError",
    "UploadedAudio",
    "UsageError",
    "WebhookPayload",
    "WrongEventLoopError",
    "__version__",
    "options_from_dict",
    "parse_callback",
    "parse_webhook",
    "source_identity",
    "structure",
    "unstructure",
]
