"""The local runtime refuses what it cannot do, by name, and never accepts and ignores.

Every method of the SDK 2.17 ``client.beta`` surface (beyond organization, messages, models
and compliance) is called against a real ``nb-agents serve``: each either works or answers a
400 ``not_supported_locally`` that names its feature; never a 404, a 500 or a hang.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pytest
from anthropic._resource import SyncAPIResource

from nb_agents.events import validate_object
from tests._server import LocalServer, local_server

T = anthropic.types.beta
NOT_LOCAL = "not_supported_locally"
_SKIPPED = {"organization", "organizations", "messages", "models", "compliance", "webhooks"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    # A closed loopback port as the model endpoint: no call here may reach a real model.
    with local_server(tmp_path_factory.mktemp("state"), "http://127.0.0.1:9") as server:
        yield server


@pytest.fixture()
def client(srv: LocalServer) -> anthropic.Anthropic:
    return srv.client(max_retries=0, timeout=10.0)


def _sdk_methods(client: anthropic.Anthropic) -> list[tuple[str, Callable[..., Any], inspect.Signature]]:
    """Every public sync method under ``client.beta``, as (dotted name, bound method, signature)."""
    out: list[tuple[str, Callable[..., Any], inspect.Signature]] = []

    def walk(resource: SyncAPIResource, path: str) -> None:
        for name in sorted(dir(type(resource))):
            if name.startswith(("_", "with_")):
                continue
            attr = inspect.getattr_static(type(resource), name)
            if isinstance(attr, functools.cached_property):
                if path == "beta" and name in _SKIPPED:
                    continue
                child = getattr(resource, name)
                if isinstance(child, SyncAPIResource):
                    walk(child, f"{path}.{name}")
            elif inspect.isfunction(attr):
                out.append((f"{path}.{name}", getattr(resource, name), inspect.signature(attr)))

    walk(client.beta, "beta")
    return out


def _not_local(exc: anthropic.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") or {}
    assert exc.status_code == 400, f"{exc.status_code}: {exc}"
    assert error.get("type") == "invalid_request_error"
    assert (error.get("details") or {}).get("error_code") == NOT_LOCAL, error
    assert "is not available in the local runtime" in error["message"]
    return str(error["message"])


def _plausible(name: str, ids: dict[str, str]) -> Any:
    """A plausible value for a required parameter the SDK will send."""
    if name in ids:
        return ids[name]
    if name == "file":
        return ("notes.txt", b"hello")
    if name == "files":
        return [("skill/SKILL.md", b"# skill")]
    if name in ("events", "initial_events", "inputs"):
        return []
    if name in ("metadata", "auth"):
        return {}
    return f"{name}_1"


class _Served:
    """The calls the local runtime serves, each with real objects made fresh for it."""

    def __init__(self, client: anthropic.Anthropic) -> None:
        self.c = client
        self.made = 0
        self.env_id = client.beta.environments.create(name="walk-env").id
        self.agent_id = self._agent()

    def _agent(self) -> str:
        return self.c.beta.agents.create(name="walker", model="claude-sonnet-4-6").id

    def _session(self) -> str:
        return self.c.beta.sessions.create(agent=self.agent_id, environment_id=self.env_id).id

    def _env(self) -> str:
        self.made += 1
        return self.c.beta.environments.create(name=f"walk-{self.made}").id

    def calls(self) -> dict[str, Callable[[], Any]]:
        b = self.c.beta
        return {
            "beta.agents.create": lambda: b.agents.create(name="a", model="claude-sonnet-4-6"),
            "beta.agents.list": lambda: b.agents.list(),
            "beta.agents.retrieve": lambda: b.agents.retrieve(self.agent_id, version=1),
            "beta.agents.update": lambda: b.agents.update(self._agent(), version=1, description="d"),
            "beta.agents.archive": lambda: b.agents.archive(self._agent()),
            "beta.agents.versions.list": lambda: b.agents.versions.list(self.agent_id),
            "beta.environments.create": lambda: self._env(),
            "beta.environments.list": lambda: b.environments.list(),
            "beta.environments.retrieve": lambda: b.environments.retrieve(self.env_id),
            "beta.environments.update": lambda: b.environments.update(self.env_id, description="d"),
            "beta.environments.archive": lambda: b.environments.archive(self._env()),
            "beta.environments.delete": lambda: b.environments.delete(self._env()),
            "beta.sessions.create": lambda: self._session(),
            "beta.sessions.list": lambda: b.sessions.list(agent_id=self.agent_id),
            "beta.sessions.retrieve": lambda: b.sessions.retrieve(self._session()),
            "beta.sessions.update": lambda: b.sessions.update(self._session(), title="t", vault_ids=[]),
            "beta.sessions.archive": lambda: b.sessions.archive(self._session()),
            "beta.sessions.delete": lambda: b.sessions.delete(self._session()),
            "beta.sessions.events.list": lambda: b.sessions.events.list(self._session()),
            "beta.sessions.events.send": lambda: b.sessions.events.send(
                self._session(), events=[{"type": "user.interrupt"}]
            ),
            "beta.sessions.events.stream": lambda: b.sessions.events.stream(self._session()).close(),
        }


def test_sdk_surface_walk(client: anthropic.Anthropic) -> None:
    served = _Served(client)
    calls = served.calls()
    ids = {"session_id": served._session(), "environment_id": served.env_id, "agent_id": served.agent_id}
    methods = _sdk_methods(client)
    assert len(methods) >= 114, [m for m, _, _ in methods]
    names = {name for name, _, _ in methods}
    assert set(calls) <= names, sorted(set(calls) - names)
    refused: dict[str, str] = {}
    for name, method, sig in methods:
        if name in calls:
            calls[name]()  # raises (and fails the test) unless the call succeeds
            continue
        kwargs = {
            p.name: _plausible(p.name, ids)
            for p in sig.parameters.values()
            if p.name != "self" and p.default is inspect.Parameter.empty and p.kind is p.KEYWORD_ONLY
        }
        args = [
            _plausible(p.name, ids)
            for p in sig.parameters.values()
            if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD and p.default is inspect.Parameter.empty
        ]
        with pytest.raises(anthropic.APIStatusError) as info:
            result = method(*args, **kwargs)
            if hasattr(result, "close"):
                result.close()
        message = _not_local(info.value)
        group = name.split(".")[1]
        if group in ("environments", "sessions"):
            group = ".".join(name.split(".")[1:3])
        assert group in message, f"{name}: {message}"
        refused[name] = message
    assert len(refused) + len(calls) == len(methods)
    assert len(calls) == 21 and len(refused) >= 93


def test_unknown_paths_stay_404(srv: LocalServer) -> None:
    for path in ("/v1/nowhere", "/v1/files/file_1/content/extra", "/v1/vaultz", "/v2/agents"):
        resp = srv.raw("GET", path)
        assert resp.status_code == 404 and resp.json()["error"]["type"] == "not_found_error", path
    unsupported = srv.raw("POST", "/v1/vaults", json={"display_name": "v"})
    assert unsupported.status_code == 400 and "vaults" in unsupported.json()["error"]["message"]
    no_key = srv.raw("GET", "/v1/vaults", headers={"x-api-key": "wrong"})
    assert no_key.status_code == 401  # the key is checked before anything is said about features


def _refusal(call: Callable[[], Any]) -> str:
    with pytest.raises(anthropic.BadRequestError) as info:
        call()
    return _not_local(info.value)


def test_session_params_refused_by_name(client: anthropic.Anthropic) -> None:
    env = client.beta.environments.create(name="refusals")
    agent = client.beta.agents.create(name="a", model="claude-sonnet-4-6")
    before = len(client.beta.sessions.list(agent_id=agent.id).data)
    msg = _refusal(lambda: client.beta.sessions.create(agent=agent.id, environment_id=env.id, vault_ids=["vlt_x"]))
    assert "vault_ids" in msg
    msg = _refusal(
        lambda: client.beta.sessions.create(
            agent=agent.id, environment_id=env.id, resources=[{"type": "file", "file_id": "file_1"}]
        )
    )
    assert "session resources" in msg
    outcome = {"type": "user.define_outcome", "description": "d", "rubric": {"type": "text", "content": "r"}}
    msg = _refusal(
        lambda: client.beta.sessions.create(agent=agent.id, environment_id=env.id, initial_events=[outcome])  # type: ignore[list-item]
    )
    assert "user.define_outcome" in msg
    assert len(client.beta.sessions.list(agent_id=agent.id).data) == before  # nothing was stored
    session = client.beta.sessions.create(agent=agent.id, environment_id=env.id, vault_ids=[])
    assert session.vault_ids == []
    assert "vault_ids" in _refusal(lambda: client.beta.sessions.update(session.id, vault_ids=["vlt_x"]))
    assert "deployment_id" in _refusal(lambda: client.beta.sessions.list(deployment_id="depl_1"))
    assert "memory_store_id" in _refusal(lambda: client.beta.sessions.list(memory_store_id="memstore_1"))
    with pytest.raises(anthropic.BadRequestError, match="unknown field"):
        client.beta.sessions.create(agent=agent.id, environment_id=env.id, extra_body={"colour": "red"})
    system = {"type": "system.message", "content": [{"type": "text", "text": "hi"}]}
    assert "system.message" in _refusal(lambda: client.beta.sessions.events.send(session.id, events=[system]))  # type: ignore[list-item]
    tool_result = {"type": "user.tool_result", "tool_use_id": "sevt_1", "content": []}
    assert "user.tool_result" in _refusal(lambda: client.beta.sessions.events.send(session.id, events=[tool_result]))  # type: ignore[list-item]
    assert "self-hosted" in _refusal(
        lambda: client.beta.environments.create(name="sh", config={"type": "self_hosted"})  # type: ignore[typeddict-item]
    )


def test_agent_params_refused_by_name(client: anthropic.Anthropic) -> None:
    mcp = [{"type": "url", "name": "github", "url": "https://mcp.example.com/github"}]
    toolset = {"type": "mcp_toolset", "mcp_server_name": "github"}
    msg = _refusal(
        lambda: client.beta.agents.create(name="m", model="claude-sonnet-4-6", mcp_servers=mcp, tools=[toolset])  # type: ignore[list-item]
    )
    assert "mcp_servers" in msg
    msg = _refusal(
        lambda: client.beta.agents.create(
            name="m", model="claude-sonnet-4-6", tools=[{"type": "mcp_toolset", "mcp_server_name": "github"}]
        )
    )
    assert "mcp_toolset" in msg
    web = {"type": "agent_toolset_20260401", "configs": [{"name": "web_fetch", "enabled": True}]}
    assert "web_fetch" in _refusal(lambda: client.beta.agents.create(name="w", model="m", tools=[web]))  # type: ignore[list-item]
    auto = {"type": "agent_toolset_20260401", "default_config": {"permission_policy": {"type": "auto"}}}
    assert "'auto' permission policy" in _refusal(lambda: client.beta.agents.create(name="w", model="m", tools=[auto]))  # type: ignore[list-item]
    one_auto = {"type": "agent_toolset_20260401", "configs": [{"name": "bash", "permission_policy": {"type": "auto"}}]}
    agent = client.beta.agents.create(name="ok", model="claude-sonnet-4-6", tools=[{"type": "agent_toolset_20260401"}])
    assert "auto" in _refusal(lambda: client.beta.agents.update(agent.id, version=1, tools=[one_auto]))  # type: ignore[list-item]
    assert client.beta.agents.retrieve(agent.id).version == 1  # the refused update stored nothing
    assert "skills" in _refusal(
        lambda: client.beta.agents.create(name="s", model="m", skills=[{"type": "anthropic", "skill_id": "xlsx"}])
    )


def test_web_tools_resolve_disabled(srv: LocalServer, client: anthropic.Anthropic) -> None:
    agent = client.beta.agents.create(name="web", model="claude-sonnet-4-6", tools=[{"type": "agent_toolset_20260401"}])
    [toolset] = srv.raw("GET", f"/v1/agents/{agent.id}").json()["tools"]
    enabled = {c["name"]: c["enabled"] for c in toolset["configs"]}
    assert enabled == {
        "bash": True, "read": True, "write": True, "edit": True, "glob": True, "grep": True,
        "web_fetch": False, "web_search": False,
    }  # fmt: skip
    validate_object(T.BetaManagedAgentsAgent, srv.raw("GET", f"/v1/agents/{agent.id}").json())
    off = {"type": "agent_toolset_20260401", "configs": [{"name": "web_search", "enabled": False}]}
    assert client.beta.agents.create(name="off", model="m", tools=[off]).version == 1  # type: ignore[list-item]


def test_agent_with_overrides(srv: LocalServer, client: anthropic.Anthropic) -> None:
    env = client.beta.environments.create(name="overrides")
    agent = client.beta.agents.create(
        name="base", model="claude-sonnet-4-6", system="be brief", tools=[{"type": "agent_toolset_20260401"}]
    )
    ask = {"type": "agent_toolset_20260401", "default_config": {"permission_policy": {"type": "always_ask"}}}
    overrides = {"system": None, "model": "claude-haiku-4-5", "tools": [ask]}
    session = client.beta.sessions.create(
        agent={"type": "agent_with_overrides", "id": agent.id, **overrides},  # type: ignore[typeddict-item]
        environment_id=env.id,
    )
    raw = srv.raw("GET", f"/v1/sessions/{session.id}").json()
    validate_object(T.BetaManagedAgentsSession, raw)
    assert raw["agent"]["id"] == agent.id and raw["agent"]["version"] == 1
    assert raw["agent"]["system"] is None and raw["agent"]["model"]["id"] == "claude-haiku-4-5"
    assert raw["agent"]["tools"][0]["default_config"]["permission_policy"] == {"type": "always_ask"}
    assert raw["agent"]["tools"][0]["configs"][6] == {
        "type": "web_fetch", "name": "web_fetch", "enabled": False, "permission_policy": {"type": "always_ask"}
    }  # fmt: skip
    unchanged = client.beta.agents.retrieve(agent.id)
    assert unchanged.version == 1 and unchanged.system == "be brief" and unchanged.model.id == "claude-sonnet-4-6"
    kept = client.beta.sessions.create(agent={"type": "agent_with_overrides", "id": agent.id}, environment_id=env.id)  # type: ignore[typeddict-item]
    assert kept.agent.system == "be brief"
    with pytest.raises(anthropic.BadRequestError, match="unknown field"):
        client.beta.sessions.create(
            agent={"type": "agent_with_overrides", "id": agent.id, "name": "x"},  # type: ignore[typeddict-unknown-key]
            environment_id=env.id,
        )
    auto = {"type": "agent_toolset_20260401", "default_config": {"permission_policy": {"type": "auto"}}}
    assert "auto" in _refusal(
        lambda: client.beta.sessions.create(
            agent={"type": "agent_with_overrides", "id": agent.id, "tools": [auto]},  # type: ignore[typeddict-item]
            environment_id=env.id,
        )
    )
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.create(agent={"type": "agent_with_overrides", "id": "agent_nope"}, environment_id=env.id)  # type: ignore[typeddict-item]
