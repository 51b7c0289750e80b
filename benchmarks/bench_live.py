"""Live sessions: 200 concurrent real-time streams in one process, and memory under a flood.

``python -m benchmarks.bench_live [--quick] [--no-flood] [--feed-stamps]`` on its own (prints
sentences), or the ``live`` case of ``python -m benchmarks`` (:func:`run`: rows of the table).
The emulator runs in its own process (``storage="discard"``: it counts and hashes the audio
without keeping it).

* **concurrent**: ``SESSIONS`` live sessions stream 16 kHz 16-bit mono PCM in 100 ms chunks at
  real-time pace for ``SECONDS`` (acknowledgements delivered to the user), each session at its
  own random phase within the 100 ms period. Figures: client
  CPU per session (``time.process_time()`` over the streaming window / wall time / sessions)
  and the latency from an acknowledgement's arrival on the socket (the frame handed to the
  SDK by aiohttp) to its delivery to the user's ``async for`` (p50 / p99). With
  ``--feed-stamps``, also from the moment aiohttp's parser queued the frame (end to end,
  including the wake-up of whichever task reads; uses aiohttp's pure-Python parser, so take
  CPU figures from a run without it).
* **flood**: one session fed by a producer that never waits (as fast as ``send()`` lets it),
  its messages read as they come, in a fresh process; peak RSS growth (VmHWM) for
  ``max_unacked_bytes`` 1 MiB, for two amounts of audio: flat memory means the growth does
  not follow the amount. (Messages nobody reads stay buffered: about 1.5 per second of
  audio with the emulator's 2 s utterances.)
"""

from __future__ import annotations

import math
import os
import random
import statistics
import sys
import time
from typing import Any

import anyio

from gladia_async import AudioChunkAckMessage, GladiaSession, LiveOptions
from gladia_async._live.inbox import Inbox
from gladia_async._live.session import LiveSession
from gladia_async.models import MessagesConfig
from gladia_async.testing import start_emulator_process

from ._common import OURS, CaseResult, peak_rss_mib, run_child

CHUNK = 3200  # 100 ms of 16 kHz 16-bit mono
CONTROL = "control: event loop lag"
OPTIONS = LiveOptions(
    encoding="wav/pcm",  # type: ignore[arg-type]
    sample_rate=16_000,  # type: ignore[arg-type]
    bit_depth=16,  # type: ignore[arg-type]
    channels=1,
    messages_config=MessagesConfig(receive_acknowledgments=True),
)


FLOOD_OPTIONS = LiveOptions(encoding="wav/pcm", sample_rate=16_000)  # type: ignore[arg-type]


async def _loop_lag(samples: list[float], stop: anyio.Event) -> None:
    """Control: how late a 10 ms sleep wakes up (the machine's scheduling noise floor)."""
    while not stop.is_set():
        t0 = time.perf_counter()
        await anyio.sleep(0.01)
        samples.append(time.perf_counter() - t0 - 0.01)


#: CPU time (this thread) the SDK spends on each message it receives: parse, account, queue.
HANDLING_CPU: list[float] = []


#: When aiohttp's WebSocket parser queued the frame now being read (set by ``_TimedQueue``).
_FEED = [0.0]


def _timed_queue() -> type:
    """aiohttp's (pure Python) frame queue, stamping when each frame is queued: the moment
    the bytes were parsed off the socket, before any task of ours ran."""
    from collections import deque

    from aiohttp._websocket.reader_py import WebSocketDataQueue

    class _TimedQueue(WebSocketDataQueue):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._stamps: deque[float] = deque()

        def feed_data(self, data: Any, size: int) -> None:
            self._stamps.append(time.perf_counter())
            super().feed_data(data, size)

        def _read_from_buffer(self) -> Any:
            if self._stamps:
                _FEED[0] = self._stamps.popleft()
            return super()._read_from_buffer()

    return _TimedQueue


