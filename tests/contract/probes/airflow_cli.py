"""Run several ``airflow`` CLI commands in a row, each in its own process forked after the CLI's imports.

    python tests/contract/probes/airflow_cli.py <commands.json> <report.json>

``commands.json`` is a list of argument lists (``[["db", "migrate"], ["db", "check"]]``). This script
imports what the ``airflow`` console script imports (``airflow.__main__``: Airflow, its configuration
read from the environment and ``airflow.cfg``, the CLI parser) once, then forks one child per command,
which sets ``sys.argv`` and calls the same ``main()``: each command starts from the state a fresh
``airflow <command>`` process has after its imports (nothing there reads ``sys.argv``), and the imports
(seconds) are paid once. Commands run in order and stop at the first that fails; ``report.json`` lists
``{"argv", "exit", "seconds"}`` of each command run. The exit status is that of the last command run.
"""

from __future__ import annotations

import json
import sys
import time

from airflow.__main__ import main  # what the airflow console script imports before it parses anything
from probe_support import run_forked  # sibling module: run as a script


def run(argv: list[str]) -> int:
    """``airflow *argv`` in a child forked from this state; its exit status."""

    def command() -> int:
        sys.argv = ["airflow", *argv]
        try:
            result = main()
        except SystemExit as error:
            if not isinstance(error.code, int | None):
                print(error.code, file=sys.stderr)
                return 1
            return error.code or 0
        return result if isinstance(result, int) else 0

    return run_forked(command)


def cli(commands_path: str, report_path: str) -> int:
    with open(commands_path, encoding="utf-8") as handle:
        commands = json.load(handle)
    report = []
    code = 0
    for argv in commands:
        start = time.monotonic()
        code = run(argv)
        report.append({"argv": argv, "exit": code, "seconds": time.monotonic() - start})
        print(f"airflow {' '.join(argv)}: exit {code}", file=sys.stderr)
        if code != 0:
            break
    with open(report_path, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    return code


if __name__ == "__main__":
    sys.exit(cli(*sys.argv[1:]))
