"""tools.new_stack writes a team's stack file that renders offline; tools.render stands in for unset secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components.settings.errors import SettingsError
from tools import new_stack, render
from tools.stackfile import load_stack

DAGS = ["--dags-repo", "https://github.com/acme-billing/billing-dags.git"]
AWS = [
    "--region", "eu-west-1",
    "--vpc-id", "vpc-0a1b2c3d4e5f60718",
    "--subnet-ids", "subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002",
    "--cluster-security-group-id", "sg-0a1b2c3d4e5f60099",
    "--oidc-provider-arn", "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/5C2E1D4A9B8F7E6D5C4B3A2918070605",
]  # fmt: skip
AWS_PROD = ["--kms-key-arn", "arn:aws:kms:eu-west-1:111122223333:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"]
NET = "/subscriptions/9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d/resourceGroups/rg-billing-net/providers/Microsoft.Network"
AZURE = [
    "--tenant-id", "7d1f3c2a-5b6e-4f80-9a1b-2c3d4e5f6a7b",
    "--subscription-id", "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
    "--location", "westeurope",
    "--resource-group", "rg-billing-airflow",
    "--oidc-issuer-url", "https://westeurope.oic.prod-aks.azure.com/7d1f3c2a-5b6e-4f80-9a1b-2c3d4e5f6a7b/5e6f7a8b-0000-4000-8000-000000000002/",
    "--aks-subnet-id", f"{NET}/virtualNetworks/vnet-billing/subnets/aks-nodes",
]  # fmt: skip
AZURE_DB = [
    "--db-subnet-id", f"{NET}/virtualNetworks/vnet-billing/subnets/postgres",
    "--db-private-dns-zone-id", f"{NET}/privateDnsZones/billing.private.postgres.database.azure.com",
]  # fmt: skip
ASTRO = [
    "--astro-api-url", "https://clx7b2k9p000008l4h3a1b2c3.external.astronomer.run/d4f5g6h7",
    "--astro-organization-id", "clorg0000000001billing",
    "--astro-workspace-id", "clwks0000000001billing",
    "--astro-deployment-id", "cldep0000000001billing",
    "--astro-namespace", "celestial-orbit-5123",
    "--astro-oidc-issuer-url", "https://oidc.eks.us-east-1.amazonaws.com/id/ASTRO0000CLUSTER0000ISSUER000001",
    "--agent-image", "registry.example.com/astro-agent:3.1-3-python-3.12-astro-agent-1.8.2",
    "--sentinel-image", "images.astronomer.cloud/baseimages/astro-remote-execution-sentinel:1.8.2",
]  # fmt: skip
TOKEN = "gitBillingDagsToken"

CASES = {
    "aws-self-hosted-dev": (["dev", "--cloud", "aws", *AWS], "payments-dev", [TOKEN]),
    "aws-self-hosted-prod": (["prod", "--cloud", "aws", *AWS, *AWS_PROD], "payments-prod", [TOKEN]),
    "aws-remote-staging": (
        ["staging", "--cloud", "aws", "--mode", "remote-execution", *AWS, *ASTRO],
        "growth-prod",
        ["astroAgentToken", "astroRegistryToken", TOKEN],
    ),
    "azure-self-hosted-dev": (["dev", "--cloud", "azure", *AZURE, *AZURE_DB], "research-dev", [TOKEN]),
    "azure-self-hosted-prod": (["prod", "--cloud", "azure", *AZURE, *AZURE_DB], "research-prod", [TOKEN]),
    "azure-remote-prod": (
        ["prod", "--cloud", "azure", "--mode", "remote-execution", *AZURE, *ASTRO, "--astro-external-ips", "198.51.100.16/29"],
        "insights-prod",
        ["astroAgentToken", "astroRegistryToken", TOKEN],
    ),
}


def run_new_stack(out: Path, *argv: str) -> int:
    """``out`` is a scratch repository: the stack file goes to ``out/config``, the team's environments to ``out/environments``."""
    return new_stack.main(["billing", *argv, *DAGS, "--out", str(out / "config")])


