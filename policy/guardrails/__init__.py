"""Guardrails of the Airflow platform stacks: plain rule functions and their CrossGuard wrappers."""
