"""Build the analysis DataFrames from 1,000,000 realistic events and time them.

Usage:
    .venv/bin/python bench/analysis_bench.py [--n N] [--sessions S] [--repeat R] [--seed SEED]

The events are generated in memory as plain wire dicts (the shape ``json.loads`` of
``GET /v1/sessions/{id}/events`` gives): turns of a coding agent, each a ``user.message``, a
few model requests (``span.model_request_start``/``_end`` with usage), thinking, tool uses
(mostly ``bash``/``read``/``edit``, some ``always_ask`` with confirmations, some custom and MCP
tools), their results, answers, occasional retried ``session.error``s, and ``session.status_*``
events. ``processed_at`` strings are RFC 3339 with microseconds and ``Z``.

Printed: the mix of event types; for each of ``events_df``, ``tool_calls_df`` and
``model_requests_df`` the best wall-clock time and the best CPU time of R runs; whether
``events_df`` meets the target (under 2 s wall-clock per 1,000,000 events); and the load
average before and after, since a busy machine slows the wall-clock figures. Generating the
events is not timed. The exit status is 1 if the target is missed.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nb_agents.analysis import events_df, model_requests_df, tool_calls_df

TARGET_S = 2.0
TOOLS = [
    ("bash", {"command": "pytest -q tests/test_io.py"}),
    ("bash", {"command": "ls -la data/"}),
    ("read", {"file_path": "src/pkg/io.py"}),
    ("edit", {"file_path": "src/pkg/io.py", "old_string": "return x", "new_string": "return x + 1"}),
    ("grep", {"pattern": "def load", "path": "src"}),
    ("glob", {"pattern": "**/*.csv"}),
    ("write", {"file_path": "notes.md", "content": "# notes\n"}),
]
OUTPUT = "..F.....\n1 failed, 7 passed in 0.42s\n" * 3


class _Log:
    """Appends events with increasing ids and timestamps."""

    def __init__(self, rng: random.Random, start: datetime) -> None:
        self.rng = rng
        self.events: list[dict[str, Any]] = []
        self.clock = start
        self.n = 0

    def emit(self, type_: str, step_ms: float, **fields: Any) -> dict[str, Any]:
        self.clock += timedelta(microseconds=int(self.rng.expovariate(1 / step_ms) * 1000) + 1)
        self.n += 1
        event = {"type": type_, "id": f"sevt_{self.n:024x}", **fields}
        event["processed_at"] = self.clock.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.events.append(event)
        return event


def _turn(log: _Log) -> None:
    rng = log.rng
    text = [{"type": "text", "text": "Please fix the failing test in tests/test_io.py and explain."}]
    log.emit("user.message", 5, content=text)
    log.emit("session.status_running", 2)
    for step in range(rng.randint(1, 8)):
        start = log.emit("span.model_request_start", 1)
        if rng.random() < 0.6:
            log.emit("agent.thinking", 400)
        if rng.random() < 0.02:
            error = {"type": "model_overloaded_error", "message": "Overloaded", "retry_status": {"type": "retrying"}}
            log.emit("session.error", 1500, error=error)
        final = step > 0 and rng.random() < 0.3
        uses: list[dict[str, Any]] = []
        if final:
            log.emit("agent.message", 900, content=[{"type": "text", "text": "Fixed: the loader now returns x + 1."}])
        else:
            for _ in range(1 if rng.random() < 0.85 else 2):
                roll = rng.random()
                if roll < 0.04:
                    uses.append(log.emit("agent.custom_tool_use", 700, name="lookup_ticket", input={"key": "IO-12"}))
                elif roll < 0.08:
                    mcp = {"name": "search_issues", "mcp_server_name": "github", "input": {"q": "loader"}}
                    uses.append(log.emit("agent.mcp_tool_use", 700, **mcp, evaluated_permission="allow"))
                else:
                    name, args = TOOLS[rng.randrange(len(TOOLS))]
                    perm = "ask" if rng.random() < 0.05 else "allow"
                    uses.append(log.emit("agent.tool_use", 700, name=name, input=args, evaluated_permission=perm))
        usage = {
            "input_tokens": rng.randint(50, 4000),
            "output_tokens": rng.randint(20, 1500),
            "cache_read_input_tokens": rng.randint(0, 60000),
            "cache_creation_input_tokens": rng.choice([0, 0, 0, 1200]),
        }
        log.emit("span.model_request_end", 1, model_request_start_id=start["id"], is_error=False, model_usage=usage)
        for use in uses:
            content = [{"type": "text", "text": OUTPUT}]
            if use["type"] == "agent.custom_tool_use":
                log.emit("session.status_idle", 1, stop_reason={"type": "requires_action", "event_ids": [use["id"]]})
                log.emit("user.custom_tool_result", 3000, custom_tool_use_id=use["id"], content=content)
                log.emit("session.status_running", 2)
            elif use["type"] == "agent.mcp_tool_use":
                log.emit("agent.mcp_tool_result", 600, mcp_tool_use_id=use["id"], content=content, is_error=False)
            else:
                if use.get("evaluated_permission") == "ask":
                    log.emit(
                        "session.status_idle", 1, stop_reason={"type": "requires_action", "event_ids": [use["id"]]}
                    )
                    log.emit("user.tool_confirmation", 4000, tool_use_id=use["id"], result="allow")
                    log.emit("session.status_running", 2)
                failed = rng.random() < 0.1
                log.emit("agent.tool_result", 800, tool_use_id=use["id"], content=content, is_error=failed)
        if final:
            break
    log.emit("session.status_idle", 1, stop_reason={"type": "end_turn"})


def generate(n: int, sessions: int = 1, seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """About ``n`` realistic events, split over ``sessions`` sessions (``{session_id: events}``)."""
    rng = random.Random(seed)
    out: dict[str, list[dict[str, Any]]] = {}
    per = n // sessions
    start = datetime(2026, 11, 21, tzinfo=timezone.utc)
    for s in range(sessions):
        log = _Log(rng, start + timedelta(hours=s))
        while len(log.events) < per:
            _turn(log)
        out[f"sesn_{s:024x}"] = log.events[:per]
    return out


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Best wall-clock and best CPU (process) time over ``repeat`` runs, and the last result."""
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        result = None
        gc.collect()
        started, started_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - started_cpu)
    return wall, cpu, result


