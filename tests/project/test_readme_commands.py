"""Every command the README tells a reader to run is exercised: run here, run by ``.ci/run``, or (cloud and
cluster commands, which cannot run without a cloud) at least checked to parse against the tool's known
subcommands and flags, with stack names and config keys that exist.

A command is a line of a ``bash``/``sh``/``shell``/``console`` code block (comments stripped), or an inline
code span whose first word is one of :data:`EXECUTABLES` followed by arguments (or a ``scripts/*.sh`` path).
A new README command that is in none of :data:`RUN_HERE`, :data:`CI_RUN` and the parsed tools fails
:func:`test_every_readme_command_is_exercised`; a mapping whose command left the README fails too.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tools.stackfile import ROOT

README = ROOT / "README.md"
EXECUTABLES = ("pulumi", "python", "python3", ".venv/bin/python", "bash", "uv", "helm", "kubectl", "aws", "az", "kubelogin", "esc")


def readme_commands(text: str | None = None) -> list[str]:
    """Commands in the README, whitespace collapsed, in order of appearance, each once."""
    text = README.read_text() if text is None else text
    found: list[str] = []
    for match in re.finditer(r"^```(bash|sh|shell|console)\n(.*?)^```", text, re.S | re.M):
        for line in match[2].replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line.removeprefix("$ ")).strip()
            if line and not line.startswith("#"):
                found.append(line)
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    for match in re.finditer(r"`([^`\n]+)`", prose):
        words = match[1].split()
        if (words[0] in EXECUTABLES and len(words) > 1) or re.fullmatch(r"scripts/[\w-]+\.sh", words[0]):
            found.append(match[1])
    return list(dict.fromkeys(" ".join(c.split()) for c in found))


# --------------------------------------------------------------------------- commands run here
def _python(*args: str, cwd: Path = ROOT, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([str(ROOT / ".venv/bin/python"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(args)}: exit {result.returncode}\n{result.stderr[-2000:]}"
    return result


def _args(command: str, **substitutions: str) -> list[str]:
    """The README command's arguments after ``-m <module>``, placeholders substituted, ``[...]`` options dropped."""
    for placeholder, value in substitutions.items():
        command = command.replace(placeholder, value)
    command = re.sub(r"\s*\[[^\]]*\]", "", command)
    assert "<" not in command and "..." not in command, f"unsubstituted placeholder in {command!r}"
    words = shlex.split(command)
    return words[words.index("-m") :]


def run_render(command: str, tmp: Path) -> None:
    for options in ([], ["--show-secrets"]):  # with and without the optional flag
        out = tmp / f"out{len(options)}"
        _python(*_args(command, **{"<stack>": "payments-dev", "DIR": str(out)}), *options)
        assert sorted(p.name for p in out.iterdir()) == ["outputs.json", "resources.json", "values.yaml"]


AWS_IDS = (
    "--region eu-west-1 --vpc-id vpc-0a1b2c3d4e5f60718 --subnet-ids subnet-0a1b2c3d4e5f60001 subnet-0a1b2c3d4e5f60002 "
    "--cluster-security-group-id sg-0a1b2c3d4e5f60099 "
    "--oidc-provider-arn arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/5C2E1D4A9B8F7E6D5C4B3A2918070605"
)


def run_new_stack_then_render(command: str, tmp: Path) -> None:
    """The onboarding pair: new_stack as the README writes it, then its render with unset secrets."""
    new_stack = next(c for c in readme_commands() if "-m tools.new_stack" in c)
    subs = {"<team>": "demo", "<env>": "dev", "aws|azure": "aws", "<url>": "https://github.com/acme/demo-dags.git", "...": AWS_IDS}
    _python(*_args(new_stack, **subs), "--out", str(tmp / "config"))
    assert (tmp / "environments" / "demo" / "dev.yaml").exists() and (tmp / "environments" / "demo" / "team.yaml").exists()
    render = next(c for c in readme_commands() if "--allow-unset-secrets" in c and "-m tools.render " in c)
    out = _args(render, **{"<team>": "demo", "<env>": "dev", "/tmp/": f"{tmp}/"})
    result = _python(*out, cwd=tmp)  # config/Pulumi.demo-dev.yaml relative to the scratch repository, as written
    assert "UNSET SECRETS (offline stand-ins): gitDemoDagsToken" in result.stdout


