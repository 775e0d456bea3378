"""The Python API behind the magics: Agent/Environment synced by name, Session followed live."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

import nb_agents as nba
from nb_agents.client import local_runtime, reset_clients
from nb_agents.errors import NbAgentsError, PrerequisiteError, SpecError


def write_replay(path: Path, *responses: object) -> str:
    path.write_text("\n".join(json.dumps(r) for r in responses) + "\n")
    return f"replay:{path}"


def bash_then_text(command: str, text: str) -> tuple[object, object]:
    use = {"content": [{"type": "tool_use", "name": "bash", "input": {"command": command}}]}
    return use, {"content": text}


def test_define_is_idempotent_and_versions_changes(runtime_home: Path) -> None:
    spec = "name: analyst\nmodel: claude-sonnet-4-6\nsystem: v1\ntools: [bash, read]\n"
    first = nba.Agent.define(spec)
    again = nba.Agent.define(spec)
    assert (again.id, again.version) == (first.id, 1)
    changed = nba.Agent.define(spec.replace("v1", "v2"))
    assert (changed.id, changed.version) == (first.id, 2)
    dropped = nba.Agent.define("name: analyst\nmodel: claude-sonnet-4-6\n")  # system and tools removed
    client = nba.client.client_for("local")
    stored = client.beta.agents.retrieve(first.id)
    assert dropped.version == 3 and stored.system is None
    assert stored.tools == []
    assert (
        repr(changed)
        == "Agent(name='analyst', model='claude-sonnet-4-6', tools=['bash', 'read'], version=2, backend='local')"
    )
    with pytest.raises(SpecError, match="did you mean 'model'"):
        nba.Agent.define("name: x\nmodle: m\n")


def test_environment_define_and_default(runtime_home: Path) -> None:
    env = nba.Environment.define("name: data\nnetworking: none\nlocal: {memory: 512m}\n")
    assert nba.Environment.define("name: data\nnetworking: none\nlocal: {memory: 512m}\n").id == env.id
    stored = nba.client.client_for("local").beta.environments.retrieve(env.id)
    assert json.loads(stored.metadata["nb_agents.local"]) == {"memory": "512m"}
    assert nba.Environment.default().id == nba.Environment.default().id
    plain = nba.Environment.define("name: data\nnetworking: unrestricted\n")  # local settings dropped
    stored = nba.client.client_for("local").beta.environments.retrieve(plain.id)
    assert plain.id == env.id and "nb_agents.local" not in stored.metadata
    assert stored.config.networking.type == "unrestricted"
    assert repr(plain) == "Environment(name='data', networking='unrestricted', backend='local')"


def test_session_runs_and_is_followed_live(runtime_home: Path, tmp_path: Path) -> None:
    model = write_replay(tmp_path / "r.jsonl", *bash_then_text("echo live", "Saw it."))
    agent = nba.Agent.define({"name": "runner", "model": model, "tools": ["bash"]})
    seen: list[str] = []
    session = nba.Session.start(agent, "go", title="t")
    session.subscribe(lambda items: seen.extend(i["type"] for i in items))
    assert session.wait(timeout=30) == {"type": "end_turn"}
    types = [e["type"] for e in session.events]
    assert types.count("agent.tool_result") == 1 and types[-1] == "session.status_idle"
    result = next(e for e in session.events if e["type"] == "agent.tool_result")
    assert result["content"][0]["text"].strip() == "live"
    assert session.status == "idle" and session.usage["output_tokens"] >= 0
    assert "session.status_idle" in seen
    assert str(session).startswith(f"Session({session.id}, backend=local, status=idle,")
    with pytest.raises(NbAgentsError, match="empty"):
        session.send("  ")
    session.close()


def test_confirm_interrupt_and_attach(runtime_home: Path, tmp_path: Path) -> None:
    model = write_replay(
        tmp_path / "r.jsonl",
        *bash_then_text("echo approved", "ok"),
        {"content": [{"type": "tool_use", "name": "bash", "input": {"command": "sleep 30"}}]},
        {"content": "stopped"},
    )
    agent = nba.Agent.define(
        {"name": "asker", "model": model, "tools": ["bash"], "permissions": {"bash": "always_ask"}}
    )
    session = nba.Session.start(agent, "echo please")
    assert session.wait(timeout=30)["type"] == "requires_action"
    (pending,) = session.pending
    assert pending["name"] == "bash" and pending["evaluated_permission"] == "ask"
    session.confirm(pending["id"])
    assert session.wait(timeout=30) == {"type": "end_turn"}
    session.send("now sleep")
    assert session.wait(timeout=30)["type"] == "requires_action"
    session.confirm(session.pending[0]["id"])
    for _ in range(200):
        if any(e["type"] == "agent.tool_result" for e in session.events[-3:]) or session.status == "running":
            break
    session.interrupt()
    assert session.wait(timeout=10) == {"type": "end_turn"}
    other = nba.attach(session.id)
    other.wait(timeout=10)
    assert [e["id"] for e in other.events] == [e["id"] for e in session.events]
    session.close()
    other.close()


def test_respond_answers_a_custom_tool(runtime_home: Path, tmp_path: Path) -> None:
    lookup = {"name": "lookup", "description": "Look a SKU up", "input_schema": {"type": "object"}}
    use = {"content": [{"type": "tool_use", "name": "lookup", "input": {"sku": "A-1"}}]}
    model = write_replay(tmp_path / "r.jsonl", use, {"content": "It costs 42."})
    agent = nba.Agent.define({"name": "shop", "model": model, "tools": [lookup]})
    session = nba.Session.start(agent, "price of A-1?")
    assert session.wait(timeout=30)["type"] == "requires_action"
    (call,) = session.pending
    assert call["type"] == "agent.custom_tool_use" and call["input"] == {"sku": "A-1"}
    session.respond(call["id"], "42 EUR")
    assert session.wait(timeout=30) == {"type": "end_turn"}
    answer = next(e for e in session.events if e["type"] == "user.custom_tool_result")
    assert answer["content"][0]["text"] == "42 EUR" and answer["is_error"] is False
    session.close()


def test_interrupt_while_idle_does_not_hang_wait(runtime_home: Path, tmp_path: Path) -> None:
    agent = nba.Agent.define({"name": "idle", "model": write_replay(tmp_path / "r.jsonl", {"content": "hi"})})
    session = nba.Session.start(agent)
    session.interrupt()
    assert session.wait(timeout=10)["type"] in ("idle", "end_turn")
    session.close()


def test_sessions_df_lists_sessions(runtime_home: Path, tmp_path: Path) -> None:
    pytest.importorskip("nb_agents.analysis")
    agent = nba.Agent.define({"name": "lister", "model": write_replay(tmp_path / "r.jsonl", {"content": "hi"})})
    ids = [nba.Session.start(agent, title=f"s{i}").id for i in range(3)]
    frame = nba.sessions_df()
    assert list(frame["id"][:3]) == ids[::-1]


def test_hosted_backend_against_a_stand_in(runtime_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PrerequisiteError, match="ANTHROPIC_API_KEY"):
        nba.Agent.define("name: a\nmodel: claude-sonnet-4-6\n", backend="hosted")
    stand_in = local_runtime(tmp_path / "hosted-home")  # the local server plays the hosted API
    try:
        monkeypatch.setenv("ANTHROPIC_API_KEY", stand_in.api_key)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", stand_in.url)
        reset_clients()
        with pytest.raises(PrerequisiteError, match="only the local backend"):
            nba.Agent.define(f"name: r\nmodel: replay:{tmp_path / 'x.jsonl'}\n", backend="hosted")
        agent = nba.Agent.define("name: shared\nmodel: claude-sonnet-4-6\n", backend="hosted")
        env = nba.Environment.define("name: shared-env\nlocal: {memory: 1g}\n", backend="hosted")
        hosted = nba.client.client_for("hosted")
        assert "nb_agents.local" not in hosted.beta.environments.retrieve(env.id).metadata
        assert agent.backend == "hosted" and hosted.beta.agents.retrieve(agent.id).name == "shared"
        # the same definitions on the local backend are separate objects
        assert nba.Agent.define("name: shared\nmodel: claude-sonnet-4-6\n").id != agent.id
    finally:
        os.kill(stand_in.pid, signal.SIGTERM)
