"""One SDK client per backend: the local runtime, or Anthropic's hosted Managed Agents API."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Literal

from nb_agents.client._local import local_client
from nb_agents.errors import PrerequisiteError

if TYPE_CHECKING:
    import anthropic

__all__ = ["BACKENDS", "Backend", "client_for", "default_backend", "reset_clients"]

Backend = Literal["local", "hosted"]
BACKENDS: tuple[Backend, ...] = ("local", "hosted")

_clients: dict[str, anthropic.Anthropic] = {}
_lock = threading.Lock()


def default_backend() -> Backend:
    """``NB_AGENTS_BACKEND`` (local or hosted), else local."""
    value = os.environ.get("NB_AGENTS_BACKEND", "local")
    if value not in BACKENDS:
        raise PrerequisiteError(f"NB_AGENTS_BACKEND={value!r}: use 'local' or 'hosted'")
    return value


def _hosted() -> anthropic.Anthropic:
    import anthropic

    if not os.environ.get("ANTHROPIC_API_KEY"):
        raise PrerequisiteError(
            "the hosted backend needs an Anthropic API key: set ANTHROPIC_API_KEY "
            "(or use the local backend, which needs none)"
        )
    return anthropic.Anthropic()


def client_for(backend: str | None = None) -> anthropic.Anthropic:
    """The SDK client of a backend (made once per process).

    Local: the background ``nb-agents serve`` of the state directory, started if needed, and
    again on a later call if it died.
    Hosted: ``ANTHROPIC_API_KEY`` and, if set, ``ANTHROPIC_BASE_URL``.

    Raises:
        PrerequisiteError: Unknown backend, no API key for hosted, or the local server failed.
    """
    name = backend or default_backend()
    if name not in BACKENDS:
        raise PrerequisiteError(f"unknown backend {name!r}: use 'local' or 'hosted'")
    with _lock:
        client = _clients.get(name)
        if client is None:
            if name == "hosted":
                client = _hosted()
            else:
                client = local_client()
            _clients[name] = client
        return client


def reset_clients() -> None:
    """Forget the cached clients (after the state directory or the environment changed)."""
    with _lock:
        _clients.clear()
