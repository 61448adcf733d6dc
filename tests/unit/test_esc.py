"""tools.esc: ESC environments in the repository resolve offline as the Pulumi CLI resolves them."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tools import esc
from tools.render import run_program
from tools.stackfile import StackFileError, load_stack, placeholder

P = "airflow-platform"


class Scratch:
    """A scratch repository layout: ``config/`` stack files and ``environments/<project>/<name>.yaml``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def env(self, ref: str, text: str) -> Path:
        path = self.root / esc.env_path(ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def stack(self, text: str, name: str = "t-dev") -> Path:
        path = self.root / "config" / f"Pulumi.{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def resolve(self, *refs: str) -> dict[str, Any]:
        return esc.Resolver(esc.file_reader(self.root)).resolve(list(refs), "test").values


@pytest.fixture
def repo(tmp_path: Path) -> Scratch:
    return Scratch(tmp_path)


# --------------------------------------------------------------------------- imports and merging
def test_should_let_later_imports_override_earlier_ones_and_own_values_override_imports(repo: Scratch) -> None:
    repo.env("org/a", "values: {x: a, y: a, z: a}\n")
    repo.env("org/b", "values: {y: b, z: b}\n")
    repo.env("team/c", "imports: [org/a, org/b]\nvalues: {z: c}\n")
    assert repo.resolve("team/c") == {"x": "a", "y": "b", "z": "c"}
    assert repo.resolve("org/b", "org/a") == {"x": "a", "y": "a", "z": "a"}  # the stack's list: in order too


def test_should_merge_objects_deeply_and_replace_arrays_and_scalars(repo: Scratch) -> None:
    repo.env("org/a", "values: {db: {a: 1, nested: {b: 2, c: 3}}, ids: [1, 2, 3], s: {k: v}}\n")
    repo.env("org/b", "imports: [org/a]\nvalues: {db: {nested: {c: 30, d: 4}}, ids: [9], s: plain}\n")
    assert repo.resolve("org/b") == {"db": {"a": 1, "nested": {"b": 2, "c": 30, "d": 4}}, "ids": [9], "s": "plain"}


def test_should_keep_a_null_as_a_value_not_a_deletion(repo: Scratch) -> None:
    repo.env("org/a", "values: {x: 1}\n")
    repo.env("org/b", "imports: [org/a]\nvalues: {x: null}\n")
    assert repo.resolve("org/b") == {"x": None}


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ({"org/a": "imports: [org/b]\nvalues: {}\n", "org/b": "imports: [org/a]\nvalues: {}\n"}, "org/a -> org/b -> org/a"),
        ({"org/a": "imports: [org/a]\nvalues: {}\n"}, "org/a -> org/a"),
    ],
    ids=["two", "self"],
)
def test_should_refuse_import_cycles(repo: Scratch, files: dict[str, str], says: str) -> None:
    for ref, text in files.items():
        repo.env(ref, text)
    with pytest.raises(StackFileError, match=f"environments/org/.\\.yaml, line 1: environment org/a: imports itself \\({says}\\)"):
        repo.resolve("org/a")


def test_should_refuse_an_unknown_environment_naming_the_stack_file_line(repo: Scratch) -> None:
    path = repo.stack(f"environment:\n  - org/known\n  - org/missing\nconfig:\n  {P}:team: t\n")
    repo.env("org/known", "values: {}\n")
    with pytest.raises(
        StackFileError, match=r"Pulumi.t-dev.yaml, line 3: environment org/missing: no definition environments/org/missing.yaml"
    ):
        load_stack(path)


def test_should_refuse_an_unknown_import_naming_the_environment_file_line(repo: Scratch) -> None:
    repo.env("org/a", "# header\nimports:\n  - org/nope\nvalues: {}\n")
    with pytest.raises(StackFileError, match=r"environments/org/a.yaml, line 3: environment org/nope: no definition"):
        repo.resolve("org/a")


@pytest.mark.parametrize(
    ("environment", "says"),
    [
        ("environment: {imports: [org/a]}", "an inline definition is not resolved offline"),
        ("environment: org/a", "environment: is a list"),
        ("environment: [org/a@3]", "a pinned @version is not resolved offline"),
        ("environment: [a/b/c]", "name it <project>/<env>"),
    ],
)
def test_should_refuse_environment_lists_it_cannot_resolve_like_the_cli(repo: Scratch, environment: str, says: str) -> None:
    repo.env("org/a", "values: {}\n")
    with pytest.raises(StackFileError, match=says):
        load_stack(repo.stack(f"{environment}\nconfig: {{}}\n"))


