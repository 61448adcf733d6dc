"""Benchmark: generate many team stacks and validate them all by running the real program offline.

    python -m benchmarks.render_many --stacks 100 [--budget 60] [--jobs N] [--keep DIR]

A change to program code affects every stack, so the PR render must stay fast for an
organisation with hundreds of them. This generates ``--stacks`` stack files
(``Pulumi.team-001-dev.yaml``, ...) from the six examples in ``config/`` (both clouds, both
deployment modes, dev/staging/prod), each with its own team name and a few varied
settings, into a temporary directory (or ``--keep DIR``), then validates every one with
``tools.render.run_program(tools.stackfile.load_stack(path))``, exactly what
``python -m tools.render`` and ``tools.render_diff`` do per stack.

This process renders the first round of stacks (one per template: every module the
program uses is then loaded and warm), then forks ``--jobs`` workers (default: one per
CPU, at most 4) that share that warm state and take the other stacks one at a time, so
the imports are paid once and every core renders. ``--jobs 1`` renders all in this process.

Prints one summary line (total wall time, per-stack mean and p95, CPU of this process and
its workers, peak RSS) and a small table per cloud and mode. Exit code 1 when a stack
fails or the total wall time exceeds ``--budget`` seconds (default 60).
"""

from __future__ import annotations

import argparse
import copy
import gc
import math
import multiprocessing
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
WORKER_TIMEOUT_S = 120
"""A worker that takes longer than this for one stack is stuck (a render takes well under a second)."""


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
    cpu: float = 0.0
    """CPU seconds the render took in the process that ran it."""
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


def validate_one(stack: GeneratedStack) -> Result:
    """Run the real program offline for one stack, in this process."""
    from components.settings.errors import SettingsError
    from tools.render import HELM_RELEASE, run_program
    from tools.stackfile import load_stack

    start, cpu_start = time.perf_counter(), time.process_time()
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
    result.cpu = time.process_time() - cpu_start
    return result


def validate(stacks: Sequence[GeneratedStack], progress: Callable[[Result], None] | None = None, jobs: int = 1) -> list[Result]:
    """Run the real program offline for each stack; one :class:`Result` each, in the order of ``stacks``.

    With ``jobs`` > 1 this process renders the first round of stacks (one per template, so every module
    and lazily loaded provider class the program uses is loaded and warm), then forks ``jobs`` workers
    that share that warm state and render the rest, one stack at a time. ``jobs`` 1 renders all here.
    """
    jobs = workers(len(stacks), jobs)
    parallel = jobs > 1
    first = stacks[: len(TEMPLATES)] if parallel else stacks
    results = []
    for stack in first:
        results.append(validate_one(stack))
        if progress:
            progress(results[-1])
    if not parallel:
        return results
    _before_fork()
    by_path: dict[Path, Result] = {}
    rest = stacks[len(first) :]
    with multiprocessing.get_context("fork").Pool(jobs, initializer=_fresh_event_loop) as pool:
        gc.unfreeze()  # the workers are forked: this process collects as before
        finished = pool.imap_unordered(validate_one, rest, chunksize=1)
        for _ in rest:
            try:
                result = finished.next(timeout=WORKER_TIMEOUT_S)
            except multiprocessing.TimeoutError:
                raise RuntimeError(f"no worker finished a stack in {WORKER_TIMEOUT_S} s; {len(by_path)} of {len(rest)} done") from None
            by_path[result.stack.path] = result
            if progress:
                progress(result)
    return results + [by_path[stack.path] for stack in rest]


def workers(count: int, jobs: int) -> int:
    """Worker processes :func:`validate` forks for ``count`` stacks (1: none, all rendered in this process)."""
    jobs = min(jobs, count - len(TEMPLATES))
    return jobs if jobs > 1 and "fork" in multiprocessing.get_all_start_methods() else 1


def _before_fork() -> None:
    """Leave no thread behind and keep the warm heap out of the workers' garbage collections.

    The Pulumi runtime ran its monitor calls on the event loop's default executor; its threads are shut
    down with that loop (a forked child would not have them) and a new loop, threadless until used, takes
    its place. ``gc.freeze`` moves every object alive now out of the
    collector's reach, so a worker's collections neither scan the imported modules again nor copy their
    pages (copy-on-write), as the ``gc`` documentation advises before ``fork()``.
    """
    import asyncio

    loop = asyncio.get_event_loop_policy().get_event_loop()
    if not loop.is_running():
        if not loop.is_closed():
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
        asyncio.set_event_loop(asyncio.new_event_loop())  # for later renders here; it has no thread yet
    gc.collect()
    gc.freeze()


def _fresh_event_loop() -> None:
    """A forked worker's own asyncio loop for the Pulumi runtime.

    A parent that has rendered before (a test process) holds a loop whose executor threads did not
    survive the fork; the runtime would queue work for them forever.
    """
    import asyncio

    asyncio.set_event_loop(asyncio.new_event_loop())


def warm_up() -> None:
    """Import what every render needs and compile the chart schema, before the workers are forked.

    Only imports and pure caches: no event loop or Pulumi runtime state is made here, and each forked
    worker starts its own loop (:func:`_fresh_event_loop`), as a fresh ``python -m tools.render`` would.
    """
    import components.stack  # noqa: F401  (the program's modules, both clouds)
    import tools.render  # noqa: F401
    from components.settings import chart_schema

    chart_schema._validator()


def default_jobs() -> int:
    """One worker per CPU this process may use, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def cpu_seconds() -> float:
    """CPU time of this process and of its finished workers."""
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def peak_rss_mib() -> float:
    """Largest resident set of this process or any one finished worker."""
    return max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024  # KiB


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
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="worker processes (default: one per CPU, at most 4)")
    parser.add_argument("--keep", type=Path, help="write the stack files here instead of a temporary directory")
    parser.add_argument("--verbose", action="store_true", help="one line per stack")
    args = parser.parse_args(argv)
    if args.stacks < 1:
        parser.error("--stacks must be at least 1")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")

    start = time.perf_counter()
    cpu_start = cpu_seconds()
    with tempfile.TemporaryDirectory(prefix="render-many-") as tmp:
        dest = args.keep or Path(tmp)
        stacks = generate(args.stacks, dest)
        generated = time.perf_counter()
        warm_up()  # timed apart: the one-off cost of importing the renderer

        imported = time.perf_counter()

        def progress(result: Result) -> None:
            if args.verbose or result.error:
                status = "ok" if not result.error else f"FAILED {result.error}"
                print(f"  {result.stack.name:<20} {result.seconds * 1000:7.0f} ms  {status}", file=sys.stderr)

        results = validate(stacks, progress, jobs=args.jobs)
    total = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_start
    jobs = workers(len(results), args.jobs)

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
        + f" render {sum(seconds):.1f} s in {jobs} process{'es' if jobs > 1 else ''}); per stack mean {sum(seconds) / len(seconds) * 1000:.0f} ms,"
        + f" p95 {percentile(seconds, 95) * 1000:.0f} ms, first {seconds[0] * 1000:.0f} ms;"
        + f" CPU {cpu:.1f} s, of which rendering {sum(r.cpu for r in results):.1f} s ({sum(r.cpu for r in results) / len(results) * 1000:.0f} ms a stack);"
        + f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs;"
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
