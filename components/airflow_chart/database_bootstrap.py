"""One-shot Job that creates Airflow's least-privilege database role, run as the server administrator.

Creates, in Airflow's namespace: a ServiceAccount (bound to the Job's own cloud
identity when the administrator password is fetched at run time), a ConfigMap
with the SQL (:func:`components.database_roles.bootstrap_sql`) and the
database's CA bundle, a Secret with the app role's SCRAM verifier (and, only when
the cloud hands the password over instead of letting the Job fetch it, the
administrator password), and the ``batch/v1`` Job. In fetch mode (AWS: the
RDS-managed master secret; Azure: the admin Key Vault) an init container reads the
password with the Job's own workload identity into an in-memory ``emptyDir``, so
no Kubernetes object holds it. The Airflow release depends on this component, so the role exists and owns
the database before ``airflow db migrate`` runs.

The administrator credential reaches only this Job's pod: no Airflow pod mounts
its Secret or runs under its service account. The SQL is idempotent, so the Job
may run any number of times. It is replaced (deleted, then created, so it runs
again) whenever its spec changes: the pod template carries a checksum of the SQL,
the verifier, the administrator access and the CA, so a password rotation or a
new image re-runs it. A finished Job is deleted by Kubernetes after
``ttl_seconds_after_finished``; a later ``pulumi refresh`` then re-creates it,
which only runs the SQL again.

Example::

    DatabaseBootstrap("db-bootstrap", DatabaseBootstrapArgs(
        namespace="airflow", release_name="airflow", database=db, app_username="airflow_app",
        app_password_verifier=secrets.app_password_verifier, admin=cloud.database_admin))
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import database_roles, naming
from components.platform import DatabaseAdminAccess, MetadataDatabase

CONFIG_DIR = "/etc/db-bootstrap"
SECRET_DIR = "/etc/db-bootstrap-secret"
WORK_DIR = "/run/db-bootstrap"
CHECKSUM_ANNOTATION = "checksum/db-bootstrap"
POSTGRES_UID = 70
"""``postgres`` user of the Alpine postgres images."""
FETCH_OUTPUTS = {
    "secret-json": (database_roles.ADMIN_SECRET_JSON_FILE_ENV, "admin-secret.json"),
    "password": (database_roles.ADMIN_PASSWORD_FILE_ENV, "admin-password"),
}
"""``DatabaseAdminAccess.fetch_output`` -> (variable naming the file, file name on the in-memory volume)."""


@dataclass(frozen=True, kw_only=True)
class DatabaseBootstrapArgs:
    namespace: pulumi.Input[str]
    """Airflow's namespace; the Job, its ServiceAccount, ConfigMap and Secret are created in it."""
    release_name: str
    """Helm release name; the objects are named ``<release>-db-bootstrap``."""
    database: MetadataDatabase
    """Server and database the role is created on (host, port, database name, administrator login)."""
    app_username: str
    """Role Airflow connects as; it gets the database."""
    app_password_verifier: pulumi.Input[str]
    """SCRAM-SHA-256 verifier of the app role's password (secret)."""
    admin: DatabaseAdminAccess
    """How the Job gets the administrator password (a Secret, or an init container with its own identity)."""
    ca_bundle: str | None = None
    """PEM of the database's CAs: ``psql`` verifies the server (``verify-full``). None: ``require``."""
    image: str = "postgres:17.6-alpine"
    """Image with ``psql`` 15 or newer and a POSIX shell, pinned by tag."""
    ttl_seconds_after_finished: int = 3600
    """Seconds Kubernetes keeps the finished Job (and its logs)."""
    active_deadline_seconds: int = 600
    """Seconds after which a Job still running is stopped."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels on every object. Default: none."""

    def __post_init__(self) -> None:
        if not database_roles.IDENTIFIER.match(self.app_username):
            raise ValueError(f"app_username must match {database_roles.IDENTIFIER.pattern}, got {self.app_username!r}")
        if self.ttl_seconds_after_finished < 0:
            raise ValueError(f"ttl_seconds_after_finished must be >= 0, got {self.ttl_seconds_after_finished}")
        if not 60 <= self.active_deadline_seconds <= 3600:
            raise ValueError(f"active_deadline_seconds must be 60-3600, got {self.active_deadline_seconds}")


def _checksum(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def _restricted(read_only: bool = True) -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only,
        "capabilities": {"drop": ["ALL"]},
    }


