"""Write a new team's stack file and validate it offline, before any Pulumi stack exists.

    python -m tools.new_stack <team> <env> --cloud aws|azure [--mode self-hosted|remote-execution]
        --dags-repo URL [--public-dags-repo] [--out config/] <the cloud's ids, below>

UX: the command takes the real ids as options and refuses to write without them, so the file it
writes holds no placeholder to forget. Which options are needed depends on cloud, mode and
environment (a missing one is named in the error):

- ``--cloud aws``: ``--region``, ``--vpc-id``, ``--subnet-ids`` (two or more), ``--cluster-security-group-id``,
  ``--oidc-provider-arn`` (``--oidc-issuer-url`` defaults to the issuer that ARN names), and in prod
  ``--kms-key-arn``.
- ``--cloud azure``: ``--tenant-id``, ``--subscription-id``, ``--location``, ``--resource-group``,
  ``--oidc-issuer-url``, ``--aks-subnet-id`` (``--key-vault-name`` defaults to ``kv-<team>-<env>-af``), and for
  self-hosted ``--db-subnet-id`` and ``--db-private-dns-zone-id`` (the Flexible Server's VNet integration).
- ``--mode remote-execution``: ``--astro-api-url``, ``--astro-organization-id``, ``--astro-workspace-id``,
  ``--astro-deployment-id``, ``--astro-namespace``, ``--astro-oidc-issuer-url``, ``--agent-image``,
  ``--sentinel-image``; on Azure also ``--astro-external-ips`` (the Deployment's external IPs, Astro UI:
  its scheduler reads the Key Vault from Astronomer's network, so the vault firewall must admit them).

``--dags-repo`` becomes the git DAG bundle ``<team>-dags``; it is private unless ``--public-dags-repo``,
so a git connection ``git_<team>_dags`` reads its token from the secret config key
``git<Team>DagsToken``. Sizing (``namespace``, ``database``) is copied from the closest example in
``config/`` (same cloud and mode; staging takes the prod example), which the file's header names.

Shared defaults come from Pulumi ESC environments (:mod:`tools.esc`), not from copies: the stack file
imports ``airflow-platform/<env>`` (org-wide defaults of that environment: dev relaxations, the
``environment`` setting) and ``<team>/<env>``. The cloud ids go into the team's environments, written
beside the stack file's directory (``--environments``, default ``<out>/../environments``):
``<team>/team.yaml`` (team, cloud, region or tenant and location), written only when the team has none
yet (an existing one must agree with the options), and ``<team>/<env>.yaml`` (network, cluster, keys),
which must not exist yet. Per-stack choices (Key Vault name, Astro Deployment, DAGs) stay in the stack file.

The files are written (``<out>/Pulumi.<team>-<env>.yaml``, ``--out`` defaulting to ``config/``, and the
environments) only if the stack file does not exist yet, and only after the stack rendered offline with
them (``tools.render.run_program`` with ``allow_unset_secrets``: the secrets are set later with
``pulumi config set --secret``). Success prints one line (the files, the render's counts and the
secrets still to set). Invalid input (a bad team name, a missing or foreign option, an existing file,
settings the render refuses): exit code 2, one line on stderr, nothing written.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, NoReturn

import yaml

from components.settings.errors import SettingsError
from components.settings.fields import DNS_LABEL
from tools import esc
from tools.render import Rendered, run_program
from tools.stackfile import ROOT, load_project, load_stack

TEAM_MAX = 20
"""Longest team name the settings take (``team``)."""
ENVIRONMENTS = ("dev", "staging", "prod")
EXAMPLES = {
    ("aws", "self-hosted", "dev"): "payments-dev",
    ("aws", "self-hosted", "prod"): "payments-prod",
    ("azure", "self-hosted", "dev"): "research-dev",
    ("azure", "self-hosted", "prod"): "research-prod",
    ("aws", "remote-execution", "prod"): "growth-prod",
    ("azure", "remote-execution", "prod"): "insights-prod",
}
"""Closest example per (cloud, mode, dev or prod); staging, and dev without its own example, take prod's."""
COPIED = ("namespace", "database")
"""Settings taken from the example's own config: sizing (relaxations come from ``airflow-platform/<env>``)."""
ORG_PROJECT = "airflow-platform"
"""ESC project of the org-wide environments ``airflow-platform/<env>``."""

