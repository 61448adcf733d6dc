"""Self-hosted: the Kubernetes Secrets and the official chart release, fed by the cloud part."""

from __future__ import annotations

from typing import Any

import pulumi

from components.airflow_chart.database_bootstrap import DatabaseBootstrap, DatabaseBootstrapArgs
from components.airflow_chart.release import AirflowRelease, AirflowReleaseArgs
from components.airflow_chart.secrets import AirflowSecrets, AirflowSecretsArgs
from components.airflow_chart.task_egress import TaskEgressPolicy, TaskEgressPolicyArgs
from components.airflow_chart.values import secret_names
from components.platform import CloudPlatform
from components.settings.model import Settings


def build_self_hosted(settings: Settings, cloud: CloudPlatform) -> dict[str, Any]:
    """Create the Secrets and the release; returns their stack outputs."""
    assert cloud.database is not None
    names = secret_names(settings)
    db = settings.database
    budget = settings.connection_budget()
    k8s_secrets = AirflowSecrets(
        "airflow-secrets",
        AirflowSecretsArgs(
            namespace=settings.namespace,
            create_namespace=settings.create_namespace,
            release_name=settings.release_name,
            names=names,
            database=cloud.database,
            app_username=db.app_username,
            database_password_generation=settings.database_password_generation,
            database_ca_bundle=cloud.database_ca_bundle,
            pgbouncer_enabled=settings.pgbouncer_enabled,
            pgbouncer_pool_size=max(budget.metadata_pool_size + budget.result_backend_pool_size, 1),
            pgbouncer_max_client_conn=max(budget.max_client_conn, 10),
            labels={"team": settings.team},
            fernet_key_generation=settings.fernet_key_generation,
            jwt_secret_generation=settings.jwt_secret_generation,
            api_secret_key_generation=settings.api_secret_key_generation,
            broker=cloud.broker,
            protect_keys=settings.protect_stateful,
        ),
    )
    assert cloud.database_admin is not None
    bootstrap = DatabaseBootstrap(
        "db-bootstrap",
        DatabaseBootstrapArgs(
            namespace=k8s_secrets.namespace,
            release_name=settings.release_name,
            database=cloud.database,
            app_username=db.app_username,
            app_password_verifier=k8s_secrets.app_password_verifier,
            admin=cloud.database_admin,
            ca_bundle=cloud.database_ca_bundle,
            image=db.bootstrap_image,
            labels={"team": settings.team},
        ),
        opts=pulumi.ResourceOptions(depends_on=cloud.resources),
    )
    egress: list[pulumi.Resource] = []
    if settings.executor == "KubernetesExecutor":
        egress.append(
            TaskEgressPolicy(
                "task-egress",
                TaskEgressPolicyArgs(
                    namespace=k8s_secrets.namespace,
                    release_name=settings.release_name,
                    executor=settings.executor,
                    labels={"team": settings.team},
                ),
            )
        )
    release = AirflowRelease(
        "airflow",
        AirflowReleaseArgs(
            settings=settings,
            namespace=k8s_secrets.namespace,
            secrets=names,
            backend=cloud.backend,
            identity=cloud.identity,
            pod_checksums=k8s_secrets.pod_checksums,
            verify_database_certificate=cloud.database_ca_bundle is not None,
            internal_load_balancer_annotations=cloud.internal_load_balancer_annotations,
            depends_on=[k8s_secrets, bootstrap, *egress, *cloud.resources],
        ),
    )
    outputs: dict[str, Any] = {}
    if cloud.broker is not None:
        outputs["broker_endpoint"] = pulumi.Output.concat(cloud.broker.host, ":", cloud.broker.port.apply(str))
        outputs["broker_trust"] = cloud.broker.trust
    if names.broker_url is not None:
        # where an external scheduler reads the broker URL (key "connection"); the URL itself is no output
        outputs["broker_url_secret"] = k8s_secrets.namespace.apply(lambda ns: f"{ns}/{names.broker_url}")
    return outputs | {
        "release_name": release.release_name,
        "chart_version": release.chart_version,
        "kubernetes_secret_names": k8s_secrets.secret_names,
        "admin_password": k8s_secrets.admin_password,
        "database_endpoint": pulumi.Output.concat(cloud.database.host, ":", cloud.database.port.apply(str)),
        "connection_budget": budget.output(),
    }
