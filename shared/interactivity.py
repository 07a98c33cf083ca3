"""The buttons on notify's Slack messages, as the incidents service answers them.

notify's Slack app mode puts these ``action_id``s on its Acknowledge and
Resolve buttons with the incident id as the button's ``value``; Slack posts
a click to the incidents service (``/api/v1/integrations/slack/interactivity``),
which turns it into an ``Action``. PagerDuty needs no such contract: notify
sends the incident id as the Events API ``dedup_key``, which PagerDuty's
webhooks return as ``incident_key``.
"""

from __future__ import annotations

from shared.messages.action import ActionKind

SLACK_ACKNOWLEDGE = "corral_acknowledge"
SLACK_RESOLVE = "corral_resolve"

SLACK_BUTTONS = {SLACK_ACKNOWLEDGE: ActionKind.ACKNOWLEDGE, SLACK_RESOLVE: ActionKind.RESOLVE}
"""Button ``action_id`` to the action a click takes."""
