"""Git over SSH for DAG bundles: known_hosts entries read as OpenSSH reads them, the settings rules, the
connection document and the agent chart's mounts.

``ssh-keygen`` (openssh-client) is the reference: every line ``parse_entry`` accepts, ``ssh-keygen -l``
parses, every refused one it rejects or would use for nothing, and ``covers`` answers what
``ssh-keygen -F`` finds for the same host name.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from components import connections
from components.settings.known_hosts import covers, lookup_name, parse_entry, ssh_host
from tests.conftest import render, require_binary, stack_file
from tests.support.agent import values_of
from tests.support.stacks import edit, expect_rejected
from tools.render import mask
from tools.stackfile import load_stack

AWS_PROD = load_stack(stack_file("payments-prod"))
SSH_BUNDLE = 2
"""Index of payments-prod's SSH bundle (``ledger-dags``)."""
SSH_CONN = 2
"""Index of its connection (``git_ledger_ssh``)."""
GITHUB_ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
RSA_AS_ED25519 = "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQC7"


def _keygen(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([require_binary("ssh-keygen"), *args], capture_output=True, text=True, timeout=30, check=False)


# --------------------------------------------------------------------------- entries, against ssh-keygen


@pytest.mark.parametrize(
    "line",
    [
        f"github.com {GITHUB_ED25519}",
        f"github.com,140.82.112.3 {GITHUB_ED25519} comment here",
        f"[git.example.com]:2222 {GITHUB_ED25519}",
        f"*.example.com,!evil.example.com {GITHUB_ED25519}",
        f"@cert-authority *.example.com {GITHUB_ED25519}",
    ],
)
def test_should_accept_entries_that_ssh_keygen_parses(line, tmp_path):
    entry = parse_entry(line)
    (tmp_path / "kh").write_text(line.removeprefix(f"{entry.marker} ") + "\n")  # ssh-keygen -l reads no markers
    assert _keygen("-l", "-f", str(tmp_path / "kh")).returncode == 0


@pytest.mark.parametrize(
    ("line", "why", "keygen_rejects"),
    [
        ("github.com ssh-ed25519", "expected", True),
        (f"# github.com {GITHUB_ED25519}", "comment", True),
        ("github.com ssh-ed25519 not-base64!!", "base64", True),
        (f"github.com {RSA_AS_ED25519}", "base64 OpenSSH public key blob|'ssh-rsa' key", True),
        (f"github.com ssh-dss {GITHUB_ED25519.split()[1]}", "key type", False),  # DSA is disabled in OpenSSH 9
        (f"@trusted github.com {GITHUB_ED25519}", "marker", False),  # ssh would read '@trusted' as a host name
        (f"|1|bad|hash {GITHUB_ED25519}", "hashed", False),  # a hash that matches no host name
        (f"a,,b {GITHUB_ED25519}", "empty host pattern", False),
    ],
)
def test_should_refuse_lines_ssh_would_skip(line, why, keygen_rejects, tmp_path):
    with pytest.raises(ValueError, match=why):
        parse_entry(line)
    if keygen_rejects:  # the key itself is unreadable: ssh-keygen agrees
        (tmp_path / "kh").write_text(line + "\n")
        assert _keygen("-l", "-f", str(tmp_path / "kh")).returncode != 0


@pytest.mark.parametrize(
    ("hosts", "host", "port"),
    [
        ("github.com", "github.com", 22),
        ("github.com", "GitHub.com", 22),
        ("github.com", "github.com", 2222),
        ("[github.com]:2222", "github.com", 2222),
        ("[github.com]:2222", "github.com", 22),
        ("*.example.com", "git.example.com", 22),
        ("*.example.com,!git.example.com", "git.example.com", 22),
        ("git?.example.com", "git1.example.com", 22),
        ("[127.0.0.1]:*", "127.0.0.1", 40022),
        ("other.org", "github.com", 22),
    ],
)
def test_should_cover_a_host_exactly_when_ssh_keygen_finds_it(hosts, host, port, tmp_path):
    known = tmp_path / "kh"
    known.write_text(f"{hosts} {GITHUB_ED25519}\n")
    found = _keygen("-F", lookup_name(host, port), "-f", str(known))
    assert covers([parse_entry(f"{hosts} {GITHUB_ED25519}")], host, port) == (found.returncode == 0 and bool(found.stdout.strip()))


@pytest.mark.parametrize("port", [22, 2222])
def test_should_cover_a_hashed_host_name(port, tmp_path):
    known = tmp_path / "kh"
    known.write_text(f"{lookup_name('git.example.com', port)} {GITHUB_ED25519}\n")
    assert _keygen("-H", "-f", str(known)).returncode == 0
    hashed = known.read_text().split("\n")[0]
    assert hashed.startswith("|1|")
    entry = parse_entry(hashed)
    assert covers([entry], "git.example.com", port)
    assert not covers([entry], "git.example.org", port)
    assert not covers([parse_entry(f"@revoked {hashed}")], "git.example.com", port), "a revoked key covers nothing"


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("git@github.com:acme/dags.git", ("github.com", 22)),
        ("ssh://git@github.com/acme/dags.git", ("github.com", 22)),
        ("ssh://git@git.example.com:2222/acme/dags.git", ("git.example.com", 2222)),
        ("git+ssh://git@github.com/acme/dags.git", ("github.com", 22)),
        ("ssh://git@[::1]:2222/r.git", ("::1", 2222)),
        ("https://github.com/acme/dags.git", None),
        ("/srv/git/dags.git", None),
        ("file:///srv/git/dags.git", None),
    ],
)
def test_should_find_the_host_ssh_connects_to(url, target):
    assert ssh_host(url) == target


