"""``corral quarantine list`` and ``corral quarantine replay``.

What a worker set aside stays on ``corral.quarantine`` until its retention
ends; an operator wants to see it without jq, and, once the cause is fixed
(a worker upgraded that reads a newer schema, a bug fixed), to put the
inputs back where they came from. A replay writes each input record's value
with its key to the partition it was read from: the workers are idempotent,
so an input that was handled meanwhile, or is replayed twice, changes
nothing. Outputs the broker refused, and incidents a stage failed on, are
not inputs: their incident's next change writes them again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from shared.cli import Subcommands, config_path, duration, log_to_stderr, with_config
from shared.config import KafkaSettings
from shared.kafka.clients import new_producer
from shared.kafka.state import read_values
from shared.messages.quarantine import Quarantined


@dataclass(frozen=True)
class Selection:
    """Which quarantined records a command looks at; None matches all."""

    worker: str | None = None
    stage: str | None = None
    since: datetime | None = None

    def __call__(self, entry: Quarantined) -> bool:
        return (
            (self.worker is None or entry.worker == self.worker)
            and (self.stage is None or entry.stage == self.stage)
            and (self.since is None or entry.quarantined_at >= self.since)
        )


def why_not_replayable(entry: Quarantined) -> str | None:
    """None when the entry holds a whole input record that can be written back."""
    if not entry.input or entry.topic is None or entry.partition is None:
        return "not an input record: its incident's next change writes it again"
    if entry.truncated or entry.value is None:
        return f"only part of its {entry.size} bytes was kept"
    return None


def to_replay(entries: Iterable[Quarantined]) -> list[Quarantined]:
    """The replayable entries, each input position once (a record quarantined
    again after an earlier replay failed is the same input)."""
    chosen: dict[tuple[str | None, int | None, int | None], Quarantined] = {}
    for entry in entries:
        if why_not_replayable(entry) is None:
            chosen.setdefault((entry.topic, entry.partition, entry.offset), entry)
    return list(chosen.values())


def line(entry: Quarantined) -> str:
    where = f"{entry.topic}[{entry.partition}]@{entry.offset}" if entry.topic else "-"
    if entry.output_topic:
        where += f" → {entry.output_topic}"
    size = f"{entry.size} B" + (" (cut)" if entry.truncated else "")
    return (
        f"{entry.quarantined_at:%Y-%m-%dT%H:%M:%SZ}  {entry.worker}/{entry.stage}  {where}  "
        f"key={entry.key or '-'}  {size}  {entry.error}"
    )


async def read(kafka: KafkaSettings, selected: Selection) -> tuple[list[Quarantined], int]:
    """The selected entries, oldest first, and how many records were unreadable."""
    entries: list[Quarantined] = []
    unreadable = 0
    for value in await read_values(kafka, kafka.topics.quarantine):
        try:
            entry = Quarantined.from_bytes(value)
        except ValidationError:
            unreadable += 1
            continue
        if selected(entry):
            entries.append(entry)
    entries.sort(key=lambda e: e.quarantined_at)
    return entries, unreadable


async def replay(kafka: KafkaSettings, entries: list[Quarantined]) -> None:
    """Write the entries' values back and wait until the broker acknowledged all."""
    producer = new_producer(kafka)
    await producer.start()
    try:
        futures = []
        for entry in entries:
            assert entry.topic is not None and entry.value is not None
            key = entry.key.encode() if entry.key is not None else None
            futures.append(
                await producer.send(entry.topic, entry.value, key=key, partition=entry.partition)
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def _selection(args: argparse.Namespace) -> Selection:
    since = datetime.now(UTC) - args.since if args.since else None
    return Selection(args.worker, args.stage, since)


def _kafka(args: argparse.Namespace) -> KafkaSettings:
    from services.corral import config

    log_to_stderr()

    settings: KafkaSettings = config.load(config_path(args)).kafka
    return settings


def cmd_list(args: argparse.Namespace) -> int:
    entries, unreadable = asyncio.run(read(_kafka(args), _selection(args)))
    for entry in entries:
        print(line(entry))
    replayable = len(to_replay(entries))
    print(f"{len(entries)} quarantined, {replayable} replayable", file=sys.stderr)
    if unreadable:
        print(f"{unreadable} records on the topic are not readable as Quarantined", file=sys.stderr)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    kafka = _kafka(args)
    entries, _ = asyncio.run(read(kafka, _selection(args)))
    chosen = to_replay(entries)
    for entry in entries:
        reason = why_not_replayable(entry)
        action = "replay" if entry in chosen else "skip  "
        print(f"{action} {line(entry)}" + (f"  ({reason})" if reason else ""))
    if chosen and not args.dry_run:
        asyncio.run(replay(kafka, chosen))
    verb = "would replay" if args.dry_run else "replayed"
    print(f"{verb} {len(chosen)} of {len(entries)} records", file=sys.stderr)
    return 0


def register(commands: Subcommands) -> None:
    group = commands.group("quarantine", "Records workers set aside (corral.quarantine).")
    listing = group.add("list", cmd_list, "List quarantined records, oldest first.")
    replaying = group.add(
        "replay", cmd_replay, "Write quarantined input records back to where they were read."
    )
    for parser in (listing, replaying):
        parser.add_argument("--worker", help="only this worker's records (triage, notify, ...)")
        parser.add_argument("--stage", help="only this stage's records (decode, correlate, ...)")
        parser.add_argument(
            "--since", type=duration, metavar="DURATION", help="only the last DURATION, e.g. 24h"
        )
        with_config(parser)
    replaying.add_argument("--dry-run", action="store_true", help="say what would be replayed")
