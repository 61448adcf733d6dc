"""Airflow platform guardrails: ``pulumi preview --policy-pack policy``.

The rules are plain functions in ``guardrails/rules.py``; ``guardrails/pack.py``
wraps them as CrossGuard policies. Enforcement is mandatory when the stack's
environment is prod and advisory elsewhere (``guardrails/environment.py``).
``PolicyPack(...)`` serves the engine and does not return.
"""

from guardrails.pack import pack_arguments
from pulumi_policy import PolicyPack

PolicyPack(**pack_arguments())
