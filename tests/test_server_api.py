"""The wire protocol of ``nb-agents serve``: objects, versions, paging, auth and error envelopes."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest

from nb_agents.events import validate_object
from tests._server import LocalServer, local_server

T = anthropic.types.beta


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with local_server(tmp_path_factory.mktemp("state")) as server:
        yield server


@pytest.fixture()
def client(srv: LocalServer) -> anthropic.Anthropic:
    return srv.client(max_retries=0)


def test_key_is_generated_private(srv: LocalServer) -> None:
    mode = stat.S_IMODE((srv.state_dir / "api_key").stat().st_mode)
    assert mode == 0o600
    assert srv.url.startswith("http://127.0.0.1:")


def test_auth_bearer_and_x_api_key(srv: LocalServer) -> None:
    assert srv.raw("GET", "/v1/agents").status_code == 200
    bearer = srv.raw("GET", "/v1/agents", headers={"x-api-key": "", "authorization": f"Bearer {srv.key}"})
    assert bearer.status_code == 401  # an empty x-api-key is a wrong key, not "use the bearer"
    import httpx2

    ok = httpx2.get(srv.url + "/v1/agents", headers={"authorization": f"Bearer {srv.key}"})
    assert ok.status_code == 200
    bad = httpx2.get(srv.url + "/v1/agents", headers={"x-api-key": "nope"})
    assert bad.status_code == 401
    body = bad.json()
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    assert body["request_id"].startswith("req_") and bad.headers["request-id"] == body["request_id"]
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=srv.url, api_key="wrong", max_retries=0).beta.agents.list()


def test_error_envelopes(srv: LocalServer, client: anthropic.Anthropic) -> None:
    missing = srv.raw("GET", "/v1/nowhere")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    bad_json = srv.raw("POST", "/v1/agents", content=b"{not json", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["error"]["message"]
    no_model = srv.raw("POST", "/v1/agents", json={"name": "x"})
    assert no_model.status_code == 400 and "'model' is required" in no_model.json()["error"]["message"]
    typo = srv.raw("POST", "/v1/agents", json={"name": "x", "model": "m", "toolz": []})
    assert typo.status_code == 400 and "toolz" in typo.json()["error"]["message"]
    method = srv.raw("DELETE", "/v1/agents")
    assert method.status_code == 405 and method.json()["type"] == "error"
    with pytest.raises(anthropic.NotFoundError) as info:
        client.beta.sessions.retrieve("sesn_missing")
    assert "sesn_missing" in str(info.value)
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.events.list("sesn_missing", limit=5000)  # type: ignore[arg-type]
    bad_event = srv.raw("POST", "/v1/sessions/sesn_x/events", json={"events": "nope"})
    assert bad_event.status_code == 400


def test_agent_versions(client: anthropic.Anthropic) -> None:
    agent = client.beta.agents.create(name="writer", model="claude-sonnet-4-6", system="v1")
    validate_object(T.BetaManagedAgentsAgent, agent.model_dump(mode="json", exclude_unset=True))
    assert agent.version == 1 and agent.model.id == "claude-sonnet-4-6"
    same = client.beta.agents.update(agent.id, system="v1", version=1)
    assert same.version == 1  # nothing changed, no new version
    v2 = client.beta.agents.update(agent.id, system="v2", version=1)
    assert v2.version == 2 and v2.system == "v2"
    assert client.beta.agents.retrieve(agent.id, version=1).system == "v1"
    assert client.beta.agents.retrieve(agent.id).version == 2
    with pytest.raises(anthropic.ConflictError) as info:
        client.beta.agents.update(agent.id, system="v3", version=1)
    assert info.value.response.headers["x-should-retry"] == "false"
    assert "version 2" in str(info.value)
    versions = list(client.beta.agents.versions.list(agent.id))
    assert [v.version for v in versions] == [2, 1]
    archived = client.beta.agents.archive(agent.id)
    assert archived.archived_at is not None
    env = client.beta.environments.create(name="for-archived")
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.create(agent=agent.id, environment_id=env.id)


def test_session_pins_agent_version(client: anthropic.Anthropic) -> None:
    agent = client.beta.agents.create(name="pinned", model="claude-sonnet-4-6", system="old")
    env = client.beta.environments.create(name="pin-env")
    client.beta.agents.update(agent.id, system="new", version=1)
    old = client.beta.sessions.create(agent={"type": "agent", "id": agent.id, "version": 1}, environment_id=env.id)
    latest = client.beta.sessions.create(agent=agent.id, environment_id=env.id)
    assert (old.agent.version, old.agent.system) == (1, "old")
    assert (latest.agent.version, latest.agent.system) == (2, "new")
    listed = list(client.beta.sessions.list(agent_id=agent.id, agent_version=1))
    assert [s.id for s in listed] == [old.id]


def test_environments(client: anthropic.Anthropic) -> None:
    env = client.beta.environments.create(
        name="data",
        config={"type": "cloud", "networking": {"type": "unrestricted"}, "packages": {"pip": ["pandas"]}},
    )
    validate_object(T.BetaEnvironment, env.model_dump(mode="json", exclude_unset=True))
    assert env.config.packages.pip == ["pandas"] and env.config.packages.apt == []
    with pytest.raises(anthropic.ConflictError):
        client.beta.environments.create(name="data")
    updated = client.beta.environments.update(env.id, description="analysis box")
    assert updated.description == "analysis box" and updated.config.networking.type == "unrestricted"
    assert client.beta.environments.archive(env.id).archived_at is not None
    ids = [e.id for e in client.beta.environments.list()]
    assert env.id not in ids
    assert env.id in [e.id for e in client.beta.environments.list(include_archived=True)]
    deleted = client.beta.environments.delete(env.id)
    assert deleted.type == "environment_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.beta.environments.retrieve(env.id)


def test_list_paging(client: anthropic.Anthropic) -> None:
    made = [client.beta.agents.create(name=f"pager-{i}", model="claude-haiku-4-5").id for i in range(25)]
    first = client.beta.agents.list(limit=10)
    assert len(first.data) == 10 and first.next_page
    every = [a.id for a in client.beta.agents.list(limit=10)]  # auto-paging through all pages
    assert every[-25:] == made and len(every) == len(set(every))
    env = client.beta.environments.create(name="paging-env")
    sessions = [client.beta.sessions.create(agent=made[0], environment_id=env.id).id for _ in range(7)]
    desc = [s.id for s in client.beta.sessions.list(agent_id=made[0], limit=3)]
    assert desc == sessions[::-1]
    asc = [s.id for s in client.beta.sessions.list(agent_id=made[0], limit=3, order="asc")]
    assert asc == sessions
    page = client.beta.sessions.list(agent_id=made[0], limit=3)
    assert page.prev_page is None or isinstance(page.prev_page, str)
    second = client.beta.sessions.list(agent_id=made[0], limit=3, page=page.next_page)
    back = client.beta.sessions.list(agent_id=made[0], limit=3, page=second.prev_page)
    assert [s.id for s in back.data] == [s.id for s in page.data]
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.list(agent_id=made[0], limit=3, page=page.next_page, order="asc")


def test_session_lifecycle(srv: LocalServer, client: anthropic.Anthropic) -> None:
    agent = client.beta.agents.create(name="life", model="claude-haiku-4-5")
    env = client.beta.environments.create(name="life-env")
    session = client.beta.sessions.create(agent=agent.id, environment_id=env.id, title="t1", metadata={"k": "v"})
    validate_object(T.BetaManagedAgentsSession, srv.raw("GET", f"/v1/sessions/{session.id}").json())
    updated = client.beta.sessions.update(session.id, title="t2", metadata={"k": None, "x": "y"})
    assert updated.title == "t2" and updated.metadata == {"x": "y"}
    listed = client.beta.sessions.events.list(session.id)
    assert [e.type for e in listed] == ["session.updated"]
    assert client.beta.sessions.archive(session.id).archived_at is not None
    with pytest.raises(anthropic.ConflictError):
        client.beta.sessions.events.send(
            session.id, events=[{"type": "user.message", "content": [{"type": "text", "text": "hi"}]}]
        )
    other = client.beta.sessions.create(agent=agent.id, environment_id=env.id)
    assert client.beta.sessions.delete(other.id).type == "session_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.retrieve(other.id)


def test_bad_client_events(client: anthropic.Anthropic) -> None:
    agent = client.beta.agents.create(name="strict", model="claude-haiku-4-5")
    env = client.beta.environments.create(name="strict-env")
    sid = client.beta.sessions.create(agent=agent.id, environment_id=env.id).id
    cases = [
        ({"type": "agent.message", "content": []}, "cannot be sent"),
        ({"type": "user.message"}, "content"),
        ({"type": "user.message", "content": [{"type": "text", "text": "x"}], "extra": 1}, "extra"),
        ({"type": "user.tool_confirmation", "tool_use_id": "sevt_nope", "result": "allow"}, "not the id"),
        ({"type": "user.tool_result", "tool_use_id": "sevt_x"}, "self_hosted"),
    ]
    for event, words in cases:
        with pytest.raises(anthropic.BadRequestError) as info:
            client.beta.sessions.events.send(sid, events=[event])  # type: ignore[list-item]
        assert words in str(info.value), (event, str(info.value))
    assert list(client.beta.sessions.events.list(sid)) == []


def test_serve_refuses_a_sandbox_it_cannot_run(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "NB_AGENTS_SANDBOX": "docker", "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    done = subprocess.run(
        [sys.executable, "-m", "nb_agents", "serve", "--state-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Docker sandboxes cannot run here" in done.stderr and "Traceback" not in done.stderr


def test_idle_streams_get_keep_alives(tmp_path: Path) -> None:
    import httpx2

    with local_server(tmp_path, extra_env={"NB_AGENTS_SSE_KEEPALIVE": "0.2"}) as server:
        client = server.client()
        agent = client.beta.agents.create(name="quiet", model="claude-haiku-4-5")
        env = client.beta.environments.create(name="quiet-env")
        sid = client.beta.sessions.create(agent=agent.id, environment_id=env.id).id
        url = f"{server.url}/v1/sessions/{sid}/events/stream"
        with httpx2.stream("GET", url, headers={"x-api-key": server.key}, timeout=5) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines: list[str] = []
            for line in response.iter_lines():
                lines.append(line)
                if lines.count(": keep-alive") >= 2:
                    break
        assert lines[0] == ": stream open"
