"""One job from audio to its final state, on one clock: upload, creation, polling."""

from __future__ import annotations

from typing import Any

import anyio

from .._core import tracing as _tracing
from .._core.config import PollPolicy
from .._core.errors import GladiaTimeout, JobUnconfirmedError
from .._http.retry import deadline
from .._http.uploads import AudioSource, is_url
from .._schema.models import TranscriptionJob
from .jobs import Jobs, note_job

__all__ = ["transcribe_job"]


async def transcribe_job(
    jobs: Jobs,
    source: AudioSource,
    body: dict[str, Any],
    *,
    policy: PollPolicy,
    seconds: float | None,
    filename: str | None,
    idempotency_token: str | None,
) -> TranscriptionJob:
    """Upload ``source`` (unless a URL), create the job from ``body`` and poll it: finished.

    ``seconds`` bounds the whole call. A deadline that passes while the job is being created
    raises :class:`JobUnconfirmedError` (with the token) when ``idempotency_token`` is given,
    since the job may exist.
    """
    until = None if seconds is None else anyio.current_time() + seconds
    creating = False
    try:
        with (
            (
                _tracing.operation("gladia.transcribe") if _tracing.active() else _tracing.NO_SPAN
            ) as span,
            deadline(seconds, "transcribe()"),
        ):
            if is_url(source):
                assert isinstance(source, str)
                body["audio_url"] = source
            else:
                body["audio_url"] = (await jobs.upload(source, filename=filename)).audio_url
            creating = True
            created = await jobs.create(body, token=idempotency_token)
            creating = False
            if span is not None:
                span.set_attribute("gladia.job_id", created.id)
            job = await jobs.poll(created.id, policy=policy, until=until)
            if span is not None:
                note_job(span, job)
            return job
    except GladiaTimeout as exc:
        if creating and idempotency_token is not None:
            raise JobUnconfirmedError(
                f"transcribe() reached its {seconds:g}s deadline while creating the job, "
                f"which may exist; look it up by its token {idempotency_token!r}",
                token=idempotency_token,
            ) from exc
        raise
