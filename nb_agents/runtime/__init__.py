"""The local runtime: sessions, the harness loop, the brain, recovery."""

from __future__ import annotations

from nb_agents.runtime._runtime import Runtime
from nb_agents.runtime._sandboxes import SandboxProvider, choose_provider

__all__ = ["Runtime", "SandboxProvider", "choose_provider"]
