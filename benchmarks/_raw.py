"""The hand-written baseline: plain aiohttp + orjson doing the same requests as the SDKs.

No retries, no typed models, no validation: the floor a client library is measured against.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import aiohttp
import orjson

__all__ = ["RawClient"]


class RawClient:
    """Minimal Gladia v2 client: one aiohttp session, JSON decoded with orjson into dicts."""

    def __init__(self, base_url: str, api_key: str, *, limit: int = 100) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None
        self.requests_sent = 0

    async def __aenter__(self) -> RawClient:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._limit),
            headers={"x-gladia-key": self._api_key},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use `async with RawClient(...)`"
        return self._session

    async def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        self.requests_sent += 1
        async with self.session.request(method, url, **kwargs) as response:
            body = await response.read()
            if response.status >= 400:
                raise RuntimeError(f"{method} {url} -> {response.status}: {body[:200]!r}")
            return orjson.loads(body)

    async def upload(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        with open(path, "rb") as f:
            form = aiohttp.FormData()
            form.add_field(
                "audio", f, filename=Path(path).name, content_type="application/octet-stream"
            )
            return await self._json("POST", f"{self.base_url}/v2/upload", data=form)  # type: ignore[no-any-return]

    async def submit(self, audio_url: str, **options: Any) -> dict[str, Any]:
        body = {"audio_url": audio_url, **options}
        return await self._json(  # type: ignore[no-any-return]
            "POST",
            f"{self.base_url}/v2/pre-recorded",
            data=orjson.dumps(body),
            headers={"Content-Type": "application/json"},
        )

    async def get(self, job_id: str) -> dict[str, Any]:
        return await self._json("GET", f"{self.base_url}/v2/pre-recorded/{job_id}")  # type: ignore[no-any-return]

    async def wait(self, job_id: str, interval: float) -> dict[str, Any]:
        """Poll every ``interval`` seconds (first poll after one interval) until final."""
        while True:
            await asyncio.sleep(interval)
            job = await self.get(job_id)
            if job["status"] in ("done", "error"):
                return job

    async def page(self, url: str | None, *, limit: int = 100) -> dict[str, Any]:
        """One listing page: the first (``url`` None) or the one at a ``next`` link."""
        if url is None:
            url = f"{self.base_url}/v2/pre-recorded?offset=0&limit={limit}"
        return await self._json("GET", url)  # type: ignore[no-any-return]
