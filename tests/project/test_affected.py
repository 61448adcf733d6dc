"""tools.affected: which stacks a change affects, in rollout order, on a throw-away git repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tools import affected
from tools.affected import ENVIRONMENTS, EXAMPLES_FILE, AffectedError, compute
from tools.git_revisions import files_at
from tools.stackfile import ROOT

PROJECT = "airflow-platform"


def stack_yaml(environment: str, cloud: str = "aws", team: str = "t") -> str:
    lines = ["config:", f"  {PROJECT}:cloud: {cloud}", f"  {PROJECT}:environment: {environment}", f"  {PROJECT}:team: {team}"]
    if cloud == "aws":
        lines += ["  aws:region: eu-west-1", f"  {PROJECT}:aws:", "    oidcIssuerUrl: https://oidc.eks.eu-west-1.amazonaws.com/id/ABC"]
    else:
        lines += [
            f"  {PROJECT}:azure:",
            "    tenantId: 11111111-1111-4111-8111-111111111111",
            "    subscriptionId: 22222222-2222-4222-8222-222222222222",
            "    oidcIssuerUrl: https://westeurope.oic.prod-aks.azure.com/tenant/cluster/",
        ]
    return "\n".join(lines) + "\n"


class Repo:
    """A git repository shaped like this one: program files, stack files, the examples list."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")
        self.write("Pulumi.yaml", f"name: {PROJECT}\nruntime: python\nstackConfigDir: config\n")
        self.write("__main__.py", "import components.stack\n")
        self.write("components/stack.py", "X = 1\n")
        self.write("requirements.txt", "pulumi>=3,<4\n")
        self.write("tools/__init__.py", "")
        self.write("tools/render.py", "from tools.mocks import RecordingMocks\nfrom tools import stackfile\nimport yaml\n")
        self.write("tools/mocks.py", "from .helpers import digest\nRecordingMocks = object\n")
        self.write("tools/helpers.py", "def digest(): ...\n")
        self.write("tools/stackfile.py", "ROOT = None\n")
        self.write("tools/docs.py", "import tools.render\n")  # imports the renderer, is not imported by it
        self.write("README.md", "# readme\n")
        self.write("config/Pulumi.alpha-dev.yaml", stack_yaml("dev"))
        self.write("config/Pulumi.alpha-staging.yaml", stack_yaml("staging"))
        self.write("config/Pulumi.alpha-prod.yaml", stack_yaml("prod"))
        self.write("config/Pulumi.beta-prod.yaml", stack_yaml("prod", cloud="azure"))
        self.write("config/Pulumi.demo-dev.yaml", stack_yaml("dev"))
        self.write(EXAMPLES_FILE, "# examples\ndemo-dev  # documents the program\n")
        self.base = self.commit("base")

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.path), *args], check=True, capture_output=True, text=True).stdout

    def write(self, rel: str, text: str) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    require_binary("git")
    return Repo(tmp_path / "repo")


def names(result: affected.Affected) -> list[str]:
    return [s.stack for s in result.stacks]


def test_should_affect_only_the_stack_whose_file_changed(repo: Repo) -> None:
    repo.write("config/Pulumi.alpha-prod.yaml", stack_yaml("prod") + f"  {PROJECT}:schedulerReplicas: 3\n")
    repo.commit("scale")
    result = compute(repo.path, repo.base)
    assert names(result) == ["alpha-prod"]
    assert result.stacks[0].change == "modified" and result.stacks[0].environment == "prod"
    assert not result.program_changed
    assert [e["stack"] for e in result.document()["rollout"]["prod"]["include"]] == ["alpha-prod"]
    assert result.document()["rollout"]["dev"] == {"include": []}


@pytest.mark.parametrize(
    "path",
    [
        "components/stack.py",
        "components/aws/new_module.py",
        "__main__.py",
        "Pulumi.yaml",
        "requirements.txt",
        "pyproject.toml",
        "uv.lock",
    ],
)
def test_should_affect_every_stack_when_program_code_changes(repo: Repo, path: str) -> None:
    target = repo.path / path
    repo.write(path, (target.read_text() if target.exists() else "") + "# changed\n")
    repo.commit("program")
    result = compute(repo.path, repo.base)
    assert result.program_changed and result.program_files == [path]
    assert {s.change for s in result.stacks} == {"program"}
    assert set(names(result)) == {"alpha-dev", "alpha-staging", "alpha-prod", "beta-prod", "demo-dev"}


def test_should_order_stacks_dev_then_staging_then_prod(repo: Repo) -> None:
    repo.write("components/stack.py", "X = 2\n")
    repo.commit("program")
    result = compute(repo.path, repo.base)
    ranks = [ENVIRONMENTS.index(s.environment) for s in result.stacks]
    assert ranks == sorted(ranks)
    assert names(result) == ["alpha-dev", "demo-dev", "alpha-staging", "alpha-prod", "beta-prod"]


