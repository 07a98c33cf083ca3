"""Corral's zstd for record batches: what it writes, aiokafka's own codec reads,
and the other way round; and aiokafka's record batches go through it."""

from __future__ import annotations

import threading

import pytest
import zstandard
from aiokafka import codec
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from hypothesis import given
from hypothesis import strategies as st

from shared.kafka import zstd

ZSTD = 4  # Kafka's compression attribute for zstd


@given(st.binary(max_size=4096))
def test_frames_read_both_ways(payload: bytes) -> None:
    assert bytes(codec.zstd_decode(zstd.encode(payload))) == payload
    assert zstd.decode(codec.zstd_encode(payload)) == payload


def test_a_frame_that_does_not_say_its_size_is_read() -> None:
    # As a streaming writer (a Java client, say) may write it.
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(b"alert " * 1000)
    assert zstandard.frame_content_size(frame) == -1
    assert zstd.decode(frame) == b"alert " * 1000


def test_a_frame_claiming_more_than_the_bound_is_not_decompressed_here() -> None:
    big = zstandard.ZstdCompressor().compress(b"\0" * (zstd.MAX_DECOMPRESSED + 1))
    # aiokafka's decoder reads it as before; this one does not allocate what the header claims.
    assert zstd.decode(big) == b"\0" * (zstd.MAX_DECOMPRESSED + 1)


def test_garbage_fails_as_aiokafka_fails() -> None:
    with pytest.raises(Exception) as ours:
        zstd.decode(b"\x28\xb5\x2f\xfd not a frame")
    with pytest.raises(Exception) as theirs:
        codec.zstd_decode(b"\x28\xb5\x2f\xfd not a frame")
    assert type(ours.value) is type(theirs.value)


def test_each_thread_has_its_own_contexts() -> None:
    payloads = [bytes([n]) * (1000 + n) for n in range(8)]
    results: dict[int, bool] = {}

    def roundtrip(n: int) -> None:
        results[n] = all(zstd.decode(zstd.encode(payloads[n])) == payloads[n] for _ in range(200))

    threads = [threading.Thread(target=roundtrip, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == dict.fromkeys(range(8), True)


def test_record_batches_go_through_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert zstd.install()
    modules = zstd._record_modules()
    assert all(m.zstd_encode is zstd.encode and m.zstd_decode is zstd.decode for m in modules)
    # ...and aiokafka looks them up there on every batch:
    used: list[str] = []
    encode, decode = zstd.encode, zstd.decode

    def counted_encode(payload: bytes, level: int | None = None) -> bytes:
        used.append("encode")
        return encode(payload, level)

    def counted_decode(payload: bytes) -> bytes:
        used.append("decode")
        return decode(payload)

    for module in modules:
        monkeypatch.setattr(module, "zstd_encode", counted_encode)
        monkeypatch.setattr(module, "zstd_decode", counted_decode)
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=ZSTD,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    builder.append(0, timestamp=None, key=b"cluster", value=b'{"alert":1}', headers=[])
    batch = MemoryRecords(bytes(builder.build())).next_batch()
    assert batch is not None
    assert [record.value for record in batch] == [b'{"alert":1}']
    assert used == ["encode", "decode"]
