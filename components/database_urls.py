"""Metadata connection URI and PgBouncer files for the official chart.

The chart reads the metadata URI from Secret key ``connection`` and mounts
``pgbouncer.ini`` / ``users.txt`` from the config Secret (``airflow-contracts.md``
section 9.3). When PgBouncer is on, Airflow talks to the chart's PgBouncer
Service (``<release>-pgbouncer.<namespace>:6543``, pool ``<release>-metadata``)
and PgBouncer talks TLS to the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

PGBOUNCER_PORT = 6543
"""``ports.pgbouncer`` of the chart."""
PGBOUNCER_CA_FILE = "/etc/pgbouncer/root.crt"
"""Where PgBouncer reads the database's CA bundle: key ``root.crt`` of the config Secret, mounted by
``pgbouncer.extraVolumeMounts`` (the chart's own ``pgbouncer.ssl.ca`` would put the PEM in the values)."""
PGBOUNCER_STATS_USER = "pgbouncer_stats"
"""Admin-console user of the metrics exporter; exists only in users.txt, not in PostgreSQL."""


def postgres_uri(*, user: str, password: str, host: str, port: int, database: str, sslmode: str) -> str:
    """SQLAlchemy/libpq URI with user and password percent-encoded."""
    return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{quote(database, safe='')}?sslmode={sslmode}"


def pgbouncer_pool_name(release_name: str) -> str:
    """Database name the chart's PgBouncer pool is known by."""
    return f"{release_name}-metadata"


def pgbouncer_service_host(release_name: str, namespace: str) -> str:
    """Host of the PgBouncer Service the chart creates."""
    return f"{release_name}-pgbouncer.{namespace}"


def metadata_uri(
    *,
    user: str,
    password: str,
    db_host: str,
    db_port: int,
    database: str,
    release_name: str,
    namespace: str,
    pgbouncer: bool,
) -> str:
    """Value of the metadata Secret's ``connection`` key."""
    if pgbouncer:
        return postgres_uri(
            user=user,
            password=password,
            host=pgbouncer_service_host(release_name, namespace),
            port=PGBOUNCER_PORT,
            database=pgbouncer_pool_name(release_name),
            sslmode="disable",
        )
    return postgres_uri(user=user, password=password, host=db_host, port=db_port, database=database, sslmode="require")


def pgbouncer_ini(
    *,
    pool_name: str,
    db_host: str,
    db_port: int,
    database: str,
    pool_size: int,
    max_client_conn: int,
    listen_port: int = PGBOUNCER_PORT,
    server_tls_sslmode: str = "require",
    server_tls_ca_file: str | None = None,
    auth_file: str = "/etc/pgbouncer/users.txt",
    listen_addr: str = "*",
) -> str:
    """``pgbouncer.ini`` whose single pool reaches the database over TLS with SCRAM auth.

    With ``server_tls_ca_file`` PgBouncer verifies the server's certificate against it (use ``verify-full``,
    which also checks that the certificate names ``db_host``).
    """
    if server_tls_sslmode not in ("require", "verify-ca", "verify-full"):
        raise ValueError(f"server_tls_sslmode must be require or stricter, got {server_tls_sslmode!r}")
    if server_tls_sslmode.startswith("verify") and not server_tls_ca_file:
        raise ValueError(f"server_tls_sslmode {server_tls_sslmode} needs server_tls_ca_file")
    return "\n".join(
        [
            "[databases]",
            f"{pool_name} = host={db_host} dbname={database} port={db_port} pool_size={pool_size}",
            "",
            "[pgbouncer]",
            "pool_mode = transaction",
            f"listen_port = {listen_port}",
            f"listen_addr = {listen_addr}",
            "auth_type = scram-sha-256",
            f"auth_file = {auth_file}",
            f"stats_users = {PGBOUNCER_STATS_USER}",
            "ignore_startup_parameters = extra_float_digits",
            f"max_client_conn = {max_client_conn}",
            "verbose = 0",
            "log_disconnections = 0",
            "log_connections = 0",
            f"server_tls_sslmode = {server_tls_sslmode}",
            *([f"server_tls_ca_file = {server_tls_ca_file}"] if server_tls_ca_file else []),
            "server_tls_ciphers = normal",
            "",
        ]
    )


def pgbouncer_users_txt(users: Mapping[str, str]) -> str:
    """``users.txt``: one ``"user" "password"`` line per user, quotes doubled."""
    lines = []
    for user, password in users.items():
        lines.append('"{}" "{}"'.format(user.replace('"', '""'), password.replace('"', '""')))
    return "\n".join(lines) + "\n"


def pgbouncer_stats_uri(*, password: str, port: int = PGBOUNCER_PORT) -> str:
    """``DATABASE_URL`` of the chart's PgBouncer metrics exporter (admin console on loopback)."""
    return postgres_uri(
        user=PGBOUNCER_STATS_USER,
        password=password,
        host="127.0.0.1",
        port=port,
        database="pgbouncer",
        sslmode="disable",
    )
