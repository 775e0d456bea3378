"""The agent loop, driven only through the official SDK against ``nb-agents serve``.

A FakeModelServer on loopback plays Claude; tools run for real in the process sandbox.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from nb_agents.testing import FakeModelServer, text_response, tool_use_response
from tests._server import assert_conforms, local_server, run_until_idle, setup_agent, user_message

FAST_RETRIES = {"NB_AGENTS_MODEL_RETRY_DELAY": "0.01"}


def _types(events: list[Any]) -> list[str]:
    return [e.type for e in events]


def _tool_results(request_body: dict[str, Any]) -> list[dict[str, Any]]:
    last = request_body["messages"][-1]
    return [b for b in last["content"] if b["type"] == "tool_result"]


def test_bash_round_trip(tmp_path: Path) -> None:
    script = [
        tool_use_response([("bash", {"command": "cd /tmp && echo hello from $(uname -s)"})]),
        text_response("It is Linux."),
    ]
    with FakeModelServer(script) as model, local_server(tmp_path, model.base_url) as srv:
        client = srv.client()
        agent_id, env_id = setup_agent(client, system="Be brief.")
        session = client.beta.sessions.create(agent=agent_id, environment_id=env_id, title="demo")
        assert session.status == "idle"
        seen = run_until_idle(client, session.id, [user_message("Which OS?")])
        assert _types(seen) == [
            "user.message",
            "user.message",
            "session.status_running",
            "session.error",
            "span.model_request_start",
            "agent.tool_use",
            "span.model_request_end",
            "session.usage",
            "agent.tool_result",
            "span.model_request_start",
            "agent.message",
            "span.model_request_end",
            "session.usage",
            "session.status_idle",
        ]
        notice = seen[3].error  # the process sandbox says what it is (tests run on it)
        assert notice.retry_status.type == "retrying" and "WITHOUT isolation" in notice.message
        assert "NB_AGENTS_SANDBOX=process" in notice.message and "('limited') is NOT enforced" in notice.message
        tool_use = seen[5]
        assert tool_use.name == "bash" and tool_use.evaluated_permission == "allow"
        assert tool_use.evaluation.type == "always_allow"
        result = seen[8]
        assert result.tool_use_id == tool_use.id and not result.is_error
        assert "hello from Linux" in result.content[0].text
        assert seen[-1].stop_reason.type == "end_turn"
        assert seen[10].content[0].text == "It is Linux."
        # the model saw the system prompt, the built-in tools, and the tool result
        first, second = model.requests[0].body, model.requests[1].body
        assert first["system"] == "Be brief."
        assert {t["name"] for t in first["tools"]} == {"bash", "read", "write", "edit", "glob", "grep"}
        assert _tool_results(second)[0]["tool_use_id"] == tool_use.id
        assert "hello from Linux" in _tool_results(second)[0]["content"][0]["text"]
        done = client.beta.sessions.retrieve(session.id)
        assert done.status == "idle"
        assert done.usage.input_tokens and done.usage.output_tokens
        events = assert_conforms(srv, session.id)
        stored_ids = [e["id"] for e in events]
        assert len(stored_ids) == len(set(stored_ids)) == len(seen) - 1  # the message echo is streamed twice


def test_several_tool_calls_in_one_message(tmp_path: Path) -> None:
    calls = [
        ("write", {"file_path": "notes/a.txt", "content": "alpha\n"}),
        ("bash", {"command": "cat notes/a.txt"}),
        ("glob", {"pattern": "**/*.txt"}),
    ]
    with (
        FakeModelServer([tool_use_response(calls), text_response("done")]) as model,
        local_server(tmp_path, model.base_url) as srv,
    ):
        client = srv.client()
        agent_id, env_id = setup_agent(client)
        session = client.beta.sessions.create(agent=agent_id, environment_id=env_id)
        seen = run_until_idle(client, session.id, [user_message("go")])
        uses = [e for e in seen if e.type == "agent.tool_use"]
        results = [e for e in seen if e.type == "agent.tool_result"]
        assert [u.name for u in uses] == ["write", "bash", "glob"]
        assert [r.tool_use_id for r in results] == [u.id for u in uses]
        assert "alpha" in results[1].content[0].text
        assert "notes/a.txt" in results[2].content[0].text
        answered = _tool_results(model.requests[1].body)
        assert [b["tool_use_id"] for b in answered] == [u.id for u in uses]
        assert_conforms(srv, session.id)


def _ask_agent(client: Any) -> tuple[str, str]:
    toolset = {
        "type": "agent_toolset_20260401",
        "configs": [{"name": "bash", "permission_policy": {"type": "always_ask"}}],
    }
    return setup_agent(client, tools=[toolset])


def test_always_ask_allow_and_deny(tmp_path: Path) -> None:
    script = [
        tool_use_response([("bash", {"command": "echo approved"})]),
        text_response("ran it"),
        tool_use_response([("bash", {"command": "rm -rf /tmp/important"})]),
        text_response("ok, I will not"),
    ]
    with FakeModelServer(script) as model, local_server(tmp_path, model.base_url) as srv:
        client = srv.client()
        agent_id, env_id = _ask_agent(client)
        session = client.beta.sessions.create(agent=agent_id, environment_id=env_id)
        seen = run_until_idle(client, session.id, [user_message("echo something")])
        use = next(e for e in seen if e.type == "agent.tool_use")
        assert use.evaluated_permission == "ask" and use.evaluation.type == "always_ask"
        idle = seen[-1]
        assert idle.stop_reason.type == "requires_action" and idle.stop_reason.event_ids == [use.id]
        assert client.beta.sessions.retrieve(session.id).status == "idle"
        seen = run_until_idle(
            client, session.id, [{"type": "user.tool_confirmation", "tool_use_id": use.id, "result": "allow"}]
        )
        result = next(e for e in seen if e.type == "agent.tool_result")
        assert "approved" in result.content[0].text and not result.is_error
        assert seen[-1].stop_reason.type == "end_turn"

        seen = run_until_idle(client, session.id, [user_message("now clean up")])
        use = next(e for e in seen if e.type == "agent.tool_use")
        deny = {
            "type": "user.tool_confirmation",
            "tool_use_id": use.id,
            "result": "deny",
            "deny_message": "not that directory",
        }
        seen = run_until_idle(client, session.id, [deny])
        result = next(e for e in seen if e.type == "agent.tool_result")
        assert result.is_error and "not that directory" in result.content[0].text
        sent = _tool_results(model.requests[3].body)[0]
        assert sent["is_error"] and "not that directory" in sent["content"][0]["text"]
        # a second answer to the same call is refused
        with pytest.raises(Exception) as info:
            client.beta.sessions.events.send(
                session.id,
                events=[{"type": "user.tool_confirmation", "tool_use_id": use.id, "result": "allow"}],
            )
        assert getattr(info.value, "status_code", None) == 400
        assert_conforms(srv, session.id)


def test_interrupt_while_waiting_for_approval(tmp_path: Path) -> None:
    script = [tool_use_response([("bash", {"command": "echo never"})]), text_response("new topic")]
    with FakeModelServer(script) as model, local_server(tmp_path, model.base_url) as srv:
        client = srv.client()
        agent_id, env_id = _ask_agent(client)
        session = client.beta.sessions.create(agent=agent_id, environment_id=env_id)
        seen = run_until_idle(client, session.id, [user_message("echo")])
        assert seen[-1].stop_reason.type == "requires_action"
        use_id = seen[-1].stop_reason.event_ids[0]
        seen = run_until_idle(client, session.id, [{"type": "user.interrupt"}])
        result = next(e for e in seen if e.type == "agent.tool_result")
        assert result.tool_use_id == use_id and result.is_error and "Interrupted" in result.content[0].text
        assert seen[-1].stop_reason.type == "end_turn"  # no stale requires_action left
        seen = run_until_idle(client, session.id, [user_message("something else")])
        assert [e.content[0].text for e in seen if e.type == "agent.message"] == ["new topic"]
        assert len(model.requests) == 2
        assert_conforms(srv, session.id)


def test_custom_tool(tmp_path: Path) -> None:
    custom = {
        "type": "custom",
        "name": "lookup_price",
        "description": "Price of a product",
        "input_schema": {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]},
    }
    script = [tool_use_response([("lookup_price", {"sku": "A-1"})]), text_response("It costs 42.")]
    with FakeModelServer(script) as model, local_server(tmp_path, model.base_url) as srv:
        client = srv.client()
        agent_id, env_id = setup_agent(client, tools=[custom])
        session = client.beta.sessions.create(agent=agent_id, environment_id=env_id)
        seen = run_until_idle(client, session.id, [user_message("price of A-1?")])
        use = next(e for e in seen if e.type == "agent.custom_tool_use")
        assert use.name == "lookup_price" and use.input == {"sku": "A-1"}
        assert seen[-1].stop_reason.type == "requires_action" and seen[-1].stop_reason.event_ids == [use.id]
        assert [t["name"] for t in model.requests[0].body["tools"]] == ["lookup_price"]
        answer = {
            "type": "user.custom_tool_result",
            "custom_tool_use_id": use.id,
            "content": [{"type": "text", "text": "42 EUR"}],
        }
        seen = run_until_idle(client, session.id, [answer])
        assert seen[-1].stop_reason.type == "end_turn"
        assert _tool_results(model.requests[1].body)[0]["content"][0]["text"] == "42 EUR"
        assert_conforms(srv, session.id)


def test_interrupt_during_long_tool(tmp_path: Path) -> None:
    script = [
        tool_use_response([("bash", {"command": "sleep 30; echo finished"})]),
        text_response("after interrupt"),
    ]
    with FakeModelServer(script) as model, local_server(tmp_path, model.base_url) as srv:
        client = srv.client()
        agent_id, env_id = setup_agent(client)
        session = client.beta.sessions.create(agent=agent_id, environment_id=env_id)
        seen: list[Any] = []
        with client.beta.sessions.events.stream(session.id) as stream:
            client.beta.sessions.events.send(session.id, events=[user_message("sleep")])  # type: ignore[list-item]
            interrupted_at = 0.0
            for event in stream:
                seen.append(event)
                if event.type == "agent.tool_use":
                    time.sleep(0.3)
                    interrupted_at = time.monotonic()
                    client.beta.sessions.events.send(session.id, events=[{"type": "user.interrupt"}])
                if event.type == "session.status_idle":
                    break
        took = time.monotonic() - interrupted_at
        assert took < 1.5, f"interrupt took {took:.2f}s"
        result = next(e for e in seen if e.type == "agent.tool_result")
        assert result.is_error and "Interrupted" in result.content[0].text
        assert seen[-1].stop_reason.type == "end_turn"
        assert client.beta.sessions.retrieve(session.id).status == "idle"
        seen = run_until_idle(client, session.id, [user_message("continue")])
        assert [e.content[0].text for e in seen if e.type == "agent.message"] == ["after interrupt"]
        assert_conforms(srv, session.id)


def test_interrupt_during_model_request(tmp_path: Path) -> None:
    with (
        FakeModelServer([{"fault": "hang"}, text_response("fresh start")]) as model,
        local_server(tmp_path, model.base_url) as srv,
    ):
        client = srv.client()
        agent_id, env_id = setup_agent(client)
        session = client.beta.sessions.create(agent=agent_id, environment_id=env_id)
        seen: list[Any] = []
        with client.beta.sessions.events.stream(session.id) as stream:
            client.beta.sessions.events.send(session.id, events=[user_message("think forever")])  # type: ignore[list-item]
            for event in stream:
                seen.append(event)
                if event.type == "span.model_request_start":
                    client.beta.sessions.events.send(session.id, events=[{"type": "user.interrupt"}])
                if event.type == "session.status_idle":
                    break
        end = next(e for e in seen if e.type == "span.model_request_end")
        assert end.is_error
        seen = run_until_idle(client, session.id, [user_message("again")])
        assert seen[-1].stop_reason.type == "end_turn"
        assert_conforms(srv, session.id)


def test_message_queued_while_running(tmp_path: Path) -> None:
    script = [{**text_response("first answer"), "delay_ms": 800}, text_response("second answer")]
    with FakeModelServer(script) as model, local_server(tmp_path, model.base_url) as srv:
        client = srv.client()
        agent_id, env_id = setup_agent(client)
        session = client.beta.sessions.create(agent=agent_id, environment_id=env_id)
        seen: list[Any] = []
        with client.beta.sessions.events.stream(session.id) as stream:
            client.beta.sessions.events.send(session.id, events=[user_message("one")])  # type: ignore[list-item]
            for event in stream:
                seen.append(event)
                if event.type == "span.model_request_start" and len(model.requests) <= 1:
                    client.beta.sessions.events.send(session.id, events=[user_message("two")])  # type: ignore[list-item]
                if event.type == "session.status_idle":
                    break
        assert [e.content[0].text for e in seen if e.type == "agent.message"] == [
            "first answer",
            "second answer",
        ]
        assert _types(seen).count("session.status_idle") == 1
        second = model.requests[1].body["messages"]
        assert [m["role"] for m in second] == ["user", "assistant", "user"]
        assert second[-1]["content"][0]["text"] == "two"
        assert_conforms(srv, session.id)


def test_overloaded_then_success_and_exhausted(tmp_path: Path) -> None:
    script: list[dict[str, Any]] = [{"fault": "overloaded"}, text_response("made it")] + [{"fault": "overloaded"}] * 5
    with (
        FakeModelServer(script) as model,
        local_server(tmp_path, model.base_url, extra_env=FAST_RETRIES) as srv,
    ):
        client = srv.client()
        agent_id, env_id = setup_agent(client)
        session = client.beta.sessions.create(agent=agent_id, environment_id=env_id)
        seen = run_until_idle(client, session.id, [user_message("hi")])
        errors = [e for e in seen if e.type == "session.error" and e.error.type != "unknown_error"]
        assert len(errors) == 1
        assert errors[0].error.type == "model_overloaded_error" and errors[0].error.retry_status.type == "retrying"
        assert [e.content[0].text for e in seen if e.type == "agent.message"] == ["made it"]
        seen = run_until_idle(client, session.id, [user_message("again")])
        errors = [e for e in seen if e.type == "session.error"]
        assert [e.error.retry_status.type for e in errors] == ["retrying"] * 4 + ["exhausted"]
        assert seen[-1].stop_reason.type == "retries_exhausted"
        events = assert_conforms(srv, session.id)
        assert sum(e["type"] == "agent.message" for e in events) == 1


def test_stream_with_deltas_equals_list(tmp_path: Path) -> None:
    long_text = "A fairly long answer that is streamed in many small pieces. " * 4
    script = [tool_use_response([("bash", {"command": "echo one"})]), text_response(long_text)]
    with FakeModelServer(script, chunk_size=8) as model, local_server(tmp_path, model.base_url) as srv:
        client = srv.client()
        agent_id, env_id = setup_agent(client)
        session = client.beta.sessions.create(agent=agent_id, environment_id=env_id)
        seen = run_until_idle(client, session.id, [user_message("talk")], deltas=True)
        deltas = [e for e in seen if e.type == "event_delta"]
        starts = [e for e in seen if e.type == "event_start"]
        message = next(e for e in seen if e.type == "agent.message")
        assert len(starts) == 1 and starts[0].event.id == message.id
        assert "".join(d.delta.content.text for d in deltas) == long_text
        streamed = [e for e in seen if e.type not in ("event_start", "event_delta")]
        # the first echo of user.message is unprocessed; the list shows the processed one
        streamed = [e for e in streamed if not (e.type == "user.message" and e.processed_at is None)]
        listed = list(client.beta.sessions.events.list(session.id, limit=3))
        assert [e.id for e in listed] == [e.id for e in streamed]
        assert [e.model_dump() for e in listed] == [e.model_dump() for e in streamed]
        only = list(client.beta.sessions.events.list(session.id, types=["agent.tool_use", "agent.tool_result"]))
        assert [e.type for e in only] == ["agent.tool_use", "agent.tool_result"]
        newest = client.beta.sessions.events.list(session.id, order="desc", limit=1)
        assert newest.data[0].type == "session.status_idle"


def test_concurrent_sessions_do_not_block_each_other(tmp_path: Path) -> None:
    def answer(body: dict[str, Any]) -> dict[str, Any]:
        text = body["messages"][0]["content"][0]["text"]
        return {**text_response(f"echo {text}"), "delay_ms": 300}

    with FakeModelServer(answer) as model, local_server(tmp_path, model.base_url) as srv:
        client = srv.client()
        agent_id, env_id = setup_agent(client)
        ids = [client.beta.sessions.create(agent=agent_id, environment_id=env_id).id for _ in range(4)]
        results: dict[str, list[Any]] = {}

        def run(i: int, sid: str) -> None:
            results[sid] = run_until_idle(client, sid, [user_message(f"s{i}")])

        started = time.monotonic()
        threads = [threading.Thread(target=run, args=(i, sid)) for i, sid in enumerate(ids)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert time.monotonic() - started < 1.2 + 1.0
        for i, sid in enumerate(ids):
            assert [e.content[0].text for e in results[sid] if e.type == "agent.message"] == [f"echo s{i}"]
