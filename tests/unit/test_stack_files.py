"""A stack file the CLI would not read as written stops the renderer with one line naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import stack_file
from tests.support.stacks import PROJECT, expect_cli_rejected, run_cli, stack_document, write_stack_file
from tools.stackfile import StackFileError, load_stack

EXAMPLE = stack_file("payments-prod")
TEXT = EXAMPLE.read_text().replace("config:\n", "config:\n  airflow-platform:team: payments\n", 1)
"""The example, with its team (else from its ESC environment) written in the file too: the stack file's own value wins."""


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    assert old in TEXT
    return write_stack_file(tmp_path, "bad", TEXT.replace(old, new))


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_should_name_file_and_line_of_a_yaml_syntax_error(tmp_path):
    bad = _edited(tmp_path, "  airflow-platform:team: payments", "  airflow-platform:team: [payments")
    line = expect_cli_rejected(bad, tmp_path / "out", str(bad), "YAML syntax error")
    assert f", line {_line_of(bad, 'executor')}, column" in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "a stack file is a mapping with a config: section, not a YAML list"),
        ("just words\n", "not a YAML string"),
        ("config: [1, 2]\n", "config: is a mapping of keys to values, not a YAML list"),
        ("config: true\n", "not a YAML boolean"),
    ],
    ids=["list", "scalar", "config-list", "config-scalar"],
)
def test_should_refuse_a_stack_file_or_config_that_is_not_a_mapping(tmp_path, text, expected):
    bad = write_stack_file(tmp_path, "bad", text)
    expect_cli_rejected(bad, tmp_path / "out", str(bad), expected)


@pytest.mark.parametrize(
    ("old", "new", "setting"),
    [
        ("  airflow-platform:team: payments", "  airflow-platform:team: payments\n  123: x", f"{PROJECT}:123"),
        (
            "      trackingRef: main\n      subdir: dags\n      refreshIntervalSeconds",
            "      trackingRef: main\n      2: dags\n      refreshIntervalSeconds",
            "dagBundles[0].2",
        ),
        ("        account: acme-payments", "        account: acme-payments\n        2024-01-01: x", "connections[1].extra.2024-01-01"),
    ],
    ids=["config-int", "nested-int", "nested-date"],
)
def test_should_refuse_a_key_that_is_not_a_string(tmp_path, old, new, setting):
    bad = _edited(tmp_path, old, new)
    key = setting.rsplit(".", 1)[-1].removeprefix(f"{PROJECT}:")
    line = expect_cli_rejected(bad, tmp_path / "out", setting, "keys are strings: write it in quotes")
    assert f"{bad}, line {_line_of(bad, f'{key}:')}:" in line


@pytest.mark.parametrize(
    ("old", "new", "setting", "expected"),
    [
        ("airflowImageTag: 3.1.8-payments.4", "airflowImageTag: 2024-01-01", "airflowImageTag = '2024-01-01'", "YAML reads it as a date"),
        ("airflowImageTag: 3.1.8-payments.4", "airflowImageTag: 3.10", "airflowImageTag = '3.10'", "YAML reads it as a number"),
        ("airflowImageTag: 3.1.8-payments.4", "airflowImageTag: on", "airflowImageTag = 'on'", "YAML reads it as a boolean"),
        ("airflowImageTag: 3.1.8-payments.4", "airflowImageTag:", "airflowImageTag = ''", "empty: give a string"),
        ("team: payments", "team: {name: payments}", "team = ", "the setting is a string, YAML reads a mapping"),
        (
            "executor: KubernetesExecutor",
            "executor: KubernetesExecutor\n  airflow-platform:schedulerReplicas: 2.5",
            "schedulerReplicas = '2.5'",
            "an integer",
        ),
        (
            "executor: KubernetesExecutor",
            "executor: KubernetesExecutor\n  airflow-platform:pgbouncerEnabled: maybe",
            "pgbouncerEnabled = 'maybe'",
            "a boolean",
        ),
        ("trackingRef: v2.3.0", "trackingRef: 2024-01-01", "dagBundles[1].trackingRef = '2024-01-01'", "YAML reads it as a date"),
        ("trackingRef: v2.3.0", "trackingRef: 2024-01-01T10:00:00Z", "dagBundles[1].trackingRef", "YAML reads it as a timestamp"),
        ("trackingRef: v2.3.0", "trackingRef: !!binary aGVsbG8=", "dagBundles[1].trackingRef", "binary value"),
    ],
    ids=["date", "float", "bool", "null", "mapping", "float-int", "word-bool", "nested-date", "nested-timestamp", "binary"],
)
def test_should_refuse_a_scalar_of_the_wrong_yaml_type(tmp_path, old, new, setting, expected):
    bad = _edited(tmp_path, old, new)
    line = expect_cli_rejected(bad, tmp_path / "out", f"{PROJECT}:{setting}", expected)
    assert line.startswith(f"error: {bad}, line ")


def test_should_accept_quoted_values_and_the_types_the_cli_accepts(tmp_path):
    good = _edited(tmp_path, "airflowImageTag: 3.1.8-payments.4", 'airflowImageTag: "2024-01-01"')
    good.write_text(
        good.read_text().replace(
            "  airflow-platform:team: payments", '  airflow-platform:team: payments\n  airflow-platform:schedulerReplicas: "3"'
        )
    )
    stack = load_stack(good)
    assert stack.values[f"{PROJECT}:airflowImageTag"] == "2024-01-01"
    assert stack.values[f"{PROJECT}:schedulerReplicas"] == "3"


def test_should_refuse_a_key_given_twice(tmp_path):
    bad = _edited(tmp_path, "  airflow-platform:team: payments", "  airflow-platform:team: payments\n  airflow-platform:team: growth")
    first = _line_of(bad, "team: payments")
    expect_cli_rejected(bad, tmp_path / "out", f"line {first + 1}: key 'airflow-platform:team' is already defined at line {first}")


def test_should_refuse_an_alias_that_contains_itself(tmp_path):
    bad = _edited(
        tmp_path, "      subdir: dags\n      refreshIntervalSeconds: 120", "      subdir: &loop [*loop]\n      refreshIntervalSeconds: 120"
    )
    expect_cli_rejected(bad, tmp_path / "out", "dagBundles[0].subdir", "refers to its own container")


def test_should_refuse_a_file_that_is_not_utf8_or_badly_named(tmp_path):
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_bytes(TEXT.encode() + b"\n# \xff\n")
    expect_cli_rejected(bad, tmp_path / "out", f"{bad}, line ", "not UTF-8 text")
    misnamed = write_stack_file(tmp_path, "x", TEXT).rename(tmp_path / "stack.yaml")
    expect_cli_rejected(misnamed, tmp_path / "out", "stack files are named Pulumi.<stack>.yaml")
    expect_cli_rejected(tmp_path / "Pulumi.missing.yaml", tmp_path / "out", "cannot read the stack file")


def test_a_stack_file_error_is_a_settings_error_for_every_caller():
    with pytest.raises(StackFileError) as caught:
        load_stack(Path("Pulumi.yaml"))
    assert "\n" not in str(caught.value)


def test_should_render_an_example_written_back_to_a_file(tmp_path):
    """The helpers used by the property tests round-trip: an example dumped to YAML renders as before."""
    path = write_stack_file(tmp_path, "payments-prod", stack_document(load_stack(EXAMPLE)))
    result = run_cli(path, tmp_path / "out")
    assert (result.code, result.stderr) == (0, "")
    assert (tmp_path / "out" / "resources.json").exists()
