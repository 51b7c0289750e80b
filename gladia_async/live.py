"""Live transcription: the session, its options and every message class, in one namespace.

``from gladia_async.live import TranscriptMessage, PostFinalTranscriptMessage, ...``; the
most used names are also exported by :mod:`gladia_async` itself.
"""

from ._live import LiveOptions, LiveSession, LiveSessionError, ReconnectPolicy
from ._live_models import *  # noqa: F403
from ._live_models import __all__ as _models_all

__all__ = ["LiveOptions", "LiveSession", "LiveSessionError", "ReconnectPolicy", *_models_all]
