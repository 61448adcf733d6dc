"""Benchmark: generate many team stacks and validate them all by running the real program offline.

    python -m benchmarks.render_many --stacks 100 [--budget 60] [--keep DIR]

A change to program code affects every stack, so the PR render must stay fast for an
organisation with hundreds of them. This generates ``--stacks`` stack files
(``Pulumi.team-001-dev.yaml``, ...) from the six examples in ``config/`` (both clouds, both
deployment modes, dev/staging/prod), each with its own team name and a few varied
settings, into a temporary directory (or ``--keep DIR``), then validates every one in
this single process with ``tools.render.run_program(tools.stackfile.load_stack(path))``,
exactly what ``python -m tools.render`` and ``tools.render_diff`` do per stack.

Prints one summary line (total wall time, per-stack mean and p95, peak RSS) and a small
table per cloud and mode. Exit code 1 when a stack fails or the total wall time exceeds
``--budget`` seconds (default 60).
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import resource
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "airflow-platform"
ENVIRONMENTS = ("dev", "staging", "prod")


@dataclass(frozen=True)
class Template:
    """One example stack in ``config/`` and the environments a copy of it is valid in."""

    example: str
    cloud: str
    mode: str
    environments: tuple[str, ...]


TEMPLATES: tuple[Template, ...] = (
    Template("payments-prod", "aws", "self-hosted", ENVIRONMENTS),
    Template("research-prod", "azure", "self-hosted", ENVIRONMENTS),
    Template("growth-prod", "aws", "remote-execution", ENVIRONMENTS),
    Template("insights-prod", "azure", "remote-execution", ENVIRONMENTS),
    # The dev examples relax production safety defaults, which prod refuses: dev or staging only.
    Template("payments-dev", "aws", "self-hosted", ("dev", "staging")),
    Template("research-dev", "azure", "self-hosted", ("dev", "staging")),
)
"""Round-robin order: any six consecutive stacks cover both clouds and both modes."""


@dataclass(frozen=True)
class GeneratedStack:
    path: Path
    name: str
    team: str
    environment: str
    template: Template


@dataclass
class Result:
    stack: GeneratedStack
    seconds: float
    resources: int = 0
    error: str | None = None


def _key(name: str) -> str:
    return f"{PROJECT}:{name}"


def vary(config: dict[str, Any], index: int, team: str, environment: str) -> dict[str, Any]:
    """A copy of an example's ``config:`` for ``team`` in ``environment``, with a few settings varied (kept valid)."""
    config = copy.deepcopy(config)
    config[_key("team")] = team
    config[_key("environment")] = environment
    prod = environment == "prod"
    for replicas in ("schedulerReplicas", "apiServerReplicas", "triggererReplicas"):
        if _key(replicas) in config or prod:
            config[_key(replicas)] = 2 + index % 2 if prod else 1 + index % 2
    database = config.get(_key("database"))
    if isinstance(database, dict) and "storageGb" in database and index % 2:
        # doubled: Azure takes powers of two only; the autoscaling ceiling follows
        database["storageGb"] = int(database["storageGb"]) * 2
        database["maxStorageGb"] = max(int(database.get("maxStorageGb", 0)), database["storageGb"] * 2)
    azure = config.get(_key("azure"))
    if isinstance(azure, dict):
        azure["resourceGroupName"] = f"rg-{team}-{environment}-airflow"
        if isinstance(azure.get("keyVault"), dict) and "name" in azure["keyVault"]:
            azure["keyVault"]["name"] = f"kv-{team}-{environment}"[:24]
    remote = config.get(_key("remoteExecution"))
    if isinstance(remote, dict):
        deployment = remote.get("deployment")
        if isinstance(deployment, dict):
            deployment["deploymentId"] = f"cldep{index:010d}{team.replace('-', '')}"
        groups = remote.get("workerGroups")
        if isinstance(groups, list) and groups and isinstance(groups[0], dict):
            groups[0]["replicas"] = 1 + index % 3
    for connection in config.get(_key("connections")) or []:
        if isinstance(connection, dict) and connection.get("connType") == "snowflake":
            connection["login"] = f"SVC_AIRFLOW_{team.upper().replace('-', '_')}"
    return config


def _example_config(root: Path, example: str) -> dict[str, Any]:
    """The example's config with its ESC environments merged in: each generated team varies its own ids."""
    from tools import esc, esc_config

    path = root / "config" / f"Pulumi.{example}.yaml"
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())["name"]
    return esc_config.merged_config(yaml.safe_load(path.read_text()), project, esc.file_reader(root), str(path))[0]


