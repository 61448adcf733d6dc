"""OpenSSH ``known_hosts`` entries and SSH repository URLs, read the way ``ssh`` reads them (pure functions).

An entry is one line of ``sshd(8)`` "SSH_KNOWN_HOSTS FILE FORMAT"::

    [@cert-authority|@revoked] <patterns or |1|salt|hash> <key type> <base64 key> [comment]

``parse_entry`` refuses anything ``ssh`` would skip or misread (an unknown key type, a key blob that
is not base64 or names another type, comments and blank lines, which would silently cover nothing).
``covers`` answers what ``ssh`` asks when it connects: is there a usable (not ``@revoked``) entry whose
host field matches the name ``ssh`` looks up, ``host`` on port 22, ``[host]:port`` otherwise, with
``*``/``?`` wildcards, ``!`` negation and hashed host names (HMAC-SHA1 of the name, keyed with the salt).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass
from urllib.parse import urlsplit

KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)
"""Host key types OpenSSH 9 accepts by default (``ssh-dss`` is disabled there and refused here)."""
MARKERS = frozenset({"@cert-authority", "@revoked"})
_SCP_LIKE = re.compile(r"^(?:[^@/:\s]+@)?(?P<host>\[[^\]]+\]|[^@/:\s\[\]]+):(?!//)\S+$")


@dataclass(frozen=True)
class KnownHost:
    """One parsed ``known_hosts`` line."""

    marker: str | None
    hosts: str
    """The host field: comma-separated patterns, or one hashed name ``|1|salt|hash``."""
    key_type: str
    key: str
    """The base64 key blob."""

    def matches(self, lookup: str) -> bool:
        """Whether ``ssh`` would use this line for the host name ``lookup`` (``host`` or ``[host]:port``)."""
        lookup = lookup.lower()
        if self.hosts.startswith("|"):
            _, magic, salt, digest = self.hosts.split("|")
            mac = hmac.new(base64.b64decode(salt), lookup.encode(), hashlib.sha1).digest()
            return magic == "1" and hmac.compare_digest(base64.b64encode(mac).decode(), digest)
        matched = False
        for pattern in self.hosts.lower().split(","):
            negated = pattern.startswith("!")
            if fnmatch.fnmatchcase(lookup, _glob(pattern.removeprefix("!"))):
                if negated:
                    return False
                matched = True
        return matched


def _glob(pattern: str) -> str:
    """An OpenSSH pattern (``*``, ``?``) as an fnmatch pattern: ``[`` and ``]`` are literal in OpenSSH."""
    return "".join("[[]" if c == "[" else "[]]" if c == "]" else c for c in pattern)


def parse_entry(line: str) -> KnownHost:
    """Parse one ``known_hosts`` line; ``ValueError`` says what is wrong (never echoing the key)."""
    fields = line.split()
    marker = fields.pop(0) if fields and fields[0].startswith("@") else None
    if marker is not None and marker not in MARKERS:
        raise ValueError(f"unknown marker {marker!r}; OpenSSH knows {sorted(MARKERS)}")
    if len(fields) < 3:
        raise ValueError("expected '<host patterns> <key type> <base64 key>' (ssh-keyscan prints such lines)")
    hosts, key_type, key = fields[:3]
    if hosts.startswith("#"):
        raise ValueError("a comment is not an entry")
    if hosts.startswith("|"):
        parts = hosts.split("|")
        if len(parts) != 4 or parts[1] != "1" or not _is_base64(parts[2]) or not _is_base64(parts[3]):
            raise ValueError("a hashed host name must be |1|<base64 salt>|<base64 hash> (ssh-keygen -H)")
    elif not hosts or any(not p.removeprefix("!") for p in hosts.split(",")):
        raise ValueError(f"empty host pattern in {hosts!r}")
    if key_type not in KEY_TYPES:
        raise ValueError(f"key type {key_type!r} is not one of {sorted(KEY_TYPES)}")
    try:
        blob = base64.b64decode(key, validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        embedded = blob[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError) as error:
        raise ValueError(f"the {key_type} key is not a base64 OpenSSH public key blob") from error
    if embedded != key_type:
        raise ValueError(f"the key blob is a {embedded!r} key, the line says {key_type!r}")
    return KnownHost(marker=marker, hosts=hosts, key_type=key_type, key=key)


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except binascii.Error:
        return False
    return bool(text)


def ssh_host(url: str) -> tuple[str, int] | None:
    """``(host, port)`` ``ssh`` connects to for a Git URL; ``None`` when the URL is not an SSH one.

    SSH URLs are ``ssh://[user@]host[:port]/path`` (also ``git+ssh://``) and the scp-like
    ``[user@]host:path``; ``https://``, ``http://``, ``file://`` and local paths are not.
    """
    if url.startswith(("ssh://", "git+ssh://")):
        parts = urlsplit(url)
        if not parts.hostname:
            return None
        return parts.hostname, parts.port or 22
    if "://" in url:
        return None
    found = _SCP_LIKE.match(url)
    if found is None:
        return None
    return found.group("host").strip("[]"), 22


def lookup_name(host: str, port: int) -> str:
    """The name ``ssh`` looks up in ``known_hosts``: ``host`` on port 22, ``[host]:port`` otherwise."""
    return host.lower() if port == 22 else f"[{host.lower()}]:{port}"


def covers(entries: list[KnownHost] | tuple[KnownHost, ...], host: str, port: int) -> bool:
    """Whether some entry other than ``@revoked`` matches the host ``ssh`` connects to."""
    name = lookup_name(host, port)
    return any(e.marker != "@revoked" and e.matches(name) for e in entries)
