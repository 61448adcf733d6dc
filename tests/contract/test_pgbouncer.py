"""Contract: a real PostgreSQL and a real PgBouncer accept what the program renders.

The ``payments-prod`` stack is rendered under mocks. Its ``pgbouncer.ini`` and
``users.txt`` (the config Secret the chart mounts at ``/etc/pgbouncer``) are
handed to the Debian ``pgbouncer`` binary with only the environment-specific
values rewritten (database host/port, listen address/port, auth_file path, plus
the socket/log/pid paths a process outside a container needs). Behind it runs a
throw-away PostgreSQL cluster that stores SCRAM verifiers and accepts TCP only
over TLS (``hostssl ... scram-sha-256``), so a working pool proves
``server_tls_sslmode`` and the SCRAM credentials in ``users.txt`` are right.
Clients then use the rendered metadata URI (password percent-encoded) through
psycopg2 and SQLAlchemy, the way Airflow does, and the metrics exporter's stats
URI against the admin console. Last, each tested Airflow (``airflow_env``) runs
what the chart's migration job and its wait-for-migrations init containers run,
``airflow db migrate`` and ``airflow db check-migrations``, plus ``airflow db
check``, with that URI through PgBouncer, on an empty database each.
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import ipaddress
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg2
import pytest
import sqlalchemy
from psycopg2 import sql
from sqlalchemy.pool import NullPool

from tests.conftest import missing_tool, render, require_binary, stack_file
from tests.contract.conftest import AirflowEnv
from tests.contract.probes.probe_support import base_env, run_airflow_cli, with_bytecode_cache
from tools.render import mask

SECRET = "kubernetes:core/v1:Secret"
METADATA_SECRET = "airflow-secrets-metadata"
CONFIG_SECRET = "airflow-secrets-pgbouncer-config"
STATS_SECRET = "airflow-secrets-pgbouncer-stats"
CHART_PGBOUNCER_PORT = 6543
"""``ports.pgbouncer`` of the chart: the Service port and the exporter's loopback port."""
CHART_AUTH_FILE = "/etc/pgbouncer/users.txt"
"""Where the chart mounts ``users.txt`` of ``pgbouncer.configSecretName``."""
URI_DELIMITERS = set(":/?#[]@%")
"""Characters that break a URI's userinfo unless percent-encoded."""
START_TIMEOUT_S = 20.0
MIGRATE_TIMEOUT_S = 600
CONNECT_TIMEOUT_S = 5
SUPERUSER = "postgres"


# --------------------------------------------------------------------------- rendered files


@dataclass(frozen=True)
class RenderedFiles:
    metadata_uri: str
    stats_uri: str
    ini: str
    users_txt: str
    secret_names: dict[str, str]
    """Pulumi resource name -> Kubernetes Secret name."""
    helm_values: dict


def _parse_users_txt(text: str) -> dict[str, str]:
    users: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        match = re.fullmatch(r'"((?:[^"]|"")*)" "((?:[^"]|"")*)"', line)
        assert match, f'users.txt line is not \'"user" "password"\': {line.split(" ")[0]} ...'
        users[match[1].replace('""', '"')] = match[2].replace('""', '"')
    return users


def _ini_sections(ini: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in ini.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith((";", "#")):
            continue
        header = re.fullmatch(r"\[(\w+)\]", stripped)
        if header:
            current = sections.setdefault(header[1], {})
            continue
        assert current is not None, f"ini line outside a section: {line!r}"
        key, sep, value = stripped.partition("=")
        assert sep, f"ini line without '=': {line!r}"
        current[key.strip()] = value.strip()
    return sections


def _connstr(value: str) -> dict[str, str]:
    """``host=a dbname=b port=5`` (the rendered entry has no quoted values)."""
    return dict(part.split("=", 1) for part in value.split())


def _userinfo(uri: str) -> tuple[str, str]:
    """Raw (still percent-encoded) user and password of a URI."""
    userinfo = urlsplit(uri).netloc.rpartition("@")[0]
    user, sep, password = userinfo.partition(":")
    assert sep, "URI carries no password"
    return user, password


def _with_netloc(uri: str, *, host: str | None = None, port: int) -> str:
    """Replace host and/or port of ``uri``; userinfo, path and query stay byte-for-byte."""
    parts = urlsplit(uri)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    old_host = hostport.rpartition(":")[0] or hostport
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host or old_host}:{port}"))


