"""The GitHub workflows: zizmor finds nothing of medium severity or above, the GitHub JSON schemas
accept them, and the delivery rules hold (OIDC only, pinned actions, least privilege, fork safety,
dev -> staging -> prod). Each external check is also shown failing on a deliberately bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require_binary
from tools.stackfile import ROOT

GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
DEPENDABOT = GITHUB / "dependabot.yml"
BIN = Path(sys.executable).parent
SEVERE = {"Medium", "High"}

ALLOWED_ZIZMOR_IGNORES = {("preview-comment.yml", "dangerous-triggers")}
"""workflow_run is how fork PRs get a comment without a write token in the job that runs PR code."""

PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v\d+(\.\d+)*$")

BAD_WORKFLOW = """\
name: bad
on: pull_request_target
permissions: write-all
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ github.event.pull_request.title }}"
"""


def zizmor(*args: str) -> list[dict[str, Any]]:
    exe = require_binary("zizmor", str(BIN / "zizmor"))
    result = subprocess.run([exe, "--offline", "--format", "json", *args], capture_output=True, text=True, check=False)
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"zizmor produced no JSON (exit {result.returncode}): {result.stderr[-2000:]}")
    raise AssertionError("unreachable")


def severe(findings: list[dict[str, Any]]) -> list[str]:
    out = []
    for finding in findings:
        if finding["determinations"]["severity"] in SEVERE:
            key = finding["locations"][0]["symbolic"]["key"] if finding.get("locations") else {}
            where = next(iter(re.findall(r'"([^"]+\.ya?ml)"', json.dumps(key))), "?")
            out.append(f"{finding['ident']} ({finding['determinations']['severity']}) in {where}")
    return out


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    exe = require_binary("check-jsonschema", str(BIN / "check-jsonschema"))
    return subprocess.run([exe, "--builtin-schema", schema, str(path)], capture_output=True, text=True, check=False)


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def workflow(name: str) -> dict[str, Any]:
    return load(GITHUB / "workflows" / name)


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def uses(step: dict[str, Any]) -> str:
    return str(step.get("uses", "")).split("@")[0].lower()


# --------------------------------------------------------------------------- zizmor
def test_zizmor_finds_nothing_of_medium_severity_or_above() -> None:
    findings = zizmor(str(GITHUB))
    assert not severe(findings), "zizmor: " + "; ".join(severe(findings))


def test_zizmor_flags_a_deliberately_bad_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW)
    idents = {f["ident"] for f in zizmor(str(bad)) if f["determinations"]["severity"] in SEVERE}
    assert {"dangerous-triggers", "template-injection", "unpinned-uses", "artipacked"} <= idents


def test_zizmor_ignores_are_the_documented_ones_and_hide_nothing_else() -> None:
    comments = []
    for path in GITHUB.rglob("*.y*ml"):
        for line in path.read_text().splitlines():
            for rule, reason in re.findall(r"zizmor: ignore\[([\w-]+)\](.*)", line):
                comments.append((path.name, rule))
                assert len(reason.strip()) > 20, f"{path.name}: ignore[{rule}] needs a reason on the same line"
    assert set(comments) <= ALLOWED_ZIZMOR_IGNORES, comments
    unignored = severe(zizmor("--no-ignores", str(GITHUB)))
    assert all(f.startswith("dangerous-triggers") and "preview-comment.yml" in f for f in unignored), unignored


# --------------------------------------------------------------------------- JSON schemas
@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_workflow_schema(path: Path) -> None:
    result = check_jsonschema("vendor.github-workflows", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_config_matches_its_schema() -> None:
    result = check_jsonschema("vendor.dependabot", DEPENDABOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_checks_reject_bad_files(tmp_path: Path) -> None:
    bad_workflow = tmp_path / "bad.yml"
    bad_workflow.write_text("name: x\non: push\njobs:\n  a:\n    steps:\n      - run: true\n")  # no runs-on
    assert check_jsonschema("vendor.github-workflows", bad_workflow).returncode != 0
    bad_dependabot = tmp_path / "dependabot.yml"
    bad_dependabot.write_text("version: 2\nupdates:\n  - package-ecosystem: cobol\n    directory: /\n")
    assert check_jsonschema("vendor.dependabot", bad_dependabot).returncode != 0


# --------------------------------------------------------------------------- delivery rules
def test_expected_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"preview.yml", "preview-comment.yml", "deploy.yml", "drift.yml", "pulumi-stacks.yml"}


def unpinned(path: Path) -> list[str]:
    """``uses:`` lines not pinned to a full commit SHA with a ``# vX.Y.Z`` comment (local ones excepted)."""
    bad = []
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*(?:-\s+)?uses:\s*(.+?)\s*$", line)
        if match and not match[1].startswith("./") and not PINNED.match(match[1]):
            bad.append(match[1])
    return bad


