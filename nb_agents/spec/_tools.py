"""An agent's tools: the built-in toolset, MCP toolsets and custom tools (types, YAML short forms)."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

AGENT_TOOLSET_TYPE = "agent_toolset_20260401"
AGENT_TOOL_NAMES = ("bash", "read", "write", "edit", "glob", "grep", "web_fetch", "web_search")
PERMISSION_POLICIES = ("always_allow", "always_ask", "auto")
POLICY_ALIASES = {"allow": "always_allow", "ask": "always_ask", **{p: p for p in PERMISSION_POLICIES}}
SHORT_POLICY = {"always_allow": "allow", "always_ask": "ask", "auto": "auto"}
CUSTOM_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True)
class ToolConfig:
    """One per-tool override in a toolset (``configs[]`` in the API).

    Attributes:
        name: Tool name (a built-in name, or the MCP server's tool name).
        enabled: Overrides the toolset's default; ``None`` when not set.
        permission_policy: ``always_allow``, ``always_ask`` or ``auto``; ``None`` when not set.
        options: Extra API keys of ``web_fetch``/``web_search`` (``allowed_domains`` ...).
    """

    name: str
    enabled: bool | None = None
    permission_policy: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def to_params(self) -> dict[str, Any]:
        """The API request form of this override."""
        out: dict[str, Any] = {"name": self.name}
        if self.enabled is not None:
            out["enabled"] = self.enabled
        if self.permission_policy is not None:
            out["permission_policy"] = {"type": self.permission_policy}
        out.update(copy.deepcopy(self.options))
        return out


@dataclass(frozen=True)
class AgentToolset:
    """The built-in ``agent_toolset_20260401`` (bash, read, write, edit, glob, grep, web_*)."""

    configs: tuple[ToolConfig, ...] = ()
    default_enabled: bool | None = None
    default_permission_policy: str | None = None

    def to_params(self) -> dict[str, Any]:
        """The API request form of the toolset."""
        return _toolset_params({"type": AGENT_TOOLSET_TYPE}, self)


@dataclass(frozen=True)
class McpToolset:
    """The tools of one MCP server named in ``mcp_servers`` (``mcp_toolset``)."""

    mcp_server_name: str
    configs: tuple[ToolConfig, ...] = ()
    default_enabled: bool | None = None
    default_permission_policy: str | None = None

    def to_params(self) -> dict[str, Any]:
        """The API request form of the toolset."""
        return _toolset_params({"type": "mcp_toolset", "mcp_server_name": self.mcp_server_name}, self)


@dataclass(frozen=True)
class CustomTool:
    """A tool your code runs: the session goes idle until you send ``user.custom_tool_result``."""

    name: str
    description: str
    input_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def to_params(self) -> dict[str, Any]:
        """The API form of the tool (request and response forms are the same)."""
        schema = copy.deepcopy(self.input_schema)
        return {"type": "custom", "name": self.name, "description": self.description, "input_schema": schema}


Tool: TypeAlias = "AgentToolset | McpToolset | CustomTool"


def _toolset_params(out: dict[str, Any], ts: AgentToolset | McpToolset) -> dict[str, Any]:
    default: dict[str, Any] = {}
    if ts.default_enabled is not None:
        default["enabled"] = ts.default_enabled
    if ts.default_permission_policy is not None:
        default["permission_policy"] = {"type": ts.default_permission_policy}
    if default:
        out["default_config"] = default
    if ts.configs:
        out["configs"] = [c.to_params() for c in ts.configs]
    return out


def tools_to_yaml(tools: Sequence[Tool]) -> tuple[Any, dict[str, str] | None]:
    """The YAML values of ``tools:`` and ``permissions:``; short forms wherever they read back exactly."""
    items: list[Any] = []
    permissions: dict[str, str] | None = None
    for tool in tools:
        if isinstance(tool, CustomTool):
            items.append({k: v for k, v in tool.to_params().items() if k != "type"})
            continue
        short = _short_form(tool, builtin=isinstance(tool, AgentToolset))
        if short is None:
            items.append(tool.to_params())
        elif isinstance(tool, AgentToolset):
            names, permissions = short[0], short[1] or None
            items.extend(["all"] if names is None else names)
        else:
            entry: dict[str, Any] = {"mcp": tool.mcp_server_name}
            if short[0] is not None:
                entry["tools"] = short[0]
            if short[1]:
                entry["permissions"] = short[1]
            items.append(entry)
    return ("all" if items == ["all"] else copy.deepcopy(items)), permissions


def _short_form(ts: AgentToolset | McpToolset, *, builtin: bool) -> tuple[list[Any] | None, dict[str, str]] | None:
    """``(tool names or None for all, permissions)`` if the short form reads back to ``ts`` exactly."""
    pairs = [("default", ts.default_permission_policy), *((c.name, c.permission_policy) for c in ts.configs)]
    perms = {name: SHORT_POLICY.get(p, p) for name, p in pairs if p}
    if any(c.name == "default" or (c.options and not builtin) for c in ts.configs):
        return None
    if ts.default_enabled is False and (ts.configs or not builtin) and all(c.enabled for c in ts.configs):
        return [{c.name: c.options} if c.options else c.name for c in ts.configs], perms
    if ts.default_enabled is None and all(c.enabled is None and c.permission_policy for c in ts.configs):
        return (None, perms) if not any(c.options for c in ts.configs) else None
    return None
