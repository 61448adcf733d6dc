"""A probe started by ``probes/probe_server.py`` sees what it would see as ``python probe.py`` in a fresh interpreter.

The contract tests' verdicts rest on each probe starting from nothing but its own environment, working
directory and ``airflow.cfg``; the server only saves the imports of Airflow's libraries. Each test runs the
same script both ways, under each pinned Airflow and under the test process's own interpreter, and compares.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from components.versions import TESTED
from tests.conftest import missing_tool
from tests.contract.conftest import ENVS_DIR, require_mount_namespace
from tests.contract.probes import probe_support
from tests.contract.probes.probe_support import base_env, with_bytecode_cache

VIEW = """
import json, locale, os, sys
started_with = sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))
report = {
    "env": dict(os.environ),
    "cwd": os.getcwd(),
    "argv": sys.argv,
    "path0": sys.path[0],
    "name": __name__,
    "file": __file__,
    "airflow_loaded_at_start": started_with,
    "stdin": sys.stdin.read(),
    "encoding": locale.getpreferredencoding(False),
    "flags": [sys.flags.optimize, sys.flags.isolated, sys.flags.no_site, sys.flags.dont_write_bytecode],
    "pycache_prefix": sys.pycache_prefix,
}
print("to stdout")
print("to stderr", file=sys.stderr)
if "--airflow" in sys.argv:
    from airflow.configuration import conf
    report["dags_folder"] = conf.get("core", "dags_folder")
    report["parallelism"] = conf.getint("core", "parallelism")
with open(sys.argv[1], "w") as out:
    json.dump(report, out)
sys.exit(int(os.environ.get("EXIT_WITH", "0")))
"""


@pytest.fixture(scope="module", params=["test-interpreter", *(f"airflow-{v}" for v in TESTED)])
def python(request) -> Path:
    """The test process's interpreter, then each pinned Airflow's."""
    if request.param == "test-interpreter":
        return Path(sys.executable)
    python = ENVS_DIR / request.param / "bin" / "python"
    if not python.exists():
        missing_tool(f"{python.parent.parent} (scripts/contract-envs.sh builds it)")
    return python


def fresh(python: Path, argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), *argv], env=with_bytecode_cache(env, python), cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def served(python: Path, argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return probe_support.probe_server(python).run(argv, env=with_bytecode_cache(env, python), cwd=cwd, timeout=120)


def both(python: Path, tmp_path: Path, extra_env: dict[str, str], *args: str) -> dict[str, tuple[subprocess.CompletedProcess[str], dict]]:
    results = {}
    for how, run in (("fresh", fresh), ("served", served)):
        home = tmp_path / how
        (home / "scripts").mkdir(parents=True)
        script = home / "scripts" / "view.py"
        script.write_text(VIEW)
        env = {**base_env(home), **extra_env}
        result = run(python, [str(script), str(home / "report.json"), *args], env, home)
        report = json.loads((home / "report.json").read_text()) if (home / "report.json").exists() else {}
        results[how] = (result, report)
    return results


def normalised(report: dict, home: Path) -> dict:
    """The report with this run's own folder written as ``<home>``, so the two runs compare equal."""
    return json.loads(json.dumps(report).replace(str(home), "<home>"))


def test_should_give_the_probe_what_a_fresh_interpreter_gives_it(python, tmp_path):
    results = both(python, tmp_path, {"AIRFLOW__CORE__PARALLELISM": "7", "AWS_REGION": "eu-west-1"})
    (fresh_run, fresh_report), (served_run, served_report) = results["fresh"], results["served"]
    assert served_run.returncode == fresh_run.returncode == 0, served_run.stderr
    assert (served_run.stdout, served_run.stderr) == (fresh_run.stdout, fresh_run.stderr) == ("to stdout\n", "to stderr\n")
    assert normalised(served_report, tmp_path / "served") == normalised(fresh_report, tmp_path / "fresh")
    assert served_report["airflow_loaded_at_start"] == [] and served_report["stdin"] == ""
    assert served_report["env"]["AIRFLOW__CORE__PARALLELISM"] == "7" and "PYTEST_CURRENT_TEST" not in served_report["env"]


def test_should_let_each_probe_read_airflow_config_from_its_own_environment_only(airflow_env, tmp_path):
    """Two probes in a row, in one server: the second sees its own ``[core]``, not what the first one imported."""
    python = airflow_env.python
    seen = []
    for n, parallelism in enumerate(("3", "11")):
        home = tmp_path / f"run{n}"
        home.mkdir()
        script = home / "view.py"
        script.write_text(VIEW)
        env = {**base_env(home), "AIRFLOW__CORE__PARALLELISM": parallelism, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        result = served(python, [str(script), str(home / "report.json"), "--airflow"], env, home)
        assert result.returncode == 0, result.stderr[-3000:]
        seen.append(json.loads((home / "report.json").read_text()))
    assert [r["parallelism"] for r in seen] == [3, 11]
    assert [r["dags_folder"] for r in seen] == [str(tmp_path / f"run{n}" / "dags") for n in range(2)]


@pytest.mark.parametrize(("exit_with", "expected"), [("3", 3), ("0", 0)])
def test_should_report_the_exit_status_as_a_fresh_interpreter_does(python, tmp_path, exit_with, expected):
    results = both(python, tmp_path, {"EXIT_WITH": exit_with})
    assert results["served"][0].returncode == results["fresh"][0].returncode == expected


def test_should_fail_with_the_traceback_when_the_script_raises(python, tmp_path):
    script = tmp_path / "boom.py"
    script.write_text("raise ValueError('probe broke')\n")
    fresh_run = fresh(python, [str(script)], base_env(tmp_path), tmp_path)
    served_run = served(python, [str(script)], base_env(tmp_path), tmp_path)
    assert served_run.returncode == fresh_run.returncode == 1
    assert "ValueError: probe broke" in served_run.stderr and "Traceback" in served_run.stderr


def test_should_stop_a_probe_that_overruns_its_timeout(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text("import time\ntime.sleep(60)\n")
    result = probe_support.probe_server(Path(sys.executable)).run([str(script)], env=base_env(tmp_path), cwd=tmp_path, timeout=1)
    assert result.returncode == -signal.SIGALRM


def test_should_bind_mount_only_inside_the_probes_own_mount_namespace(tmp_path):
    """What ``unshare -m`` + ``mount --bind`` gave the Git-over-SSH probe: the probe sees the source, nobody else does."""
    require_mount_namespace()
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    target.mkdir()
    (source / "from-source").write_text("bound")
    (target / "original").write_text("kept")
    script = tmp_path / "list.py"
    script.write_text("import os, sys\nprint(sorted(os.listdir(sys.argv[1])))\n")
    server = probe_support.probe_server(Path(sys.executable))
    result = server.run([str(script), str(target)], env=base_env(tmp_path), cwd=tmp_path, timeout=60, binds={source: target})
    assert (result.returncode, result.stdout) == (0, "['from-source']\n"), result.stderr
    assert sorted(os.listdir(target)) == ["original"], "the bind mount leaked out of the probe's namespace"
    again = server.run([str(script), str(target)], env=base_env(tmp_path), cwd=tmp_path, timeout=60)
    assert again.stdout == "['original']\n", "the next probe inherited the mount"
