"""Where the built-in tools run: the `Sandbox` interface and its providers.

Every provider runs the same stdlib-only executor (`EXECUTOR_PATH`) and talks to it through an
`ExecutorClient`: `ProcessSandbox` as a local subprocess (no isolation), the Docker sandbox inside
one container per session. `nb_agents.sandbox.conformance` checks a provider's behaviour.
"""

from __future__ import annotations

from nb_agents.sandbox._base import EXECUTOR_PATH, Sandbox, ToolResult
from nb_agents.sandbox._client import ExecutorClient
from nb_agents.sandbox.process import ProcessSandbox

__all__ = ["EXECUTOR_PATH", "ExecutorClient", "ProcessSandbox", "Sandbox", "ToolResult"]