AWS = ("region", "vpc_id", "subnet_ids", "cluster_security_group_id", "oidc_provider_arn")
AZURE = ("tenant_id", "subscription_id", "location", "resource_group", "oidc_issuer_url", "aks_subnet_id")
AZURE_DB = ("db_subnet_id", "db_private_dns_zone_id")
ASTRO = (
    "astro_api_url",
    "astro_organization_id",
    "astro_workspace_id",
    "astro_deployment_id",
    "astro_namespace",
    "astro_oidc_issuer_url",
    "agent_image",
    "sentinel_image",
)
EXTRA = ("kms_key_arn", "key_vault_name", "astro_external_ips")
"""Options that are required or optional only for some cloud, mode or environment."""
OPTIONAL = {"aws": ("oidc_issuer_url", "kms_key_arn"), "azure": ("key_vault_name",)}


class InputError(Exception):
    """Input refused before anything is written; ``str()`` is the one line printed."""


def needed(cloud: str, mode: str, env: str) -> tuple[str, ...]:
    """Options (argparse dests) that must be given for this cloud, mode and environment."""
    names = (AWS + (("kms_key_arn",) if env == "prod" else ())) if cloud == "aws" else AZURE
    if cloud == "azure" and mode == "self-hosted":
        names += AZURE_DB
    if cloud == "azure" and mode == "remote-execution":
        names += ("astro_external_ips",)
    return names + (ASTRO if mode == "remote-execution" else ())


def check_options(args: argparse.Namespace) -> None:
    """Refuse a bad team name, a missing option, or one that belongs to the other cloud or mode."""
    if not (re.fullmatch(DNS_LABEL, args.team) and len(args.team) <= TEAM_MAX):
        raise InputError(
            f"team {args.team!r}: lowercase letters, digits and '-', at most {TEAM_MAX} characters, not starting or ending with '-'"
        )
    required = needed(args.cloud, args.mode, args.env)
    missing = [name for name in required if getattr(args, name) is None]
    if missing:
        raise InputError(f"--cloud {args.cloud} --mode {args.mode} ({args.env}) also needs: {' '.join(_flag(n) for n in missing)}")
    allowed = set(required) | set(OPTIONAL[args.cloud])
    foreign = [name for name in (*AWS, *AZURE, *AZURE_DB, *ASTRO, *EXTRA) if getattr(args, name) is not None and name not in allowed]
    if foreign:
        raise InputError(f"not used with --cloud {args.cloud} --mode {args.mode}: {' '.join(_flag(n) for n in dict.fromkeys(foreign))}")


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def token_key(team: str) -> str:
    """Secret config key of the DAG repository's token: ``git<Team>DagsToken``."""
    return "git" + "".join(part[:1].upper() + part[1:] for part in team.split("-")) + "DagsToken"


def example_for(cloud: str, mode: str, env: str) -> str:
    return EXAMPLES.get((cloud, mode, env)) or EXAMPLES[(cloud, mode, "prod")]


def team_environment(args: argparse.Namespace, project: str) -> dict[str, Any]:
    """Definition of ``<team>/team``: what all the team's stacks share."""
    p = f"{project}:"
    if args.cloud == "aws":
        config: dict[str, Any] = {f"{p}team": args.team, f"{p}cloud": "aws", "aws:region": "${region}"}
        return {"values": {"region": args.region, "pulumiConfig": config}}
    azure = {"tenantId": args.tenant_id, "location": args.location}
    return {"values": {"pulumiConfig": {f"{p}team": args.team, f"{p}cloud": "azure", f"{p}azure": azure}}}


