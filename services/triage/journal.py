"""A record of each correlation decision as it is taken, for the offline tools.

``corral replay`` and ``corral explain`` run the workers' own chain over
recorded alerts; the incidents it emits say what happened, but only up to
``max_alerts`` members and a few explanation lines each. A journal sees every
decision instead: which alert went where, by which policy and why, which
incidents were merged and which alerts moved. Workers run without one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from services.triage.stages import AlertEvent, TriageContext
    from services.triage.state import IncidentState


class Journal(Protocol):
    def placed(
        self,
        ctx: TriageContext,
        event: AlertEvent,
        incident: IncidentState,
        policy: str,
        reason: str,
        merged: list[IncidentState],
    ) -> None:
        """``event``'s alert goes into ``incident`` (``policy`` "new": it opens it),
        which first absorbs ``merged``; called before any of it is applied."""
        ...

    def moved(
        self,
        ctx: TriageContext,
        source: IncidentState,
        target: IncidentState,
        fps: list[str],
        reason: str,
    ) -> None:
        """Members ``fps`` of ``source`` go over to ``target``; called before."""
        ...
