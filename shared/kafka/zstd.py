"""zstd for Kafka record batches, with its contexts kept from batch to batch.

aiokafka compresses and decompresses each record batch through cramjam,
which sets up a new zstd context for every call. That set-up costs more than
compressing a batch of a few alerts, and a worker that keeps up writes and
reads many such batches: one webhook of one alert is a batch at every hop.
python-zstandard keeps one compressor and one decompressor per thread and
reuses them; the frames are plain zstd frames either way, so a batch written
one way reads the other (``tests/unit/test_zstd.py``).

``install`` puts the two functions where aiokafka's record batches look
them up. It is the only place Corral reaches into aiokafka's internals: if a
later aiokafka moves them, ``install`` says so in the log and the workers
run on aiokafka's own codec, slower but the same.
"""

from __future__ import annotations

import functools
import threading
from types import ModuleType

import structlog
import zstandard
from aiokafka import codec

log = structlog.get_logger(__name__)

LEVEL = 3
"""aiokafka's level (Kafka's default): a batch compresses as it did before."""
MAX_DECOMPRESSED = 64 * 1024 * 1024
"""A frame that says it holds more (or does not say) is left to aiokafka's
decoder, as every frame was before: a header cannot make this one allocate it."""


class _Contexts(threading.local):
    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(level=LEVEL)
        self.decompressor = zstandard.ZstdDecompressor()


_contexts = _Contexts()


def encode(payload: bytes, level: int | None = None) -> bytes:
    """``aiokafka.codec.zstd_encode`` on this thread's compressor."""
    if level is not None and level != LEVEL:
        return bytes(codec.zstd_encode(payload, level))
    return _contexts.compressor.compress(payload)


def decode(payload: bytes) -> bytes:
    """``aiokafka.codec.zstd_decode`` on this thread's decompressor."""
    try:
        size = zstandard.frame_content_size(payload)
    except zstandard.ZstdError:
        size = -1
    if 0 <= size <= MAX_DECOMPRESSED:
        try:
            return _contexts.decompressor.decompress(payload)
        except zstandard.ZstdError:
            pass  # aiokafka's decoder says what is wrong with it
    return bytes(codec.zstd_decode(payload))


def _record_modules() -> list[ModuleType]:
    """aiokafka's record batch modules: the compiled one and the pure Python one."""
    from aiokafka.record import default_records

    modules = [default_records]
    try:
        from aiokafka.record._crecords import default_records as compiled
    except ImportError:
        return modules
    return [compiled, *modules]


@functools.cache
def install() -> bool:
    """Route aiokafka's zstd through ``encode`` and ``decode`` (once per
    process); False (logged) when this aiokafka does not look them up where it used to."""
    modules = _record_modules()
    if not all(hasattr(m, "zstd_encode") and hasattr(m, "zstd_decode") for m in modules):
        log.warning("aiokafka's zstd codec not replaced: its record modules changed")
        return False
    for module in modules:
        module.zstd_encode = encode  # type: ignore[attr-defined]
        module.zstd_decode = decode  # type: ignore[attr-defined]
    return True
