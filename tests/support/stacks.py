"""Edit example stacks in memory and run the whole program on them."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from components.settings.errors import SettingsError
from tools.mocks import RecordingMocks, RecordingMonitor
from tools.render import mock_context, run_program
from tools.stackfile import StackConfig

PROJECT = "airflow-platform"


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
