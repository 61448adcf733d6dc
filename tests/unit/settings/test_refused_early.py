"""Stacks that used to fail mid-run (some after 26 registrations) are refused by the settings, before any resource."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from components.aws import platform as aws_platform
from components.aws import policies
from components.settings.cloud_rules import IAM_TRUST_POLICY_MAX_CHARS, trust_policy_chars
from components.settings.errors import SECRET, Problem, SettingsError, is_secret_name, redact
from components.settings.validation import settings_from_config
from tests.conftest import STACK_FILES, stack_file
from tests.support.stacks import PROJECT, edit, expect_rejected, with_values
from tools.render import run_program
from tools.stackfile import load_stack

AWS_PROD = load_stack(stack_file("payments-prod"))
AZURE_PROD = load_stack(stack_file("research-prod"))
AWS_REMOTE = load_stack(stack_file("growth-prod"))
AZURE_REMOTE = load_stack(stack_file("insights-prod"))


# ---------------------------------------------------------------- (d) '{{' reaches airflow.cfg through Helm tpl


@pytest.mark.parametrize("field", ["subdir", "trackingRef", "repoUrl", "gitConnId", "name"])
def test_should_refuse_a_template_in_a_bundle_setting_that_reaches_airflow_cfg(field):
    value = "https://x.example/{{ .Values.x }}" if field == "repoUrl" else "{{ .Release.Name }}"
    message = expect_rejected(edit(AWS_PROD, "dagBundles", lambda bundles: bundles[1].update({field: value})), f"dagBundles[1].{field}")
    assert "airflow.cfg" in message or "does not match" in message


def test_should_refuse_a_template_in_a_local_bundle_path():
    stack = edit(AZURE_REMOTE, "dagBundles", lambda bundles: bundles[1].update(path="/dags/{{x}}"))
    expect_rejected(stack, "dagBundles[1].path")


@pytest.mark.parametrize("key", ["connectionsPrefix", "variablesPrefix"])
def test_should_refuse_a_template_in_a_backend_prefix(key):
    expect_rejected(with_values(AWS_PROD, **{key: "airflow/{{x}}"}), key)


# ---------------------------------------------------------------- (e) team names the clouds refuse


@pytest.mark.parametrize("team", ["1payments", "pay--ments"])
def test_should_refuse_a_team_that_cannot_name_the_rds_instance(team):
    message = expect_rejected(with_values(AWS_PROD, team=team), "team")
    assert f"{team}-prod-airflow" in message and "start with a letter" in message


@pytest.mark.parametrize("team", ["1research", "re--search"])
def test_should_accept_such_a_team_where_no_resource_name_refuses_it(team):
    assert run_program(with_values(AZURE_PROD, team=team)).registrations
    assert run_program(with_values(AWS_REMOTE, team=team)).registrations  # remote execution on AWS creates no RDS instance


# ---------------------------------------------------------------- (f) Astro service accounts too long for the identity


def test_should_refuse_an_astro_service_account_too_long_for_a_federated_credential_name():
    def long_names(re_):
        re_["schedulerAccess"]["serviceAccounts"] = ["stellar-nebula-2087-scheduler-serviceaccount", "s" * 115]

    message = expect_rejected(edit(AZURE_REMOTE, "remoteExecution", long_names), "remoteExecution.schedulerAccess.serviceAccounts")
    assert "Entra allows 3-120" in message and "121 characters" in message


def test_should_accept_the_longest_astro_service_account_a_federated_credential_name_holds():
    def longest(re_):
        re_["schedulerAccess"]["serviceAccounts"] = ["stellar-nebula-2087-scheduler-serviceaccount", "s" * 114]

    assert run_program(edit(AZURE_REMOTE, "remoteExecution", longest)).registrations


def test_should_refuse_service_accounts_that_overflow_the_iam_trust_policy():
    def many(re_):
        names = ["celestial-orbit-5123-scheduler-serviceaccount"] + [f"reader-{i}-" + "a" * 150 for i in range(12)]
        re_["schedulerAccess"] = {"mode": "explicit", "serviceAccounts": names}

    message = expect_rejected(edit(AWS_REMOTE, "remoteExecution", many), "remoteExecution.schedulerAccess.serviceAccounts")
    assert f"IAM allows {IAM_TRUST_POLICY_MAX_CHARS}" in message


def test_should_refuse_a_service_account_name_kubernetes_refuses():
    def too_long(re_):
        re_["schedulerAccess"] = {"mode": "explicit", "serviceAccounts": ["celestial-orbit-5123-scheduler-serviceaccount", "a" * 254]}

    message = expect_rejected(edit(AWS_REMOTE, "remoteExecution", too_long), "remoteExecution.schedulerAccess.serviceAccounts")
    assert "at most 253" in message


AWS_STACK_FILES = [p for p in STACK_FILES if load_stack(p).values[f"{PROJECT}:cloud"] == "aws"]


@pytest.mark.parametrize("path", AWS_STACK_FILES, ids=lambda p: p.stem)  # IRSA is AWS only
@pytest.mark.parametrize("explicit", [0, 1, 5], ids=["as-is", "one-astro-sa", "five-astro-sas"])
def test_trust_policy_size_is_the_length_of_the_policy_the_role_gets(path, explicit):
    stack = load_stack(path)
    raw = {k: v for k, v in stack.project_values().items() if f"{PROJECT}:{k}" not in stack.secret_keys}
    if explicit and "remoteExecution" in raw:
        ns = raw["remoteExecution"]["deployment"]["namespace"]
        names = [f"{ns}-scheduler-serviceaccount"] + [f"extra-reader-{i}" for i in range(explicit - 1)]
        raw["remoteExecution"] = {**raw["remoteExecution"], "schedulerAccess": {"mode": "explicit", "serviceAccounts": names}}
    s = settings_from_config(raw, stack=stack.stack, aws_region=stack.values["aws:region"])
    aws = s.aws
    trusts = [
        policies.FederatedTrust(
            provider_arn=aws.oidc_provider_arn, issuer_url=aws.oidc_issuer_url, subjects=aws_platform.reader_subjects(s)
        )
    ]
    astro = aws_platform.astro_subjects(s)
    if astro:
        d = s.remote_execution.deployment
        provider = (
            d.oidc_provider_arn
            or f"arn:{aws.partition}:iam::{aws.account_id}:oidc-provider/{d.oidc_issuer_url.removeprefix('https://').rstrip('/')}"
        )
        trusts.append(policies.FederatedTrust(provider_arn=provider, issuer_url=d.oidc_issuer_url, subjects=astro))
    document = json.dumps(policies.irsa_trust_policy(trusts), separators=(",", ":"))
    assert trust_policy_chars(s, aws) == len(document)


# ---------------------------------------------------------------- (g) a prefix that names no prefix


@pytest.mark.parametrize("prefix", ["/", "-", "//", "/-/"])
@pytest.mark.parametrize("base", [AWS_PROD, AZURE_PROD], ids=["aws", "azure"])
@pytest.mark.parametrize("key", ["connectionsPrefix", "variablesPrefix"])
def test_should_refuse_a_prefix_made_only_of_separators(prefix, base, key):
    if base is AZURE_PROD and "/" in prefix:
        expect_rejected(with_values(base, **{key: prefix}), key)  # Key Vault takes no '/' at all
        return
    message = expect_rejected(with_values(base, **{key: prefix}), key)
    assert "names no prefix" in message


# ---------------------------------------------------------------- no message shows a secret


def test_should_not_echo_an_unused_secret_config_key():
    stack = with_values(AWS_PROD, unusedToken="hunter2-value-of-the-secret")
    stack = replace(stack, secret_keys=stack.secret_keys | {f"{PROJECT}:unusedToken"})
    message = expect_rejected(stack, "unusedToken")
    assert "hunter2" not in message and f"unusedToken = {SECRET}" in message


def test_should_not_echo_an_unused_secret_config_key_whatever_its_name():
    stack = with_values(AWS_PROD, notes="hunter2-value-of-the-secret")
    stack = replace(stack, secret_keys=stack.secret_keys | {f"{PROJECT}:notes"})
    assert "hunter2" not in expect_rejected(stack, "notes")


def test_should_not_echo_a_declared_setting_set_as_a_secret_anywhere_in_the_line():
    stack = with_values(AWS_PROD, team="Hunter2Team")
    stack = replace(stack, secret_keys=stack.secret_keys | {f"{PROJECT}:team"})
    assert "Hunter2Team" not in expect_rejected(stack, "team")


def test_should_refuse_a_password_written_on_a_connection_without_echoing_it():
    stack = edit(AWS_PROD, "connections", lambda conns: conns[1].update(password="hunter2-plain"))
    message = expect_rejected(stack, "connections[1].password")
    assert "hunter2" not in message
    assert "pulumi config set --secret <configKey> <value>" in message and "secretFields: {password: <configKey>}" in message


@pytest.mark.parametrize("key", ["password", "token", "private_key_content", "private_key", "secret", "client_secret", "api_key", "apiKey"])
def test_should_refuse_plaintext_secret_material_in_a_connection_extra(key):
    plain = {"connId": "api_x", "connType": "http", "host": "https://api.example.com", "extra": {key: "hunter2-plain"}}
    index = len(AWS_PROD.values[f"{AWS_PROD.project}:connections"])
    message = expect_rejected(edit(AWS_PROD, "connections", lambda conns: conns.append(plain)), f"connections[{index}].extra.{key}")
    assert "hunter2" not in message
    assert "pulumi config set --secret" in message and f"secretFields: {{extra.{key}: <configKey>}}" in message


@pytest.mark.parametrize("key", ["private_key_file", "token_type", "key_path", "authenticator", "public_key"])
def test_should_accept_extra_keys_that_name_but_do_not_hold_secret_material(key):
    stack = edit(AWS_PROD, "connections", lambda conns: conns[1]["extra"].update({key: "/opt/keys/rsa_key.p8"}))
    raw = {k: v for k, v in stack.project_values().items() if f"{PROJECT}:{k}" not in stack.secret_keys}
    assert settings_from_config(raw, stack=stack.stack, aws_region="eu-west-1").connections[1].extra[key]


def test_should_refuse_a_private_key_block_in_any_extra_field_and_a_password_in_a_url():
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    message = expect_rejected(
        edit(AWS_PROD, "connections", lambda conns: conns[1]["extra"].update(notes=pem)), "connections[1].extra.notes"
    )
    assert "MIIE" not in message
    message = expect_rejected(
        edit(AWS_PROD, "connections", lambda conns: conns[0].update(host="https://bot:hunter2pw@github.com/acme-data/payments-dags.git")),
        "connections[0].host",
    )
    assert "hunter2" not in message
    stack = edit(AWS_PROD, "dagBundles", lambda bundles: bundles[1].update(repoUrl="https://bot:hunter2pw@github.com/acme/x.git"))
    assert "hunter2" not in expect_rejected(stack, "dagBundles[1].repoUrl")


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True), ("dbPassword", True), ("private_key_content", True), ("privateKey", True), ("APIKey", True),
        ("client_secret", True), ("sas_token", True), ("key", True), ("credentials", True), ("connection_string", True),
        ("private_key_file_pwd", True), ("astroAgentToken", True),
        ("keyVault", False), ("kmsKeyArn", False), ("secretSource", False), ("secretFields", False), ("private_key_file", False),
        ("public_key", False), ("token_type", False), ("databasePasswordGeneration", False), ("monkey", False), ("account", False),
    ],
)  # fmt: skip
def test_secret_by_name_rule(name, secret):
    assert is_secret_name(name) is secret


@pytest.mark.parametrize(
    "text",
    [
        "ghp_" + "aB3" * 12,
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "postgresql://airflow:Pa55w0rd@db.example.com:5432/airflow",
        "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=c2VjcmV0S2V5;EndpointSuffix=core.windows.net",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----",
    ],
    ids=["github", "github-pat", "jwt", "aws-secret-key", "url-password", "azure-storage", "hex", "pem"],
)
def test_should_redact_text_shaped_like_credentials(text):
    rendered = Problem("team", text, f"got {text}").render()
    for piece in ("aB3aB3", "11ABCDEFG", "dozjgNry", "bPxRfiCY", "Pa55w0rd", "c2VjcmV0", "9f86d0818", "b3BlbnNz"):
        assert piece not in rendered, rendered


@pytest.mark.parametrize(
    "text",
    [
        "SequentialExecutor",
        "db.t3.micro",
        "3.1.8-payments.4",
        "subnet-0f1e2d3c4b5a60001",
        "kv-research-prod-af",
        "Snowflake_Timetable_2024",
    ],
)
def test_should_show_ordinary_values(text):
    assert redact(repr(text)) == repr(text)


def test_a_settings_error_never_holds_a_secret_value_even_in_another_problem():
    error = SettingsError([Problem("team", "x", "the role 'Hunter2Team-prod' is too long")], secret_values=["Hunter2Team"])
    assert "Hunter2Team" not in str(error)
