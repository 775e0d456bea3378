"""The local runtime: sessions, the harness loop, the brain, recovery."""

from __future__ import annotations

from nb_agents.runtime._runtime import Runtime, SandboxFactory

__all__ = ["Runtime", "SandboxFactory"]
