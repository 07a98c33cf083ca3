"""Messages from the three topics turned into the events an incident's timeline keeps.

A revision is kept as what changed since the revision before it (alerts that
started or stopped firing, as the revision listed them; decisions added to
the explanation) plus the summary the lifecycle needs; the whole latest
revision lives in the incident row. Actions and delivery outcomes are kept
as they are.

A new incident's first revision changed every member it lists: its event
refers to the incident row's document for them (``in_document``) instead of
repeating them, for as long as that document is this revision; the store
writes them into the event when a later revision replaces the document.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic_core import to_json

from services.incidents.lifecycle import Event, EventKind
from services.incidents.revision import Revision
from services.incidents.times import to_ms
from shared import codec
from shared.messages import Action, DeliveryOutcome

# Triage's line standing for explanation lines it left out; not a decision.
_OMITTED_PREFIX = "… and "


def revision_id(revision: int) -> str:
    return f"r/{revision:010d}"


def event_id(message: Revision | Action | DeliveryOutcome) -> str:
    """The id of the event a message makes, known before the event is made:
    the store asks which it has already."""
    if isinstance(message, Revision):
        return revision_id(message.revision)
    if isinstance(message, Action):
        return f"a/{message.action_id}"
    return f"o/{message.outcome_id}"


def revision_event(revision: Revision, previous: Revision | None) -> Event:
    incident = revision.head
    seen = Counter(previous.head.explanation if previous is not None else [])
    decisions = []
    for line in incident.explanation:
        if seen[line] > 0:
            seen[line] -= 1
        elif not line.startswith(_OMITTED_PREFIX):
            decisions.append(line)
    data: dict[str, Any] = {
        "revision": incident.revision,
        "event": incident.event.value,
        "status": incident.status.value,
        "priority": incident.priority,
        "severity": incident.severity,
        "firing": revision.firing,
        "decisions": decisions,
    }
    if incident.resolved_at is not None:
        data["resolved_at_ms"] = to_ms(incident.resolved_at)
    if incident.merged_into:
        data["merged_into"] = incident.merged_into
    return Event(
        incident.id,
        revision_id(incident.revision),
        to_ms(incident.updated_at),
        EventKind.REVISION,
        data,
        tuple(revision.changed(previous)),
    )


IN_DOCUMENT = {"changes_in": "document"}
"""First in the data of a revision event whose changes are the members the
incident's document lists (a store written before has no such event; a
version before ignores the key and shows no changes)."""

IN_DOCUMENT_PREFIX = to_json(IN_DOCUMENT)[:-1]
"""How such an event's stored data begins."""


def in_document(event: Event) -> Event:
    """A new incident's first revision event referring to the document for
    its changes (every member)."""
    return Event(
        event.incident_id,
        event.event_id,
        event.at_ms,
        event.kind,
        {**IN_DOCUMENT, **event.data},
    )


def refers_to_document(data: dict[str, Any]) -> bool:
    return data.get("changes_in") == IN_DOCUMENT["changes_in"]


def encoded(event: Event) -> bytes:
    """An event's ``data`` as the store keeps it: a revision's changed members
    as they were listed, not decoded and encoded again."""
    data = to_json(event.data)
    if event.kind == EventKind.REVISION and not refers_to_document(event.data):
        data = codec.with_last(data, "changes", codec.join_members(event.listed))
    return data


def action_event(action: Action) -> Event:
    return Event(
        action.incident_id,
        event_id(action),
        to_ms(action.at),
        EventKind.ACTION,
        action.model_dump(mode="json", exclude_none=True, exclude={"schema_version"}),
    )


def outcome_event(outcome: DeliveryOutcome) -> Event:
    return Event(
        outcome.incident_id,
        event_id(outcome),
        to_ms(outcome.at),
        EventKind.OUTCOME,
        outcome.model_dump(mode="json", exclude_none=True, exclude={"schema_version"}),
    )
