"""Start probes as fresh interpreters would, minus the cost of importing Airflow's libraries each time.

    python tests/contract/probes/probe_server.py

Runs under the interpreter of the Airflow under test (``probe_support.ProbeServer`` starts one per
environment and test process). It imports the third-party libraries Airflow and its providers import
(:data:`PRELOAD`), never Airflow itself, then reads one job per line on stdin, ``{"argv", "env", "cwd",
"stdout", "stderr", "timeout"}``. Each job runs in a child forked from that state: the child takes the
job's environment (``os.environ`` replaced as a whole), working directory, ``sys.argv`` and ``sys.path[0]``, and, with ``"binds"``
(``[[source, target]]``), a mount namespace of its own where each source is bind-mounted over its target
(the script's folder), sends its output to the two files, and runs the script as ``__main__``; ``airflow``
is imported by the script, in the child, from the job's environment and ``airflow.cfg``. The server
answers ``{"returncode"}`` per job (negative: killed by that signal; the child gets ``SIGALRM`` after
``timeout`` seconds). :data:`PRELOAD` holds only libraries that read nothing a probe sets (Airflow, cloud,
proxy, Git and ``HOME`` variables, the working directory) when imported; those that do (GitPython, the
Kubernetes client, Celery, OpenTelemetry, fsspec) are left for the probe to import.
``tests/contract/test_probe_server.py`` holds a probe's view equal to a fresh interpreter's.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import json
import os
import runpy
import signal
import sys
from typing import Any

from probe_support import run_forked  # sibling module: run as a script

PRELOAD = (
    "sqlalchemy",
    "sqlalchemy.orm",
    "pydantic",
    "libcst",
    "rich.console",
    "structlog",
    "yaml",
    "jinja2",
    "attrs",
    "sqlalchemy_utils",
    "fastapi",
    "httpx",
    "requests",
    "cryptography.fernet",
    "botocore.session",
    "boto3",
    "azure.identity",
    "azure.keyvault.secrets",
    "azure.storage.blob",
    "psycopg2",
    "jsonschema",
    "httpcore",
    "h2.connection",
    "pathspec",
    "tenacity",
    "psutil",
    "msgspec",
)
"""Imported once by the server: what most of a probe's start-up time went to before Airflow's own code."""


def preload() -> list[str]:
    """Import each of :data:`PRELOAD` the environment has; the names imported."""
    loaded = []
    for name in PRELOAD:
        if importlib.util.find_spec(name.split(".")[0]) is not None:
            importlib.import_module(name)
            loaded.append(name)
    if any(module == "airflow" or module.startswith("airflow.") for module in sys.modules):
        raise RuntimeError("a preloaded library imported airflow: probes would no longer start from their own configuration")
    return loaded


def run_job(job: dict[str, Any]) -> int:
    """Run ``job`` in a forked child; its exit status (``-N``: killed by signal ``N``)."""
    return run_forked(lambda: _child(job))


def _bind_in_own_mount_namespace(binds: list[list[str]]) -> None:
    """``unshare -m`` then ``mount --bind source target`` for each pair: what this process sees, no other."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]

    def check(result: int, what: str) -> None:
        if result != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"{what}: {os.strerror(error)}")

    check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")  # as unshare -m does
    for source, target in binds:
        check(libc.mount(source.encode(), target.encode(), None, MS_BIND, None), f"mount --bind {source} {target}")


CLONE_NEWNS, MS_BIND, MS_REC, MS_PRIVATE = 0x00020000, 0x1000, 0x4000, 0x40000


def _child(job: dict[str, Any]) -> int:
    os.setpgid(0, 0)  # its own group: whatever it starts goes with it on a timeout
    if job.get("binds"):
        _bind_in_own_mount_namespace(job["binds"])
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(int(job["timeout"]))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
        out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, fd)
        os.close(out)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115  (the process's own descriptors, for its lifetime)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    script = job["argv"][0]
    sys.argv = list(job["argv"])
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        print(done.code, file=sys.stderr)
        return 1
    return 0


def serve() -> None:
    loaded = preload()
    print(json.dumps({"ready": loaded}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps({"returncode": run_job(json.loads(line))}), flush=True)


if __name__ == "__main__":
    serve()
