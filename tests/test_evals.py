"""nb_agents.evals against the real local server: results, resuming, failures, outcomes refused, replays."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import nb_agents as nba
from nb_agents.client import client_for, reset_clients
from nb_agents.errors import EvalError
from nb_agents.evals import (
    EPOCH_KEY,
    EVAL_KEY,
    REPLAY_KEY,
    TASK_KEY,
    compare,
    evaluate,
    exact_match,
    numeric,
    regex,
    save_replays,
)
from nb_agents.testing import FakeModelServer, text_response, tool_use_response
from tests._server import local_server


def square_replays(folder: Path, numbers: list[int], *, delay_ms: int = 0) -> Path:
    """One replay file per task ``sq<n>``: a bash call that squares n, then the answer."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        use = {"content": [{"type": "tool_use", "name": "bash", "input": {"command": f"echo $(({n}*{n}))"}}]}
        usage = {"input_tokens": 100 + n, "output_tokens": 10}
        lines = [
            {"delay_ms": delay_ms, "response": {**use, "usage": usage}},
            {"delay_ms": delay_ms, "response": {"content": f"{n * n}", "usage": usage}},
        ]
        (folder / f"sq{n}.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return folder


def square_tasks(numbers: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"sq{n}" for n in numbers],
            "prompt": [f"What is {n} squared?" for n in numbers],
            "answer": [n * n for n in numbers],
        }
    )


def eval_sessions(name: str) -> list[Any]:
    return [s for s in client_for("local").beta.sessions.list(limit=100) if (s.metadata or {}).get(EVAL_KEY) == name]


def model_requests(session_id: str) -> int:
    events = client_for("local").beta.sessions.events.list(session_id, limit=1000, types=["span.model_request_start"])
    return len(list(events))


def test_results_frame_then_same_call_resumes_without_running_anything(runtime_home: Path, tmp_path: Path) -> None:
    numbers = [2, 3, 5, 7]
    agent = nba.Agent.define(
        {"name": "squarer", "model": f"replay:{square_replays(tmp_path / 'r', numbers)}", "tools": ["bash"]}
    )

    def used_bash(finished: Any) -> bool:
        return any(e["type"] == "agent.tool_use" and e["name"] == "bash" for e in finished.events)

    def length(finished: Any) -> float:
        return float(len(finished.final_message or ""))

    tasks = square_tasks(numbers).assign(level=["easy", "easy", "hard", "hard"])
    scorers = [numeric("answer"), exact_match("answer"), regex(r"^\d+$"), used_bash, length]
    results = evaluate(agent, tasks, scorers=scorers, epochs=2, concurrency=3, price_as="claude-sonnet-4-6")

    assert len(results) == 8 and list(zip(results["task_id"], results["epoch"], strict=True)) == [
        (f"sq{n}", e) for n in numbers for e in (0, 1)
    ]
    assert list(results.columns[:6]) == ["task_id", "epoch", "id", "prompt", "answer", "level"]
    assert results["numeric"].all() and results["exact_match"].all() and results["regex"].all()
    assert results["used_bash"].all() and results["passed"].all()
    assert str(results["passed"].dtype) == "boolean" and str(results["length"].dtype) == "Float64"
    assert results["final_message"].tolist() == [str(n * n) for n in numbers for _ in (0, 1)]
    assert results["model_requests"].tolist() == [2] * 8 and results["error"].isna().all()
    assert results["stop_reason"].eq("end_turn").all() and results["outcome"].isna().all()
    assert results["input_tokens"].tolist() == [2 * (100 + n) for n in numbers for _ in (0, 1)]
    assert results["cost_usd"].iloc[0] == pytest.approx((2 * 102 * 3 + 2 * 10 * 15) / 1e6)
    assert (results["duration_s"] > 0).all() and results["session_id"].is_unique
    name = results.attrs["eval"]
    assert name.startswith("squarer-")
    made = eval_sessions(name)
    assert len(made) == 8
    titles = {s.title for s in made}
    assert f"{name} · sq2 #0" in titles

    again = evaluate(agent, tasks, scorers=scorers, epochs=2, concurrency=3, price_as="claude-sonnet-4-6")
    assert again.attrs["eval"] == name
    pd.testing.assert_frame_equal(again, results)  # the same sessions read again, nothing re-run
    assert len(eval_sessions(name)) == 8
    assert all(model_requests(s.id) == 2 for s in made)

    def shout(finished: Any) -> bool:
        return (finished.final_message or "").isupper()

    rescored = evaluate(agent, tasks, scorers=[*scorers, shout], epochs=2, price_as="claude-sonnet-4-6")
    assert rescored["session_id"].tolist() == results["session_id"].tolist()  # a new scorer re-ran no session
    assert not rescored["shout"].any() and not rescored["passed"].any()

    more = evaluate(agent, tasks, scorers=scorers, epochs=3, concurrency=3, name=name, price_as="claude-sonnet-4-6")
    assert len(more) == 12 and len(eval_sessions(name)) == 12  # only the new epoch ran
    assert set(results["session_id"]) <= set(more["session_id"])


