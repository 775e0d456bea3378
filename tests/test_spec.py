"""Tests of nb_agents.spec: YAML and params in, create params and YAML out, helpful errors."""

from __future__ import annotations

import collections.abc
import json
import textwrap
import types
import typing
from typing import Any

import pydantic
import pytest
import typing_extensions
from anthropic._types import SequenceNotStr
from anthropic.types.beta.agent_create_params import AgentCreateParams
from anthropic.types.beta.beta_managed_agents_agent import Tool as ResponseTool
from anthropic.types.beta.beta_managed_agents_custom_tool_input_schema import (
    BetaManagedAgentsCustomToolInputSchema,
)
from anthropic.types.beta.environment_create_params import EnvironmentCreateParams

import nb_agents.spec as spec_pkg
from nb_agents.errors import SpecError
from nb_agents.spec import (
    AGENT_TOOL_NAMES,
    PERMISSION_POLICIES,
    AgentSpec,
    EnvironmentSpec,
    LocalSettings,
    builtin_tool_names,
    memory_bytes,
    resolve_tools,
    tool_permission,
)

# --------------------------------------------------------------------------------------------
# Realistic definitions, each with the exact create params it must produce.

AGENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "minimal": ("name: a\nmodel: claude-haiku-4-5\n", {"name": "a", "model": "claude-haiku-4-5"}),
    "analyst": (
        """
        name: analyst
        description: Answers questions about CSV files
        model: claude-sonnet-4-6
        system: |
          You are a careful data analyst.
          Show your work.
        tools: [bash, read, glob]
        permissions: {default: allow, bash: ask}
        metadata: {team: data, owner: ana}
        """,
        {
            "name": "analyst",
            "description": "Answers questions about CSV files",
            "model": "claude-sonnet-4-6",
            "system": "You are a careful data analyst.\nShow your work.\n",
            "tools": [
                {
                    "type": "agent_toolset_20260401",
                    "default_config": {"enabled": False, "permission_policy": {"type": "always_allow"}},
                    "configs": [
                        {"name": "bash", "enabled": True, "permission_policy": {"type": "always_ask"}},
                        {"name": "read", "enabled": True},
                        {"name": "glob", "enabled": True},
                    ],
                }
            ],
            "metadata": {"team": "data", "owner": "ana"},
        },
    ),
    "all_tools": (
        """
        name: coder
        model: {id: claude-opus-4-7, effort: high, speed: fast}
        tools: all
        permissions: {bash: always_ask, write: auto}
        local: {max_tokens: 4096}
        """,
        {
            "name": "coder",
            "model": {"id": "claude-opus-4-7", "effort": "high", "speed": "fast"},
            "tools": [
                {
                    "type": "agent_toolset_20260401",
                    "configs": [
                        {"name": "bash", "permission_policy": {"type": "always_ask"}},
                        {"name": "write", "permission_policy": {"type": "auto"}},
                    ],
                }
            ],
        },
    ),
    "mcp_and_custom": (
        """
        name: support
        model: {id: claude-sonnet-4-6, effort: {type: low}}
        tools:
          - all
          - mcp: github
            tools: [search_issues, create_issue]
            permissions: {default: allow, create_issue: ask}
          - mcp: linear
          - name: lookup_customer
            description: Find a customer by id
            input_schema:
              type: object
              properties: {id: {type: string}}
              required: [id]
          - name: ping
            description: Check the CRM is up
        permissions: {default: ask}
        mcp_servers:
          github: https://api.githubcopilot.com/mcp/
          linear: https://mcp.linear.app/sse
        """,
        {
            "name": "support",
            "model": {"id": "claude-sonnet-4-6", "effort": {"type": "low"}},
            "tools": [
                {
                    "type": "agent_toolset_20260401",
                    "default_config": {"permission_policy": {"type": "always_ask"}},
                },
                {
                    "type": "mcp_toolset",
                    "mcp_server_name": "github",
                    "default_config": {"enabled": False, "permission_policy": {"type": "always_allow"}},
                    "configs": [
                        {"name": "search_issues", "enabled": True},
                        {
                            "name": "create_issue",
                            "enabled": True,
                            "permission_policy": {"type": "always_ask"},
                        },
                    ],
                },
                {"type": "mcp_toolset", "mcp_server_name": "linear"},
                {
                    "type": "custom",
                    "name": "lookup_customer",
                    "description": "Find a customer by id",
                    "input_schema": {
                        "type": "object",
                        "properties": {"id": {"type": "string"}},
                        "required": ["id"],
                    },
                },
                {
                    "type": "custom",
                    "name": "ping",
                    "description": "Check the CRM is up",
                    "input_schema": {"type": "object", "properties": {}},
                },
            ],
            "mcp_servers": [
                {"type": "url", "name": "github", "url": "https://api.githubcopilot.com/mcp/"},
                {"type": "url", "name": "linear", "url": "https://mcp.linear.app/sse"},
            ],
        },
    ),
    "web_tools": (
        """
        name: researcher
        model: claude-opus-4-8
        tools:
          - read
          - web_search: {allowed_domains: [arxiv.org], user_location: {type: approximate, country: GB}}
          - web_fetch:
              blocked_domains: [ads.example.com]
              max_content_tokens: 20000
              url_sources: {user_input: all, server_tool_results: none}
        """,
        {
            "name": "researcher",
            "model": "claude-opus-4-8",
            "tools": [
                {
                    "type": "agent_toolset_20260401",
                    "default_config": {"enabled": False},
                    "configs": [
                        {"name": "read", "enabled": True},
                        {
                            "name": "web_search",
                            "enabled": True,
                            "allowed_domains": ["arxiv.org"],
                            "user_location": {"type": "approximate", "country": "GB"},
                        },
                        {
                            "name": "web_fetch",
                            "enabled": True,
                            "blocked_domains": ["ads.example.com"],
                            "max_content_tokens": 20000,
                            "url_sources": {"user_input": "all", "server_tool_results": "none"},
                        },
                    ],
                }
            ],
        },
    ),
    "api_form": (
        """
        name: api
        model: claude-sonnet-4-6
        tools:
          - type: agent_toolset_20260401
            default_config: {enabled: true, permission_policy: {type: always_ask}}
            configs:
              - {name: web_search, type: web_search, enabled: false}
              - {name: bash, permission_policy: {type: auto}}
          - type: mcp_toolset
            mcp_server_name: docs
            configs: [{name: default, enabled: false}]
          - type: custom
            name: notify
            description: Send a message
            input_schema: {type: object, properties: {text: {type: string}}, additionalProperties: false}
        mcp_servers: [{type: url, name: docs, url: "https://docs.example.com/mcp"}]
        """,
        {
            "name": "api",
            "model": "claude-sonnet-4-6",
            "tools": [
                {
                    "type": "agent_toolset_20260401",
                    "default_config": {"enabled": True, "permission_policy": {"type": "always_ask"}},
                    "configs": [
                        {"name": "web_search", "enabled": False},
                        {"name": "bash", "permission_policy": {"type": "auto"}},
                    ],
                },
                {
                    "type": "mcp_toolset",
                    "mcp_server_name": "docs",
                    "configs": [{"name": "default", "enabled": False}],
                },
                {
                    "type": "custom",
                    "name": "notify",
                    "description": "Send a message",
                    "input_schema": {
                        "type": "object",
                        "properties": {"text": {"type": "string"}},
                        "additionalProperties": False,
                    },
                },
            ],
            "mcp_servers": [{"type": "url", "name": "docs", "url": "https://docs.example.com/mcp"}],
        },
    ),
}

ENVIRONMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "minimal": ("name: bare\n", {"name": "bare"}),
    "offline": (
        """
        name: offline
        description: No network at all
        networking: none
        local: {image: "python:3.12-slim", cpu: 1.5, memory: 512m, pids: 128, idle_timeout: 300}
        """,
        {
            "name": "offline",
            "description": "No network at all",
            "config": {
                "type": "cloud",
                "networking": {
                    "type": "limited",
                    "allowed_hosts": [],
                    "allow_package_managers": False,
                    "allow_mcp_servers": False,
                },
            },
        },
    ),
    "data_science": (
        """
        name: pandas-env
        networking: {limited: [api.example.com], allow_package_managers: true}
        packages:
          pip: [pandas==2.2.2, matplotlib]
          apt: [ripgrep]
          npm: [prettier]
        metadata: {purpose: demo}
        local: {memory: 2g}
        """,
        {
            "name": "pandas-env",
            "config": {
                "type": "cloud",
                "networking": {
                    "type": "limited",
                    "allowed_hosts": ["api.example.com"],
                    "allow_package_managers": True,
                    "allow_mcp_servers": False,
                },
                "packages": {
                    "type": "packages",
                    "apt": ["ripgrep"],
                    "npm": ["prettier"],
                    "pip": ["pandas==2.2.2", "matplotlib"],
                },
            },
            "metadata": {"purpose": "demo"},
        },
    ),
    "open": (
        "name: open\nnetworking: unrestricted\npackages: {cargo: [ripgrep]}\n",
        {
            "name": "open",
            "config": {
                "type": "cloud",
                "networking": {"type": "unrestricted"},
                "packages": {"type": "packages", "cargo": ["ripgrep"]},
            },
        },
    ),
    "api_form": (
        """
        name: api-env
        scope: organization
        config:
          type: cloud
          networking:
            {type: limited, allowed_hosts: [pypi.org], allow_package_managers: true, allow_mcp_servers: true}
          packages: {type: packages, pip: [numpy], gem: []}
        """,
        {
            "name": "api-env",
            "scope": "organization",
            "config": {
                "type": "cloud",
                "networking": {
                    "type": "limited",
                    "allowed_hosts": ["pypi.org"],
                    "allow_package_managers": True,
                    "allow_mcp_servers": True,
                },
                "packages": {"type": "packages", "pip": ["numpy"]},
            },
        },
    ),
    "self_hosted": (
        "name: mine\nconfig: {type: self_hosted}\n",
        {"name": "mine", "config": {"type": "self_hosted"}},
    ),
    "cloud_defaults": ("name: c\nconfig: {type: cloud}\n", {"name": "c", "config": {"type": "cloud"}}),
}

