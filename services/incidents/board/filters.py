"""What a board shows: the states, priorities and team in its URL.

``/?state=open&priority=P1,P2&team=db`` is a view a team can bookmark; the
same parameters select what the live stream sends (``/board/events?...``).
``priority`` and ``state`` take a comma list or repeat, as an HTML form
with checkboxes sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from multidict import MultiMapping

from services.incidents.api import PRIORITIES, STATES, BadParameter, choices
from services.incidents.lifecycle import State
from services.incidents.store.incidents import Query

MAX_TEAM_LENGTH = 256


@dataclass(frozen=True)
class BoardFilter:
    states: tuple[str, ...] = ("open",)
    priorities: tuple[str, ...] = ()
    team: str | None = None

    @classmethod
    def from_query(cls, params: MultiMapping[str]) -> BoardFilter:
        """From a page's query string; ``BadParameter`` naming the wrong one."""
        states = choices(_joined(params, "state"), STATES, "state") or ("open",)
        priorities = choices(_joined(params, "priority"), PRIORITIES, "priority")
        team = params.get("team", "").strip() or None
        if team is not None and len(team) > MAX_TEAM_LENGTH:
            raise BadParameter("team", f"longer than {MAX_TEAM_LENGTH} characters")
        return cls(states, priorities, team)

    def query(self, limit: int) -> Query:
        return Query(states=self.states, priorities=self.priorities, team=self.team, limit=limit)

    def matches(self, summary: Mapping[str, Any]) -> bool:
        """Whether an incident as shown now (``views.shown``) belongs on this board."""
        state = summary["state"]
        if not (state in self.states or ("open" in self.states and state != State.RESOLVED)):
            return False
        if self.priorities and summary["priority"] not in self.priorities:
            return False
        return self.team is None or summary["team"] == self.team

    def query_string(self) -> str:
        """The filter as a URL query, without the defaults: ``?priority=P1&team=db``."""
        params = {
            "state": ",".join(self.states) if self.states != ("open",) else "",
            "priority": ",".join(self.priorities),
            "team": self.team or "",
        }
        text = urlencode({k: v for k, v in params.items() if v})
        return f"?{text}" if text else ""


def _joined(params: MultiMapping[str], name: str) -> str:
    return ",".join(params.getall(name, []))