def _instrument() -> tuple[dict[int, float], dict[int, float]]:
    """Stamp each acknowledgement with its arrival time (when aiohttp hands the frame over)
    and with the time aiohttp's parser queued it."""
    if "--feed-stamps" in sys.argv:
        # Pure Python parser and queue (the compiled parser takes only its own queue type):
        # slower, so CPU figures come from a run without this flag.
        import aiohttp.client
        from aiohttp._websocket.reader_py import WebSocketReader

        aiohttp.client.WebSocketDataQueue = _timed_queue()  # type: ignore[attr-defined]
        aiohttp.client.WebSocketReader = WebSocketReader  # type: ignore[attr-defined,misc]
    arrivals: dict[int, float] = {}
    feeds: dict[int, float] = {}
    on_text, put = LiveSession._on_text, Inbox.put
    stamps = [0.0, 0.0]  # the frame being handled: arrival, parser feed (put runs inside it)

    def timed_on_text(self: Any, data: Any) -> None:
        stamps[:] = [time.perf_counter(), _FEED[0]]
        cpu0 = time.thread_time()
        on_text(self, data)
        HANDLING_CPU.append(time.thread_time() - cpu0)

    def timed_put(self: Any, item: Any, *rest: Any) -> None:
        if isinstance(item, AudioChunkAckMessage):
            arrivals[id(item)], feeds[id(item)] = stamps
        put(self, item, *rest)

    LiveSession._on_text = timed_on_text  # type: ignore[method-assign]
    Inbox.put = timed_put  # type: ignore[method-assign]
    return arrivals, feeds