SPECS = [(AgentSpec, case, *AGENTS[case]) for case in AGENTS] + [
    (EnvironmentSpec, case, *ENVIRONMENTS[case]) for case in ENVIRONMENTS
]
SPEC_IDS = [f"{cls.__name__}-{case}" for cls, case, *_ in SPECS]


def _walk(value: Any) -> collections.abc.Iterator[Any]:
    yield value
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        yield from _walk(child)


# --------------------------------------------------------------------------------------------
# The create params match the SDK's request TypedDicts.


def _is_required(hint: Any) -> bool:
    return typing_extensions.get_origin(hint) in (typing_extensions.Required,)


def _conforms(value: Any, tp: Any, path: str = "$") -> None:
    """Assert ``value`` fits the SDK param type ``tp``: required keys, no unknown keys, literals."""
    origin = typing_extensions.get_origin(tp)
    if tp in (object, Any):
        return
    if origin in (typing_extensions.Required, typing_extensions.NotRequired, typing_extensions.Annotated):
        _conforms(value, typing_extensions.get_args(tp)[0], path)
    elif typing_extensions.is_typeddict(tp):
        assert isinstance(value, dict), f"{path}: expected a dict"
        hints = typing_extensions.get_type_hints(tp, include_extras=True)
        required = {k for k, h in hints.items() if _is_required(h)}
        assert required <= value.keys(), f"{path}: missing {required - value.keys()}"
        extra = getattr(tp, "__extra_items__", None)
        extra = None if extra is getattr(typing_extensions, "NoExtraItems", None) else extra
        for key, item in value.items():
            assert key in hints or extra is not None, f"{path}: unknown key {key!r}"
            _conforms(item, hints.get(key, extra), f"{path}.{key}")
    elif origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing_extensions.get_args(tp):
            try:
                _conforms(value, option, path)
                return
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError(f"{path}: fits no variant: {errors}")
    elif origin is typing.Literal:
        assert value in typing_extensions.get_args(tp), f"{path}: {value!r} not in {typing_extensions.get_args(tp)}"
    elif origin in (list, collections.abc.Iterable, collections.abc.Sequence, SequenceNotStr):
        assert isinstance(value, list), f"{path}: expected a list"
        for i, item in enumerate(value):
            _conforms(item, typing_extensions.get_args(tp)[0], f"{path}[{i}]")
    elif origin is dict:
        assert isinstance(value, dict), f"{path}: expected a dict"
        for key, item in value.items():
            _conforms(item, typing_extensions.get_args(tp)[1], f"{path}.{key}")
    elif tp is type(None):
        assert value is None, f"{path}: expected null"
    else:
        assert isinstance(value, tp) and not (tp is int and isinstance(value, bool)), f"{path}: not {tp}"


@pytest.mark.parametrize("case", AGENTS)
def test_agent_params_exact_and_valid_for_sdk(case: str) -> None:
    text, expected = AGENTS[case]
    params = AgentSpec.from_yaml(textwrap.dedent(text)).to_params()
    assert params == expected
    _conforms(params, AgentCreateParams)
    assert None not in list(_walk(params))
    for tool in params.get("tools", []):
        if tool["type"] == "agent_toolset_20260401":
            policies = [tool.get("default_config", {}).get("permission_policy")]
            policies += [c.get("permission_policy") for c in tool.get("configs", [])]
            assert {c["name"] for c in tool.get("configs", [])} <= set(AGENT_TOOL_NAMES)
            assert {p["type"] for p in policies if p} <= set(PERMISSION_POLICIES)


@pytest.mark.parametrize("case", ENVIRONMENTS)
def test_environment_params_exact_and_valid_for_sdk(case: str) -> None:
    text, expected = ENVIRONMENTS[case]
    params = EnvironmentSpec.from_yaml(textwrap.dedent(text)).to_params()
    assert params == expected
    _conforms(params, EnvironmentCreateParams)
    assert None not in list(_walk(params))


def test_conformance_checker_catches_mistakes() -> None:
    with pytest.raises(AssertionError, match="missing"):
        _conforms({"name": "a"}, AgentCreateParams)
    with pytest.raises(AssertionError, match="fits no variant"):
        _conforms(
            {"name": "a", "model": "m", "tools": [{"type": "agent_toolset_20260401", "x": 1}]},
            AgentCreateParams,
        )