# --------------------------------------------------------------------------- settings rules (whole program)


def _bundle(mutate):
    return edit(AWS_PROD, "dagBundles", lambda bundles: mutate(bundles[SSH_BUNDLE]))


def test_should_refuse_an_ssh_bundle_without_known_hosts():
    message = expect_rejected(_bundle(lambda b: b.update(knownHosts=[])), f"dagBundles[{SSH_BUNDLE}].knownHosts")
    assert "ssh-keyscan github.com" in message


def test_should_refuse_known_hosts_that_do_not_cover_the_url_host():
    message = expect_rejected(
        _bundle(lambda b: b.update(knownHosts=[f"gitlab.com {GITHUB_ED25519}"])), f"dagBundles[{SSH_BUNDLE}].knownHosts"
    )
    assert "'github.com'" in message and GITHUB_ED25519.split()[1] not in message


def test_should_refuse_a_known_hosts_line_ssh_would_not_read():
    expect_rejected(_bundle(lambda b: b.update(knownHosts=["github.com ssh-ed25519 AAAA"])), f"dagBundles[{SSH_BUNDLE}].knownHosts")


def test_should_refuse_known_hosts_on_an_https_bundle():
    stack = edit(AWS_PROD, "dagBundles", lambda bundles: bundles[1].update(knownHosts=[f"github.com {GITHUB_ED25519}"]))
    expect_rejected(stack, "dagBundles[1].knownHosts")


def test_should_refuse_an_ssh_connection_without_a_private_key():
    stack = edit(AWS_PROD, "connections", lambda conns: conns[SSH_CONN].update(secretFields={"password": "gitLedgerDeployKey"}))
    expect_rejected(stack, f"connections[{SSH_CONN}].secretFields")


@pytest.mark.parametrize("value", ["no", "accept-new", "off"])
def test_should_refuse_turning_host_key_checking_off(value):
    stack = edit(AWS_PROD, "connections", lambda conns: conns[SSH_CONN].update(extra={"strict_host_key_checking": value}))
    expect_rejected(stack, f"connections[{SSH_CONN}].extra.strict_host_key_checking")


def test_should_refuse_a_known_hosts_file_of_the_users_own():
    stack = edit(AWS_PROD, "connections", lambda conns: conns[SSH_CONN].update(extra={"known_hosts_file": "/dev/null"}))
    expect_rejected(stack, f"connections[{SSH_CONN}].extra.known_hosts_file")


# --------------------------------------------------------------------------- what the program writes


def test_should_write_host_key_checking_on_into_ssh_connections_only():
    docs = {}
    for reg in render(stack_file("payments-prod")).by_type("aws:secretsmanager/secretVersion:SecretVersion"):
        document = json.loads(mask(reg.inputs["secretString"], show_secrets=True))
        docs[reg.name] = document
    ssh = docs["connections-git_ledger_ssh-value"]["extra"]
    assert ssh["strict_host_key_checking"] == "yes" and ssh["known_hosts_file"] == connections.KNOWN_HOSTS_PATH
    assert ssh["private_key"] == "offline-placeholder-gitLedgerDeployKey"
    https = docs["connections-git_payments_dags-value"]
    assert "strict_host_key_checking" not in https.get("extra", {}), "HTTPS connections are left as they were"


def test_should_mount_known_hosts_in_every_agent_component():
    values = values_of(render(stack_file("insights-prod")))
    groups = [*values["workers"], values["dagProcessor"], values["triggerer"]]
    for group in groups:
        [mount] = [m for m in group["volumeMounts"] if m["mountPath"] == connections.KNOWN_HOSTS_PATH]
        [volume] = [v for v in group["volumes"] if v["name"] == mount["name"]]
        assert mount["readOnly"] and volume["configMap"]["name"].startswith("astro-agent-ssh-known-hosts-")
    # the LocalDagBundle PVC mounts are still there next to it
    assert all(any(m["name"] == "dags" for m in g["volumeMounts"]) for g in groups)


def test_should_name_the_config_map_after_its_content(tmp_path: Path):
    """A changed host key renames the ConfigMap, which changes the pod specs and so rolls the pods."""
    rendered = render(stack_file("payments-prod"))
    base = mask(rendered.one("kubernetes:core/v1:ConfigMap", "airflow-ssh-known-hosts").inputs, show_secrets=True)
    stack = edit(AWS_PROD, "dagBundles", lambda b: b[SSH_BUNDLE]["knownHosts"].append(f"[github.com]:443 {GITHUB_ED25519}"))
    from tests.conftest import render_config

    changed = mask(render_config(stack).one("kubernetes:core/v1:ConfigMap", "airflow-ssh-known-hosts").inputs, show_secrets=True)
    assert base["metadata"]["name"] != changed["metadata"]["name"]
    assert base["immutable"] is True
