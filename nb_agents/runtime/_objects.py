"""Build and update the wire objects (Agent, Environment, Session) the API returns.

Request bodies are validated by ``nb_agents.spec`` (one set of rules for cells, YAML and the
wire); what the local runtime cannot do yet is refused here with a clear 400.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from nb_agents.errors import ConflictError, InvalidRequestError, NotAvailableLocallyError, SpecError
from nb_agents.events import new_id
from nb_agents.spec import AgentSpec, EnvironmentSpec, resolve_tools
from nb_agents.spec._tools import AGENT_TOOLSET_TYPE, AgentToolset

__all__ = [
    "PACKAGE_MANAGERS",
    "agent_with_overrides",
    "check_session_create",
    "check_session_update",
    "new_agent",
    "new_environment",
    "new_session",
    "session_agent",
    "updated_agent",
    "updated_environment",
]

PACKAGE_MANAGERS = ("apt", "cargo", "gem", "go", "npm", "pip")
_AGENT_FIELDS = (
    "name",
    "model",
    "description",
    "system",
    "tools",
    "mcp_servers",
    "skills",
    "multiagent",
    "metadata",
    "execution_identity",
)
_EFFORTS = ("low", "medium", "high", "xhigh", "max")
_WEB_TOOLS = ("web_fetch", "web_search")
"""Server-side tools of the agent toolset the local runtime cannot run: resolved as disabled."""
_SESSION_CREATE_FIELDS = (
    "agent",
    "environment_id",
    "title",
    "metadata",
    "resources",
    "vault_ids",
    "initial_events",
    "budget",
)
_SESSION_UPDATE_FIELDS = ("agent", "title", "metadata", "vault_ids", "budget")
_OVERRIDE_FIELDS = ("type", "id", "version", "model", "system", "tools", "mcp_servers", "skills")


def _invalid(exc: SpecError) -> InvalidRequestError:
    return InvalidRequestError(str(exc))


def _model_config(model: Any) -> dict[str, Any]:
    if isinstance(model, str):
        model = {"id": model}
    if not isinstance(model, Mapping) or not isinstance(model.get("id"), str) or not model["id"]:
        raise InvalidRequestError("model: expected a model id string or an object {id, effort?, speed?}")
    unknown = sorted(set(model) - {"id", "effort", "speed", "inference_geo"})
    if unknown:
        allowed = "id, effort, speed, inference_geo"
        raise InvalidRequestError(f"model: unknown field(s) {', '.join(unknown)}; allowed: {allowed}")
    if model.get("inference_geo") is not None and not isinstance(model["inference_geo"], str):
        raise InvalidRequestError("model.inference_geo: expected a string")
    effort = model.get("effort") or "high"
    if isinstance(effort, Mapping):
        effort = effort.get("type")
    if effort not in _EFFORTS:
        raise InvalidRequestError(f"model.effort: {effort!r} is not one of {', '.join(_EFFORTS)}")
    out: dict[str, Any] = {"id": model["id"], "effort": {"type": effort}}
    out["speed"] = model.get("speed") or "standard"
    if out["speed"] not in ("standard", "fast"):
        raise InvalidRequestError("model.speed: expected 'standard' or 'fast'")
    if model.get("inference_geo"):
        out["inference_geo"] = model["inference_geo"]
    return out


def _refuse_unsupported(params: Mapping[str, Any]) -> None:
    if params.get("skills"):
        raise NotAvailableLocallyError("skills (the agent's 'skills')")
    if params.get("multiagent"):
        raise NotAvailableLocallyError("multiagent (the agent's 'multiagent')")
    if params.get("mcp_servers"):
        raise NotAvailableLocallyError("MCP servers (the agent's 'mcp_servers')")
    tools = params.get("tools")
    if isinstance(tools, list) and any(
        isinstance(t, Mapping) and (t.get("type") == "mcp_toolset" or "mcp" in t) for t in tools
    ):
        raise NotAvailableLocallyError("MCP toolsets (tools[].type 'mcp_toolset')")
    identity = params.get("execution_identity")
    if identity is not None and not isinstance(identity, Mapping):
        raise InvalidRequestError("execution_identity: expected an object {type: 'service_account'}")
    if identity and identity.get("type") != "service_account":
        raise NotAvailableLocallyError(
            f"execution_identity {identity.get('type')!r}", "leave it out: local sessions run as service_account"
        )


def _refuse_web_tools(spec: AgentSpec) -> None:
    for tool in spec.tools:
        if isinstance(tool, AgentToolset):
            enabled = [c.name for c in tool.configs if c.name in _WEB_TOOLS and c.enabled]
            if enabled:
                raise NotAvailableLocallyError(
                    f"the {' and '.join(enabled)} tool{'s' if len(enabled) > 1 else ''}",
                    "leave web_fetch and web_search out or disabled (the local agent toolset lists them disabled)",
                )


def _local_tools(tools_params: Any) -> list[dict[str, Any]]:
    """Resolve tools as the local runtime runs them: web tools disabled, ``auto`` refused."""
    resolved = resolve_tools(tools_params or [])
    for tool in resolved:
        if tool.get("type") != AGENT_TOOLSET_TYPE:
            continue
        policies = [tool["default_config"], *tool["configs"]]
        if any(p["permission_policy"]["type"] == "auto" for p in policies):
            raise NotAvailableLocallyError(
                "the 'auto' permission policy (a model that judges each call)", "use always_allow or always_ask"
            )
        for config in tool["configs"]:
            if config["name"] in _WEB_TOOLS:
                config["enabled"] = False
    return resolved


def _validated_agent_params(params: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(_AGENT_FIELDS))
    if unknown:
        raise InvalidRequestError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_AGENT_FIELDS)}")
    _refuse_unsupported(params)
    spec_input = {k: v for k, v in params.items() if k in ("name", "model", "description", "system", "tools")}
    spec_input.update({k: params[k] for k in ("mcp_servers", "metadata") if params.get(k) is not None})
    if isinstance(spec_input.get("metadata"), Mapping):  # null deletes a key in an update: not a value
        spec_input["metadata"] = {k: v for k, v in spec_input["metadata"].items() if v is not None}
    try:
        spec = AgentSpec.from_params(spec_input)
    except SpecError as exc:
        raise _invalid(exc) from exc
    _refuse_web_tools(spec)
    return dict(params)


def new_agent(params: Mapping[str, Any], now: str) -> dict[str, Any]:
    """Return version 1 of a new Agent from create params."""
    for required in ("name", "model"):
        if not params.get(required):
            raise InvalidRequestError(f"'{required}' is required")
    p = _validated_agent_params(params)
    return {
        "id": new_id("agent"),
        "type": "agent",
        "name": p["name"],
        "description": p.get("description") or None,
        "system": p.get("system") or None,
        "model": _model_config(p["model"]),
        "tools": _local_tools(p.get("tools")),
        "mcp_servers": [],
        "skills": [],
        "multiagent": None,
        "execution_identity": {"type": "service_account"},
        "metadata": _metadata({}, p.get("metadata")),
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "archived_at": None,
    }


def updated_agent(current: Mapping[str, Any], params: Mapping[str, Any], now: str) -> dict[str, Any] | None:
    """Apply update params; return the next version, or None when nothing changed.

    Raises:
        ConflictError: ``version`` was given and is not the current version.
    """
    params = dict(params)
    expected = params.pop("version", None)
    if expected is not None and expected != current["version"]:
        raise ConflictError(
            f"agent {current['id']} is at version {current['version']}, not {expected}; "
            "retrieve it again and reapply your change",
            error_code="version_mismatch",
            retryable=False,
        )
    if "name" in params and not params["name"]:
        raise InvalidRequestError("'name' cannot be cleared")
    if "model" in params and not params["model"]:
        raise InvalidRequestError("'model' cannot be cleared")
    _validated_agent_params({"name": current["name"], "model": current["model"]["id"], **params})
    nxt = copy.deepcopy(dict(current))
    if "name" in params:
        nxt["name"] = params["name"]
    if "model" in params:
        nxt["model"] = _model_config(params["model"])
    for key in ("description", "system"):
        if key in params:
            nxt[key] = params[key] or None
    if "tools" in params:
        nxt["tools"] = _local_tools(params["tools"])
    if "mcp_servers" in params:
        nxt["mcp_servers"] = []
    if "metadata" in params:
        nxt["metadata"] = _metadata(current["metadata"], params["metadata"])
    if all(nxt[k] == current[k] for k in _AGENT_FIELDS if k in nxt):
        return None
    nxt.update(version=current["version"] + 1, updated_at=now)
    return nxt


def _metadata(current: Mapping[str, str], patch: Any) -> dict[str, str]:
    out = dict(current)
    if patch is None:
        return out
    if not isinstance(patch, Mapping):
        raise InvalidRequestError("metadata: expected an object of string keys to string values")
    for key, value in patch.items():
        if value is None or value == "":
            out.pop(key, None)
        elif not isinstance(value, str) or len(key) > 64 or len(value) > 512:
            raise InvalidRequestError(f"metadata['{key}']: values are strings of at most 512 characters")
        else:
            out[key] = value
    if len(out) > 16:
        raise InvalidRequestError("metadata: at most 16 pairs are allowed")
    return out


def _cloud_config(config: Any) -> dict[str, Any]:
    config = dict(config or {"type": "cloud"})
    if config.get("type") == "self_hosted":
        raise NotAvailableLocallyError("self-hosted environments (config.type 'self_hosted')", "use type 'cloud'")
    networking = dict(config.get("networking") or {"type": "limited"})
    if networking.get("type") == "limited":
        networking = {
            "type": "limited",
            "allowed_hosts": list(networking.get("allowed_hosts") or []),
            "allow_package_managers": bool(networking.get("allow_package_managers")),
            "allow_mcp_servers": bool(networking.get("allow_mcp_servers")),
        }
    packages = dict(config.get("packages") or {})
    return {
        "type": "cloud",
        "networking": networking,
        "packages": {"type": "packages", **{m: list(packages.get(m) or []) for m in PACKAGE_MANAGERS}},
    }


def _validated_environment(params: Mapping[str, Any]) -> None:
    allowed = ("name", "description", "config", "metadata", "scope")
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InvalidRequestError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    if params.get("scope") not in (None, "organization"):
        raise NotAvailableLocallyError(
            f"environment scope {params.get('scope')!r}", "leave 'scope' out: the local runtime has one, 'organization'"
        )
    spec_input = {k: params[k] for k in ("name", "description", "config", "metadata") if params.get(k) is not None}
    if isinstance(spec_input.get("metadata"), Mapping):  # null deletes a key in an update: not a value
        spec_input["metadata"] = {k: v for k, v in spec_input["metadata"].items() if v is not None}
    try:
        EnvironmentSpec.from_params(spec_input)
    except SpecError as exc:
        raise _invalid(exc) from exc


def new_environment(params: Mapping[str, Any], now: str) -> dict[str, Any]:
    """Return a new Environment from create params."""
    if not params.get("name"):
        raise InvalidRequestError("'name' is required")
    _validated_environment(params)
    return {
        "id": new_id("env"),
        "type": "environment",
        "name": params["name"],
        "description": params.get("description") or None,
        "config": _cloud_config(params.get("config")),
        "metadata": _metadata({}, params.get("metadata")),
        "scope": "organization",
        "created_at": now,
        "updated_at": now,
        "archived_at": None,
    }


def updated_environment(current: Mapping[str, Any], params: Mapping[str, Any], now: str) -> dict[str, Any]:
    """Apply update params to an Environment (omitted fields keep their value)."""
    if current.get("archived_at"):
        raise InvalidRequestError(
            f"environment {current['id']} is archived and cannot be updated",
            error_code="environment_archived",
        )
    _validated_environment({"name": current["name"], **params})
    nxt = copy.deepcopy(dict(current))
    if params.get("name"):
        nxt["name"] = params["name"]
    if "description" in params:
        nxt["description"] = params["description"] or None
    if params.get("config") is not None:
        merged = {**current["config"], **params["config"]}
        if merged.get("type") != current["config"]["type"]:
            raise InvalidRequestError(
                "config.type cannot change after creation", error_code="invalid_config_type_change"
            )
        nxt["config"] = _cloud_config(merged)
    if "metadata" in params:
        nxt["metadata"] = _metadata(current["metadata"], params["metadata"])
    nxt["updated_at"] = now
    return nxt


def session_agent(agent: Mapping[str, Any]) -> dict[str, Any]:
    """The session's snapshot of an agent version (``session.agent``)."""
    keys = (
        "id",
        "version",
        "name",
        "description",
        "system",
        "model",
        "tools",
        "mcp_servers",
        "skills",
        "execution_identity",
        "multiagent",
    )
    return {"type": "agent", **{k: copy.deepcopy(agent[k]) for k in keys}}


