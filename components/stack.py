"""Wire the components of one stack: the cloud part first, then the Airflow part.

``build_platform`` is what ``__main__.py`` calls after the settings are
validated. The cloud is chosen in :data:`CLOUD_BUILDERS`; each cloud's
``platform.build`` returns a :class:`~components.platform.CloudPlatform`, and
everything after that is cloud-agnostic. This is the top of the import graph:
nothing in ``components/`` imports it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import pulumi

from components import connections
from components.airflow_chart.platform import build_self_hosted
from components.platform import ConnectionSecret
from components.remote_execution.platform import build_agent
from components.settings.model import Settings
from components.settings.ssh_bundles import ssh_conn_ids

CLOUD_BUILDERS: Mapping[str, str] = {
    "aws": "components.aws.platform",
    "azure": "components.azure.platform",
}
"""Cloud name -> module whose ``build(settings, connections)`` creates the cloud part. A new cloud is
one folder under ``components/`` and one line here (imported lazily: a stack loads only its cloud's SDK)."""


def connection_secrets(
    settings: Settings,
    secret_inputs: Mapping[str, pulumi.Output[str]],
) -> list[ConnectionSecret]:
    """The declared connections as serialized documents (Pulumi secrets)."""
    result = []
    ssh = ssh_conn_ids(settings)
    for spec in settings.connections:
        over_ssh = spec.conn_id in ssh
        if spec.secret_source == "config" and isinstance(spec.secret_fields, dict):
            fields = {field: secret_inputs[key] for field, key in spec.secret_fields.items()}
            value = pulumi.Output.all(**fields).apply(
                lambda values, spec=spec, over_ssh=over_ssh: connections.serialize(
                    connections.connection_document(spec, values, ssh=over_ssh)
                )
            )
        else:
            value = pulumi.Output.from_input(connections.serialize(connections.connection_document(spec, {}, ssh=over_ssh)))
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
    cloud_module = importlib.import_module(CLOUD_BUILDERS[settings.cloud])
    cloud = cloud_module.build(settings, connection_secrets(settings, secret_inputs))

    outputs: dict[str, Any] = {
        "cloud": settings.cloud,
        "deployment_mode": settings.deployment_mode,
        "namespace": settings.namespace,
        "secrets_backend_class": cloud.backend.backend_class,
        "connection_secret_names": {c: settings.secret_name(c) for c in settings.all_conn_ids()},
        **cloud.outputs,
    }
    if settings.self_hosted:
        outputs |= build_self_hosted(settings, cloud)
    else:
        outputs |= build_agent(settings, cloud, secret_inputs)
    return outputs