def test_a_session_made_but_never_sent_its_task_gets_it(runtime_home: Path, tmp_path: Path) -> None:
    agent = nba.Agent.define(
        {"name": "sq", "model": f"replay:{square_replays(tmp_path / 'r', [2, 3])}", "tools": ["bash"]}
    )
    env = nba.Environment.default()
    meta = {EVAL_KEY: "half", TASK_KEY: "sq2", EPOCH_KEY: "0", REPLAY_KEY: "sq2"}  # the kernel died after create
    made = client_for("local").beta.sessions.create(
        agent={"type": "agent", "id": agent.id, "version": agent.version}, environment_id=env.id, metadata=meta
    )
    results = evaluate(agent, square_tasks([2, 3]), scorers=[numeric("answer")], name="half")
    assert results["passed"].all() and results["session_id"].iloc[0] == made.id
    assert len(eval_sessions("half")) == 2 and model_requests(made.id) == 2


def test_one_failing_task_never_stops_the_others(runtime_home: Path, tmp_path: Path) -> None:
    folder = square_replays(tmp_path / "r", [2, 3])
    (folder / "sq4.jsonl").write_text('{"content": "16"\n')  # malformed: its session fails
    agent = nba.Agent.define({"name": "flaky", "model": f"replay:{folder}", "tools": ["bash"]})

    def boom(finished: Any) -> bool:
        if finished.task_id == "sq3":
            raise RuntimeError("scorer bug")
        return True

    results = evaluate(agent, square_tasks([2, 3, 4]), scorers=[numeric("answer"), boom], concurrency=1)
    by_task = results.set_index("task_id")
    assert bool(by_task.loc["sq2", "passed"]) is True and pd.isna(by_task.loc["sq2", "error"])
    assert "scorer boom: RuntimeError: scorer bug" in by_task.loc["sq3", "error"]
    assert pd.isna(by_task.loc["sq3", "boom"]) and bool(by_task.loc["sq3", "numeric"]) is True
    assert pd.isna(by_task.loc["sq3", "passed"])  # one check unknown, none failed
    assert by_task.loc["sq4", "stop_reason"] == "retries_exhausted"
    assert "not valid JSON" in by_task.loc["sq4", "error"] and bool(by_task.loc["sq4", "passed"]) is False


def test_after_a_server_crash_the_same_call_finishes_the_evaluation(runtime_home: Path, tmp_path: Path) -> None:
    numbers = list(range(1, 9))
    agent = nba.Agent.define(
        {
            "name": "crashy",
            "model": f"replay:{square_replays(tmp_path / 'r', numbers, delay_ms=400)}",
            "tools": ["bash"],
        }
    )
    tasks = square_tasks(numbers)
    box: dict[str, pd.DataFrame] = {}

    def first_run() -> None:
        box["first"] = evaluate(agent, tasks, scorers=[numeric("answer")], concurrency=2, name="crash", timeout=60)

    thread = threading.Thread(target=first_run)
    thread.start()
    deadline = time.monotonic() + 60
    while sum(s.status == "idle" for s in eval_sessions("crash")) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(json.loads((runtime_home / "server.json").read_text())["pid"], signal.SIGKILL)
    thread.join(90)
    assert not thread.is_alive()
    first = box["first"]
    # the crash is never an exception: the client restarts the server, and any row it cut short says so
    assert len(first) == 8
    done_before = first[first["error"].isna()]

    second = evaluate(agent, tasks, scorers=[numeric("answer")], concurrency=2, name="crash", timeout=60)
    assert len(second) == 8 and second["passed"].all(), second[["task_id", "error"]]
    made = eval_sessions("crash")
    assert len(made) == 8 and {s.id for s in made} == set(second["session_id"])
    kept = second.set_index("task_id").loc[done_before["task_id"], "session_id"]
    assert kept.tolist() == done_before["session_id"].tolist()  # finished sessions were read, not re-run


