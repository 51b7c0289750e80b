"""gladia-async: an asyncio-native SDK for Gladia's speech-to-text API v2.

::

    async with GladiaSession() as gladia:
        job = await gladia.transcribe("call.wav", TranscriptionOptions(diarization=True))
        print(job.result.transcription.full_transcript)

The generated API models live in :mod:`gladia_async.models`; the local emulator in
:mod:`gladia_async.testing`.

Importing the package is cheap: each name below is imported from its module on first use
(PEP 562), so a program pays only for the capabilities it touches.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time see _LAZY below
    from ._admission import AdmissionWindow
    from ._audio_info import AudioInfo, probe_audio
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
    from ._config import (
        MAX_AUDIO_BYTES,
        MAX_AUDIO_DURATION,
        MAX_AUDIO_DURATION_ENTERPRISE,
        Limits,
        PollPolicy,
        RetryPolicy,
        Timeouts,
    )
    from ._converter import structure, unstructure
    from ._errors import (
        APIStatusError,
        AudioLimitError,
        AudioTooLargeError,
        AudioTooLongError,
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
    from ._estimate import Estimate, FileEstimate, estimate, estimate_async
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

#: Public name -> the module it is imported from on first use (absolute, so a re-layout of
#: the modules rewrites these strings with the imports).
_LAZY: dict[str, str] = {
    "AdmissionWindow": "gladia_async._admission",
    "AudioInfo": "gladia_async._audio_info",
    "probe_audio": "gladia_async._audio_info",
    "TOKEN_KEY": "gladia_async._batch",
    "BatchRun": "gladia_async._batch",
    "Outcome": "gladia_async._batch",
    "Progress": "gladia_async._batch",
    "ProgressCallback": "gladia_async._batch",
    "Resumed": "gladia_async._batch",
    "CallbackPayload": "gladia_async._callbacks",
    "CallbackReceiver": "gladia_async._callbacks",
    "CallbackReply": "gladia_async._callbacks",
    "Delivery": "gladia_async._callbacks",
    "DeliveryHandler": "gladia_async._callbacks",
    "MalformedCallbackError": "gladia_async._callbacks",
    "UnknownEvent": "gladia_async._callbacks",
    "WebhookPayload": "gladia_async._callbacks",
    "parse_callback": "gladia_async._callbacks",
    "parse_webhook": "gladia_async._callbacks",
    "MAX_AUDIO_BYTES": "gladia_async._config",
    "MAX_AUDIO_DURATION": "gladia_async._config",
    "MAX_AUDIO_DURATION_ENTERPRISE": "gladia_async._config",
    "Limits": "gladia_async._config",
    "PollPolicy": "gladia_async._config",
    "RetryPolicy": "gladia_async._config",
    "Timeouts": "gladia_async._config",
    "structure": "gladia_async._converter",
    "unstructure": "gladia_async._converter",
    "APIStatusError": "gladia_async._errors",
    "AudioLimitError": "gladia_async._errors",
    "AudioTooLargeError": "gladia_async._errors",
    "AudioTooLongError": "gladia_async._errors",
    "AuthenticationError": "gladia_async._errors",
    "BadRequestError": "gladia_async._errors",
    "ConfigurationError": "gladia_async._errors",
    "ConnectionFailed": "gladia_async._errors",
    "ForeignURLError": "gladia_async._errors",
    "GladiaError": "gladia_async._errors",
    "GladiaTimeout": "gladia_async._errors",
    "InvalidInput": "gladia_async._errors",
    "JobFailedError": "gladia_async._errors",
    "JobUnconfirmedError": "gladia_async._errors",
    "JournalError": "gladia_async._errors",
    "NotFoundError": "gladia_async._errors",
    "PaginationLoopError": "gladia_async._errors",
    "PayloadTooLargeError": "gladia_async._errors",
    "PermissionDeniedError": "gladia_async._errors",
    "PoolTimeout": "gladia_async._errors",
    "RateLimitError": "gladia_async._errors",
    "ResponseFormatError": "gladia_async._errors",
    "ResponseTooLargeError": "gladia_async._errors",
    "ServerError": "gladia_async._errors",
    "SessionClosedError": "gladia_async._errors",
    "TransportError": "gladia_async._errors",
    "UnprocessableEntityError": "gladia_async._errors",
    "UsageError": "gladia_async._errors",
    "WrongEventLoopError": "gladia_async._errors",
    "Estimate": "gladia_async._estimate",
    "FileEstimate": "gladia_async._estimate",
    "estimate": "gladia_async._estimate",
    "estimate_async": "gladia_async._estimate",
    "ReconcilePolicy": "gladia_async._jobs",
    "BatchJournal": "gladia_async._journal",
    "OptionsChange": "gladia_async._journal",
    "SourceIdentity": "gladia_async._journal",
    "source_identity": "gladia_async._journal",
    "LiveOptions": "gladia_async._live",
    "LiveSession": "gladia_async._live",
    "LiveSessionError": "gladia_async._live",
    "ReconnectPolicy": "gladia_async._live",
    "AudioChunkAckMessage": "gladia_async._live_models",
    "LiveEvent": "gladia_async._live_models",
    "LiveFinalResult": "gladia_async._live_models",
    "LiveMessage": "gladia_async._live_models",
    "PostFinalTranscriptMessage": "gladia_async._live_models",
    "Reconnected": "gladia_async._live_models",
    "Reconnecting": "gladia_async._live_models",
    "TranscriptMessage": "gladia_async._live_models",
    "UnknownMessage": "gladia_async._live_models",
    "JobCreated": "gladia_async._models",
    "JobKind": "gladia_async._models",
    "JobPage": "gladia_async._models",
    "JobStatus": "gladia_async._models",
    "LiveJob": "gladia_async._models",
    "TranscriptionJob": "gladia_async._models",
    "TranscriptionModel": "gladia_async._models",
    "TranscriptionOptions": "gladia_async._models",
    "TranscriptionResult": "gladia_async._models",
    "UploadedAudio": "gladia_async._models",
    "JobStream": "gladia_async._pagination",
    "Page": "gladia_async._pagination",
    "PageStream": "gladia_async._pagination",
    "GladiaSession": "gladia_async._session",
    "AudioSource": "gladia_async._uploads",
    "options_from_dict": "gladia_async._validation",
}

__all__ = [
    "MAX_AUDIO_BYTES",
    "MAX_AUDIO_DURATION",
    "MAX_AUDIO_DURATION_ENTERPRISE",
    "TOKEN_KEY",
    "APIStatusError",
    "AdmissionWindow",
    "AudioChunkAckMessage",
    "AudioInfo",
    "AudioLimitError",
    "AudioSource",
    "AudioTooLargeError",
    "AudioTooLongError",
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
    "Estimate",
    "FileEstimate",
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
    "estimate",
    "estimate_async",
    "options_from_dict",
    "parse_callback",
    "parse_webhook",
    "probe_audio",
    "source_identity",
    "structure",
    "unstructure",
]


if not TYPE_CHECKING:  # hidden from type checkers, so a misspelt name stays an error there

    def __getattr__(name: str) -> Any:
        """Import a public name's module on first use and keep the name here (PEP 562)."""
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later reads are plain module attribute reads
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
