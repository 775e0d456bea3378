"""Evaluation throughput: ``evaluate`` over many tasks against a fake model with a fixed latency.

Runs ``nb-agents serve`` as a subprocess (process sandbox) whose brain is a FakeModelServer in
its own process that answers every request after a fixed latency. Each task is one session with
one model request (a text answer, no tool call), scored by ``exact_match``. For each
concurrency it runs a fresh evaluation of all tasks and reports the wall time, and the
per-task overhead over the model's own time:

    overhead per task = wall × concurrency / tasks − latency

that is, what a task costs beyond the model's answer at that concurrency: creating the session,
sending the task, the harness, following the log, scoring, and waiting for a worker. The
``in server`` column is the part the server accounts for: the mean of ``duration_s`` (from the
server taking the task to the session's idle, by the server's own timestamps) minus the latency.

    .venv/bin/python bench/eval_bench.py [--tasks 200] [--latency-ms 200] [--concurrency 1 8 32]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests._server import LocalServer

_MODEL_PROCESS = """
import sys
from nb_agents.testing import FakeModelServer, text_response
with FakeModelServer(lambda _: text_response("42"), latency_ms=float(sys.argv[1])) as srv:
    print(srv.base_url, flush=True)
    sys.stdin.read()
"""


def _model_server(latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    """A FakeModelServer in its own process, so it does not share the client's GIL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _MODEL_PROCESS, str(latency_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="eval-bench-"))
    os.environ["NB_AGENTS_HOME"] = str(state)
    os.environ["NB_AGENTS_SANDBOX"] = "process"
    model, url = _model_server(args.latency_ms)
    server = LocalServer(state, url, extra_env={"NB_AGENTS_SANDBOX": "process"}).start()
    try:
        import pandas as pd

        import nb_agents as nba
        from nb_agents.client import reset_clients
        from nb_agents.evals import evaluate, exact_match

        reset_clients()  # the local backend is the server above (its server.json is in NB_AGENTS_HOME)
        agent = nba.Agent.define({"name": "bench", "model": "claude-sonnet-4-6"})
        tasks = pd.DataFrame(
            {"prompt": [f"task {i}: answer 42" for i in range(args.tasks)], "answer": ["42"] * args.tasks}
        )
        latency = args.latency_ms / 1000
        print(f"{args.tasks} tasks, one model request each, model latency {args.latency_ms:g} ms")
        head = f"{'concurrency':>11} {'wall s':>8} {'tasks/s':>8} {'ideal s':>8} {'overhead/task ms':>17}"
        print(f"{head} {'in server ms':>13} {'passed':>7}")
        for concurrency in args.concurrency:
            started = time.perf_counter()
            results = evaluate(
                agent,
                tasks,
                scorers=[exact_match("answer")],
                concurrency=concurrency,
                name=f"bench-c{concurrency}-{time.time_ns()}",
                progress=False,
            )
            wall = time.perf_counter() - started
            ideal = args.tasks * latency / concurrency
            overhead = wall * concurrency / args.tasks - latency
            passed = int(results["passed"].sum())
            in_server = (results["duration_s"].mean() - latency) * 1000
            print(
                f"{concurrency:>11} {wall:>8.2f} {args.tasks / wall:>8.1f} {ideal:>8.2f} {overhead * 1000:>17.0f} "
                f"{in_server:>13.0f} {passed:>4}/{args.tasks}"
            )
            assert results["error"].isna().all(), results["error"].dropna().head()
    finally:
        server.stop()
        assert model.stdin is not None
        model.stdin.close()
        model.wait(10)


if __name__ == "__main__":
    main()
