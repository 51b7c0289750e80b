"""Live transcription: the session, its options and every message class, in one namespace.

``from gladia_async.live import TranscriptMessage, PostFinalTranscriptMessage, ...``; the
most used names are also exported by :mod:`gladia_async` itself.
"""

from ._live.options import LiveOptions, ReconnectPolicy
from ._live.protocol import LiveSessionError
from ._live.session import LiveSession
from ._schema.live_messages import *  # noqa: F403
from ._schema.live_messages import __all__ as _models_all

__all__ = ["LiveOptions", "LiveSession", "LiveSessionError", "ReconnectPolicy", *_models_all]
