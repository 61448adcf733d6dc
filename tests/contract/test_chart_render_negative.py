"""Each check of ``test_chart_render.py`` fails when the values are broken on purpose.

Every case takes one example's generated values, breaks one thing, renders the
real chart again and runs one check, which must report the break. The checks
compare against what the program registered for the unbroken example, so a
broken value cannot move the expectation with it.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import render as render_stack
from tests.conftest import stack_file
from tests.contract.test_chart_render import (
    NEWEST_KUBERNETES_VERSION,
    OLDEST_KUBERNETES_VERSION,
    Program,
    _tools_present,  # noqa: F401  (module fixture: a missing tool fails under CI)
    chart_render,
    check_install_order,
    check_schemas,
    render,
)
from tests.contract.test_chart_render_secrets import check_airflow_cfg, check_identity, check_no_secret_leak, check_secret_references

AWS, AZURE = "payments-dev", "research-dev"
Values = dict[str, Any]


@dataclass(frozen=True)
class Break:
    stack: str
    change: Callable[[Values, Program], None]
    check: Callable[[list[dict[str, Any]], Program, Path], list[str]]
    expected: str
    """Regular expression one reported problem must match."""


def set_in(path: str, value: Any) -> Callable[[Values, Program], None]:
    """A change that sets ``values[a][b]...`` (dotted path, missing levels created)."""

    def change(values: Values, program: Program) -> None:
        *parents, last = path.split(".")
        for key in parents:
            values = values.setdefault(key, {})
        values[last] = value(program) if callable(value) else value

    return change


def both(*changes: Callable[[Values, Program], None]) -> Callable[[Values, Program], None]:
    def change(values: Values, program: Program) -> None:
        for one in changes:
            one(values, program)

    return change


def admin_password(program: Program) -> str:
    return program.secrets[f"{program.release_name}-admin-password"]["password"]


def fernet_key(program: Program) -> str:
    return program.secrets[f"{program.release_name}-fernet-key-static"]["fernet-key"]


install_order = lambda m, p, _: check_install_order(m, p)  # noqa: E731
secret_refs = lambda m, p, _: check_secret_references(m, p)  # noqa: E731
identity = lambda m, p, _: check_identity(m, p)  # noqa: E731
schemas = lambda m, p, _: check_schemas(m, OLDEST_KUBERNETES_VERSION) + check_schemas(m, NEWEST_KUBERNETES_VERSION)  # noqa: E731
leak = lambda m, p, _: check_no_secret_leak(m, p)  # noqa: E731

BREAKS = {
    # 1. install order
    "migrations-back-to-a-post-install-hook": Break(
        AWS, set_in("migrateDatabaseJob.useHelmHooks", True), install_order, r"wait for migrations that run only in \['post'\]"
    ),
    "migrations-as-a-pre-install-hook": Break(
        AWS,
        set_in("migrateDatabaseJob.jobAnnotations", {"helm.sh/hook": "pre-install,pre-upgrade"}),
        install_order,
        r"Job/airflow-run-airflow-migrations \(pre\) needs ConfigMap/airflow-config .*created only by \['regular'\]",
    ),
    "config-map-made-by-a-post-install-hook": Break(
        AWS,
        both(
            set_in("extraConfigMaps", {"airflow-extra": {"useHelmHooks": False, "annotations": {"helm.sh/hook": "post-install"}}}),
            set_in("scheduler.extraVolumes", [{"name": "extra", "configMap": {"name": "airflow-extra"}}]),
        ),
        install_order,
        r"Deployment/airflow-scheduler \(regular\) needs ConfigMap/airflow-extra .*created only by \['post'\]",
    ),
    # 2. secret names and keys
    "secret-name-nobody-creates": Break(
        AWS, set_in("jwtSecretName", "airflow-jwt-absent"), secret_refs, r"Secret airflow/airflow-jwt-absent is created neither"
    ),
    "secret-key-missing": Break(
        AWS,
        set_in("createUserJob.env", [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "airflow-admin-password", "key": "passwd"}}}]),
        secret_refs,
        r"Job/airflow-create-user create-user env PW: Secret airflow-admin-password has no key 'passwd'",
    ),
    "secret-only-the-task-pod-template-mounts": Break(
        AZURE,
        set_in("workers.extraVolumes", [{"name": "task", "secret": {"secretName": "airflow-task-absent"}}]),
        secret_refs,
        r"ConfigMap/airflow-config\[pod_template_file\.yaml\] volume task: Secret airflow/airflow-task-absent",
    ),
    "image-pull-secret-nobody-creates": Break(
        AWS,
        set_in("registry.secretName", "airflow-registry-absent"),
        secret_refs,
        r"imagePullSecrets: Secret airflow/airflow-registry-absent",
    ),
    # 3. identity
    "workload-identity-label-removed": Break(
        AZURE,
        lambda values, _: values["triggerer"].pop("labels"),
        identity,
        r"StatefulSet/airflow-triggerer: pod label azure.workload.identity/use=None",
    ),
    "service-account-the-trust-does-not-admit": Break(
        AWS,
        set_in("scheduler.serviceAccount.name", "airflow-scheduler-renamed"),
        identity,
        r"not admitted \['system:serviceaccount:airflow:airflow-scheduler-renamed'\]",
    ),
    "role-annotation-dropped": Break(
        AWS,
        set_in("workers.serviceAccount.annotations", {}),
        identity,
        r"pod_template_file\.yaml\]: service account airflow-worker has eks\.amazonaws\.com/role-arn=None",
    ),
    # 4. airflow.cfg read by Airflow
    "environment-overrides-backend-kwargs": Break(
        AWS,
        set_in("env", [{"name": "AIRFLOW__SECRETS__BACKEND_KWARGS", "value": "{}"}]),
        check_airflow_cfg,
        r"Deployment/airflow-scheduler scheduler: environment \['AIRFLOW__SECRETS__BACKEND_KWARGS'\] overrides airflow.cfg",
    ),
    "backend-kwargs-changed-in-airflow-cfg": Break(
        AZURE,
        set_in("config.secrets.backend_kwargs", '{"connections_prefix": "other", "vault_url": "https://kv-other.vault.azure.net/"}'),
        check_airflow_cfg,
        r"Airflow reads backend_kwargs=\{'connections_prefix': 'other'",
    ),
    # 5. Kubernetes schemas
    "misspelt-field-in-extra-env": Break(
        AWS, set_in("extraEnv", "- name: BROKEN\n  valu: typo\n"), schemas, r"Deployment/airflow-scheduler: .*'valu' was unexpected"
    ),
    # 6. secret values
    "secret-in-the-clear": Break(
        AWS, set_in("config.core.leak", admin_password), leak, r"ConfigMap/airflow-config: a secret value \(plain"
    ),
    "secret-url-encoded": Break(
        AZURE,
        set_in("env", lambda p: [{"name": "LEAK", "value": quote(admin_password(p), safe="")}]),
        leak,
        r"Deployment/airflow-scheduler: a secret value \(URL-encoded",
    ),
    "secret-base64-encoded": Break(
        AWS,
        set_in("airflowPodAnnotations", lambda p: {"leak": base64.b64encode(fernet_key(p).encode()).decode()}),
        leak,
        r"Job/airflow-run-airflow-migrations: a secret value \(base64",
    ),
}


@pytest.mark.parametrize("case", list(BREAKS))
def test_should_report_the_break(case: str, tmp_path: Path) -> None:
    spec = BREAKS[case]
    program = chart_render(render_stack(stack_file(spec.stack))).program
    values: Values = copy.deepcopy(program.values)
    spec.change(values, program)
    assert values != program.values, "the change changed nothing"
    problems = spec.check(render(program, values), program, tmp_path)
    assert any(re.search(spec.expected, p) for p in problems), f"{case}: no problem matches {spec.expected!r}: {problems}"