@pytest.fixture(scope="module")
def files() -> RenderedFiles:
    rendered = render(stack_file("payments-prod"))
    secrets = {r.name: r for r in rendered.by_type(SECRET)}
    missing = {METADATA_SECRET, CONFIG_SECRET, STATS_SECRET} - secrets.keys()
    assert not missing, f"secrets {sorted(missing)} not registered; have {sorted(secrets)}"

    def data(name: str) -> dict[str, str]:
        return mask(secrets[name].inputs["stringData"], show_secrets=True)

    config = data(CONFIG_SECRET)
    (values,) = rendered.helm_values(show_secrets=False)
    return RenderedFiles(
        metadata_uri=data(METADATA_SECRET)["connection"],
        stats_uri=data(STATS_SECRET)["connection"],
        ini=config["pgbouncer.ini"],
        users_txt=config["users.txt"],
        secret_names={n: secrets[n].inputs["metadata"]["name"] for n in (METADATA_SECRET, CONFIG_SECRET, STATS_SECRET)},
        helm_values=values,
    )


def _pool(files: RenderedFiles) -> tuple[str, dict[str, str]]:
    databases = _ini_sections(files.ini)["databases"]
    assert len(databases) == 1, f"expected one pool, got {sorted(databases)}"
    ((name, entry),) = databases.items()
    return name, _connstr(entry)


def _admin(files: RenderedFiles) -> tuple[str, str]:
    """The metadata user and its password, as users.txt has them."""
    user = unquote(_userinfo(files.metadata_uri)[0])
    users = _parse_users_txt(files.users_txt)
    assert user in users, f"metadata user {user!r} has no users.txt line; users: {sorted(users)}"
    return user, users[user]


def assert_production_settings(files: RenderedFiles) -> None:
    """What must survive into the real PgBouncer unchanged."""
    sections = _ini_sections(files.ini)
    assert set(sections) == {"databases", "pgbouncer"}, sorted(sections)
    bouncer = sections["pgbouncer"]
    assert bouncer.get("auth_type") == "scram-sha-256"
    assert bouncer.get("pool_mode") == "transaction"
    assert bouncer.get("server_tls_sslmode") == "require"
    assert bouncer.get("listen_port") == str(CHART_PGBOUNCER_PORT)
    assert bouncer.get("auth_file") == CHART_AUTH_FILE
    assert "extra_float_digits" in [p.strip() for p in bouncer.get("ignore_startup_parameters", "").split(",")]
    stats_user = unquote(_userinfo(files.stats_uri)[0])
    assert bouncer.get("stats_users") == stats_user
    assert stats_user in _parse_users_txt(files.users_txt), "stats user has no users.txt line"

    pool, entry = _pool(files)
    assert {"host", "dbname", "port"} <= entry.keys(), entry
    meta = urlsplit(files.metadata_uri)
    assert unquote(meta.path.lstrip("/")) == pool, "metadata URI must name the PgBouncer pool"
    assert meta.port == CHART_PGBOUNCER_PORT
    stats = urlsplit(files.stats_uri)
    assert (stats.hostname, stats.port, stats.path) == ("127.0.0.1", CHART_PGBOUNCER_PORT, "/pgbouncer")
    _admin(files)


def rewrite_ini(ini: str, *, db_host: str, db_port: int, listen_port: int, auth_file: Path, run_dir: Path) -> str:
    """The rendered ini with only the environment-specific values replaced."""
    out: list[str] = []
    section = None
    done: dict[str, int] = {"db_host": 0, "db_port": 0, "listen_addr": 0, "listen_port": 0, "auth_file": 0}
    for line in ini.splitlines():
        header = re.fullmatch(r"\s*\[(\w+)\]\s*", line)
        if header:
            section = header[1]
            out.append(line)
            if section == "pgbouncer":
                out += [f"unix_socket_dir = {run_dir}", f"logfile = {run_dir / 'pgbouncer.log'}", f"pidfile = {run_dir / 'pgbouncer.pid'}"]
            continue
        if section == "databases" and "=" in line:
            line, n = re.subn(r"(?<=\shost=)\S+", db_host, line)
            done["db_host"] += n
            line, n = re.subn(r"(?<=\sport=)\d+", str(db_port), line)
            done["db_port"] += n
        elif section == "pgbouncer":
            for key, value in (("listen_addr", "127.0.0.1"), ("listen_port", str(listen_port)), ("auth_file", str(auth_file))):
                line, n = re.subn(rf"^(\s*{key}\s*=\s*).*$", rf"\g<1>{value}", line)
                done[key] += n
        out.append(line)
    assert all(n == 1 for n in done.values()), f"each rewrite must apply exactly once: {done}"
    return "\n".join(out) + "\n"