def agent_with_overrides(agent: Mapping[str, Any], ref: Mapping[str, Any], now: str) -> dict[str, Any]:
    """``agent`` with the overrides of an ``agent_with_overrides`` reference applied.

    Overrides (``model``, ``system``, ``tools``, ``mcp_servers``, ``skills``) replace the
    agent's values in full for one session; the agent itself is not changed.
    """
    unknown = sorted(set(ref) - set(_OVERRIDE_FIELDS))
    if unknown:
        raise InvalidRequestError(
            f"agent: unknown field(s) {', '.join(unknown)} in agent_with_overrides; "
            f"allowed: {', '.join(_OVERRIDE_FIELDS)}"
        )
    patch = {k: ref[k] for k in ("model", "system", "tools", "mcp_servers", "skills") if k in ref}
    if "model" in patch and not patch["model"]:
        raise InvalidRequestError("agent.model: an override cannot clear the model; leave it out to keep the agent's")
    merged = updated_agent({**agent, "archived_at": None}, patch, now)
    if merged is None:
        return dict(agent)
    return {**merged, "version": agent["version"], "archived_at": agent.get("archived_at")}


def check_session_create(params: Mapping[str, Any]) -> None:
    """Refuse create params that are malformed or ask for what the local runtime does not have."""
    unknown = sorted(set(params) - set(_SESSION_CREATE_FIELDS))
    if unknown:
        raise InvalidRequestError(
            f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_SESSION_CREATE_FIELDS)}"
        )
    if params.get("resources"):
        raise NotAvailableLocallyError("session resources (files and repositories mounted in the session)")
    _check_vault_ids(params.get("vault_ids"))
    _check_title(params.get("title"))
    initial = params.get("initial_events")
    if initial is not None and not isinstance(initial, list):
        raise InvalidRequestError("initial_events: expected a list of user.message events")
    if any(not isinstance(e, Mapping) for e in initial or ()):
        raise InvalidRequestError("initial_events: every entry must be an event object")
    if any(e.get("type") == "user.define_outcome" for e in initial or ()):
        raise NotAvailableLocallyError("outcomes (user.define_outcome)")


