"""Property tests: no error line holds a secret, no input ends in a traceback, a refused stack registers nothing.

Two families of inputs, both run through the whole program:

* secret-looking values (``S3CR3T-<token>``, a PEM private key, a URL with a password, a JWT, a GitHub
  token) in every position of the example stacks: every scalar key, every field of every structured
  section (set or not in the example), every value the examples set, as the value of extra keys
  (secret-looking names or not) and as the name of an extra key, as secret config keys the stack uses
  or not, and as a declared setting stored as a secret. Neither the token nor any 10-character piece
  of it may reach stderr or the exception message;
* random bad input: text that may not be YAML, documents that are not mappings, ``config:`` holding
  anything, and example stacks with values swapped for nested garbage of random types.

Stack-file inputs go through the renderer's ``main`` in this process (as ``python -m tools.render``);
secret config keys, which a stack file can only hold encrypted, go through the program with the
secret set in memory. Every run must exit 0 (the value happened to be valid: nothing on stderr) or 2
with one line and no registration. ``COUNTS`` tallies the outcomes (printed at the end with ``-s``).
"""

from __future__ import annotations

import copy
import string
import tempfile
import types
import typing
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from components.settings.clouds import AwsSettings
from components.settings.errors import SettingsError
from components.settings.model import SCALAR_KEYS, STRUCTURED_KEYS, Settings
from tests.conftest import stack_file
from tests.support.stacks import PROJECT, run_cli, stack_document, write_stack_file
from tools.mocks import RecordingMocks, RecordingMonitor
from tools.render import mock_context, run_program
from tools.stackfile import StackConfig, load_stack

BASES = {name: load_stack(stack_file(name)) for name in ("payments-prod", "research-prod", "growth-prod", "insights-prod")}
COUNTS: Counter[str] = Counter()
EXTRA_NAMES = ("password", "token", "apiKey", "client_secret", "private_key_content", "notes", "description", "value")


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    print(f"\nproperty-test outcomes: {dict(sorted(COUNTS.items()))}")


# ---------------------------------------------------------------- positions in a stack


