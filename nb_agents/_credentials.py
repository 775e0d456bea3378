"""Which Anthropic credentials a process holds, never their values.

The local server records this in ``server.json`` when it starts, so a kernel can tell whether the
server it talks to can reach Claude, and whether it holds the same key as the kernel. A secret
is shown as ``sha256:`` and the first 12 hex digits of its SHA-256: enough to compare two keys,
useless for recovering one (API keys are long random strings).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "CREDENTIAL_VARIABLES",
    "SECRET_VARIABLES",
    "credential_differences",
    "describe_credentials",
    "has_credentials",
    "model_credentials",
]

#: The variables the ``anthropic`` SDK authenticates with.
SECRET_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
#: Every variable that decides which Messages API the brain reaches and as whom.
CREDENTIAL_VARIABLES = (*SECRET_VARIABLES, "ANTHROPIC_BASE_URL")


def _fingerprint(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def model_credentials(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """The credential variables of ``environ`` (default: this process's): secrets as
    fingerprints, the base URL as given (without any user:password part); None when unset or empty."""
    env = os.environ if environ is None else environ
    found: dict[str, str | None] = {}
    for name in SECRET_VARIABLES:
        found[name] = _fingerprint(env[name]) if env.get(name) else None
    base_url = env.get("ANTHROPIC_BASE_URL")
    found["ANTHROPIC_BASE_URL"] = _without_userinfo(base_url) if base_url else None
    return found


def has_credentials(credentials: Mapping[str, str | None]) -> bool:
    """Whether ``credentials`` (from `model_credentials`) include a key or a token."""
    return any(credentials.get(name) for name in SECRET_VARIABLES)


def describe_credentials(credentials: Mapping[str, str | None]) -> str:
    """One line: ``ANTHROPIC_API_KEY set (sha256:…), ANTHROPIC_AUTH_TOKEN not set, …``."""
    parts = []
    for name in CREDENTIAL_VARIABLES:
        value = credentials.get(name)
        if value is None:
            parts.append(f"{name} not set")
        elif name in SECRET_VARIABLES:
            parts.append(f"{name} set ({value})")
        else:
            parts.append(f"{name}={value}")
    return ", ".join(parts)


def credential_differences(one: Mapping[str, str | None], other: Mapping[str, str | None]) -> list[str]:
    """The credential variables whose value differs between two `model_credentials` results."""
    return [name for name in CREDENTIAL_VARIABLES if one.get(name) != other.get(name)]
