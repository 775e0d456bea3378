"""Durable append throughput: nb_agents ``Store.append`` against raw ``sqlite3``, same disk.

Usage:
    .venv/bin/python bench/store_bench.py [--n N] [--dir DIR]

Both sides use WAL with ``synchronous=FULL`` (an fsync per commit) and ~300-byte JSON bodies,
and write to fresh files in the same directory. For each group size (1, 10, 100 events per
transaction) each side makes N commits. The two sides are interleaved commit by commit
(alternating which goes first), so a noisy neighbour or a slow disk moment costs both alike;
each side's own commit times are summed. Printed: events/s and commits/s of each side, and
the ratio nb_agents/raw.

The raw side is the least a hand-written logger would do: ``json.dumps`` the event, then
``BEGIN; INSERT ...; COMMIT`` into one table keyed by (session_id, seq), with seq counted in
Python. nb_agents also reads the last seq inside its transaction, maintains a unique index on
the event id and an index on (session_id, type, seq), takes its lock, and returns parsed
``StoredEvent`` objects.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nb_agents.events import make_event
from nb_agents.store import Store

GROUPS = (1, 10, 100)
BODY_BYTES = 300
SESSION = "sesn_bench"


def make_events(n: int) -> list[dict[str, Any]]:
    """N agent.message events whose compact JSON is about BODY_BYTES long."""
    probe = make_event("agent.message", content=[{"type": "text", "text": ""}])
    pad = BODY_BYTES - len(json.dumps(probe, separators=(",", ":")))
    return [make_event("agent.message", content=[{"type": "text", "text": "x" * pad}]) for _ in range(n)]


class RawLog:
    """The baseline: plain sqlite3, WAL + synchronous=FULL, one table, one transaction per call."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute(
            "CREATE TABLE events (session_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, "
            "type TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (session_id, seq)) WITHOUT ROWID"
        )
        self.seq = 0

    def append(self, events: Sequence[dict[str, Any]]) -> None:
        rows = []
        for event in events:
            self.seq += 1
            body = json.dumps(event, separators=(",", ":"))
            rows.append((SESSION, self.seq, event["id"], event["type"], body))
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


def paired(directory: Path, n: int, group: int) -> dict[str, Any]:
    """N commits of ``group`` events on each side, interleaved; per-side summed commit times."""
    events = make_events(n * group)
    raw_events = [dict(e, id=e["id"] + "R") for e in events]
    store = Store(directory / f"nb_agents-{group}.sqlite3")
    raw = RawLog(directory / f"raw-{group}.sqlite3")
    spent = {"nb": 0.0, "raw": 0.0}
    try:
        for k in range(n):
            batch = slice(k * group, (k + 1) * group)
            for side in ("nb", "raw") if k % 2 == 0 else ("raw", "nb"):
                start = time.perf_counter()
                if side == "nb":
                    store.append(SESSION, events[batch])
                else:
                    raw.append(raw_events[batch])
                spent[side] += time.perf_counter() - start
    finally:
        store.close()
        raw.close()
    count = n * group
    return {
        "group": group,
        "events": count,
        "nb_eps": count / spent["nb"],
        "raw_eps": count / spent["raw"],
        "nb_cps": n / spent["nb"],
        "raw_cps": n / spent["raw"],
    }


def reads(directory: Path, n: int) -> list[tuple[str, int, float]]:
    """Read a session of n events (1% session.error, 10% span.*, the rest agent.message) back."""
    path = directory / "reads.sqlite3"
    with Store(path) as store:
        batch: list[dict[str, Any]] = []
        for i in range(n):
            kind = "session.error" if i % 100 == 0 else "span.model_request_start" if i % 10 == 1 else ""
            batch.append(make_event(kind or "agent.message", content=[{"type": "text", "text": "x" * 200}]))
            if len(batch) == 1000 or i == n - 1:
                store.append(SESSION, batch)
                batch = []
        cases: list[tuple[str, dict[str, Any]]] = [
            ("whole session", {}),
            ("types=[session.error] (1%)", {"types": ["session.error"]}),
            ("types=[span.model_request_start] (10%)", {"types": ["span.model_request_start"]}),
            ("types=[agent.message] (89%)", {"types": ["agent.message"]}),
            ("last 100 (order=desc, limit=100)", {"order": "desc", "limit": 100}),
            ("last 10 session.error (desc)", {"types": ["session.error"], "order": "desc", "limit": 10}),
            ("after_seq=n-100", {"after_seq": n - 100}),
        ]
        out = []
        for label, kwargs in cases:
            best = float("inf")
            for _ in range(2):
                start = time.perf_counter()
                got = store.read(SESSION, **kwargs)
                best = min(best, time.perf_counter() - start)
            out.append((label, len(got), best))
        return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--n",
        type=int,
        default=500,
        help="commits per side and group size (default 500); events = n x group",
    )
    parser.add_argument("--dir", type=Path, default=None, help="parent directory for the database files")
    parser.add_argument(
        "--read-n", type=int, default=100_000, help="events in the read benchmark's session (0: skip it)"
    )
    args = parser.parse_args(argv)
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="nb_agents_bench_", dir=args.dir))
    try:
        body = len(json.dumps(make_events(1)[0], separators=(",", ":")))
        print(f"dir: {directory}")
        print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, body {body} B")
        print("WAL + synchronous=FULL: every commit is fsynced, so every event counted is durable.\n")
        started = time.perf_counter()
        header = (
            f"{'events/commit':>13} {'events':>7} | {'nb_agents ev/s':>14} {'raw ev/s':>10} "
            f"| {'nb commits/s':>12} {'raw commits/s':>13} | {'nb/raw':>6}"
        )
        print(header)
        print("-" * len(header))
        for group in GROUPS:
            r = paired(directory, args.n, group)
            print(
                f"{r['group']:>13} {r['events']:>7} | {r['nb_eps']:>14,.0f} {r['raw_eps']:>10,.0f} "
                f"| {r['nb_cps']:>12,.0f} {r['raw_cps']:>13,.0f} | {r['nb_eps'] / r['raw_eps']:>6.2f}",
                flush=True,
            )
        if args.read_n:
            print(f"\nStore.read on one session of {args.read_n:,} events (best of 2, includes JSON parsing):")
            for label, count, seconds in reads(directory, args.read_n):
                print(f"  {label:<40} {count:>7} events  {seconds * 1000:>9.1f} ms")
        print(f"\ntotal {time.perf_counter() - started:.1f} s")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
