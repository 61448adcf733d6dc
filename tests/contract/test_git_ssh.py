"""Contract: a Git-over-SSH DAG bundle clones with what the program produces, and only from the right host.

A real OpenSSH server (``sshd`` from openssh-server, its own config and host key, on a free loopback
port) serves a bare Git repository to one authorized key. The example stack ``payments-prod`` is
pointed at it: its SSH bundle's ``repoUrl`` and connection host name the server, its ``knownHosts``
is what ``ssh-keyscan`` prints for it (the README's recipe), and the deploy-key config secret is the
authorized private key. The program runs under mocks, and from what it registered the test takes:

* the connection document it writes to Secrets Manager for the bundle's connection;
* the known-hosts ConfigMap's content, and the path the chart values mount it at;
* the bundle's entry of ``dag_bundle_config_list`` from the chart values.

Airflow's own ``GitDagBundle``/``GitHook`` (each pinned environment, so git provider 0.2.4 and 1.0.1)
then clone in a mount namespace whose ``/etc/ssh/ssh_known_hosts`` is that ConfigMap content (the
pod's read-only ``subPath`` mount), with the document as the connection. The clone succeeds; with a
``knownHosts`` entry for the same host but another key (the settings accept it: it covers the host)
the clone fails with ssh's host key verification, and it fails too with an empty known-hosts file,
showing that nothing is trusted on first use.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing_tool, render_config, require_binary, stack_file
from tests.contract.conftest import AirflowEnv, require_mount_namespace
from tests.contract.probes.probe_support import base_env, probe_server, with_bytecode_cache
from tests.support.stacks import unwrap
from tools.render import HELM_RELEASE, Rendered
from tools.stackfile import StackConfig, load_stack

STACK = "payments-prod"
BUNDLE = "ledger-dags"
CONN_ID = "git_ledger_ssh"
KEY_SETTING = "gitLedgerDeployKey"
PROBE = Path(__file__).parent / "probes" / "git_ssh_probe.py"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
POD_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
TIMEOUT_SECONDS = 120


# --------------------------------------------------------------------------- a real sshd serving a git repository


@dataclass(frozen=True)
class GitServer:
    port: int
    url: str
    client_key: str
    """Private key (OpenSSH text) the server authorizes."""
    other_host_public_key: str
    """``<type> <base64>`` of a host key the server does not have."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"{' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def git_server(tmp_path_factory) -> Iterator[GitServer]:
    sshd = "/usr/sbin/sshd"
    if not Path(sshd).is_file():
        missing_tool("sshd (apt-get install openssh-server)")
    keygen, git = require_binary("ssh-keygen"), require_binary("git")
    root = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "client_key", "other_host_key"):
        _run(keygen, "-q", "-t", "ed25519", "-N", "", "-C", key, "-f", str(root / key))
    (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
    work = root / "work"
    (work / "dags").mkdir(parents=True)
    (work / "dags" / "ledger.py").write_text("# a DAG file\n")
    _run(git, "init", "-q", "-b", "main", str(work))
    _run(git, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "--allow-empty", "-m", "init", cwd=work)
    _run(git, "add", ".", cwd=work)
    _run(git, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "dags", cwd=work)
    _run(git, "clone", "-q", "--bare", str(work), str(root / "ledger-dags.git"))
    port = _free_port()
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\nPidFile {root / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory sshd requires as root
    log = (root / "sshd.log").open("w")
    server = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            assert server.poll() is None, f"sshd exited: {(root / 'sshd.log').read_text()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "sshd did not listen"
                time.sleep(0.1)
        user = pwd.getpwuid(os.geteuid()).pw_name
        yield GitServer(
            port=port,
            url=f"ssh://{user}@127.0.0.1:{port}{root / 'ledger-dags.git'}",
            client_key=(root / "client_key").read_text(),
            other_host_public_key=" ".join((root / "other_host_key.pub").read_text().split()[:2]),
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def keyscan(port: int) -> list[str]:
    """What the README tells the user to run: ``ssh-keyscan -p <port> <host>``."""
    out = _run(require_binary("ssh-keyscan"), "-p", str(port), "-t", "ed25519", "127.0.0.1")
    return [line for line in out.splitlines() if line and not line.startswith("#")]


# --------------------------------------------------------------------------- the program's artefacts


@dataclass(frozen=True)
class Artefacts:
    document: str
    """The connection document in Secrets Manager."""
    known_hosts: str
    """Content of the ConfigMap the pods mount."""
    mount_path: str
    bundle: dict[str, Any]


def variant(git: GitServer, known_hosts: list[str]) -> StackConfig:
    stack = load_stack(stack_file(STACK))
    values = copy.deepcopy(stack.values)
    bundle = next(b for b in values[f"{stack.project}:dagBundles"] if b["name"] == BUNDLE)
    bundle["repoUrl"], bundle["knownHosts"] = git.url, known_hosts
    next(c for c in values[f"{stack.project}:connections"] if c["connId"] == CONN_ID)["host"] = git.url
    values[f"{stack.project}:{KEY_SETTING}"] = git.client_key
    assert f"{stack.project}:{KEY_SETTING}" in stack.secret_keys
    return dataclasses.replace(stack, values=values)


def artefacts(rendered: Rendered) -> Artefacts:
    document = unwrap(rendered.one(SECRET_VERSION, f"connections-{CONN_ID}-value").inputs["secretString"])
    maps = [unwrap(m.inputs) for m in rendered.by_type(CONFIG_MAP) if "ssh_known_hosts" in (unwrap(m.inputs.get("data")) or {})]
    assert len(maps) == 1, f"expected one known-hosts ConfigMap, found {len(maps)}"
    values = unwrap(rendered.one(HELM_RELEASE).inputs["values"])
    [volume] = [v for v in values["volumes"] if v.get("configMap", {}).get("name") == maps[0]["metadata"]["name"]]
    [mount] = [m for m in values["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    [bundle] = [b for b in values["dagProcessor"]["dagBundleConfigList"] if b["name"] == BUNDLE]
    return Artefacts(document=document, known_hosts=maps[0]["data"]["ssh_known_hosts"], mount_path=mount["mountPath"], bundle=bundle)


# --------------------------------------------------------------------------- Airflow clones, in a pod-like mount namespace


def clone(airflow_env: AirflowEnv, made: Artefacts, home: Path) -> dict[str, Any]:
    """Run the probe with ``/etc/ssh`` replaced by a copy holding the ConfigMap content at the mounted path."""
    assert made.mount_path == POD_KNOWN_HOSTS, "the test mounts the file where the values mount it"
    etc_ssh = home / "etc-ssh"
    shutil.copytree("/etc/ssh", etc_ssh, ignore=shutil.ignore_patterns("ssh_host_*", "sshd_config*", "moduli"))
    (etc_ssh / "ssh_known_hosts").write_text(made.known_hosts)
    require_mount_namespace()
    request, report = home / "request.json", home / "report.json"
    request.write_text(json.dumps({"bundle": made.bundle}))
    env = {
        **base_env(home),
        f"AIRFLOW_CONN_{CONN_ID.upper()}": made.document,
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(home / "bundles"),
        "GIT_TERMINAL_PROMPT": "0",
    }
    result = probe_server(airflow_env.python).run(
        [str(PROBE), "clone", str(request), str(report)],
        env=with_bytecode_cache(env, airflow_env.python),
        cwd=home,
        timeout=TIMEOUT_SECONDS,
        binds={etc_ssh: Path("/etc/ssh")},
    )
    assert result.returncode == 0, f"probe failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return json.loads(report.read_text())


def test_should_clone_over_ssh_with_the_programs_connection_and_known_hosts(git_server, airflow_env, tmp_path):
    scanned = keyscan(git_server.port)
    made = artefacts(render_config(variant(git_server, scanned)))
    document = json.loads(made.document)
    assert document["extra"]["strict_host_key_checking"] == "yes"
    assert document["extra"]["private_key"] == git_server.client_key
    report = clone(airflow_env, made, tmp_path)
    assert "error" not in report, report["error"]
    assert report["hook"]["strict_host_key_checking"] == "yes" and report["hook"]["has_private_key"]
    assert "StrictHostKeyChecking=yes" in report["git_ssh_command"]
    assert report["files"] == ["dags/ledger.py"], report
    if airflow_env.release.providers["git"].startswith("0."):
        assert report["hook"]["known_hosts_file"] is None, "provider 0.x reads no known_hosts_file: the global default path serves it"
    else:
        assert report["hook"]["known_hosts_file"] == POD_KNOWN_HOSTS


def test_should_refuse_to_clone_when_the_known_host_key_does_not_match(git_server, airflow_env, tmp_path):
    wrong = [f"[127.0.0.1]:{git_server.port} {git_server.other_host_public_key}"]
    made = artefacts(render_config(variant(git_server, wrong)))
    report = clone(airflow_env, made, tmp_path)
    assert "error" in report, f"cloned from a server whose host key is not the declared one: {report}"
    assert "Host key verification failed" in report["error"] or "REMOTE HOST IDENTIFICATION HAS CHANGED" in report["error"], report["error"]


def test_should_not_trust_the_server_on_first_use(git_server, airflow_env, tmp_path):
    """With the file empty (as if the mount were missing) ssh must refuse, not add the key (accept-new)."""
    made = artefacts(render_config(variant(git_server, keyscan(git_server.port))))
    report = clone(airflow_env, dataclasses.replace(made, known_hosts=""), tmp_path)
    assert "error" in report and "Host key verification failed" in report["error"], report
