"""Running the triage chain in tests: alerts in at chosen times, revisions out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.triage.config import TriageSettings
from services.triage.stages import TriageContext
from services.triage.state import PartitionState, duration_ms
from services.triage.statelog import PartitionRestorer
from services.triage.worker import build_chain
from shared.fingerprint import fingerprint
from shared.messages import Alert, AlertStatus, Incident

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def alert(
    labels: dict[str, str],
    status: str = "firing",
    at: float = 0,
    source: str = "alertmanager",
    t0: datetime = T0,
) -> Alert:
    """An alert as ingest publishes it, ``at`` seconds after ``t0``."""
    return Alert(
        fingerprint=fingerprint(labels),
        status=AlertStatus(status),
        labels=labels,
        source=source,
        received_at=t0 + timedelta(seconds=at),
    )


class Triage:
    """One partition's triage, driven alert by alert (or batch by batch)."""

    def __init__(self, boundary: str | None = "c1", **settings: Any):
        self.given = settings
        self.settings = TriageSettings.model_validate(settings)
        self.chain = build_chain(self.settings, "incidents", "state")
        self.state = PartitionState()
        self.boundary = boundary
        self.revisions: list[Incident] = []
        self.state_records: list[Any] = []

    async def send(self, *alerts: Alert, redelivered: bool = False) -> list[Incident]:
        """One batch; returns the revisions it produced. Without a boundary of
        its own, each alert's is its cluster, as ingest keys them.
        ``redelivered``: the partition's owner before may have read it."""
        keyed = [(a, self.boundary or a.labels.get("cluster", "")) for a in alerts]
        ctx = TriageContext(0, self.state, keyed, redelivered=redelivered)
        return await self._run(ctx)

    async def tick(self, at: float) -> list[Incident]:
        """Time passes with no input, up to ``at`` seconds after T0."""
        ctx = TriageContext(0, self.state, now=T0 + timedelta(seconds=at))
        return await self._run(ctx)

    async def _run(self, ctx: TriageContext) -> list[Incident]:
        await self.chain.process(ctx)
        out = [
            Incident.from_bytes(r.value.to_bytes())
            for r in ctx.records
            if r.topic == "incidents" and r.value is not None
        ]
        self.state_records += [r for r in ctx.records if r.topic == "state"]
        self.revisions += out
        return out

    def restored(self) -> Triage:
        """A new worker whose state comes only from this one's changelog records."""
        loader = PartitionRestorer(
            duration_ms(self.settings.flapping.settle),
            duration_ms(self.settings.lifecycle.retention),
        )
        for record in self.state_records:
            loader.apply(record.key, None if record.value is None else record.value.to_bytes())
        again = Triage(self.boundary, **self.given)
        again.state = loader.build()
        return again

    def latest(self) -> dict[str, Incident]:
        """The newest revision of every incident."""
        latest: dict[str, Incident] = {}
        for incident in self.revisions:
            latest[incident.id] = incident
        return latest

    def groups(self) -> list[set[str]]:
        """Alert names (by ``pod``/``node``/``alertname``) per live incident."""
        return [
            {a.fingerprint for a in i.alerts}
            for i in self.latest().values()
            if i.merged_into is None
        ]
