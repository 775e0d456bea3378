"""The magics in a real kernel: define, start, follow; UsageErrors; a session outlives its kernel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._kernel import Kernel


@pytest.fixture()
def kernel(runtime_home: Path) -> Iterator[Kernel]:
    k = Kernel({"NB_AGENTS_HOME": str(runtime_home), "ANTHROPIC_API_KEY": ""})
    try:
        yield k
    finally:
        k.shutdown()


def replay(path: Path, *responses: object) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in responses) + "\n")
    return path


def test_define_start_and_follow(kernel: Kernel, tmp_path: Path) -> None:
    script = replay(
        tmp_path / "r.jsonl",
        {"content": [{"type": "tool_use", "name": "bash", "input": {"command": "echo from-the-kernel"}}]},
        {"content": "All done."},
    )
    loaded = kernel.run("%load_ext nb_agents")
    assert loaded.status == "ok"
    bundle = "".join(loaded.data("text/html"))
    assert "_itables_" in bundle and "https://" not in bundle.split("<script")[1][:500]  # the bundle is inline
    agent = kernel.run(f"%%agent analyst\nmodel: replay:{script}\ntools: [bash]\n")
    assert agent.status == "ok", agent.text
    assert "Agent(name='analyst'" in agent.text and "version=1" in agent.text
    again = kernel.run(f"%%agent analyst\nmodel: replay:{script}\ntools: [bash]\n")
    assert "version=1" in again.text
    env = kernel.run("%%environment box\nnetworking: none\n")
    assert "Environment(name='box'" in env.text
    started = kernel.run('%%session analyst --env box --as run --title "first run"\nSay hello')
    assert started.status == "ok", started.text
    # the cell returned at once; the session runs in the background
    waited = kernel.run("print(run.wait(timeout=30)); print(run.status)")
    assert "{'type': 'end_turn'}" in waited.text and "idle" in waited.text
    events = kernel.run("print([e['type'] for e in run.events if e['type'].startswith('agent.')])")
    assert "['agent.tool_use', 'agent.tool_result', 'agent.message']" in events.text
    assert kernel.run("print(run.title)").text.strip() == "first run"
    listing = kernel.run("%sessions")
    assert "first run" in listing.text
    table = "".join(listing.data("text/html"))
    assert "new ITable(" in table and "first run" in table  # an interactive table, with a static preview
    columns = kernel.run("print(list(_.columns))").text  # the value %sessions returned
    assert "'cost_usd'" in columns and "'agent_id'" not in columns  # the compact default set
    assert "'agent_id'" in kernel.run("every = %sessions --all\nprint(list(every.columns))").text
    calls = kernel.run("run.tool_calls_df()[['name', 'duration']]")
    assert "duration (s)" in "".join(calls.data("text/html"))  # durations in seconds
    plain = kernel.run("import pandas as pd; pd.DataFrame({'a': [1]})")
    assert "ITable" not in "".join(plain.data("text/html"))  # other frames keep pandas' HTML
    agents = kernel.run("%agents")
    assert "analyst" in agents.text


def test_session_with_a_budget(kernel: Kernel, tmp_path: Path) -> None:
    recorded = {"model": "claude-sonnet-4-6", "usage": {"input_tokens": 10_000, "output_tokens": 0}}
    script = replay(tmp_path / "r.jsonl", {"content": "First.", **recorded}, {"content": "Second.", **recorded})
    kernel.run("%load_ext nb_agents")
    assert kernel.run(f"%%agent thrifty\nmodel: replay:{script}\ntools: []\n").status == "ok"
    started = kernel.run("%%session thrifty --budget 0.02 --as run\nHi")
    assert started.status == "ok", started.text
    waited = kernel.run("print(run.wait(timeout=30)); print(run.budget, run.spend)")
    assert "{'type': 'end_turn'}" in waited.text and "0.02 0.03" in waited.text, waited.text
    again = kernel.run("run.send('more'); print(run.wait(timeout=30))")
    assert "{'type': 'budget_reached'}" in again.text, again.text
    raised = kernel.run("run.set_budget(1.00); print(run.budget); run.send('go on'); print(run.wait(timeout=30))")
    assert "1.0" in raised.text and "{'type': 'end_turn'}" in raised.text, raised.text
    assert "0.06" in kernel.run("import time; time.sleep(0.5); print(run.spend)").text


@pytest.mark.parametrize(
    ("cell", "words"),
    [
        ("%%agent bad\nmodel: m\ntools: [bsh]\n", "unknown tool 'bsh'"),
        ("%%agent bad\nmodel: m\npermisions: {bash: ask}\n", "did you mean 'permissions'"),
        ("%%agent bad\nmodel: [unclosed\n", "line 2"),
        ("%%agent 1bad\nmodel: m\n", "must be a Python identifier"),
        ("%%session nobody\nhi", "no agent named 'nobody'"),
        ("%%session\nhi", "arguments are required"),
        ("%attach sesn_missing", "no session with id 'sesn_missing'"),
        ("%agents --backend cloud", "use local or hosted"),
        ("%%session analyst --budget ten\nhi", "--budget ten: give US dollars in whole cents"),
        ("%%session analyst --budget 0.001\nhi", "e.g. --budget 0.50"),
        ("%%agent remote --backend hosted\nmodel: claude-sonnet-4-6\n", "ANTHROPIC_API_KEY"),
    ],
)
def test_mistakes_are_usage_errors_without_traceback(kernel: Kernel, cell: str, words: str) -> None:
    kernel.run("%load_ext nb_agents")
    result = kernel.run(cell)
    assert result.status == "error"
    error = result.error
    assert error is not None and error["ename"] == "UsageError", result.text
    assert words in error["evalue"], error["evalue"]
    assert not any("Traceback" in line for line in error["traceback"])  # one line, no stack
    assert "UsageError: " + error["evalue"] in result.text  # what the user sees


def test_session_outlives_its_kernel(runtime_home: Path, tmp_path: Path) -> None:
    script = replay(
        tmp_path / "slow.jsonl",
        {
            "delay_ms": 1500,
            "response": {
                "content": [{"type": "tool_use", "name": "bash", "input": {"command": "sleep 1; echo survived"}}]
            },
        },
        {"delay_ms": 500, "response": {"content": "Finished without the kernel."}},
    )
    first = Kernel({"NB_AGENTS_HOME": str(runtime_home)})
    try:
        first.run("%load_ext nb_agents")
        first.run(f"%%agent slow\nmodel: replay:{script}\ntools: [bash]\n")
        first.run("%%session slow\nstart")
        session_id = first.run("print(session.id)").text.strip()
        assert session_id.startswith("sesn_")
    finally:
        first.shutdown()  # the kernel dies mid-session
    second = Kernel({"NB_AGENTS_HOME": str(runtime_home)})
    try:
        second.run("%load_ext nb_agents")
        attached = second.run(f"%attach {session_id} --as again")
        assert attached.status == "ok", attached.text
        done = second.run(
            "print(again.wait(timeout=30))\n"
            "print([e['content'][0]['text'] for e in again.events if e['type'] == 'agent.message'])"
        )
        assert "end_turn" in done.text and "Finished without the kernel." in done.text
        result = second.run(
            "print([e['content'][0]['text'].strip() for e in again.events if e['type'] == 'agent.tool_result'])"
        )
        assert "survived" in result.text
    finally:
        second.shutdown()
