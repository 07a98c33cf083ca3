"""The key of an alert on ``corral.alerts``, which decides its partition.

Triage correlates only alerts that reach the same worker, so alerts that may
belong to one incident must share a partition. The key is the values of a few
coarse scope labels (by default ``cluster``): all alerts of one cluster land
on one partition. Alerts missing every key label share the empty key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def alert_key(labels: Mapping[str, str], key_labels: Sequence[str]) -> str:
    return "/".join([labels.get(name, "") for name in key_labels])
