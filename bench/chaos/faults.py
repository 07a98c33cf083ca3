"""The faults of a campaign: what happens when, drawn from the seed, and doing it.

Each worker is killed with SIGKILL and restarted, the broker is stopped
(SIGSTOP) for ten seconds and continued, the receivers answer 500 for a while,
a record no worker can read is written to each input topic, and a second
triage worker joins the group and later leaves it (SIGTERM).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

from aiokafka.errors import KafkaError

from bench.chaos.receiver import Receivers
from bench.chaos.stack import Stack
from shared.config import KafkaSettings
from shared.kafka.clients import new_producer

BROKER_STALL = 10.0
RECEIVER_DOWN = 5.0
RESTART_AFTER = 1.0
SECOND_TRIAGE_STAYS = 15.0


@dataclass(frozen=True)
class Fault:
    at: float
    kind: str  # kill, stall-broker, receiver-500, poison, join


@dataclass(frozen=True)
class Poison:
    topic: str
    partition: int
    offset: int


@dataclass
class Injected:
    """What was done, and when (monotonic), for the checks and the table."""

    done: list[tuple[float, str]] = field(default_factory=list)
    poison: list[Poison] = field(default_factory=list)

    def note(self, what: str) -> None:
        self.done.append((time.monotonic(), what))


def plan(seed: int, duration: float) -> list[tuple[Fault, str]]:
    """Every fault once, at a seeded time within the storm."""
    rng = random.Random(seed)

    def when() -> float:
        return round(rng.uniform(0.1 * duration, 0.75 * duration), 1)

    stall = when()
    # Receivers failing while the broker stands still would see no request.
    failing = when()
    while stall - RECEIVER_DOWN < failing < stall + BROKER_STALL:
        failing = when()
    faults = [
        (Fault(when(), "kill"), "ingest"),
        (Fault(when(), "kill"), "triage"),
        (Fault(when(), "kill"), "notify"),
        (Fault(stall, "stall-broker"), "broker"),
        (Fault(failing, "receiver-500"), "receivers"),
        (Fault(when(), "poison"), "alerts"),
        (Fault(when(), "poison"), "incidents"),
        (Fault(when(), "join"), "triage-2"),
    ]
    return sorted(faults, key=lambda f: f[0].at)


async def inject(
    faults: list[tuple[Fault, str]],
    stack: Stack,
    receivers: Receivers,
    kafka: KafkaSettings,
    injected: Injected,
) -> None:
    started = time.monotonic()

    async def one(fault: Fault, target: str) -> None:
        await asyncio.sleep(max(0.0, started + fault.at - time.monotonic()))
        if fault.kind == "kill":
            await stack.kill(target)
            injected.note(f"SIGKILL {target}")
            await asyncio.sleep(RESTART_AFTER)
            await stack.spawn(target)
        elif fault.kind == "stall-broker":
            stack.pause_broker()
            injected.note("SIGSTOP broker")
            await asyncio.sleep(BROKER_STALL)
            stack.resume_broker()
            injected.note("SIGCONT broker")
        elif fault.kind == "receiver-500":
            receivers.failing = True
            injected.note("receivers answer 500")
            await asyncio.sleep(RECEIVER_DOWN)
            receivers.failing = False
        elif fault.kind == "poison":
            topic = getattr(kafka.topics, target)
            injected.poison.append(await _write_poison(kafka, topic))
            injected.note(f"poison record on {topic}")
        elif fault.kind == "join":
            await stack.spawn(target)
            injected.note(f"{target} joins")
            await asyncio.sleep(SECOND_TRIAGE_STAYS)
            await stack.stop(target)
            injected.note(f"{target} leaves")

    await asyncio.gather(*(one(fault, target) for fault, target in faults))


async def _write_poison(kafka: KafkaSettings, topic: str) -> Poison:
    """A record that is not JSON at all, as a buggy or hostile producer writes."""
    while True:
        producer = new_producer(kafka)
        try:
            await producer.start()
            metadata = await producer.send_and_wait(
                topic, b"\x00\xffchaos: not a message", key=b"chaos-poison"
            )
            return Poison(topic, metadata.partition, metadata.offset)
        except KafkaError:
            await asyncio.sleep(0.5)  # the broker is stopped: try again
        finally:
            await producer.stop()