class DatabaseBootstrap(pulumi.ComponentResource):
    """ServiceAccount, ConfigMap, Secret and Job that create the app role."""

    TYPE = "dataplat:airflow:DatabaseBootstrap"

    job_name: pulumi.Output[str]
    """Name of the Job (``<release>-db-bootstrap``)."""
    service_account_name: pulumi.Output[str]
    """Service account the Job runs as (the subject its cloud identity trusts)."""

    def __init__(self, name: str, args: DatabaseBootstrapArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        object_name = naming.database_bootstrap_name(args.release_name)
        labels = {
            "app.kubernetes.io/managed-by": "pulumi",
            "app.kubernetes.io/part-of": "airflow",
            "app.kubernetes.io/component": "db-bootstrap",
            **args.labels,
        }
        admin = args.admin
        db = args.database

        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={
                "name": object_name,
                "namespace": args.namespace,
                "labels": labels,
                "annotations": admin.service_account_annotations,
            },
            automount_service_account_token=False,
            opts=child,
        )
        files: dict[str, pulumi.Input[str]] = {
            "bootstrap.sql": db.database_name.apply(lambda d: database_roles.bootstrap_sql(app_role=args.app_username, database=d))
        }
        if args.ca_bundle:
            files["ca.pem"] = args.ca_bundle
        config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata={"name": object_name, "namespace": args.namespace, "labels": labels},
            data=files,
            opts=child,
        )
        secret_data: dict[str, pulumi.Input[str]] = {"app-password-verifier": pulumi.Output.secret(args.app_password_verifier)}
        if admin.password is not None:
            secret_data["admin-password"] = pulumi.Output.secret(admin.password)
        secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata={"name": object_name, "namespace": args.namespace, "labels": labels},
            type="Opaque",
            string_data=secret_data,
            opts=child,
        )

        checksum = pulumi.Output.unsecret(
            pulumi.Output.all(
                verifier=args.app_password_verifier,
                admin_password=admin.password if admin.password is not None else "",
                fetch_env=admin.fetch_env,
                host=db.host,
                port=db.port,
                database=db.database_name,
                admin_user=db.admin_username,
            ).apply(
                lambda v: _checksum(
                    {
                        **v,
                        "sql": database_roles.bootstrap_sql(app_role=args.app_username, database=v["database"]),
                        "ca": args.ca_bundle or "",
                        "fetch": [admin.fetch_image or "", admin.fetch_output, *admin.fetch_command],
                    }
                )
            )
        )

        volumes: list[dict[str, Any]] = [
            {"name": "config", "configMap": {"name": config.metadata.name}},
            {"name": "secret", "secret": {"secretName": secret.metadata.name, "defaultMode": 0o440}},
            {"name": "work", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
        ]
        env: list[dict[str, Any]] = [
            {"name": "PGHOST", "value": db.host},
            {"name": "PGPORT", "value": db.port.apply(str)},
            {"name": "PGDATABASE", "value": db.database_name},
            {"name": "PGUSER", "value": db.admin_username},
            {"name": "PGSSLMODE", "value": "verify-full" if args.ca_bundle else "require"},
            {"name": "PGCONNECT_TIMEOUT", "value": "10"},
            {"name": "PGAPPNAME", "value": "airflow-db-bootstrap"},
            {
                "name": database_roles.VERIFIER_ENV,
                "valueFrom": {"secretKeyRef": {"name": secret.metadata.name, "key": "app-password-verifier"}},
            },
        ]
        if args.ca_bundle:
            env.append({"name": "PGSSLROOTCERT", "value": f"{CONFIG_DIR}/ca.pem"})
        init_containers: list[dict[str, Any]] = []
        if admin.password is not None:
            env.append({"name": database_roles.ADMIN_PASSWORD_FILE_ENV, "value": f"{SECRET_DIR}/admin-password"})
        else:
            file_env, file_name = FETCH_OUTPUTS[admin.fetch_output]
            secret_file = f"{WORK_DIR}/{file_name}"
            env.append({"name": file_env, "value": secret_file})
            fetch_env = pulumi.Output.from_input(admin.fetch_env).apply(
                lambda e: (
                    [{"name": k, "value": v} for k, v in sorted(e.items())]
                    + [{"name": file_env, "value": secret_file}, {"name": "HOME", "value": "/tmp"}]
                )
            )
            init_containers.append(
                {
                    "name": naming.DATABASE_BOOTSTRAP_FETCH_CONTAINER,
                    "image": admin.fetch_image,
                    "command": list(admin.fetch_command),
                    "env": fetch_env,
                    "volumeMounts": [{"name": "work", "mountPath": WORK_DIR}, {"name": "tmp", "mountPath": "/tmp"}],
                    "securityContext": _restricted(),
                    "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                }
            )

        job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata={"name": object_name, "namespace": args.namespace, "labels": labels},
            spec={
                "backoffLimit": 4,
                "activeDeadlineSeconds": args.active_deadline_seconds,
                "ttlSecondsAfterFinished": args.ttl_seconds_after_finished,
                "template": {
                    "metadata": {
                        "labels": {**labels, **admin.pod_labels},
                        "annotations": {**admin.pod_annotations, CHECKSUM_ANNOTATION: checksum},
                    },
                    "spec": {
                        "restartPolicy": "Never",
                        "serviceAccountName": account.metadata.name,
                        "automountServiceAccountToken": False,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": POSTGRES_UID,
                            "runAsGroup": POSTGRES_UID,
                            "fsGroup": POSTGRES_UID,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "initContainers": init_containers,
                        "containers": [
                            {
                                "name": naming.DATABASE_BOOTSTRAP_CONTAINER,
                                "image": args.image,
                                "command": ["sh", "-c", database_roles.JOB_SCRIPT, "db-bootstrap", f"{CONFIG_DIR}/bootstrap.sql"],
                                "env": env,
                                "volumeMounts": [
                                    {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                                    {"name": "secret", "mountPath": SECRET_DIR, "readOnly": True},
                                    {"name": "work", "mountPath": WORK_DIR, "readOnly": True},
                                    {"name": "tmp", "mountPath": "/tmp"},
                                ],
                                "securityContext": _restricted(),
                                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                            }
                        ],
                        "volumes": volumes,
                    },
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[account, config, secret],
                replace_on_changes=["spec"],
                delete_before_replace=True,
                custom_timeouts=pulumi.CustomTimeouts(create="10m", update="10m"),
            ),
        )

        self.job_name = job.metadata.apply(lambda m: m.name)
        self.service_account_name = account.metadata.apply(lambda m: m.name)
        self.register_outputs({"job_name": self.job_name, "service_account_name": self.service_account_name})
