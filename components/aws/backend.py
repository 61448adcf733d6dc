"""Airflow's Secrets Manager backend class and its ``backend_kwargs`` (``airflow-contracts.md`` section 2.1)."""

from __future__ import annotations

from typing import Any

SECRETS_MANAGER_BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"


def secrets_manager_kwargs(*, connections_prefix: str, variables_prefix: str, region: str) -> dict[str, Any]:
    """Kwargs for ``SecretsManagerBackend`` under IRSA.

    No ``role_arn``: the EKS webhook's web-identity token already is the role;
    passing it would chain an ``AssumeRole`` from the role to itself. Variables
    and config lookups are off (``null``) unless a variables prefix is set.
    """
    return {
        "connections_prefix": connections_prefix,
        "variables_prefix": variables_prefix or None,
        "config_prefix": None,
        "region_name": region,
    }