# --------------------------------------------------------------------------------------------
# Round trips are lossless.


@pytest.mark.parametrize(("cls", "case", "text", "expected"), SPECS, ids=SPEC_IDS)
def test_round_trips(cls: Any, case: str, text: str, expected: dict[str, Any]) -> None:
    spec = cls.from_yaml(textwrap.dedent(text))
    params = spec.to_params()
    assert cls.from_params(params).to_params() == params
    assert cls.from_yaml(spec.to_yaml()) == spec
    assert cls.from_params(json.loads(json.dumps(params))).to_params() == params
    local = spec.to_params(target="local")
    again = cls.from_params(local)
    assert again.local == spec.local
    assert again.to_params(target="local") == local
    assert again.to_params() == params
    assert again == cls.from_yaml(again.to_yaml())
    if spec.local.to_dict():
        assert json.loads(local["metadata"]["nb_agents.local"]) == spec.local.to_dict()
        assert again == spec
    else:
        assert local == params


def test_local_settings_stay_out_of_hosted_params() -> None:
    env = EnvironmentSpec.from_yaml(textwrap.dedent(ENVIRONMENTS["offline"][0]))
    assert env.local == LocalSettings(image="python:3.12-slim", cpu=1.5, memory="512m", pids=128, idle_timeout=300)
    assert env.local.memory_bytes == 512 * 1024**2
    assert "metadata" not in env.to_params()
    meta = env.to_params(target="local")["metadata"]
    compact = '{"cpu":1.5,"idle_timeout":300,"image":"python:3.12-slim","memory":"512m","pids":128}'
    assert meta == {"nb_agents.local": compact}
    back = EnvironmentSpec.from_params(env.to_params(target="local"))
    assert back == env and back.metadata == {}
    agent = AgentSpec.from_yaml(textwrap.dedent(AGENTS["all_tools"][0]))
    assert agent.local.max_tokens == 4096
    assert "metadata" not in agent.to_params()


def test_short_forms_in_from_params_and_equivalence_with_api_form() -> None:
    short = AgentSpec.from_params({"name": "a", "model": "m", "tools": ["bash"], "permissions": {"bash": "ask"}})
    api = AgentSpec.from_params(short.to_params())
    assert api == short
    assert short.to_params()["tools"][0]["configs"] == [
        {"name": "bash", "enabled": True, "permission_policy": {"type": "always_ask"}}
    ]
    env = EnvironmentSpec.from_params({"name": "e", "networking": "none", "packages": {"pip": []}})
    assert env.to_params() == {"name": "e", "config": ENVIRONMENTS["offline"][1]["config"]}
    assert env.effective_networking == EnvironmentSpec(name="x").effective_networking


def test_to_yaml_uses_short_forms_where_exact() -> None:
    agent = AgentSpec.from_yaml(textwrap.dedent(AGENTS["analyst"][0]))
    data = AgentSpec.from_yaml(agent.to_yaml()).to_yaml()
    assert "tools: [bash, read, glob]" in data
    assert "default: allow" in data and "bash: ask" in data
    assert "system: |" in data
    api = AgentSpec.from_yaml(textwrap.dedent(AGENTS["api_form"][0])).to_yaml()
    assert "type: agent_toolset_20260401" in api
    env = EnvironmentSpec.from_yaml(textwrap.dedent(ENVIRONMENTS["offline"][0])).to_yaml()
    assert "networking: none" in env


def test_specs_do_not_share_state_with_inputs_or_outputs() -> None:
    params = AgentSpec.from_yaml(textwrap.dedent(AGENTS["mcp_and_custom"][0])).to_params()
    spec = AgentSpec.from_params(params)
    params["tools"][3]["input_schema"]["properties"]["id"]["type"] = "integer"
    params["model"]["id"] = "other"
    out = spec.to_params()
    assert out["tools"][3]["input_schema"]["properties"]["id"]["type"] == "string"
    out["model"]["effort"] = "max"
    assert spec.to_params()["model"] == {"id": "claude-sonnet-4-6", "effort": {"type": "low"}}


# --------------------------------------------------------------------------------------------
# Every mistake is a SpecError naming the line (YAML) or key, what is wrong, and what is allowed.

BASE = "name: a\nmodel: claude-sonnet-4-6\n"