def test_should_render_examples_but_leave_them_out_of_the_rollout(repo: Repo) -> None:
    repo.write("components/stack.py", "X = 2\n")
    repo.commit("program")
    result = compute(repo.path, repo.base)
    assert "demo-dev" in names(result) and result.examples == ["demo-dev"]
    rolled_out = [e["stack"] for env in ENVIRONMENTS for e in result.document()["rollout"][env]["include"]]
    assert "demo-dev" not in rolled_out
    assert json.loads(result.github_outputs()["render"]) == names(result)


def test_should_follow_the_renderers_imports_but_not_modules_that_import_it(repo: Repo) -> None:
    repo.write("tools/helpers.py", "def digest(): return 1\n")  # render -> mocks -> (relative) helpers
    repo.commit("helper")
    assert compute(repo.path, repo.base).program_files == ["tools/helpers.py"]

    base = repo.commit("noop")
    repo.write("tools/docs.py", "import tools.render  # docs\n")
    repo.commit("docs tool")
    result = compute(repo.path, base)
    assert result.stacks == [] and not result.program_changed


def test_should_affect_nothing_for_documentation(repo: Repo) -> None:
    repo.write("README.md", "# more\n")
    repo.write("requirements-checkov.txt", "checkov>=3.2,<4\n")  # test tooling, not the program
    repo.commit("docs")
    result = compute(repo.path, repo.base)
    assert result.stacks == [] and result.deleted == []
    outputs = result.github_outputs()
    assert outputs["has_any"] == "false" and all(outputs[f"has_{env}"] == "false" for env in ENVIRONMENTS)


def test_should_report_added_and_deleted_stacks_separately(repo: Repo) -> None:
    repo.write("config/Pulumi.gamma-staging.yaml", stack_yaml("staging", cloud="azure"))
    (repo.path / "config/Pulumi.alpha-staging.yaml").unlink()
    repo.commit("onboard gamma, retire alpha-staging")
    result = compute(repo.path, repo.base)
    assert [(s.stack, s.change) for s in result.stacks] == [("gamma-staging", "added")]
    assert [(s.stack, s.change) for s in result.deleted] == [("alpha-staging", "deleted")]
    gamma = result.document()["rollout"]["staging"]["include"][0]
    assert gamma["cloud"] == "azure" and gamma["azure_subscription_id"] == "22222222-2222-4222-8222-222222222222"
    assert gamma["oidc_issuer"].endswith("/cluster/")


def test_should_treat_a_renamed_stack_file_as_delete_plus_add(repo: Repo) -> None:
    repo.git("mv", "config/Pulumi.alpha-dev.yaml", "config/Pulumi.alpha2-dev.yaml")
    repo.commit("rename")
    result = compute(repo.path, repo.base)
    assert [(s.stack, s.change) for s in result.stacks] == [("alpha2-dev", "added")]
    assert [s.stack for s in result.deleted] == ["alpha-dev"]


def test_should_affect_every_stack_without_a_usable_base(repo: Repo) -> None:
    for base in ("", "0" * 40, "no-such-ref"):
        result = compute(repo.path, base)
        assert len(result.stacks) == 5 and {s.change for s in result.stacks} == {"all"}
        assert result.base is None


def test_should_select_only_the_named_stacks(repo: Repo) -> None:
    result = compute(repo.path, repo.base, only=["beta-prod"])
    assert [(s.stack, s.change) for s in result.stacks] == [("beta-prod", "selected")]
    with pytest.raises(AffectedError, match="no stack file for nope"):
        compute(repo.path, repo.base, only=["nope"])


def test_should_use_the_given_list_of_changed_files(repo: Repo) -> None:
    result = compute(repo.path, repo.base, changed=["config/Pulumi.alpha-dev.yaml", "README.md"])
    assert [(s.stack, s.change) for s in result.stacks] == [("alpha-dev", "modified")]


