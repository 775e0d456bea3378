"""Session budgets through the SDK: create and update rules, ``session.usage``, the hard stop.

List costs come from ``nb_agents._prices`` (Sonnet 4.x: $3 per million input tokens, $15 per
million output tokens), so the fake model's token counts decide the spend exactly.
"""

from __future__ import annotations

import json
import time
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

# 10,000 input tokens of Sonnet: 3 cents a request, to the cent
THREE_CENTS = {"input_tokens": 10_000, "output_tokens": 0}


def _budget(cents: int) -> dict[str, Any]:
    return {"type": "limit", "max_list_cost": {"amount": str(cents), "currency": "USD"}}


def _error_code(exc: anthropic.APIStatusError) -> str:
    body: Any = exc.body
    return str(body["error"]["details"]["error_code"])


def test_budget_stops_the_session_before_the_next_request(tmp_path: Path) -> None:
    loop = tool_use_response([("bash", {"command": "true"})], usage=THREE_CENTS)
    with FakeModelServer(lambda body: loop) as model, local_server(tmp_path, model.base_url) as srv:
        client = srv.client()
        agent_id, env_id = setup_agent(client)
        session = client.beta.sessions.create(agent=agent_id, environment_id=env_id, budget=_budget(7))  # type: ignore[arg-type]
        assert session.budget is not None and session.budget.max_list_cost.amount == "7"
        assert session.usage.list_cost is not None and session.usage.list_cost.amount == "0"
        seen = run_until_idle(client, session.id, [user_message("spend")])
        assert seen[-1].stop_reason.type == "budget_reached"
        # 3 + 3 = 6 cents is under 7, so a third request ran (9 cents); then no fourth
        assert len(model.requests) == 3
        snapshots = [e for e in seen if e.type == "session.usage"]
        assert [s.usage.list_cost.amount for s in snapshots] == ["3", "6", "9"]
        assert all(s.budget is not None and s.budget.max_list_cost.amount == "7" for s in snapshots)
        assert snapshots[-1].usage.input_tokens == 30_000
        time.sleep(1.0)
        assert len(model.requests) == 3
        # more input while over budget: stopped again at once, the model is not asked
        seen = run_until_idle(client, session.id, [user_message("more")])
        assert seen[-1].stop_reason.type == "budget_reached" and len(model.requests) == 3
        retrieved = client.beta.sessions.retrieve(session.id)
        assert retrieved.usage.list_cost is not None and retrieved.usage.list_cost.amount == "9"
        # raising the budget lets the next message continue
        client.beta.sessions.update(session.id, budget=_budget(13))  # type: ignore[arg-type]
        seen = run_until_idle(client, session.id, [user_message("a little more")])
        assert seen[-1].stop_reason.type == "budget_reached" and len(model.requests) == 5
        events = assert_conforms(srv, session.id)
        updated = [e for e in events if e["type"] == "session.updated"]
        assert [u["budget"]["max_list_cost"]["amount"] for u in updated] == ["13"]


def test_budget_update_rules(tmp_path: Path) -> None:
    with (
        FakeModelServer([text_response("hi", usage=THREE_CENTS)]) as model,
        local_server(tmp_path, model.base_url) as srv,
    ):
        client = srv.client(max_retries=0)
        agent_id, env_id = setup_agent(client, tools=[])
        unbudgeted = client.beta.sessions.create(agent=agent_id, environment_id=env_id)
        with pytest.raises(anthropic.BadRequestError) as info:
            client.beta.sessions.update(unbudgeted.id, budget=_budget(100))  # type: ignore[arg-type]
        assert _error_code(info.value) == "budget_create_only"

        sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id, budget=_budget(100)).id  # type: ignore[arg-type]
        run_until_idle(client, sid, [user_message("hi")])
        for cents in (3, 2):  # at or below the 3 cents consumed
            with pytest.raises(anthropic.BadRequestError) as info:
                client.beta.sessions.update(sid, budget=_budget(cents))  # type: ignore[arg-type]
            assert _error_code(info.value) == "budget_not_raised"
        lowered = client.beta.sessions.update(sid, budget=_budget(4))  # type: ignore[arg-type]
        assert lowered.budget is not None and lowered.budget.max_list_cost.amount == "4"
        removed = client.beta.sessions.update(sid, budget=None)
        assert removed.budget is None
        with pytest.raises(anthropic.BadRequestError) as info:  # a removed budget does not come back
            client.beta.sessions.update(sid, budget=_budget(100))  # type: ignore[arg-type]
        assert _error_code(info.value) == "budget_create_only"
        events = assert_conforms(srv, sid)
        changes = [e["budget"] for e in events if e["type"] == "session.updated"]
        assert changes == [_budget(4), None]

        for bad, why in [
            ({"type": "limit", "max_list_cost": {"amount": "1.50", "currency": "USD"}}, "whole number of cents"),
            ({"type": "limit", "max_list_cost": {"amount": "050", "currency": "USD"}}, "whole number of cents"),
            ({"type": "limit", "max_list_cost": {"amount": "50", "currency": "EUR"}}, "USD is the only currency"),
            ({"type": "cap", "max_list_cost": {"amount": "50", "currency": "USD"}}, "expected"),
        ]:
            with pytest.raises(anthropic.BadRequestError, match=why):
                client.beta.sessions.create(agent=agent_id, environment_id=env_id, budget=bad)  # type: ignore[arg-type]

        unpriced = client.beta.agents.create(name="new", model="claude-unpriced-9")
        with pytest.raises(anthropic.BadRequestError) as info:
            client.beta.sessions.create(agent=unpriced.id, environment_id=env_id, budget=_budget(100))  # type: ignore[arg-type]
        assert _error_code(info.value) == "model_not_budgetable" and "claude-unpriced-9" in str(info.value)
        free = client.beta.sessions.create(agent=unpriced.id, environment_id=env_id)
        assert free.usage.list_cost is None  # no price, no cost tracking
        assert len(model.requests) == 1


