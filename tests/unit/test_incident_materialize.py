"""What the incidents consumer does with a batch it cannot wholly apply (no broker needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aiokafka import ConsumerRecord, TopicPartition

from services.incidents.feed import ChangeFeed
from services.incidents.materialize import Materializer
from services.incidents.store import IncidentStore, database_for
from services.incidents.store.incidents import Applied, Message, Quarantined
from services.incidents.store.incidents import TopicPartition as TP
from services.incidents.views import Describer
from shared.config import TopicNames
from shared.messages import Incident
from tests.incidents import action, alert, revision

TOPICS = TopicNames()


class PoisonedStore(IncidentStore):
    """A store that fails on one incident, as a bug or a bad value might make it."""

    async def apply(
        self,
        messages: Sequence[Message],
        positions: dict[TP, int],
        quarantined: Sequence[Quarantined] = (),
    ) -> list[Applied]:
        if any(getattr(m, "id", None) == "poison" for m in messages):
            raise ValueError("cannot apply this one")
        return await super().apply(messages, positions, quarantined)


def record(topic: str, offset: int, value: bytes) -> ConsumerRecord:
    return ConsumerRecord(topic, 0, offset, 0, 0, b"k", value, None, 1, len(value), [])


async def test_a_record_that_cannot_be_applied_is_set_aside_and_the_rest_applied(
    tmp_path: Path,
) -> None:
    store = PoisonedStore(database_for("sqlite", str(tmp_path)), Describer())
    await store.open()
    feed = ChangeFeed()
    try:
        materializer = Materializer(store, feed, TOPICS)
        good = revision(1, [alert("DiskFull")], 0)
        poison: Incident = revision(1, [alert("DiskFull")], 0, id="poison")
        batch = {
            TopicPartition(TOPICS.incidents, 0): [
                record(TOPICS.incidents, 0, good.to_bytes()),
                record(TOPICS.incidents, 1, poison.to_bytes()),
                record(TOPICS.incidents, 2, b"\x00not json"),
            ],
            TopicPartition(TOPICS.actions, 0): [
                record(TOPICS.actions, 7, action("acknowledge", 5).to_bytes())
            ],
        }
        with feed.subscribe() as changes:
            assert await materializer.handle(batch) == []
            change = changes.queue.get_nowait()
        assert (change.incident_id, change.state) == ("inc-1", "acknowledged")
        assert await store.get("poison") is None
        quarantined = sorted(await store.quarantined(), key=lambda q: q.offset)
        assert [(q.topic, q.offset) for q in quarantined] == [
            (TOPICS.incidents, 1),
            (TOPICS.incidents, 2),
        ]
        assert "cannot apply this one" in quarantined[0].error
        assert "unreadable Incident" in quarantined[1].error
        assert await store.positions() == {(TOPICS.incidents, 0): 3, (TOPICS.actions, 0): 8}
    finally:
        await store.close()
