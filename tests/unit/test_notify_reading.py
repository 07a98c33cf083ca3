"""Notify reads a growing incident's revisions (``codec.read_incident``) as
the model reads them, members added at the end of the last listing included."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shared import codec
from shared.cache import BoundedCache
from shared.messages import AlertStatus, Incident
from tests.unit.test_codec import incidents, members, tricky


@settings(max_examples=200)
@given(data=st.data())
def test_a_growing_incident_is_read_as_the_model_reads_it(data: st.DataObject) -> None:
    listings: codec.Listings = BoundedCache(4)
    revision = data.draw(incidents(alerts=data.draw(st.lists(members(tricky), max_size=4))))
    for number in range(2, 6):
        plain = Incident.from_bytes(revision.to_bytes())
        read = codec.read_incident(revision.to_bytes(), listings)
        assert read == plain
        assert read.to_bytes() == plain.to_bytes()
        alerts = list(revision.alerts)
        if alerts and data.draw(st.booleans()):  # now and then one resolves on the way
            at = data.draw(st.integers(0, len(alerts) - 1))
            alerts[at] = alerts[at].model_copy(update={"status": AlertStatus.RESOLVED})
        added = data.draw(st.lists(members(tricky), max_size=3))
        revision = revision.model_copy(update={"revision": number, "alerts": alerts + added})
