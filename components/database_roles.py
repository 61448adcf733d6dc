"""The least-privilege database role Airflow connects as, and the SQL that creates it.

Airflow and PgBouncer log in as an *app role* that owns the Airflow database and
nothing else (no SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS, no
membership of any role). The server's administrator runs :func:`bootstrap_sql`
once per change, from inside the cluster network (the bootstrap Job of
``components/airflow_chart/database_bootstrap.py``), with ``psql``:

    psql -v ON_ERROR_STOP=1 -f bootstrap.sql   # env: APP_ROLE_PASSWORD_VERIFIER

The script is idempotent (every step checks or is a no-op the second time) and
runs in one transaction. The password never travels in clear text to the Job:
it receives a SCRAM-SHA-256 verifier (:func:`scram_verifier`), which PostgreSQL
stores as is (``ALTER ROLE ... PASSWORD 'SCRAM-SHA-256$...'``), so the plain
password cannot reach a server log either.

Privileges the administrator needs: CREATEROLE, and ownership of the Airflow
database (or membership of its owner) - what the RDS master user and the
Flexible Server administrator have; a superuser works too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
"""Role and database names the script accepts: embedded between double quotes, never from user text."""
VERIFIER_ENV = "APP_ROLE_PASSWORD_VERIFIER"
"""Environment variable the script reads the app role's SCRAM verifier from (``\\getenv``, psql 15+)."""
SCRAM_ITERATIONS = 4096
"""PostgreSQL's default ``scram_iterations``."""
SYSTEM_DATABASES = ("rdsadmin", "azure_maintenance", "azure_sys")
"""Databases of the managed service the script never touches."""


def scram_verifier(password: str, salt: bytes, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677, as ``pg_authid`` holds it).

    ``salt`` is 16 random bytes generated once per password (so the verifier is stable between updates).
    """
    if len(salt) < 16:
        raise ValueError(f"salt must be at least 16 bytes, got {len(salt)}")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _check(kind: str, value: str) -> str:
    if not IDENTIFIER.match(value):
        raise ValueError(f"{kind} must match {IDENTIFIER.pattern}, got {value!r}")
    return value


def bootstrap_sql(*, app_role: str, database: str) -> str:
    """psql script run by the administrator, connected to ``database``: create/update ``app_role`` and hand it the database.

    Steps (each idempotent):

    1. ``CREATE ROLE`` if missing (DO block); refuse a pre-existing role with SUPERUSER, REPLICATION,
       BYPASSRLS or any role membership.
    2. ``ALTER ROLE``: LOGIN, NOCREATEDB, NOCREATEROLE and the password from the verifier (rotation).
    3. ``GRANT app TO CURRENT_USER``: the administrator may act as the new owner (PostgreSQL requires it
       for ``ALTER ... OWNER TO``; the app role gains nothing).
    4. ``ALTER DATABASE ... OWNER TO app``; ``REVOKE ALL ... FROM PUBLIC`` on it, so no other role connects.
    5. ``REVOKE CONNECT, TEMPORARY FROM PUBLIC`` on every other database that accepts connections and
       that the administrator can act for (``postgres``, ``template1`` where it owns them), so the app role
       cannot connect elsewhere (the server is dedicated to this Airflow). Databases owned by the
       provider (RDS: ``rdsadmin`` owns ``template1``) keep their grants: the script cannot change them.
    6. Schema ``public``: owned by the app role (or by ``pg_database_owner``, PostgreSQL 15+), no CREATE
       for PUBLIC; objects already in it (a stack that connected as the administrator before) are handed
       to the app role, so ``airflow db migrate`` can alter them.
    """
    role = _check("app_role", app_role)
    db = _check("database", database)
    system = ", ".join(f"'{d}'" for d in SYSTEM_DATABASES)
    return f"""\
-- Bootstrap of the Airflow app role "{role}" on database "{db}" (components/database_roles.py).
\\set ON_ERROR_STOP on
\\getenv app_verifier {VERIFIER_ENV}
SELECT coalesce(:'app_verifier', '') ~ '^SCRAM-SHA-256\\$' AS verifier_ok \\gset
\\if :verifier_ok
\\else
  \\echo '{VERIFIER_ENV} must hold the SCRAM-SHA-256 verifier of the app role'
  DO $$ BEGIN RAISE EXCEPTION 'missing or malformed {VERIFIER_ENV}'; END $$;
\\endif
SELECT current_database() = '{db}' AS right_database \\gset
\\if :right_database
\\else
  DO $$ BEGIN RAISE EXCEPTION 'connect to database {db} (PGDATABASE), not %', current_database(); END $$;
\\endif

