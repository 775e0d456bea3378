"""Parsing an agent's ``tools:`` and ``permissions:`` (short forms and the API form)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from nb_agents.spec._errors_help import (
    Path,
    Source,
    check_keys,
    choice,
    describe,
    expect_list,
    expect_mapping,
    expect_str,
    opt_bool,
    render_path,
    require,
    suggest,
)
from nb_agents.spec._tools import (
    AGENT_TOOL_NAMES,
    AGENT_TOOLSET_TYPE,
    CUSTOM_NAME,
    PERMISSION_POLICIES,
    POLICY_ALIASES,
    AgentToolset,
    CustomTool,
    McpToolset,
    Tool,
    ToolConfig,
)
from nb_agents.spec._web import WEB_OPTIONS, parse_web_options

ITEM_HELP = (
    "a tool entry must be a built-in tool name (bash, read, ...), 'all', {web_fetch: {options}}, "
    "{mcp: <server name>}, a custom tool {name, description, input_schema}, or an API tool with 'type'"
)


def parse_policy(src: Source, path: Path, value: Any) -> str:
    """A permission policy from ``allow``/``ask``/``auto``, a full name, or ``{type: ...}``."""
    if isinstance(value, Mapping):
        check_keys(src, path, value, ("type",))
        value, path = require(src, path, value, "type"), (*path, "type")
    if isinstance(value, str) and value in POLICY_ALIASES:
        return POLICY_ALIASES[value]
    shown = f"'{value}'" if isinstance(value, str) else describe(value)
    hint = (suggest(value, POLICY_ALIASES) if isinstance(value, str) else "") or "."
    allowed = ", ".join(PERMISSION_POLICIES)
    raise src.error(path, f"unknown permission policy {shown}{hint} Allowed: {allowed} (or allow, ask)")


def parse_tools(
    src: Source, value: Any, permissions: Any, path: Path = ("tools",), perm_path: Path = ("permissions",)
) -> list[tuple[Tool, Path]]:
    """Parse ``tools:`` (short or API form) and ``permissions:`` into tools with their key paths."""
    if value is None:
        items: list[tuple[Any, Path]] = []
    elif value == "all":
        items = [(value, path)]
    elif isinstance(value, list | tuple):
        items = [(item, (*path, i)) for i, item in enumerate(value)]
    else:
        raise src.error(path, f"must be a list of tools or 'all', got {describe(value)}")
    out: list[tuple[Tool | None, Path]] = []
    names: dict[str, dict[str, Any]] = {}
    short_at: int | None = None
    all_mode = full_seen = False
    custom: dict[str, Path] = {}
    for item, at in items:
        if isinstance(item, str) or (isinstance(item, Mapping) and _is_builtin_item(item)):
            name, options = _builtin_item(src, at, item)
            if full_seen:
                raise src.error(at, f"built-in tools are given twice: by name and as a {AGENT_TOOLSET_TYPE}")
            if all_mode or (name == "all" and names):
                raise src.error(at, "'all' cannot be combined with named built-in tools")
            if name in names:
                raise src.error(at, f"built-in tool '{name}' is listed twice")
            all_mode = name == "all"
            if not all_mode:
                names[name] = options
            if short_at is None:
                short_at = len(out)
                out.append((None, at))
            continue
        mapping = expect_mapping(src, at, item, ITEM_HELP)
        tool: Tool
        if "type" in mapping:
            kinds = (AGENT_TOOLSET_TYPE, "mcp_toolset", "custom")
            kind = choice(src, (*at, "type"), mapping["type"], kinds, "tool type")
            if kind == AGENT_TOOLSET_TYPE and (full_seen or short_at is not None):
                raise src.error(at, f"only one {AGENT_TOOLSET_TYPE} entry is allowed")
            full_seen = full_seen or kind == AGENT_TOOLSET_TYPE
            tool = _custom(src, at, mapping) if kind == "custom" else _full_toolset(src, at, mapping, kind)
        elif "mcp" in mapping:
            tool = _short_mcp(src, at, mapping)
        elif "name" in mapping:
            tool = _custom(src, at, mapping)
        else:
            raise src.error(at, ITEM_HELP)
        if isinstance(tool, CustomTool):
            if tool.name in custom:
                first = render_path(custom[tool.name])
                raise src.error((*at, "name"), f"duplicate custom tool name '{tool.name}' (also at {first})")
            custom[tool.name] = at
        out.append((tool, at))
    if short_at is not None:
        out[short_at] = (_short_toolset(src, names, all_mode, permissions, perm_path), out[short_at][1])
    elif permissions is not None:
        if full_seen:
            raise src.error(perm_path, f"set permission_policy inside the {AGENT_TOOLSET_TYPE} entry instead")
        raise src.error(perm_path, "no built-in tool is enabled; list them in tools: (or use tools: all)")
    return [(t, at) for t, at in out if t is not None]


def _is_builtin_item(mapping: Mapping[str, Any]) -> bool:
    other = ("type", "mcp", "name", "description", "input_schema", "tools", "permissions")
    return len(mapping) == 1 and next(iter(mapping)) not in other


def _builtin_item(src: Source, at: Path, item: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(item, str):
        return choice(src, at, item, (*AGENT_TOOL_NAMES, "all"), "tool"), {}
    ((key, opts),) = item.items()
    name = choice(src, (*at, str(key)), key, AGENT_TOOL_NAMES, "tool")
    if opts is None:
        return name, {}
    if name not in WEB_OPTIONS:
        raise src.error((*at, name), f"'{name}' takes no options; list it as a plain name")
    options = expect_mapping(src, (*at, name), opts)
    check_keys(src, (*at, name), options, WEB_OPTIONS[name])
    return name, parse_web_options(src, (*at, name), name, options)


def _short_toolset(
    src: Source, names: dict[str, dict[str, Any]], all_mode: bool, permissions: Any, path: Path
) -> AgentToolset:
    default, policies = _permissions(src, path, permissions, None if all_mode else list(names), True)
    if all_mode:
        return AgentToolset(tuple(ToolConfig(n, None, p) for n, p in policies.items()), None, default)
    configs = tuple(ToolConfig(n, True, policies.get(n), opts) for n, opts in names.items())
    return AgentToolset(configs, False, default)


def _permissions(
    src: Source, path: Path, value: Any, enabled: list[str] | None, builtin: bool
) -> tuple[str | None, dict[str, str]]:
    """``(default policy, {tool: policy})`` from a short ``permissions:`` mapping."""
    if value is None:
        return None, {}
    what = "a mapping of tool name (or 'default') to allow, ask or auto"
    default: str | None = None
    policies: dict[str, str] = {}
    for key, policy in expect_mapping(src, path, value, what).items():
        at = (*path, str(key))
        if key == "default":
            default = parse_policy(src, at, policy)
            continue
        if builtin:
            name = choice(src, at, key, (*AGENT_TOOL_NAMES, "default"), "tool")
        else:
            name = expect_str(src, at, key, max_len=128)
        if enabled is not None and name not in enabled:
            shown = ", ".join(enabled) or "(none)"
            raise src.error(at, f"permission for '{name}', which is not enabled. Enabled tools: {shown}")
        policies[name] = parse_policy(src, at, policy)
    return default, policies


def _full_toolset(src: Source, at: Path, m: Mapping[str, Any], kind: str) -> AgentToolset | McpToolset:
    mcp = kind == "mcp_toolset"
    keys = ("type", "mcp_server_name", "default_config", "configs") if mcp else ("type", "default_config", "configs")
    check_keys(src, at, m, keys)
    d_enabled: bool | None = None
    d_policy: str | None = None
    if m.get("default_config") is not None:
        d_at = (*at, "default_config")
        default = expect_mapping(src, d_at, m["default_config"])
        check_keys(src, d_at, default, ("enabled", "permission_policy"))
        d_enabled = opt_bool(src, (*d_at, "enabled"), default.get("enabled"))
        if default.get("permission_policy") is not None:
            d_policy = parse_policy(src, (*d_at, "permission_policy"), default["permission_policy"])
    configs: list[ToolConfig] = []
    raw = m.get("configs")
    for j, item in enumerate([] if raw is None else expect_list(src, (*at, "configs"), raw)):
        c_at = (*at, "configs", j)
        c = expect_mapping(src, c_at, item)
        name_raw = require(src, c_at, c, "name")
        if mcp:
            name = expect_str(src, (*c_at, "name"), name_raw, max_len=128)
            check_keys(src, c_at, c, ("name", "enabled", "permission_policy"))
        else:
            name = choice(src, (*c_at, "name"), name_raw, AGENT_TOOL_NAMES, "tool")
            check_keys(src, c_at, c, ("name", "type", "enabled", "permission_policy", *WEB_OPTIONS.get(name, ())))
            if c.get("type") not in (None, name, AGENT_TOOLSET_TYPE):
                raise src.error((*c_at, "type"), f"must be '{name}' (the tool's name), got {describe(c['type'])}")
        if any(x.name == name for x in configs):
            raise src.error((*c_at, "name"), f"tool '{name}' is configured twice")
        policy = c.get("permission_policy")
        configs.append(
            ToolConfig(
                name,
                opt_bool(src, (*c_at, "enabled"), c.get("enabled")),
                None if policy is None else parse_policy(src, (*c_at, "permission_policy"), policy),
                parse_web_options(src, c_at, name, {k: c[k] for k in WEB_OPTIONS.get(name, ()) if k in c}),
            )
        )
    if not mcp:
        return AgentToolset(tuple(configs), d_enabled, d_policy)
    server = expect_str(src, (*at, "mcp_server_name"), require(src, at, m, "mcp_server_name"), max_len=255)
    return McpToolset(server, tuple(configs), d_enabled, d_policy)


def _short_mcp(src: Source, at: Path, m: Mapping[str, Any]) -> McpToolset:
    check_keys(src, at, m, ("mcp", "tools", "permissions"))
    server = expect_str(src, (*at, "mcp"), m["mcp"], max_len=255)
    names: list[str] | None = None
    if m.get("tools") is not None:
        names = []
        for i, raw in enumerate(expect_list(src, (*at, "tools"), m["tools"], "a list of the server's tools")):
            name = expect_str(src, (*at, "tools", i), raw, max_len=128)
            if name in names:
                raise src.error((*at, "tools", i), f"tool '{name}' is listed twice")
            names.append(name)
    default, policies = _permissions(src, (*at, "permissions"), m.get("permissions"), names, False)
    if names is None:
        return McpToolset(server, tuple(ToolConfig(n, None, p) for n, p in policies.items()), None, default)
    return McpToolset(server, tuple(ToolConfig(n, True, policies.get(n)) for n in names), False, default)


def _custom(src: Source, at: Path, m: Mapping[str, Any]) -> CustomTool:
    check_keys(src, at, m, ("type", "name", "description", "input_schema"))
    name = expect_str(src, (*at, "name"), require(src, at, m, "name"))
    if not CUSTOM_NAME.fullmatch(name):
        raise src.error((*at, "name"), f"must be 1-128 letters, digits, '_' or '-', got '{name}'")
    if name in AGENT_TOOL_NAMES:
        raise src.error((*at, "name"), f"'{name}' is a built-in tool; list it by name, or rename the custom tool")
    description = expect_str(src, (*at, "description"), require(src, at, m, "description"))
    if m.get("input_schema") is None:
        return CustomTool(name, description)
    s_at = (*at, "input_schema")
    schema = expect_mapping(src, s_at, m["input_schema"], "a JSON Schema mapping {type: object, ...}")
    choice(src, (*s_at, "type"), require(src, s_at, schema, "type"), ("object",), "input_schema type")
    if schema.get("properties") is not None:
        expect_mapping(src, (*s_at, "properties"), schema["properties"])
    if schema.get("required") is not None:
        expect_list(src, (*s_at, "required"), schema["required"], "a list of property names")
    try:
        json.dumps(schema)
    except (TypeError, ValueError) as exc:
        raise src.error(s_at, f"must be plain JSON data ({exc})") from None
    return CustomTool(name, description, copy.deepcopy(dict(schema)))
