"""The one place that reads ``pulumi.Config``: the stack's settings and the secret keys they name."""

from __future__ import annotations

import json
from typing import Any

import pulumi

from components.settings.errors import PROJECT, SECRET, Problem, SettingsError
from components.settings.model import SCALAR_KEYS, STRUCTURED_KEYS, Settings
from components.settings.validation import settings_from_config


def load_settings() -> Settings:
    """Read and validate the current stack's settings. Raises :class:`SettingsError`."""
    config = pulumi.Config()
    raw: dict[str, Any] = {}
    for key in SCALAR_KEYS:
        raw[key] = config.get(key)
    for key in STRUCTURED_KEYS:
        raw[key] = _structured(config.get(key))
    for key in _unknown_project_keys(_referenced_secret_keys(raw.get("connections"))):
        # a secret nobody uses is reported by name only: its value is never read
        raw[key] = SECRET if _is_secret(key) else config.get(key)
    secret_keys = {key for key in raw if _is_secret(key)}
    return settings_from_config(raw, stack=pulumi.get_stack(), aws_region=pulumi.Config("aws").get("region"), secret_keys=secret_keys)


def _structured(text: str | None) -> Any:
    """Decode a structured config value; a non-JSON scalar is passed on for the model to reject by name."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _referenced_secret_keys(connections: Any) -> set[str]:
    """Config keys that connections name as the source of a secret field."""
    keys: set[str] = set()
    for conn in connections if isinstance(connections, list) else []:
        fields = conn.get("secretFields") if isinstance(conn, dict) else None
        if isinstance(fields, dict):
            keys.update(str(v) for v in fields.values())
    return keys


def _unknown_project_keys(referenced: set[str]) -> list[str]:
    """Keys of our namespace present in the stack config that no setting declares (typos)."""
    present = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.config.get_config_env())
    known = set(SCALAR_KEYS) | set(STRUCTURED_KEYS) | set(SECRET_KEYS) | referenced
    keys = [k.split(":", 1)[1] for k in present if k.startswith(f"{PROJECT}:")]
    return sorted(k for k in keys if k not in known)


def _is_secret(key: str) -> bool:
    return pulumi.runtime.is_config_secret(f"{PROJECT}:{key}")


SECRET_KEYS = ("astroAgentToken", "astroRegistryToken")
"""Secret keys declared in ``Pulumi.yaml`` (``pulumi config set --secret``)."""


def secret_keys_wanted(s: Settings) -> dict[str, str]:
    """Secret config keys (without the project prefix) the settings need, each with the setting that names it."""
    wanted: dict[str, str] = {}
    for i, conn in enumerate(s.connections):
        if conn.secret_source == "config" and isinstance(conn.secret_fields, dict):
            for field, key in conn.secret_fields.items():
                wanted[key] = f"connections[{i}].secretFields.{field}"
    if s.remote_execution is not None:
        wanted["astroAgentToken"] = "astroAgentToken"
        if s.remote_execution.create_image_pull_secret:
            wanted["astroRegistryToken"] = "astroRegistryToken"
    return wanted


def load_secret_inputs(s: Settings) -> dict[str, pulumi.Output[str]]:
    """Secret config values the program needs, by config key. Raises :class:`SettingsError`.

    Only presence and secret-ness are checked; values never leave an Output.
    """
    config = pulumi.Config()
    problems: list[Problem] = []
    values: dict[str, pulumi.Output[str]] = {}
    for key, setting in secret_keys_wanted(s).items():
        # the problem's value is the key's name, never its material; a setting that is the key itself
        # (astroAgentToken) is secret by name, and naming it as its value would blank the fix line out
        named = None if setting == key else key
        if not _is_secret(key):
            present = pulumi.runtime.get_config(f"{PROJECT}:{key}") is not None
            how = "is stored in plain text" if present else "is not set"
            problems.append(Problem(setting, named, f"config key {key!r} {how}; run: pulumi config set --secret {key} <value>"))
            continue
        value = config.get_secret(key)
        if value is None:
            problems.append(Problem(setting, named, f"run: pulumi config set --secret {key} <value>"))
            continue
        values[key] = value
    if problems:
        raise SettingsError(problems)
    return values