def test_replay_sessions_cost_what_the_recorded_model_would(tmp_path: Path) -> None:
    replay = tmp_path / "demo.jsonl"
    answers = [text_response("one", usage=THREE_CENTS), text_response("two", usage=THREE_CENTS)]
    replay.write_text("".join(json.dumps(a) + "\n" for a in answers))
    with local_server(tmp_path / "state") as srv:
        client = srv.client()
        agent_id, env_id = setup_agent(client, model=f"replay:{replay}", tools=[])
        sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id, budget=_budget(2)).id  # type: ignore[arg-type]
        seen = run_until_idle(client, sid, [user_message("one")])
        usage = next(e for e in seen if e.type == "session.usage")
        assert usage.usage.list_cost is not None and usage.usage.list_cost.amount == "3"
        assert seen[-1].stop_reason.type == "end_turn"
        seen = run_until_idle(client, sid, [user_message("two")])
        assert seen[-1].stop_reason.type == "budget_reached"
        assert [e.type for e in seen if e.type.startswith("span.")] == []
        assert_conforms(srv, sid)


def test_an_unpriced_answer_stops_a_budgeted_session(tmp_path: Path) -> None:
    replay = tmp_path / "odd.jsonl"
    answers = [text_response("one", model="claude-unpriced-9"), text_response("two")]
    replay.write_text("".join(json.dumps(a) + "\n" for a in answers))
    with local_server(tmp_path / "state") as srv:
        client = srv.client(max_retries=0)
        agent_id, env_id = setup_agent(client, model=f"replay:{replay}", tools=[])
        sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id, budget=_budget(500)).id  # type: ignore[arg-type]
        run_until_idle(client, sid, [user_message("one")])
        assert client.beta.sessions.retrieve(sid).usage.list_cost is None  # the cost is unknown now
        seen = run_until_idle(client, sid, [user_message("two")])
        assert seen[-1].stop_reason.type == "budget_reached"
        with pytest.raises(anthropic.BadRequestError) as info:
            client.beta.sessions.update(sid, budget=_budget(1000))  # type: ignore[arg-type]
        assert _error_code(info.value) == "model_not_budgetable"
        client.beta.sessions.update(sid, budget=None)
        seen = run_until_idle(client, sid, [user_message("three")])
        assert seen[-1].stop_reason.type == "end_turn"
        assert sum(e["type"] == "span.model_request_start" for e in raw_events(srv, sid)) == 2


def test_spend_survives_a_restart(tmp_path: Path) -> None:
    answer = text_response("ok", usage=THREE_CENTS)
    with FakeModelServer(lambda body: answer) as model:
        first = LocalServer(tmp_path, model.base_url).start()
        try:
            client = first.client()
            agent_id, env_id = setup_agent(client, tools=[])
            sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id, budget=_budget(7)).id  # type: ignore[arg-type]
            run_until_idle(client, sid, [user_message("one")])
        finally:
            first.kill()
        with local_server(tmp_path, model.base_url) as srv:
            client = srv.client()
            costs = []
            for text in ("two", "three", "four"):
                seen = run_until_idle(client, sid, [user_message(text)])
                costs += [e.usage.list_cost.amount for e in seen if e.type == "session.usage"]
            assert costs == ["6", "9"] and seen[-1].stop_reason.type == "budget_reached"
            assert len(model.requests) == 3
            assert_conforms(srv, sid)
