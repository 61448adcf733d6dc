"""Edit example stacks in memory or as stack files, and run the whole program (or the renderer's CLI) on them."""

from __future__ import annotations

import copy
import io
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from components.settings.errors import SettingsError
from tools import render
from tools.mocks import RecordingMocks, RecordingMonitor
from tools.render import mock_context, run_program
from tools.stackfile import StackConfig

PROJECT = "airflow-platform"


def unwrap(value: Any) -> Any:
    """A registered input or output as plain data, secrets shown (what the tests compare)."""
    return render.mask(value, show_secrets=True)


def with_values(base: StackConfig, **changes) -> StackConfig:
    """``base`` with project keys replaced (``None`` removes a key)."""
    values = copy.deepcopy(base.values)
    for key, value in changes.items():
        full = f"{PROJECT}:{key}"
        if value is None:
            values.pop(full, None)
        else:
            values[full] = value
    return replace(base, values=values)


def edit(base: StackConfig, key: str, mutate) -> StackConfig:
    """``base`` with structured key ``key`` changed in place by ``mutate``."""
    value = copy.deepcopy(base.values[f"{PROJECT}:{key}"])
    mutate(value)
    return with_values(base, **{key: value})


def expect_rejected(stack: StackConfig, setting: str) -> str:
    """Run the whole program: it must fail with one line naming ``setting`` and register nothing."""
    monitor = RecordingMonitor(RecordingMocks(mock_context(stack)))
    with pytest.raises(SettingsError) as caught:
        run_program(stack, monitor=monitor)
    message = str(caught.value)
    assert "\n" not in message, message
    assert f"{PROJECT}:{setting}" in message, f"{setting!r} not named in: {message}"
    assert monitor.registrations == [], [r.name for r in monitor.registrations]
    return message


@dataclass
class CliRun:
    """One in-process run of ``python -m tools.render``."""

    code: int
    stdout: str
    stderr: str
    registrations: list
    """Everything the program registered before it stopped (empty when the stack was refused in time)."""


def run_cli(stack_file: Path, out: Path, *options: str) -> CliRun:
    """Run the renderer's ``main`` in this process, recording its output and every registration.

    An exception that escapes ``main`` (a traceback for the user) propagates to the test.
    """
    monitors: list[RecordingMonitor] = []

    class Monitor(RecordingMonitor):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            monitors.append(self)

    stdout, stderr = io.StringIO(), io.StringIO()
    with mock.patch.object(render, "RecordingMonitor", Monitor), redirect_stdout(stdout), redirect_stderr(stderr):
        code = render.main([str(stack_file), "--out", str(out), *options])
    return CliRun(code, stdout.getvalue(), stderr.getvalue(), [r for m in monitors for r in m.registrations])


def expect_cli_rejected(stack_file: Path, out: Path, *expected: str) -> str:
    """The renderer must exit 2 with one line holding every ``expected`` text, register nothing and write nothing."""
    result = run_cli(stack_file, out)
    lines = result.stderr.splitlines()
    assert result.code == 2, (result.code, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], f"{text!r} not in: {lines[0]}"
    assert result.registrations == [], [r.name for r in result.registrations]
    assert not (out / "resources.json").exists()
    return lines[0]


def stack_document(stack: StackConfig) -> dict:
    """``stack`` as a stack file would hold it (secret keys as ``secure:`` ciphertexts)."""
    config = {key: ({"secure": "v1:EXAMPLEciphertext=="} if key in stack.secret_keys else value) for key, value in stack.values.items()}
    return {"config": copy.deepcopy(config)}


def write_stack_file(directory: Path, name: str, document: object | str) -> Path:
    """Write ``config/Pulumi.<name>.yaml`` under ``directory``: YAML text as is, anything else dumped."""
    path = directory / f"Pulumi.{name}.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return path
