"""The one download routine for every file the API serves (a job's audio, a live recording)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import anyio
from yarl import URL

from .._core.errors import InvalidInput
from .._http.transport import Transport

__all__ = ["check_destination", "download_file"]


def check_destination(dest: object) -> Path:
    """Return ``dest`` as a path a download may write to (its folder exists, it is no folder)."""
    if not isinstance(dest, (str, os.PathLike)) or not os.fspath(dest):
        raise InvalidInput("dest", "expected a file path")
    target = Path(os.fspath(dest))
    # Argument checks: two stat calls, cheaper than a thread hop.
    if target.is_dir():
        raise InvalidInput("dest", f"{str(target)!r} is a directory; give a file path")
    if not target.parent.exists():
        raise InvalidInput("dest", f"folder {str(target.parent)!r} does not exist")
    return target


async def download_file(transport: Transport, url: URL, target: Path) -> Path:
    """Stream the file at ``url`` to ``target`` (checked by :func:`check_destination`).

    Bounded as an upload is (``Timeouts.upload`` end to end, the stall bounds meanwhile), not
    by ``Timeouts.request``: a long recording takes long by nature. Written to a temporary
    file beside ``target`` and renamed at the end, so an interrupted download never leaves a
    truncated file under the final name.
    """
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    tmp = anyio.Path(tmp_name)
    try:
        async with (
            transport.stream("GET", url, retry="always", ok=(200,), timeout="upload") as response,
            await anyio.open_file(tmp_name, "wb") as out,
        ):
            async for chunk in transport.iter_chunks(response):
                await out.write(chunk)
        await tmp.rename(target)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await tmp.unlink(missing_ok=True)
        raise
    return target