def _load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="number of events (default 1,000,000)")
    parser.add_argument("--sessions", type=int, default=1, help="split the events over this many sessions")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    import pandas as pd

    started = time.perf_counter()
    by_session = generate(args.n, args.sessions, args.seed)
    events: Any = next(iter(by_session.values())) if args.sessions == 1 else by_session
    sid: str | None = next(iter(by_session)) if args.sessions == 1 else None
    n = sum(len(v) for v in by_session.values())
    print(f"generated {n:,} events in {time.perf_counter() - started:.1f} s (pandas {pd.__version__})")
    mix = Counter(e["type"] for evs in by_session.values() for e in evs)
    for type_, count in mix.most_common():
        print(f"  {type_:<28} {count:>9,}  {100 * count / n:5.1f}%")

    print(f"load average before: {_load()} ({os.cpu_count()} CPUs); best of {args.repeat} runs, wall / CPU")
    t_events, c_events, frame = best_of(args.repeat, lambda: events_df(events, session_id=sid))
    verdict = "MET" if t_events < TARGET_S * n / 1_000_000 else "MISSED"
    target = f"target < {TARGET_S:g} s per 1M events: {verdict}"
    print(f"events_df:          {t_events:6.3f} s / {c_events:6.3f} s  ({n / t_events:,.0f} events/s)  {target}")
    t_tools, c_tools, tools = best_of(args.repeat, lambda: tool_calls_df(events, session_id=sid))
    print(f"tool_calls_df:      {t_tools:6.3f} s / {c_tools:6.3f} s  ({len(tools):,} tool calls)")
    t_model, c_model, requests = best_of(
        args.repeat, lambda: model_requests_df(events, session_id=sid, model="claude-sonnet-4-6")
    )
    cost = requests["cost_usd"].sum()
    print(f"model_requests_df:  {t_model:6.3f} s / {c_model:6.3f} s  ({len(requests):,} requests, est. ${cost:,.2f})")
    print(f"load average after: {_load()}")
    return 0 if verdict == "MET" else 1


if __name__ == "__main__":
    sys.exit(main())