@pytest.mark.parametrize("case", sorted(CASES))
def test_should_write_a_stack_that_renders_offline_for_each_cloud_and_mode(case: str, tmp_path: Path, capsys) -> None:
    argv, example, secrets = CASES[case]
    assert run_new_stack(tmp_path, *argv) == 0
    (path,) = (tmp_path / "config").iterdir()
    assert path.name == f"Pulumi.billing-{argv[0]}.yaml"
    envs = tmp_path / "environments" / "billing"
    assert sorted(p.name for p in envs.iterdir()) == sorted(["team.yaml", f"{argv[0]}.yaml"])
    line = capsys.readouterr().out.strip()
    wrote = f"wrote {path}, {envs / f'{argv[0]}.yaml'}, {envs / 'team.yaml'}: renders offline"
    assert line.startswith(wrote) and line.endswith(f"secrets to set: {', '.join(secrets)}")
    text = path.read_text()
    assert f"config/Pulumi.{example}.yaml" in text and "secure:" not in text
    assert yaml.safe_load(text)["environment"] == [f"airflow-platform/{argv[0]}", f"billing/{argv[0]}"]
    assert load_stack(path).environments == (f"airflow-platform/{argv[0]}", "billing/team", f"billing/{argv[0]}")
    for key in secrets:
        assert f"pulumi config set --secret {key} <value>" in text
    stack = load_stack(path)
    assert stack.project_values()["team"] == "billing" and stack.project_values()["environment"] == argv[0]
    rendered = render.run_program(stack, allow_unset_secrets=True)
    assert list(rendered.unset_secrets) == secrets
    assert render.HELM_RELEASE in {r.type for r in rendered.registrations}


def test_should_take_the_dev_relaxations_of_the_closest_example_from_the_org_environment(tmp_path: Path) -> None:
    assert run_new_stack(tmp_path, *CASES["aws-self-hosted-dev"][0]) == 0
    written = load_stack(tmp_path / "config" / "Pulumi.billing-dev.yaml").project_values()
    example = load_stack(Path("config/Pulumi.payments-dev.yaml")).project_values()
    for key in ("protectStateful", "schedulerReplicas", "apiServerReplicas", "triggererReplicas", "database"):
        assert written[key] == example[key]
    own = yaml.safe_load((tmp_path / "config" / "Pulumi.billing-dev.yaml").read_text())["config"]
    assert "airflow-platform:protectStateful" not in own and "airflow-platform:aws" not in own  # from environments, not copied
    assert written["aws"]["oidcIssuerUrl"] == "https://oidc.eks.eu-west-1.amazonaws.com/id/5C2E1D4A9B8F7E6D5C4B3A2918070605"  # from the ARN


def test_should_reuse_the_team_environment_and_refuse_options_that_disagree(tmp_path: Path, capsys) -> None:
    assert run_new_stack(tmp_path, *CASES["aws-self-hosted-dev"][0]) == 0
    team = (tmp_path / "environments" / "billing" / "team.yaml").read_text()
    assert run_new_stack(tmp_path, *CASES["aws-self-hosted-prod"][0]) == 0
    assert (tmp_path / "environments" / "billing" / "team.yaml").read_text() == team  # written once, shared
    assert load_stack(tmp_path / "config" / "Pulumi.billing-prod.yaml").environments[-2:] == ("billing/team", "billing/prod")
    capsys.readouterr()
    other_region = [*CASES["aws-self-hosted-prod"][0]]
    other_region[other_region.index("eu-west-1")] = "us-east-1"
    (tmp_path / "config" / "Pulumi.billing-prod.yaml").unlink()
    (tmp_path / "environments" / "billing" / "prod.yaml").unlink()
    assert run_new_stack(tmp_path, *other_region) == 2
    err = capsys.readouterr().err
    assert "team.yaml sets aws:region = 'eu-west-1', the options say 'us-east-1'" in err
    assert not (tmp_path / "config" / "Pulumi.billing-prod.yaml").exists()


def test_should_refuse_an_existing_environment_of_the_new_stack(tmp_path: Path, capsys) -> None:
    stage = tmp_path / "environments" / "billing" / "dev.yaml"
    stage.parent.mkdir(parents=True)
    stage.write_text("values: {}\n")
    assert run_new_stack(tmp_path, *CASES["aws-self-hosted-dev"][0]) == 2
    assert "dev.yaml exists: new_stack never overwrites an environment" in capsys.readouterr().err
    assert stage.read_text() == "values: {}\n" and not (tmp_path / "config").exists()


def test_should_write_a_public_repository_without_connection_or_secret(tmp_path: Path, capsys) -> None:
    assert run_new_stack(tmp_path, *CASES["aws-self-hosted-dev"][0], "--public-dags-repo") == 0
    config = yaml.safe_load((tmp_path / "config" / "Pulumi.billing-dev.yaml").read_text())["config"]
    assert "airflow-platform:connections" not in config
    assert config["airflow-platform:dagBundles"][0]["repoUrl"] == DAGS[1]
    assert capsys.readouterr().out.strip().endswith("secrets to set: none")


