"""Audio duration from headers: WAV/RF64/FLAC/WebM by hand, the rest via mutagen; never raises."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gladia_async import AudioInfo, probe_audio
from gladia_async._core.audio_info import MAX_PROBE_BYTES, _probe_counted, _Reader

from ..audio_headers import sparse_wav, wav_header
from ..conftest import write_wav


def test_a_wav_written_by_the_wave_module_gives_duration_and_channels(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "stereo.wav", seconds=1.5, channels=2)
    assert probe_audio(path) == AudioInfo(
        duration=1.5, channels=2, format="wav", size=path.stat().st_size
    )


def test_a_one_gigabyte_sparse_wav_is_measured_from_a_few_bytes(tmp_path: Path) -> None:
    path = tmp_path / "big.wav"
    size = 1_000_000_000 - 44
    with path.open("wb") as out:
        out.write(wav_header(size))
        out.truncate(44 + size)
    with path.open("rb") as handle:
        reader = _Reader(handle, 0, path.stat().st_size)
        info = _probe_counted(reader)
    assert info.duration == pytest.approx(size / 32_000)
    assert reader.bytes_read < 512, f"read {reader.bytes_read} bytes of a 1 GB file"


def test_wave_format_extensible_and_chunks_before_fmt() -> None:
    fmt = struct.pack("<HHIIHH", 0xFFFE, 6, 48_000, 48_000 * 12, 12, 16)
    fmt += (
        struct.pack("<HHI", 22, 16, 0x3F)
        + b"\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    )
    samples = 48_000 * 12 * 2  # two seconds of 5.1
    body = (
        b"LIST"
        + struct.pack("<I", 3)
        + b"abc\x00"  # odd size, padded
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", samples)
        + bytes(samples)
    )
    blob = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body
    info = probe_audio(blob)
    assert (info.duration, info.channels, info.format) == (2.0, 6, "wav")


def test_data_before_fmt_is_still_measured() -> None:
    samples = 32_000 * 3
    fmt = struct.pack("<HHIIHH", 1, 1, 16_000, 32_000, 2, 16)
    body = (
        b"data"
        + struct.pack("<I", samples)
        + bytes(samples)
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
    )
    blob = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body
    assert probe_audio(blob).duration == 3.0


@pytest.mark.parametrize("field", [0, 0xFFFFFFFF])
def test_a_streaming_header_measures_up_to_the_end_of_the_file(field: int) -> None:
    blob = wav_header(0, data_field=field) + bytes(32_000 * 4)
    assert probe_audio(blob).duration == 4.0


def test_rf64_takes_the_data_size_from_ds64() -> None:
    samples = 32_000 * 5
    ds64 = struct.pack("<QQQI", 36 + samples, samples, 0, 0)
    fmt = struct.pack("<HHIIHH", 1, 1, 16_000, 32_000, 2, 16)
    body = (
        b"ds64"
        + struct.pack("<I", len(ds64))
        + ds64
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", 0xFFFFFFFF)
        + bytes(samples)
    )
    blob = b"RF64" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + body
    assert probe_audio(blob).duration == 5.0


def test_a_data_size_larger_than_the_file_is_capped_by_the_file() -> None:
    blob = wav_header(32_000 * 3600) + bytes(32_000)  # claims an hour, holds a second
    assert probe_audio(blob).duration == 1.0


def flac(total_samples: int, rate: int = 44_100, channels: int = 2, bits: int = 16) -> bytes:
    info = (rate << 44) | ((channels - 1) << 41) | ((bits - 1) << 36) | total_samples
    streaminfo = (
        struct.pack(">HH", 4096, 4096)
        + b"\x00\x00\x00\x00\x00\x00"
        + info.to_bytes(8, "big")
        + bytes(16)
    )
    return b"fLaC" + bytes([0x80]) + len(streaminfo).to_bytes(3, "big") + streaminfo


def test_flac_streaminfo_gives_duration_and_channels() -> None:
    info = probe_audio(flac(44_100 * 90))
    assert (info.duration, info.channels, info.format) == (90.0, 2, "flac")


def test_flac_with_zero_total_samples_has_unknown_duration() -> None:
    info = probe_audio(flac(0, channels=1))
    assert (info.duration, info.channels, info.format) == (None, 1, "flac")


def ebml(element_id: int, payload: bytes) -> bytes:
    raw_id = element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
    return raw_id + b"\x01" + len(payload).to_bytes(7, "big") + payload  # an 8-byte size


def test_webm_duration_from_segment_info() -> None:
    header = ebml(0x1A45DFA3, ebml(0x4282, b"webm"))
    info_el = ebml(
        0x1549A966,
        ebml(0x2AD7B1, (1_000_000).to_bytes(3, "big")) + ebml(0x4489, struct.pack(">d", 61_500.0)),
    )
    seek_head = ebml(0x114D9B74, bytes(20))
    blob = header + ebml(0x18538067, seek_head + info_el + ebml(0x1F43B675, bytes(100)))
    info = probe_audio(blob)
    assert (info.duration, info.format) == (61.5, "webm")


def test_webm_without_duration_is_unknown() -> None:
    header = ebml(0x1A45DFA3, ebml(0x4282, b"webm"))
    blob = header + ebml(0x18538067, ebml(0x1549A966, ebml(0x2AD7B1, b"\x0f\x42\x40")))
    assert probe_audio(blob) == AudioInfo(
        duration=None, channels=None, format="webm", size=len(blob)
    )


def test_an_unknown_format_is_unknown_not_refused() -> None:
    assert probe_audio(b"\x00" * 1000) == AudioInfo(
        duration=None, channels=None, format=None, size=1000
    )


def test_a_file_object_is_read_from_its_position_and_left_there() -> None:
    handle = io.BytesIO(b"junk" + wav_header(32_000) + bytes(32_000))
    handle.seek(4)
    assert probe_audio(handle).duration == 1.0
    assert handle.tell() == 4


def test_a_missing_path_is_unknown(tmp_path: Path) -> None:
    assert probe_audio(tmp_path / "nope.wav").duration is None


def test_mp3_through_mutagen_when_installed() -> None:
    pytest.importorskip("mutagen")
    # MPEG-1 layer III, 128 kbit/s, 44.1 kHz, stereo: 417-byte frames of 1152 samples.
    frame = b"\xff\xfb\x90\x00" + bytes(413)
    info = probe_audio(frame * 400)
    assert info.format == "mp3"
    assert info.channels == 2
    assert info.duration == pytest.approx(400 * 1152 / 44_100, rel=0.02)


def test_mp3_without_mutagen_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_mutagen(name: str, *args: object, **kwargs: object) -> object:
        if name == "mutagen":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_mutagen)
    info = probe_audio(b"\xff\xfb\x90\x00" + bytes(413) * 10)
    assert (info.format, info.duration) == ("mp3", None)


PREFIXES = [
    b"",
    b"RIFF\x00\x00\x00\x00WAVE",
    b"RF64\xff\xff\xff\xffWAVE",
    b"fLaC",
    b"OggS",
    b"\x00\x00\x00\x18ftypM4A ",
    b"\x1a\x45\xdf\xa3",
    b"ID3\x04\x00\x00",
    b"\xff\xfb",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(PREFIXES), tail=st.binary(max_size=600))
def test_garbage_never_raises_and_never_reads_much(prefix: bytes, tail: bytes) -> None:
    blob = prefix + tail
    reader = _Reader(io.BytesIO(blob), 0, len(blob))
    info = _probe_counted(reader)
    assert isinstance(info, AudioInfo)
    assert info.size == len(blob)
    assert info.duration is None or info.duration > 0
    assert reader.bytes_read <= MAX_PROBE_BYTES


@settings(max_examples=200, deadline=None)
@example(data_size=0, rate=120_000_000, channels=0, tag=0, cut=40)  # rounded to 0 s once
@given(
    data_size=st.integers(min_value=0, max_value=2**32 - 1),
    rate=st.integers(min_value=0, max_value=2**32 - 1),
    channels=st.integers(min_value=0, max_value=2**16 - 1),
    tag=st.integers(min_value=0, max_value=2**16 - 1),
    cut=st.integers(min_value=0, max_value=44),
)
def test_lying_wav_headers_never_raise(
    data_size: int, rate: int, channels: int, tag: int, cut: int
) -> None:
    fmt = struct.pack("<IHHIIHH", 16, tag, channels, rate, rate, 2, 16)
    blob = (
        b"RIFF"
        + struct.pack("<I", 36)
        + b"WAVE"
        + b"fmt "
        + fmt
        + b"data"
        + struct.pack("<I", data_size)
    )[:cut] + bytes(64)
    info = probe_audio(blob)
    assert info.duration is None or 0 < info.duration <= 1e8


def test_a_140_minute_sparse_wav_is_measured(tmp_path: Path) -> None:
    assert probe_audio(sparse_wav(tmp_path / "long.wav", 140 * 60)).duration == 8400.0