def permission_problems(document: dict[str, Any]) -> list[str]:
    problems = [] if document.get("permissions") == {} else ["top-level permissions are not {}"]
    for name, job in document["jobs"].items():
        if "permissions" not in job or job["permissions"] == "write-all":
            problems.append(f"job {name} has no explicit least-privilege permissions")
    return problems


def expressions_in_scripts(document: dict[str, Any]) -> list[str]:
    found = []
    for name, job in document["jobs"].items():
        for step in steps(job):
            for text in (step.get("run"), (step.get("with") or {}).get("script")):
                if text and "${{" in text:
                    found.append(f"{name}: {text.strip().splitlines()[0]}")
    return found


def credential_problems(path: Path) -> list[str]:
    problems = ["uses a stored secret"] if "secrets." in path.read_text() else []
    for name, job in load(path)["jobs"].items():
        for step in steps(job):
            if uses(step) == "actions/checkout" and (step.get("with") or {}).get("persist-credentials") is not False:
                problems.append(f"job {name}: checkout keeps the token in .git/config")
    return problems


def test_policy_checks_catch_a_bad_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW.replace('echo "', 'echo "${{ secrets.TOKEN }} '))
    assert unpinned(bad) == ["actions/checkout@v4"]
    assert permission_problems(load(bad)) and expressions_in_scripts(load(bad)) and len(credential_problems(bad)) == 2