def test_should_refuse_to_overwrite_an_existing_stack_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "config" / "Pulumi.billing-dev.yaml"
    path.parent.mkdir()
    path.write_text("# the team's own edits\n")
    assert run_new_stack(tmp_path, *CASES["aws-self-hosted-dev"][0]) == 2
    err = capsys.readouterr().err
    assert path.read_text() == "# the team's own edits\n"
    assert err.count("\n") == 1 and "exists: new_stack never overwrites" in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["Bad_Team", "dev", "--cloud", "aws", *AWS], "team 'Bad_Team'"),
        (["a-team-name-longer-than-20", "dev", "--cloud", "aws", *AWS], "at most 20 characters"),
        (["billing", "prod", "--cloud", "aws", *AWS], "also needs: --kms-key-arn"),
        (["billing", "dev", "--cloud", "azure", *AZURE], "also needs: --db-subnet-id --db-private-dns-zone-id"),
        (["billing", "dev", "--cloud", "aws", "--mode", "remote-execution", *AWS], "also needs: --astro-api-url"),
        (["billing", "dev", "--cloud", "aws", *AWS, "--tenant-id", "x"], "not used with --cloud aws"),
        (["billing", "dev", "--cloud", "aws", *AWS, "--astro-external-ips", "198.51.100.16/29"], "--astro-external-ips"),
        (["billing", "dev", "--cloud", "aws", *AWS[:-1], "arn:aws:iam::1:oidc-provider/x"], "aws.oidcProviderArn"),
        (["billing", "qa", "--cloud", "aws", *AWS], "invalid choice: 'qa'"),
    ],
    ids=[
        "bad-team",
        "long-team",
        "prod-without-kms",
        "azure-without-db-network",
        "remote-without-astro",
        "foreign",
        "foreign-mode",
        "bad-id",
        "env",
    ],
)
def test_should_exit_2_with_one_line_and_write_nothing_on_invalid_input(argv: list[str], says: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "config"
    try:
        code = new_stack.main([*argv, *DAGS, "--out", str(out)])
    except SystemExit as exited:  # argparse's own refusals (one line too: new_stack._Parser)
        code = exited.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and says in err
    assert not out.exists() or not any(out.iterdir())
    assert not (tmp_path / "environments").exists()


# --------------------------------------------------------------------------- tools.render and unset secrets
@pytest.fixture
def new_remote_stack(tmp_path: Path) -> Path:
    """A new Remote Execution stack file (three secrets, none set), as new_stack writes it."""
    assert run_new_stack(tmp_path, *CASES["aws-remote-staging"][0]) == 0
    return tmp_path / "config" / "Pulumi.billing-staging.yaml"


def test_should_render_unset_secrets_as_marked_secret_stand_ins(new_remote_stack: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert render.main([str(new_remote_stack), "--out", str(out), "--allow-unset-secrets"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.endswith(f"UNSET SECRETS (offline stand-ins): astroAgentToken, astroRegistryToken, {TOKEN}")
    first = (out / "values.yaml").read_text().splitlines()[0]
    assert first.startswith("# UNSET SECRETS") and first.endswith(f"astroAgentToken, astroRegistryToken, {TOKEN}")
    # still secret: masked unless --show-secrets
    assert "offline-unset-" not in (out / "resources.json").read_text()
    rendered = render.run_program(load_stack(new_remote_stack), allow_unset_secrets=True)
    shown = json.dumps(rendered.resources_document(show_secrets=True))
    assert all(f"offline-unset-{key}" in shown for key in ("astroAgentToken", "astroRegistryToken", TOKEN))


def test_should_refuse_unset_secrets_without_the_flag_with_the_fix_line(new_remote_stack: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert render.main([str(new_remote_stack), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    for key in (TOKEN, "astroAgentToken", "astroRegistryToken"):  # each key named in its fix line, none blanked out
        assert f"run: pulumi config set --secret {key} <value>" in err
    assert err.strip().endswith(render.ALLOW_HINT.strip("; "))
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(SettingsError, match=f"pulumi config set --secret {TOKEN}"):
        render.run_program(load_stack(new_remote_stack))  # what pulumi up's loader does: no stand-ins


def test_should_still_refuse_a_secret_key_set_in_plain_text_with_the_flag(new_remote_stack: Path) -> None:
    new_remote_stack.write_text(new_remote_stack.read_text() + f"  airflow-platform:{TOKEN}: ghp_plaintext\n")
    with pytest.raises(SettingsError, match="is stored in plain text"):
        render.run_program(load_stack(new_remote_stack), allow_unset_secrets=True)
