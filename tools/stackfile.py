"""Read ``Pulumi.yaml`` and ``config/Pulumi.<stack>.yaml`` the way the Pulumi CLI does.

The CLI applies the project's declared defaults and hands the program every
config value as a string (objects as JSON), with encrypted (``secure:``) values
marked secret. Offline we cannot decrypt, so a secure value becomes a
recognisable placeholder that stays marked secret.

A file this reader cannot take as the CLI would raises :class:`StackFileError`,
one line naming the file and the line: YAML syntax, a document or ``config:``
that is not a mapping, a key that is not a string, and a value whose YAML type
is not what the setting takes. PyYAML reads unquoted scalars by YAML 1.1
(``2024-01-01`` is a date, ``3.10`` the number 3.1, ``on`` true) where the CLI
may keep the text, so such a value is refused here rather than guessed: a
scalar setting must have the type ``Pulumi.yaml`` declares (a string setting
takes only a YAML string; write it in quotes), and no value anywhere may be a
date, timestamp, binary or set.

A stack file's ``environment:`` list imports Pulumi ESC environments kept under ``environments/``;
their ``pulumiConfig`` is merged in as the CLI merges it (:mod:`tools.esc`), and a definition that
cannot be resolved offline is a :class:`StackFileError` naming the environment file and line.
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.settings.errors import Problem, SettingsError, one_line, redact

ROOT = Path(__file__).resolve().parent.parent
MAX_VALUES = 100_000
"""Values a stack file may hold once YAML aliases are expanded (a guard against alias bombs)."""
GO_BOOLEANS = frozenset({"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"})
"""Strings the CLI accepts for a ``boolean`` setting (Go's ``strconv.ParseBool``)."""


class StackFileError(SettingsError):
    """A stack file refused before the program runs. ``str()`` is one line naming the file (and the line)."""

    def __init__(self, where: str, problem: Problem | str) -> None:
        self.problems = [problem] if isinstance(problem, Problem) else []
        text = problem.render() if isinstance(problem, Problem) else redact(problem)
        pulumi.RunError.__init__(self, one_line(f"{where}: {text}"))


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    values: dict[str, Any]
    """Full key (``ns:key``) -> decoded value (str, bool, int, list or dict)."""
    secret_keys: frozenset[str]
    environments: tuple[str, ...] = ()
    """ESC environments the stack file imports, directly or through imports (``<project>/<name>``)."""

    def wire_config(self) -> dict[str, str]:
        """Config as the language host receives it: every value a string."""
        return {key: _wire(value) for key, value in self.values.items()}

    def project_values(self) -> dict[str, Any]:
        """Values of the project namespace, keys without the ``<project>:`` prefix."""
        prefix = f"{self.project}:"
        return {k.removeprefix(prefix): v for k, v in self.values.items() if k.startswith(prefix)}


def _wire(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)


def placeholder(key: str) -> str:
    """Offline stand-in for the encrypted value of ``key``."""
    return f"offline-placeholder-{key.split(':', 1)[-1]}"


UNSET_PREFIX = "offline-unset-"
"""Start of the stand-in for a secret whose key is not set at all (``tools.render --allow-unset-secrets``)."""


def unset_placeholder(key: str) -> str:
    """Offline stand-in for the secret config key ``key`` that the stack does not set yet."""
    return f"{UNSET_PREFIX}{key.split(':', 1)[-1]}"


def load_project(root: Path = ROOT) -> tuple[str, dict[str, Any]]:
    """Project name and the declared config defaults."""
    project, declared = _project(root)
    return project, {key: spec["default"] for key, spec in declared.items() if "default" in spec}


def _project(root: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    name, declared = _parse_project((root / "Pulumi.yaml").read_text())
    return name, copy.deepcopy(declared)  # callers get their own copy: defaults may be lists or mappings


@functools.lru_cache(maxsize=8)
def _parse_project(text: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """``Pulumi.yaml``'s name and declared config, parsed once per distinct text (re-read on every call, so an
    edited file is parsed again; rendering many stacks parses the same file once instead of once per stack)."""
    project = yaml.safe_load(text)
    return project["name"], dict(project.get("config") or {})


def stack_name(path: Path) -> str:
    name = path.name
    if not (name.startswith("Pulumi.") and name.endswith((".yaml", ".yml"))):
        raise StackFileError(str(path), "stack files are named Pulumi.<stack>.yaml")
    return name.removeprefix("Pulumi.").rsplit(".", 1)[0]


def load_stack(path: Path, root: Path = ROOT, read: Any = None) -> StackConfig:
    """Stack config with its ESC environments and the project defaults applied, as the CLI would hand it to the program.

    Raises :class:`StackFileError` for a file the CLI would not read the same way (module docstring).
    ``read`` (``tools.esc.Reader``) gives the environment definitions; by default they are read from
    ``environments/`` beside the stack file's directory, then from ``root`` (:func:`tools.esc_config.stack_reader`).
    """
    path = Path(path)
    project, declared = _project(root)
    name = stack_name(path)
    document = _StackDocument(path, _read(path))
    raw = document.data.get("config") if isinstance(document.data, dict) else None
    if document.data is not None and not isinstance(document.data, dict):
        raise StackFileError(document.at([]), f"a stack file is a mapping with a config: section, not a YAML {_kind(document.data)}")
    if raw is not None and not isinstance(raw, dict):
        raise StackFileError(document.at(["config"]), f"config: is a mapping of keys to values, not a YAML {_kind(raw)}")
    values: dict[str, Any] = {}
    secret: set[str] = set()
    for key, value in (raw or {}).items():
        if not isinstance(key, str):
            text = document.text(["config", key], key=True)
            raise StackFileError(document.at(["config", key]), Problem(f"{project}:{text}", text, "keys are strings: write it in quotes"))
        full = key if ":" in key else f"{project}:{key}"
        if full in values:
            raise StackFileError(document.at(["config", key]), f"{full!r} is given twice (with and without the {project}: prefix)")
        spec = declared.get(full.removeprefix(f"{project}:")) if full.startswith(f"{project}:") else None
        container = isinstance(value, (dict, list))
        if not container:
            document.check_scalar(["config", key], full, value, spec)
        document.walk(["config", key], full, value, set())
        if _contains_secure(value):
            secret.add(full)
            value = _replace_secure(full, value)
        elif container:
            document.check_scalar(["config", key], full, value, spec)
        values[full] = value
    environments: tuple[str, ...] = ()
    if isinstance(document.data, dict) and "environment" in document.data:
        from tools import esc_config  # it reads environment files with this module's YAML reader

        refs = document.data["environment"]
        reader = read or esc_config.stack_reader(path, root)
        environments = esc_config.apply_to_stack(document, refs, values, secret, project, declared, reader)
    for key, spec in declared.items():
        if "default" in spec:
            values.setdefault(f"{project}:{key}", spec["default"])
    return StackConfig(project=project, stack=name, values=values, secret_keys=frozenset(secret), environments=environments)


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise StackFileError(str(path), f"cannot read the stack file: {error.strerror or type(error).__name__}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise StackFileError(f"{path}, line {line}", "not UTF-8 text") from None


class _StackDocument:
    """The parsed stack file with its YAML nodes, to say on which line a refused value stands."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        try:
            self.loader = yaml.SafeLoader(text)  # checks the characters first
            self.node = self.loader.get_single_node()
            if self.node is not None:
                self._refuse_duplicate_keys(self.node, set())
            self.data = self.loader.construct_document(self.node) if self.node is not None else None
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
            context = f" ({error.context}, line {error.context_mark.line + 1})" if error.context and error.context_mark else ""
            raise StackFileError(where, f"YAML syntax error: {error.problem or error.context}{context}") from None
        except yaml.reader.ReaderError as error:
            line = text[: error.position].count("\n") + 1
            character = f"#x{error.character:04x}" if isinstance(error.character, int) else repr(error.character)
            raise StackFileError(f"{path}, line {line}", f"YAML syntax error: {error.reason} (character {character})") from None
        except yaml.YAMLError as error:
            raise StackFileError(str(path), f"YAML syntax error: {type(error).__name__}") from None
        except RecursionError:
            raise StackFileError(str(path), "YAML nested too deeply") from None
        self.loader.dispose()
        self.budget = MAX_VALUES

    def _refuse_duplicate_keys(self, node: yaml.Node, seen: set[int]) -> None:
        """The CLI's YAML parser refuses a key given twice in one mapping; PyYAML would keep the last."""
        if id(node) in seen or not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            return
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self._refuse_duplicate_keys(item, seen)
            return
        keys: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                line = key.start_mark.line + 1
                if (key.tag, key.value) in keys:
                    first = keys[(key.tag, key.value)]
                    raise StackFileError(f"{self.path}, line {line}", f"key {key.value!r} is already defined at line {first}")
                keys[(key.tag, key.value)] = line
            self._refuse_duplicate_keys(value, seen)

    def _locate(self, parts: list[Any]) -> tuple[yaml.Node | None, yaml.Node | None]:
        """(key node, value node) of the value at ``parts``; None where the path leaves the nodes."""
        key_node: yaml.Node | None = None
        current = self.node
        for part in parts:
            if isinstance(current, yaml.MappingNode):
                found = next((pair for pair in current.value if self._is_key(pair[0], part)), None)
                if found is None:
                    return key_node, None
                key_node, current = found
            elif isinstance(current, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(current.value):
                current = current.value[part]
            else:
                return key_node, None
        return key_node, current

    def _is_key(self, node: yaml.Node, part: Any) -> bool:
        try:
            key = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            return False
        return type(key) is type(part) and key == part

    def at(self, parts: list[Any]) -> str:
        """``<file>, line <n>`` of the value at ``parts`` (its key's line), or just the file."""
        key_node, value_node = self._locate(parts)
        node = key_node or value_node
        return f"{self.path}, line {node.start_mark.line + 1}" if node is not None else str(self.path)

    def text(self, parts: list[Any], *, key: bool = False) -> str:
        """What the file says at ``parts`` (the key itself with ``key``)."""
        key_node, value_node = self._locate(parts)
        node = key_node if key else value_node
        return str(node.value) if isinstance(node, yaml.ScalarNode) else str(parts[-1])

    def check_scalar(self, parts: list[Any], setting: str, value: Any, spec: dict[str, Any] | None) -> None:
        """Refuse a value whose YAML type is not the one ``spec`` (a declaration in ``Pulumi.yaml``) gives."""
        kind = spec.get("type") if spec else None
        allowed = _scalar_problem(kind, value) if kind in ("string", "boolean", "integer") else None
        if allowed:
            raise StackFileError(self.at(parts), Problem(setting, self.text(parts), allowed))

    def walk(self, parts: list[Any], setting: str, value: Any, open_: set[int]) -> None:
        """Refuse keys that are not strings, values no setting takes (dates, binary, sets) and self-referring aliases."""
        self.budget -= 1
        if self.budget < 0:
            raise StackFileError(str(self.path), f"more than {MAX_VALUES} values once YAML aliases are expanded")
        if isinstance(value, (dict, list)):
            if id(value) in open_:
                raise StackFileError(self.at(parts), Problem(setting, "*alias", "a YAML alias refers to its own container"))
            open_.add(id(value))
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(value, dict) and not isinstance(key, str):
                    text = self.text([*parts, key], key=True)
                    problem = Problem(f"{setting}.{text}", text, "keys are strings: write it in quotes")
                    raise StackFileError(self.at([*parts, key]), problem)
                child = f"{setting}[{key}]" if isinstance(value, list) else f"{setting}.{key}"
                self.walk([*parts, key], child, item, open_)
            open_.discard(id(value))
        elif not (value is None or isinstance(value, (str, bool, int, float))):
            problem = Problem(setting, self.text(parts), f"YAML reads it as a {_kind(value)}, which no setting takes: write it in quotes")
            raise StackFileError(self.at(parts), problem)


def _scalar_problem(kind: str, value: Any) -> str | None:
    """Why ``value`` cannot be the ``kind`` (``Pulumi.yaml`` type) of a scalar setting, or None."""
    if value is None:
        return f"empty: give a {kind}, or remove the key for the default"
    if kind == "string":
        ok = isinstance(value, str)
    elif kind == "boolean":
        ok = isinstance(value, bool) or (isinstance(value, str) and value in GO_BOOLEANS)
    else:
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and bool(re.fullmatch(r"[+-]?\d+", value)))
    if ok:
        return None
    if kind == "string" and not isinstance(value, (dict, list)):
        return f"YAML reads it as a {_kind(value)}, the setting is a string: write it in quotes"
    return f"the setting is {'an' if kind == 'integer' else 'a'} {kind}, YAML reads a {_kind(value)}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, datetime.datetime):
        return "timestamp"
    if isinstance(value, datetime.date):
        return "date"
    names = {str: "string", bytes: "binary value", set: "set", dict: "mapping", list: "list"}
    return next((n for t, n in names.items() if isinstance(value, t)), type(value).__name__)


def _contains_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_contains_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_secure(v) for v in value)
    return False


def _replace_secure(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return placeholder(key)
        return {k: _replace_secure(key, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secure(key, v) for v in value]
    return value