def test_missing_tools_fail_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.conftest

    monkeypatch.setattr(tests.conftest, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        require_binary("no-such-zizmor-binary")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_follows_the_delivery_rules(path: Path) -> None:
    assert not unpinned(path), f"not pinned by SHA with a '# vX.Y.Z' comment: {unpinned(path)}"
    assert not permission_problems(load(path))
    assert not expressions_in_scripts(load(path)), "pass values to scripts through env:"
    assert not credential_problems(path)


def test_each_action_is_pinned_to_the_same_commit_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            match = re.match(r"^\s*(?:-\s+)?uses:\s*([^./][^@\s]*)@([0-9a-f]{40})", line)
            if match:
                pins.setdefault(match[1].lower(), set()).add(match[2])
    assert pins, "no pinned action found"
    drifting = {action: sorted(refs) for action, refs in pins.items() if len(refs) > 1}
    assert not drifting, f"pinned to different commits in different places: {drifting}"


def test_cloud_access_is_oidc_only_and_cluster_access_comes_from_the_cloud_identity() -> None:
    job = workflow("pulumi-stacks.yml")["jobs"]["stack"]
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    by_action = {uses(s): s for s in steps(job) if "uses" in s}
    assert by_action["aws-actions/configure-aws-credentials"]["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    assert set(by_action["azure/login"]["with"]) >= {"client-id", "tenant-id", "subscription-id"}
    assert by_action["pulumi/auth-actions"]["with"]["requested-token-type"].startswith("urn:pulumi:token-type:access_token:")
    operations = [s for s in steps(job) if s.get("id") in ("pulumi", "drift")]  # pulumi/actions, and the CLI for drift
    assert len(operations) == 2
    for step in operations:
        assert {"ARM_USE_OIDC", "ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID", "KUBECONFIG"} <= set(step["env"])
    assert uses(operations[0]) == "pulumi/actions" and operations[0]["with"]["stack-name"].startswith("${{ vars.PULUMI_ORG }}/")
    scripts = "\n".join(s.get("run", "") for s in steps(job))
    assert "aws eks update-kubeconfig" in scripts and "az aks get-credentials" in scripts
    assert "kubelogin convert-kubeconfig --login azurecli" in scripts
    assert "matrix.stack" in job["concurrency"]["group"] and job["concurrency"]["cancel-in-progress"] is False


def test_rollout_runs_dev_then_staging_then_prod_with_prod_behind_reviewers() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    for env in ("dev", "staging", "prod"):
        assert jobs[env]["uses"] == "./.github/workflows/pulumi-stacks.yml"
        assert jobs[env]["with"]["command"] == "up" and jobs[env]["with"]["upsert"] is True
        assert jobs[env]["with"]["stacks"] == f"${{{{ needs.affected.outputs.{env} }}}}"
    assert jobs["dev"]["needs"] == "affected"
    assert "dev" in jobs["staging"]["needs"] and {"dev", "staging"} <= set(jobs["prod"]["needs"])
    for env, previous in (("staging", ["dev"]), ("prod", ["dev", "staging"])):
        for job in previous:  # never after a failure upstream
            assert f"needs.{job}.result == 'success' || needs.{job}.result == 'skipped'" in jobs[env]["if"]
    assert jobs["prod"]["with"]["environment"] == "production"
    assert workflow("deploy.yml")["on"]["push"]["branches"] == ["main"]


def test_fork_prs_get_the_comment_without_a_write_token_where_pr_code_runs() -> None:
    preview = workflow("preview.yml")
    assert set(preview["on"]) == {"pull_request"}
    for name, job in preview["jobs"].items():
        writes = {k for k, v in (job.get("permissions") or {}).items() if v == "write"}
        if "uses" in job:  # cloud previews: same-repository PRs only, OIDC but no write scope
            assert writes == {"id-token"}, name
            assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]
            assert job["with"]["command"] == "preview" and job["with"]["upsert"] is True
        else:
            assert not writes, f"preview.yml/{name} runs PR code and must not write"

    commenter = workflow("preview-comment.yml")
    assert set(commenter["on"]) == {"workflow_run"} and commenter["on"]["workflow_run"]["workflows"] == [preview["name"]]
    for job in commenter["jobs"].values():
        assert all("run" not in s for s in steps(job)), "the commenting job runs no shell"
        assert {uses(s) for s in steps(job)} == {"actions/download-artifact", "actions/github-script"}  # no checkout
        script = next(s for s in steps(job) if uses(s) == "actions/github-script")["with"]["script"]
        assert "pr.head.sha !== run.head_sha" in script  # the PR number from the artifact is verified


def test_drift_is_checked_on_a_schedule_and_reported_in_an_issue() -> None:
    drift = workflow("drift.yml")
    assert "schedule" in drift["on"]
    for env in ("dev", "staging", "prod"):
        assert drift["jobs"][env]["with"]["command"] == "drift"
        assert drift["jobs"][env]["with"]["environment"] == f"preview-{env}"
    assert drift["jobs"]["report"]["permissions"] == {"actions": "read", "issues": "write"}
    script = "\n".join(s.get("run", "") for s in steps(workflow("pulumi-stacks.yml")["jobs"]["stack"]))
    assert "--preview-only --expect-no-changes" in script and "pulumi preview --stack" in script


def test_dependabot_updates_python_packages_and_actions() -> None:
    ecosystems = {u["package-ecosystem"] for u in yaml.safe_load(DEPENDABOT.read_text())["updates"]}
    assert ecosystems >= {"uv", "github-actions"}


def test_esc_environments_are_pushed_before_pulumi_up_and_never_by_a_preview() -> None:
    job = workflow("pulumi-stacks.yml")["jobs"]["stack"]
    names = [s.get("name", "") for s in steps(job)]
    push = next(s for s in steps(job) if "environments/" in s.get("name", ""))
    operation = next(i for i, s in enumerate(steps(job)) if s.get("id") == "pulumi")
    cli = next(i for i, s in enumerate(steps(job)) if s.get("name") == "Pulumi CLI")
    assert cli < names.index(push["name"]) < operation  # the CLI first, then the push, then pulumi up
    assert push["env"]["ENVIRONMENTS"] == "${{ join(matrix.environments, ' ') }}"  # tools.affected's list, imports first
    script = push["run"]
    assert 'pulumi env edit "$ORG/$ref" --file "$file"' in script and 'pulumi env init "$ORG/$ref" --file "$file"' in script
    guarded = script.split('if [ "$COMMAND" = up ]; then', 1)
    assert len(guarded) == 2 and "pulumi env edit" not in guarded[0] and "env edit" not in guarded[1].split("elif", 1)[1]