def test_should_wire_the_tested_secrets_into_the_chart_values(files: RenderedFiles):
    values = files.helm_values
    assert values["pgbouncer"]["enabled"] is True
    assert values["data"]["metadataSecretName"] == files.secret_names[METADATA_SECRET]
    assert values["pgbouncer"]["configSecretName"] == files.secret_names[CONFIG_SECRET]
    assert values["pgbouncer"]["metricsExporterSidecar"]["statsSecretName"] == files.secret_names[STATS_SECRET]


def test_should_render_pgbouncer_files_with_production_settings(files: RenderedFiles):
    assert_production_settings(files)


def test_should_percent_encode_a_password_that_needs_it(files: RenderedFiles):
    user, password = _admin(files)
    raw_user, raw_password = _userinfo(files.metadata_uri)
    assert unquote(raw_user) == user
    decoded = unquote(raw_password)
    assert decoded == password, "URI password differs from the users.txt password"
    assert URI_DELIMITERS & set(decoded), "mocked password has no character that needs URL encoding"
    assert raw_password == quote(decoded, safe=""), "password is not (fully) percent-encoded"
    assert re.fullmatch(r"(?:[A-Za-z0-9._~-]|%[0-9A-F]{2})+", raw_password)
    stats_raw = _userinfo(files.stats_uri)[1]
    assert stats_raw == quote(unquote(stats_raw), safe="")


def test_should_rewrite_only_environment_values(files: RenderedFiles, tmp_path: Path):
    rewritten = rewrite_ini(files.ini, db_host="127.0.0.1", db_port=1, listen_port=2, auth_file=tmp_path / "u", run_dir=tmp_path)
    before, after = _ini_sections(files.ini), _ini_sections(rewritten)
    pool, entry = _pool(files)
    assert _connstr(after["databases"][pool]) == {**entry, "host": "127.0.0.1", "port": "1"}
    changed = {k for k in before["pgbouncer"] if before["pgbouncer"][k] != after["pgbouncer"][k]}
    assert changed == {"listen_addr", "listen_port", "auth_file"}
    assert set(after["pgbouncer"]) - set(before["pgbouncer"]) == {"unix_socket_dir", "logfile", "pidfile"}


# --------------------------------------------------------------------------- real servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    crt, pem = directory / "server.crt", directory / "server.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    pem.chmod(0o600)
    return crt, pem


def _postgres_bindir() -> Path:
    """Newest Debian server binaries (``/usr/local/bin/postgres`` may be something else entirely)."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    found = sorted((b for b in found if (b / "postgres").is_file()), key=lambda b: int(b.parent.name))
    if not found:
        missing_tool("PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    return found[-1]


@dataclass
class Servers:
    run_dir: Path
    pg_port: int
    bouncer_port: int
    processes: list[tuple[str, subprocess.Popen, Path, int]] = field(default_factory=list)

    def log(self, name: str, lines: int = 40) -> str:
        path = self.run_dir / name
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- {name} (last {lines} lines)\n" + "\n".join(text.splitlines()[-lines:])

    def logs(self) -> str:
        return "\n".join(self.log(n) for n in ("postgres.stderr", "pgbouncer.log", "pgbouncer.stderr"))

    def superuser(self):
        conn = psycopg2.connect(
            host=str(self.run_dir), port=self.pg_port, user=SUPERUSER, dbname="postgres", connect_timeout=CONNECT_TIMEOUT_S
        )
        conn.autocommit = True
        return conn


def _start(servers: Servers, name: str, argv: list[str], pidfile: Path, stop_signal: int) -> subprocess.Popen:
    with open(servers.run_dir / f"{name}.stderr", "ab") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT, start_new_session=True)
    servers.processes.append((name, proc, pidfile, stop_signal))
    return proc


def _wait(servers: Servers, proc: subprocess.Popen, what: str, ready) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode} while starting\n{servers.logs()}")
        try:
            if ready():
                return
        except (OSError, psycopg2.OperationalError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not ready after {START_TIMEOUT_S}s\n{servers.logs()}")
        time.sleep(0.1)


def _server_pid(proc: subprocess.Popen, pidfile: Path) -> int:
    """The server's own pid: under runuser, ``proc`` is runuser, which waits 2 s after forwarding a signal."""
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return proc.pid
    try:
        return pid if os.getpgid(pid) == proc.pid else proc.pid  # only a process of the group we started
    except ProcessLookupError:
        return proc.pid