def stage_environment(args: argparse.Namespace, project: str) -> dict[str, Any]:
    """Definition of ``<team>/<env>``: the network, cluster and keys of this environment."""
    p = f"{project}:"
    if args.cloud == "aws":
        arn = args.oidc_provider_arn
        aws: dict[str, Any] = {
            "vpcId": args.vpc_id,
            "privateSubnetIds": list(args.subnet_ids),
            "clusterSecurityGroupId": args.cluster_security_group_id,
            "oidcProviderArn": arn,
            "oidcIssuerUrl": args.oidc_issuer_url or "https://" + arn.split("oidc-provider/", 1)[-1],
        }
        if args.kms_key_arn:
            aws["kmsKeyArn"] = args.kms_key_arn
        config: dict[str, Any] = {f"{p}aws": aws}
    else:
        azure: dict[str, Any] = {
            "subscriptionId": args.subscription_id,
            "resourceGroupName": args.resource_group,
            "oidcIssuerUrl": args.oidc_issuer_url,
            "aksSubnetId": args.aks_subnet_id,
        }
        if args.mode == "self-hosted":
            azure["databaseNetwork"] = {
                "mode": "vnet",
                "delegatedSubnetId": args.db_subnet_id,
                "privateDnsZoneId": args.db_private_dns_zone_id,
            }
        config = {f"{p}azure": azure}
    return {"imports": [f"{args.team}/team"], "values": {"pulumiConfig": config}}


def build_config(args: argparse.Namespace, project: str, example: dict[str, Any]) -> dict[str, Any]:
    """The ``config:`` mapping of the new stack file (pure: the example's own config is passed in)."""
    p = f"{project}:"
    config: dict[str, Any] = {}
    if args.mode == "remote-execution":
        config[f"{p}deploymentMode"] = args.mode
    copied = {k: example[f"{p}{k}"] for k in COPIED if f"{p}{k}" in example}
    config.update({f"{p}{k}": v for k, v in copied.items() if k == "namespace"})
    if args.mode == "self-hosted":
        config.update({f"{p}{k}": v for k, v in copied.items() if k != "namespace"})
    if args.cloud == "azure":
        vault: dict[str, Any] = {"name": args.key_vault_name or f"kv-{args.team}-{args.env}-af"}
        if args.astro_external_ips:
            vault["allowedIpRanges"] = list(args.astro_external_ips)
        config[f"{p}azure"] = {"keyVault": vault}
    if args.mode == "remote-execution":
        config[f"{p}remoteExecution"] = {
            "deployment": {
                "apiUrl": args.astro_api_url,
                "organizationId": args.astro_organization_id,
                "workspaceId": args.astro_workspace_id,
                "deploymentId": args.astro_deployment_id,
                "namespace": args.astro_namespace,
                "oidcIssuerUrl": args.astro_oidc_issuer_url,
            },
            "agentImage": args.agent_image,
            "sentinelImage": args.sentinel_image,
        }
    bundle: dict[str, Any] = {"name": f"{args.team}-dags", "kind": "git", "trackingRef": "main", "subdir": "dags"}
    if args.public_dags_repo:
        config[f"{p}dagBundles"] = [{**bundle, "repoUrl": args.dags_repo}]
    else:
        conn_id = f"git_{args.team.replace('-', '_')}_dags"
        config[f"{p}dagBundles"] = [{**bundle, "gitConnId": conn_id}]
        config[f"{p}connections"] = [
            {
                "connId": conn_id,
                "connType": "git",
                "host": args.dags_repo,
                "login": "x-access-token",
                "secretSource": "config",
                "secretFields": {"password": token_key(args.team)},
            }
        ]
    return config


def secrets_to_set(args: argparse.Namespace) -> list[str]:
    """Secret config keys the new stack needs before ``pulumi up``."""
    keys = [] if args.public_dags_repo else [token_key(args.team)]
    return keys + (["astroAgentToken", "astroRegistryToken"] if args.mode == "remote-execution" else [])


