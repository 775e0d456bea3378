"""The parts of nb_agents.evals that need no runtime: scorers, results rows, the tally and its board."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from nb_agents.errors import EvalError
from nb_agents.evals import Finished, exact_match, model_graded, numeric, regex, settled
from nb_agents.evals._results import build_row
from nb_agents.evals._tally import Tally
from nb_agents.evals._tasks import read_tasks
from nb_agents.testing import FakeModelServer, text_response


def done(message: str | None, **task: Any) -> Finished:
    return Finished("t1", 0, {"prompt": "q", **task}, "sesn_1", [], message)


@pytest.mark.parametrize(
    ("scorer", "message", "task", "expected"),
    [
        (exact_match("answer"), "  North\n", {"answer": "north"}, True),
        (exact_match("answer", ignore_case=False), "North", {"answer": "north"}, False),
        (exact_match("answer"), None, {"answer": "north"}, False),
        (regex(r"\bnorth\b"), "It is North.", {}, True),
        (regex(column="pattern"), "total: 660", {"pattern": r"^total: \d+$"}, True),
        (regex(column="pattern"), "total: n/a", {"pattern": r"^total: \d+$"}, False),
        (numeric("total"), "North 255, in all 1,250.", {"total": 1250}, True),
        (numeric("total", tolerance=0.5), "about 659.6", {"total": 660}, True),
        (numeric("total", tolerance=0.1), "about 659.6", {"total": 660}, False),
        (numeric("total", tolerance=0.01, relative=True), "-101", {"total": -100}, True),
        (numeric("total"), "no number here", {"total": 1}, False),
        (numeric("total"), "2.5e3", {"total": 2500}, True),
    ],
)
def test_provided_scorers(scorer: Any, message: str | None, task: dict[str, Any], expected: bool) -> None:
    assert scorer(done(message, **task)) is expected


def test_scorer_mistakes() -> None:
    with pytest.raises(EvalError, match="needs a 'answer' column"):
        exact_match("answer")(done("x"))
    with pytest.raises(EvalError, match="give a pattern, or column="):
        regex()
    with pytest.raises(EvalError, match="tolerance must be"):
        numeric(tolerance=-1)
    with pytest.raises(EvalError, match="give criteria, or column="):
        model_graded()


def test_model_graded_asks_a_messages_endpoint() -> None:
    def grade(request: dict[str, Any]) -> dict[str, Any]:
        prompt = request["messages"][0]["content"]
        assert "<criteria>\nNames north.\n</criteria>" in prompt and "<task>\nq\n</task>" in prompt
        verdict = "PASS" if "north" in prompt.split("<answer>")[1] else "FAIL"
        return text_response(f"The answer {'names' if verdict == 'PASS' else 'misses'} north.\nGRADE: {verdict}")

    with FakeModelServer(grade) as server:
        client = anthropic.Anthropic(base_url=server.base_url, api_key="test", max_retries=0)
        scorer = model_graded("Names north.", client=client, model="claude-haiku-4-5")
        assert scorer.__name__ == "model_graded"
        assert scorer(done("It is north.")) is True
        assert scorer(done("It is south.")) is False
        assert server.requests[0].body["model"] == "claude-haiku-4-5"
        assert "GRADE: PASS" in server.requests[0].body["system"]
    with FakeModelServer([text_response("Looks fine to me.")]) as server:
        client = anthropic.Anthropic(base_url=server.base_url, api_key="test", max_retries=0)
        with pytest.raises(EvalError, match="does not end with 'GRADE: PASS'"):
            model_graded(column="criteria", client=client)(done("x", criteria="anything"))


def test_model_graded_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeModelServer([text_response("GRADE: PASS")]) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        assert model_graded("ok", name="judge")(done("x")) is True
        assert len(server.requests) == 1


def ev(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "id": f"sevt_{kind}", "processed_at": "2026-12-04T10:00:00Z", **fields}


def test_settled_waits_for_the_last_idle_after_everything_was_taken() -> None:
    sent = ev("user.message", processed_at=None)
    assert settled([]) is None
    assert settled([sent]) is None
    running = [ev("user.message"), ev("session.status_running")]
    assert settled(running) is None
    idle = ev("session.status_idle", stop_reason={"type": "end_turn"})
    assert settled([*running, idle]) == "end_turn"
    assert settled([*running, idle, sent]) is None  # a message not yet taken
    assert settled([*running, idle, ev("session.status_running")]) is None
    assert settled([*running, ev("session.status_terminated")]) == "terminated"


def test_a_row_with_an_outcome_counts_the_grader() -> None:
    (task,) = read_tasks([{"id": "t1", "prompt": "Write a report", "rubric": "- has a title"}])
    events = [
        ev("user.define_outcome", processed_at="2026-12-04T10:00:00Z"),
        ev("session.status_running"),
        ev("span.model_request_start"),
        ev("span.model_request_end", model_usage={"input_tokens": 1000, "output_tokens": 100}),
        ev("agent.message", content=[{"type": "text", "text": "Done: report.md"}]),
        ev("span.outcome_evaluation_end", result="satisfied", usage={"input_tokens": 500, "output_tokens": 50}),
        ev(
            "session.error",
            error={"type": "unknown_error", "message": "process sandbox", "retry_status": {"type": "retrying"}},
        ),
        ev("session.status_idle", stop_reason={"type": "end_turn"}, processed_at="2026-12-04T10:00:12.5Z"),
    ]
    outcome = {"result": "satisfied", "explanation": "All criteria met.", "iteration": 1}
    row = build_row(task, 0, "sesn_1", events, "end_turn", outcome=outcome, scorers={}, model="claude-sonnet-4-6")
    assert (row["outcome"], row["explanation"], row["iterations"]) == ("satisfied", "All criteria met.", 2)
    assert row["passed"] is True and row["error"] is None  # a retrying notice is not an error
    assert (row["input_tokens"], row["output_tokens"]) == (1500, 150)
    assert row["cost_usd"] == pytest.approx((1500 * 3 + 150 * 15) / 1e6)
    assert row["duration_s"] == pytest.approx(12.5) and row["final_message"] == "Done: report.md"
    failed = build_row(task, 0, "sesn_1", events, "end_turn", outcome=None, scorers={}, model="replay:x")
    assert failed["passed"] is None and failed["cost_usd"] == 0.0  # no verdict; a replay costs nothing
    waiting = build_row(task, 0, "sesn_1", events, "requires_action", outcome=None, scorers={}, model=None)
    assert "always_allow" in waiting["error"]


def test_tally_and_progress_board() -> None:
    tally = Tally("demo", [("a", 0), ("b", 0), ("c", 0)], budget_usd=0.3, model="claude-sonnet-4-6")
    tally.finished({"task_id": "a", "epoch": 0, "passed": True, "cost_usd": 0.01, "session_id": "sesn_a"})
    tally.finished({"task_id": "b", "epoch": 0, "passed": False, "cost_usd": float("nan"), "error": "boom"})
    snap = tally.snapshot()
    assert (snap["done"], snap["failed"], snap["queued"], snap["running"]) == (1, 1, 1, 0)
    assert snap["pass_rate"] == 0.5 and snap["spend_usd"] == pytest.approx(0.01) and snap["budget_usd"] == 0.3
    assert snap["rows"][0] == {"task_id": "a", "epoch": 0, "state": "done", "session_id": "sesn_a", "passed": True}

    from nb_agents.evals._progress import EvalProgress

    board = EvalProgress(tally)
    assert board.summary["done"] == 1 and board.panel.children[0] is board
    tally.finished({"task_id": "c", "epoch": 0, "passed": True, "cost_usd": 0.02})
    board.refresh()
    assert board.summary["done"] == 2 and board.summary["queued"] == 0
    assert repr(board) == "EvalProgress(demo: 2 done, 0 running, 1 failed of 3)"


def test_docstring_examples() -> None:
    import doctest

    from nb_agents.evals import _scorers

    failures, tried = doctest.testmod(_scorers, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0 and tried >= 4


def test_importing_evals_stays_light() -> None:
    import subprocess
    import sys

    heavy = "{'pandas', 'anthropic', 'IPython', 'anywidget', 'plotly'}"
    code = f"import sys, nb_agents.evals; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