def _submodels(annotation: Any) -> list[tuple[type[BaseModel], bool]]:
    """Models inside a field's type, each with whether it sits in a tuple (a list in the config)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, False)]
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is tuple:
        return [(m, True) for a in args if a is not Ellipsis for m, _ in _submodels(a)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [found for a in args for found in _submodels(a)]
    return []


def model_paths(model: type[BaseModel] = Settings, prefix: tuple = ()) -> list[tuple]:
    """Every field of every (nested) settings model, as a config path (lists at index 0)."""
    paths = []
    for name, field in model.model_fields.items():
        if (model is Settings and name == "stack") or (model is AwsSettings and name == "region"):
            continue
        path = (*prefix, field.alias or to_camel(name))
        paths.append(path)
        for inner, listed in _submodels(field.annotation):
            paths += model_paths(inner, (*path, 0) if listed else path)
    return paths


def value_paths(value: Any, prefix: tuple = ()) -> tuple[list[tuple], list[tuple]]:
    """(paths of every value, paths of every mapping) inside ``value``."""
    paths, mappings = [prefix] if prefix else [], []
    if isinstance(value, dict):
        mappings.append(prefix)
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return paths, mappings
    for key, item in items:
        more, more_mappings = value_paths(item, (*prefix, key))
        paths += more
        mappings += more_mappings
    return paths, mappings


def plain_values(stack: StackConfig) -> dict[str, Any]:
    return {k: v for k, v in stack.project_values().items() if f"{PROJECT}:{k}" not in stack.secret_keys}


def positions(stack: StackConfig) -> dict[str, list[tuple]]:
    """Where a secret goes, by kind: paths to set, or (``extra key``) mappings to add a key to."""
    values, mappings = value_paths(plain_values(stack))
    fields = model_paths()
    return {
        "scalar key": [(key,) for key in SCALAR_KEYS],
        "structured field": sorted({p for p in fields if len(p) > 1}, key=repr),
        "example value": sorted(set(values), key=repr),
        "extra key": sorted(set(mappings), key=repr),
    }


POSITIONS = {name: positions(stack) for name, stack in BASES.items()}


def set_at(values: dict[str, Any], path: tuple, value: Any) -> None:
    """Set ``path`` in ``values``, making the mappings and lists on the way."""
    current: Any = values
    for part, following in zip(path, (*path[1:], None), strict=True):
        if following is None:
            break
        container: Any = [] if isinstance(following, int) else {}
        if isinstance(current, list):
            while len(current) <= part:
                current.append(copy.deepcopy(container))
            if not isinstance(current[part], type(container)):
                current[part] = container
        else:
            if not isinstance(current.get(part), type(container)):
                current[part] = container
        current = current[part]
    if isinstance(current, list):
        while len(current) <= path[-1]:
            current.append(None)
    current[path[-1]] = value


def with_project_values(stack: StackConfig, values: dict[str, Any], secret: dict[str, Any] | None = None) -> StackConfig:
    """``stack`` with its plain project values replaced by ``values``; ``secret`` keys set (in memory) as secrets."""
    kept = {k: v for k, v in stack.values.items() if not k.startswith(f"{PROJECT}:") or k in stack.secret_keys}
    full = {**kept, **{f"{PROJECT}:{k}": v for k, v in values.items()}}
    secret = secret or {}
    full |= {f"{PROJECT}:{k}": v for k, v in secret.items()}
    return replace(stack, values=full, secret_keys=stack.secret_keys | {f"{PROJECT}:{k}" for k in secret})


# ---------------------------------------------------------------- secret-looking values


TOKEN = st.from_regex(r"[A-Za-z0-9]{17,37}", fullmatch=True).map(lambda t: t + "k9Z")


@st.composite
def secret_values(draw) -> tuple[str, str]:
    """(token, value carrying it): the token is what must never be seen."""
    token = draw(TOKEN)
    shapes = {
        "plain": f"S3CR3T-{token}",
        "pem": f"-----BEGIN PRIVATE KEY-----\n{token}\n-----END PRIVATE KEY-----",
        "url": f"https://svc:{token}@db.example.com/x",
        "jwt": f"eyJ{token}.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
        "github": f"ghp_{token}",
    }
    return token, shapes[draw(st.sampled_from(sorted(shapes)))]


def assert_no_leak(token: str, text: str) -> None:
    assert token not in text, text
    pieces = [token[i : i + 10] for i in range(len(token) - 9)]
    assert not [p for p in pieces if p in text], text


def check_cli(result, token: str | None = None) -> None:
    """Exit 0 with a silent stderr, or exit 2 with one line and nothing registered; never a traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    if token is not None:
        assert_no_leak(token, result.stderr + result.stdout)
    if result.code == 0:
        assert result.stderr == ""
        COUNTS["valid (rendered)"] += 1
        return
    assert result.code == 2, (result.code, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.registrations == [], [r.name for r in result.registrations]
    COUNTS["refused (exit 2, one line)"] += 1


def render_file(name: str, document: object) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        return run_cli(write_stack_file(Path(tmp), name, document), Path(tmp) / "out")


# ---------------------------------------------------------------- secrets in every position


@pytest.mark.parametrize("kind", ["scalar key", "structured field", "example value", "extra key"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_secret_placed_anywhere_in_a_stack_file_reaches_stderr(kind, data):
    name = data.draw(st.sampled_from(sorted(BASES)), label="example")
    base = BASES[name]
    token, secret = data.draw(secret_values(), label="secret")
    path = data.draw(st.sampled_from(POSITIONS[name][kind]), label="position")
    values = copy.deepcopy(plain_values(base))
    if kind == "extra key":
        path = (*path, data.draw(st.sampled_from([*EXTRA_NAMES, f"S3CR3T{token}"]), label="extra key"))
    set_at(values, path, secret)
    COUNTS[f"secret in a stack file: {kind}"] += 1
    check_cli(render_file(name, stack_document(with_project_values(base, values))), token)


@pytest.mark.parametrize(("kind", "examples"), [("unused", 10), ("used", 3), ("declared scalar", 10), ("declared structure", 10)])
def test_no_secret_config_value_reaches_the_error_message(kind, examples):
    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def run(data):
        secret_config_case(kind, data)

    run()


def secret_config_case(kind: str, data) -> None:
    name = data.draw(st.sampled_from(sorted(BASES)), label="example")
    base = BASES[name]
    token, secret = data.draw(secret_values(), label="secret")
    values = copy.deepcopy(plain_values(base))
    used = sorted(k.removeprefix(f"{PROJECT}:") for k in base.secret_keys)
    if kind == "unused":
        key = data.draw(st.sampled_from(["unusedToken", "notes", "dbPassword", f"zz{token[:5]}"]), label="key")
        secrets = {key: secret}
    elif kind == "used":
        secrets = {data.draw(st.sampled_from(used), label="key"): secret}
    elif kind == "declared scalar":
        key = data.draw(st.sampled_from(SCALAR_KEYS), label="key")
        values.pop(key, None)
        secrets = {key: secret}
    else:
        key = data.draw(st.sampled_from([k for k in STRUCTURED_KEYS if k in values]), label="key")
        inside = [p[1:] for p in POSITIONS[name]["example value"] + POSITIONS[name]["structured field"] if p[0] == key and len(p) > 1]
        structure = values.pop(key)
        set_at(structure, data.draw(st.sampled_from(inside), label="path"), secret)
        secrets = {key: structure}
    COUNTS[f"secret config key: {kind}"] += 1
    stack = with_project_values(base, values, secrets)
    monitor = RecordingMonitor(RecordingMocks(mock_context(stack)))
    try:
        run_program(stack, monitor=monitor)
    except SettingsError as error:
        message = str(error)
        assert "\n" not in message
        assert_no_leak(token, message)
        assert monitor.registrations == [], [r.name for r in monitor.registrations]
        COUNTS["refused (exit 2, one line)"] += 1
    else:
        COUNTS["valid (rendered)"] += 1


# ---------------------------------------------------------------- random bad input


SCALARS = st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats() | st.text(max_size=30) | st.dates() | st.datetimes()
KEYS = st.text(max_size=12) | st.integers() | st.booleans() | st.none() | st.dates()
GARBAGE = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=12)
TEXT = st.text(alphabet=string.printable + "äé€\t", max_size=300)


@st.composite
def bad_stack_files(draw, kind: str) -> tuple[str, object]:
    """(stack name, file content: text or a document to dump) of one kind of bad input."""
    if kind == "text":
        return "bad", draw(TEXT)
    if kind == "document":
        return "bad", draw(GARBAGE)
    if kind == "config":
        return "bad", {"config": draw(st.dictionaries(st.sampled_from([*SCALAR_KEYS, *STRUCTURED_KEYS]) | KEYS, GARBAGE, max_size=5))}
    name = draw(st.sampled_from(sorted(BASES)), label="example")
    values = copy.deepcopy(plain_values(BASES[name]))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["scalar key", "structured field", "example value"]), label="where")
        set_at(values, draw(st.sampled_from(POSITIONS[name][where]), label="position"), draw(GARBAGE, label="garbage"))
    return name, stack_document(with_project_values(BASES[name], values))


@pytest.mark.parametrize(("kind", "examples"), [("text", 40), ("document", 40), ("config", 40), ("example", 60)])
def test_random_bad_input_exits_2_with_one_line_and_no_traceback(kind, examples):
    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=bad_stack_files(kind))
    def run(case):
        COUNTS[f"bad input: {kind}"] += 1
        check_cli(render_file(*case))

    run()
