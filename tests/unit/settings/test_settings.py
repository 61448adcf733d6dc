"""Settings validation: bad input ends in one clear line naming the setting, and nothing is registered."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components import naming
from components.settings.fields import MAX_FEDERATED_CREDENTIALS
from components.settings.validation import settings_from_config
from tests.conftest import STACK_FILES, stack_file
from tests.support.stacks import PROJECT, edit, expect_rejected, with_values
from tools.stackfile import ROOT, load_stack

AWS_PROD = load_stack(stack_file("payments-prod"))
AZURE_PROD = load_stack(stack_file("research-prod"))
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_should_accept_every_example_stack(path: Path):
    stack = load_stack(path)
    raw = {k: v for k, v in stack.project_values().items() if f"{PROJECT}:{k}" not in stack.secret_keys}
    parsed = settings_from_config(raw, stack=stack.stack, aws_region=stack.values.get("aws:region"))
    assert parsed.stack == stack.stack


# ---------------------------------------------------------------- property tests (hypothesis)


@FAST
@given(st.text(min_size=1, max_size=12).filter(lambda c: c not in ("aws", "azure")))
def test_should_reject_an_unknown_cloud(cloud):
    message = expect_rejected(with_values(AWS_PROD, cloud=cloud), "cloud")
    assert "'aws'" in message and "'azure'" in message


@FAST
@given(st.text(min_size=1, max_size=30).filter(lambda t: not naming.DNS_LABEL.match(t) or len(t) > 20))
def test_should_reject_a_team_that_cannot_prefix_names(team):
    expect_rejected(with_values(AWS_PROD, team=team), "team")


@FAST
@given(st.integers(min_value=-5, max_value=6))
def test_should_refuse_short_backups_in_production(days):
    stack = edit(AWS_PROD, "database", lambda db: db.update(backupRetentionDays=days))
    expect_rejected(stack, "database.backupRetentionDays")


@FAST
@given(st.sampled_from(["deletionProtection", "highAvailability", "finalSnapshot"]))
def test_should_refuse_relaxed_safety_in_production(flag):
    expect_rejected(edit(AWS_PROD, "database", lambda db: db.update({flag: False})), f"database.{flag}")


def test_should_refuse_unprotected_stateful_resources_in_production():
    expect_rejected(with_values(AWS_PROD, protectStateful=False), "protectStateful")


@FAST
@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.!", min_size=1, max_size=30).filter(
        lambda n: not naming.KEY_VAULT_NAME.match(n)
    )
)
def test_should_reject_key_vault_names_azure_would_refuse(name):
    expect_rejected(edit(AZURE_PROD, "azure", lambda az: az["keyVault"].update(name=name)), "azure.keyVault.name")


@FAST
@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 .:/@#", min_size=1, max_size=20).filter(
        lambda c: naming.conn_id_problem(c) is not None
    )
)
def test_should_reject_conn_ids_a_backend_cannot_hold(conn_id):
    stack = edit(AWS_PROD, "connections", lambda conns: conns[1].update(connId=conn_id))
    expect_rejected(stack, "connections[1].connId")


@FAST
@given(st.from_regex(r"[a-z][a-z0-9]{2,10}(_[a-z0-9]{1,8}){1,3}", fullmatch=True), st.data())
def test_should_reject_conn_ids_that_collide_after_key_vault_mangling(conn_id, data):
    twin = data.draw(st.sampled_from([conn_id.replace("_", "-"), conn_id.upper(), conn_id.title()]))
    if twin == conn_id:
        twin = conn_id.replace("_", "-")

    def add_twin(conns):
        conns.append({"connId": conn_id, "connType": "http", "host": "https://a.example"})
        conns.append({"connId": twin, "connType": "http", "host": "https://b.example"})

    message = expect_rejected(edit(AZURE_PROD, "connections", add_twin), "connections")
    assert conn_id in message and twin in message


def test_should_name_both_long_colliding_conn_ids_even_when_the_value_is_cut():
    conn_id = "abcdefghijk_abcdefgh_abcdefgh_abcdefgh"  # two of these overflow the 80-character value display

    def add_twin(conns):
        conns.append({"connId": conn_id, "connType": "http", "host": "https://a.example"})
        conns.append({"connId": conn_id.upper(), "connType": "http", "host": "https://b.example"})

    message = expect_rejected(edit(AZURE_PROD, "connections", add_twin), "connections")
    assert conn_id in message and conn_id.upper() in message


@FAST
@given(st.integers(min_value=1, max_value=60))
def test_should_reject_key_vault_secret_names_over_127_characters(extra):
    conn_id = "c" * (127 - len("airflow-connections-") + extra)
    stack = edit(AZURE_PROD, "connections", lambda conns: conns.append({"connId": conn_id, "connType": "http"}))
    expect_rejected(stack, "connections")


@FAST
@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=15).filter(
        lambda r: r not in (__import__("components.azure_regions", fromlist=["AZURE_REGIONS"]).AZURE_REGIONS)
    )
)
def test_should_reject_an_unknown_azure_region(region):
    message = expect_rejected(edit(AZURE_PROD, "azure", lambda az: az.update(location=region)), "azure.location")
    assert "westeurope" in message


@FAST
@given(
    # Word characters (any script) rather than any text: few draws are filtered out, so Hypothesis's
    # filter_too_much health check cannot fail the test at random.
    st.from_regex(r"\A\w{1,15}\Z").filter(
        lambda k: k.isidentifier() and k not in ("cloud", "environment", "team", "database", "aws", "azure", "connections")
    )
)
def test_should_reject_unknown_settings_instead_of_ignoring_typos(key):
    expect_rejected(with_values(AWS_PROD, **{f"zz{key}": "x"}), f"zz{key}")


def test_should_require_the_cloud_section_of_the_chosen_cloud():
    expect_rejected(with_values(AWS_PROD, aws=None), "aws")
    expect_rejected(with_values(AZURE_PROD, azure=None), "azure")


def test_should_reject_the_21st_federated_credential():
    remote = load_stack(stack_file("insights-prod"))
    groups = [{"name": f"g{i}"} for i in range(MAX_FEDERATED_CREDENTIALS)]
    stack = edit(remote, "remoteExecution", lambda re_: re_.update(workerGroups=groups))
    message = expect_rejected(stack, "azure")
    assert str(MAX_FEDERATED_CREDENTIALS) in message


def test_should_name_a_bundle_connection_that_is_not_declared():
    stack = edit(AWS_PROD, "dagBundles", lambda bundles: bundles[0].update(gitConnId="git_missing"))
    expect_rejected(stack, "dagBundles[0].gitConnId")


def test_should_reject_a_secret_config_key_stored_in_plain_text():
    stack = replace(AWS_PROD, secret_keys=frozenset())
    message = expect_rejected(stack, "connections[0].secretFields.password")
    assert "pulumi config set --secret gitPaymentsDagsToken" in message


def test_should_reject_a_missing_secret_config_key():
    values = {k: v for k, v in AWS_PROD.values.items() if not k.endswith(":gitPaymentsDagsToken")}
    stack = replace(AWS_PROD, values=values, secret_keys=frozenset())
    expect_rejected(stack, "connections[0].secretFields.password")


def test_should_refuse_public_database_network_in_production():
    def public(az):
        az["databaseNetwork"] = {"mode": "public", "allowedIpRanges": ["203.0.113.0/28"]}

    expect_rejected(edit(AZURE_PROD, "azure", public), "azure.databaseNetwork.mode")


def test_should_reject_an_oidc_issuer_that_does_not_match_the_provider():
    stack = edit(AWS_PROD, "aws", lambda aws: aws.update(oidcIssuerUrl="https://oidc.eks.eu-west-1.amazonaws.com/id/OTHER"))
    expect_rejected(stack, "aws.oidcIssuerUrl")


def test_render_cli_exits_2_with_one_line_and_writes_nothing(tmp_path: Path):
    bad = tmp_path / "Pulumi.bad.yaml"
    document = {"config": {f"{PROJECT}:{k}": v for k, v in AWS_PROD.project_values().items() if k != "executor"}}
    document["config"]["aws:region"] = "eu-west-1"
    document["config"][f"{PROJECT}:executor"] = "SequentialExecutor"
    bad.write_text(json.dumps(document))
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "tools.render", str(bad), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{PROJECT}:executor" in lines[0] and "SequentialExecutor" in lines[0]
    assert "KubernetesExecutor" in lines[0]
    assert not out.exists()


def test_should_reject_a_scalar_where_an_object_is_expected():
    message = expect_rejected(with_values(AWS_PROD, database="db.t3.micro"), "database")
    assert "db.t3.micro" in message
