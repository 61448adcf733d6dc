"""tools.render_diff: the PR comment rendered from two revisions of a stack, plus its pure parts (tools.stack_diff, tools.diff_comment)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tools import affected as affected_mod
from tools import diff_comment, render_diff, stack_diff
from tools.diff_comment import MARKER
from tools.stack_diff import ResourceChange, StackDiff, StackRender, ValuesDiff
from tools.stackfile import ROOT

EXAMPLE = "research-dev"  # Azure, self-hosted, schedulerReplicas: 1 (from the ESC environment airflow-platform/dev)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def stack_repo(tmp_path: Path) -> tuple[Path, str]:
    """A repository with this project's Pulumi.yaml and one example stack file; returns (repo, base)."""
    require_binary("git")
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    shutil.copy(ROOT / "Pulumi.yaml", repo / "Pulumi.yaml")
    shutil.copy(ROOT / "config" / f"Pulumi.{EXAMPLE}.yaml", repo / "config" / f"Pulumi.{EXAMPLE}.yaml")
    shutil.copytree(ROOT / "environments", repo / "environments")
    (repo / ".github").mkdir()
    (repo / affected_mod.EXAMPLES_FILE).write_text(f"{EXAMPLE}\n")
    return repo, commit(repo, "base")


def edit_stack(repo: Path, old: str, new: str) -> None:
    path = repo / "config" / f"Pulumi.{EXAMPLE}.yaml"
    text = path.read_text()
    assert old in text, f"{old!r} not in the example any more"
    path.write_text(text.replace(old, new))


def run_diff(repo: Path, base: str) -> tuple[affected_mod.Affected, list[StackDiff], str]:
    result = affected_mod.compute(repo, base)
    diffs = render_diff.render_diffs(repo, result)
    return result, diffs, diff_comment.comment(result, diffs)


# --------------------------------------------------------------------------- rendered revisions
def test_should_show_a_scheduler_replicas_change_as_a_values_diff_and_a_changed_release(stack_repo) -> None:
    repo, base = stack_repo
    edit_stack(repo, "config:\n", "config:\n  airflow-platform:schedulerReplicas: 3\n")  # the stack file wins
    commit(repo, "three schedulers")
    result, diffs, text = run_diff(repo, base)

    assert [s.stack for s in result.stacks] == [EXAMPLE] and not result.program_changed
    (diff,) = diffs
    (values,) = diff.values
    assert "-  replicas: 1" in values.lines and "+  replicas: 3" in values.lines
    (release,) = diff.resources
    # more schedulers are more database clients: the connection budget resizes PgBouncer's pool, whose
    # config Secret (pgbouncer.ini) changes, so the PgBouncer pods roll (their checksum annotation)
    assert (release.action, release.type, release.paths) == (
        "update",
        "kubernetes:helm.sh/v3:Release",
        [
            "values.pgbouncer.metadataPoolSize",
            "values.pgbouncer.podAnnotations.checksum/airflow-platform-secrets",
            "values.scheduler.replicas",
        ],
    )

    assert text.startswith(MARKER)
    assert "-  replicas: 1\n+  replicas: 3" in text
    assert "| ~ update | `kubernetes:helm.sh/v3:Release` |" in text and "`values.scheduler.replicas`" in text
    assert f"`{EXAMPLE}` *(example)*" in text  # the examples list marks it
    assert len(text) < diff_comment.GITHUB_COMMENT_LIMIT


def test_should_mark_a_key_vault_rename_as_replacements(stack_repo) -> None:
    repo, base = stack_repo
    edit_stack(repo, "name: kv-research-dev-af", "name: kv-research-dev-ag")
    commit(repo, "rename the vault")
    _, (diff,), text = run_diff(repo, base)
    replaced = {(c.type, c.name): c for c in diff.resources if c.action == "replace"}
    vault = next(c for (t, _), c in replaced.items() if t == "azure-native:keyvault:Vault")
    assert "vaultName" in vault.replace_paths
    assignment = next(c for (t, _), c in replaced.items() if t == "azure-native:authorization:RoleAssignment")
    assert assignment.replace_paths == ["scope"]  # the reader's role is scoped to the vault
    assert "± **replace**" in text and "**`vaultName`**" in text


def test_should_render_each_revision_with_its_own_environments(stack_repo) -> None:
    repo, base = stack_repo
    org = repo / "environments" / "airflow-platform" / "dev.yaml"
    org.write_text(org.read_text().replace("schedulerReplicas: 1", "schedulerReplicas: 2"))
    commit(repo, "two schedulers for every dev stack")
    result, diffs, _text = run_diff(repo, base)
    assert [(s.stack, s.change) for s in result.stacks] == [(EXAMPLE, "environment")]
    (values,) = diffs[0].values
    assert "-  replicas: 1" in values.lines and "+  replicas: 2" in values.lines


