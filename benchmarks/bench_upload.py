"""upload: one large file, peak memory growth and wall time, each contender in a fresh process.

The file is a WAV header followed by a sparse run of zeros (silence), created in a temporary
folder and deleted afterwards. The emulator (own process, ``storage="discard"``) reads and
drops the bytes. In each child process the contender first uploads a small file (imports,
connection pool, lazy code), then the peak RSS (``VmHWM``) is read before and after the large
upload: the difference is what streaming the file cost in memory.
"""

from __future__ import annotations

import os
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

from . import _official
from ._common import (
    MIB,
    OFFICIAL,
    OURS,
    RAW,
    CaseResult,
    current_rss_mib,
    peak_rss_mib,
    run_case_cli,
    run_child,
)

CONTENDERS = {RAW: "raw", OURS: "ours", OFFICIAL: "official"}


def write_sparse_wav(path: Path, size: int) -> Path:
    """A valid 48 kHz stereo 16-bit WAV of ``size`` bytes whose samples are a sparse hole.

    48 kHz stereo keeps 500 MiB at 45 minutes: the service refuses audio over 135 minutes
    (16 kHz mono made it 4.5 hours, which the emulator rightly refused with 422).
    """
    data = size - 44
    header = b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, 48_000, 192_000, 4, 16)
    header += b"data" + struct.pack("<I", data)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(size)
    return path


async def child(contender: str, url: str, key: str, big: str, small: str) -> dict[str, Any]:
    """Runs in a fresh interpreter: warm up, then upload ``big``; report time and memory."""
    if contender == "raw":
        from ._raw import RawClient

        async with RawClient(url, key) as raw:
            await raw.upload(small)
            before, rss = peak_rss_mib(), current_rss_mib()
            start = time.perf_counter()
            answer = await raw.upload(big)
            seconds = time.perf_counter() - start
            size = answer["audio_metadata"].get("size")
    elif contender == "ours":
        from gladia_async import GladiaSession

        async with GladiaSession(api_key=key, base_url=url) as g:
            await g.upload(small)
            before, rss = peak_rss_mib(), current_rss_mib()
            start = time.perf_counter()
            uploaded = await g.upload(big)
            seconds = time.perf_counter() - start
            size = getattr(uploaded.audio_metadata, "size", None)
    else:
        client = _official.make_client(url, key)
        try:
            await client.upload_file(small)
            before, rss = peak_rss_mib(), current_rss_mib()
            start = time.perf_counter()
            response = await client.upload_file(big)
            seconds = time.perf_counter() - start
            size = getattr(response.audio_metadata, "size", None)
        finally:
            await _official.close(client)
    return {
        "seconds": seconds,
        "growth_mib": peak_rss_mib() - before,
        "rss_before_mib": rss,
        "size": size,
    }


def run(quick: bool = False, size_mib: int | None = None) -> CaseResult:
    from gladia_async.testing import start_emulator_process

    size_mib = size_mib or (128 if quick else 500)
    rounds = 3 if quick else 5
    result = CaseResult(
        "upload",
        "Large upload: memory and time",
        f"one {size_mib} MiB WAV (sparse silence) from a local file, multipart POST /v2/upload; "
        "emulator in its own process, storage 'discard', no latency; every measurement in a "
        f"fresh Python process; peak RSS (VmHWM) growth over the upload; {rounds} rounds.",
    )
    names = [RAW, OURS]
    if _official.available():
        names.append(OFFICIAL)
    else:
        result.notes.append(f"gladiaio-sdk {_official.NOT_INSTALLED}")
    seconds: dict[str, list[float]] = {n: [] for n in names}
    growth: dict[str, list[float]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="gladia-bench-upload-") as tmp:
        big = write_sparse_wav(Path(tmp) / "big.wav", size_mib * MIB)
        small = write_sparse_wav(Path(tmp) / "small.wav", 64 * 1024)
        with start_emulator_process(storage="discard") as emu:
            for _ in range(rounds):
                for name in names:
                    out = run_child(
                        "bench_upload",
                        "child",
                        {
                            "contender": CONTENDERS[name],
                            "url": emu.url,
                            "key": emu.api_key,
                            "big": str(big),
                            "small": str(small),
                        },
                    )
                    if out["size"] not in (None, size_mib * MIB):
                        result.notes.append(f"{name}: server saw {out['size']} bytes")
                    seconds[name].append(out["seconds"])
                    growth[name].append(out["growth_mib"])
        os.unlink(big)
    for name in names:
        result.add(name, "upload wall time", "s", seconds[name], baseline=RAW)
    for name in names:
        result.add(name, "peak RSS growth", "MiB", growth[name])
    result.goal(
        "ours upload time <= 1.05x raw aiohttp", result.ratio(OURS, "upload wall time", RAW), 1.05
    )
    ours = result.find(OURS, "peak RSS growth")
    official = result.find(OFFICIAL, "peak RSS growth")
    ours_growth = ours.median if ours and ours.samples else None
    result.goal(f"ours peak RSS growth < 32 MiB ({size_mib} MiB file)", ours_growth, 32)
    if official is not None and official.samples and ours_growth is not None:
        result.goal(
            "ours memory growth <= official SDK's (ours - official, MiB)",
            ours_growth - official.median,
            0,
        )
    return result


if __name__ == "__main__":
    run_case_cli("bench_upload", run)
