"""Values for the official ``apache-airflow`` chart, built by one pure function.

``build_values(settings, refs)`` creates no resources: it receives the names
and identifiers other components produced (``ReleaseRefs``, plain strings) and
returns the dict handed to the Helm release. Secrets are referenced by
Kubernetes Secret name only. The result is validated against the chart's own
``values.schema.json`` in the tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components import naming
from components.airflow_chart.exposure import metrics_env, metrics_values, ui_values
from components.airflow_chart.hardening import CONTAINER_SECURITY, PODS_KEY, TMP_VOLUME, pod_values
from components.dag_bundles import dag_bundle_config
from components.database_urls import PGBOUNCER_CA_FILE
from components.settings.model import Settings
from components.settings.overlay import deep_merge, merge_overlay
from components.ssh_known_hosts import MOUNT, config_map_name, known_hosts_content, volume

CHART_NAME = "airflow"
CHART_VERSION = "1.20.0"
CHART_REPOSITORY = "https://airflow.apache.org"

ADMIN_PASSWORD_ENV = "AIRFLOW_ADMIN_PASSWORD"
JOB_TTL_SECONDS = 300
"""Seconds Kubernetes keeps a finished migration or create-user Job (the chart's default, pinned): see :func:`build_values`."""
PULL_POLICY = "Always"
"""Every image: the kubelet checks the pull credentials of each pod (a cached private image is not
reused by a pod that may not pull it) and resolves the tag anew; layers stay cached, so a pod start
costs one manifest request (one per task pod under KubernetesExecutor)."""
CHECKSUM_ANNOTATION = "checksum/airflow-platform-secrets"
"""Pod annotation holding the checksum of the program's Secrets a pod reads: a rotation rolls those pods (the
chart's own ``checksum/*`` annotations only see Secrets the chart renders itself)."""


@dataclass(frozen=True, kw_only=True)
class SecretNames:
    """Names of the Kubernetes Secrets the chart reads (all created by ``AirflowSecrets``)."""

    metadata: str
    api_secret_key: str
    jwt: str
    fernet: str
    admin_password: str
    pgbouncer_config: str | None = None
    pgbouncer_stats: str | None = None
    redis_password: str | None = None
    broker_url: str | None = None


def secret_names(settings: Settings) -> SecretNames:
    """The Secret names for this stack: distinct from every name the chart would create itself."""
    base = settings.release_name
    celery = settings.executor == "CeleryExecutor"
    return SecretNames(
        metadata=f"{base}-metadata-connection",
        api_secret_key=f"{base}-api-secret-key-static",
        jwt=f"{base}-jwt-secret-static",
        fernet=f"{base}-fernet-key-static",
        admin_password=f"{base}-admin-password",
        pgbouncer_config=f"{base}-pgbouncer-config-external" if settings.pgbouncer_enabled else None,
        pgbouncer_stats=f"{base}-pgbouncer-stats-external" if settings.pgbouncer_enabled else None,
        redis_password=f"{base}-redis-password-static" if celery and settings.broker.mode == "chart" else None,
        broker_url=f"{base}-broker-url-static" if celery else None,
    )


@dataclass(frozen=True, kw_only=True)
class ReleaseRefs:
    """What the cloud components hand the release: all plain, non-secret values."""

    secrets: SecretNames
    backend_class: str
    backend_kwargs: Mapping[str, Any]
    service_account_annotations: Mapping[str, str]
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    pod_checksums: Mapping[str, str] = field(default_factory=dict)
    """Pod group (``airflow``, ``pgbouncer``, ``redis``) -> checksum of the Secrets it reads (not secret)."""
    verify_database_certificate: bool = False
    """The PgBouncer config Secret holds ``root.crt`` (the database's CAs): mount it for ``verify-full``."""
    internal_load_balancer_annotations: Mapping[str, str] = field(default_factory=dict)
    """Service annotations that make the cloud's load balancer internal (from the cloud side)."""


def airflow_cfg_escape(value: Any) -> Any:
    """Double ``%`` in every string: values the chart writes into ``airflow.cfg`` go through ConfigParser interpolation."""
    if isinstance(value, str):
        if "{{" in value:
            raise ValueError(f"airflow.cfg values pass through Helm tpl; '{{{{' is not allowed: {value!r}")
        return value.replace("%", "%%")
    if isinstance(value, Mapping):
        return {k: airflow_cfg_escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [airflow_cfg_escape(v) for v in value]
    return value


def airflow_cfg_string(value: Mapping[str, Any]) -> str:
    """JSON for an ``airflow.cfg`` value: one line, escaped with :func:`airflow_cfg_escape`."""
    return airflow_cfg_escape(json.dumps(value, sort_keys=True))


BUILT_IN_SECRET_ENV_OFF = ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW_CONN_AIRFLOW_DB")
"""Chart-injected variables switched off for every pod (``enableBuiltInSecretEnvVars`` is global in chart 1.20.0):
the components that need the database or the Fernet key get them back through their own ``env``, so the
KubernetesExecutor pod template (task pods) carries neither. ``AIRFLOW_CONN_AIRFLOW_DB`` (the metadata database
as connection ``airflow_db``) is given to nobody."""


def secret_env(names: SecretNames, *, database: bool, fernet: bool) -> list[dict[str, Any]]:
    """``env`` entries (``secretKeyRef``) with the metadata URI and/or the Fernet key, for one component."""
    env: list[dict[str, Any]] = []
    if database:
        env.append(
            {"name": "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "valueFrom": {"secretKeyRef": {"name": names.metadata, "key": "connection"}}}
        )
    if fernet:
        env.append({"name": "AIRFLOW__CORE__FERNET_KEY", "valueFrom": {"secretKeyRef": {"name": names.fernet, "key": "fernet-key"}}})
    return env


BROKER_URL_ENV = "AIRFLOW__CELERY__BROKER_URL"


def broker_env(names: SecretNames) -> dict[str, Any]:
    """``env`` entry with the Celery broker URL from our Secret (CeleryExecutor: scheduler and workers only; the
    chart's built-in variable, which every Airflow pod would get, is off)."""
    return {"name": BROKER_URL_ENV, "valueFrom": {"secretKeyRef": {"name": names.broker_url, "key": "connection"}}}


MIGRATIONS_WAIT_TIMEOUT_SECONDS = 60
"""``images.migrationsWaitTimeout`` of the chart (its default)."""
AIRFLOW_CFG_PATH = "/opt/airflow/airflow.cfg"
"""Where the chart mounts ``airflow.cfg`` (``airflowHome`` ``/opt/airflow``) from the pod volume ``config``."""


def wait_for_migrations_container(s: Settings, names: SecretNames, resources: Mapping[str, Any]) -> dict[str, Any]:
    """The chart's ``wait-for-airflow-migrations`` init container (``airflow db check-migrations``), with the
    metadata URI from the Secret: components that need the database get it even though the chart's built-in
    variable is off. Hardened like the chart's own containers (``hardening.py``): the component's resources,
    the container security context, the image by digest when one is set."""
    image = f"{s.image_repository}@{s.image_digest}" if s.image_digest else f"{s.image_repository}:{s.image_tag}"
    return {
        "name": "wait-for-airflow-migrations",
        "image": image,
        "imagePullPolicy": PULL_POLICY,
        "resources": dict(resources),
        "securityContext": CONTAINER_SECURITY,
        "args": ["airflow", "db", "check-migrations", f"--migration-wait-timeout={MIGRATIONS_WAIT_TIMEOUT_SECONDS}"],
        "env": [{"name": "AIRFLOW_HOME", "value": "/opt/airflow"}, *secret_env(names, database=True, fernet=False)],
        "volumeMounts": [
            {"name": "config", "mountPath": AIRFLOW_CFG_PATH, "subPath": "airflow.cfg", "readOnly": True},
            {"name": TMP_VOLUME, "mountPath": "/tmp"},  # the pod's emptyDir (hardening.py): the root file system is read-only
        ],
    }


def build_values(settings: Settings, refs: ReleaseRefs) -> dict[str, Any]:
    """Helm values for the official chart pinned at :data:`CHART_VERSION`.

    Install order. The release is ``atomic`` and waits; Helm runs
    ``post-install``/``post-upgrade`` hooks only after that wait, and the
    api-server, scheduler, dag-processor and triggerer wait for the migrations in
    an init container. So the migration and create-user Jobs are not hooks
    (``useHelmHooks: false``, with ``applyCustomEnv: false``: the four values the
    chart's docs require for installs with ``--wait``, docs/index.rst "Installing
    the Helm Chart with Argo CD, Flux, Rancher or Terraform"). Both Jobs start with
    the rest of the release: the migrations run while the init containers wait,
    and create-user fails and is restarted by its Job (``restartPolicy:
    OnFailure``, six back-off retries, about ten minutes) until the tables exist.
    ``applyCustomEnv: false`` keeps the top-level ``env``/``secret``/``extraEnv``
    out of the Jobs' pod templates. The admin password still reaches
    create-user only through ``createUserJob.env``, a ``secretKeyRef``.

    Upgrades. A Job's pod template is immutable, and the chart gives the Jobs
    the same names in every revision (``<release>-run-airflow-migrations``,
    ``<release>-create-user``). Helm patches a regular resource that exists and
    creates one that is missing. ``ttlSecondsAfterFinished``
    (:data:`JOB_TTL_SECONDS`) lets Kubernetes delete a finished Job. The next
    upgrade then creates the Job again, so the migrations of a new image run
    while the new pods wait for them. An upgrade that changes a Job's pod
    template (a new image) within that time after the previous Job finished is
    refused by the API server ("field is immutable") and rolled back by
    ``atomic``. Run it again once the Job has gone, or delete the Job. Other
    upgrades leave the finished Job's template unchanged. ``jobAnnotations``
    stay empty: Helm has no annotation that replaces a single resource, and the
    hook annotations are what this avoids.

    Secrets per pod. The chart would hand the metadata URI and the Fernet key to
    every pod, task pods included (:data:`BUILT_IN_SECRET_ENV_OFF`). Here only the
    scheduler, API server, DAG processor and triggerer get both, their
    wait-for-migrations init containers, the migration Job and (Celery only, for
    the result backend) the workers get the URI, create-user and the cleanup
    CronJob get the URI. KubernetesExecutor task pods get neither: in Airflow 3 a
    task talks to the API server (Task SDK, ``AIRFLOW__CORE__EXECUTION_API_SERVER_URL``).
    """
    s = settings
    names = refs.secrets
    prod = s.environment == "prod"
    accounts = naming.chart_service_accounts(s.release_name, s.executor)

    def component(key: str, *, database: bool = True, fernet: bool = True, **extra: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            "serviceAccount": {
                "create": True,
                "name": accounts[key],
                "annotations": dict(refs.service_account_annotations),
            },
            **extra,
        }
        env = secret_env(names, database=database, fernet=fernet)
        if env:
            values["env"] = env
        if database:
            # the chart's wait-for-migrations init container takes only plain-value env (schema), so it is
            # replaced by the same container with the URI from the Secret
            values["waitForMigrations"] = {"enabled": False}
            values["extraInitContainers"] = [wait_for_migrations_container(s, names, s.pods.resources(PODS_KEY[key]).values())]
        if refs.pod_labels:
            values["labels"] = dict(refs.pod_labels)
        values |= rolled_by("airflow")
        return values

    def rolled_by(group: str) -> dict[str, Any]:
        checksum = refs.pod_checksums.get(group)
        return {"podAnnotations": {CHECKSUM_ANNOTATION: checksum}} if checksum else {}

    values: dict[str, Any] = {
        "airflowVersion": s.airflow_version,
        "defaultAirflowRepository": s.image_repository,
        "defaultAirflowTag": s.image_tag,
        "images": {"airflow": {"repository": s.image_repository, "tag": s.image_tag, "pullPolicy": PULL_POLICY}},
        "executor": s.executor,
        "postgresql": {"enabled": False},
        "data": {"metadataSecretName": names.metadata},
        "fernetKeySecretName": names.fernet,
        "enableBuiltInSecretEnvVars": {name: False for name in BUILT_IN_SECRET_ENV_OFF},
        "apiSecretKeySecretName": names.api_secret_key,
        "jwtSecretName": names.jwt,
        "databaseCleanup": {
            "enabled": True,
            "retentionDays": s.database_cleanup_retention_days,
            "env": secret_env(names, database=True, fernet=False),
        },
        "dags": {"gitSync": {"enabled": False}, "persistence": {"enabled": False}},
        "config": {
            "core": {"load_examples": "False"},
            "api": {"expose_config": "False"},
            "secrets": {
                "backend": refs.backend_class,
                "backend_kwargs": airflow_cfg_string(refs.backend_kwargs),
            },
        },
        "migrateDatabaseJob": {
            "useHelmHooks": False,
            "applyCustomEnv": False,
            "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
            # the only job env the schema lets take a fieldRef (metrics_env); the others skip custom env
            "env": secret_env(names, database=True, fernet=True) + metrics_env(s),
        },
        "createUserJob": {
            "useHelmHooks": False,
            "applyCustomEnv": False,
            "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
            "env": [
                *secret_env(names, database=True, fernet=False),
                {
                    "name": ADMIN_PASSWORD_ENV,
                    "valueFrom": {"secretKeyRef": {"name": names.admin_password, "key": "password"}},
                },
            ],
            "args": [
                "bash",
                "-c",
                f'exec airflow users create "$@" --password "${ADMIN_PASSWORD_ENV}"',
                "--",
                "--role",
                "Admin",
                "--username",
                "admin",
                "--email",
                f"airflow-admin@{s.team}.invalid",
                "--firstname",
                "Airflow",
                "--lastname",
                "Admin",
            ],
        },
        "scheduler": component(
            "scheduler",
            replicas=s.scheduler_replicas,
            podDisruptionBudget={"enabled": prod and s.scheduler_replicas > 1},
        ),
        "apiServer": component(
            "apiServer",
            replicas=s.api_server_replicas,
            podDisruptionBudget={"enabled": prod and s.api_server_replicas > 1},
        ),
        "dagProcessor": component(
            "dagProcessor",
            # the chart toJson's this list into airflow.cfg, so it is escaped like any airflow.cfg value
            dagBundleConfigList=[airflow_cfg_escape(dag_bundle_config(b)) for b in s.dag_bundles],
        ),
        "triggerer": component("triggerer", replicas=s.triggerer_replicas),
    }

    if s.external_scheduler:
        values["scheduler"]["enabled"] = False  # Production Guide "External Scheduler"
    if s.external_api_server:
        values["apiServer"]["enabled"] = False  # Production Guide "External API Server"

    if "workers" in accounts:
        # Celery workers keep the URI (the Celery result backend defaults to the metadata database); task pods
        # of the KubernetesExecutor (whose pod template takes ``workers.env``) get neither.
        workers = component("workers", database=s.executor == "CeleryExecutor", fernet=False)
        if s.executor == "KubernetesExecutor":
            workers["safeToEvict"] = False  # production guide: task pods must not be evicted mid-run
        values["workers"] = workers

    if s.executor == "CeleryExecutor":
        # the broker URL only from our Secret (the managed Redis, rediss:// with verified TLS, or the chart's
        # Redis), and only to the pods that talk to the broker: the scheduler queues, the workers consume
        values["data"]["brokerUrlSecretName"] = names.broker_url
        values["enableBuiltInSecretEnvVars"][BROKER_URL_ENV] = False
        for key in ("scheduler", "workers"):
            values[key]["env"] = [*values[key].get("env", []), broker_env(names)]
    if names.redis_password is not None:
        values["redis"] = {"enabled": True, "passwordSecretName": names.redis_password, **rolled_by("redis")}
    else:
        values["redis"] = {"enabled": False}

    if s.image_digest:
        values["defaultAirflowDigest"] = s.image_digest
        values["images"]["airflow"]["digest"] = s.image_digest
        # the chart builds the task pods' image as <repository>:<tag> (no digest field): a tag@digest
        # reference pins it all the same (the runtime pulls by the digest)
        values["images"]["pod_template"] = {"repository": s.image_repository, "tag": f"{s.image_tag}@{s.image_digest}"}

    if s.pgbouncer_enabled:
        budget = s.connection_budget()
        values["pgbouncer"] = {
            "enabled": True,
            "replicas": budget.pgbouncer_replicas,
            "configSecretName": names.pgbouncer_config,
            "auth_type": "scram-sha-256",
            "sslmode": "verify-full" if refs.verify_database_certificate else "require",
            # informational: the program writes pgbouncer.ini itself (configSecretName) with these figures
            "maxClientConn": budget.max_client_conn,
            "metadataPoolSize": budget.metadata_pool_size,
            "resultBackendPoolSize": max(budget.result_backend_pool_size, 1),
            "podDisruptionBudget": {"enabled": prod},
            "metricsExporterSidecar": {"statsSecretName": names.pgbouncer_stats},
            **rolled_by("pgbouncer"),
        }
        if refs.verify_database_certificate:
            # root.crt of our config Secret, next to pgbouncer.ini (the chart mounts that Secret as volume
            # "pgbouncer-config"); the chart's own pgbouncer.ssl.ca would carry the PEM in the values.
            values["pgbouncer"]["extraVolumeMounts"] = [
                {"name": "pgbouncer-config", "subPath": "root.crt", "mountPath": PGBOUNCER_CA_FILE, "readOnly": True}
            ]
    else:
        values["pgbouncer"] = {"enabled": False}

    values = deep_merge(values, ui_values(s, refs.internal_load_balancer_annotations))
    values = deep_merge(values, metrics_values(s))
    hardened = pod_values(s)
    values = deep_merge(hardened, values)
    if s.pgbouncer_enabled:
        # lists replace in a deep merge: keep the hardening's /tmp mount next to the CA mount
        values["pgbouncer"]["extraVolumeMounts"] = [
            *hardened["pgbouncer"]["extraVolumeMounts"],
            *(m for m in values["pgbouncer"].get("extraVolumeMounts", []) if m not in hardened["pgbouncer"]["extraVolumeMounts"]),
        ]
    known_hosts = known_hosts_content(s)
    if known_hosts is not None:
        # every Airflow container and the task pod template get the global volumes (lists replace in a merge: append)
        values["volumes"] = [*values.get("volumes", []), volume(config_map_name(s.release_name, known_hosts))]
        values["volumeMounts"] = [*values.get("volumeMounts", []), MOUNT]
    if s.airflow_config:
        values["config"] = deep_merge(values["config"], airflow_cfg_escape(s.airflow_config))
    return merge_overlay(values, s.helm_values)
