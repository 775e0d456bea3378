"""kill -9 the server while a tool runs; a new server resumes the session from its log."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from nb_agents.testing import FakeModelServer, text_response, tool_use_response
from tests._server import LocalServer, assert_conforms, run_until_idle, setup_agent, user_message


def test_kill_9_during_tool_then_resume(tmp_path: Path) -> None:
    command = "echo started >> runs.txt; sleep 3; echo finished >> runs.txt"
    script = [
        tool_use_response([("bash", {"command": command})]),
        text_response("I see it was interrupted."),
        text_response("still here"),
    ]
    with FakeModelServer(script) as model:
        srv = LocalServer(tmp_path, model.base_url).start()
        try:
            client = srv.client()
            agent_id, env_id = setup_agent(client)
            sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
            stored_before: list[str] = []
            with client.beta.sessions.events.stream(sid) as stream:
                client.beta.sessions.events.send(sid, events=[user_message("run it")])  # type: ignore[list-item]
                for event in stream:
                    stored_before.append(event.id)
                    if event.type == "agent.tool_use":
                        break
            time.sleep(0.5)  # the command is running now
            srv.kill()
        finally:
            srv.stop()
        workspace = tmp_path / "workspaces" / sid
        assert (workspace / "runs.txt").read_text() == "started\n"

        srv = LocalServer(tmp_path, model.base_url).start()
        try:
            client = srv.client()
            deadline = time.monotonic() + 15
            while client.beta.sessions.retrieve(sid).status != "idle":
                assert time.monotonic() < deadline, srv.log()
                time.sleep(0.05)
            events = assert_conforms(srv, sid)
            ids = [e["id"] for e in events]
            assert set(stored_before) <= set(ids), "an event the client saw was lost"
            assert len(ids) == len(set(ids))
            uses = [e for e in events if e["type"] == "agent.tool_use"]
            results = [e for e in events if e["type"] == "agent.tool_result"]
            assert len(uses) == 1 and len(results) == 1
            assert results[0]["is_error"] and "restarted" in results[0]["content"][0]["text"]
            # the model was told, and the tool did not run a second time
            resumed = model.requests[1].body["messages"][-1]["content"][0]
            assert resumed["tool_use_id"] == uses[0]["id"] and "not run again" in resumed["content"][0]["text"]
            time.sleep(3.2)
            assert (workspace / "runs.txt").read_text().count("started") == 1
            assert events[-1]["type"] == "session.status_idle"
            seen: list[Any] = run_until_idle(client, sid, [user_message("still there?")])
            assert [e.content[0].text for e in seen if e.type == "agent.message"] == ["still here"]
        finally:
            srv.stop()


def test_input_stored_but_never_taken_is_taken_after_a_restart(tmp_path: Path) -> None:
    """The process died after storing a message (the client was told) and before taking it."""
    from nb_agents.events import make_event
    from nb_agents.store import Store

    with FakeModelServer([text_response("answered after the restart")]) as model:
        srv = LocalServer(tmp_path, model.base_url).start()
        try:
            client = srv.client()
            agent_id, env_id = setup_agent(client)
            sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
        finally:
            srv.stop()
        with Store(tmp_path / "nb_agents.sqlite3") as store:  # what send_events had stored
            message = make_event("user.message", content=[{"type": "text", "text": "hello?"}], processed_at=None)
            store.append(sid, [message])
        srv = LocalServer(tmp_path, model.base_url).start()
        try:
            client = srv.client()
            deadline = time.monotonic() + 15
            while not any(e.type == "agent.message" for e in client.beta.sessions.events.list(sid)):
                assert time.monotonic() < deadline, srv.log()
                time.sleep(0.05)
            events = assert_conforms(srv, sid)
            assert events[0]["id"] == message["id"] and events[0]["processed_at"] is not None
            assert events[-1]["type"] == "session.status_idle"
        finally:
            srv.stop()
