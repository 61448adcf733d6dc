"""Pulumi ESC environments kept in the repository, resolved offline the way the Pulumi CLI resolves them.

``environments/<project>/<name>.yaml`` is the definition of the ESC environment ``<project>/<name>``
(``imports:`` and ``values:``, ESC's YAML syntax); CI pushes each file to Pulumi Cloud with
``esc env edit <org>/<project>/<name> --file ...`` before any preview or update. A stack file imports
environments with ``environment: [<project>/<env>, ...]`` (an old plain ``<env>`` name is the ESC project
``default``). The semantics followed here, with where they are written down:

- The stack's list is an anonymous environment that imports the listed ones, in order
  (``workspace.Environment.Definition`` in pulumi/pulumi ``sdk/go/common/workspace/project.go``).
- Imports merge in order, then the environment's own ``values`` on top, per JSON merge patch: objects
  merge key by key, any other value (arrays included) replaces (ESC syntax reference,
  https://www.pulumi.com/docs/esc/reference/ "Environments are merged in order per JSON merge patch";
  pulumi/esc ``eval/value.go``). Each import is evaluated on its own, so its ``${...}`` references
  see its own values and imports, never the importer's overrides.
- ``${a.b[0]}`` and ``${a["k:ey"]}`` refer to the merged root of the environment being evaluated; a
  string that is just one reference takes the referenced value, otherwise the parts are joined as text;
  ``$${`` is a literal ``${``. A reference to itself (directly or through others) is refused.
- ``values.pulumiConfig`` becomes stack config: a key without ``:`` gets the project's namespace; for a
  key the stack file sets too, the stack file's value is merged onto the environment's by JSON merge
  patch, the stack's own value winning (``mergeConfig`` in pulumi/pulumi
  ``sdk/go/common/workspace/config.go``: "Prefers stack values over env values"); then project defaults
  fill what is still missing.
- ``fn::secret`` marks a value secret. A secret lives in Pulumi Cloud, not in the repository: only its
  ciphertext form ``fn::secret: {ciphertext: ...}`` (what ``esc env get --definition`` shows) is taken,
  and it renders as the offline placeholder of its config key, marked secret like a ``secure:`` stack
  value. A plaintext ``fn::secret`` is refused. ``fn::open::*`` (providers: cloud logins, secret stores)
  needs Pulumi Cloud and is refused, naming the environment and the path; so is any other ``fn::``.

Errors are :class:`tools.stackfile.StackFileError`: one line naming the environment file and line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.stackfile import StackFileError, _kind, _StackDocument

ENV_DIR = "environments"
NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
REF = re.compile(rf"^(?:(?P<project>{NAME})/)?(?P<name>{NAME})$")
DEFAULT_PROJECT = "default"
"""ESC project of an environment named without one (environments created before ESC projects)."""

MISSING = object()
"""No value at a path (a YAML null is a value)."""
Reader = Callable[[str], "str | None"]
"""Text of a repository-relative path, or None when there is no such file."""


class EscError(StackFileError):
    """An environment that cannot be resolved offline as the CLI would."""


@dataclass(frozen=True)
class Secret:
    """A value ESC keeps secret; offline its plaintext is never known."""

    where: str


def at_item(document: _StackDocument, parts: list[Any]) -> str:
    """``<file>, line <n>`` of the value at ``parts``; a list item's own line rather than its list's key."""
    _key, node = document._locate(parts)
    if parts and isinstance(parts[-1], int) and node is not None:
        return f"{document.path}, line {node.start_mark.line + 1}"
    return document.at(parts)


def env_path(ref: str) -> str:
    """Repository path of the definition of ``ref`` (``<project>/<name>`` or a plain ``<name>``)."""
    match = REF.match(ref)
    if not match:
        raise ValueError(ref)
    return f"{ENV_DIR}/{match['project'] or DEFAULT_PROJECT}/{match['name']}.yaml"


def env_ref(path: str) -> str | None:
    """``<project>/<name>`` of a definition path, or None for any other path."""
    match = re.fullmatch(rf"{ENV_DIR}/({NAME})/({NAME})\.yaml", path)
    return f"{match[1]}/{match[2]}" if match else None


def file_reader(root: Path) -> Reader:
    def read(path: str) -> str | None:
        file = root / path
        return file.read_text(encoding="utf-8") if file.is_file() else None

    return read


def canonical(ref: str) -> str:
    match = REF.match(ref)
    return f"{match['project'] or DEFAULT_PROJECT}/{match['name']}" if match else ref


# --------------------------------------------------------------------------- merge
def merge_patch(base: Any, top: Any) -> Any:
    """``top`` merged onto ``base`` per JSON merge patch as ESC and the CLI apply it (a null is kept as a value)."""
    if isinstance(top, dict) and isinstance(base, dict):
        merged = dict(base)
        for key, value in top.items():
            merged[key] = merge_patch(base.get(key), value)
        return merged
    return top


def contains_secret(value: Any) -> bool:
    if isinstance(value, Secret):
        return True
    if isinstance(value, dict):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secret(v) for v in value)
    return False


def replace_secrets(value: Any, stand_in: str) -> Any:
    if isinstance(value, Secret):
        return stand_in
    if isinstance(value, dict):
        return {k: replace_secrets(v, stand_in) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_secrets(v, stand_in) for v in value]
    return value


# --------------------------------------------------------------------------- resolver
@dataclass
class Resolution:
    """What a stack's ``environment:`` list resolves to."""

    values: dict[str, Any]
    """The merged root of the anonymous environment (``pulumiConfig`` and anything else)."""
    closure: list[str] = field(default_factory=list)
    """Every environment read, directly or through imports (``<project>/<name>``), first use first."""
    sources: dict[str, str] = field(default_factory=dict)
    """``pulumiConfig`` key -> ``<file>, line <n>`` of the last environment that sets it."""

    def pulumi_config(self) -> dict[str, Any]:
        config = self.values.get("pulumiConfig", {})
        return config if isinstance(config, dict) else {}


