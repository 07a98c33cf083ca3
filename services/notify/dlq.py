"""``corral dlq replay``: send dead-lettered notifications again.

A replay puts the dead letter's incident revision back on its partition of
the incidents topic. The notify worker that owns the partition admits it
again only for the receiver integrations whose sent log entry shows that
very revision dead-lettered and not delivered since; everything else treats
it as the repeat it is. The command checks the sent log too, so it reports
(and skips) dead letters that went through meanwhile or were superseded by a
newer revision, and replays each incident revision once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from services.notify.config import NotifyConfig
from services.notify.entry import EntryKey, SentLogEntry
from services.notify.sentlog import Entries, EntriesRestorer
from shared.kafka.clients import new_producer
from shared.kafka.state import StateStore, read_values
from shared.messages import DeadLetter


@dataclass
class Decision:
    letter: DeadLetter
    replay: bool
    why: str

    def line(self) -> str:
        letter = self.letter
        action = "replay" if self.replay else "skip  "
        return (
            f"{action} {letter.incident.id} revision {letter.incident.revision} "
            f"to {letter.receiver}/{letter.integration}: {self.why}"
        )


def newest_letters(
    values: list[bytes],
    receiver: str | None,
    incident: str | None,
    since: datetime | None,
) -> list[DeadLetter]:
    """The newest dead letter per incident, receiver and integration, filtered."""
    newest: dict[EntryKey, DeadLetter] = {}
    for value in values:
        try:
            letter = DeadLetter.from_bytes(value)
        except ValidationError:
            continue
        if receiver and letter.receiver != receiver:
            continue
        if incident and letter.incident.id != incident:
            continue
        if since and letter.last_attempt_at < since:
            continue
        key = EntryKey.of(letter.partition, letter.incident.id, letter.receiver, letter.integration)
        current = newest.get(key)
        if current is None or letter.incident.revision >= current.incident.revision:
            newest[key] = letter
    return list(newest.values())


def judge(letter: DeadLetter, entry: SentLogEntry | None) -> Decision:
    revision = letter.incident.revision
    if entry is not None:
        if entry.revision >= revision:
            return Decision(letter, False, f"delivered meanwhile (revision {entry.revision})")
        if entry.incident is not None and entry.incident.revision > revision:
            return Decision(letter, False, f"superseded by revision {entry.incident.revision}")
        if entry.attempting == revision:
            return Decision(letter, False, "being delivered right now")
    return Decision(letter, True, f"failed after {letter.attempts} attempts: {letter.reason}")


async def replay(
    config: NotifyConfig,
    receiver: str | None = None,
    incident: str | None = None,
    since: timedelta | None = None,
    dry_run: bool = False,
) -> list[Decision]:
    kafka = config.kafka
    cutoff = None if since is None else datetime.now(UTC) - since
    letters = newest_letters(
        await read_values(kafka, kafka.topics.dead_letters), receiver, incident, cutoff
    )
    sent: StateStore[Entries] = StateStore(kafka, kafka.topics.notify_sent, EntriesRestorer)
    await sent.restore({letter.partition for letter in letters})
    decisions = []
    for letter in letters:
        key = EntryKey.of(letter.partition, letter.incident.id, letter.receiver, letter.integration)
        decisions.append(judge(letter, sent.partitions[key.partition].by_key.get(key.key)))
    chosen = {
        (d.letter.incident.id, d.letter.incident.revision): d.letter for d in decisions if d.replay
    }
    if chosen and not dry_run:
        producer = new_producer(kafka)
        await producer.start()
        try:
            futures = [
                await producer.send(
                    kafka.topics.incidents,
                    letter.incident.to_bytes(),
                    key=letter.incident.id.encode(),
                    partition=letter.partition,
                )
                for letter in chosen.values()
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()
    return decisions
