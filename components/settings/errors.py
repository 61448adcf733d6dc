"""How an invalid setting is reported: one line naming the setting, the value received and what is allowed.

What an error line never shows (the rule; ``tests/unit/settings/test_no_leak.py`` holds it):

1. The value of a config key set with ``pulumi config set --secret``, nor any piece of it, anywhere in
   the line: the loader marks such keys and :class:`SettingsError` blanks their values out.
2. The value of a setting that is secret by its name (:func:`is_secret_name`): a path segment whose
   words say password, passphrase, secret, token, credential, key, api/private/access key, keyfile...
   unless its last word says it names or points to the material (``..._id``, ``_file``, ``_path``,
   ``_name``, ``_arn``, ``_url``, ``_type``, ``_source``, ``_vault``...), or the name says ``public``.
   So ``password``, ``extra.private_key_content``, ``astroAgentToken`` and an unknown ``dbPassword``
   are hidden; ``keyVault``, ``kmsKeyArn``, ``secretSource``, ``private_key_file`` are shown.
3. Anything shaped like credential material (:func:`redact`), wherever it stands in the line (value,
   setting name, explanation): PEM blocks, JWTs, the password of a URL, ``password=``/``AccountKey=``
   pairs, well-known token prefixes (``ghp_``, ``github_pat_``, ``glpat-``, ``xox?-``, ``sk-``), runs of
   20 or more of ``[A-Za-z0-9+=]`` (40 or more with ``/``) mixing upper case, lower case and digits,
   and 32 or more lower-case hex digits (letters and digits). Generated tokens look like that; identifiers rarely do.

Hidden values read ``[secret]``, redacted pieces ``[redacted]``. A password a person chose, written in
a setting that is not secret by name, cannot be recognised by its shape: secrets belong in secret keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import pulumi

PROJECT = "airflow-platform"
SECRET = "[secret]"
"""Shown instead of a value that is secret by key or by name."""
REDACTED = "[redacted]"
"""Shown instead of a piece of text shaped like credential material."""


class SettingsError(pulumi.RunError):
    """Invalid stack settings. ``str()`` is one line: setting, value received, what is allowed.

    ``secret_values`` are the plain values of secret config keys: none of them appears in the line.
    """

    def __init__(self, problems: list[Problem], *, secret_values: Iterable[str] = ()) -> None:
        self.problems = problems
        line = "invalid stack settings: " + "; ".join(p.render() for p in problems)
        super().__init__(blank_out(line, secret_values))


class Problem:
    """One invalid setting. ``secret``: never show the value (it comes from a secret config key)."""

    def __init__(self, setting: str, value: Any, allowed: str, *, secret: bool = False) -> None:
        self.setting = setting
        self.value = value
        self.allowed = allowed
        self.secret = secret

    @property
    def hidden(self) -> bool:
        """The value is not shown: it comes from a secret key or its setting is secret by name.

        Below a setting that refers to secrets (``secretFields``) the path holds names, not material.
        """
        if self.secret:
            return True
        for part in filter(None, re.split(r"[.\[\]]+", self.setting)):
            if is_secret_name(part):
                return True
            if refers_to_secrets(part):
                return False
        return False

    def render(self) -> str:
        if self.hidden:
            shown = SECRET
        else:
            shown = redact(repr(self.value))  # before cutting, so that no piece of a secret survives the cut
            if len(shown) > 80:
                shown = shown[:77] + "..."
        key = self.setting if ":" in self.setting.split(".")[0] else f"{PROJECT}:{self.setting}"
        line = redact(one_line(f"{key} = {shown}: {self.allowed}"))
        return blank_out(line, string_leaves(self.value)) if self.hidden else line


def one_line(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped (a key may hold any of them)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# ---------------------------------------------------------------- secret by name

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_SECRET_PARTS = ("password", "passwd", "passphrase", "secret", "token", "credential")
"""A word containing one of these is secret (``dbpassword``, ``clientsecret``, ``authtoken``)."""
_SECRET_WORDS = frozenset(
    {"pwd", "pass", "key", "keys", "apikey", "privatekey", "accesskey", "secretkey", "keyfile", "creds", "sas", "sig", "signature"}
)
_REFERENCE_WORDS = frozenset(
    {
        "id", "ids", "arn", "arns", "name", "names", "file", "path", "dir", "url", "uri", "type", "source", "fields",
        "vault", "version", "generation", "length", "size", "count", "days", "seconds", "region", "format", "algorithm",
        "mode", "enabled", "prefix",
    }
)  # fmt: skip
"""Last words of names that name or point to secret material rather than hold it (``private_key_file``)."""


def _secret_words(name: str) -> tuple[bool, list[str]]:
    words = [w.lower() for w in _WORD.findall(name)]
    if not words or "public" in words:
        return False, words
    secret = any(w in _SECRET_WORDS or any(p in w for p in _SECRET_PARTS) for w in words)
    return secret or "connectionstring" in "".join(words), words


def is_secret_name(name: str) -> bool:
    """Whether a setting or key named ``name`` holds secret material (see the module docstring, rule 2)."""
    secret, words = _secret_words(name)
    return secret and words[-1] not in _REFERENCE_WORDS


def refers_to_secrets(name: str) -> bool:
    """Whether ``name`` names or points to secret material without holding it (``secretFields``, ``kmsKeyArn``)."""
    secret, words = _secret_words(name)
    return secret and words[-1] in _REFERENCE_WORDS


# ---------------------------------------------------------------- secret by shape

_SHAPES = (
    (re.compile(r"-----BEGIN[A-Z0-9 ]*-----.*?(?:-----END[A-Z0-9 ]*-----|$)", re.DOTALL), REDACTED),
    (re.compile(r"(://[^/\s:@'\"]*:)[^/\s@'\"]+(?=@)"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)((?:password|passwd|pwd|accountkey|sharedaccesskey|sharedaccesssignature|sig|token)=)[^;&\s'\"]+"), rf"\1{REDACTED}"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"(?:gh[pousr]_|github_pat_|glpat-|xox[abposr]-|sk-)[A-Za-z0-9_-]{10,}"), REDACTED),
)
_MIXED_RUNS = (re.compile(r"[A-Za-z0-9+/=]{40,}"), re.compile(r"[A-Za-z0-9+=]{20,}"))
_HEX_RUN = re.compile(r"[0-9a-f]{32,}")


def _mixed(match: re.Match[str]) -> str:
    run = match.group(0)
    mixed = re.search(r"[a-z]", run) and re.search(r"[A-Z]", run) and re.search(r"[0-9]", run)
    return REDACTED if mixed else run


def redact(text: str) -> str:
    """``text`` with every piece shaped like credential material replaced (module docstring, rule 3)."""
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    for pattern in _MIXED_RUNS:
        text = pattern.sub(_mixed, text)
    return _HEX_RUN.sub(lambda m: REDACTED if re.search(r"[0-9]", m[0]) and re.search(r"[a-f]", m[0]) else m[0], text)


def string_leaves(value: Any) -> list[str]:
    """Every string inside ``value`` (keys included), for :func:`blank_out`."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in (*string_leaves(k), *string_leaves(v))]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [s for v in value for s in string_leaves(v)]
    return []