def stack_text(args: argparse.Namespace, config: dict[str, Any], example: str) -> str:
    """The stack file: a header saying where it came from and what is left to do, then ``config:``."""
    stack = f"{args.team}-{args.env}"
    lines = [
        f"# {stack}: {args.cloud}, {args.mode}. Written by python -m tools.new_stack; sizing from the example",
        f"# config/Pulumi.{example}.yaml; shared defaults and cloud ids from the ESC environments below",
        f"# (environments/{args.team}/). Review every value, then:",
        f"#   pulumi stack init {stack}",
        *[f"#   pulumi config set --secret {key} <value>" for key in secrets_to_set(args)],
        f"#   python -m tools.render config/Pulumi.{stack}.yaml --out /tmp/{stack}",
        "#   pulumi preview && pulumi up",
    ]
    document = {"environment": [f"{ORG_PROJECT}/{args.env}", f"{args.team}/{args.env}"], "config": config}
    return "\n".join(lines) + "\n" + _dump(document)


def _dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=1000)


def environment_files(args: argparse.Namespace, project: str, environments: Path) -> dict[str, str]:
    """``environments/``-relative path -> text of the team environments to write (none that exist)."""
    stage = esc.env_path(f"{args.team}/{args.env}").removeprefix(f"{esc.ENV_DIR}/")
    if (environments / stage).exists():
        raise InputError(
            f"{environments / stage} exists: new_stack never overwrites an environment (a stack {args.team}-{args.env} existed?)"
        )
    header = f"# ESC environment {args.team}/{{}}: written by python -m tools.new_stack; CI pushes it to Pulumi Cloud.\n"
    files = {stage: header.format(args.env) + _dump(stage_environment(args, project))}
    team = esc.env_path(f"{args.team}/team").removeprefix(f"{esc.ENV_DIR}/")
    wanted = team_environment(args, project)
    if not (environments / team).exists():
        files[team] = header.format("team") + _dump(wanted)
        return files
    try:
        have = esc.Resolver(reader(environments)).resolve([f"{args.team}/team"], str(environments / team)).pulumi_config()
    except esc.EscError as error:
        raise InputError(str(error)) from None
    want = esc.Resolver({f"{esc.ENV_DIR}/{team}": _dump(wanted)}.get).resolve([f"{args.team}/team"], team).pulumi_config()
    for key, value in want.items():
        pairs = value.items() if isinstance(value, dict) else [(None, value)]
        for sub, expected in pairs:
            current = have.get(key) if sub is None else (have.get(key) or {}).get(sub)
            if current != expected:
                setting = key if sub is None else f"{key}.{sub}"
                raise InputError(f"{environments / team} sets {setting} = {current!r}, the options say {expected!r}: make them agree")
    return files


def reader(environments: Path | None, new: dict[str, str] | None = None, root: Path = ROOT) -> esc.Reader:
    """Definitions from ``new`` (``environments/``-relative path -> text not written yet), then
    ``environments``, then the repository's ``environments/``."""
    new = new or {}
    bases = [environments.parent] if environments is not None and environments.name == esc.ENV_DIR else []

    def read(path: str) -> str | None:
        found = new.get(path.removeprefix(f"{esc.ENV_DIR}/"))
        for base in [*bases, root]:
            found = found if found is not None else esc.file_reader(base)(path)
        return found

    return read


def validate(text: str, stack: str, root: Path = ROOT, environments: Path | None = None, new: dict[str, str] | None = None) -> Rendered:
    """Render ``text`` offline as ``config/Pulumi.<stack>.yaml`` with unset secrets stood in; raises SettingsError.

    Environment definitions come from ``new`` (``environments/``-relative path -> text, not written yet),
    then from ``environments``, then from the repository's.
    """
    read = reader(environments, new, root)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"Pulumi.{stack}.yaml"
        path.write_text(text)
        return run_program(load_stack(path, root, read), root, allow_unset_secrets=True)