AGENT_ERRORS: list[tuple[str, str, int | None, list[str]]] = [
    ("syntax", "name: a\nmodel: [x, y\n", 3, ["invalid YAML"]),
    ("bad_indent", "name: a\n  model: b\n", 2, ["invalid YAML", "mapping values are not allowed"]),
    ("not_a_mapping", "- a\n- b\n", 1, ["must be a mapping", "got a list"]),
    ("empty", "", None, ["must be a mapping", "got null"]),
    (
        "did_you_mean",
        BASE + "permisions: {bash: ask}\n",
        3,
        ["unknown key 'permisions' — did you mean 'permissions'?"],
    ),
    (
        "unknown_key_lists",
        BASE + "colour: red\n",
        3,
        ["unknown key 'colour'.", "Allowed keys: name, description"],
    ),
    ("duplicate_key", BASE + "name: b\n", 3, ["duplicate key 'name'"]),
    (
        "unknown_tool",
        BASE + "tools:\n  - read\n  - bsh\n",
        5,
        ["unknown tool 'bsh' — did you mean 'bash'?", "Allowed: bash, read, write"],
    ),
    (
        "bad_policy",
        BASE + "tools: [bash]\npermissions:\n  bash: sometimes\n",
        5,
        ["unknown permission policy 'sometimes'", "always_allow, always_ask, auto"],
    ),
    ("policy_alias_typo", BASE + "tools: all\npermissions: {default: alow}\n", 4, ["did you mean 'allow'?"]),
    (
        "tools_wrong_type",
        BASE + "tools: 5\n",
        3,
        ["key 'tools'", "must be a list of tools or 'all', got 5 (an integer)"],
    ),
    ("name_wrong_type", "name: [1]\nmodel: m\n", 1, ["key 'name'", "must be a string, got a list"]),
    ("missing_name", "model: m\n", 1, ["missing required key 'name'"]),
    ("missing_model", "name: a\ndescription: x\n", 1, ["missing required key 'model'", "claude-sonnet-4-6"]),
    (
        "permission_not_enabled",
        BASE + "tools: [read]\npermissions: {bash: ask}\n",
        4,
        ["permission for 'bash', which is not enabled", "Enabled tools: read"],
    ),
    ("permissions_without_tools", BASE + "permissions: {bash: ask}\n", 3, ["no built-in tool is enabled"]),
    ("all_and_named", BASE + "tools: [all, bash]\n", 3, ["'all' cannot be combined"]),
    ("tool_twice", BASE + "tools: [bash, bash]\n", 3, ["listed twice"]),
    (
        "duplicate_custom",
        BASE + "tools:\n  - {name: f, description: x}\n  - {name: f, description: y}\n",
        5,
        ["duplicate custom tool name 'f'", "tools[0]"],
    ),
    (
        "custom_is_builtin",
        BASE + "tools:\n  - {name: bash, description: x}\n",
        4,
        ["'bash' is a built-in tool"],
    ),
    ("custom_bad_name", BASE + "tools:\n  - {name: 'a b', description: x}\n", 4, ["letters, digits"]),
    ("custom_no_description", BASE + "tools:\n  - {name: f}\n", 4, ["missing required key 'description'"]),
    (
        "custom_schema_type",
        BASE + "tools:\n  - {name: f, description: x, input_schema: {type: array}}\n",
        4,
        ["unknown input_schema type 'array'", "Allowed: object"],
    ),
    (
        "mcp_unknown_server",
        BASE + "tools:\n  - mcp: githb\nmcp_servers: {github: 'https://x.example/mcp'}\n",
        4,
        ["unknown MCP server 'githb' — did you mean 'github'?", "Servers in mcp_servers: github"],
    ),
    (
        "mcp_server_unused",
        BASE + "mcp_servers:\n  github: https://x.example/mcp\n",
        4,
        ["MCP server 'github' is not used", "- mcp: github"],
    ),
    (
        "mcp_server_bad_url",
        BASE + "tools: [{mcp: g}]\nmcp_servers: {g: 'ftp://x'}\n",
        4,
        ["must start with https://"],
    ),
    (
        "mcp_permission_not_enabled",
        BASE + "tools:\n  - mcp: g\n    tools: [a]\n    permissions: {b: ask}\nmcp_servers: {g: 'https://g.example'}\n",
        6,
        ["permission for 'b', which is not enabled"],
    ),
    (
        "metadata_not_string",
        BASE + "metadata:\n  version: 2\n",
        4,
        ["metadata values must be strings", "got 2 (an integer)"],
    ),
    (
        "metadata_too_many",
        BASE + "metadata: {" + ", ".join(f"k{i}: v" for i in range(17)) + "}\n",
        3,
        ["at most 16 metadata pairs", "got 17"],
    ),
    ("metadata_long_key", BASE + f"metadata: {{{'k' * 65}: v}}\n", 3, ["1 to 64 characters"]),
    (
        "model_bad_effort",
        "name: a\nmodel:\n  id: m\n  effort: extreme\n",
        4,
        ["unknown effort 'extreme'", "low, medium, high, xhigh, max"],
    ),
    (
        "model_bad_key",
        "name: a\nmodel: {id: m, sped: fast}\n",
        2,
        ["unknown key 'sped' — did you mean 'speed'?"],
    ),
    ("model_wrong_type", "name: a\nmodel: 4\n", 2, ["must be a model id", "got 4 (an integer)"]),
    (
        "web_options_both",
        BASE + "tools:\n  - web_fetch: {allowed_domains: [a.com], blocked_domains: [b.com]}\n",
        4,
        ["not both"],
    ),
    (
        "web_bad_domain",
        BASE + "tools:\n  - web_search:\n      allowed_domains:\n        - https://a.com\n",
        6,
        ["plain host name"],
    ),
    ("options_on_bash", BASE + "tools:\n  - bash: {timeout: 5}\n", 4, ["'bash' takes no options"]),
    (
        "web_bad_option",
        BASE + "tools:\n  - web_fetch: {max_tokens: 5}\n",
        4,
        ["unknown key 'max_tokens'", "max_content_tokens"],
    ),
    (
        "url_sources_all_none",
        BASE
        + "tools:\n  - web_fetch:\n      url_sources:\n        "
        + "{user_input: none, client_tool_results: none, server_tool_results: {type: none}}\n",
        5,
        ["all three"],
    ),
    (
        "toolset_twice",
        BASE + "tools:\n  - bash\n  - type: agent_toolset_20260401\n",
        5,
        ["only one agent_toolset_20260401"],
    ),
    (
        "api_config_unknown_tool",
        BASE + "tools:\n  - type: agent_toolset_20260401\n    configs:\n      - name: shell\n",
        6,
        ["unknown tool 'shell'"],
    ),
    (
        "api_permissions_mix",
        BASE + "tools:\n  - type: agent_toolset_20260401\npermissions: {bash: ask}\n",
        5,
        ["inside the agent_toolset_20260401 entry"],
    ),
    ("api_bad_type", BASE + "tools:\n  - type: toolset\n", 4, ["unknown tool type 'toolset'"]),
    (
        "tool_entry_shape",
        BASE + "tools:\n  - {description: x, input_schema: {type: object}}\n",
        4,
        ["a tool entry must be"],
    ),
    (
        "unsupported_field",
        BASE + "skills: [{type: anthropic, skill_id: xlsx}]\n",
        3,
        ["'skills' is a Managed Agents field"],
    ),
    ("local_unknown", BASE + "local: {max_token: 5}\n", 3, ["did you mean 'max_tokens'?"]),
    ("local_bad_int", BASE + "local:\n  max_tokens: lots\n", 4, ["must be an integer"]),
    ("recursive_alias", "name: a\nmodel: m\nmetadata: &m {x: *m}\n", 3, ["alias"]),
]


