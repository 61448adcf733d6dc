"""Wire the components of one stack: cloud part first, then the Airflow part.

``build_platform`` is what ``__main__.py`` calls after the settings are
validated. The cloud builders (:mod:`components.aws_platform`,
:mod:`components.azure_platform`) return a :class:`CloudPlatform`; everything
after that is cloud-agnostic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components import connections
from components.airflow_release import AirflowRelease, AirflowReleaseArgs
from components.airflow_secrets import AirflowSecrets, AirflowSecretsArgs
from components.airflow_values import secret_names
from components.platform import BackendRefs, ConnectionSecret, IdentityRefs, MetadataDatabase
from components.settings import Settings


@dataclass(frozen=True, kw_only=True)
class CloudPlatform:
    """What a cloud implementation hands to the Airflow components."""

    backend: BackendRefs
    identity: IdentityRefs
    database: MetadataDatabase | None
    """None in remote-execution mode (Astro hosts the metadata database)."""
    resources: list[pulumi.Resource]
    """Components the Airflow pods depend on (backend entries, identity)."""
    outputs: dict[str, Any] = field(default_factory=dict)


def tags(settings: Settings) -> dict[str, str]:
    """Tags/labels put on every cloud resource."""
    return {"team": settings.team, "environment": settings.environment, "stack": settings.stack, "managed-by": "pulumi"}


def connection_secrets(
    settings: Settings,
    secret_inputs: Mapping[str, pulumi.Output[str]],
) -> list[ConnectionSecret]:
    """The declared connections as serialized documents (Pulumi secrets)."""
    result = []
    for spec in settings.connections:
        if spec.secret_source == "config" and isinstance(spec.secret_fields, dict):
            fields = {field: secret_inputs[key] for field, key in spec.secret_fields.items()}
            value = pulumi.Output.all(**fields).apply(
                lambda values, spec=spec: connections.serialize(connections.connection_document(spec, values))
            )
        else:
            value = pulumi.Output.from_input(connections.serialize(connections.connection_document(spec, {})))
        result.append(
            ConnectionSecret(
                conn_id=spec.conn_id,
                value=pulumi.Output.secret(value),
                externally_managed=spec.secret_source == "external",
            )
        )
    return result


def build_platform(settings: Settings, secret_inputs: Mapping[str, pulumi.Output[str]]) -> dict[str, Any]:
    """Create every resource of the stack; returns the stack outputs."""
    if settings.cloud == "aws":
        from components.aws_platform import build_aws

        cloud = build_aws(settings, connection_secrets(settings, secret_inputs))
    else:
        from components.azure_platform import build_azure

        cloud = build_azure(settings, connection_secrets(settings, secret_inputs))

    outputs: dict[str, Any] = {
        "cloud": settings.cloud,
        "deployment_mode": settings.deployment_mode,
        "namespace": settings.namespace,
        "secrets_backend_class": cloud.backend.backend_class,
        "connection_secret_names": {c: settings.secret_name(c) for c in settings.all_conn_ids()},
        **cloud.outputs,
    }
    if settings.self_hosted:
        assert cloud.database is not None
        outputs |= _self_hosted(settings, cloud)
    else:
        from components.agent_platform import build_agent

        outputs |= build_agent(settings, cloud, secret_inputs)
    return outputs


def _self_hosted(settings: Settings, cloud: CloudPlatform) -> dict[str, Any]:
    names = secret_names(settings)
    db = settings.database
    k8s_secrets = AirflowSecrets(
        "airflow-secrets",
        AirflowSecretsArgs(
            namespace=settings.namespace,
            create_namespace=settings.create_namespace,
            release_name=settings.release_name,
            names=names,
            database=cloud.database,
            pgbouncer_enabled=settings.pgbouncer_enabled,
            pgbouncer_pool_size=db.pgbouncer_pool_size,
            pgbouncer_max_client_conn=db.pgbouncer_max_client_conn,
            labels={"team": settings.team},
        ),
    )
    release = AirflowRelease(
        "airflow",
        AirflowReleaseArgs(
            settings=settings,
            namespace=k8s_secrets.namespace,
            secrets=names,
            backend=cloud.backend,
            identity=cloud.identity,
            depends_on=[k8s_secrets, *cloud.resources],
        ),
    )
    return {
        "release_name": release.release_name,
        "chart_version": release.chart_version,
        "kubernetes_secret_names": k8s_secrets.secret_names,
        "admin_password": k8s_secrets.admin_password,
        "database_endpoint": pulumi.Output.concat(cloud.database.host, ":", cloud.database.port.apply(str)),
    }
