"""Deleting many jobs: the listing walked first, then the deletions a few at a time."""

from __future__ import annotations

import anyio

from .jobs import Jobs
from .pagination import JobStream

__all__ = ["delete_listed"]


async def delete_listed(
    jobs: Jobs, listing: JobStream, concurrency: int
) -> list[tuple[str, BaseException | None]]:
    """Delete every job of ``listing``, ``concurrency`` at a time; ``(job_id, error or None)``.

    The listing is walked to its end first (deleting while paging would shift the pages). One
    failure never stops the others.
    """
    targets: list[tuple[str, str]] = []
    async with listing:
        async for job in listing:
            targets.append((job.id, str(getattr(job, "kind", "pre-recorded"))))
    outcomes: list[tuple[str, BaseException | None]] = []
    limiter = anyio.CapacityLimiter(concurrency)

    async def delete_one(job_id: str, job_kind: str) -> None:
        async with limiter:
            try:
                await jobs.delete(job_id, kind=job_kind)
            except Exception as exc:
                outcomes.append((job_id, exc))
            else:
                outcomes.append((job_id, None))

    async with anyio.create_task_group() as tg:
        for job_id, job_kind in targets:
            tg.start_soon(delete_one, job_id, job_kind)
    return outcomes
