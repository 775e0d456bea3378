"""The runtime with real hands: a Docker container per session, or the process-sandbox fallback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from nb_agents.events import parse_time
from nb_agents.testing import FakeModelServer, text_response, tool_use_response
from tests._server import assert_conforms, local_server, run_until_idle, setup_agent, user_message

DOCKER = {"NB_AGENTS_SANDBOX": "docker", "NB_AGENTS_API_KEY": "nba-secret-runtime-key"}


def _containers(client: Any, session_id: str) -> list[Any]:
    import docker.errors

    for _ in range(10):
        try:
            return client.containers.list(all=True, filters={"label": f"nb_agents.session={session_id}"})
        except docker.errors.NotFound:  # removed between the listing and its inspection
            time.sleep(0.1)
    raise AssertionError("the container list kept changing")


def _volumes(client: Any, session_id: str) -> list[Any]:
    return client.volumes.list(filters={"label": f"nb_agents.session={session_id}"})


@pytest.mark.docker
def test_session_runs_in_its_container(tmp_path: Path, docker_client: Any, base_image: str) -> None:
    probe = "echo one > /workspace/kept.txt; head -1 /etc/os-release; pwd; env | sort"
    script = [
        {**tool_use_response([("bash", {"command": probe})]), "delay_ms": 1500},
        text_response("inside"),
        tool_use_response([("bash", {"command": "cat /workspace/kept.txt"})]),
        text_response("still there"),
    ]
    with FakeModelServer(script) as model, local_server(tmp_path, model.base_url, extra_env=DOCKER) as srv:
        client = srv.client()
        agent_id, env_id = setup_agent(client)
        sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
        assert _containers(docker_client, sid) == []  # lazy: a session alone starts nothing
        try:
            seen = run_until_idle(client, sid, [user_message("where am I?")])
            output = next(e for e in seen if e.type == "agent.tool_result").content[0].text
            assert "Debian GNU/Linux 12" in output and "/workspace" in output
            for secret in ("sk-test-model-key", "nba-secret-runtime-key", srv.key, "ANTHROPIC", "NB_AGENTS"):
                assert secret not in output
            # the container was started beside the first model request (1.5 s), not after it
            (container,) = _containers(docker_client, sid)
            created = parse_time(container.attrs["Created"][:26] + "Z")
            span_end = next(e for e in seen if e.type == "span.model_request_end").processed_at
            assert created < span_end
            docker_client.containers.get(container.id).kill()
            seen = run_until_idle(client, sid, [user_message("again")])
            notices = [e.error.message for e in seen if e.type == "session.error"]
            assert any(m.startswith("sandbox replaced") for m in notices), notices
            result = next(e for e in seen if e.type == "agent.tool_result")
            assert result.content[0].text.strip() == "one" and not result.is_error
            assert_conforms(srv, sid)
            client.beta.sessions.archive(sid)
            deadline = time.monotonic() + 20
            while _containers(docker_client, sid) or _volumes(docker_client, sid):
                assert time.monotonic() < deadline, "archiving did not remove the container and volume"
                time.sleep(0.2)
        finally:
            for c in _containers(docker_client, sid):
                c.remove(force=True)
            for v in _volumes(docker_client, sid):
                v.remove(force=True)


@pytest.mark.docker
def test_limited_networking_with_hosts_is_refused(tmp_path: Path, docker_client: Any, base_image: str) -> None:
    import anthropic

    with local_server(tmp_path, extra_env=DOCKER) as srv:
        client = srv.client(max_retries=0)
        agent = client.beta.agents.create(name="net", model="claude-haiku-4-5")
        env = client.beta.environments.create(
            name="egress", config={"type": "cloud", "networking": {"type": "limited", "allowed_hosts": ["pypi.org"]}}
        )
        with pytest.raises(anthropic.BadRequestError, match="egress proxy"):
            client.beta.sessions.create(agent=agent.id, environment_id=env.id)


def test_process_fallback_warns_the_session(tmp_path: Path) -> None:
    fallback = {"NB_AGENTS_SANDBOX": "auto", "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    script = [
        tool_use_response([("bash", {"command": "echo hi"})]),
        text_response("ok"),
        tool_use_response([("bash", {"command": "echo again"})]),
        text_response("ok"),
    ]
    with FakeModelServer(script) as model, local_server(tmp_path, model.base_url, extra_env=fallback) as srv:
        client = srv.client()
        agent_id, env_id = setup_agent(client)
        sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
        seen = run_until_idle(client, sid, [user_message("hi")])
        (warning,) = [e for e in seen if e.type == "session.error"]
        assert "WITHOUT isolation" in warning.error.message and warning.error.retry_status.type == "retrying"
        seen = run_until_idle(client, sid, [user_message("again")])
        assert not [e for e in seen if e.type == "session.error"]  # told once per session
        assert_conforms(srv, sid)


def test_explicit_process_sandbox_warns_too(tmp_path: Path) -> None:
    with FakeModelServer([text_response("ok")]) as model, local_server(tmp_path, model.base_url) as srv:
        client = srv.client()
        agent_id, _ = setup_agent(client)
        env = client.beta.environments.create(
            name="open", config={"type": "cloud", "networking": {"type": "unrestricted"}}
        )
        sid = client.beta.sessions.create(agent=agent_id, environment_id=env.id).id
        seen = run_until_idle(client, sid, [user_message("hi")])
        (warning,) = [e.error.message for e in seen if e.type == "session.error"]
        assert "WITHOUT isolation (NB_AGENTS_SANDBOX=process)" in warning
        assert "NOT enforced" not in warning  # unrestricted networking is what the host gives anyway