def _scratch_repo(tmp: Path) -> Path:
    """A repository with one example and the environments, ``origin/main`` at the base, a change on HEAD."""
    require_binary("git")
    repo = tmp / "repo"
    (repo / "config").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", repo)
    shutil.copy(ROOT / "config" / "Pulumi.research-dev.yaml", repo / "config")
    shutil.copytree(ROOT / "environments", repo / "environments")

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args], check=True, capture_output=True
        )

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "base")
    git("update-ref", "refs/remotes/origin/main", "HEAD")
    dev = repo / "environments" / "airflow-platform" / "dev.yaml"
    dev.write_text(dev.read_text().replace("schedulerReplicas: 1", "schedulerReplicas: 2"))
    git("commit", "-q", "-am", "two schedulers")
    return repo


def run_affected(command: str, tmp: Path) -> None:
    repo = _scratch_repo(tmp)
    result = _python(*_args(command), cwd=repo)
    assert '"change": "environment"' in result.stdout and '"stack": "research-dev"' in result.stdout


def run_render_diff(command: str, tmp: Path) -> None:
    repo = _scratch_repo(tmp)
    _python(*_args(command, **{"/tmp/": f"{tmp}/"}), cwd=repo)
    text = (tmp / "comment.md").read_text()
    assert "research-dev" in text and "+  replicas: 2" in text


