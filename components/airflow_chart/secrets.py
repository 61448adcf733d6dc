"""Kubernetes namespace and the Secrets the official chart reads.

Creates (all values Pulumi secrets, generated once and stable across updates):
the password of the least-privilege app role Airflow connects as (and its
SCRAM verifier, which only the database bootstrap Job receives), the metadata
connection (key ``connection``), PgBouncer's config
(``pgbouncer.ini``, ``users.txt``) and metrics-exporter stats secret, the API
secret key, the JWT secret, the Fernet key, the initial admin password and, for
CeleryExecutor, the broker URL (of the cloud's managed Redis, or of the chart's Redis with its password). Names come from
``values.secret_names`` so the values refer to them by name only.

Day 2: each generated key has a generation; bumping it makes a new value (the
Fernet key keeps the previous generation second, so data encrypted with it stays
readable). ``pod_checksums`` hashes what each group of pods reads, so the
release rolls exactly those pods when a Secret they read changes. The Namespace
is retained on delete (and protected with ``protect_keys``), since deleting it
would take the Secrets, Helm records and volumes with it.

Example::

    AirflowSecrets("airflow-secrets", AirflowSecretsArgs(
        namespace="airflow", release_name="airflow", names=secret_names(settings), database=db))
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import broker_urls, database_roles, database_urls, passwords
from components.airflow_chart.values import SecretNames
from components.platform import ExternalBroker, MetadataDatabase


def secrets_checksum(documents: Sequence[Mapping[str, str]]) -> str:
    """SHA-256 over the Secrets' keys and values: changes when any of them does, and reveals none of them
    (every value hashed here holds at least 128 random bits)."""
    return hashlib.sha256(json.dumps(list(documents), sort_keys=True).encode()).hexdigest()


def fernet_key_from_base64(standard_b64: str) -> str:
    """Turn 32 random bytes in standard base64 into a Fernet key (URL-safe base64)."""
    raw = base64.b64decode(standard_b64)
    if len(raw) != 32:
        raise ValueError(f"a Fernet key needs 32 bytes, got {len(raw)}")
    return base64.urlsafe_b64encode(raw).decode()


@dataclass(frozen=True, kw_only=True)
class AirflowSecretsArgs:
    namespace: str
    """Namespace of the Secrets (Airflow's namespace)."""
    create_namespace: bool = True
    """Create the namespace. False: it must exist."""
    release_name: str
    """Helm release name; locates the PgBouncer Service and pool and the Redis host in the URIs."""
    names: SecretNames
    """Names of the Secrets to create (``airflow_values.secret_names``); Redis ones only for CeleryExecutor."""
    database: MetadataDatabase
    """Metadata database the connection URI and PgBouncer config point at."""
    app_username: str
    """Least-privilege role Airflow and PgBouncer log in as (created by the bootstrap Job)."""
    database_password_generation: int = 1
    """Generation of the app role's generated password; bumping it rotates the password."""
    database_ca_bundle: str | None = None
    """PEM of the CAs of the database's certificate: PgBouncer then verifies it (``verify-full``, key
    ``root.crt`` of the config Secret). None: TLS without verification (``require``)."""
    pgbouncer_enabled: bool = True
    """Route the metadata connection through the chart's PgBouncer and create its config and stats Secrets."""
    pgbouncer_pool_size: int = 20
    """Server connections PgBouncer keeps to the metadata database."""
    pgbouncer_max_client_conn: int = 200
    """Client connections PgBouncer accepts at most."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels on the namespace and every Secret, besides ``managed-by`` and ``part-of``. Default: none."""
    fernet_key_generation: int = 1
    """Generation of the Fernet key; the Secret holds ``<this>,<previous>`` from generation 2 on."""
    jwt_secret_generation: int = 1
    """Generation of the JWT signing secret; bumping it makes a new one."""
    api_secret_key_generation: int = 1
    """Generation of the API secret key; bumping it makes a new one."""
    broker: ExternalBroker | None = None
    """The cloud's managed Redis: the broker-URL Secret points at it (verified TLS, its password). None: the
    chart's Redis (``names.redis_password``) or no Celery."""
    protect_keys: bool = True
    """Pulumi ``protect`` on the Namespace and the generated Fernet, JWT and API keys (losing the Fernet key
    loses every encrypted connection and variable)."""

    def __post_init__(self) -> None:
        if self.pgbouncer_enabled and (self.names.pgbouncer_config is None or self.names.pgbouncer_stats is None):
            raise ValueError("pgbouncer_enabled needs names.pgbouncer_config and names.pgbouncer_stats")
        if self.names.redis_password is not None and self.names.broker_url is None:
            raise ValueError("names.redis_password needs names.broker_url (the chart's Redis)")
        if self.names.broker_url is not None and (self.names.redis_password is None) == (self.broker is None):
            raise ValueError("names.broker_url needs exactly one of broker (managed Redis) or names.redis_password (the chart's)")
        if self.broker is not None and self.names.broker_url is None:
            raise ValueError("broker needs names.broker_url (CeleryExecutor)")
        if not database_roles.IDENTIFIER.match(self.app_username):
            raise ValueError(f"app_username must match {database_roles.IDENTIFIER.pattern}, got {self.app_username!r}")
        for key in ("fernet_key_generation", "jwt_secret_generation", "api_secret_key_generation", "database_password_generation"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1, got {getattr(self, key)}")


class AirflowSecrets(pulumi.ComponentResource):
    """Namespace plus every Kubernetes Secret the chart is pointed at."""

    TYPE = "dataplat:airflow:AirflowSecrets"

    namespace: pulumi.Output[str]
    """Namespace holding the Secrets (created here or existing)."""
    secret_names: pulumi.Output[dict[str, str]]
    """Purpose -> Kubernetes Secret name."""
    admin_password: pulumi.Output[str]
    """Initial ``admin`` password of the Airflow UI (secret)."""
    pod_checksums: pulumi.Output[dict[str, str]]
    """Pod group (``airflow``, ``pgbouncer``, ``redis``) -> checksum of the Secrets it reads (not secret)."""
    app_password_verifier: pulumi.Output[str]
    """SCRAM-SHA-256 verifier of the app role's password (secret), for the bootstrap Job."""

    def __init__(self, name: str, args: AirflowSecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, protect=args.protect_keys)
        labels = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "airflow", **args.labels}

        if args.create_namespace:
            namespace = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata={"name": args.namespace, "labels": labels},
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect_keys, retain_on_delete=True),
            )
            namespace_name = namespace.metadata.apply(lambda m: m.name)
        else:
            namespace_name = pulumi.Output.from_input(args.namespace)

        contents: dict[str, pulumi.Output[dict[str, str]]] = {}

        def secret(key: str, secret_name: str, data: Mapping[str, pulumi.Input[str]]) -> k8s.core.v1.Secret:
            contents[key] = pulumi.Output.all(**data)
            return k8s.core.v1.Secret(
                f"{name}-{key}",
                metadata={"name": secret_name, "namespace": namespace_name, "labels": labels},
                type="Opaque",
                string_data={k: pulumi.Output.secret(v) for k, v in data.items()},
                opts=child,
            )

        db = args.database
        app_password = passwords.database_admin_password(f"{name}-app-db", self, args.database_password_generation)
        app_salt = random.RandomBytes(
            f"{name}-app-db-password-salt", length=16, keepers=passwords.generation_keepers(args.database_password_generation), opts=child
        )
        verifier = pulumi.Output.all(app_password.result, app_salt.base64).apply(
            lambda v: database_roles.scram_verifier(v[0], base64.b64decode(v[1]))
        )
        metadata = pulumi.Output.all(args.app_username, app_password.result, db.host, db.port, db.database_name).apply(
            lambda v: database_urls.metadata_uri(
                user=v[0],
                password=v[1],
                db_host=v[2],
                db_port=int(v[3]),
                database=v[4],
                release_name=args.release_name,
                namespace=args.namespace,
                pgbouncer=args.pgbouncer_enabled,
            )
        )
        names = args.names
        secret("metadata", names.metadata, {"connection": metadata})
        created = {"metadata": names.metadata}

        if args.pgbouncer_enabled:
            assert names.pgbouncer_config is not None and names.pgbouncer_stats is not None
            stats_password = random.RandomPassword(
                f"{name}-pgbouncer-stats-password",
                length=32,
                special=True,
                override_special=passwords.SAFE_SPECIALS,
                opts=child,
            )
            ini = pulumi.Output.all(db.host, db.port, db.database_name).apply(
                lambda v: database_urls.pgbouncer_ini(
                    pool_name=database_urls.pgbouncer_pool_name(args.release_name),
                    db_host=v[0],
                    db_port=int(v[1]),
                    database=v[2],
                    pool_size=args.pgbouncer_pool_size,
                    max_client_conn=args.pgbouncer_max_client_conn,
                    server_tls_sslmode="verify-full" if args.database_ca_bundle else "require",
                    server_tls_ca_file=database_urls.PGBOUNCER_CA_FILE if args.database_ca_bundle else None,
                )
            )
            users = pulumi.Output.all(args.app_username, app_password.result, stats_password.result).apply(
                lambda v: database_urls.pgbouncer_users_txt({v[0]: v[1], database_urls.PGBOUNCER_STATS_USER: v[2]})
            )
            config: dict[str, pulumi.Input[str]] = {"pgbouncer.ini": ini, "users.txt": users}
            if args.database_ca_bundle:
                config["root.crt"] = args.database_ca_bundle
            secret("pgbouncer-config", names.pgbouncer_config, config)
            secret(
                "pgbouncer-stats",
                names.pgbouncer_stats,
                {
                    "connection": stats_password.result.apply(lambda p: database_urls.pgbouncer_stats_uri(password=p)),
                },
            )
            created |= {"pgbouncer_config": names.pgbouncer_config, "pgbouncer_stats": names.pgbouncer_stats}

        api_key = random.RandomBytes(
            f"{name}-api-secret-key", length=32, keepers=passwords.generation_keepers(args.api_secret_key_generation), opts=kept
        )
        jwt = random.RandomPassword(
            f"{name}-jwt-secret", length=64, special=False, keepers=passwords.generation_keepers(args.jwt_secret_generation), opts=kept
        )
        # One key per generation, named by it (the first keeps the original name): bumping the generation adds a
        # key and keeps the previous one, so Airflow can still decrypt what the previous key encrypted.
        generations = [g for g in (args.fernet_key_generation, args.fernet_key_generation - 1) if g >= 1]
        fernet_keys = [
            random.RandomBytes(f"{name}-fernet-key" if g == 1 else f"{name}-fernet-key-{g}", length=32, opts=kept) for g in generations
        ]
        admin = random.RandomPassword(
            f"{name}-admin-password",
            length=32,
            special=True,
            override_special=passwords.SAFE_SPECIALS,
            min_upper=1,
            min_lower=1,
            min_numeric=1,
            opts=child,
        )
        secret("api-secret-key", names.api_secret_key, {"api-secret-key": api_key.hex})
        secret("jwt-secret", names.jwt, {"jwt-secret": jwt.result})
        fernet_value = pulumi.Output.all(*[k.base64 for k in fernet_keys]).apply(lambda keys: ",".join(map(fernet_key_from_base64, keys)))
        secret("fernet-key", names.fernet, {"fernet-key": fernet_value})
        secret("admin-password", names.admin_password, {"password": admin.result})
        created |= {
            "api_secret_key": names.api_secret_key,
            "jwt": names.jwt,
            "fernet": names.fernet,
            "admin_password": names.admin_password,
        }

        if args.broker is not None and names.broker_url is not None:
            broker = args.broker
            url = pulumi.Output.all(broker.host, broker.port, broker.password).apply(
                lambda v: broker_urls.managed_redis_url(host=v[0], port=int(v[1]), password=v[2])
            )
            secret("broker-url", names.broker_url, {"connection": url})
            created |= {"broker_url": names.broker_url}
        elif names.redis_password is not None and names.broker_url is not None:
            redis = random.RandomPassword(f"{name}-redis-password", length=32, special=False, opts=child)
            secret("redis-password", names.redis_password, {"password": redis.result})
            secret(
                "broker-url",
                names.broker_url,
                {
                    "connection": redis.result.apply(lambda p: f"redis://:{quote(p, safe='')}@{args.release_name}-redis:6379/0"),
                },
            )
            created |= {"redis_password": names.redis_password, "broker_url": names.broker_url}

        groups = {
            "airflow": ["metadata", "api-secret-key", "jwt-secret", "fernet-key", "broker-url"],
            "pgbouncer": ["pgbouncer-config", "pgbouncer-stats"],
            "redis": ["redis-password"],
        }
        checksums = {
            group: pulumi.Output.all(*[contents[k] for k in keys if k in contents]).apply(secrets_checksum)
            for group, keys in groups.items()
            if any(k in contents for k in keys)
        }

        self.namespace = namespace_name
        self.secret_names = pulumi.Output.from_input(created)
        self.admin_password = pulumi.Output.secret(admin.result)
        self.pod_checksums = pulumi.Output.unsecret(pulumi.Output.all(**checksums))
        self.app_password_verifier = pulumi.Output.secret(verifier)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "secret_names": self.secret_names,
                "admin_password": self.admin_password,
                "pod_checksums": self.pod_checksums,
                "app_password_verifier": self.app_password_verifier,
            }
        )