def check_session_update(params: Mapping[str, Any]) -> None:
    """Refuse update params that are malformed or ask for what the local runtime does not have."""
    unknown = sorted(set(params) - set(_SESSION_UPDATE_FIELDS))
    if unknown:
        raise InvalidRequestError(
            f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_SESSION_UPDATE_FIELDS)}"
        )
    _check_vault_ids(params.get("vault_ids"))
    _check_title(params.get("title"))
    agent = params.get("agent")
    if agent is not None:
        if not isinstance(agent, Mapping):
            raise InvalidRequestError("agent: expected an object {tools?, mcp_servers?}")
        extra = sorted(set(agent) - {"type", "tools", "mcp_servers"})
        if extra:
            raise InvalidRequestError(f"agent: only tools and mcp_servers can be updated, not {', '.join(extra)}")


def _check_vault_ids(vault_ids: Any) -> None:
    if vault_ids is None:
        return
    if not isinstance(vault_ids, list) or not all(isinstance(v, str) for v in vault_ids):
        raise InvalidRequestError("vault_ids: expected a list of vault ids")
    if vault_ids:
        raise NotAvailableLocallyError("vaults (the session's 'vault_ids')")


def _check_title(title: Any) -> None:
    if title is not None and not isinstance(title, str):
        raise InvalidRequestError(f"title: expected a string or null, got {type(title).__name__}")


def new_session(
    params: Mapping[str, Any], agent: Mapping[str, Any], environment: Mapping[str, Any], now: str
) -> dict[str, Any]:
    """Return a new idle Session pinned to ``agent`` (already resolved to one version).

    ``params`` have passed :func:`check_session_create`.
    """
    title = params.get("title")
    return {
        "id": new_id("sesn"),
        "type": "session",
        "status": "idle",
        "agent": session_agent(agent),
        "environment_id": environment["id"],
        "title": title,
        "metadata": _metadata({}, params.get("metadata")),
        "resources": [],
        "vault_ids": [],
        "outcome_evaluations": [],
        "stats": {"active_seconds": 0.0, "duration_seconds": 0.0},
        "usage": {
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        },
        "budget": None,
        "deployment_id": None,
        "created_at": now,
        "updated_at": now,
        "archived_at": None,
    }
