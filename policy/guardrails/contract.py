"""What every guardrail rule takes and returns, and the helpers the rule modules share.

A resource rule is ``check(resource_type, props, options) -> list[str]``: the violation messages for one
resource (empty: compliant or not applicable). A stack rule is ``check(resources) -> list[tuple[str, str]]``:
(resource name, message) pairs over everything the stack registers. A :class:`Rule` names one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RuleOptions:
    """What a rule needs besides the inputs: the ``protect`` option and the stack's environment."""

    protect: bool = False
    environment: str | None = None


@dataclass(frozen=True)
class Resource:
    """One registered resource, for stack rules."""

    type: str
    name: str
    props: Mapping[str, Any]
    options: RuleOptions = RuleOptions()


def get_path(value: Any, *path: str) -> Any:
    """``value[path[0]][path[1]]...``; None where a level is missing or not a mapping."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


ResourceCheck = Callable[[str, Mapping[str, Any], RuleOptions], list[str]]
StackCheck = Callable[[Sequence[Resource]], list[tuple[str, str]]]


@dataclass(frozen=True)
class Rule:
    name: str
    """Policy name (stable: `--policy-pack-config` keys refer to it)."""
    description: str
    resource_check: ResourceCheck | None = None
    stack_check: StackCheck | None = None