def test_should_read_a_plain_name_as_the_default_project(repo: Scratch) -> None:
    repo.env("default/legacy", "values: {pulumiConfig: {team: legacy}}\n")
    stack = load_stack(repo.stack("environment: [legacy]\nconfig: {}\n"))
    assert stack.values[f"{P}:team"] == "legacy" and stack.environments == ("default/legacy",)


# --------------------------------------------------------------------------- stack config
def test_should_let_the_stack_files_own_config_win_merged_key_by_key(repo: Scratch) -> None:
    repo.env(
        "org/dev",
        f"""\
        values:
          pulumiConfig:
            {P}:schedulerReplicas: 1
            team: from-env
            {P}:database: {{highAvailability: false, storageGb: 32, instanceClass: db.t4g.small}}
            aws:region: eu-west-1
        """,
    )
    path = repo.stack(
        f"""\
        environment: [org/dev]
        config:
          {P}:schedulerReplicas: 3
          {P}:database: {{instanceClass: db.r7g.large}}
        """
    )
    values = load_stack(path).values
    assert values[f"{P}:schedulerReplicas"] == 3  # the stack file wins
    assert values[f"{P}:team"] == "from-env"  # a key without namespace is the project's
    assert values[f"{P}:database"] == {"highAvailability": False, "storageGb": 32, "instanceClass": "db.r7g.large"}
    assert values["aws:region"] == "eu-west-1"
    assert values[f"{P}:apiServerReplicas"] == 2  # project defaults fill what is still missing


def test_should_refuse_an_environment_value_of_the_wrong_type_naming_the_environment_line(repo: Scratch) -> None:
    repo.env("org/dev", f"values:\n  pulumiConfig:\n    {P}:team: t\n    {P}:protectStateful: maybe\n")
    with pytest.raises(StackFileError, match=r"environments/org/dev.yaml, line 4: .*protectStateful"):
        load_stack(repo.stack("environment: [org/dev]\nconfig: {}\n"))


def test_should_refuse_yaml_11_surprises_in_an_environment_naming_the_line(repo: Scratch) -> None:
    repo.env("org/dev", "values:\n  pulumiConfig:\n    since: 2024-01-01\n")
    with pytest.raises(StackFileError, match=r"environments/org/dev.yaml, line 3: .*date"):
        load_stack(repo.stack("environment: [org/dev]\nconfig: {}\n"))


# --------------------------------------------------------------------------- interpolation
def test_should_interpolate_references_to_the_merged_root(repo: Scratch) -> None:
    repo.env("org/base", 'values:\n  region: eu-west-1\n  ids: [a, b]\n  "k:x": {v: 7}\n')
    repo.env(
        "team/x",
        """\
        imports: [org/base]
        values:
          account: "1111"
          arn: arn:aws:iam::${account}:role/${ids[1]}-${region}
          whole: ${ids}
          number: ${["k:x"].v}
          text: n=${["k:x"].v}, on=${flag}
          flag: true
          escaped: $${not.a.reference}
          sibling: {a: 1, b: "${sibling.a}"}
        """,
    )
    root = repo.resolve("team/x")
    assert root["arn"] == "arn:aws:iam::1111:role/b-eu-west-1"
    assert root["whole"] == ["a", "b"] and root["number"] == 7  # a lone reference keeps the value's type
    assert root["text"] == "n=7, on=true" and root["escaped"] == "${not.a.reference}"
    assert root["sibling"] == {"a": 1, "b": 1}


def test_should_evaluate_each_import_on_its_own_not_with_the_importers_overrides(repo: Scratch) -> None:
    repo.env("org/base", "values:\n  region: eu-west-1\n  pulumiConfig: {aws:region: '${region}'}\n")
    repo.env("team/x", "imports: [org/base]\nvalues:\n  region: us-east-1\n")
    root = repo.resolve("team/x")
    assert root["region"] == "us-east-1" and root["pulumiConfig"] == {"aws:region": "eu-west-1"}


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ("a: ${b}\n  b: ${a}", r"refers to itself \(a -> b -> a\)"),
        ("a: {b: '${a}'}", r"refers to itself \(a.b -> a.b\)"),
        ("a: ${nope.x}", r"\$\{nope.x\} does not exist"),
        ("a: ${b[3]}\n  b: [1]", r"\$\{b\[3\]\} does not exist"),
        ("a: x${b}\n  b: {c: 1}", "a mapping cannot be part of a string"),
        ("a: ${context.rootEnvironment.name}", "known only to Pulumi Cloud"),
        ("a: ${b", "unterminated"),
    ],
    ids=["cycle", "self", "missing", "index", "object-in-string", "context", "unterminated"],
)
def test_should_refuse_references_it_cannot_resolve(repo: Scratch, values: str, says: str) -> None:
    repo.env("org/a", f"values:\n  {values}\n")
    with pytest.raises(StackFileError, match=f"environments/org/a.yaml, line .*environment org/a.*{says}"):
        repo.resolve("org/a")


