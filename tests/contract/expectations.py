"""What Airflow should build from a declared connection, derived from the stack file alone."""

from __future__ import annotations

import re
from typing import Any

from components.connections import PLACEHOLDER
from tools.stackfile import StackConfig

SSH_URL = re.compile(r"^(ssh://|git\+ssh://|[^/@:\s]+@[^/:\s]+:)")
"""Git URLs that ``ssh`` serves (README "Git over SSH for DAG bundles")."""
SSH_EXTRA = {"strict_host_key_checking": "yes", "known_hosts_file": "/etc/ssh/ssh_known_hosts"}
"""What the README promises every git connection used over SSH carries."""


def used_over_ssh(stack: StackConfig, spec: dict[str, Any]) -> bool:
    """A git connection holding a private key, or the connection of a bundle with an SSH URL."""
    if spec["connType"] != "git":
        return False
    if "extra.private_key" in (spec.get("secretFields") or []):
        return True
    bundles = stack.values.get(f"{stack.project}:dagBundles") or []
    return any(b.get("gitConnId") == spec["connId"] and SSH_URL.match(b.get("repoUrl") or spec.get("host") or "") for b in bundles)


def expected_connection(stack: StackConfig, spec: dict[str, Any]) -> dict[str, Any]:
    """The Connection fields for the stack file's ``connections`` entry ``spec``.

    Secret fields hold the stack's config secret (``secretSource: config``; offline that is the
    placeholder of the encrypted value) or the documented out-of-band placeholder (``external``).
    """
    fields = spec.get("secretFields") or []
    extra = dict(spec.get("extra") or {})
    password = None
    for field in fields:
        value = stack.values[f"{stack.project}:{fields[field]}"] if isinstance(fields, dict) else PLACEHOLDER
        if field == "password":
            password = value
        else:
            extra[field.removeprefix("extra.")] = value
    if used_over_ssh(stack, spec):
        extra |= SSH_EXTRA
    return {
        "conn_id": spec["connId"],
        "conn_type": spec["connType"],
        "host": spec.get("host"),
        "login": spec.get("login"),
        "schema": spec.get("schema"),
        "port": spec.get("port"),
        "password": password,
        "extra_dejson": extra,
    }
