"""Alert identity from its label set, computed exactly as Prometheus does.

Alertmanager names alerts by ``model.LabelSet.Fingerprint()``: 64-bit FNV-1a
over the label names and values in name order, each followed by the byte
0xff, printed as 16 hex digits. Using the same function means an alert that
Prometheus pushes straight to Corral and the same alert relayed by Alertmanager
carry the same fingerprint, so deduplication works across both paths.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

_OFFSET = 14695981039346656037
_PRIME = 1099511628211
_MASK = (1 << 64) - 1
_SEPARATOR = 0xFF


def fingerprint(labels: Mapping[str, str], ignore: Iterable[str] = ()) -> str:
    skip = set(ignore)
    h = _OFFSET
    for name in sorted(labels):
        if name in skip:
            continue
        for part in (name, labels[name]):
            for byte in part.encode():
                h = ((h ^ byte) * _PRIME) & _MASK
            h = ((h ^ _SEPARATOR) * _PRIME) & _MASK
    return f"{h:016x}"