@pytest.mark.parametrize(("case", "text", "line", "fragments"), AGENT_ERRORS, ids=[c[0] for c in AGENT_ERRORS])
def test_agent_errors(case: str, text: str, line: int | None, fragments: list[str]) -> None:
    with pytest.raises(SpecError) as info:
        AgentSpec.from_yaml(text)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message
    assert info.value.line == line
    if line is not None:
        assert message.startswith(f"line {line}")


ENV_ERRORS: list[tuple[str, str, int, list[str]]] = [
    (
        "cpu_wrong_type",
        "name: e\nlocal:\n  cpu: lots\n",
        3,
        ["key 'local.cpu'", "must be a number of CPU cores"],
    ),
    ("cpu_zero", "name: e\nlocal: {cpu: 0}\n", 2, ["positive"]),
    ("bad_memory", "name: e\nlocal:\n  memory: lots\n", 3, ["'lots' is not a memory size", "'512m' or '2g'"]),
    ("memory_unit", "name: e\nlocal: {memory: 2x}\n", 2, ["not a memory size"]),
    ("memory_too_small", "name: e\nlocal: {memory: 1k}\n", 2, ["at least 6m"]),
    ("disk_unit", "name: e\nlocal: {disk: lots}\n", 2, ["'lots' is not a disk size"]),
    ("disk_too_small", "name: e\nlocal: {disk: 1m}\n", 2, ["at least 64m"]),
    ("pids_negative", "name: e\nlocal: {pids: -1}\n", 2, ["at least 1"]),
    ("image_empty", "name: e\nlocal: {image: ''}\n", 2, ["must not be empty"]),
    (
        "networking_word",
        "name: e\nnetworking: sometimes\n",
        2,
        ["unknown networking 'sometimes'", "unrestricted, {limited: [host, ...]}"],
    ),
    ("networking_typo", "name: e\nnetworking: unrestrcted\n", 2, ["did you mean 'unrestricted'?"]),
    ("networking_number", "name: e\nnetworking: 5\n", 2, ["must be none, unrestricted", "got 5"]),
    (
        "networking_key_typo",
        "name: e\nnetworking: {limted: [a.com]}\n",
        2,
        ["unknown key 'limted' — did you mean 'limited'?"],
    ),
    (
        "networking_url",
        "name: e\nnetworking:\n  limited:\n    - https://pypi.org\n",
        4,
        ["host name like 'pypi.org'"],
    ),
    (
        "unrestricted_with_hosts",
        "name: e\nnetworking: {type: unrestricted, allowed_hosts: [a]}\n",
        2,
        ["unknown key 'allowed_hosts'"],
    ),
    (
        "packages_offline",
        "name: e\nnetworking: none\npackages:\n  pip: [pandas]\n",
        3,
        ["allow_package_managers: true"],
    ),
    ("packages_manager", "name: e\npackages: {pipx: [a]}\n", 2, ["unknown key 'pipx' — did you mean 'pip'?"]),
    (
        "packages_not_list",
        "name: e\npackages: {pip: pandas}\n",
        2,
        ["must be a list of packages like 'pandas==2.2', got 'pandas'"],
    ),
    ("config_and_short", "name: e\nconfig: {type: cloud}\nnetworking: none\n", 2, ["not both"]),
    (
        "self_hosted_networking",
        "name: e\nconfig: {type: self_hosted, networking: {type: unrestricted}}\n",
        2,
        ["unknown key 'networking'"],
    ),
    ("config_type", "name: e\nconfig: {type: clowd}\n", 2, ["did you mean 'cloud'?"]),
    ("scope", "name: e\nscope: world\n", 2, ["unknown scope 'world'"]),
    ("missing_name", "description: x\n", 1, ["missing required key 'name'"]),
    ("metadata_null_value", "name: e\nmetadata: {a: null}\n", 2, ["must be strings", "got null"]),
    ("local_twice", "name: e\nlocal: {pids: 1}\nmetadata: {nb_agents.local: '{}'}\n", 2, ["given twice"]),
    (
        "local_json",
        "name: e\nmetadata: {nb_agents.local: 'not json'}\n",
        2,
        ["JSON object of local settings"],
    ),
]


