"""How an invalid setting is reported: one line naming the setting, the value received and what is allowed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

PROJECT = "airflow-platform"


class SettingsError(pulumi.RunError):
    """Invalid stack settings. ``str()`` is one line: setting, value received, what is allowed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("invalid stack settings: " + "; ".join(p.render() for p in problems))


class Problem:
    """One invalid setting."""

    def __init__(self, setting: str, value: Any, allowed: str) -> None:
        self.setting = setting
        self.value = value
        self.allowed = allowed

    def render(self) -> str:
        shown = repr(self.value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        key = self.setting if ":" in self.setting.split(".")[0] else f"{PROJECT}:{self.setting}"
        return f"{key} = {shown}: {self.allowed}"


UNION_MEMBER_TAGS = frozenset({"str", "int", "float", "bool", "function-after", "tagged-union"})
"""Location parts pydantic adds for union members and validators; setting names never look like these."""


def problem_from_pydantic(error: Mapping[str, Any]) -> Problem:
    """One pydantic error as a :class:`Problem` named by the setting's camelCase path (``aws.vpcId``, ``connections[0].host``)."""
    path = ""
    for part in error["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in UNION_MEMBER_TAGS or "[" in part:
            continue
        else:
            path += f".{part}" if path else str(part)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return Problem(path, None, "required setting is missing")
    if error["type"] == "literal_error":
        message = "must be " + message.removeprefix("Input should be ")
    if error["type"] == "string_pattern_mismatch":
        message = "does not match " + error["ctx"]["pattern"]
    return Problem(path, error.get("input"), message)