class Resolver:
    """Evaluates environments from ``read`` (memoised; one per stack file or revision)."""

    def __init__(self, read: Reader) -> None:
        self.read = read
        self.done: dict[str, dict[str, Any]] = {}
        self.open: list[str] = []
        self.order: list[str] = []
        self.sources: dict[str, str] = {}

    def resolve(self, refs: list[str], where: str) -> Resolution:
        root: dict[str, Any] = {}
        for ref in refs:
            root = merge_patch(root, self.environment(ref, where))
        return Resolution(values=root, closure=list(self.order), sources=dict(self.sources))

    def environment(self, ref: str, where: str) -> dict[str, Any]:
        if not isinstance(ref, str) or not REF.match(ref) or "@" in ref:
            raise EscError(where, f"environment {ref!r}: name it <project>/<env> (a pinned @version is not resolved offline)")
        ref = canonical(ref)
        if ref in self.open:
            cycle = " -> ".join([*self.open[self.open.index(ref) :], ref])
            raise EscError(where, f"environment {ref}: imports itself ({cycle}); ESC refuses import cycles")
        if ref in self.done:
            return self.done[ref]
        path = env_path(ref)
        text = self.read(path)
        if text is None:
            raise EscError(where, f"environment {ref}: no definition {path} in the repository (add it, or fix the name)")
        self.open.append(ref)
        try:
            value = _Environment(self, ref, path, text).evaluate()
        finally:
            self.open.pop()
        self.done[ref] = value
        self.order.append(ref)
        return value