def _stop(servers: Servers) -> None:
    for _name, proc, pidfile, sig in reversed(servers.processes):
        if proc.poll() is not None:
            continue
        with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
            os.kill(_server_pid(proc, pidfile), sig)
            proc.wait(timeout=10)
        if proc.poll() is None:  # still up: the whole group (runuser and its server), hard
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def _tcp_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


@dataclass
class ServiceUser:
    """How the servers run: as the OS user ``postgres`` when the tests run as root (both servers refuse root)."""

    argv: list[str]
    """Prefix of every server command (``runuser -u postgres --`` as root, nothing otherwise)."""
    owner: pwd.struct_passwd | None

    def hand_over(self, path: Path) -> None:
        """Give ``path`` and everything below it to the service user."""
        if self.owner is not None:
            for p in [path, *path.rglob("*")]:
                os.chown(p, self.owner.pw_uid, self.owner.pw_gid)


def service_user() -> ServiceUser:
    if os.geteuid() != 0:
        return ServiceUser(argv=[], owner=None)
    argv = [require_binary("runuser", "/usr/sbin/runuser"), "-u", SUPERUSER, "--"]
    try:
        return ServiceUser(argv=argv, owner=pwd.getpwnam(SUPERUSER))
    except KeyError:
        missing_tool("OS user 'postgres' (created by the postgresql package)")
        raise