def test_a_refused_setting_fails_fast_before_any_session(runtime_home: Path, tmp_path: Path) -> None:
    agent = nba.Agent.define({"name": "graded", "model": f"replay:{square_replays(tmp_path / 'r', [2, 3])}"})
    with pytest.raises(EvalError) as caught:
        evaluate(agent, square_tasks([2, 3]), rubric="- The answer is a number.\n", concurrency=2)
    message = str(caught.value)
    assert "refused this evaluation's first session" in message
    assert "outcomes (user.define_outcome) is not available in the local runtime" in message
    assert list(client_for("local").beta.sessions.list()) == []  # the refused one was deleted again


def test_replay_directory_needs_a_file_per_task(runtime_home: Path, tmp_path: Path) -> None:
    agent = nba.Agent.define({"name": "partial", "model": f"replay:{square_replays(tmp_path / 'r', [2])}"})
    with pytest.raises(EvalError, match=r"has no file for sq3\.0\.jsonl, sq3\.1\.jsonl"):
        evaluate(agent, square_tasks([2, 3]), epochs=2)
    with pytest.raises(EvalError, match="cannot name a replay file"):
        evaluate(agent, [{"id": "a/b", "prompt": "x"}])
    # a session with no nb_agents.replay metadata answers from <directory>/<session id>.jsonl
    session = nba.Session.start(agent, "hi")
    session.close()
    client, errors = client_for("local"), []
    deadline = time.monotonic() + 30
    while not errors and time.monotonic() < deadline:
        time.sleep(0.1)
        errors = list(client.beta.sessions.events.list(session.id, types=["session.error"]))
    assert f"replay file not found: {tmp_path / 'r' / session.id}.jsonl" in errors[0].error.message


