"""Severity scoring: rules first, a classifier for the rest, context on top.

Every incident triage emits carries a severity (critical, warning, info), a
priority (P1 to P5), a 0-100 score and an explanation listing what decided
them: the rule that matched, the classifier's verdict and its confidence,
and the incident's context (how many alerts and services, how long, flapping).
"""