def start_postgres(servers: Servers, service: ServiceUser, *, crt: Path, key: Path, listen: tuple[str, ...] = ("127.0.0.1",)) -> None:
    """initdb in ``run_dir/data``, TCP only over TLS with SCRAM on the ``listen`` addresses, start and wait."""
    run_dir = servers.run_dir
    data = run_dir / "data"
    service.hand_over(run_dir)
    initdb = subprocess.run(
        [
            *service.argv,
            str(_postgres_bindir() / "initdb"),
            *("-D", str(data), "-U", SUPERUSER, "--no-sync", "--no-locale", "-E", "UTF8", "--auth-local=trust", "--auth-host=reject"),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert initdb.returncode == 0, initdb.stdout + initdb.stderr
    settings = {
        "listen_addresses": f"'{','.join(listen)}'",
        "port": str(servers.pg_port),
        "unix_socket_directories": f"'{run_dir}'",
        "password_encryption": "'scram-sha-256'",
        "ssl": "on",
        "ssl_cert_file": f"'{crt}'",
        "ssl_key_file": f"'{key}'",
        "fsync": "off",
    }
    with open(data / "postgresql.conf", "a") as conf:
        conf.write("\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
    hosts = "".join(f"hostssl all all {a}/{32 if ipaddress.ip_address(a).version == 4 else 128} scram-sha-256\n" for a in listen)
    (data / "pg_hba.conf").write_text("local all all trust\n" + hosts)  # TCP only over TLS: PgBouncer must speak TLS
    service.hand_over(run_dir)
    postgres = _start(
        servers, "postgres", [*service.argv, str(_postgres_bindir() / "postgres"), "-D", str(data)], data / "postmaster.pid", signal.SIGINT
    )  # fast shutdown
    _wait(servers, postgres, "PostgreSQL", lambda: servers.superuser().close() is None)


def start_pgbouncer(servers: Servers, service: ServiceUser, ini: Path, *, name: str, port: int) -> None:
    """Run PgBouncer with ``ini`` (its pidfile next to it) and wait until it listens on ``port``."""
    pgbouncer = require_binary("pgbouncer", "/usr/sbin/pgbouncer")
    service.hand_over(servers.run_dir)
    bouncer = _start(servers, name, [*service.argv, pgbouncer, str(ini)], ini.parent / "pgbouncer.pid", signal.SIGTERM)
    _wait(servers, bouncer, name, lambda: _tcp_open(port))


def start_rendered_pgbouncer(servers: Servers, service: ServiceUser, *, ini: str, users_txt: str) -> None:
    """Run PgBouncer on ``servers.bouncer_port`` with the program's ini and users.txt, pointed at the local PostgreSQL
    (:func:`rewrite_ini` replaces only the environment-specific values); both files go in ``servers.run_dir``."""
    auth_file = servers.run_dir / "users.txt"
    auth_file.write_text(users_txt)
    auth_file.chmod(0o600)
    ini_file = servers.run_dir / "pgbouncer.ini"
    ini_file.write_text(
        rewrite_ini(
            ini,
            db_host="127.0.0.1",
            db_port=servers.pg_port,
            listen_port=servers.bouncer_port,
            auth_file=auth_file,
            run_dir=servers.run_dir,
        )
    )
    start_pgbouncer(servers, service, ini_file, name="pgbouncer", port=servers.bouncer_port)


@pytest.fixture(scope="module")
def servers(files: RenderedFiles) -> Iterator[Servers]:
    assert_production_settings(files)
    require_binary("pgbouncer", "/usr/sbin/pgbouncer")
    service = service_user()
    run_dir = Path(tempfile.mkdtemp(prefix="contract-pg-"))  # short: unix socket paths are limited to ~100 bytes
    servers = Servers(run_dir=run_dir, pg_port=_free_port(), bouncer_port=_free_port())
    try:
        crt, key = _self_signed(run_dir)
        start_postgres(servers, service, crt=crt, key=key)

        user, password = _admin(files)
        _, entry = _pool(files)
        conn = servers.superuser()  # autocommit, no `with conn`: CREATE DATABASE refuses a transaction
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(user)), (password,))
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(entry["dbname"]), sql.Identifier(user)))
        finally:
            conn.close()

        start_rendered_pgbouncer(servers, service, ini=files.ini, users_txt=files.users_txt)
        yield servers
    finally:
        _stop(servers)
        shutil.rmtree(run_dir, ignore_errors=True)


def _via_bouncer(files: RenderedFiles, servers: Servers) -> str:
    return _with_netloc(files.metadata_uri, host="127.0.0.1", port=servers.bouncer_port)


def test_should_start_pgbouncer_without_complaints_about_the_config(servers: Servers):
    log = (servers.run_dir / "pgbouncer.log").read_text(errors="replace")
    startup = log.split("process up", 1)[0]
    assert "process up" in log, servers.logs()
    assert not re.search(r"\b(WARNING|ERROR|FATAL)\b", startup), startup


def test_should_connect_through_pgbouncer_with_psycopg2(files: RenderedFiles, servers: Servers):
    user, _ = _admin(files)
    _, entry = _pool(files)
    conn = psycopg2.connect(_via_bouncer(files, servers), connect_timeout=CONNECT_TIMEOUT_S)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, current_database()")
            assert cur.fetchone() == (user, entry["dbname"]), servers.logs()
    finally:
        conn.close()


def test_should_connect_through_pgbouncer_with_sqlalchemy_like_airflow(files: RenderedFiles, servers: Servers):
    user, password = _admin(files)
    _, entry = _pool(files)
    engine = sqlalchemy.create_engine(_via_bouncer(files, servers), poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    try:
        assert engine.url.password == password
        with engine.connect() as conn:
            row = conn.execute(sqlalchemy.text("SELECT current_user, current_database()")).one()
            assert tuple(row) == (user, entry["dbname"])
    finally:
        engine.dispose()


def test_should_reach_postgres_over_tls_from_pgbouncer(files: RenderedFiles, servers: Servers):
    conn = psycopg2.connect(_via_bouncer(files, servers), connect_timeout=CONNECT_TIMEOUT_S)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            ssl, version = cur.fetchone()
    finally:
        conn.close()
    assert ssl is True, "PgBouncer's server connection is not TLS"
    assert version and version.startswith("TLS")


def test_should_refuse_plaintext_and_store_scram_on_the_server(files: RenderedFiles, servers: Servers):
    """Controls: the server really demands TLS and holds a SCRAM verifier, so the tests above prove both."""
    user, password = _admin(files)
    with pytest.raises(psycopg2.OperationalError, match="no encryption"):
        psycopg2.connect(
            host="127.0.0.1",
            port=servers.pg_port,
            user=user,
            password=password,
            dbname="postgres",
            sslmode="disable",
            connect_timeout=CONNECT_TIMEOUT_S,
        )
    conn = servers.superuser()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (user,))
            (stored,) = cur.fetchone()
    finally:
        conn.close()
    assert stored.startswith("SCRAM-SHA-256$")


