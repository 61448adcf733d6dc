"""Which environment a stack is, and therefore how hard the guardrails bite.

Order: ``GUARDRAILS_ENVIRONMENT`` (explicit override, e.g. in CI), then the stack's
``<project>:environment`` config (the engine hands it to the pack in ``PULUMI_CONFIG``),
then the suffix of the stack name (``PULUMI_STACK``, ``<team>-<env>``). Unknown: ``None``.
Prod stacks get mandatory enforcement, every other stack advisory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

PROD = "prod"
KNOWN = ("dev", "staging", "prod")


def stack_environment(env: Mapping[str, str] | None = None) -> str | None:
    """The stack's environment (dev, staging or prod) from the process environment, or None."""
    env = os.environ if env is None else env
    explicit = env.get("GUARDRAILS_ENVIRONMENT", "").strip()
    if explicit:
        return explicit
    try:
        config = json.loads(env.get("PULUMI_CONFIG", "") or "{}")
    except ValueError:
        config = {}
    if isinstance(config, dict):
        for key, value in sorted(config.items()):
            if key.endswith(":environment") and isinstance(value, str) and value:
                return value
    stack = env.get("PULUMI_STACK", "")
    suffix = stack.rsplit("-", 1)[-1] if "-" in stack else ""
    return suffix if suffix in KNOWN else None


def is_prod(environment: str | None) -> bool:
    return environment == PROD
