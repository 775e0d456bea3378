"""Agent definitions: :class:`AgentSpec`."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from nb_agents.spec._common import (
    LOCAL_METADATA_KEY,
    merge_local,
    opt_text,
    parse_metadata,
    parse_name,
    reject_unsupported,
    target_metadata,
)
from nb_agents.spec._errors_help import (
    Path,
    Source,
    check_keys,
    choice,
    describe,
    expect_int,
    expect_list,
    expect_mapping,
    expect_str,
    render_path,
    require,
    suggest,
)
from nb_agents.spec._parse_tools import parse_tools
from nb_agents.spec._resolve import resolve_tools
from nb_agents.spec._tools import McpToolset, Tool, tools_to_yaml
from nb_agents.spec._yaml import dump_yaml, load_yaml

_KEYS = ("name", "description", "model", "system", "tools", "permissions", "mcp_servers", "metadata", "local")
_UNSUPPORTED = {"skills": None, "multiagent": None, "execution_identity": {"type": "service_account"}}
_EFFORTS = ("low", "medium", "high", "xhigh", "max")
_MODEL_HELP = "a model id such as 'claude-sonnet-4-6', or a mapping {id, effort?, speed?, inference_geo?}"


@dataclass(frozen=True)
class McpServer:
    """A remote MCP server the agent connects to (``{type: url, name, url}``)."""

    name: str
    url: str

    def to_params(self) -> dict[str, Any]:
        """The API form of the server."""
        return {"type": "url", "name": self.name, "url": self.url}


@dataclass(frozen=True)
class AgentLocalSettings:
    """Agent settings only the local runtime reads (the hosted API never sees them).

    Attributes:
        max_tokens: ``max_tokens`` of each Messages API request the local brain makes;
            ``None`` leaves it to the runtime.
    """

    max_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The settings that are set, as plain data."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class AgentSpec:
    """An agent definition: what ``client.beta.agents.create(...)`` takes, plus local settings.

    Build one with :meth:`from_yaml` or :meth:`from_params`, which check everything; the
    constructor itself does not validate. Treat the dict fields as read-only.

    Attributes:
        name: Human-readable name (required).
        model: A model id, or a ModelConfig mapping ``{id, effort?, speed?, inference_geo?}``,
            as given.
        system: System prompt.
        description: What the agent does.
        tools: The built-in toolset, MCP toolsets and custom tools, in order.
        mcp_servers: MCP servers; each is used by exactly one MCP toolset.
        metadata: Up to 16 string pairs.
        local: Settings only the local runtime reads.
    """

    name: str
    model: str | dict[str, Any]
    system: str | None = None
    description: str | None = None
    tools: tuple[Tool, ...] = ()
    mcp_servers: tuple[McpServer, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    local: AgentLocalSettings = field(default_factory=AgentLocalSettings)

    @classmethod
    def from_yaml(cls, text: str) -> AgentSpec:
        """Parse a YAML agent definition (short forms and the API form are both accepted).

        Raises:
            SpecError: The YAML is invalid or the definition is wrong; the message names the line.
        """
        data, src = load_yaml(text)
        return _parse(data, src)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> AgentSpec:
        """Build from agent create params (or the same mapping the YAML holds).

        ``metadata["nb_agents.local"]`` (written by ``to_params(target="local")``) is read back
        into :attr:`local` and removed from :attr:`metadata`.

        Raises:
            SpecError: The params are wrong; the message names the key.
        """
        return _parse(params, Source())

    def to_params(self, *, target: Literal["hosted", "local"] = "hosted") -> dict[str, Any]:
        """The agent create params, with no null values and no keys that were not set.

        Args:
            target: ``"hosted"`` for Anthropic's API; ``"local"`` also stores :attr:`local` as
                compact JSON in ``metadata["nb_agents.local"]``.

        Raises:
            SpecError: ``target="local"`` but metadata has no room for the local settings.
        """
        out: dict[str, Any] = {"name": self.name, "model": copy.deepcopy(self.model)}
        if self.description is not None:
            out["description"] = self.description
        if self.system is not None:
            out["system"] = self.system
        if self.tools:
            out["tools"] = [tool.to_params() for tool in self.tools]
        if self.mcp_servers:
            out["mcp_servers"] = [server.to_params() for server in self.mcp_servers]
        metadata = target_metadata(self.metadata, self.local.to_dict(), target)
        if metadata:
            out["metadata"] = metadata
        return out

    def to_yaml(self) -> str:
        """YAML that :meth:`from_yaml` reads back to an equal spec (short forms where exact)."""
        data: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            data["description"] = self.description
        data["model"] = copy.deepcopy(self.model)
        if self.system is not None:
            data["system"] = self.system
        if self.tools:
            data["tools"], permissions = tools_to_yaml(self.tools)
            if permissions:
                data["permissions"] = permissions
        if self.mcp_servers:
            data["mcp_servers"] = {server.name: server.url for server in self.mcp_servers}
        if self.metadata:
            data["metadata"] = dict(self.metadata)
        if self.local.to_dict():
            data["local"] = self.local.to_dict()
        return dump_yaml(data)

    @property
    def model_id(self) -> str:
        """The model id, whether :attr:`model` is a string or a ModelConfig mapping."""
        return self.model if isinstance(self.model, str) else str(self.model["id"])

    def resolved_tools(self) -> list[dict[str, Any]]:
        """The tools in the API response form (see :func:`nb_agents.spec.resolve_tools`)."""
        return resolve_tools(self.to_params().get("tools"))


def _parse(data: Any, src: Source) -> AgentSpec:
    if not isinstance(data, Mapping):
        raise src.error((), f"an agent definition must be a mapping with name and model, got {describe(data)}")
    reject_unsupported(src, data, _UNSUPPORTED)
    check_keys(src, (), {k: v for k, v in data.items() if k not in _UNSUPPORTED}, _KEYS)
    name = parse_name(src, data)
    if data.get("model") is None:
        raise src.error(("model",), f"missing required key 'model' ({_MODEL_HELP})")
    model = _model(src, ("model",), data["model"])
    metadata, from_metadata = parse_metadata(src, ("metadata",), data.get("metadata"))
    local_path: Path = ("local",) if data.get("local") is not None else ("metadata", LOCAL_METADATA_KEY)
    local = _local(src, local_path, merge_local(src, ("local",), data.get("local"), from_metadata))
    tools = parse_tools(src, data.get("tools"), data.get("permissions"))
    servers = _mcp_servers(src, ("mcp_servers",), data.get("mcp_servers"))
    _check_mcp(src, tools, servers)
    return AgentSpec(
        name=name,
        model=model,
        system=opt_text(src, ("system",), data.get("system"), 100_000),
        description=opt_text(src, ("description",), data.get("description"), 100_000),
        tools=tuple(tool for tool, _ in tools),
        mcp_servers=tuple(server for server, _ in servers),
        metadata=metadata,
        local=local,
    )


def _model(src: Source, path: Path, value: Any) -> str | dict[str, Any]:
    if isinstance(value, str):
        return expect_str(src, path, value)
    mapping = expect_mapping(src, path, value, _MODEL_HELP)
    check_keys(src, path, mapping, ("id", "effort", "speed", "inference_geo"))
    out: dict[str, Any] = {"id": expect_str(src, (*path, "id"), require(src, path, mapping, "id"))}
    effort = mapping.get("effort")
    if isinstance(effort, Mapping):
        at = (*path, "effort")
        check_keys(src, at, effort, ("type",))
        out["effort"] = {"type": choice(src, (*at, "type"), require(src, at, effort, "type"), _EFFORTS, "effort")}
    elif effort is not None:
        out["effort"] = choice(src, (*path, "effort"), effort, _EFFORTS, "effort")
    if mapping.get("speed") is not None:
        out["speed"] = choice(src, (*path, "speed"), mapping["speed"], ("standard", "fast"), "speed")
    if mapping.get("inference_geo") is not None:
        out["inference_geo"] = expect_str(src, (*path, "inference_geo"), mapping["inference_geo"])
    return out


def _local(src: Source, path: Path, value: Any) -> AgentLocalSettings:
    if value is None:
        return AgentLocalSettings()
    mapping = expect_mapping(src, path, value, "a mapping of local runtime settings")
    check_keys(src, path, mapping, ("max_tokens",))
    max_tokens = mapping.get("max_tokens")
    if max_tokens is not None:
        max_tokens = expect_int(src, (*path, "max_tokens"), max_tokens)
    return AgentLocalSettings(max_tokens=max_tokens)


def _mcp_servers(src: Source, path: Path, value: Any) -> list[tuple[McpServer, Path]]:
    if value is None:
        return []
    entries: list[tuple[Path, Any, Any]] = []
    if isinstance(value, Mapping):
        entries = [((*path, str(name)), name, url) for name, url in value.items()]
    else:
        what = "a mapping of server name to URL, or a list of {name, url}"
        for i, item in enumerate(expect_list(src, path, value, what)):
            at = (*path, i)
            mapping = expect_mapping(src, at, item, "a mapping {name, url}")
            check_keys(src, at, mapping, ("type", "name", "url"))
            if mapping.get("type") is not None:
                choice(src, (*at, "type"), mapping["type"], ("url",), "MCP server type")
            entries.append((at, require(src, at, mapping, "name"), require(src, at, mapping, "url")))
    servers: list[tuple[McpServer, Path]] = []
    for at, name, url in entries:
        name = expect_str(src, at, name, max_len=255)
        url = expect_str(src, at, url)
        if not url.startswith(("http://", "https://")):
            raise src.error(at, f"the URL of MCP server '{name}' must start with https:// or http://")
        if any(server.name == name for server, _ in servers):
            raise src.error(at, f"MCP server '{name}' is defined twice")
        servers.append((McpServer(name, url), at))
    if len(servers) > 20:
        raise src.error(path, f"at most 20 MCP servers are allowed, got {len(servers)}")
    return servers


def _check_mcp(src: Source, tools: list[tuple[Tool, Path]], servers: list[tuple[McpServer, Path]]) -> None:
    """Every MCP toolset names a defined server, and every server is used by exactly one toolset."""
    names = [server.name for server, _ in servers]
    used: dict[str, Path] = {}
    for tool, at in tools:
        if not isinstance(tool, McpToolset):
            continue
        name = tool.mcp_server_name
        if name not in names:
            hint = suggest(name, names) or "."
            defined = ", ".join(names) or "(none)"
            raise src.error(at, f"unknown MCP server '{name}'{hint} Servers in mcp_servers: {defined}")
        if name in used:
            raise src.error(at, f"MCP server '{name}' has two toolsets (also at {render_path(used[name])})")
        used[name] = at
    for server, at in servers:
        if server.name not in used:
            msg = f"MCP server '{server.name}' is not used by any tool; add '- mcp: {server.name}' to tools"
            raise src.error(at, msg)