def test_should_reject_a_wrong_password_through_pgbouncer(files: RenderedFiles, servers: Servers):
    uri = _via_bouncer(files, servers)
    raw_password = _userinfo(uri)[1]
    wrong = uri.replace(f":{raw_password}@", ":" + quote("not-" + unquote(raw_password), safe="") + "@", 1)
    assert wrong != uri
    with pytest.raises(psycopg2.OperationalError, match="authentication failed"):
        psycopg2.connect(wrong, connect_timeout=CONNECT_TIMEOUT_S)


def test_should_serve_the_admin_console_to_the_stats_exporter(files: RenderedFiles, servers: Servers):
    pool, _ = _pool(files)
    conn = psycopg2.connect(_with_netloc(files.stats_uri, port=servers.bouncer_port), connect_timeout=CONNECT_TIMEOUT_S)
    conn.autocommit = True  # the admin console has no transactions
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW POOLS")
            columns = [c.name for c in cur.description]
            pools = {row[columns.index("database")] for row in cur.fetchall()}
            cur.execute("SHOW STATS")
            stats = {row[0] for row in cur.fetchall()}
    finally:
        conn.close()
    assert pool in pools, pools
    assert pool in stats, stats


# --------------------------------------------------------------------------- Airflow's own migrations through PgBouncer


def _empty_metadata_database(files: RenderedFiles, servers: Servers) -> None:
    """Drop every table of the metadata database: each Airflow version migrates from nothing, as a new install does."""
    user, _ = _admin(files)
    _, entry = _pool(files)
    conn = psycopg2.connect(
        host=str(servers.run_dir), port=servers.pg_port, user=SUPERUSER, dbname=entry["dbname"], connect_timeout=CONNECT_TIMEOUT_S
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("DROP SCHEMA public CASCADE")
            cur.execute(sql.SQL("CREATE SCHEMA public AUTHORIZATION {}").format(sql.Identifier(user)))
    finally:
        conn.close()


def test_should_migrate_the_metadata_database_through_pgbouncer_with_airflow(
    files: RenderedFiles, servers: Servers, airflow_env: AirflowEnv, tmp_path: Path
):
    _empty_metadata_database(files, servers)
    env = {
        **base_env(tmp_path),
        "PATH": os.pathsep.join([str(airflow_env.bin_dir), os.environ.get("PATH", "/usr/bin:/bin")]),
        # What the chart injects from data.metadataSecretName (key "connection"), pointed at the test PgBouncer.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _via_bouncer(files, servers),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    commands = [["db", "migrate"], ["db", "check-migrations", "--migration-wait-timeout=5"], ["db", "check"]]
    result, ran = run_airflow_cli(
        airflow_env.python, commands, env=with_bytecode_cache(env, airflow_env.python), workdir=tmp_path, timeout=MIGRATE_TIMEOUT_S
    )
    assert result.returncode == 0 and [(c["argv"], c["exit"]) for c in ran] == [(c, 0) for c in commands], (
        f"airflow {ran}:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}\n{servers.logs()}"
    )
    user, _ = _admin(files)
    conn = psycopg2.connect(_via_bouncer(files, servers), connect_timeout=CONNECT_TIMEOUT_S)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version_num FROM alembic_version")
            revisions = cur.fetchall()
            cur.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
            owners = {row[0] for row in cur.fetchall()}
            cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            (tables,) = cur.fetchone()
    finally:
        conn.close()
    assert len(revisions) == 1, revisions
    assert owners == {user}, "Airflow's tables belong to the metadata user"
    assert tables > 40, f"only {tables} tables after airflow db migrate"