def test_should_show_that_the_head_does_not_render_and_exit_1(stack_repo, capsys) -> None:
    repo, base = stack_repo
    edit_stack(repo, "config:\n", "config:\n  airflow-platform:executor: SequentialExecutor\n")
    commit(repo, "bad executor")
    out = repo / "comment.md"
    assert render_diff.main(["--repo", str(repo), "--base", base, "--out", str(out)]) == 1
    text = out.read_text()
    assert "does not render" in text and "airflow-platform:executor" in text and "SequentialExecutor" in text
    assert f"head render failed for {EXAMPLE}" in capsys.readouterr().err


def test_should_report_no_change_when_only_a_comment_changed(stack_repo) -> None:
    repo, base = stack_repo
    (repo / "config" / f"Pulumi.{EXAMPLE}.yaml").write_text("# reworded\n" + (repo / "config" / f"Pulumi.{EXAMPLE}.yaml").read_text())
    commit(repo, "comment")
    _, (diff,), text = run_diff(repo, base)
    assert diff.unchanged
    assert f"No change in 1 stack: `{EXAMPLE}`" in text


def test_should_render_the_base_program_in_its_own_process_when_the_program_changed(tmp_path: Path) -> None:
    """A program change (here a Pulumi.yaml default) renders base and head each with its own code."""
    require_binary("git")
    repo = tmp_path / "program"
    repo.mkdir()
    render_diff.export_revision(ROOT, "HEAD", repo)  # this repository's committed program
    git(repo, "init", "-q", "-b", "main")
    base = commit(repo, "base")
    pulumi_yaml = repo / "Pulumi.yaml"
    text = pulumi_yaml.read_text()
    old = "  schedulerReplicas:\n    type: integer\n    default: 2\n"
    assert old in text
    pulumi_yaml.write_text(text.replace(old, old.replace("default: 2", "default: 4")))
    commit(repo, "four schedulers by default")

    result = affected_mod.compute(repo, base, only=["research-prod"])  # a stack that keeps the default
    assert result.program_files == ["Pulumi.yaml"]
    (diff,) = render_diff.render_diffs(repo, result, program_root=None)
    assert not diff.head_error and not diff.base_error
    (values,) = diff.values
    assert "-  replicas: 2" in values.lines and "+  replicas: 4" in values.lines


# --------------------------------------------------------------------------- pure parts
def resource(type_: str, name: str, inputs: dict, parent: str | None = "p", protect: bool = False, ignore: list[str] | None = None) -> dict:
    return {"type": type_, "name": name, "parent": parent, "inputs": inputs, "protect": protect, "ignore_changes": ignore or []}


def test_should_classify_added_removed_updated_and_replaced_resources() -> None:
    base = StackRender(
        resources=[
            resource("aws:rds/instance:Instance", "db", {"identifier": "a", "instanceClass": "db.t4g.medium"}, protect=True),
            resource("aws:rds/instance:Instance", "db2", {"identifier": "b", "instanceClass": "db.t4g.medium"}),
            resource("kubernetes:core/v1:Secret", "gone", {"metadata": {"name": "x"}}, protect=True),
            resource(
                "aws:secretsmanager/secretVersion:SecretVersion",
                "ext",
                {"secretString": "[secret]", "secretId": "s"},
                ignore=["secretString"],
            ),
            resource("random:index/randomPassword:RandomPassword", "pw", {"length": 32}),
            resource("kubernetes:core/v1:Namespace", "ns", {"metadata": {"name": "airflow"}}, parent="old"),
        ]
    )
    head = StackRender(
        resources=[
            resource("aws:rds/instance:Instance", "db", {"identifier": "a2", "instanceClass": "db.r7g.large"}, protect=True),
            resource("aws:rds/instance:Instance", "db2", {"identifier": "b", "instanceClass": "db.r7g.large"}),
            resource("kubernetes:core/v1:Secret", "new", {"metadata": {"name": "y"}}),
            resource(
                "aws:secretsmanager/secretVersion:SecretVersion", "ext", {"secretString": "{}", "secretId": "s"}, ignore=["secretString"]
            ),
            resource("random:index/randomPassword:RandomPassword", "pw", {"length": 40}),
            resource("kubernetes:core/v1:Namespace", "ns", {"metadata": {"name": "airflow"}}, parent="new"),
        ]
    )
    changes = {c.name: c for c in stack_diff.diff_resources(base, head)}
    assert changes["db"].action == "replace" and changes["db"].replace_paths == ["identifier"] and changes["db"].protect
    assert changes["db2"].action == "update" and changes["db2"].paths == ["instanceClass"]
    assert changes["gone"].action == "remove" and changes["gone"].protect
    assert changes["new"].action == "add"
    assert "ext" not in changes  # only an ignore_changes path differs: Pulumi will not touch it
    assert changes["pw"].action == "replace"  # random: any change replaces
    assert changes["ns"].action == "replace" and changes["ns"].paths[0].startswith("(parent old -> new)")


