"""The examples take their shared settings from ESC environments; what they render is what the same settings
written inline in the stack file render (the refactor into environments changed no resource, value or output)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import STACK_FILES, render
from tools import esc, esc_config
from tools.render import run_program
from tools.stackfile import ROOT, load_project, load_stack


def inline(stack_file: Path, dest: Path) -> Path:
    """``stack_file`` with its environments' ``pulumiConfig`` written into its ``config:`` (no ``environment:``)."""
    project, _ = load_project()
    document = yaml.safe_load(stack_file.read_text())
    config, environments = esc_config.merged_config(document, project, esc.file_reader(ROOT), str(stack_file))
    assert environments, f"{stack_file.name} imports no environment"
    path = dest / stack_file.name
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=lambda p: p.name.removeprefix("Pulumi.").removesuffix(".yaml"))
def test_should_render_exactly_what_the_same_settings_inline_render(stack_file: Path, tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    flat = inline(stack_file, tmp_path / "config")
    with_environments, written_inline = render(stack_file), run_program(load_stack(flat))
    assert with_environments.stack.values == written_inline.stack.values
    assert with_environments.stack.secret_keys == written_inline.stack.secret_keys
    for show in (False, True):
        assert json.dumps(with_environments.resources_document(show), sort_keys=True) == json.dumps(
            written_inline.resources_document(show), sort_keys=True
        )
        assert with_environments.helm_values(show) == written_inline.helm_values(show)
        assert with_environments.outputs_document(show) == written_inline.outputs_document(show)


def test_should_share_team_and_org_defaults_instead_of_copying_them() -> None:
    own = {p.name: yaml.safe_load(p.read_text())["config"] for p in STACK_FILES}
    for name, config in own.items():
        for key in ("cloud", "team", "environment", "aws", "protectStateful"):
            assert f"airflow-platform:{key}" not in config, f"{name}: {key} belongs in its environments"
        assert "aws:region" not in config, name
