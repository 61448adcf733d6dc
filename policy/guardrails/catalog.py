"""Every guardrail the pack runs, in policy order: the base rules, then the production rules of issue 9."""

from __future__ import annotations

from guardrails.contract import Rule
from guardrails.prod_rules import PROD_RULES
from guardrails.rules import RULES as BASE_RULES

RULES: tuple[Rule, ...] = BASE_RULES + PROD_RULES
