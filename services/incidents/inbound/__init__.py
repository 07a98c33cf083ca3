"""Acknowledgements and resolves coming back from PagerDuty and Slack, as actions."""
