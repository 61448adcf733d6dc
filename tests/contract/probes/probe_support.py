"""Run an Airflow probe script as a fresh interpreter would, with a clean environment.

Importing ``airflow`` changes process-wide state (logging handlers, cached
configuration), so the contract tests ask Airflow their questions from a
separate process that starts with only the environment a pod would have: a child
of :class:`ProbeServer`, which has not imported Airflow.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
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
    interpreter = Path(python or sys.executable)
    result = probe_server(interpreter).run(
        [str(probe), *mode, str(request_path), str(report_path)],
        env=with_bytecode_cache(env, interpreter),
        cwd=workdir,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"Airflow probe {probe.name} {' '.join(mode)} failed ({python}):\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    )
    return json.loads(report_path.read_text())


PROBE_SERVER = Path(__file__).with_name("probe_server.py")


class ProbeServer:
    """A ``probe_server.py`` under one interpreter: runs probe scripts as that interpreter would, started faster.

    Each script runs in a process forked from a server that has imported the libraries Airflow imports but
    not Airflow (see that script), with only the job's environment, working directory and arguments, so it
    starts from the state ``python <script> <args>`` would, without paying those imports (seconds) again.
    """

    def __init__(self, python: Path) -> None:
        self.python = Path(python).absolute()
        self._home = tempfile.mkdtemp(prefix="probe-server-")
        env = {**with_bytecode_cache(base_env(Path(self._home)), self.python), "PROBE_SERVER": str(PROBE_SERVER)}
        self._process = subprocess.Popen(
            [str(self.python), str(PROBE_SERVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=self._home,
            text=True,
            start_new_session=True,
        )
        self._lock = threading.Lock()
        self.preloaded = self._answer(300)["ready"]

    def _answer(self, timeout: float) -> dict[str, Any]:
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        line = self._process.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise RuntimeError(f"probe server {self.python} gave no answer within {timeout} s (exit {self._process.poll()})")
        return json.loads(line)

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        timeout: float,
        binds: Mapping[Path, Path] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``python *argv`` with ``env`` in ``cwd``: exit status (negative: the signal), stdout and stderr, as ``subprocess.run``.

        ``binds`` ({source: target}): run it in a mount namespace of its own with each source bind-mounted over
        its target, as ``unshare -m`` and ``mount --bind`` would (root only).
        """
        out_dir = Path(tempfile.mkdtemp(prefix="probe-run-", dir=self._home))
        job = {
            "argv": [str(a) for a in argv],
            "env": dict(env),
            "cwd": str(cwd),
            "stdout": str(out_dir / "stdout"),
            "stderr": str(out_dir / "stderr"),
            "timeout": max(1, int(timeout)),
            "binds": [[str(source), str(target)] for source, target in (binds or {}).items()],
        }
        with self._lock:
            assert self._process.stdin is not None
            self._process.stdin.write(json.dumps(job) + "\n")
            self._process.stdin.flush()
            returncode = self._answer(timeout + 30)["returncode"]
        output = {name: (out_dir / name).read_text(errors="replace") for name in ("stdout", "stderr")}
        shutil.rmtree(out_dir, ignore_errors=True)
        return subprocess.CompletedProcess([str(self.python), *job["argv"]], returncode, output["stdout"], output["stderr"])

    def stop(self) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        shutil.rmtree(self._home, ignore_errors=True)


_SERVERS: dict[Path, ProbeServer] = {}


def probe_server(python: Path) -> ProbeServer:
    """The :class:`ProbeServer` of ``python`` in this process, started on first use and stopped at exit."""
    key = Path(python)
    server = _SERVERS.get(key)
    if server is None or server._process.poll() is not None:
        server = _SERVERS[key] = ProbeServer(key)
        atexit.register(server.stop)
    return server


AIRFLOW_CLI = Path(__file__).with_name("airflow_cli.py")


def run_airflow_cli(
    python: Path | str, commands: Sequence[Sequence[str]], *, env: Mapping[str, str], workdir: Path, timeout: int
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """``airflow <command>`` for each of ``commands`` in order, by ``airflow_cli.py`` in the probe server of ``python``.

    Each command runs in its own process forked after the CLI's imports (see that script); the run stops at
    the first failing command. Returns the finished driver (``returncode`` is the last command's exit
    status; stdout and stderr of all commands) and ``[{"argv", "exit", "seconds"}]`` of each command run.
    """
    commands_path, report_path = workdir / "airflow-cli-commands.json", workdir / "airflow-cli-report.json"
    commands_path.write_text(json.dumps([list(c) for c in commands]))
    result = probe_server(Path(python)).run([str(AIRFLOW_CLI), str(commands_path), str(report_path)], env=env, cwd=workdir, timeout=timeout)
    report = json.loads(report_path.read_text()) if report_path.exists() else []
    return result, report


def run_forked(work: Callable[[], int]) -> int:
    """``work()`` in a forked child, which leaves with what it returns (1, its traceback on stderr, if it raises).

    The child skips the parent's exit handlers (``os._exit``). Returns the child's exit status (``-N``: killed by
    signal ``N``).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = work()
        except BaseException:  # whatever work raised: its traceback, exit 1
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def run_modes_forked(probes: Mapping[str, Any], requests: Mapping[str, Any], report_path: str) -> int:
    """Run several probe modes that share one environment and ``airflow.cfg``, each in its own forked child.

    ``import airflow`` (what every mode starts with: it reads the environment and ``airflow.cfg`` and sets
    up configuration, settings and logging) runs once here; each mode then runs in a child forked from
    that state, so no mode sees what another one built or cached, as if each had its own fresh
    interpreter, and the import (seconds) is paid once. Reports are written together as
    ``{mode: report}``; a mode that raises fails the whole run with its traceback on stderr.
    """

    import airflow  # noqa: F401  (the common start of every mode, paid once)

    reports: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="probe-modes-") as tmp:
        for mode, request in requests.items():
            path = Path(tmp) / f"{mode}.json"

            def one_mode(mode: str = mode, request: Any = request, path: Path = path) -> int:
                path.write_text(json.dumps(probes[mode](request), sort_keys=True, default=str))
                return 0

            code = run_forked(one_mode)
            if code != 0:
                print(f"probe mode {mode} failed (exit {code})", file=sys.stderr)
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
