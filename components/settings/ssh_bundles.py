"""Rules of Git over SSH for DAG bundles: known hosts given as data, a key from a connection, checking always on.

Called from :func:`components.settings.validation.settings_from_config` next to the other cross-field rules.
The git provider reads the connection extras ``private_key``, ``strict_host_key_checking`` and (provider 1.0+)
``known_hosts_file``; before 1.0 ``strict_host_key_checking`` defaults to ``no`` and from 1.0 to ``accept-new``
(trust on first use), so the program always writes ``yes`` itself (:mod:`components.connections`) and refuses any
other value, and hands ``ssh`` the declared host keys in a file every bundle-reading pod mounts.
"""

from __future__ import annotations

from components.settings.airflow import ConnectionSpec, DagBundle
from components.settings.errors import Problem
from components.settings.known_hosts import covers, lookup_name, parse_entry, ssh_host
from components.settings.model import Settings

KNOWN_HOSTS_PATH = "/etc/ssh/ssh_known_hosts"
"""Where bundle-reading pods see the declared host keys: ``ssh``'s ``GlobalKnownHostsFile`` default, and the
``known_hosts_file`` of SSH git connections."""
KEY_FIELD = "extra.private_key"
"""The secret field holding the private key (OpenSSH or PEM text), inline in the connection document."""
PROGRAM_OWNED_EXTRAS = ("known_hosts_file", "ssh_config_file", "key_file")
"""Extras of an SSH git connection the program sets or refuses: they name files no pod has but the known-hosts one."""


def bundle_url(bundle: DagBundle, connections: dict[str, ConnectionSpec]) -> str | None:
    """The URL GitHook clones: the bundle's ``repoUrl``, else its connection's host."""
    if bundle.repo_url is not None:
        return bundle.repo_url
    conn = connections.get(bundle.git_conn_id or "")
    return conn.host if conn is not None else None


def ssh_bundles(s: Settings) -> list[DagBundle]:
    """Git bundles whose repository URL is an SSH one."""
    connections = {c.conn_id: c for c in s.connections}
    return [b for b in s.dag_bundles if b.kind == "git" and ssh_host(bundle_url(b, connections) or "") is not None]


def ssh_conn_ids(s: Settings) -> frozenset[str]:
    """``git`` connections used over SSH: by an SSH bundle, or holding a private key (a task's GitHook)."""
    used = {b.git_conn_id for b in ssh_bundles(s) if b.git_conn_id is not None}
    keyed = {c.conn_id for c in s.connections if c.conn_type == "git" and (KEY_FIELD in c.secret_field_names or "key_file" in c.extra)}
    return frozenset(used | keyed)


def known_hosts_lines(s: Settings) -> tuple[str, ...]:
    """Every SSH bundle's entries, each once, in declaration order: the content of the mounted file."""
    lines: dict[str, None] = {}
    for bundle in ssh_bundles(s):
        lines.update((" ".join(line.split()), None) for line in bundle.known_hosts)
    return tuple(lines)


def check(s: Settings) -> list[Problem]:
    """Problems of the SSH bundles and SSH git connections; empty when coherent."""
    problems: list[Problem] = []
    add = problems.append
    connections = {c.conn_id: c for c in s.connections}
    index = {c.conn_id: i for i, c in enumerate(s.connections)}
    for i, bundle in enumerate(s.dag_bundles):
        where = f"dagBundles[{i}]"
        url = bundle_url(bundle, connections) if bundle.kind == "git" else None
        target = ssh_host(url) if url is not None else None
        if target is None:
            if bundle.known_hosts:
                add(Problem(f"{where}.knownHosts", f"<{len(bundle.known_hosts)} entries>", "only git bundles with an SSH URL take it"))
            continue
        host, port = target
        keyscan = f"ssh-keyscan{'' if port == 22 else f' -p {port}'} {host}"
        if not bundle.known_hosts:
            add(
                Problem(
                    f"{where}.knownHosts",
                    [],
                    f"required for the SSH URL {url!r}: the output of {keyscan}, checked against the provider's fingerprints",
                )
            )
        elif not covers([parse_entry(line) for line in bundle.known_hosts], host, port):
            add(
                Problem(
                    f"{where}.knownHosts",
                    f"<{len(bundle.known_hosts)} entries>",
                    f"no entry covers {lookup_name(host, port)!r} of {url!r}; add its keys ({keyscan})",
                )
            )
        if bundle.git_conn_id is None:
            add(Problem(f"{where}.gitConnId", None, f"an SSH bundle needs a git connection with secretFields {KEY_FIELD}"))
        elif bundle.git_conn_id in connections and KEY_FIELD not in connections[bundle.git_conn_id].secret_field_names:
            conn_where = f"connections[{index[bundle.git_conn_id]}].secretFields"
            add(
                Problem(
                    conn_where,
                    list(connections[bundle.git_conn_id].secret_field_names),
                    f"the SSH bundle {bundle.name!r} needs {KEY_FIELD}",
                )
            )
    for conn_id in sorted(ssh_conn_ids(s) & connections.keys()):
        conn = connections[conn_id]
        where = f"connections[{index[conn_id]}].extra"
        checking = conn.extra.get("strict_host_key_checking", "yes")
        if checking != "yes":
            add(Problem(f"{where}.strict_host_key_checking", checking, "only 'yes': host keys come from the bundle's knownHosts"))
        for key in PROGRAM_OWNED_EXTRAS:
            if key in conn.extra:
                add(
                    Problem(
                        f"{where}.{key}",
                        conn.extra[key],
                        f"remove it: the program sets the known-hosts file and the key comes from {KEY_FIELD}",
                    )
                )
    return problems
