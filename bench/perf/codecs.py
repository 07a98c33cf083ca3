"""zstd per record batch: aiokafka's own codec (cramjam, a new context per
call) against ``shared.kafka.zstd`` (contexts kept per thread), CPU per
batch of 1, 10 and 100 alert records as ingest writes them.

    .venv/bin/python -m bench.perf.codecs
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from aiokafka import codec

from bench.perf.limit import messages
from shared.kafka import zstd


def cpu_us(function: Callable[[bytes], object], data: bytes, repeat: int) -> float:
    """Least CPU time of ``function(data)``, over five rounds of ``repeat`` calls."""
    rounds = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(repeat):
            function(data)
        rounds.append((time.process_time() - started) / repeat * 1e6)
    return round(min(rounds), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=500)
    args = parser.parse_args()
    records = [value for _, value in messages(100, shape="incidents")]
    for count in (1, 10, 100):
        batch = b"".join(records[:count])
        frame = zstd.encode(batch)
        print(
            json.dumps(
                {
                    "records": count,
                    "bytes": len(batch),
                    "compressed": len(frame),
                    "cramjam_encode_us": cpu_us(codec.zstd_encode, batch, args.repeat),
                    "kept_encode_us": cpu_us(zstd.encode, batch, args.repeat),
                    "cramjam_decode_us": cpu_us(codec.zstd_decode, frame, args.repeat),
                    "kept_decode_us": cpu_us(zstd.decode, frame, args.repeat),
                }
            )
        )


if __name__ == "__main__":
    main()
