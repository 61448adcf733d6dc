"""Airflow side of ``tests/contract/test_git_ssh.py``, run in a fresh interpreter.

    python tests/contract/probes/git_ssh_probe.py clone <request.json> <report.json>

The caller hands the connection document as ``AIRFLOW_CONN_<ID>`` (the JSON form Airflow reads from
the environment, the same document the secrets backends return) and runs this script in a mount
namespace whose ``/etc/ssh/ssh_known_hosts`` is the program's known-hosts file, as in a pod. The script
builds Airflow's own ``GitDagBundle`` from the bundle entry of ``dag_bundle_config_list`` and clones.
It never imports the program under test.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def probe_clone(request: dict[str, Any]) -> dict[str, Any]:
    from airflow.providers.git.bundles.git import GitDagBundle

    entry = request["bundle"]
    report: dict[str, Any] = {}
    try:
        bundle = GitDagBundle(name=entry["name"], **entry["kwargs"])
        hook = bundle.hook
        report["hook"] = {
            "strict_host_key_checking": hook.strict_host_key_checking,
            "known_hosts_file": getattr(hook, "known_hosts_file", None),
            "has_private_key": bool(hook.private_key),
        }
        bundle.initialize()
        report["git_ssh_command"] = hook.env.get("GIT_SSH_COMMAND")
        report["files"] = sorted(str(p.relative_to(bundle.path)) for p in Path(bundle.path).rglob("*.py"))
        report["version"] = bundle.get_current_version()
    except Exception as error:  # what the dag-processor would log, with the git error it wraps
        chain: list[str] = []
        cause: BaseException | None = error
        while cause is not None and len(chain) < 5:
            chain.append(f"{type(cause).__module__}.{type(cause).__qualname__}: {cause}")
            cause = cause.__cause__ or cause.__context__
        report["error"] = "\n".join(chain)
    return report


def main(argv: list[str]) -> int:
    mode, request_path, report_path = argv
    assert mode == "clone", mode
    request = json.loads(Path(request_path).read_text())
    Path(report_path).write_text(json.dumps(probe_clone(request), indent=2, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