def run_render_example(command: str, tmp: Path) -> None:
    """The script as written, in this repository, where ``.ci/run`` has already set up ``.venv`` (its bootstrap is a no-op).

    Its output goes where the README says, ``render-out/<stack>/`` (git-ignored); the files must be written by this run.
    """
    require_binary("bash")
    words = shlex.split(command)
    started = time.time()
    result = subprocess.run(words, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    stack = next((w for w in words if w.startswith("config/")), "config/Pulumi.payments-prod.yaml")
    out = ROOT / "render-out" / Path(stack).stem.removeprefix("Pulumi.")
    written = {p.name: p.stat().st_mtime for p in out.iterdir()}
    assert sorted(written) == ["outputs.json", "resources.json", "values.yaml"]
    assert min(written.values()) >= started - 1, f"{out} was not written by this run"


RUN_HERE: dict[str, Callable[[str, Path], None] | str] = {
    "bash scripts/render-example.sh": run_render_example,
    "bash scripts/render-example.sh config/Pulumi.research-prod.yaml": run_render_example,
    ".venv/bin/python -m tools.render config/Pulumi.<stack>.yaml --out DIR [--show-secrets]": run_render,
    "python -m tools.new_stack <team> <env> --cloud aws|azure [--mode remote-execution] --dags-repo <url> ...": run_new_stack_then_render,
    # run by run_new_stack_then_render, right after the new_stack command above
    "python -m tools.render config/Pulumi.<team>-<env>.yaml --out /tmp/<team>-<env> --allow-unset-secrets": (
        "tests/project/test_readme_commands.py::test_readme_command_runs_offline"
    ),
    "python -m tools.affected --base origin/main": run_affected,
    ".venv/bin/python -m tools.render_diff --base origin/main --out /tmp/comment.md": run_render_diff,
    "python -m tools.render": "tests/project/test_readme_commands.py::test_readme_command_runs_offline",  # run_render
    # the same main() with 2 stacks (the 100-stack run is the benchmark itself, about 35 s of CPU)
    ".venv/bin/python -m benchmarks.render_many --stacks 100": "tests/project/test_benchmark.py::test_main_reports_and_enforces_the_budget",
    # tools.docs --write rewrites the README in place: its check mode proves --write has nothing to change
    "python -m tools.docs --write": "tests/project/test_docs.py::test_readme_settings_reference_and_component_tables_are_current",
}
"""README command -> the function here that runs it (README arguments, placeholders filled), or the test that does."""

CI_RUN = {
    "bash scripts/test.sh": "scripts/test.sh",
    "scripts/test.sh": "scripts/test.sh",
    "scripts/bootstrap.sh": "scripts/bootstrap.sh --dev",
    "scripts/contract-envs.sh": "scripts/contract-envs.sh",
}
"""README command -> the line of scripts/test.sh (what ``.ci/run`` runs) that runs it."""


# --------------------------------------------------------------------------- commands that need a cloud
PULUMI = {
    ("stack", "select"): set(),
    ("stack", "init"): set(),
    ("stack", "rm"): set(),
    ("stack", "output"): {"--show-secrets", "--json"},
    ("config", "set"): {"--secret", "--plaintext", "--path"},
    ("preview",): {"--diff", "--policy-pack", "--policy-pack-config", "--expect-no-changes", "--stack"},
    ("up",): {"--yes", "--diff", "--stack", "--policy-pack"},
    ("destroy",): {"--yes", "--stack"},
    ("refresh",): {"--preview-only", "--expect-no-changes", "--diff", "--stack"},
    ("state", "unprotect"): set(),
    ("import",): set(),
    ("env", "init"): {"--file"},
    ("env", "edit"): {"--file", "--draft"},
    ("env", "get"): {"--definition", "--show-secrets", "--value"},
    ("env", "set"): {"--secret", "--plaintext"},
}
"""``pulumi`` subcommands and the flags the README may use with them (Pulumi CLI 3.x reference)."""
OTHER = {
    "aws": {
        ("eks", "update-kubeconfig"),
        ("secretsmanager", "put-secret-value"),
        ("secretsmanager", "restore-secret"),
        ("rds", "modify-db-instance"),
    },
    "az": {("aks", "get-credentials"), ("role", "assignment", "list")},
    "helm": {("history",), ("rollback",), ("uninstall",)},
    "kubectl": {("exec",), ("get",), ("describe",), ("port-forward",), ("logs",)},
    "kubelogin": {("convert-kubeconfig",), ("get-token",)},
    "uv": {("lock",), ("sync",)},
    "scripts/contract-envs.sh": {()},
    "scripts/bootstrap.sh": {()},
}
FLAGS = {
    "aws": {
        "--secret-id",
        "--secret-string",
        "--query",
        "--output",
        "--region",
        "--name",
        "--rotate-master-user-password",
        "--db-instance-identifier",
    },
    "az": {"--resource-group", "--name", "--subscription", "--scope"},
    "helm": {"-n"},
    "kubectl": {"-n", "-c"},
    "kubelogin": {"-l", "--login"},
    "uv": {"--upgrade-package", "--locked", "--check"},
    "scripts/contract-envs.sh": {"--compile"},
    "scripts/bootstrap.sh": {"--compile-checkov"},
}
VALUE_FLAGS = {"-n", "-l", "--login", "--secret-id", "--secret-string", "--query", "--output", "--upgrade-package"}
VALUE_FLAGS |= {
    "-c",
    "--scope",
    "--db-instance-identifier",
    "--policy-pack",
    "--policy-pack-config",
    "--stack",
    "--file",
    "--value",
    "--draft",
}


def parse_tool_command(command: str) -> str | None:
    """Why ``command`` is not a known subcommand with known flags of its tool, or None when it is."""
    words = shlex.split(command.replace("|", " "))
    tool, rest = words[0], words[1:]
    table = PULUMI if tool == "pulumi" else {key: FLAGS[tool] for key in OTHER[tool]} if tool in OTHER else None
    if table is None:
        return f"{tool}: not a tool this test knows"
    positional, flags, skip = [], [], False
    for word in rest:
        if skip:
            skip = False
        elif word.startswith("-") and word != "--":
            flags.append(word.split("=", 1)[0])
            skip = word in VALUE_FLAGS
        elif word == "--":
            break
        else:
            positional.append(word)
    sub = next((key for n in (3, 2, 1, 0) if (key := tuple(positional[:n])) in table), None)
    if sub is None:
        return f"{tool} {' '.join(positional[:2])}: unknown subcommand"
    unknown = [f for f in flags if f not in table[sub]]
    if unknown:
        return f"{tool} {' '.join(sub)}: unknown flags {unknown}"
    args = positional[len(sub) :]
    if (
        tool == "pulumi"
        and sub == ("stack", "select")
        and args
        and "<" not in args[0]
        and not (ROOT / "config" / f"Pulumi.{args[0]}.yaml").exists()
    ):
        return f"stack {args[0]} has no config/Pulumi.{args[0]}.yaml"
    project_key = args and not args[0].startswith("<") and (":" not in args[0] or args[0].startswith("airflow-platform:"))
    if tool == "pulumi" and sub == ("config", "set") and project_key:
        known = "\n".join(p.read_text() for p in [ROOT / "Pulumi.yaml", *(ROOT / "config").glob("Pulumi.*.yaml")])
        if args[0].split(":")[-1] not in known:
            return f"config key {args[0]} is set nowhere in Pulumi.yaml or config/"
    return None


def is_tool_command(command: str) -> bool:
    first = command.split()[0]
    return first in PULUMI_TOOLS or first in OTHER


PULUMI_TOOLS = {"pulumi"}


# --------------------------------------------------------------------------- the tests
def test_every_readme_command_is_exercised() -> None:
    commands = readme_commands()
    assert len(commands) > 10, commands
    unmapped = [c for c in commands if c not in RUN_HERE and c not in CI_RUN and not is_tool_command(c)]
    assert unmapped == [], "add each to RUN_HERE (a runner), CI_RUN or the tool tables of this module"
    gone = sorted(c for c in [*RUN_HERE, *CI_RUN] if c not in commands)
    assert gone == [], "mapped commands no longer in the README: drop them from the mapping"


def test_commands_ci_runs_are_in_the_test_script_ci_runs() -> None:
    assert 'scripts/test.sh"' in (ROOT / ".ci" / "run").read_text()
    script = (ROOT / "scripts" / "test.sh").read_text().splitlines()
    for command, line in CI_RUN.items():
        assert line == "scripts/test.sh" or any(s.strip().startswith(line) for s in script), command


def test_tests_named_by_the_mapping_exist() -> None:
    for command, target in RUN_HERE.items():
        if isinstance(target, str):
            path, name = target.split("::")
            functions = {n.name for n in ast.walk(ast.parse((ROOT / path).read_text())) if isinstance(n, ast.FunctionDef)}
            assert name in functions, f"{command}: {target} does not exist"


@pytest.mark.parametrize("command", [c for c in readme_commands() if is_tool_command(c)])
def test_cloud_and_cluster_commands_parse(command: str) -> None:
    assert parse_tool_command(command) is None


@pytest.mark.parametrize("command", sorted(c for c, run in RUN_HERE.items() if callable(run)))
def test_readme_command_runs_offline(command: str, tmp_path: Path) -> None:
    assert command in readme_commands(), "the README no longer says this"
    RUN_HERE[command](command, tmp_path)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("pulumi stack select nobody-prod", "has no config/Pulumi.nobody-prod.yaml"),
        ("pulumi preview --dif", "unknown flags ['--dif']"),
        ("pulumi stack selekt payments-prod", "unknown subcommand"),
        ("pulumi config set --secret gitNobodyToken x", "set nowhere"),
        ("kubectl -n ns apply -f x.yaml", "unknown subcommand"),
    ],
)
def test_the_parser_refuses_what_the_cli_would(command: str, problem: str) -> None:
    assert problem in (parse_tool_command(command) or "")


def test_extraction_finds_new_commands() -> None:
    text = "```bash\npython -m tools.newthing --x  # comment\n```\nthen `pulumi up --yes` and `aws:region` (not a command)\n"
    assert readme_commands(text) == ["python -m tools.newthing --x", "pulumi up --yes"]
    assert sys.executable  # the offline runs use .venv/bin/python, as the README does
