"""Live jobs, the ``/v2/live/{id}`` resource: read, patch, download the recording.

Written once here, for the live session, the session's methods and the callback receiver.
Deleting one is :meth:`Jobs.delete` with ``kind="live"`` (deletion is the same for every kind).
"""

from __future__ import annotations

import os
from pathlib import Path

from yarl import URL

from .._http.transport import Transport
from .._schema.models import LiveJob
from .._schema.validation import check_job_id
from .files import check_destination, download_file

__all__ = [
    "download_live_audio",
    "get_live_job",
    "live_job_url",
    "patch_live_job",
]


def live_job_url(transport: Transport, job_id: str, suffix: str = "") -> URL:
    """Return the URL of a live job (``suffix``: ``/file`` for its recording)."""
    return transport.url(f"/v2/live/{job_id}{suffix}")


async def get_live_job(transport: Transport, job: str) -> LiveJob:
    """Return the live job ``GET /v2/live/{id}`` describes (its result once ``done``)."""
    job_id = check_job_id(job, "job")
    return await transport.request_json(
        "GET", live_job_url(transport, job_id), LiveJob, retry="always", ok=(200,)
    )


async def patch_live_job(transport: Transport, job: str) -> None:
    """``PATCH /v2/live/{id}`` (the spec's body has no properties yet; the API answers 204)."""
    job_id = check_job_id(job, "job")
    async with transport.stream(
        "PATCH", live_job_url(transport, job_id), retry="always", json={}, ok=(200, 204)
    ):
        pass


async def download_live_audio(transport: Transport, job: str, dest: str | os.PathLike[str]) -> Path:
    """Stream a live session's recorded audio to ``dest`` (via a temporary file); the path."""
    job_id = check_job_id(job, "job")
    target = check_destination(dest)
    return await download_file(transport, live_job_url(transport, job_id, "/file"), target)
