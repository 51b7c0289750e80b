"""``gladia-async live FILE.wav [--realtime]``: stream a WAV file to a live session."""

from __future__ import annotations

import argparse
import sys
import time
import wave
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from .._core.errors import InvalidInput
from .._schema.models import LanguageConfig, MessagesConfig
from .connection import open_session

if TYPE_CHECKING:
    from .. import GladiaSession
    from .._live.session import LiveSession

__all__ = ["add_live_parser", "live_command", "run_live"]

_CHUNK_MS = 100


def add_live_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register the ``live`` command on the CLI's subparsers."""
    p = sub.add_parser("live", parents=[common], help="stream a WAV file to a live session")
    p.add_argument("file", metavar="FILE.wav", help="a PCM WAV file to stream")
    p.add_argument(
        "--realtime", action="store_true", help="send at real-time pace (default: as fast as acks)"
    )
    p.add_argument("--language", help="language code, e.g. en")


def _open_wav(path: str) -> wave.Wave_read:
    try:
        return wave.open(path, "rb")
    except (OSError, EOFError, wave.Error) as exc:
        raise InvalidInput("FILE.wav", f"cannot read {path!r} as a PCM WAV file ({exc})") from None


async def _chunks(audio: wave.Wave_read, realtime: bool) -> AsyncIterator[bytes]:
    frames = audio.getframerate() * _CHUNK_MS // 1000
    started = time.monotonic()
    sent_seconds = 0.0
    while True:
        chunk = await anyio.to_thread.run_sync(audio.readframes, frames)
        if not chunk:
            return
        if realtime:
            await anyio.sleep(max(0.0, started + sent_seconds - time.monotonic()))
        yield chunk
        sent_seconds += _CHUNK_MS / 1000


async def live_command(args: argparse.Namespace) -> int:
    """``gladia-async live FILE.wav``: a session opened from the flags, then :func:`run_live`."""
    async with open_session(args) as gladia:
        return await run_live(args, gladia)


async def run_live(args: argparse.Namespace, gladia: GladiaSession) -> int:
    """Stream ``args.file`` and print partial and final transcripts as they arrive."""
    # The live stack is imported here, not with the parser: `--help` does not pay for it.
    from .._live.options import LiveOptions
    from .._schema.live_messages import Reconnected, Reconnecting, TranscriptMessage

    audio = _open_wav(args.file)
    with audio:
        if audio.getcomptype() != "NONE":
            raise InvalidInput("FILE.wav", "only uncompressed PCM WAV files are supported")
        language: dict[str, Any] = {}
        if args.language:
            language["language_config"] = LanguageConfig(languages=[args.language])
        options = LiveOptions(
            encoding="wav/pcm",
            sample_rate=audio.getframerate(),
            bit_depth=audio.getsampwidth() * 8,
            channels=audio.getnchannels(),
            messages_config=MessagesConfig(receive_partial_transcripts=True),
            **language,
        )
        live: LiveSession = gladia.live(options)
        async with live:
            async with anyio.create_task_group() as tg:
                tg.start_soon(live.send_from, _chunks(audio, args.realtime))
                async for message in live:
                    if isinstance(message, TranscriptMessage) and message.data is not None:
                        utterance = message.data.utterance
                        text = utterance.text if utterance is not None else ""
                        if message.data.is_final:
                            start = utterance.start if utterance else None
                            print(f"[{start or 0.0:7.2f}s] {text}", flush=True)
                        else:
                            print(f"  ... {text}", file=sys.stderr, flush=True)
                    elif isinstance(message, (Reconnecting, Reconnected)):
                        print(f"  ({type(message).__name__.lower()})", file=sys.stderr)
    result = live.result
    if result is not None and result.transcription is not None:
        print(f"\nsession {live.id}: {result.transcription.full_transcript or ''}")
    return 0