@pytest.mark.parametrize(("case", "text", "line", "fragments"), ENV_ERRORS, ids=[c[0] for c in ENV_ERRORS])
def test_environment_errors(case: str, text: str, line: int, fragments: list[str]) -> None:
    with pytest.raises(SpecError) as info:
        EnvironmentSpec.from_yaml(text)
    for fragment in fragments:
        assert fragment in str(info.value)
    assert info.value.line == line


def test_params_errors_name_the_key_without_a_line() -> None:
    bad = {
        "name": "a",
        "model": "m",
        "tools": [{"type": "agent_toolset_20260401", "configs": [{"name": "bsh"}]}],
    }
    with pytest.raises(SpecError) as info:
        AgentSpec.from_params(bad)
    assert info.value.key == "tools[0].configs[0].name"
    assert info.value.line is None
    assert str(info.value).startswith("key 'tools[0].configs[0].name': unknown tool 'bsh' — did you mean 'bash'?")
    with pytest.raises(SpecError, match=r"key 'metadata.nb_agents.local.cpu': must be a number"):
        EnvironmentSpec.from_params({"name": "e", "metadata": {"nb_agents.local": '{"cpu": "lots"}'}})
    with pytest.raises(SpecError, match="must be a mapping with name and model, got 'name: a' "):
        AgentSpec.from_params("name: a")  # type: ignore[arg-type]


def test_local_target_needs_a_metadata_slot() -> None:
    pairs = {f"k{i}": "v" for i in range(16)}
    spec = EnvironmentSpec.from_params({"name": "e", "metadata": pairs, "local": {"pids": 5}})
    assert spec.to_params()["metadata"] == pairs
    with pytest.raises(SpecError, match="one more"):
        spec.to_params(target="local")
    with pytest.raises(SpecError, match="target must be"):
        spec.to_params(target="cloud")  # type: ignore[arg-type]


def test_memory_sizes() -> None:
    assert memory_bytes("512m") == 512 * 1024**2
    assert memory_bytes("2G") == 2 * 1024**3
    assert memory_bytes("1.5GiB") == int(1.5 * 1024**3)
    assert memory_bytes("1048576") == 1024**2
    assert memory_bytes("lots") is None
    env = EnvironmentSpec.from_params({"name": "e", "local": {"memory": 1073741824}})
    assert env.local.memory == "1073741824" and env.local.memory_bytes == 1024**3


# --------------------------------------------------------------------------------------------
# Resolved tools (the API response form) and permissions.


def _assert_no_extras(model: Any, path: str = "$") -> None:
    if isinstance(model, list):
        for i, item in enumerate(model):
            _assert_no_extras(item, f"{path}[{i}]")
    elif isinstance(model, pydantic.BaseModel) and not isinstance(model, BetaManagedAgentsCustomToolInputSchema):
        assert not model.__pydantic_extra__, f"{path}: unknown fields {model.__pydantic_extra__}"
        for name in type(model).model_fields:
            _assert_no_extras(getattr(model, name), f"{path}.{name}")


