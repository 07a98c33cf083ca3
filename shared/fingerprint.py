"""Alert identity from its label set, computed exactly as Prometheus does.

Alertmanager names alerts by ``model.LabelSet.Fingerprint()``: 64-bit FNV-1a
over the label names and values in name order, each followed by the byte
0xff, printed as 16 hex digits. Using the same function means an alert that
Prometheus pushes straight to Corral and the same alert relayed by Alertmanager
carry the same fingerprint, so deduplication works across both paths.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

_OFFSET = 14695981039346656037
_PRIME = 1099511628211
_MASK = (1 << 64) - 1
_SEPARATOR = 0xFF


def fingerprint(labels: Mapping[str, str], ignore: Iterable[str] = ()) -> str:
    skip = frozenset(ignore)
    return _hash(tuple(sorted((k, v) for k, v in labels.items() if k not in skip)))


# Prometheus re-sends every firing alert each resend interval, so most label
# sets are hashed again and again; the byte loop below is the slow part.
@lru_cache(maxsize=65536)
def _hash(pairs: tuple[tuple[str, str], ...]) -> str:
    h = _OFFSET
    for name, value in pairs:
        for part in (name, value):
            for byte in part.encode():
                h = ((h ^ byte) * _PRIME) & _MASK
            h = ((h ^ _SEPARATOR) * _PRIME) & _MASK
    return f"{h:016x}"
