"""From the raw config mapping to a validated :class:`Settings` (pure: no Pulumi runtime needed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from components.settings.errors import Problem, SettingsError, problem_from_pydantic
from components.settings.model import SCALAR_KEYS, STRUCTURED_KEYS, Settings
from components.settings.rules import check_rules


def settings_from_config(raw: Mapping[str, Any], *, stack: str, aws_region: str | None = None) -> Settings:
    """Validate the project-namespace config mapping (keys without ``airflow-platform:``).

    ``aws_region`` is the AWS provider's ``aws:region``, which the AWS section shares.
    """
    unknown = sorted(set(raw) - set(SCALAR_KEYS) - set(STRUCTURED_KEYS))
    if unknown:
        raise SettingsError(
            [Problem(key, raw[key], f"unknown setting; known settings are {', '.join(SCALAR_KEYS + STRUCTURED_KEYS)}") for key in unknown]
        )
    data = {key: value for key, value in raw.items() if value is not None}
    if isinstance(data.get("aws"), dict):
        if "region" in data["aws"]:
            raise SettingsError(
                [Problem("aws.region", data["aws"]["region"], "set the region with aws:region (shared with the AWS provider)")]
            )
        if aws_region is None and data.get("cloud") == "aws":
            raise SettingsError([Problem("aws:region", None, "required: pulumi config set aws:region <region>")])
        data["aws"] = {**data["aws"], "region": aws_region}
    try:
        settings = Settings.model_validate({**data, "stack": stack})
    except ValidationError as error:
        raise SettingsError([problem_from_pydantic(e) for e in error.errors()]) from None
    problems = check_rules(settings)
    if problems:
        raise SettingsError(problems)
    return settings
