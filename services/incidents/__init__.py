"""The incidents service: the responders' side of an incident.

It keeps an incident store materialized from the incident revisions, the
people's actions and notify's delivery outcomes, serves the incident API
(list, read, act, review), and turns PagerDuty's and Slack's
acknowledgements into actions.
"""