@pytest.mark.parametrize(
    ("tasks", "kwargs", "words"),
    [
        ([], {}, "there are no tasks"),
        ("prompt", {}, "must be a pandas DataFrame or a list of dicts"),
        ([{"question": "hi"}], {}, "task 0 has no prompt"),
        ([{"id": "a", "prompt": "x"}, {"id": "a", "prompt": "y"}], {}, "ids must be unique"),
        ([{"prompt": "x", "files": ["data.csv"]}], {}, "task files are not available yet"),
        ([{"prompt": "x", "error": "?"}], {}, "clash with result columns"),
        ([{"prompt": "x", "rubric": ""}], {}, "a rubric is a non-empty markdown string"),
        ([{"prompt": "x"}], {"scorers": [lambda f: True]}, "has no name"),
        ([{"prompt": "x"}], {"scorers": [numeric(), numeric()]}, "two scorers are named 'numeric'"),
        ([{"prompt": "x"}], {"epochs": 0}, "epochs must be a positive integer"),
        ([{"prompt": "x"}], {"concurrency": 0}, "concurrency must be a positive integer"),
        ([{"prompt": "x"}], {}, "agent must be an nb_agents Agent"),
    ],
)
def test_mistakes_say_what_to_do(tasks: Any, kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(EvalError, match=words):
        evaluate("not an agent", tasks, **kwargs)  # type: ignore[arg-type]


def test_budget_must_be_positive(runtime_home: Path, tmp_path: Path) -> None:
    agent = nba.Agent.define({"name": "b", "model": f"replay:{square_replays(tmp_path / 'r', [2])}"})
    with pytest.raises(EvalError, match="positive number of USD per task"):
        evaluate(agent, square_tasks([2]), budget=-1)
    assert list(client_for("local").beta.sessions.list()) == []


def test_budget_travels_to_each_session(runtime_home: Path, tmp_path: Path) -> None:
    agent = nba.Agent.define({"name": "b", "model": f"replay:{square_replays(tmp_path / 'r', [2])}", "tools": ["bash"]})
    results = evaluate(agent, square_tasks([2]), budget=0.25)
    session = client_for("local").beta.sessions.retrieve(results["session_id"].iloc[0])
    assert session.budget is not None and session.budget.max_list_cost.amount == "25"


def _squares_model(request: dict[str, Any]) -> dict[str, Any]:
    """A fake Claude that squares the number in the prompt with a bash call, then answers."""
    messages = request["messages"]
    number = int(messages[0]["content"][0]["text"].split()[2])
    if sum(m["role"] == "assistant" for m in messages) == 0:
        return tool_use_response([("bash", {"command": f"echo $(({number}*{number}))"})], usage={"input_tokens": 50})
    return text_response(str(number * number), usage={"input_tokens": 80, "output_tokens": 3})


def test_recorded_evaluation_replays_offline_to_the_same_results(
    runtime_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    numbers = [3, 4, 6]
    tasks = square_tasks(numbers)
    recordings = tmp_path / "recordings"
    with (
        FakeModelServer(_squares_model) as model,
        local_server(runtime_home, model.base_url, args=("--record", str(recordings))),
    ):
        reset_clients()  # the local backend is now this recording server (its server.json)
        live_agent = nba.Agent.define({"name": "live", "model": "claude-sonnet-4-6", "tools": ["bash"]})
        live = evaluate(live_agent, tasks, scorers=[numeric("answer")], epochs=2, concurrency=3)
        assert live["passed"].all() and len(model.requests) == 12
        replays = save_replays(live, recordings, tmp_path / "replays")
        assert sorted(p.name for p in replays) == sorted(f"sq{n}.{e}.jsonl" for n in numbers for e in (0, 1))
        offline = nba.Agent.define({"name": "offline", "model": f"replay:{tmp_path / 'replays'}", "tools": ["bash"]})
        replayed = evaluate(
            offline, tasks, scorers=[numeric("answer")], epochs=2, concurrency=3, price_as="claude-sonnet-4-6"
        )
        assert len(model.requests) == 12  # the replay asked no model
    assert replayed.attrs["eval"] != live.attrs["eval"]
    varying = ["session_id", "duration_s"]
    pd.testing.assert_frame_equal(replayed.drop(columns=varying), live.drop(columns=varying))
    with pytest.raises(EvalError, match="no recording in"):
        save_replays(live, tmp_path / "nowhere", tmp_path / "x")


def test_hosted_backend_against_a_stand_in(runtime_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeModelServer(_squares_model) as model, local_server(tmp_path / "hosted-home", model.base_url) as stand_in:
        monkeypatch.setenv("ANTHROPIC_API_KEY", stand_in.key)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", stand_in.url)
        reset_clients()
        agent = nba.Agent.define({"name": "remote", "model": "claude-sonnet-4-6", "tools": ["bash"]}, backend="hosted")
        results = evaluate(agent, square_tasks([5, 9]), scorers=[numeric("answer")], concurrency=2)
        assert results["passed"].all() and results["final_message"].tolist() == ["25", "81"]
        hosted = client_for("hosted").beta.sessions.list()
        assert {s.id for s in hosted} == set(results["session_id"])
        assert not (runtime_home / "server.json").exists()  # no local server was started
        again = evaluate(agent, square_tasks([5, 9]), scorers=[numeric("answer")], concurrency=2)
        assert again["session_id"].tolist() == results["session_id"].tolist() and len(model.requests) == 4


def _frame(name: str, values: dict[str, list[bool]]) -> pd.DataFrame:
    rows = [{"task_id": t, "epoch": e, "passed": v} for t, vs in values.items() for e, v in enumerate(vs)]
    out = pd.DataFrame(rows)
    out.attrs["agent"] = name
    return out


def test_compare_pairs_tasks_with_a_bootstrap_interval() -> None:
    a = _frame("quick", {"t1": [True, False], "t2": [False, False], "t3": [True, True], "t4": [False, True]})
    b = _frame("careful", {"t1": [True, True], "t2": [True, False], "t3": [True, True], "t5": [True, True]})
    result = compare(a, b)
    assert result.labels == ("quick", "careful") and result.n_tasks == 3  # t4, t5 are not in both
    assert result.mean_a == pytest.approx(0.5) and result.mean_b == pytest.approx(5 / 6)
    assert result.difference == pytest.approx(1 / 3)
    assert result.ci[0] <= result.difference <= result.ci[1] and result.ci[0] >= 0  # no task got worse
    assert (result.wins, result.losses, result.ties) == (2, 0, 1)
    assert result.tasks.loc["t2"].tolist() == [0.0, 0.5, 0.5, "careful"]
    assert result.tasks.loc["t3", "winner"] == "tie"
    assert compare(a, b).ci == result.ci  # seeded
    assert "careful vs quick on passed, 3 tasks" in repr(result)
    summary = result.summary()
    assert summary.loc[0, "wins"] == 2 and list(summary.columns[:4]) == ["metric", "tasks", "quick", "careful"]
    figure = result.plot()
    assert figure.data[0].type == "bar" and list(figure.data[0].x) == ["t3", "t1", "t2"]
    with pytest.raises(EvalError, match="no 'score' column"):
        compare(a, b, metric="score")
    with pytest.raises(EvalError, match="no task has a 'passed' value in both"):
        compare(a, _frame("other", {"zz": [True]}))
