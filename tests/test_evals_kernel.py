"""Evaluations in real kernels: kill the kernel mid-run, run the same cell again, nothing runs twice."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from nb_agents.client import client_for
from nb_agents.evals import EPOCH_KEY, EVAL_KEY, TASK_KEY
from tests._kernel import Kernel

pytestmark = pytest.mark.slow


def replays(folder: Path, wrong: set[int], delay_ms: int) -> Path:
    folder.mkdir(parents=True)
    for n in range(1, 21):
        answer = n * n + (1 if n in wrong else 0)
        lines = [
            {
                "delay_ms": delay_ms,
                "response": {"content": [{"type": "tool_use", "name": "bash", "input": {"command": f"echo {n}"}}]},
            },
            {"delay_ms": delay_ms, "response": {"content": f"The answer is {answer}."}},
        ]
        (folder / f"t{n}.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return folder


def setup(good: Path, bad: Path) -> str:
    return f"""
%load_ext nb_agents
import json, nb_agents as nba, pandas as pd
from nb_agents.evals import compare, numeric
squarer = nba.Agent.define({{"name": "squarer", "model": "replay:{good}", "tools": ["bash"]}})
sloppy = nba.Agent.define({{"name": "sloppy", "model": "replay:{bad}", "tools": ["bash"]}})
numbers = range(1, 21)
tasks = pd.DataFrame({{"id": [f"t{{n}}" for n in numbers], "prompt": [f"What is {{n}} squared?" for n in numbers],
                      "answer": [n * n for n in numbers]}})
checks = [numeric("answer")]
"""


EVAL_CELL = "%eval squarer tasks --scorers checks --epochs 2 --concurrency 4"


def ours() -> list[object]:
    client = client_for("local")
    return [
        s for s in client.beta.sessions.list(limit=100) if (s.metadata or {}).get(EVAL_KEY, "").startswith("squarer-")
    ]


def test_killed_kernel_resumes_the_evaluation_and_compares_two_agents(runtime_home: Path, tmp_path: Path) -> None:
    good = replays(tmp_path / "good", set(), delay_ms=250)
    bad = replays(tmp_path / "bad", {2, 3, 5, 7, 11, 13}, delay_ms=0)
    env = {"NB_AGENTS_HOME": str(runtime_home), "ANTHROPIC_API_KEY": ""}
    first = Kernel(env)
    try:
        assert first.run(setup(good, bad)).status == "ok"
        first.kc.execute(EVAL_CELL)  # do not wait: kill the kernel while the evaluation runs
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            made = ours()
            if sum(s.status == "idle" for s in made) >= 8:
                break
            time.sleep(0.2)
        before = {s.id for s in ours()}
    finally:
        first.shutdown()
    assert 8 <= len(before) < 40, f"the kernel was not killed midway: {len(before)} sessions"

    second = Kernel(env)
    try:
        assert second.run(setup(good, bad)).status == "ok"
        done = second.run(EVAL_CELL, timeout=240)
        assert done.status == "ok", done.text
        shown = second.run(
            "print(len(results), int(results['passed'].sum()), results['error'].isna().all())\n"
            "print(json.dumps(sorted(results['session_id'])))\n"
            "print(sorted(zip(results['task_id'], results['epoch'])) == sorted((f't{n}', e) "
            "for n in range(1, 21) for e in (0, 1)))",
            timeout=30,
        )
        assert shown.status == "ok", shown.text
        lines = shown.text.strip().splitlines()
        assert lines[0] == "40 40 True" and lines[2] == "True", shown.text
        final_ids = set(json.loads(lines[1]))

        made = ours()
        keys = [((s.metadata or {})[TASK_KEY], (s.metadata or {})[EPOCH_KEY]) for s in made]
        assert len(made) == 40 and len(set(keys)) == 40  # every task × epoch exactly once
        assert {s.id for s in made} == final_ids and before <= final_ids  # the first kernel's sessions were kept
        client = client_for("local")
        for session in made:
            starts = client.beta.sessions.events.list(session.id, limit=100, types=["span.model_request_start"])
            assert len(list(starts)) == 2, session.id  # each session asked its model exactly twice

        compared = second.run(
            "%eval sloppy tasks --scorers checks --epochs 2 --concurrency 8 --as sloppy_results", timeout=240
        )
        assert compared.status == "ok", compared.text
        result = second.run(
            "c = compare(sloppy_results, results); print(c); print(c.tasks['winner'].value_counts().to_dict())"
        )
        assert "squarer vs sloppy on passed, 20 tasks: 1.000 vs 0.700, difference +0.300" in result.text, result.text
        assert "6 wins, 0 losses, 14 ties" in result.text
        for cell, words in [
            ("%eval squarer nothing", "no variable 'nothing' holds tasks"),
            ("%eval nobody tasks", "no agent named 'nobody'"),
            (
                "%%eval squarer tasks\n- The answer is a number.",
                "outcomes (user.define_outcome) is not available",
            ),
        ]:
            wrong = second.run(cell)
            assert wrong.error is not None and wrong.error["ename"] == "UsageError", wrong.text
            assert words in wrong.error["evalue"], wrong.error["evalue"]
    finally:
        second.shutdown()
