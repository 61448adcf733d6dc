"""Settings refuse an Airflow version outside the supported range, naming the range."""

from __future__ import annotations

import pytest

from components import versions
from components.settings.validation import settings_from_config
from tests.conftest import stack_file
from tests.support.stacks import PROJECT, expect_rejected, with_values
from tools.stackfile import StackConfig, load_stack

AWS_PROD = load_stack(stack_file("payments-prod"))
"""Deploys airflowVersion 3.1.8 (Pulumi.yaml default) from the image tag 3.1.8-payments.4."""


def accepts(stack: StackConfig) -> None:
    raw = {k: v for k, v in stack.project_values().items() if f"{PROJECT}:{k}" not in stack.secret_keys}
    settings_from_config(raw, stack=stack.stack, aws_region=stack.values.get("aws:region"))


@pytest.mark.parametrize("version", ["3.0.6", "3.1.7", "3.99.0"])
def test_should_refuse_an_airflow_version_outside_the_supported_range(version):
    stack = with_values(AWS_PROD, airflowVersion=version, airflowImageTag="")
    message = expect_rejected(stack, "airflowVersion")
    assert f"{versions.MIN_AIRFLOW} to {versions.MAX_AIRFLOW}" in message, message
    assert repr(version) in message


@pytest.mark.parametrize("version", [*versions.TESTED, "3.2.1"])
def test_should_accept_every_version_within_the_supported_range(version):
    accepts(with_values(AWS_PROD, airflowVersion=version, airflowImageTag=f"{version}-python3.12"))


@pytest.mark.parametrize("tag", ["3.0.6-python3.12", "slim-3.99.0"])
def test_should_refuse_an_image_tag_naming_an_unsupported_airflow(tag):
    message = expect_rejected(with_values(AWS_PROD, airflowImageTag=tag), "airflowImageTag")
    assert versions.supported_range() in message, message


def test_should_refuse_an_image_tag_naming_another_airflow_than_airflow_version():
    stack = with_values(AWS_PROD, airflowVersion=versions.MIN_AIRFLOW, airflowImageTag=f"{versions.MAX_AIRFLOW}-python3.12")
    message = expect_rejected(stack, "airflowImageTag")
    assert f"airflowVersion is {versions.MIN_AIRFLOW}" in message, message


@pytest.mark.parametrize("tag", ["latest", "2026.03.11", "payments-build-42"])
def test_should_leave_a_tag_that_names_no_version_to_the_team(tag):
    accepts(with_values(AWS_PROD, airflowImageTag=tag))
