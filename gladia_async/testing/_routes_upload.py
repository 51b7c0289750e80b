"""``POST /v2/upload``: multipart files and imported ``audio_url`` s, the emulator's file URLs."""

from __future__ import annotations

import dataclasses
import pathlib
import re
import uuid
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from aiohttp import BodyPartReader as _BodyPartReader
from aiohttp import web

from ._audio import HEADER_BYTES, InvalidAudio, info_from_url, sniff
from ._http import ApiError, base_url, json_response, read_json
from ._state import Account, EmulatorStats, Upload
from ._validation import is_http_url

__all__ = ["CHUNK", "UploadRoutes", "own_upload"]

_FILE_PATH_RE = re.compile(r"/file/([0-9a-fA-F-]{36})/?$")
#: Bytes read from (or streamed to) a socket at a time.
CHUNK = 256 * 1024


class UploadRoutes:
    """The upload route of :class:`~._app.GladiaEmulator` (a mixin: the emulator's state)."""

    _account: Account
    _uploads: dict[str, Upload]
    stats: EmulatorStats
    storage: Literal["memory", "discard"] | pathlib.Path
    public_url: str | None
    max_upload_bytes: int
    max_audio_duration: float

    # --------------------------------------------------------------------- upload
    async def _upload(self, request: web.Request) -> web.StreamResponse:
        mimetype = request.content_type
        if mimetype == "application/json":
            body = await read_json(request)
            errors = _validate_upload_json(body)
            if errors:
                raise ApiError(400, "Validation failed", errors)
            url: str = body["audio_url"]
            if not is_http_url(url):
                raise ApiError(422, "audio_url must be a valid http(s) URL")
            upload = self._import_url(request, url)
        elif mimetype == "multipart/form-data":
            if "boundary=" not in request.headers.get("Content-Type", "").lower():
                raise ApiError(400, "Content-Type is missing Multipart Boundary.")
            upload = await self._receive_multipart(request)
        elif mimetype.startswith("multipart/"):
            raise ApiError(400, "Content-Type is missing Multipart Boundary.")
        else:
            raise ApiError(
                400,
                'Unsupported Content-Type: use multipart/form-data (part "audio") '
                "or application/json (audio_url)",
            )
        self._account.add_upload(upload)
        self.stats.uploads += 1
        return json_response(
            {
                "audio_url": f"{base_url(request, self.public_url)}/file/{upload.id}",
                "audio_metadata": upload.metadata(),
            }
        )

    def _import_url(self, request: web.Request, url: str) -> Upload:
        is_ours, existing = own_upload(self._uploads, self.public_url, request, url)
        if is_ours and existing is None:
            raise ApiError(422, "audio_url refers to an unknown or deleted Gladia file")
        new_id = str(uuid.uuid4())
        if existing is not None:
            return dataclasses.replace(existing, id=new_id, source=url)
        info = info_from_url(url)
        return Upload(
            id=new_id,
            filename=info.filename,
            extension=info.extension,
            size=info.size,
            audio_duration=info.audio_duration,
            number_of_channels=info.number_of_channels,
            source=url,
        )

    async def _receive_multipart(self, request: web.Request) -> Upload:
        try:
            reader = await request.multipart()
        except (ValueError, AssertionError) as exc:
            raise ApiError(400, f"Malformed multipart body: {exc}") from None
        upload: Upload | None = None
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, _BodyPartReader) or part.name != "audio" or upload:
                await part.release()
                continue
            upload = await self._store_part(part)
        if upload is None:
            raise ApiError(400, "No audio file was given", ['Field "audio" should not be empty'])
        return upload

    async def _store_part(self, part: Any) -> Upload:
        upload_id = str(uuid.uuid4())
        filename = part.filename or "audio"
        content_type = part.headers.get("Content-Type", "application/octet-stream")
        head = bytearray()
        kept = bytearray() if self.storage == "memory" else None
        path = self.storage / upload_id if isinstance(self.storage, pathlib.Path) else None
        handle = path.open("wb") if path is not None else None
        size = 0
        try:
            while True:
                chunk = await part.read_chunk(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_upload_bytes:
                    raise ApiError(413, "payload too large")
                if len(head) < HEADER_BYTES:
                    head += chunk[: HEADER_BYTES - len(head)]
                if kept is not None:
                    kept += chunk
                if handle is not None:
                    handle.write(chunk)
        except BaseException:
            if handle is not None:
                handle.close()
                path.unlink(missing_ok=True)  # type: ignore[union-attr]
            raise
        if handle is not None:
            handle.close()
        try:
            if size == 0:
                raise ApiError(400, "The uploaded file is empty", ['Field "audio" is empty'])
            try:
                info = sniff(bytes(head), size, filename)
            except InvalidAudio as exc:
                raise ApiError(422, str(exc)) from None
            if info.audio_duration > self.max_audio_duration:
                raise ApiError(422, _too_long_message(info.audio_duration, self.max_audio_duration))
        except ApiError:
            if path is not None:
                path.unlink(missing_ok=True)
            raise
        return Upload(
            id=upload_id,
            filename=filename,
            extension=info.extension,
            size=size,
            audio_duration=info.audio_duration,
            number_of_channels=info.number_of_channels,
            content_type=content_type,
            data=bytes(kept) if kept is not None else None,
            path=path,
        )


def own_upload(
    uploads: Mapping[str, Upload], public_url: str | None, request: web.Request, url: str
) -> tuple[bool, Upload | None]:
    """(is this URL an emulator file URL?, the upload if it exists)."""
    parts = urlsplit(url)
    match = _FILE_PATH_RE.search(parts.path)
    if match is None:
        return False, None
    upload = uploads.get(match.group(1).lower())
    if upload is not None:
        return True, upload
    ours = {request.host.lower()}
    if public_url:
        ours.add(urlsplit(public_url).netloc.lower())
    return parts.netloc.lower() in ours, None


def _validate_upload_json(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["Request body must be a JSON object"]
    errors = [f"property {key} should not exist" for key in body if key != "audio_url"]
    value = body.get("audio_url")
    if value is None or value == "":
        errors.append('Field "audio_url" should not be empty')
    elif not isinstance(value, str):
        errors.append('Field "audio_url" must be a string')
    return errors


def _too_long_message(duration: float, limit: float) -> str:
    # Emulator choice (spec/ERRATA.md): the docs say only that longer audio "will result in
    # an error"; the status and the words are ours.
    return (
        f"Audio duration ({duration:.0f} seconds) exceeds the maximum allowed duration of "
        f"{limit / 60:g} minutes"
    )