# --------------------------------------------------------------------------- secrets and providers
def test_should_treat_an_encrypted_fn_secret_as_a_masked_secret_config_value(repo: Scratch) -> None:
    repo.env(
        "org/secrets",
        f"""\
        values:
          token: {{fn::secret: {{ciphertext: ZXNjeAAAAAEAAAEA}}}}
          pulumiConfig:
            {P}:gitTDagsToken: ${{token}}
            {P}:database: {{instanceClass: "db-${{token}}"}}
        """,
    )
    stack = load_stack(repo.stack("environment: [org/secrets]\nconfig: {}\n"))
    key = f"{P}:gitTDagsToken"
    assert stack.values[key] == placeholder(key) and key in stack.secret_keys
    assert stack.values[f"{P}:database"] == {"instanceClass": placeholder(f"{P}:database")}  # interpolating a secret is secret
    assert f"{P}:database" in stack.secret_keys
    assert "ZXNjeAAAAAEAAAEA" not in json.dumps(stack.values)


def test_should_mask_an_environment_secret_in_the_render(tmp_path: Path) -> None:
    repo = Scratch(tmp_path)
    repo.env("org/secrets", f"values:\n  pulumiConfig:\n    {P}:gitPaymentsDagsToken: {{fn::secret: {{ciphertext: QUJD}}}}\n")
    example = (Path(__file__).resolve().parents[2] / "config" / "Pulumi.payments-prod.yaml").read_text()
    secure = f"  {P}:gitPaymentsDagsToken:\n    secure: v1:EXAMPLEciphertextReplaceWithPulumiConfigSetSecret==\n"
    assert secure in example
    own = example.replace(secure, "")  # the example minus its secure token
    text = own.replace("environment:\n", "environment:\n  - org/secrets\n", 1)
    rendered = run_program(load_stack(repo.stack(text, "payments-prod")))
    key = f"{P}:gitPaymentsDagsToken"
    assert key in rendered.stack.secret_keys
    masked = json.dumps(rendered.resources_document())
    assert placeholder(key) not in masked and placeholder(key) in json.dumps(rendered.resources_document(show_secrets=True))


def test_should_refuse_a_plaintext_secret_in_the_repository_without_showing_it(repo: Scratch) -> None:
    repo.env("org/a", "values:\n  pulumiConfig:\n    token:\n      fn::secret: hunter2-plaintext\n")
    with pytest.raises(
        StackFileError, match=r"environments/org/a.yaml, line 3: .*pulumiConfig.token: fn::secret with a plaintext value"
    ) as caught:
        repo.resolve("org/a")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("call", "says"),
    [
        ("fn::open::aws-login: {oidc: {roleArn: x}}", "fn::open::aws-login is evaluated by Pulumi Cloud"),
        ("fn::open: {provider: aws-login, inputs: {}}", "fn::open is evaluated by Pulumi Cloud"),
        ("fn::join: [',', [a, b]]", "fn::join is not resolved offline"),
    ],
)
def test_should_refuse_what_only_pulumi_cloud_evaluates_naming_environment_and_path(repo: Scratch, call: str, says: str) -> None:
    repo.env("org/a", f"values:\n  aws:\n    login:\n      {call}\n")
    with pytest.raises(StackFileError, match=f"environments/org/a.yaml, line 3: environment org/a, aws.login: {says}"):
        repo.resolve("org/a")


def test_should_refuse_unknown_top_level_keys(repo: Scratch) -> None:
    repo.env("org/a", "values: {}\nvalue: {}\n")
    with pytest.raises(StackFileError, match="unknown top-level key 'value'"):
        repo.resolve("org/a")


# --------------------------------------------------------------------------- the repository's environments
def test_repository_environments_hold_no_secret_and_nothing_only_the_cloud_can_evaluate() -> None:
    root = Path(__file__).resolve().parents[2]
    refs = [esc.env_ref(str(p.relative_to(root))) for p in sorted((root / esc.ENV_DIR).glob("*/*.yaml"))]
    assert refs and None not in refs
    resolver = esc.Resolver(esc.file_reader(root))
    for ref in refs:
        assert not esc.contains_secret(resolver.environment(ref, "test")), ref  # secrets live in Pulumi Cloud
    assert set(resolver.order) == set(refs)
