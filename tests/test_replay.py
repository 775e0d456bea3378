"""The offline brain through the server: ``replay:`` answers, tools run for real, ``--record``."""

from __future__ import annotations

import json
from pathlib import Path

from nb_agents.testing import FakeModelServer, text_response, tool_use_response
from tests._server import assert_conforms, local_server, run_until_idle, setup_agent, user_message


def test_replay_runs_tools_for_real(tmp_path: Path) -> None:
    replay = tmp_path / "tour.jsonl"
    lines = [
        {
            "content": [
                {"type": "text", "text": "Let me write it."},
                {
                    "type": "tool_use",
                    "name": "bash",
                    "input": {"command": "echo 6*7=$((6*7)) > answer.txt && cat answer.txt"},
                },
            ]
        },
        {"delay_ms": 50, "response": {"content": "The file says 6*7=42."}},
    ]
    replay.write_text("# a hand-written replay\n" + "\n".join(json.dumps(x) for x in lines) + "\n")
    with local_server(tmp_path / "state") as srv:  # no model server at all: nothing to reach
        client = srv.client()
        agent_id, env_id = setup_agent(client, model=f"replay:{replay}")
        session = client.beta.sessions.create(agent=agent_id, environment_id=env_id)
        seen = run_until_idle(client, session.id, [user_message("compute")], deltas=True)
        result = next(e for e in seen if e.type == "agent.tool_result")
        assert result.content[0].text.strip() == "6*7=42"
        assert (tmp_path / "state" / "workspaces" / session.id / "answer.txt").read_text() == "6*7=42\n"
        assert [e.content[0].text for e in seen if e.type == "agent.message"] == [
            "Let me write it.",
            "The file says 6*7=42.",
        ]
        assert any(e.type == "event_delta" for e in seen)
        # the file has no third answer: a clear error, and the session stays usable
        seen = run_until_idle(client, session.id, [user_message("more?")])
        error = next(e for e in seen if e.type == "session.error")
        assert str(replay) in error.error.message and error.error.retry_status.type == "exhausted"
        assert seen[-1].stop_reason.type == "retries_exhausted"
        assert_conforms(srv, session.id)


def test_record_then_replay_gives_the_same_session(tmp_path: Path) -> None:
    script = [
        tool_use_response([("bash", {"command": "echo recorded"})], text="Running."),
        text_response("Done: recorded."),
    ]
    record_dir = tmp_path / "rec"
    with (
        FakeModelServer(script) as model,
        local_server(tmp_path / "live", model.base_url, args=("--record", str(record_dir))) as srv,
    ):
        client = srv.client()
        agent_id, env_id = setup_agent(client)
        live_id = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
        live = run_until_idle(client, live_id, [user_message("go")])
    recording = record_dir / f"{live_id}.jsonl"
    assert recording.exists()
    with local_server(tmp_path / "offline") as srv:
        client = srv.client()
        agent_id, env_id = setup_agent(client, model=f"replay:{recording}")
        replay_id = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
        replayed = run_until_idle(client, replay_id, [user_message("go")])

    def shape(events: list) -> list:
        out = []
        for e in events:
            if e.type in ("agent.message", "agent.tool_result"):
                out.append((e.type, e.content[0].text))
            elif e.type == "agent.tool_use":
                out.append((e.type, e.name, e.input))
            else:
                out.append((e.type,))
        return out

    assert shape(replayed) == shape(live)