class _Environment:
    """One definition being evaluated: its imports merged, then its own values on top."""

    def __init__(self, resolver: Resolver, ref: str, path: str, text: str) -> None:
        self.resolver, self.ref, self.path = resolver, ref, path
        self.document = _StackDocument(Path(path), text)
        data = self.document.data
        if not isinstance(data, dict):
            raise EscError(self.document.at([]), f"environment {ref}: a definition is a mapping with imports: and values:")
        extra = sorted(str(k) for k in data if k not in ("imports", "values"))
        if extra:
            raise EscError(self.document.at([extra[0]]), f"environment {ref}: unknown top-level key {extra[0]!r} (imports, values)")
        self.document.walk([], f"environment {ref}", data, set())  # dates, sets, binary, non-string keys
        self.imports = data.get("imports") or []
        self.own = data.get("values") or {}
        if not isinstance(self.imports, list):
            raise EscError(self.document.at(["imports"]), f"environment {ref}: imports: is a list of environment names")
        if not isinstance(self.own, dict):
            raise EscError(self.document.at(["values"]), f"environment {ref}: values: is a mapping")
        self.memo: dict[tuple[Any, ...], Any] = {}
        self.evaluating: list[tuple[Any, ...]] = []

    def at(self, path: tuple[Any, ...]) -> str:
        return self.document.at(["values", *path])

    def evaluate(self) -> dict[str, Any]:
        base: dict[str, Any] = {}
        for i, ref in enumerate(self.imports):
            if not isinstance(ref, str):
                raise EscError(
                    at_item(self.document, ["imports", i]),
                    f"environment {self.ref}: imports[{i}]: give a name (merge options are not resolved offline)",
                )
            base = merge_patch(base, self.resolver.environment(ref, at_item(self.document, ["imports", i])))
        self.base = base
        config = self.own.get("pulumiConfig")
        if isinstance(config, dict):
            for key in config:
                self.resolver.sources[key] = self.at(("pulumiConfig", key))
        return self.full(self.own, base, ())

    # Values ----------------------------------------------------------------
    def full(self, node: Any, base: Any, path: tuple[Any, ...]) -> Any:
        """``node`` (own definition at ``path``) evaluated and merged onto ``base``."""
        if isinstance(node, dict) and not _is_call(node):
            merged = dict(base) if isinstance(base, dict) else {}
            for key, child in node.items():
                merged[key] = self.full(child, merged.get(key), (*path, key))
            return merged
        return self.leaf(node, path)

    def leaf(self, node: Any, path: tuple[Any, ...]) -> Any:
        if path in self.memo:
            return self.memo[path]
        if path in self.evaluating:
            chain = " -> ".join(_dotted(p) for p in [*self.evaluating[self.evaluating.index(path) :], path])
            raise EscError(self.at(path), f"environment {self.ref}: ${{...}} refers to itself ({chain})")
        self.evaluating.append(path)
        try:
            if isinstance(node, list):
                value: Any = [self.full(item, None, (*path, i)) for i, item in enumerate(node)]
            elif isinstance(node, dict):
                value = self.call(node, path)
            elif isinstance(node, str):
                value = self.interpolate(node, path)
            else:
                value = node
        finally:
            self.evaluating.pop()
        self.memo[path] = value
        return value

    def call(self, node: dict[str, Any], path: tuple[Any, ...]) -> Any:
        (name, arg), where = next(iter(node.items())), f"environment {self.ref}, {_dotted(path) or 'values'}"
        if len(node) != 1:
            raise EscError(self.at(path), f"{where}: {name} takes the whole mapping (ESC refuses other keys beside it)")
        if name == "fn::secret":
            if isinstance(arg, dict) and set(arg) == {"ciphertext"} and isinstance(arg["ciphertext"], str):
                return Secret(where)
            raise EscError(
                self.at(path),
                f"{where}: fn::secret with a plaintext value; secrets live in Pulumi Cloud, not in the repository: "
                "set it with esc env set --secret and keep only the ciphertext esc env get --definition shows",
            )
        if name == "fn::open" or name.startswith("fn::open::"):
            raise EscError(self.at(path), f"{where}: {name} is evaluated by Pulumi Cloud (a provider), it cannot be resolved offline")
        raise EscError(self.at(path), f"{where}: {name} is not resolved offline (write the value, or a ${{...}} reference)")

    def interpolate(self, text: str, path: tuple[Any, ...]) -> Any:
        parts: list[Any] = []
        i = 0
        while i < len(text):
            if text.startswith("$${", i):
                parts.append("${")
                i += 3
            elif text.startswith("${", i):
                end = text.find("}", i)
                if end < 0:
                    raise EscError(self.at(path), f"environment {self.ref}, {_dotted(path)}: unterminated ${{ in {text!r}")
                parts.append(self.lookup(_accessors(text[i + 2 : end], self, path), path))
                i = end + 1
            else:
                j = min((k for k in (text.find("${", i), text.find("$${", i)) if k >= 0), default=len(text))
                parts.append(text[i:j])
                i = j
        if len(parts) == 1 and text.startswith("${") and text.endswith("}") and not text.startswith("$${"):
            return parts[0]
        if any(contains_secret(p) for p in parts):
            return Secret(f"environment {self.ref}, {_dotted(path)}")
        return "".join(self.text(p, path) for p in parts)

    def text(self, value: Any, path: tuple[Any, ...]) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if value is None:
            return ""
        if isinstance(value, (str, int, float)):
            return str(value)
        raise EscError(self.at(path), f"environment {self.ref}, {_dotted(path)}: a {_kind(value)} cannot be part of a string")

    def lookup(self, accessors: tuple[Any, ...], origin: tuple[Any, ...]) -> Any:
        """The merged value at ``accessors`` (own definition over imports), evaluating only what it needs."""
        own: Any = self.own
        base: Any = self.base
        for depth, key in enumerate(accessors):
            if (own is not MISSING and not isinstance(own, (dict, list))) or (isinstance(own, dict) and _is_call(own)):
                value = self.full(own, base, accessors[:depth])  # an expression: its value, then index into it
                return self._index_value(value, accessors[depth:], origin, accessors)
            if isinstance(own, list):
                own, base = (own[key], None) if _has(own, key) else (MISSING, MISSING)
            elif isinstance(own, dict) and key in own:
                own, base = own[key], _index(base, key)
            else:
                own, base = MISSING, base[key] if _has(base, key) else MISSING
            if own is MISSING and base is MISSING:
                raise EscError(self.at(origin), f"environment {self.ref}, {_dotted(origin)}: ${{{_dotted(accessors)}}} does not exist")
        return base if own is MISSING else self.full(own, base, accessors)

    def _index_value(self, value: Any, rest: tuple[Any, ...], origin: tuple[Any, ...], full: tuple[Any, ...]) -> Any:
        for key in rest:
            if not _has(value, key):
                raise EscError(self.at(origin), f"environment {self.ref}, {_dotted(origin)}: ${{{_dotted(full)}}} does not exist")
            value = _index(value, key)
        return value


