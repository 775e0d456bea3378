"""The runtime fails closed: a failed turn stops, every model request has a deadline, stops stop.

Each test drives ``nb-agents serve`` through the official SDK; a FakeModelServer plays Claude.
A test that waits for an idle also checks that nothing happens after it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import pytest

from nb_agents.testing import FakeModelServer, text_response, tool_use_response
from tests._server import (
    LocalServer,
    assert_conforms,
    local_server,
    raw_events,
    run_until_idle,
    setup_agent,
    user_message,
)

FAST_RETRIES = {"NB_AGENTS_MODEL_RETRY_DELAY": "0.01", "NB_AGENTS_MODEL_RETRIES": "3"}
QUIET = 3.0  # seconds in which a stopped session must ask the model nothing


def _wait_for(server: LocalServer, sid: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not done(raw_events(server, sid)):
        assert time.monotonic() < deadline, [e["type"] for e in raw_events(server, sid)]
        time.sleep(0.05)


def _stopped(reason: str) -> Callable[[list[dict[str, Any]]], bool]:
    def done(events: list[dict[str, Any]]) -> bool:
        return any(e["type"] == "session.status_idle" and e["stop_reason"]["type"] == reason for e in events)

    return done


def _model_errors(events: list[dict[str, Any]], status: str) -> list[dict[str, Any]]:
    return [
        e["error"]
        for e in events
        if e["type"] == "session.error"
        and e["error"]["retry_status"]["type"] == status
        and not e["error"]["message"].startswith("sandbox ")
    ]


def _idles(events: list[dict[str, Any]]) -> list[str]:
    return [e["stop_reason"]["type"] for e in events if e["type"] == "session.status_idle"]


def _spans(events: list[dict[str, Any]]) -> tuple[int, int]:
    return (
        sum(e["type"] == "span.model_request_start" for e in events),
        sum(e["type"] == "span.model_request_end" for e in events),
    )


def _by_model(body: dict[str, Any]) -> dict[str, Any]:
    """Every way a model id can fail for good, chosen by the id the request names."""
    model = body["model"]
    if model == "claude-mistyped-4-6":
        return {"fault": "error", "status": 404, "error_type": "not_found_error", "message": f"model: {model}"}
    if model == "claude-sonnet-4-6-storm":
        return {"fault": "overloaded"}
    if model == "claude-sonnet-4-6-long":
        return {"fault": "error", "status": 400, "error_type": "invalid_request_error", "message": "prompt is too long"}
    return text_response("fine")


def test_runaway_triggers_end_the_turn_once(tmp_path: Path) -> None:
    replay = tmp_path / "one.jsonl"
    replay.write_text(json.dumps(text_response("the only recorded answer")) + "\n")
    triggers = {
        "bad model id (404)": "claude-mistyped-4-6",
        "529 storm": "claude-sonnet-4-6-storm",
        "prompt too long (400)": "claude-sonnet-4-6-long",
        "replay file exhausted": f"replay:{replay}",
    }
    with (
        FakeModelServer(_by_model) as model,
        local_server(tmp_path / "state", model.base_url, extra_env=FAST_RETRIES) as srv,
    ):
        client = srv.client()
        sessions: dict[str, str] = {}
        for name, model_id in triggers.items():
            agent_id, env_id = setup_agent(client, model=model_id, tools=[])
            sid = sessions[name] = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
            if model_id.startswith("replay:"):  # the first message uses the file's only answer
                client.beta.sessions.events.send(sid, events=[user_message("first")])  # type: ignore[list-item]
                _wait_for(srv, sid, _stopped("end_turn"))
            client.beta.sessions.events.send(sid, events=[user_message("go")])  # type: ignore[list-item]
        for sid in sessions.values():
            _wait_for(srv, sid, _stopped("retries_exhausted"))
        requests_then = len(model.requests)
        spans_then = {name: _spans(raw_events(srv, sid)) for name, sid in sessions.items()}
        time.sleep(QUIET)
        assert len(model.requests) == requests_then  # 1 (404) + 3 (storm) + 1 (400), and no more
        assert requests_then == 5
        for name, sid in sessions.items():
            events = assert_conforms(srv, sid)
            assert _spans(events) == spans_then[name], name
            starts, ends = _spans(events)
            assert starts == ends, f"{name}: a span was left open"
            assert len(_model_errors(events, "exhausted")) == 1, name
            assert _idles(events)[-1:] == ["retries_exhausted"] and _idles(events).count("retries_exhausted") == 1
            assert client.beta.sessions.retrieve(sid).status == "idle"
        # new input starts a new turn (which fails the same way, once)
        sid = sessions["bad model id (404)"]
        client.beta.sessions.events.send(sid, events=[user_message("again")])  # type: ignore[list-item]
        _wait_for(srv, sid, lambda events: _idles(events).count("retries_exhausted") == 2)
        time.sleep(0.5)
        assert len(model.requests) == requests_then + 1


def test_no_credentials_stop_at_once(tmp_path: Path) -> None:
    with (
        FakeModelServer([text_response("never asked")]) as model,
        local_server(tmp_path, model.base_url, extra_env={"ANTHROPIC_API_KEY": None}) as srv,
    ):
        client = srv.client()
        agent_id, env_id = setup_agent(client, tools=[])
        sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
        client.beta.sessions.events.send(sid, events=[user_message("hi")])  # type: ignore[list-item]
        _wait_for(srv, sid, _stopped("retries_exhausted"))
        count = len(raw_events(srv, sid))
        time.sleep(QUIET)
        events = assert_conforms(srv, sid)
        assert len(events) == count and model.requests == []
        (error,) = _model_errors(events, "exhausted")
        assert "no Anthropic credentials" in error["message"] and "ANTHROPIC_API_KEY" in error["message"]
        assert _model_errors(events, "retrying") == [] and _spans(events) == (1, 1)


def test_interrupt_during_backoff_is_prompt(tmp_path: Path) -> None:
    slow = {"NB_AGENTS_MODEL_RETRY_DELAY": "30"}
    with (
        FakeModelServer(lambda body: {"fault": "overloaded"}) as model,
        local_server(tmp_path, model.base_url, extra_env=slow) as srv,
    ):
        client = srv.client()
        agent_id, env_id = setup_agent(client, tools=[])
        sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
        client.beta.sessions.events.send(sid, events=[user_message("hi")])  # type: ignore[list-item]
        _wait_for(srv, sid, lambda events: bool(_model_errors(events, "retrying")))
        started = time.monotonic()
        client.beta.sessions.events.send(sid, events=[{"type": "user.interrupt"}])
        _wait_for(srv, sid, _stopped("end_turn"), timeout=5)
        assert time.monotonic() - started < 1.0
        time.sleep(1.0)
        events = assert_conforms(srv, sid)
        assert len(model.requests) == 1 and _spans(events) == (1, 1)
        assert _idles(events) == ["end_turn"] and client.beta.sessions.retrieve(sid).status == "idle"


def test_archive_and_delete_during_a_retry_storm(tmp_path: Path) -> None:
    slow = {"NB_AGENTS_MODEL_RETRY_DELAY": "30"}
    with (
        FakeModelServer(lambda body: {"fault": "overloaded"}) as model,
        local_server(tmp_path, model.base_url, extra_env=slow) as srv,
    ):
        client = srv.client(max_retries=0)
        agent_id, env_id = setup_agent(client, tools=[])
        for action in ("archive", "delete"):
            sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
            client.beta.sessions.events.send(sid, events=[user_message("hi")])  # type: ignore[list-item]
            _wait_for(srv, sid, lambda events: bool(_model_errors(events, "retrying")))
            started = time.monotonic()
            getattr(client.beta.sessions, action)(sid)
            assert time.monotonic() - started < 2.0
            requests = len(model.requests)
            time.sleep(1.0)
            assert len(model.requests) == requests
            if action == "archive":
                events = assert_conforms(srv, sid)
                assert _idles(events) == ["end_turn"] and _spans(events) == (1, 1)
                assert client.beta.sessions.retrieve(sid).archived_at is not None
            else:
                with pytest.raises(anthropic.NotFoundError):
                    client.beta.sessions.retrieve(sid)


def test_a_running_session_is_not_archived(tmp_path: Path) -> None:
    with (
        FakeModelServer([{"fault": "hang"}]) as model,
        local_server(tmp_path, model.base_url) as srv,
    ):
        client = srv.client(max_retries=0)
        agent_id, env_id = setup_agent(client, tools=[])
        sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
        client.beta.sessions.events.send(sid, events=[user_message("hi")])  # type: ignore[list-item]
        _wait_for(srv, sid, lambda events: _spans(events)[0] == 1)
        with pytest.raises(anthropic.BadRequestError, match="user.interrupt"):
            client.beta.sessions.archive(sid)
        client.beta.sessions.events.send(sid, events=[{"type": "user.interrupt"}])
        _wait_for(srv, sid, _stopped("end_turn"), timeout=5)
        client.beta.sessions.archive(sid)
        assert len(model.requests) == 1


@pytest.mark.parametrize("after_events", [0, 4], ids=["no-first-byte", "mid-stream"])
def test_a_stalled_stream_is_retried(tmp_path: Path, after_events: int) -> None:
    stall = {"fault": "stall", "after_events": after_events}
    with (
        FakeModelServer([stall, text_response("second try")]) as model,
        local_server(
            tmp_path, model.base_url, extra_env={**FAST_RETRIES, "NB_AGENTS_MODEL_IDLE_TIMEOUT": "0.5"}
        ) as srv,
    ):
        client = srv.client()
        agent_id, env_id = setup_agent(client, tools=[])
        sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
        client.beta.sessions.events.send(sid, events=[user_message("hi")])  # type: ignore[list-item]
        _wait_for(srv, sid, _stopped("end_turn"))
        events = assert_conforms(srv, sid)
        (retrying,) = _model_errors(events, "retrying")
        assert retrying["type"] == "model_request_failed_error" and "stopped answering" in retrying["message"]
        assert [e["content"][0]["text"] for e in events if e["type"] == "agent.message"] == ["second try"]
        assert len(model.requests) == 2 and model.disconnects == 1


def test_malformed_sse_is_a_retryable_model_error(tmp_path: Path) -> None:
    with (
        FakeModelServer(lambda body: {"fault": "malformed"}) as model,
        local_server(tmp_path, model.base_url, extra_env=FAST_RETRIES) as srv,
    ):
        client = srv.client()
        agent_id, env_id = setup_agent(client, tools=[])
        sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
        client.beta.sessions.events.send(sid, events=[user_message("hi")])  # type: ignore[list-item]
        _wait_for(srv, sid, _stopped("retries_exhausted"))
        time.sleep(1.0)
        events = assert_conforms(srv, sid)
        retrying, exhausted = _model_errors(events, "retrying"), _model_errors(events, "exhausted")
        assert len(retrying) == 2 and len(exhausted) == 1 and len(model.requests) == 3
        assert all(e["type"] == "model_request_failed_error" and "malformed" in e["message"] for e in retrying)
        end = next(e for e in events if e["type"] == "span.model_request_end")
        assert end["is_error"] and _spans(events) == (1, 1)
        assert "the runtime failed" not in srv.log() and "Traceback" not in srv.log()


def test_a_tool_use_loop_stops_at_the_round_limit(tmp_path: Path) -> None:
    loop = tool_use_response([("bash", {"command": "true"})])
    with (
        FakeModelServer(lambda body: loop) as model,
        local_server(tmp_path, model.base_url, extra_env={"NB_AGENTS_MAX_TOOL_ROUNDS": "3"}) as srv,
    ):
        client = srv.client()
        agent_id, env_id = setup_agent(client)
        sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
        client.beta.sessions.events.send(sid, events=[user_message("loop")])  # type: ignore[list-item]
        _wait_for(srv, sid, _stopped("retries_exhausted"))
        time.sleep(1.0)
        events = assert_conforms(srv, sid)
        (error,) = _model_errors(events, "exhausted")
        assert error["type"] == "tool_use_limit_reached_error" and "3 tool-use rounds" in error["message"]
        assert len(model.requests) == 3 and sum(e["type"] == "agent.tool_result" for e in events) == 3
        # a new message is a new turn, with its own rounds
        client.beta.sessions.events.send(sid, events=[user_message("more")])  # type: ignore[list-item]
        _wait_for(srv, sid, lambda events: _idles(events).count("retries_exhausted") == 2)
        assert len(model.requests) == 6


@pytest.mark.docker
def test_archive_during_a_retry_storm_removes_the_container(
    tmp_path: Path, docker_client: Any, base_image: str
) -> None:
    storm = {"NB_AGENTS_SANDBOX": "docker", "NB_AGENTS_MODEL_RETRY_DELAY": "30"}
    with (
        FakeModelServer(lambda body: {"fault": "overloaded"}) as model,
        local_server(tmp_path, model.base_url, extra_env=storm) as srv,
    ):
        client = srv.client(max_retries=0)
        agent_id, env_id = setup_agent(client)  # with tools: the container starts beside the first request
        sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
        label = {"label": f"nb_agents.session={sid}"}  # only this session's container and volume
        try:
            client.beta.sessions.events.send(sid, events=[user_message("hi")])  # type: ignore[list-item]
            _wait_for(srv, sid, lambda events: bool(_model_errors(events, "retrying")))
            deadline = time.monotonic() + 60
            while not docker_client.containers.list(filters=label):
                assert time.monotonic() < deadline, "the sandbox container did not start"
                time.sleep(0.2)
            client.beta.sessions.archive(sid)
            deadline = time.monotonic() + 20
            while docker_client.containers.list(all=True, filters=label) or docker_client.volumes.list(filters=label):
                assert time.monotonic() < deadline, "archiving did not remove the container and volume"
                time.sleep(0.2)
            events = assert_conforms(srv, sid)
            assert _idles(events) == ["end_turn"] and _spans(events) == (1, 1) and len(model.requests) == 1
        finally:
            for container in docker_client.containers.list(all=True, filters=label):
                container.remove(force=True)
            for volume in docker_client.volumes.list(filters=label):
                volume.remove(force=True)


def test_interrupt_with_a_redirecting_message(tmp_path: Path) -> None:
    with (
        FakeModelServer([{"fault": "hang"}, text_response("redirected")]) as model,
        local_server(tmp_path, model.base_url) as srv,
    ):
        client = srv.client()
        agent_id, env_id = setup_agent(client, tools=[])
        sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
        client.beta.sessions.events.send(sid, events=[user_message("hi")])  # type: ignore[list-item]
        _wait_for(srv, sid, lambda events: _spans(events)[0] == 1)
        redirect = [{"type": "user.interrupt"}, user_message("do this instead")]
        client.beta.sessions.events.send(sid, events=redirect)  # type: ignore[arg-type]
        _wait_for(srv, sid, lambda events: _idles(events) == ["end_turn", "end_turn"])
        time.sleep(0.5)
        events = assert_conforms(srv, sid)
        assert [e["content"][0]["text"] for e in events if e["type"] == "agent.message"] == ["redirected"]
        assert len(model.requests) == 2 and _idles(events) == ["end_turn", "end_turn"]
        last = model.requests[1].body["messages"][-1]
        assert last["role"] == "user" and "do this instead" in json.dumps(last)


def test_an_interrupt_wins_over_a_confirmation_sent_with_it(tmp_path: Path) -> None:
    script = [tool_use_response([("bash", {"command": "echo never"})]), text_response("next turn")]
    with FakeModelServer(script) as model, local_server(tmp_path, model.base_url) as srv:
        client = srv.client()
        agent_id, env_id = setup_agent(
            client,
            tools=[{"type": "agent_toolset_20260401", "default_config": {"permission_policy": {"type": "always_ask"}}}],
        )
        sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
        client.beta.sessions.events.send(sid, events=[user_message("echo")])  # type: ignore[list-item]
        _wait_for(srv, sid, _stopped("requires_action"))
        use_id = next(e["id"] for e in raw_events(srv, sid) if e["type"] == "agent.tool_use")
        both = [
            {"type": "user.interrupt"},
            {"type": "user.tool_confirmation", "tool_use_id": use_id, "result": "allow"},
        ]
        client.beta.sessions.events.send(sid, events=both)  # type: ignore[arg-type]
        _wait_for(srv, sid, _stopped("end_turn"))
        time.sleep(1.0)
        events = assert_conforms(srv, sid)
        (result,) = [e for e in events if e["type"] == "agent.tool_result"]
        assert result["is_error"] and "Interrupted" in result["content"][0]["text"]
        assert len(model.requests) == 1 and _idles(events) == ["requires_action", "end_turn"]
        client.beta.sessions.events.send(sid, events=[user_message("something else")])  # type: ignore[list-item]
        _wait_for(srv, sid, lambda events: _idles(events)[-1:] == ["end_turn"] and len(_idles(events)) == 3)
        assert len(model.requests) == 2


@pytest.mark.docker
def test_interrupt_while_the_sandbox_starts(tmp_path: Path, docker_client: Any, base_image: str) -> None:
    eager = {"NB_AGENTS_SANDBOX": "docker", "NB_AGENTS_SANDBOX_EAGER": "1"}

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        last = json.dumps(body["messages"][-1])
        if "tool_result" in last:
            return text_response("done")
        if "again" in last:
            return tool_use_response([("bash", {"command": "echo up"})])
        return {"fault": "hang"}

    with FakeModelServer(answer) as model, local_server(tmp_path, model.base_url, extra_env=eager) as srv:
        client = srv.client()
        agent_id, env_id = setup_agent(client)
        sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
        label = {"label": f"nb_agents.session={sid}"}  # only this session's container and volume
        try:
            client.beta.sessions.events.send(sid, events=[user_message("hi")])  # type: ignore[list-item]
            _wait_for(srv, sid, lambda events: any(e["type"] == "session.status_running" for e in events))
            started = time.monotonic()
            client.beta.sessions.events.send(sid, events=[{"type": "user.interrupt"}])
            _wait_for(srv, sid, _stopped("end_turn"), timeout=10)
            assert time.monotonic() - started < 1.0
            events = raw_events(srv, sid)
            assert _spans(events)[0] == _spans(events)[1] and len(model.requests) <= 1
            # the next message starts the sandbox (again) and the session goes on
            seen = run_until_idle(client, sid, [user_message("again")])
            assert seen[-1].stop_reason.type == "end_turn", [(e.type, getattr(e, "error", None)) for e in seen]
            result = next(e for e in seen if e.type == "agent.tool_result")
            assert result.content[0].text.strip() == "up" and not result.is_error
            assert_conforms(srv, sid)
        finally:
            client.beta.sessions.delete(sid)
            deadline = time.monotonic() + 20
            while docker_client.containers.list(all=True, filters=label) and time.monotonic() < deadline:
                time.sleep(0.2)
            for container in docker_client.containers.list(all=True, filters=label):
                container.remove(force=True)
            for volume in docker_client.volumes.list(filters=label):
                volume.remove(force=True)
