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
    from ._api.estimate import Estimate, FileEstimate, estimate, estimate_async
    from ._api.jobs import ReconcilePolicy
    from ._api.pagination import JobStream, Page, PageStream
    from ._batch.admission import AdmissionWindow
    from ._batch.entries import OptionsChange
    from ._batch.identity import SourceIdentity, source_identity
    from ._batch.journal import BatchJournal
    from ._batch.outcomes import Outcome, Progress, ProgressCallback, Resumed
    from ._batch.run import TOKEN_KEY, BatchRun
    from ._callbacks.events import (
        CallbackPayload,
        CallbackReply,
        Delivery,
        DeliveryHandler,
        MalformedCallbackError,
        UnknownEvent,
        WebhookPayload,
        parse_callback,
        parse_webhook,
    )
    from ._callbacks.receiver import CallbackReceiver
    from ._core.audio_info import AudioInfo, probe_audio
    from ._core.config import (
        MAX_AUDIO_BYTES,
        MAX_AUDIO_DURATION,
        MAX_AUDIO_DURATION_ENTERPRISE,
        Limits,
        PollPolicy,
        RetryPolicy,
        Timeouts,
    )
    from ._core.errors import (
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
    from ._http.uploads import AudioSource
    from ._live.options import LiveOptions, ReconnectPolicy
    from ._live.protocol import LiveSessionError
    from ._live.session import LiveSession
    from ._schema.converter import structure, unstructure
    from ._schema.live_messages import (
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
    from ._schema.models import (
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
    from ._schema.validation import options_from_dict
    from ._session import GladiaSession

#: Public name -> the module it is imported from on first use (absolute, so a re-layout of
#: the modules rewrites these strings with the imports).
_LAZY: dict[str, str] = {
    "AdmissionWindow": "gladia_async._batch.admission",
    "AudioInfo": "gladia_async._core.audio_info",
    "probe_audio": "gladia_async._core.audio_info",
    "TOKEN_KEY": "gladia_async._batch.run",
    "BatchRun": "gladia_async._batch.run",
    "Outcome": "gladia_async._batch.outcomes",
    "Progress": "gladia_async._batch.outcomes",
    "ProgressCallback": "gladia_async._batch.outcomes",
    "Resumed": "gladia_async._batch.outcomes",
    "CallbackPayload": "gladia_async._callbacks.events",
    "CallbackReceiver": "gladia_async._callbacks.receiver",
    "CallbackReply": "gladia_async._callbacks.events",
    "Delivery": "gladia_async._callbacks.events",
    "DeliveryHandler": "gladia_async._callbacks.events",
    "MalformedCallbackError": "gladia_async._callbacks.events",
    "UnknownEvent": "gladia_async._callbacks.events",
    "WebhookPayload": "gladia_async._callbacks.events",
    "parse_callback": "gladia_async._callbacks.events",
    "parse_webhook": "gladia_async._callbacks.events",
    "MAX_AUDIO_BYTES": "gladia_async._core.config",
    "MAX_AUDIO_DURATION": "gladia_async._core.config",
    "MAX_AUDIO_DURATION_ENTERPRISE": "gladia_async._core.config",
    "Limits": "gladia_async._core.config",
    "PollPolicy": "gladia_async._core.config",
    "RetryPolicy": "gladia_async._core.config",
    "Timeouts": "gladia_async._core.config",
    "structure": "gladia_async._schema.converter",
    "unstructure": "gladia_async._schema.converter",
    "APIStatusError": "gladia_async._core.errors",
    "AudioLimitError": "gladia_async._core.errors",
    "AudioTooLargeError": "gladia_async._core.errors",
    "AudioTooLongError": "gladia_async._core.errors",
    "AuthenticationError": "gladia_async._core.errors",
    "BadRequestError": "gladia_async._core.errors",
    "ConfigurationError": "gladia_async._core.errors",
    "ConnectionFailed": "gladia_async._core.errors",
    "ForeignURLError": "gladia_async._core.errors",
    "GladiaError": "gladia_async._core.errors",
    "GladiaTimeout": "gladia_async._core.errors",
    "InvalidInput": "gladia_async._core.errors",
    "JobFailedError": "gladia_async._core.errors",
    "JobUnconfirmedError": "gladia_async._core.errors",
    "JournalError": "gladia_async._core.errors",
    "NotFoundError": "gladia_async._core.errors",
    "PaginationLoopError": "gladia_async._core.errors",
    "PayloadTooLargeError": "gladia_async._core.errors",
    "PermissionDeniedError": "gladia_async._core.errors",
    "PoolTimeout": "gladia_async._core.errors",
    "RateLimitError": "gladia_async._core.errors",
    "ResponseFormatError": "gladia_async._core.errors",
    "ResponseTooLargeError": "gladia_async._core.errors",
    "ServerError": "gladia_async._core.errors",
    "SessionClosedError": "gladia_async._core.errors",
    "TransportError": "gladia_async._core.errors",
    "UnprocessableEntityError": "gladia_async._core.errors",
    "UsageError": "gladia_async._core.errors",
    "WrongEventLoopError": "gladia_async._core.errors",
    "Estimate": "gladia_async._api.estimate",
    "FileEstimate": "gladia_async._api.estimate",
    "estimate": "gladia_async._api.estimate",
    "estimate_async": "gladia_async._api.estimate",
    "ReconcilePolicy": "gladia_async._api.jobs",
    "BatchJournal": "gladia_async._batch.journal",
    "OptionsChange": "gladia_async._batch.entries",
    "SourceIdentity": "gladia_async._batch.identity",
    "source_identity": "gladia_async._batch.identity",
    "LiveOptions": "gladia_async._live.options",
    "LiveSession": "gladia_async._live.session",
    "LiveSessionError": "gladia_async._live.protocol",
    "ReconnectPolicy": "gladia_async._live.options",
    "AudioChunkAckMessage": "gladia_async._schema.live_messages",
    "LiveEvent": "gladia_async._schema.live_messages",
    "LiveFinalResult": "gladia_async._schema.live_messages",
    "LiveMessage": "gladia_async._schema.live_messages",
    "PostFinalTranscriptMessage": "gladia_async._schema.live_messages",
    "Reconnected": "gladia_async._schema.live_messages",
    "Reconnecting": "gladia_async._schema.live_messages",
    "TranscriptMessage": "gladia_async._schema.live_messages",
    "UnknownMessage": "gladia_async._schema.live_messages",
    "JobCreated": "gladia_async._schema.models",
    "JobKind": "gladia_async._schema.models",
    "JobPage": "gladia_async._schema.models",
    "JobStatus": "gladia_async._schema.models",
    "LiveJob": "gladia_async._schema.models",
    "TranscriptionJob": "gladia_async._schema.models",
    "TranscriptionModel": "gladia_async._schema.models",
    "TranscriptionOptions": "gladia_async._schema.models",
    "TranscriptionResult": "gladia_async._schema.models",
    "UploadedAudio": "gladia_async._schema.models",
    "JobStream": "gladia_async._api.pagination",
    "Page": "gladia_async._api.pagination",
    "PageStream": "gladia_async._api.pagination",
    "GladiaSession": "gladia_async._session",
    "AudioSource": "gladia_async._http.uploads",
    "options_from_dict": "gladia_async._schema.validation",
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
