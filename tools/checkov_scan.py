"""Run checkov (``--framework kubernetes``) over the real chart render of a stack's Helm values.

    python -m tools.checkov_scan config/Pulumi.<stack>.yaml [-v]

checkov lives in its own virtual environment, ``.venv-checkov`` (``scripts/bootstrap.sh --dev``
creates it from ``requirements-checkov.txt``): its pins (``packaging<24``, ``cachetools<6``,
``termcolor<2.4``, an old ``boto3``) cannot share one environment with Airflow 3 and the Pulumi SDK.
CKV_K8S_21 ("the default namespace should not be used") is not counted: the templates carry no
namespace, Helm sets it at install.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tools.stackfile import ROOT

NOT_COUNTED = frozenset({"CKV_K8S_21"})
CHECKOV_CANDIDATES = (ROOT / ".venv-checkov" / "bin" / "checkov",)


def checkov_binary() -> str | None:
    for candidate in CHECKOV_CANDIDATES:
        if candidate.is_file():
            return str(candidate)
    return shutil.which("checkov")


def scan(manifests: Iterable[Mapping[str, Any]], binary: str) -> list[dict[str, str]]:
    """Failed checks (``check_id``, ``check_name``, ``resource``), CKV_K8S_21 left out."""
    return scan_many({"render": manifests}, binary)["render"]


def scan_many(renders: Mapping[str, Iterable[Mapping[str, Any]]], binary: str) -> dict[str, list[dict[str, str]]]:
    """:func:`scan` of each named render, in one checkov run (its start-up costs more than a render's checks)."""
    with tempfile.TemporaryDirectory() as directory:
        for name, manifests in renders.items():
            folder = Path(directory) / name
            folder.mkdir()
            for i, manifest in enumerate(manifests):
                (folder / f"{i:03d}.yaml").write_text(yaml.safe_dump(dict(manifest)))
        run = subprocess.run(
            [binary, "--framework", "kubernetes", "--skip-download", "--quiet", "-d", directory, "-o", "json"],
            capture_output=True,
            text=True,
            check=False,
        )
    if not run.stdout.strip():
        raise RuntimeError(f"checkov printed nothing (exit {run.returncode}): {run.stderr[-2000:]}")
    report = json.loads(run.stdout)
    reports = report if isinstance(report, list) else [report]
    failed: dict[str, list[dict[str, str]]] = {name: [] for name in renders}
    for one in reports:
        for check in one.get("results", {}).get("failed_checks", []):
            if check["check_id"] not in NOT_COUNTED:
                name = check["file_path"].strip("/").split("/", 1)[0]  # /<name>/<n>.yaml, relative to the scanned folder
                failed[name].append({"check_id": check["check_id"], "check_name": check["check_name"], "resource": check["resource"]})
    return failed


def main(argv: list[str] | None = None) -> int:
    from tools.chart import render_chart
    from tools.render import run_program
    from tools.stackfile import load_stack

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stack_file", type=Path)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    binary = checkov_binary()
    if binary is None:
        print("checkov not found: run scripts/bootstrap.sh --dev", file=sys.stderr)
        return 2
    rendered = run_program(load_stack(args.stack_file))
    (values,) = rendered.helm_values(show_secrets=True)
    settings_ns = rendered.stack.values
    release = settings_ns.get("airflow-platform:releaseName", "airflow")
    namespace = settings_ns.get("airflow-platform:namespace", "airflow")
    failed = scan(render_chart(values, release_name=release, namespace=namespace), binary)
    for check in failed:
        if args.verbose:
            print(check["check_id"], check["resource"])
    counts: dict[str, int] = {}
    for check in failed:
        counts[check["check_id"]] = counts.get(check["check_id"], 0) + 1
    for check_id, count in sorted(counts.items()):
        print(f"{count:3d} {check_id}")
    print(f"{len(failed)} failed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
