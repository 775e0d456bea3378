"""The resolved (response) form of an agent's tools, and the permission a tool call gets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nb_agents.spec._errors_help import Source
from nb_agents.spec._parse_tools import parse_tools
from nb_agents.spec._tools import AGENT_TOOL_NAMES, AGENT_TOOLSET_TYPE, AgentToolset, McpToolset, ToolConfig
from nb_agents.spec._web import resolve_url_sources

_DEFAULT_POLICY = {AGENT_TOOLSET_TYPE: "always_allow", "mcp_toolset": "always_ask"}
_DECISION = {"always_allow": "allow", "always_ask": "ask", "auto": "ask"}


def builtin_tool_names() -> tuple[str, ...]:
    """The six sandbox tools the local runtime runs: bash, read, write, edit, glob, grep.

    ``web_fetch`` and ``web_search`` belong to the toolset too, but are server-side tools.
    """
    return AGENT_TOOL_NAMES[:6]


def resolve_tools(tools_params: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Resolve an agent's ``tools`` create params into the API response form.

    Every toolset gets a full ``default_config`` (``enabled`` and ``permission_policy`` always
    present). The agent toolset lists all eight tools in ``configs``; an MCP toolset lists the
    tools it configures (the server's other tools follow ``default_config``). Defaults: enabled,
    ``always_allow`` for the agent toolset and ``always_ask`` for MCP toolsets. Custom tools pass
    through unchanged.

    Args:
        tools_params: The ``tools`` list of agent create params (short forms are accepted too), or
            ``None``.

    Returns:
        A new list of plain dicts that validates against the SDK's ``BetaManagedAgentsAgent.tools``.

    Raises:
        SpecError: An entry is not a valid tool definition.
    """
    resolved: list[dict[str, Any]] = []
    for tool, _ in parse_tools(Source(), tools_params, None):
        if isinstance(tool, AgentToolset):
            resolved.append(_resolve_toolset(tool, {"type": AGENT_TOOLSET_TYPE}, AGENT_TOOL_NAMES))
        elif isinstance(tool, McpToolset):
            head = {"type": "mcp_toolset", "mcp_server_name": tool.mcp_server_name}
            resolved.append(_resolve_toolset(tool, head, tuple(c.name for c in tool.configs)))
        else:
            resolved.append(tool.to_params())
    return resolved


def _resolve_toolset(ts: AgentToolset | McpToolset, head: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    enabled = True if ts.default_enabled is None else ts.default_enabled
    policy = ts.default_permission_policy or _DEFAULT_POLICY[head["type"]]
    by_name = {c.name: c for c in ts.configs}
    configs: list[dict[str, Any]] = []
    for name in names:
        config = by_name.get(name, ToolConfig(name))
        item: dict[str, Any] = {"type": name} if isinstance(ts, AgentToolset) else {}
        item["name"] = name
        item["enabled"] = enabled if config.enabled is None else config.enabled
        item["permission_policy"] = {"type": config.permission_policy or policy}
        for key, value in config.options.items():
            item[key] = resolve_url_sources(value) if key == "url_sources" else value
        configs.append(item)
    default = {"enabled": enabled, "permission_policy": {"type": policy}}
    return {**head, "default_config": default, "configs": configs}


def tool_permission(
    resolved_tools: Sequence[Mapping[str, Any]], name: str, *, mcp_server_name: str | None = None
) -> tuple[str, str | None]:
    """How a tool call is evaluated under an agent's resolved tools.

    Args:
        resolved_tools: Output of :func:`resolve_tools` (an agent's response-form ``tools``).
        name: The tool the model called.
        mcp_server_name: For a call of an MCP tool, the server it belongs to.

    Returns:
        ``(evaluated_permission, policy)``: ``("allow", "always_allow")``, ``("ask", "always_ask")``,
        ``("ask", "auto")``, ``("allow", None)`` for a custom tool (never gated), or
        ``("deny", None)`` for a tool that is not enabled or not defined at all. nb_agents has
        no judge for ``auto``, so it fails safe and asks (the local runtime refuses to store an
        agent with ``auto``; this covers agents stored before it did).
    """
    for tool in resolved_tools:
        kind = tool.get("type")
        if mcp_server_name is None and kind == "custom" and tool.get("name") == name:
            return "allow", None
        is_agent = mcp_server_name is None and kind == AGENT_TOOLSET_TYPE and name in AGENT_TOOL_NAMES
        is_mcp = (
            mcp_server_name is not None and kind == "mcp_toolset" and tool.get("mcp_server_name") == mcp_server_name
        )
        if not (is_agent or is_mcp):
            continue
        default: Mapping[str, Any] = tool.get("default_config") or {}
        configs: list[Mapping[str, Any]] = list(tool.get("configs") or ())
        config = next((c for c in configs if c.get("name") == name), {})
        enabled = config.get("enabled")
        if enabled is None:
            enabled = default.get("enabled")
        if enabled is False:
            return "deny", None
        policy = (config.get("permission_policy") or default.get("permission_policy") or {}).get("type")
        policy = policy or _DEFAULT_POLICY[str(kind)]
        return _DECISION.get(policy, "ask"), policy
    return "deny", None
