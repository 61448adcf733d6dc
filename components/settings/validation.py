"""From the raw config mapping to a validated :class:`Settings` (pure: no Pulumi runtime needed)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pydantic import ValidationError

from components.settings import broker_rules, pod_rules, ssh_bundles
from components.settings.errors import Problem, SettingsError, is_secret_name, problem_from_pydantic, setting_path, string_leaves
from components.settings.model import SCALAR_KEYS, STRUCTURED_KEYS, Settings
from components.settings.rules import check_rules, plaintext_secret


def settings_from_config(
    raw: Mapping[str, Any],
    *,
    stack: str,
    aws_region: str | None = None,
    secret_keys: Collection[str] = (),
) -> Settings:
    """Validate the project-namespace config mapping (keys without ``airflow-platform:``).

    ``aws_region`` is the AWS provider's ``aws:region``, which the AWS section shares.
    ``secret_keys`` are the keys set with ``pulumi config set --secret``: no error shows their values.
    """
    secret_values = [s for key in secret_keys if key in raw for s in string_leaves(raw[key])]

    def fail(problems: list[Problem]) -> SettingsError:
        for problem in problems:
            if problem.setting.split(".")[0].split("[")[0] in secret_keys:
                problem.secret = True
        return SettingsError(problems, secret_values=secret_values)

    unknown = sorted(set(raw) - set(SCALAR_KEYS) - set(STRUCTURED_KEYS))
    if unknown:
        known = ", ".join(SCALAR_KEYS + STRUCTURED_KEYS)
        raise fail([Problem(key, raw[key], f"unknown setting; known settings are {known}") for key in unknown])
    data = {key: value for key, value in raw.items() if value is not None}
    if isinstance(data.get("aws"), dict):
        if "region" in data["aws"]:
            raise fail([Problem("aws.region", data["aws"]["region"], "set the region with aws:region (shared with the AWS provider)")])
        if aws_region is None and data.get("cloud") == "aws":
            raise fail([Problem("aws:region", None, "required: pulumi config set aws:region <region>")])
        data["aws"] = {**data["aws"], "region": aws_region}
    try:
        settings = Settings.model_validate({**data, "stack": stack})
    except ValidationError as error:
        raise fail([_problem(e) for e in error.errors()]) from None
    problems = check_rules(settings)
    broker_rules.check_broker(settings, problems.append)
    problems += pod_rules.check(settings, budget=not problems)
    problems += ssh_bundles.check(settings)
    if problems:
        raise fail(problems)
    return settings


def _problem(error: Mapping[str, Any]) -> Problem:
    """A pydantic error as a Problem; a secret written directly on a connection gets the ``--secret`` fix."""
    loc = error["loc"]
    if error["type"] == "extra_forbidden" and len(loc) == 3 and loc[0] == "connections" and is_secret_name(str(loc[2])):
        field = "password" if loc[2] == "password" else f"extra.{loc[2]}"
        return plaintext_secret(setting_path(loc), field, error.get("input"))
    return problem_from_pydantic(error)
