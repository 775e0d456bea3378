"""Agents and environments defined in cells, synced to a backend by name.

``Agent.define`` creates the agent on first use and a new version when the definition changed;
the same cell run twice changes nothing. A definition's fingerprint is kept in the object's
metadata (``nb_agents.spec``), so the comparison does not depend on how a backend normalises
what it stores.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nb_agents.client._backends import client_for, default_backend
from nb_agents.errors import PrerequisiteError
from nb_agents.spec import AGENT_TOOL_NAMES, AgentSpec, EnvironmentSpec, tool_permission

__all__ = ["SPEC_KEY", "Agent", "Environment"]

#: Metadata key holding the fingerprint of the definition an object was made from.
SPEC_KEY = "nb_agents.spec"

_AGENT_DEFAULTS: dict[str, Any] = {"description": None, "system": None, "tools": None, "mcp_servers": None}
_ENVIRONMENT_DEFAULTS: dict[str, Any] = {
    "description": None,
    "config": {"type": "cloud", "networking": {"type": "limited"}, "packages": {"type": "packages"}},
}


def _fingerprint(params: Mapping[str, Any]) -> str:
    data = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def _by_name(pages: Any, name: str) -> Any:
    return next((item for item in pages if item.name == name and item.archived_at is None), None)


class Agent:
    """An agent on a backend: its definition, id and version.

    Attributes:
        spec: The definition.
        id: The backend's agent id.
        version: The version the definition is stored as.
        backend: ``local`` or ``hosted``.
    """

    def __init__(self, spec: AgentSpec, id: str, version: int, backend: str) -> None:
        self.spec = spec
        self.id = id
        self.version = version
        self.backend = backend

    @classmethod
    def define(cls, spec: AgentSpec | str | Mapping[str, Any], *, backend: str | None = None) -> Agent:
        """Create the agent named in ``spec``, or store a new version if the definition changed.

        Args:
            spec: An ``AgentSpec``, its YAML text, or its params.
            backend: ``local`` (default) or ``hosted``.

        Raises:
            SpecError: The definition is invalid.
            PrerequisiteError: A ``replay:`` model on the hosted backend, or no backend reachable.
        """
        spec = _absolute_replay(_agent_spec(spec))
        backend = backend or default_backend()
        if backend == "hosted" and spec.model_id.startswith("replay:"):
            raise PrerequisiteError(
                f"model {spec.model_id!r} is an offline replay brain; only the local backend can run it"
            )
        client = client_for(backend)
        params = spec.to_params()
        params["metadata"] = {**params.get("metadata", {}), SPEC_KEY: _fingerprint(params)}
        found = _by_name(client.beta.agents.list(), spec.name)
        if found is None:
            agent = client.beta.agents.create(**params)
        elif found.metadata.get(SPEC_KEY) != params["metadata"][SPEC_KEY]:
            agent = client.beta.agents.update(
                found.id, version=found.version, **_replacing(found, params, _AGENT_DEFAULTS)
            )
        else:
            agent = found
        return cls(spec, agent.id, agent.version, backend)

    @property
    def tool_names(self) -> list[str]:
        """Enabled built-in tools, then custom tools, then MCP servers (``mcp:<name>``)."""
        resolved = self.spec.resolved_tools()
        names = [n for n in AGENT_TOOL_NAMES if tool_permission(resolved, n)[0] != "deny"]
        names += [t["name"] for t in resolved if t["type"] == "custom"]
        return names + [f"mcp:{t['mcp_server_name']}" for t in resolved if t["type"] == "mcp_toolset"]

    def __repr__(self) -> str:
        tools = self.tool_names
        return (
            f"Agent(name={self.spec.name!r}, model={self.spec.model_id!r}, tools={tools}, "
            f"version={self.version}, backend={self.backend!r})"
        )


class Environment:
    """An environment on a backend (networking, packages, and local sandbox settings)."""

    def __init__(self, spec: EnvironmentSpec, id: str, backend: str) -> None:
        self.spec = spec
        self.id = id
        self.backend = backend

    @classmethod
    def define(cls, spec: EnvironmentSpec | str | Mapping[str, Any], *, backend: str | None = None) -> Environment:
        """Create the environment named in ``spec``, or update it if the definition changed.

        Local sandbox settings (``local:``) travel only to the local backend.
        """
        spec = _environment_spec(spec)
        backend = backend or default_backend()
        client = client_for(backend)
        params = spec.to_params(target="local" if backend == "local" else "hosted")
        params["metadata"] = {**params.get("metadata", {}), SPEC_KEY: _fingerprint(params)}
        found = _by_name(client.beta.environments.list(), spec.name)
        if found is None:
            env = client.beta.environments.create(**params)
        elif (found.metadata or {}).get(SPEC_KEY) != params["metadata"][SPEC_KEY]:
            env = client.beta.environments.update(found.id, **_replacing(found, params, _ENVIRONMENT_DEFAULTS))
        else:
            env = found
        return cls(spec, env.id, backend)

    @classmethod
    def default(cls, *, backend: str | None = None) -> Environment:
        """The environment sessions use when none is named: no network, no packages."""
        return cls.define(EnvironmentSpec.from_params({"name": "nb-agents-default"}), backend=backend)

    def __repr__(self) -> str:
        net = self.spec.effective_networking
        net_name = "none" if net.type == "limited" and not net.allowed_hosts else net.type
        return f"Environment(name={self.spec.name!r}, networking={net_name!r}, backend={self.backend!r})"


def _replacing(found: Any, params: Mapping[str, Any], clear: Mapping[str, Any]) -> dict[str, Any]:
    """Update params that make the stored object equal the definition, resetting what it dropped."""
    out = {k: v for k, v in clear.items() if k not in params}
    out.update(params)
    stale = {k: None for k in (found.metadata or {}) if k not in params["metadata"]}
    out["metadata"] = {**stale, **params["metadata"]}
    return out


def _absolute_replay(spec: AgentSpec) -> AgentSpec:
    """``replay:data/x.jsonl`` names a file relative to here (the notebook), not to the server."""
    if not spec.model_id.startswith("replay:"):
        return spec
    path = Path(spec.model_id[len("replay:") :].strip()).expanduser()
    if path.is_absolute():
        return spec
    model: Any = f"replay:{path.resolve()}"
    if isinstance(spec.model, dict):
        model = {**spec.model, "id": model}
    return dataclasses.replace(spec, model=model)


def _agent_spec(spec: AgentSpec | str | Mapping[str, Any]) -> AgentSpec:
    if isinstance(spec, AgentSpec):
        return spec
    return AgentSpec.from_yaml(spec) if isinstance(spec, str) else AgentSpec.from_params(spec)


def _environment_spec(spec: EnvironmentSpec | str | Mapping[str, Any]) -> EnvironmentSpec:
    if isinstance(spec, EnvironmentSpec):
        return spec
    return EnvironmentSpec.from_yaml(spec) if isinstance(spec, str) else EnvironmentSpec.from_params(spec)
