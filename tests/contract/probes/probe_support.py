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


def with_bytecode_cache(env: Mapping[str, str], python: Path) -> dict[str, str]:
    """``env`` for a pinned environment's interpreter, which keeps the bytecode it compiles.

    Those environments are installed without bytecode (compiling every package costs more than the
    probes import); the first process to import a module writes its bytecode under ``<env>/pycache``,
    outside the source tree, and every later probe of that environment reads it from there.
    """
    kept = {key: value for key, value in env.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return {**kept, "PYTHONPYCACHEPREFIX": str(Path(python).parent.parent / "pycache")}


def run_probe(
    probe: Path,
    mode: Sequence[str],
    request: Mapping[str, Any],
    *,
    workdir: Path,
    env: Mapping[str, str],
    timeout: int,
    stem: str,
    python: Path | None = None,
) -> dict[str, Any]:
    """``python probe [mode...] <stem>-request.json <stem>-report.json`` in ``workdir``; returns the report.

    ``python`` is the interpreter of the Airflow under test: the contract tests pass the one of a pinned
    environment (``tests/contract/conftest.py`` ``airflow_env``), whose bytecode goes to its own cache
    (:func:`with_bytecode_cache`); without it, the test process's own interpreter.
    """
    request_path, report_path = workdir / f"{stem}-request.json", workdir / f"{stem}-report.json"
    request_path.write_text(json.dumps(request))
    result = subprocess.run(
        [str(python or sys.executable), str(probe), *mode, str(request_path), str(report_path)],
        env=with_bytecode_cache(env, python) if python else dict(env),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"Airflow probe {probe.name} {' '.join(mode)} failed ({python}):\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    )
    return json.loads(report_path.read_text())


AIRFLOW_CLI = Path(__file__).with_name("airflow_cli.py")


def run_airflow_cli(
    python: Path | str, commands: Sequence[Sequence[str]], *, env: Mapping[str, str], workdir: Path, timeout: int
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """``airflow <command>`` for each of ``commands`` in order, by ``airflow_cli.py`` under ``python``.

    Each command runs in its own process forked after the CLI's imports (see that script); the run stops at
    the first failing command. Returns the finished driver (``returncode`` is the last command's exit
    status; stdout and stderr of all commands) and ``[{"argv", "exit", "seconds"}]`` of each command run.
    """
    commands_path, report_path = workdir / "airflow-cli-commands.json", workdir / "airflow-cli-report.json"
    commands_path.write_text(json.dumps([list(c) for c in commands]))
    result = subprocess.run(
        [str(python), str(AIRFLOW_CLI), str(commands_path), str(report_path)],
        env=dict(env),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    report = json.loads(report_path.read_text()) if report_path.exists() else []
    return result, report


def run_modes_forked(probes: Mapping[str, Any], requests: Mapping[str, Any], report_path: str) -> int:
    """Run several probe modes that share one environment and ``airflow.cfg``, each in its own forked child.

    ``import airflow`` (what every mode starts with: it reads the environment and ``airflow.cfg`` and sets
    up configuration, settings and logging) runs once here; each mode then runs in a child forked from
    that state, so no mode sees what another one built or cached, as if each had its own fresh
    interpreter, and the import (seconds) is paid once. Reports are written together as
    ``{mode: report}``; a mode that raises fails the whole run with its traceback on stderr.
    """
    import tempfile
    import traceback

    import airflow  # noqa: F401  (the common start of every mode, paid once)

    reports: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="probe-modes-") as tmp:
        for mode, request in requests.items():
            path = Path(tmp) / f"{mode}.json"
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # the child: one mode, then leave without running the parent's exit handlers
                code = 1
                try:
                    path.write_text(json.dumps(probes[mode](request), sort_keys=True, default=str))
                    code = 0
                except BaseException:
                    traceback.print_exc()
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                print(f"probe mode {mode} failed (exit {os.waitstatus_to_exitcode(status)})", file=sys.stderr)
                return 1
            reports[mode] = json.loads(path.read_text())
    Path(report_path).write_text(json.dumps(reports, indent=2, sort_keys=True, default=str))
    return 0


def worker_configuration() -> Any:
    """The configuration module task processes read ``[secrets]``/``[workers]`` with and build their backends from.

    Airflow 3.2 gave the Task SDK its own ``airflow.sdk.configuration``; on Airflow 3.1 task processes use
    core's ``airflow.configuration`` (``ensure_secrets_loaded(default_backends=DEFAULT_SECRETS_SEARCH_PATH_WORKERS)``).
    Both have ``conf``, ``get_custom_secret_backend`` and ``initialize_secrets_backends``.
    """
    try:
        from airflow.sdk import configuration
    except ImportError:  # Airflow 3.1
        from airflow import configuration
    return configuration


def bundle_names(manager: Any) -> list[str]:
    """Names of the bundles a ``DagBundlesManager`` parsed from ``dag_bundle_config_list``.

    ``get_all_bundle_names`` exists from Airflow 3.2; on 3.1 the parsed configuration is ``_bundle_config``.
    """
    names = getattr(manager, "get_all_bundle_names", None)
    return list(names()) if names is not None else list(manager._bundle_config)


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