def test_should_refuse_a_stack_file_without_a_valid_environment(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.write("config/Pulumi.bad-qa.yaml", stack_yaml("qa"))
    repo.commit("bad")
    with pytest.raises(
        AffectedError, match=r"Pulumi\.bad-qa\.yaml: airflow-platform:environment = 'qa': must be one of dev, staging, prod"
    ):
        compute(repo.path, repo.base)
    assert affected.main(["--repo", str(repo.path), "--base", repo.base]) == 2
    assert "must be one of dev, staging, prod" in capsys.readouterr().err


def test_should_write_github_step_outputs(repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo.write("components/stack.py", "X = 3\n")
    repo.commit("program")
    output = tmp_path / "github_output"
    assert affected.main(["--repo", str(repo.path), "--base", repo.base, "--github-output", str(output)]) == 0
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert set(lines) == {"render", "dev", "staging", "prod", "has_dev", "has_staging", "has_prod", "has_any"}
    assert [e["stack"] for e in json.loads(lines["dev"])["include"]] == ["alpha-dev"]
    assert [e["stack"] for e in json.loads(lines["prod"])["include"]] == ["alpha-prod", "beta-prod"]
    assert lines["has_staging"] == "true" and lines["has_any"] == "true"
    printed = json.loads(capsys.readouterr().out)
    assert printed["examples"] == ["demo-dev"]


def test_examples_list_names_existing_stack_files() -> None:
    text = (ROOT / EXAMPLES_FILE).read_text()
    listed = {line.split("#", 1)[0].strip() for line in text.splitlines()} - {""}
    assert listed, f"{EXAMPLES_FILE} lists no example"
    missing = sorted(name for name in listed if not (ROOT / "config" / f"Pulumi.{name}.yaml").exists())
    assert not missing, f"{EXAMPLES_FILE} names stacks without a stack file: {missing}"


def test_renderer_closure_of_this_repository_covers_its_imports() -> None:
    require_binary("git")
    tree = files_at(ROOT, "HEAD")
    closure = affected.renderer_closure(ROOT, "HEAD", tree)
    assert {"tools/render.py", "tools/mocks.py", "tools/stackfile.py"} <= closure
    tooling = {"tools/affected.py", "tools/git_revisions.py", "tools/render_diff.py", "tools/stack_diff.py", "tools/diff_comment.py"}
    assert not tooling & closure, "a change to the PR tooling would affect every stack"


# --------------------------------------------------------------------------- ESC environments
def with_environments(repo: Repo) -> str:
    """gamma-dev and gamma-prod take their settings from environments; org/dev is shared with delta-dev."""
    repo.write("environments/org/dev.yaml", f"values:\n  pulumiConfig:\n    {PROJECT}:environment: dev\n")
    repo.write("environments/org/prod.yaml", f"values:\n  pulumiConfig:\n    {PROJECT}:environment: prod\n")
    repo.write(
        "environments/gamma/team.yaml",
        "values:\n  region: eu-central-1\n  pulumiConfig:\n"
        f"    {PROJECT}:team: gamma\n    {PROJECT}:cloud: aws\n    aws:region: ${{region}}\n",
    )
    for env in ("dev", "prod"):
        repo.write(
            f"environments/gamma/{env}.yaml",
            f"imports: [gamma/team]\nvalues:\n  pulumiConfig:\n    {PROJECT}:aws:\n"
            f"      oidcIssuerUrl: https://oidc.eks.${{region}}.amazonaws.com/id/{env.upper()}\n",
        )
        repo.write(f"config/Pulumi.gamma-{env}.yaml", f"environment: [org/{env}, gamma/{env}]\nconfig:\n  {PROJECT}:schedulerReplicas: 2\n")
    repo.write(
        "config/Pulumi.delta-dev.yaml",
        f"environment: [org/dev]\n{stack_yaml('dev').replace(f'  {PROJECT}:environment: dev' + chr(10), '')}",
    )
    return repo.commit("environments")


def test_should_read_a_stacks_settings_through_its_environments(repo: Repo) -> None:
    with_environments(repo)
    result = compute(repo.path, repo.base)
    gamma = {s.stack: s for s in result.stacks if s.stack.startswith("gamma")}
    assert gamma["gamma-prod"].environment == "prod" and gamma["gamma-prod"].cloud == "aws"
    assert gamma["gamma-prod"].aws_region == "eu-central-1"
    assert gamma["gamma-prod"].oidc_issuer == "https://oidc.eks.eu-central-1.amazonaws.com/id/PROD"
    assert gamma["gamma-dev"].environments == ("org/dev", "gamma/team", "gamma/dev")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("environments/gamma/dev.yaml", ["gamma-dev"]),  # imported directly by one stack
        ("environments/gamma/team.yaml", ["gamma-dev", "gamma-prod"]),  # imported through gamma/dev and gamma/prod
        ("environments/org/dev.yaml", ["delta-dev", "gamma-dev"]),  # shared by two teams
        ("environments/org/unused.yaml", []),  # imported by nobody
    ],
)
def test_should_affect_exactly_the_stacks_importing_a_changed_environment(repo: Repo, path: str, expected: list[str]) -> None:
    base = with_environments(repo)
    target = repo.path / path
    repo.write(path, (target.read_text() if target.exists() else "values: {}\n") + "# changed\n")
    repo.commit("environment")
    result = compute(repo.path, base)
    assert sorted(names(result)) == expected
    assert {s.change for s in result.stacks} <= {"environment"} and not result.program_changed


def test_should_refuse_a_stack_whose_environment_was_deleted(repo: Repo) -> None:
    base = with_environments(repo)
    (repo.path / "environments/gamma/team.yaml").unlink()
    repo.commit("delete")
    with pytest.raises(AffectedError, match=r"environment gamma/team: no definition environments/gamma/team\.yaml"):
        compute(repo.path, base)


def test_examples_in_this_repository_list_their_environments() -> None:
    result = compute(ROOT, None)
    by_name = {s.stack: s for s in result.stacks}
    assert by_name["payments-dev"].environments == ("airflow-platform/dev", "payments/team", "payments/dev")
    assert (
        by_name["research-prod"].environments[-1] == "research/prod" and "airflow-platform/azure" in by_name["research-prod"].environments
    )
    assert all(s.environments for s in result.stacks)
