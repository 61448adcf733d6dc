"""Read ``Pulumi.yaml`` and ``config/Pulumi.<stack>.yaml`` the way the Pulumi CLI does.

The CLI applies the project's declared defaults and hands the program every
config value as a string (objects as JSON), with encrypted (``secure:``) values
marked secret. Offline we cannot decrypt, so a secure value becomes a
recognisable placeholder that stays marked secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    values: dict[str, Any]
    """Full key (``ns:key``) -> decoded value (str, bool, int, list or dict)."""
    secret_keys: frozenset[str]

    def wire_config(self) -> dict[str, str]:
        """Config as the language host receives it: every value a string."""
        return {key: _wire(value) for key, value in self.values.items()}

    def project_values(self) -> dict[str, Any]:
        """Values of the project namespace, keys without the ``<project>:`` prefix."""
        prefix = f"{self.project}:"
        return {k.removeprefix(prefix): v for k, v in self.values.items() if k.startswith(prefix)}


def _wire(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)


def placeholder(key: str) -> str:
    """Offline stand-in for the encrypted value of ``key``."""
    return f"offline-placeholder-{key.split(':', 1)[-1]}"


def load_project(root: Path = ROOT) -> tuple[str, dict[str, Any]]:
    """Project name and the declared config defaults."""
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    defaults = {key: spec["default"] for key, spec in (project.get("config") or {}).items() if "default" in spec}
    return project["name"], defaults


def stack_name(path: Path) -> str:
    name = path.name
    if not (name.startswith("Pulumi.") and name.endswith((".yaml", ".yml"))):
        raise ValueError(f"{path}: stack files are named Pulumi.<stack>.yaml")
    return name.removeprefix("Pulumi.").rsplit(".", 1)[0]


def load_stack(path: Path, root: Path = ROOT) -> StackConfig:
    """Stack config with the project defaults applied, as the CLI would hand it to the program."""
    project, defaults = load_project(root)
    document = yaml.safe_load(Path(path).read_text()) or {}
    raw = document.get("config") or {}
    values: dict[str, Any] = {}
    secret: set[str] = set()
    for key, value in raw.items():
        full = key if ":" in key else f"{project}:{key}"
        if _contains_secure(value):
            secret.add(full)
            value = _replace_secure(full, value)
        values[full] = value
    for key, value in defaults.items():
        values.setdefault(f"{project}:{key}", value)
    return StackConfig(project=project, stack=stack_name(Path(path)), values=values, secret_keys=frozenset(secret))


def _contains_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_contains_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_secure(v) for v in value)
    return False


def _replace_secure(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return placeholder(key)
        return {k: _replace_secure(key, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secure(key, v) for v in value]
    return value