@pytest.mark.parametrize("case", AGENTS)
def test_resolved_tools_validate_against_sdk_response_types(case: str) -> None:
    spec = AgentSpec.from_yaml(textwrap.dedent(AGENTS[case][0]))
    resolved = resolve_tools(spec.to_params().get("tools"))
    assert resolved == spec.resolved_tools()
    models = pydantic.TypeAdapter(list[ResponseTool]).validate_python(resolved)
    _assert_no_extras(models)
    for model, tool in zip(models, resolved, strict=True):
        assert model.model_dump(mode="json", exclude_none=True) == tool
        if tool["type"] == "agent_toolset_20260401":
            assert [c["name"] for c in tool["configs"]] == list(AGENT_TOOL_NAMES)
            assert all({"enabled", "permission_policy"} <= c.keys() for c in tool["configs"])
    assert resolve_tools(resolved) == resolved  # the response form reads back as params


def test_resolve_defaults() -> None:
    assert resolve_tools(None) == []
    resolved = resolve_tools(AGENTS["mcp_and_custom"][1]["tools"])
    toolset, github, linear = resolved[:3]
    assert toolset["default_config"] == {"enabled": True, "permission_policy": {"type": "always_ask"}}
    assert {c["permission_policy"]["type"] for c in toolset["configs"]} == {"always_ask"}
    assert linear == {
        "type": "mcp_toolset",
        "mcp_server_name": "linear",
        "default_config": {"enabled": True, "permission_policy": {"type": "always_ask"}},
        "configs": [],
    }
    assert github["configs"][0] == {
        "name": "search_issues",
        "enabled": True,
        "permission_policy": {"type": "always_allow"},
    }
    web = resolve_tools(AGENTS["web_tools"][1]["tools"])[0]["configs"][6]
    assert web["url_sources"] == {"user_input": {"type": "all"}, "server_tool_results": {"type": "none"}}
    with pytest.raises(SpecError, match=r"key 'tools\[0\].kind': unknown tool 'kind'"):
        resolve_tools([{"kind": "bash"}])


PERMISSIONS: list[tuple[str, str, str | None, tuple[str, str | None]]] = [
    ("analyst", "bash", None, ("ask", "always_ask")),
    ("analyst", "read", None, ("allow", "always_allow")),
    ("analyst", "write", None, ("deny", None)),
    ("analyst", "web_fetch", None, ("deny", None)),
    ("analyst", "nonsense", None, ("deny", None)),
    ("all_tools", "write", None, ("ask", "auto")),
    ("all_tools", "edit", None, ("allow", "always_allow")),
    ("minimal", "bash", None, ("deny", None)),
    ("mcp_and_custom", "lookup_customer", None, ("allow", None)),
    ("mcp_and_custom", "grep", None, ("ask", "always_ask")),
    ("mcp_and_custom", "create_issue", "github", ("ask", "always_ask")),
    ("mcp_and_custom", "search_issues", "github", ("allow", "always_allow")),
    ("mcp_and_custom", "delete_repo", "github", ("deny", None)),
    ("mcp_and_custom", "anything", "linear", ("ask", "always_ask")),
    ("mcp_and_custom", "anything", "jira", ("deny", None)),
    ("mcp_and_custom", "search_issues", None, ("deny", None)),
    ("api_form", "web_search", None, ("deny", None)),
    ("api_form", "bash", None, ("ask", "auto")),
    ("api_form", "glob", None, ("ask", "always_ask")),
]


@pytest.mark.parametrize(("case", "name", "server", "expected"), PERMISSIONS)
def test_tool_permission(case: str, name: str, server: str | None, expected: tuple[str, str | None]) -> None:
    spec = AgentSpec.from_yaml(textwrap.dedent(AGENTS[case][0]))
    assert tool_permission(spec.resolved_tools(), name, mcp_server_name=server) == expected


def test_builtin_tool_names() -> None:
    assert builtin_tool_names() == ("bash", "read", "write", "edit", "glob", "grep")
    assert set(builtin_tool_names()) < set(AGENT_TOOL_NAMES)


def test_public_api_is_curated() -> None:
    public = {name for name in vars(spec_pkg) if not name.startswith("_") and name != "annotations"}
    assert spec_pkg.__all__ == sorted(spec_pkg.__all__)
    assert set(spec_pkg.__all__) == public


def _docstring_example(title: str) -> str:
    doc = spec_pkg.__doc__ or ""
    block = doc.split(f"{title}::\n\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines))


def test_docstring_examples_parse() -> None:
    agent = AgentSpec.from_yaml(_docstring_example("An agent"))
    assert agent.name == "analyst" and agent.local.max_tokens == 8192
    assert len(agent.tools) == 3 and agent.mcp_servers[0].name == "github"
    env = EnvironmentSpec.from_yaml(_docstring_example("An environment"))
    assert env.packages is not None and env.packages.pip == ("pandas==2.2.2", "matplotlib")
    assert env.local.memory_bytes == 2 * 1024**3