def test_should_show_every_resource_as_added_for_a_new_stack() -> None:
    head = StackRender(resources=[resource("kubernetes:helm.sh/v3:Release", "r", {"values": {"a": 1}})])
    entry = affected_mod.StackEntry("new-dev", "config/Pulumi.new-dev.yaml", "dev", "aws", "added", False)
    diff = stack_diff.diff_stack(entry, None, head)
    assert diff.new_stack and [c.action for c in diff.resources] == ["add"]
    assert diff.values[0].added == 1 and diff.values[0].removed == 0


def test_should_keep_code_fences_closed_whatever_the_values_contain() -> None:
    text = "value: ```` @someone ``` done"
    fenced = diff_comment.fence(text, "diff")
    assert fenced.startswith("`````diff\n") and fenced.endswith("\n`````")
    assert diff_comment.code("a|b") == "`a\\|b`"


def synthetic(n: int, lines_each: int) -> tuple[affected_mod.Affected, list[StackDiff]]:
    entries = [
        affected_mod.StackEntry(f"team{i:03d}-prod", f"config/Pulumi.team{i:03d}-prod.yaml", "prod", "aws", "program", False)
        for i in range(n)
    ]
    result = affected_mod.Affected(base="a" * 40, head="b" * 40, program_changed=True, program_files=["components/x.py"], stacks=entries)
    diffs = []
    for e in entries:
        lines = [
            "--- base",
            "+++ head",
            "@@ -1 +1 @@",
            *[f"-old line {j}" for j in range(lines_each)],
            *[f"+new line {j}" for j in range(lines_each)],
        ]
        d = StackDiff(e.stack, e.environment, e.change, e.example)
        d.values = [ValuesDiff("airflow-release", lines, lines_each, lines_each)]
        d.resources = [ResourceChange("update", "kubernetes:helm.sh/v3:Release", "airflow-release", ["values.x"])]
        diffs.append(d)
    return result, diffs


def test_should_truncate_to_the_comment_limit_and_say_what_is_missing() -> None:
    result, diffs = synthetic(100, 40)
    text = diff_comment.comment(result, diffs)
    assert len(text) <= diff_comment.GITHUB_COMMENT_LIMIT
    assert "**Truncated:**" in text and "team099-prod" in text  # named even though not shown
    full = diff_comment.comment(result, diffs, None)
    assert len(full) > diff_comment.GITHUB_COMMENT_LIMIT and "Truncated" not in full
    small = diff_comment.comment(result, diffs, 3000)
    assert len(small) <= 3000 and "Truncated" in small


def test_should_cap_one_huge_values_diff_in_the_comment_but_not_in_the_full_text() -> None:
    result, diffs = synthetic(1, 2000)
    text = diff_comment.comment(result, diffs)
    assert "more lines (see the full comment artifact)" in text and len(text) <= diff_comment.GITHUB_COMMENT_LIMIT
    assert "+new line 1999" in diff_comment.comment(result, diffs, None)


def test_should_say_why_when_the_affected_stacks_cannot_be_determined(stack_repo) -> None:
    repo, base = stack_repo
    edit_stack(repo, "config:\n", "config:\n  airflow-platform:environment: qa\n")
    commit(repo, "bad environment")
    out = repo / "comment.md"
    assert render_diff.main(["--repo", str(repo), "--base", base, "--out", str(out)]) == 2
    assert out.read_text().startswith(MARKER) and "must be one of dev, staging, prod" in out.read_text()


def test_should_render_a_new_teams_stack_whose_secrets_are_not_set_yet(tmp_path: Path) -> None:
    """A PR that adds a team's stack file has no ``secure:`` values yet: the head render still works."""
    text = (ROOT / "config" / "Pulumi.payments-prod.yaml").read_text()
    start = text.index("  airflow-platform:gitPaymentsDagsToken:")
    new_stack = tmp_path / "config" / "Pulumi.ledger-prod.yaml"
    new_stack.parent.mkdir()
    shutil.copytree(ROOT / "environments", tmp_path / "environments")  # as write_stack_files lays a revision out
    new_stack.write_text(text[:start].replace("config:\n", "config:\n  airflow-platform:team: ledger\n"))
    rendered = render_diff.render_in_process(new_stack, ROOT)
    assert rendered.error is None, rendered.error
    assert any(r["type"] == "kubernetes:helm.sh/v3:Release" for r in rendered.resources)


def test_should_say_why_when_git_cannot_read_the_repository(tmp_path: Path) -> None:
    require_binary("git")
    out = tmp_path / "comment.md"
    assert render_diff.main(["--repo", str(tmp_path), "--base", "HEAD", "--out", str(out)]) == 2
    assert out.read_text().startswith(MARKER) and "not a git repository" in out.read_text()
