"""Run an Airflow probe script in a fresh interpreter with a clean environment.

Importing ``airflow`` changes process-wide state (logging handlers, cached
configuration), so the contract tests ask Airflow their questions from a
separate process that starts with only the environment a pod would have.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def base_env(home: Path) -> dict[str, str]:
    """What every probe gets: its own AIRFLOW_HOME and no way to find cloud credentials or metadata endpoints."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AIRFLOW_HOME": str(home),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(home / "absent-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "absent-aws-credentials"),
    }


def run_probe(
    probe: Path,
    mode: Sequence[str],
    request: Mapping[str, Any],
    *,
    workdir: Path,
    env: Mapping[str, str],
    timeout: int,
    stem: str,
) -> dict[str, Any]:
    """``python probe [mode...] <stem>-request.json <stem>-report.json`` in ``workdir``; returns the report."""
    request_path, report_path = workdir / f"{stem}-request.json", workdir / f"{stem}-report.json"
    request_path.write_text(json.dumps(request))
    result = subprocess.run(
        [sys.executable, str(probe), *mode, str(request_path), str(report_path)],
        env=dict(env),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"Airflow probe {probe.name} {' '.join(mode)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return json.loads(report_path.read_text())


def connection_fields(conn: Any) -> dict[str, Any] | None:
    """What a probe reports of an Airflow Connection (either class), for comparison in the test process."""
    if conn is None:
        return None
    return {
        "python_class": f"{type(conn).__module__}.{type(conn).__qualname__}",
        "conn_id": conn.conn_id,
        "conn_type": conn.conn_type,
        "host": conn.host,
        "login": conn.login,
        "password": conn.password,
        "schema": conn.schema,
        "port": conn.port,
        "extra_dejson": conn.extra_dejson,
    }