def _is_call(node: dict[str, Any]) -> bool:
    return any(isinstance(k, str) and k.startswith("fn::") for k in node)


def _has(value: Any, key: Any) -> bool:
    if isinstance(value, dict):
        return key in value
    return isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value)


def _index(value: Any, key: Any) -> Any:
    return value[key] if _has(value, key) else None


ACCESSOR = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


def _accessors(text: str, env: _Environment, path: tuple[Any, ...]) -> tuple[Any, ...]:
    """``a.b[0]["c:d"]`` -> ``("a", "b", 0, "c:d")``."""
    found: list[Any] = []
    i = 0
    text = text.strip()
    while i < len(text):
        match = ACCESSOR.match(text, i)
        if not match or (i == 0 and text[0] == "."):
            raise EscError(env.at(path), f"environment {env.ref}, {_dotted(path)}: cannot read the reference ${{{text}}}")
        found.append(match[1] if match[1] is not None else int(match[2]) if match[2] is not None else match[3].replace('\\"', '"'))
        i = match.end()
    if not found:
        raise EscError(env.at(path), f"environment {env.ref}, {_dotted(path)}: empty reference ${{}}")
    if found[0] == "context":
        raise EscError(env.at(path), f"environment {env.ref}, {_dotted(path)}: ${{context...}} is known only to Pulumi Cloud")
    return tuple(found)


def _dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for key in path:
        if isinstance(key, int):
            out += f"[{key}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", str(key)):
            out += f".{key}" if out else str(key)
        else:
            out += f'["{key}"]'
    return out