BEGIN;

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{role}') THEN
    CREATE ROLE "{role}" LOGIN;
  END IF;
  IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{role}' AND (rolsuper OR rolreplication OR rolbypassrls)) THEN
    RAISE EXCEPTION 'role {role} exists with SUPERUSER, REPLICATION or BYPASSRLS; refusing to use it for Airflow';
  END IF;
  IF EXISTS (SELECT FROM pg_catalog.pg_auth_members WHERE member = '"{role}"'::regrole) THEN
    RAISE EXCEPTION 'role {role} is a member of other roles (%); refusing to use it for Airflow',
      (SELECT string_agg(roleid::regrole::text, ', ') FROM pg_catalog.pg_auth_members WHERE member = '"{role}"'::regrole);
  END IF;
END $$;

ALTER ROLE "{role}" WITH LOGIN NOCREATEDB NOCREATEROLE INHERIT CONNECTION LIMIT -1 PASSWORD :'app_verifier';

DO $$
BEGIN
  IF NOT pg_catalog.pg_has_role(current_user, '"{role}"'::regrole, 'MEMBER') THEN
    GRANT "{role}" TO CURRENT_USER;
  END IF;
END $$;

ALTER DATABASE "{db}" OWNER TO "{role}";
REVOKE ALL ON DATABASE "{db}" FROM PUBLIC;

DO $$
DECLARE
  other name;
BEGIN
  FOR other IN
    SELECT datname FROM pg_catalog.pg_database
    WHERE datname <> '{db}' AND datallowconn
      AND datname NOT IN ({system})
      AND pg_catalog.pg_has_role(current_user, datdba, 'USAGE')
  LOOP
    EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', other);
  END LOOP;
END $$;

DO $$
DECLARE
  owner oid := (SELECT nspowner FROM pg_catalog.pg_namespace WHERE nspname = 'public');
  obj record;
BEGIN
  IF owner IS NULL THEN
    CREATE SCHEMA public AUTHORIZATION "{role}";
  ELSIF owner <> 'pg_database_owner'::regrole AND owner <> '"{role}"'::regrole THEN
    IF pg_catalog.pg_has_role(current_user, owner, 'USAGE') THEN
      ALTER SCHEMA public OWNER TO "{role}";
    ELSE
      RAISE EXCEPTION 'schema public of {db} belongs to %, which % cannot act for', owner::regrole, current_user;
    END IF;
  END IF;
  REVOKE CREATE ON SCHEMA public FROM PUBLIC;

  FOR obj IN
    SELECT c.oid::regclass AS name,
           CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                          WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind
    FROM pg_catalog.pg_class c
    WHERE c.relnamespace = 'public'::regnamespace
      AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND c.relowner <> '"{role}"'::regrole
      AND pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')
      AND NOT (c.relkind = 'S' AND EXISTS (
        SELECT FROM pg_catalog.pg_depend d
        WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO %I', obj.kind, obj.name, '{role}');
  END LOOP;

  FOR obj IN
    SELECT t.oid::regtype AS name FROM pg_catalog.pg_type t
    WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd', 'r', 'm')
      AND t.typowner <> '"{role}"'::regrole AND pg_catalog.pg_has_role(current_user, t.typowner, 'USAGE')
  LOOP
    EXECUTE format('ALTER TYPE %s OWNER TO %I', obj.name, '{role}');
  END LOOP;

  FOR obj IN
    SELECT p.oid::regprocedure AS name FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace
      AND p.proowner <> '"{role}"'::regrole AND pg_catalog.pg_has_role(current_user, p.proowner, 'USAGE')
  LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO %I', obj.name, '{role}');
  END LOOP;
END $$;

COMMIT;
\\echo 'app role {role} owns database {db}'
"""


ADMIN_PASSWORD_FILE_ENV = "ADMIN_PASSWORD_FILE"
"""File holding the administrator password itself."""
ADMIN_SECRET_JSON_FILE_ENV = "ADMIN_SECRET_JSON_FILE"
"""File holding a secret document ``{"username": ..., "password": ...}`` (the RDS-managed master secret)."""

JOB_SCRIPT = r"""set -eu
if [ -n "${ADMIN_SECRET_JSON_FILE:-}" ]; then
  json="$(cat "$ADMIN_SECRET_JSON_FILE")"
  case "$json" in
    *\\*) echo "the admin secret document holds a JSON escape; refusing to guess the password" >&2; exit 2 ;;
  esac
  PGPASSWORD="$(printf '%s' "$json" | sed -n 's/.*"password"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')"
else
  PGPASSWORD="$(cat "$ADMIN_PASSWORD_FILE")"
fi
if [ -z "$PGPASSWORD" ]; then echo "no administrator password found" >&2; exit 2; fi
export PGPASSWORD
exec psql -X -v ON_ERROR_STOP=1 -f "$1"
"""
r"""Shell (busybox ``sh``) the bootstrap Job's container runs as ``sh -c JOB_SCRIPT job <sql file>``: read the
administrator password from a file (never an environment variable set from a Secret, never the command line),
then run :func:`bootstrap_sql` with ``psql``; connection settings come from the ``PG*`` environment. RDS-managed
master passwords contain no ``"`` or ``\``, so the document needs no JSON parser (the script refuses escapes)."""