def blank_out(text: str, values: Iterable[str]) -> str:
    """``text`` with each of ``values`` (and its repr-escaped form) replaced by :data:`SECRET`.

    Values under 4 characters are left alone: blanking them would garble the line and they protect nothing.
    """
    for value in sorted({v for v in values if len(v) >= 4}, key=len, reverse=True):
        for form in (value, repr(value)[1:-1]):
            text = text.replace(form, SECRET)
    return text


UNION_MEMBER_TAGS = frozenset({"str", "int", "float", "bool", "function-after", "tagged-union"})
"""Location parts pydantic adds for union members and validators; setting names never look like these."""


def setting_path(loc: Iterable[Any]) -> str:
    """A pydantic location as the setting's camelCase path (``aws.vpcId``, ``connections[0].host``)."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in UNION_MEMBER_TAGS or "[" in part:
            continue
        else:
            path += f".{part}" if path else str(part)
    return path


def problem_from_pydantic(error: Mapping[str, Any]) -> Problem:
    """One pydantic error as a :class:`Problem` named by the setting's camelCase path (``aws.vpcId``, ``connections[0].host``)."""
    path = setting_path(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return Problem(path, None, "required setting is missing")
    if error["type"] == "literal_error":
        message = "must be " + message.removeprefix("Input should be ")
    if error["type"] == "string_pattern_mismatch":
        message = "does not match " + error["ctx"]["pattern"]
    return Problem(path, error.get("input"), message)