async def concurrent(url: str, api_key: str, sessions: int, seconds: float) -> dict[str, Any]:
    """Run ``sessions`` real-time sessions; return CPU and latency figures."""
    arrivals, feeds = _instrument()
    latencies: list[float] = []
    from_feed: list[float] = []
    chunk = bytes(CHUNK)
    chunks = int(seconds * 10)
    started = anyio.Event()
    ready = 0
    window: dict[str, float] = {}

    async def one(gladia: GladiaSession) -> None:
        nonlocal ready
        async with gladia.live(OPTIONS) as live:
            ready += 1
            if ready == sessions:
                window["cpu0"], window["wall0"] = time.process_time(), time.perf_counter()
                started.set()
            await started.wait()

            async def produce() -> None:
                # Microphones are not synchronised: each session starts at its own phase.
                t0 = time.perf_counter() + random.uniform(0, 0.1)
                for i in range(chunks):
                    await anyio.sleep(max(0.0, t0 + i * 0.1 - time.perf_counter()))
                    await live.send(chunk)
                await live.stop_recording()

            async with anyio.create_task_group() as tg:
                tg.start_soon(produce)
                async for message in live:
                    if isinstance(message, AudioChunkAckMessage):
                        now = time.perf_counter()
                        latencies.append(now - arrivals.pop(id(message)))
                        from_feed.append(now - feeds.pop(id(message)))
        window.setdefault("cpu1", time.process_time())
        window.setdefault("wall1", time.perf_counter())

    lag: list[float] = []
    stop = anyio.Event()
    async with GladiaSession(api_key=api_key, base_url=url, max_concurrency=sessions) as gladia:
        async with anyio.create_task_group() as outer:
            outer.start_soon(_loop_lag, lag, stop)
            async with anyio.create_task_group() as tg:
                for _ in range(sessions):
                    tg.start_soon(one, gladia)
            stop.set()
    lag.sort()
    cpu = window["cpu1"] - window["cpu0"]
    wall = window["wall1"] - window["wall0"]
    latencies.sort()
    from_feed.sort()
    stamped = from_feed if "--feed-stamps" in sys.argv else [math.nan]  # stamped only then
    return {
        "feed_p50_ms": 1000 * stamped[len(stamped) // 2],
        "feed_p99_ms": 1000 * stamped[int(len(stamped) * 0.99)],
        "sessions": sessions,
        "seconds": seconds,
        "wall": wall,
        "cpu": cpu,
        "cpu_per_session_pct": 100 * cpu / wall / sessions,
        "acks": len(latencies),
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "max_ms": 1000 * latencies[-1],
        "handling_p50_us": 1e6 * sorted(HANDLING_CPU)[len(HANDLING_CPU) // 2],
        "handling_p99_us": 1e6 * sorted(HANDLING_CPU)[int(len(HANDLING_CPU) * 0.99)],
        "lag_p50_ms": 1000 * lag[len(lag) // 2],
        "lag_p99_ms": 1000 * lag[int(len(lag) * 0.99)],
        "loadavg": os.getloadavg()[0],
    }


async def flood(url: str, api_key: str, megabytes: int, budget: int) -> dict[str, Any]:
    """Send ``megabytes`` of audio as fast as ``send()`` allows; return peak RSS growth."""
    chunk = bytes(CHUNK * 10)  # 1 s chunks
    async with GladiaSession(api_key=api_key, base_url=url) as gladia:
        async with gladia.live(FLOOD_OPTIONS, max_unacked_bytes=budget) as live:
            await live.send(chunk)  # warm-up: imports, connection, first acknowledgement
        before = peak_rss_mib()
        streamed: dict[str, float] = {}
        t0 = time.perf_counter()
        async with gladia.live(FLOOD_OPTIONS, max_unacked_bytes=budget) as live:

            async def produce() -> None:
                for _ in range(megabytes * 1024 * 1024 // len(chunk)):
                    await live.send(chunk)
                    if live.unacknowledged_bytes > budget + len(chunk):
                        raise AssertionError("send() returned over budget")
                streamed["peak"] = peak_rss_mib()  # before post-processing brings the result
                await live.stop_recording()

            async with anyio.create_task_group() as tg:
                tg.start_soon(produce)
                async for _ in live:  # a user reading the transcripts (and dropping them)
                    pass
        wall = time.perf_counter() - t0
    audio_seconds = megabytes * 1024 * 1024 / 32_000
    return {
        "growth_mib": streamed["peak"] - before,
        "growth_with_result_mib": peak_rss_mib() - before,
        "audio_seconds": audio_seconds,
        "realtime_factor": audio_seconds / wall,
    }


def run(quick: bool = False) -> CaseResult:
    """The ``live`` case of ``python -m benchmarks``: both measurements, each in a fresh
    process (the client's CPU is its own, and the instrumentation patches no other case)."""
    sessions = 200
    seconds = 10.0 if quick else 30.0
    sizes = (16, 64) if quick else (32, 128)
    repeats = 1 if quick else 3
    result = CaseResult(
        name="live",
        title="Live sessions",
        setup=(
            f"{sessions} concurrent sessions x {seconds:.0f} s of real-time 16 kHz PCM (100 ms "
            f"chunks, random phases, acknowledgements on), emulator in its own process "
            f"(storage discard); flood: one session fed as fast as `send()` allows, budget "
            f"1 MiB, {sizes[0]} and {sizes[1]} MiB of audio, {repeats} fresh process(es) each"
        ),
    )
    with start_emulator_process(storage="discard") as emu:
        figures = run_child(
            "bench_live",
            "concurrent",
            {"url": emu.url, "api_key": emu.api_key, "sessions": sessions, "seconds": seconds},
        )
        floods = {
            size: [
                run_child(
                    "bench_live",
                    "flood",
                    {"url": emu.url, "api_key": emu.api_key, "megabytes": size, "budget": 1 << 20},
                )
                for _ in range(repeats)
            ]
            for size in sizes
        }
    result.add(OURS, "client CPU per session", "% of a core", [figures["cpu_per_session_pct"]])
    result.add(OURS, "ack arrival -> user, p50", "ms", [figures["p50_ms"]])
    result.add(OURS, "ack arrival -> user, p99", "ms", [figures["p99_ms"]])
    result.add(OURS, "SDK CPU per received message, p50", "µs", [figures["handling_p50_us"]])
    result.add(OURS, "SDK CPU per received message, p99", "µs", [figures["handling_p99_us"]])
    result.add(CONTROL, "10 ms sleep wakes late by, p50", "ms", [figures["lag_p50_ms"]])
    result.add(CONTROL, "10 ms sleep wakes late by, p99", "ms", [figures["lag_p99_ms"]])
    growth: dict[int, float] = {}
    for size, runs in floods.items():
        row = result.add(
            OURS,
            f"flood {size} MiB: peak RSS growth while streaming",
            "MiB",
            [r["growth_mib"] for r in runs],
        )
        growth[size] = row.median
        result.add(
            OURS,
            f"flood {size} MiB: growth with the final result parsed",
            "MiB",
            [r["growth_with_result_mib"] for r in runs],
        )
    result.goal("client CPU per session < 1% of a core", figures["cpu_per_session_pct"], 1.0)
    result.goal("ack arrival -> user p99 < 5 ms", figures["p99_ms"], 5.0)
    result.goal(
        f"flood growth flat: {sizes[1]} MiB minus {sizes[0]} MiB <= 2 MiB (noise floor)",
        growth[sizes[1]] - growth[sizes[0]],
        2.0,
    )
    result.notes.append(
        f"{figures['acks']:,} acknowledgements over {figures['wall']:.1f} s; load average "
        f"{figures['loadavg']:.1f} during the concurrent run (the loop-lag control shows the "
        f"machine's scheduling noise); the latency from aiohttp's frame queue needs "
        f"`python -m benchmarks.bench_live --feed-stamps` (pure-Python parser, so not here)"
    )
    return result


def main(quick: bool = False) -> None:
    sessions = 200
    seconds = 10.0 if quick else 30.0
    with start_emulator_process(storage="discard") as emu:
        result = anyio.run(concurrent, emu.url, emu.api_key, sessions, seconds)
        print(
            f"concurrent: {result['sessions']} sessions x {result['seconds']:.0f}s real-time "
            f"16 kHz PCM: client CPU {result['cpu_per_session_pct']:.3f}% of a core per session "
            f"({result['cpu']:.2f}s CPU over {result['wall']:.1f}s); ack arrival->user latency "
            f"p50 {result['p50_ms']:.3f} ms, p99 {result['p99_ms']:.3f} ms, "
            f"max {result['max_ms']:.1f} ms over {result['acks']} acks; from the frame's parse "
            f"off the socket (aiohttp's queue) to the user: p50 {result['feed_p50_ms']:.3f} ms, "
            f"p99 {result['feed_p99_ms']:.3f} ms; control: a 10 ms "
            f"sleep wakes late by p50 {result['lag_p50_ms']:.2f} ms, p99 "
            f"{result['lag_p99_ms']:.2f} ms; load average {result['loadavg']:.1f}; SDK CPU per "
            f"received message p50 {result['handling_p50_us']:.0f} us, "
            f"p99 {result['handling_p99_us']:.0f} us"
        )
        if "--no-flood" in sys.argv:
            return
        for megabytes in (16, 64) if quick else (32, 128):
            runs = [
                run_child(
                    "bench_live",
                    "flood",
                    {
                        "url": emu.url,
                        "api_key": emu.api_key,
                        "megabytes": megabytes,
                        "budget": 1 << 20,
                    },
                )
                for _ in range(1 if quick else 3)
            ]
            growth = statistics.median(r["growth_mib"] for r in runs)
            with_result = statistics.median(r["growth_with_result_mib"] for r in runs)
            factor = statistics.median(r["realtime_factor"] for r in runs)
            print(
                f"flood: {megabytes} MiB ({runs[0]['audio_seconds'] / 60:.0f} min of audio) at "
                f"{factor:.0f}x real time, budget 1 MiB: peak RSS growth while streaming "
                f"{growth:.1f} MiB, {with_result:.1f} MiB once the final result (which grows "
                f"with the audio) is parsed (median of {len(runs)})"
            )


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