def generate(count: int, dest: Path, root: Path = ROOT) -> list[GeneratedStack]:
    """Write ``count`` stack files ``dest/Pulumi.team-NNN-<env>.yaml`` made from the examples."""
    dest.mkdir(parents=True, exist_ok=True)
    examples = {t.example: _example_config(root, t.example) for t in TEMPLATES}
    stacks = []
    for index in range(count):
        template = TEMPLATES[index % len(TEMPLATES)]
        environment = template.environments[(index // len(TEMPLATES) + index) % len(template.environments)]
        team = f"team-{index + 1:03d}"
        name = f"{team}-{environment}"
        path = dest / f"Pulumi.{name}.yaml"
        document = {"config": vary(examples[template.example], index, team, environment)}
        header = f"# Generated by benchmarks.render_many from config/Pulumi.{template.example}.yaml\n"
        path.write_text(header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False))
        stacks.append(GeneratedStack(path=path, name=name, team=team, environment=environment, template=template))
    return stacks


def validate(stacks: Sequence[GeneratedStack], progress: Callable[[Result], None] | None = None) -> list[Result]:
    """Run the real program offline for each stack, in this process; one :class:`Result` each."""
    from components.settings.errors import SettingsError
    from tools.render import HELM_RELEASE, run_program
    from tools.stackfile import load_stack

    results = []
    for stack in stacks:
        start = time.perf_counter()
        try:
            rendered = run_program(load_stack(stack.path))
            result = Result(stack, 0.0, resources=len(rendered.registrations))
            if rendered.stack.stack != stack.name:
                result.error = f"stack name {rendered.stack.stack!r}, expected {stack.name!r}"
            elif not rendered.by_type(HELM_RELEASE):
                result.error = "no Helm release registered"
        except Exception as error:  # a failing stack is reported, the others still run
            line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            result = Result(stack, 0.0, error=f"{type(error).__name__}: {line}"[:300])
            if not isinstance(error, SettingsError):
                result.error += "\n" + "".join(traceback.format_exception(error)[-3:])
        result.seconds = time.perf_counter() - start
        results.append(result)
        if progress:
            progress(result)
    return results


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def table(results: Sequence[Result]) -> str:
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(f"{r.stack.template.cloud} {r.stack.template.mode}", []).append(r)
    groups["all"] = list(results)
    head = f"{'cloud mode':<24} {'stacks':>6} {'failed':>6} {'mean ms':>8} {'p95 ms':>8} {'max ms':>8} {'resources':>9}"
    lines = [head, "-" * len(head)]
    for label, rows in sorted(groups.items(), key=lambda item: (item[0] == "all", item[0])):
        ms = [r.seconds * 1000 for r in rows]
        res = sum(r.resources for r in rows) / len(rows)
        failed = sum(1 for r in rows if r.error)
        lines.append(
            f"{label:<24} {len(rows):>6} {failed:>6} {sum(ms) / len(ms):>8.0f} {percentile(ms, 95):>8.0f} {max(ms):>8.0f} {res:>9.1f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.render_many", description=__doc__.split("\n")[0])
    parser.add_argument("--stacks", type=int, default=100, help="stack files to generate and validate (default 100)")
    parser.add_argument("--budget", type=float, default=60.0, help="fail (exit 1) above this total wall time in seconds (default 60)")
    parser.add_argument("--keep", type=Path, help="write the stack files here instead of a temporary directory")
    parser.add_argument("--verbose", action="store_true", help="one line per stack")
    args = parser.parse_args(argv)
    if args.stacks < 1:
        parser.error("--stacks must be at least 1")

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="render-many-") as tmp:
        dest = args.keep or Path(tmp)
        stacks = generate(args.stacks, dest)
        generated = time.perf_counter()
        import tools.render  # noqa: F401  (timed apart: the one-off cost of importing the renderer)

        imported = time.perf_counter()

        def progress(result: Result) -> None:
            if args.verbose or result.error:
                status = "ok" if not result.error else f"FAILED {result.error}"
                print(f"  {result.stack.name:<20} {result.seconds * 1000:7.0f} ms  {status}", file=sys.stderr)

        results = validate(stacks, progress)
    total = time.perf_counter() - start

    seconds = [r.seconds for r in results]
    failed = [r for r in results if r.error]
    clouds = sorted({r.stack.template.cloud for r in results})
    modes = sorted({r.stack.template.mode for r in results})
    envs = {e: sum(1 for r in results if r.stack.environment == e) for e in ENVIRONMENTS}
    over = total > args.budget
    verdict = "FAIL" if failed or over else "OK"
    print(
        f"{verdict}: {len(results)} stacks ({'/'.join(clouds)}; {'/'.join(modes)}; "
        + ", ".join(f"{n} {e}" for e, n in envs.items())
        + f") validated in {total:.1f} s (budget {args.budget:g} s; generate {generated - start:.2f} s, import {imported - generated:.2f} s,"
        + f" render {sum(seconds):.1f} s); per stack mean {sum(seconds) / len(seconds) * 1000:.0f} ms,"
        + f" p95 {percentile(seconds, 95) * 1000:.0f} ms, first (cold) {seconds[0] * 1000:.0f} ms;"
        + f" CPU {cpu_seconds():.1f} s, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs;"
        + f" peak RSS {peak_rss_mib():.0f} MiB; {len(failed)} failed"
    )
    print(table(results))
    if failed:
        print(f"{len(failed)} stack(s) failed validation, e.g. {failed[0].stack.name}: {failed[0].error}", file=sys.stderr)
    if over:
        print(f"total wall time {total:.1f} s is over the budget of {args.budget:g} s", file=sys.stderr)
    return 1 if failed or over else 0


if __name__ == "__main__":
    sys.exit(main())
