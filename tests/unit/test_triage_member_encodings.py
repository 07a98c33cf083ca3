"""A revision and the state records written beside it list the same members:
each member is encoded once per batch, even when the batch lists more members
than the worker's cache of encodings holds."""

from __future__ import annotations

from services.triage.config import TriageSettings
from services.triage.stages import TriageContext
from services.triage.state import PartitionState
from services.triage.statelog import ALERT_PREFIX
from services.triage.worker import build_chain
from shared import codec
from shared.codec import EncodingCache
from shared.messages import Incident, IncidentAlert
from tests.triage import alert

SETTINGS = TriageSettings.model_validate(
    {"scopes": [["namespace"]], "scoring": {"classifier": False}}
)


async def test_a_batch_larger_than_the_cache_encodes_each_member_once() -> None:
    encoded: list[str] = []

    def encode(member: IncidentAlert) -> bytes:
        encoded.append(member.fingerprint)
        return codec.compact(member)

    chain = build_chain(SETTINGS, "incidents", "state", members=EncodingCache(4, encode))
    pods = [
        alert({"alertname": "KubePodNotReady", "namespace": "shop", "pod": f"p{i}"})
        for i in range(20)
    ]
    ctx = TriageContext(0, PartitionState(), [(a, "c1") for a in pods])
    await chain.process(ctx)
    # As the publisher writes them: the revision first, then the state.
    written = {(r.topic, r.key): r.value.to_bytes() for r in ctx.records if r.value is not None}

    assert sorted(encoded) == sorted(a.fingerprint for a in pods)
    [revision] = [
        Incident.from_bytes(v) for (topic, _), v in written.items() if topic == "incidents"
    ]
    assert len(revision.alerts) == len(pods)
    for member in revision.alerts:
        state = written["state", ALERT_PREFIX + member.fingerprint]
        assert state.endswith(b',"member":%s}' % codec.compact(member))
