"""AWS Secrets Manager entries for Airflow connections.

Creates, per connection, a secret named exactly as ``SecretsManagerBackend``
looks it up (``<connections_prefix>/<conn_id>``) and a version holding the
connection document. Externally managed connections get a placeholder once;
later changes to their value are ignored so the team's own value stays.

Example::

    SecretsManagerConnections("connections", SecretsManagerConnectionsArgs(
        connections_prefix="airflow/payments-prod/connections", region="eu-west-1",
        connections=[ConnectionSecret(conn_id="git_dags", value=doc)]))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import naming
from components.platform import ConnectionSecret


@dataclass(frozen=True, kw_only=True)
class SecretsManagerConnectionsArgs:
    connections: Sequence[ConnectionSecret]
    """Connection documents to store, one secret each; conn_ids must be unique."""
    connections_prefix: str
    """Prefix the backend is configured with (no trailing ``/``)."""
    kms_key_arn: str | None = None
    """Customer-managed key. Default: ``aws/secretsmanager``."""
    recovery_window_days: int = 30
    """Days a deleted secret stays recoverable (7-30)."""
    protect: bool = True
    """Pulumi ``protect`` on every secret."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every secret, which also gets ``airflow-conn-id``. Default: none."""

    def __post_init__(self) -> None:
        ids = [c.conn_id for c in self.connections]
        if len(set(ids)) != len(ids):
            raise ValueError(f"conn_ids must be unique, got {ids}")
        for conn_id in ids:
            name = naming.secrets_manager_secret_name(self.connections_prefix, conn_id)
            if not naming.SECRETS_MANAGER_NAME.match(name):
                raise ValueError(f"secret name {name!r} is not a valid Secrets Manager name")
        if not 7 <= self.recovery_window_days <= 30:
            raise ValueError(f"recovery_window_days must be 7-30, got {self.recovery_window_days}")


class SecretsManagerConnections(pulumi.ComponentResource):
    """One Secrets Manager secret per Airflow connection."""

    TYPE = "dataplat:secrets:SecretsManagerConnections"

    secret_names: pulumi.Output[dict[str, str]]
    """conn_id -> secret name."""
    secret_arns: pulumi.Output[dict[str, str]]
    """conn_id -> secret ARN."""

    def __init__(self, name: str, args: SecretsManagerConnectionsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        names: dict[str, str] = {}
        arns: dict[str, pulumi.Output[str]] = {}
        for conn in args.connections:
            secret_name = naming.secrets_manager_secret_name(args.connections_prefix, conn.conn_id)
            secret = aws.secretsmanager.Secret(
                f"{name}-{conn.conn_id}",
                name=secret_name,
                description=f"Airflow connection {conn.conn_id}" + (" (value managed out-of-band)" if conn.externally_managed else ""),
                kms_key_id=args.kms_key_arn,
                recovery_window_in_days=args.recovery_window_days,
                tags={**args.tags, "airflow-conn-id": conn.conn_id},
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            aws.secretsmanager.SecretVersion(
                f"{name}-{conn.conn_id}-value",
                secret_id=secret.id,
                secret_string=pulumi.Output.secret(conn.value),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    ignore_changes=["secretString"] if conn.externally_managed else None,
                ),
            )
            names[conn.conn_id] = secret_name
            arns[conn.conn_id] = secret.arn
        self.secret_names = pulumi.Output.from_input(names)
        self.secret_arns = pulumi.Output.all(**arns) if arns else pulumi.Output.from_input({})
        self.register_outputs({"secret_names": self.secret_names, "secret_arns": self.secret_arns})
