"""Agents (with their versions) and environments: create, read, update, archive, delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nb_agents.errors import ConflictError, InvalidRequestError, NotFoundError
from nb_agents.events import now
from nb_agents.runtime import _objects
from nb_agents.store import Store

__all__ = ["Registry"]


class Registry:
    """The agent and environment half of the runtime (no sessions, no events)."""

    store: Store

    # ---- agents --------------------------------------------------------------------------------

    def create_agent(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Create version 1 of an agent."""
        agent = _objects.new_agent(params, now())
        self.store.insert_agent_version(agent)
        return agent

    def get_agent(self, agent_id: str, version: int | None = None) -> dict[str, Any]:
        """An agent (latest version unless ``version``)."""
        agent = self.store.get_agent(agent_id, version)
        if agent is None:
            what = f"version {version} of agent '{agent_id}'" if version else f"agent '{agent_id}'"
            raise NotFoundError(f"no {what}")
        return agent

    def session_agent_for(self, ref: Any) -> dict[str, Any]:
        """The agent version a new session pins, from its ``agent`` param (overrides applied).

        ``ref`` is an agent id, ``{type: agent, id, version?}`` or
        ``{type: agent_with_overrides, id, version?, model?, system?, tools?, mcp_servers?, skills?}``.
        """
        if isinstance(ref, str) and ref:
            return self.get_agent(ref)
        kind = ref.get("type") if isinstance(ref, Mapping) else None
        if kind not in ("agent", "agent_with_overrides") or not isinstance(ref.get("id"), str) or not ref["id"]:
            raise InvalidRequestError(
                "'agent' is required: an agent id, {type: 'agent', id, version?}, or "
                "{type: 'agent_with_overrides', id, version?, model?, system?, tools?}"
            )
        version = ref.get("version")
        if version is not None and (type(version) is not int or not 1 <= version <= 2**53):
            raise InvalidRequestError(f"agent.version: expected an integer >= 1, got {version!r}")
        if kind == "agent":
            extra = sorted(set(ref) - {"type", "id", "version"})
            if extra:
                raise InvalidRequestError(
                    f"agent: unknown field(s) {', '.join(extra)}; to change the agent for this session "
                    "use {type: 'agent_with_overrides', ...}"
                )
        agent = self.get_agent(ref["id"], version)
        return agent if kind == "agent" else _objects.agent_with_overrides(agent, ref, now())

    def update_agent(self, agent_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Store a new version when the update changes something."""
        current = self.get_agent(agent_id)
        if current.get("archived_at"):
            raise ConflictError(f"agent '{agent_id}' is archived and cannot be updated", retryable=False)
        nxt = _objects.updated_agent(current, params, now())
        if nxt is None:
            return current
        self.store.insert_agent_version(nxt)
        return nxt

    def archive_agent(self, agent_id: str) -> dict[str, Any]:
        """Archive an agent: existing sessions go on, new ones cannot use it."""
        self.get_agent(agent_id)
        self.store.archive_agent(agent_id, now())
        return self.get_agent(agent_id)

    # ---- environments --------------------------------------------------------------------------

    def create_environment(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Create an environment; names are unique among live environments."""
        env = _objects.new_environment(params, now())
        self._check_unique_name(env["name"])
        self.store.insert_environment(env)
        return env

    def _check_unique_name(self, name: str, own_id: str | None = None) -> None:
        after: int | None = None
        while True:
            page, after = self.store.list_environments(include_archived=True, after=after, limit=100)
            if any(e["name"] == name and e["id"] != own_id for e in page):
                raise ConflictError(f"an environment named '{name}' already exists", retryable=False)
            if after is None:
                return

    def get_environment(self, env_id: str) -> dict[str, Any]:
        """An environment, or NotFoundError."""
        env = self.store.get_environment(env_id)
        if env is None:
            raise NotFoundError(f"no environment with id '{env_id}'", error_code="environment_not_found")
        return env

    def update_environment(self, env_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Update an environment; new sessions see the change."""
        nxt = _objects.updated_environment(self.get_environment(env_id), params, now())
        if params.get("name"):
            self._check_unique_name(nxt["name"], env_id)
        self.store.update_environment(nxt)
        return nxt

    def archive_environment(self, env_id: str) -> dict[str, Any]:
        """Archive an environment: no new sessions may use it."""
        env = self.get_environment(env_id)
        env["archived_at"] = env.get("archived_at") or now()
        self.store.update_environment(env)
        return env

    def delete_environment(self, env_id: str) -> dict[str, Any]:
        """Delete an environment."""
        self.get_environment(env_id)
        self.store.delete_environment(env_id)
        return {"id": env_id, "type": "environment_deleted"}
