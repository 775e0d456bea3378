"""Harness overhead of the local runtime: ``events.send`` → ``span.model_request_start``.

Runs ``nb-agents serve`` as a subprocess against a FakeModelServer with a fixed latency and
drives it with the official SDK, as a notebook would. For each turn it measures, on the client,
the time from just before ``events.send`` to the arrival of ``span.model_request_start`` on the
already-open stream (so it includes HTTP, the durable appends and SSE delivery), and the whole
turn. The server's CPU time (user + system, from /proc) over all turns gives the CPU per turn.

    .venv/bin/python bench/harness_bench.py [--turns 200] [--latency-ms 50]

Target: P50 of send → model request under 10 ms. The client-side figure includes the SDK,
HTTP and SSE parsing in the bench process (which also hosts the fake model); the server-side
figure is the harness alone: from the stored append of the user.message to the stored append
of the span.model_request_start.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nb_agents.events import parse_time
from nb_agents.store import Store
from tests._server import LocalServer, setup_agent, user_message

_MODEL_PROCESS = """
import sys, time
from nb_agents.testing import FakeModelServer, text_response
with FakeModelServer(lambda _: text_response("ok"), latency_ms=float(sys.argv[1])) as srv:
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


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _server_side(state_dir: Path, session_id: str) -> list[float]:
    """Per turn: the user.message's durable append → the span.model_request_start's append."""
    out: list[float] = []
    with Store(state_dir / "nb_agents.sqlite3") as store:
        sent = None
        for event in store.read(session_id):
            if event.type == "user.message":
                sent = parse_time(event.created_at or "")
            elif event.type == "span.model_request_start" and sent is not None:
                out.append((parse_time(event.created_at or "") - sent).total_seconds() * 1000)
                sent = None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="fixed model latency")
    args = parser.parse_args()

    model, model_url = _model_server(args.latency_ms)
    with tempfile.TemporaryDirectory() as tmp:
        srv = LocalServer(Path(tmp), model_url).start()
        try:
            client = srv.client()
            agent_id, env_id = setup_agent(client)
            session_id = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
            to_start: list[float] = []
            turns: list[float] = []
            assert srv.proc is not None
            with client.beta.sessions.events.stream(session_id) as stream:
                events = iter(stream)
                for i in range(args.turns + 10):
                    t0 = time.perf_counter()
                    client.beta.sessions.events.send(session_id, events=[user_message(f"turn {i}")])  # type: ignore[list-item]
                    started = 0.0
                    for event in events:
                        if event.type == "span.model_request_start" and not started:
                            started = time.perf_counter()
                        if event.type == "session.status_idle":
                            break
                    if i == 10:
                        cpu0 = _cpu_seconds(srv.proc.pid)
                    if i >= 10:  # warm-up excluded
                        to_start.append((started - t0) * 1000)
                        turns.append((time.perf_counter() - t0) * 1000)
            cpu = (_cpu_seconds(srv.proc.pid) - cpu0) / args.turns * 1000
        finally:
            srv.stop()
            model.communicate("")
        server_side = _server_side(Path(tmp), session_id)[10:]

    print(f"harness overhead over {args.turns} turns (model latency fixed at {args.latency_ms:.0f} ms)")
    rows = [
        ("send -> span.model_request_start:", to_start),
        ("same, inside the server:", server_side),
        ("whole turn (send -> idle):", turns),
    ]
    for label, values in rows:
        print(f"  {label:<34} P50 {_pct(values, 0.5):6.2f} ms   P95 {_pct(values, 0.95):6.2f} ms")
    print(f"  turn minus model latency:         P50 {statistics.median(turns) - args.latency_ms:6.2f} ms")
    print(f"  server CPU per turn:              {cpu:6.2f} ms")
    verdict = "met" if _pct(to_start, 0.5) < 10 else "NOT met"
    print(f"  target P50 send -> model request < 10 ms (client-observed): {verdict}")


if __name__ == "__main__":
    main()