def create(args: argparse.Namespace, root: Path = ROOT) -> str:
    """Check, build, validate and write the stack file and its environments; returns the line to print. Raises InputError."""
    check_options(args)
    stack = f"{args.team}-{args.env}"
    target = Path(args.out) / f"Pulumi.{stack}.yaml"
    if target.exists():
        raise InputError(f"{target} exists: new_stack never overwrites a stack file (edit it, or remove it first)")
    environments = Path(args.environments) if args.environments else Path(args.out).resolve().parent / esc.ENV_DIR
    if environments.name != esc.ENV_DIR:
        raise InputError(f"--environments {environments}: the directory is named {esc.ENV_DIR}/ (stack files find it beside config/)")
    project, _ = load_project(root)
    example = example_for(args.cloud, args.mode, args.env)
    example_config = yaml.safe_load((root / "config" / f"Pulumi.{example}.yaml").read_text())["config"]
    text = stack_text(args, build_config(args, project, example_config), example)
    files = environment_files(args, project, environments)
    try:
        rendered = validate(text, stack, root, environments, files)
    except SettingsError as error:
        raise InputError(f"{stack}: {error}") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with target.open("x") as file:  # "x": a file that appeared meanwhile is not overwritten either
            file.write(text)
    except FileExistsError:
        raise InputError(f"{target} exists: new_stack never overwrites a stack file") from None
    for name, body in files.items():
        (environments / name).parent.mkdir(parents=True, exist_ok=True)
        with (environments / name).open("x") as file:
            file.write(body)
    todo = ", ".join(rendered.unset_secrets) or "none"
    wrote = ", ".join([str(target), *(str(environments / name) for name in sorted(files))])
    return (
        f"wrote {wrote}: renders offline ({len(rendered.registrations)} resources, {len(rendered.outputs)} outputs); secrets to set: {todo}"
    )


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        self.exit(2, f"error: {message} (python -m tools.new_stack --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m tools.new_stack", description=__doc__.split("\n\n")[0])
    p.add_argument("team", help=f"team name: DNS label, at most {TEAM_MAX} characters")
    p.add_argument("env", choices=ENVIRONMENTS)
    p.add_argument("--cloud", required=True, choices=("aws", "azure"))
    p.add_argument("--mode", default="self-hosted", choices=("self-hosted", "remote-execution"))
    p.add_argument("--out", type=Path, default=ROOT / "config", help="directory of the stack file (default: config/)")
    p.add_argument("--environments", type=Path, help="directory of the ESC environment files (default: <out>/../environments)")
    p.add_argument("--dags-repo", required=True, help="https URL of the team's DAG repository (bundle <team>-dags)")
    p.add_argument("--public-dags-repo", action="store_true", help="the repository needs no token (no git connection)")
    aws = p.add_argument_group("--cloud aws")
    for name in ("region", "vpc_id", "cluster_security_group_id", "oidc_provider_arn", "kms_key_arn"):
        aws.add_argument(_flag(name))
    aws.add_argument("--subnet-ids", nargs="+", metavar="SUBNET_ID", help="two or more private subnets of the cluster")
    both = p.add_argument_group("both clouds")
    both.add_argument("--oidc-issuer-url", help="the cluster's OIDC issuer (aws: default from --oidc-provider-arn)")
    azure = p.add_argument_group("--cloud azure")
    for name in ("tenant_id", "subscription_id", "location", "resource_group", "aks_subnet_id", "key_vault_name", *AZURE_DB):
        azure.add_argument(_flag(name))
    astro = p.add_argument_group("--mode remote-execution")
    for name in ASTRO:
        astro.add_argument(_flag(name))
    astro.add_argument("--astro-external-ips", nargs="+", metavar="CIDR", help="azure: the Astro Deployment's external IPs")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        print(create(args))
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
