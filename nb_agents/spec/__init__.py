"""Agent and environment definitions: YAML in, Managed Agents create params out.

An :class:`AgentSpec` or :class:`EnvironmentSpec` is read from YAML (:meth:`~AgentSpec.from_yaml`)
or from a params mapping (:meth:`~AgentSpec.from_params`), and gives back YAML
(:meth:`~AgentSpec.to_yaml`) or exactly the hosted API's create params
(:meth:`~AgentSpec.to_params`). Both readers accept the short forms below and the full API form,
so ``AgentSpec.from_params(spec.to_params())`` works. Every mistake raises
:class:`~nb_agents.errors.SpecError` naming the YAML line (or the key), what is wrong and what
is allowed.

An agent::

    name: analyst
    description: Answers questions about CSV files
    model: claude-sonnet-4-6          # or {id: claude-opus-4-7, effort: high, speed: fast}
    system: |
      You are a careful data analyst.
    tools:
      - bash                          # built-in tools: bash read write edit glob grep
      - read                          #   web_fetch web_search; `tools: all` enables all 8
      - web_fetch: {allowed_domains: [docs.python.org]}   # a built-in tool with API options
      - mcp: github                   # every tool of an MCP server from mcp_servers ...
        tools: [search_issues]        #   ... or only these; policies under `permissions:`
        permissions: {default: ask}   #   (MCP tools default to always_ask)
      - name: lookup_customer         # a custom tool, run by your code
        description: Find a customer by id
        input_schema: {type: object, properties: {id: {type: string}}, required: [id]}
    permissions:                      # built-in tools; allow | ask | auto (or always_allow, ...)
      default: allow
      bash: ask
    mcp_servers:                      # name: url (or a list of {name, url})
      github: https://api.githubcopilot.com/mcp/
    metadata: {team: data}            # up to 16 string pairs
    local:                            # read by the local runtime only
      max_tokens: 8192

Tools: a list of built-in names enables exactly those (``default_config: {enabled: false}`` plus
one enabled ``configs`` entry each); ``tools: all`` (or an ``all`` item) enables the whole
toolset; no ``tools`` key means no tools. ``permissions:`` sets per-tool policies and ``default``
sets ``default_config.permission_policy``; a policy for a tool that is not enabled is an error.
Any entry may also be an API tool with ``type`` (``agent_toolset_20260401``, ``mcp_toolset``,
``custom``). Every MCP server must be used by exactly one ``mcp`` entry, as the API requires.

An environment::

    name: pandas-env
    networking:                       # none | unrestricted | {limited: [host, ...]}
      limited: [api.example.com]      # only these hosts, plus (below) the package registries,
      allow_package_managers: true    #   which packages under limited networking need
    packages:                         # apt cargo gem go npm pip
      pip: [pandas==2.2.2, matplotlib]
    local:                            # read by the local runtime only
      image: python:3.12-slim
      cpu: 2                          # cores, may be fractional
      memory: 2g                      # Docker notation: 512m, 2g
      pids: 256
      idle_timeout: 600               # seconds

``networking: none`` is ``{type: limited, allowed_hosts: [], allow_package_managers: false,
allow_mcp_servers: false}``; ``{limited: [host, ...]}`` may add ``allow_package_managers: true``
and ``allow_mcp_servers: true``. Without ``networking``, ``to_params()`` sends no networking and
the local runtime allows no network (:attr:`EnvironmentSpec.effective_networking`). The API form
``config: {type: cloud | self_hosted, networking, packages}`` is accepted too.

Local settings never reach the hosted API: ``to_params()`` leaves them out, and
``to_params(target="local")`` stores them as compact JSON in ``metadata["nb_agents.local"]``, which
``from_params`` reads back into ``.local``.

For the runtime: :func:`resolve_tools` gives an agent's tools in the API response form,
:func:`tool_permission` says how a call is evaluated, and :func:`builtin_tool_names` lists the
tools the sandbox runs.
"""

from __future__ import annotations

from nb_agents.spec._agent import AgentLocalSettings, AgentSpec, McpServer
from nb_agents.spec._common import LOCAL_METADATA_KEY
from nb_agents.spec._env_parts import (
    PACKAGE_MANAGERS,
    LocalSettings,
    Networking,
    Packages,
    memory_bytes,
)
from nb_agents.spec._environment import EnvironmentSpec
from nb_agents.spec._resolve import builtin_tool_names, resolve_tools, tool_permission
from nb_agents.spec._tools import (
    AGENT_TOOL_NAMES,
    AGENT_TOOLSET_TYPE,
    PERMISSION_POLICIES,
    AgentToolset,
    CustomTool,
    McpToolset,
    Tool,
    ToolConfig,
)

__all__ = [
    "AGENT_TOOLSET_TYPE",
    "AGENT_TOOL_NAMES",
    "AgentLocalSettings",
    "AgentSpec",
    "AgentToolset",
    "CustomTool",
    "EnvironmentSpec",
    "LOCAL_METADATA_KEY",
    "LocalSettings",
    "McpServer",
    "McpToolset",
    "Networking",
    "PACKAGE_MANAGERS",
    "PERMISSION_POLICIES",
    "Packages",
    "Tool",
    "ToolConfig",
    "builtin_tool_names",
    "memory_bytes",
    "resolve_tools",
    "tool_permission",
]
