"""What the incidents consumer does with a batch it cannot wholly apply (no broker needed)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from aiokafka import ConsumerRecord, TopicPartition

from services.incidents.feed import ChangeFeed
from services.incidents.materialize import Materializer
from services.incidents.store import IncidentStore, database_for
from services.incidents.store.incidents import Applied, Message
from services.incidents.store.incidents import TopicPartition as Position
from services.incidents.views import Describer
from shared.config import TopicNames
from shared.kafka.publisher import Publisher, Record
from shared.kafka.quarantine import Quarantine
from shared.messages.quarantine import Quarantined
from tests.incidents import action, alert, revision

TOPICS = TopicNames()


class PoisonedStore(IncidentStore):
    """A store that fails on one incident, as a bug or a bad value might make it."""

    async def apply(
        self, messages: Sequence[Message], positions: dict[Position, int]
    ) -> list[Applied]:
        if any(getattr(m, "id", None) == "poison" for m in messages):
            raise ValueError("cannot apply this one")
        return await super().apply(messages, positions)


class Written(Publisher):
    """Records as the broker would have taken them, with the store's positions then."""

    def __init__(self, store: IncidentStore):
        self.store = store
        self.records: list[Record] = []
        self.positions_then: list[dict[Position, int]] = []

    async def publish(self, records: Iterable[Record], refused: object = None) -> None:
        self.positions_then.append(await self.store.positions())
        self.records += list(records)


def record(topic: str, offset: int, value: bytes) -> ConsumerRecord:
    return ConsumerRecord(topic, 0, offset, 0, 0, b"k", value, None, 1, len(value), [])


async def test_a_record_that_cannot_be_applied_is_set_aside_and_the_rest_applied(
    tmp_path: Path,
) -> None:
    store = PoisonedStore(database_for("sqlite", str(tmp_path)), Describer())
    await store.open()
    feed = ChangeFeed()
    try:
        materializer = Materializer(
            store, feed, TOPICS, Quarantine("incidents", TOPICS.quarantine, 1_048_588)
        )
        written = materializer.publisher = Written(store)
        batch = {
            TopicPartition(TOPICS.incidents, 0): [
                record(TOPICS.incidents, 0, revision(1, [alert("DiskFull")], 0).to_bytes()),
                record(
                    TOPICS.incidents,
                    1,
                    revision(1, [alert("DiskFull")], 0, id="poison").to_bytes(),
                ),
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
        quarantined = [r.value for r in written.records]
        assert all(r.topic == TOPICS.quarantine for r in written.records)
        assert [(q.stage, q.offset) for q in quarantined if isinstance(q, Quarantined)] == [
            ("decode", 2),
            ("apply", 1),
        ]
        assert "cannot apply this one" in quarantined[1].error  # type: ignore[union-attr]
        # The quarantine records were acknowledged before the store moved past them.
        assert all(not positions for positions in written.positions_then)
        assert await store.positions() == {(TOPICS.incidents, 0): 3, (TOPICS.actions, 0): 8}
    finally:
        await store.close()
