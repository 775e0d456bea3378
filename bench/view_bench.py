"""The live view: bytes sent to the browser per event, and the cost of a 10,000-event log.

    .venv/bin/python bench/view_bench.py [--events 10000] [--no-browser]

Python side: a producer thread feeds a ``SessionView`` a realistic log (per turn: a user
message, two model requests, thinking, a bash call and its output, an answer, status changes;
11 events per turn), ``chunk`` events per session callback, and optionally the live previews of
each answer (``event_start`` + text deltas). Every message the widget sends is serialised as
ipykernel does (``json_clean`` then ``json.dumps``), and counted. It reports:

- bytes per event of the live ``append`` messages, and of a full backfill (a view made after a
  kernel restart), against the raw wire events and against re-sending a growing ``List`` trait;
- the time to push the whole log through the view (the callback, batching, row building and
  serialisation) until the last message is out.

Browser side (needs a ``chromium`` binary): the ES module renders the same messages in a
standalone page in headless Chromium: the first render of the whole log (backlog + backfill),
and the live appends, one message at a time. The figures are JavaScript + style + layout (no
paint) outside JupyterLab; the browser test of the quickstart measures it inside JupyterLab.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ipykernel.jsonutil import json_clean

from nb_agents.notebook._view import SessionView
from nb_agents.notebook._view_model import ViewLog
from tests._view_harness import chromium, run_page, sample_events, view_state
from tests.test_view import FakeSession, delta, start


class Wire(list[dict[str, Any]]):
    """Records what the widget sends, serialised as ipykernel serialises a comm message."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes: dict[str, int] = {}

    def __call__(self, content: dict[str, Any], buffers: Any = None) -> None:
        size = len(json.dumps(json_clean({"method": "custom", "content": content})).encode())
        self.bytes[content["type"]] = self.bytes.get(content["type"], 0) + size
        self.append(content)


def live_items(events: list[dict[str, Any]], previews: bool) -> list[dict[str, Any]]:
    """The log as a stream: with ``previews``, each answer is streamed in ~12-character deltas first."""
    items: list[dict[str, Any]] = []
    for event in events:
        if previews and event["type"] == "agent.message":
            answer = event["content"][0]["text"]
            items.append(start(event["id"]))
            items.extend(delta(event["id"], answer[i : i + 12]) for i in range(0, len(answer), 12))
        items.append(event)
    return items


def push(
    events: list[dict[str, Any]], *, chunk: int, previews: bool, interval: float, pause: float = 0.0
) -> dict[str, Any]:
    session = FakeSession()
    view = SessionView(session, interval=interval)
    wire = Wire()
    view.send = wire
    items = live_items(events, previews)
    began = time.perf_counter()

    def produce() -> None:
        for i in range(0, len(items), chunk):
            session.emit(*items[i : i + chunk])
            if pause:
                time.sleep(pause)

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join()
    view.flush(timeout=120)
    took = time.perf_counter() - began
    appends = [m for m in wire if m["type"] == "append"]
    sync_wire = Wire()
    view.send = sync_wire
    view._handle_custom_msg({"type": "sync", "since": 0, "view": "bench"}, [])
    view.flush()
    view.close()
    return {
        "view": view,
        "seconds": took,
        "messages": len(appends),
        "append_bytes": wire.bytes.get("append", 0),
        "sync_bytes": sync_wire.bytes.get("sync", 0),
        "appends": appends,
        "syncs": list(sync_wire),
    }


def list_trait_bytes(rows: list[dict[str, Any]]) -> int:
    """Bytes if the rows were one ``List`` trait re-sent whole after every event (O(n²))."""
    total = running = 0
    for row in rows:
        running += len(json.dumps(row)) + 1
        total += running
    return total


def rechunk(appends: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    """The same rows as append messages of ``size`` rows each."""
    rows = [r for m in appends for r in m["items"]]
    return [{"type": "append", "t0": appends[0]["t0"], "items": rows[i : i + size]} for i in range(0, len(rows), size)]


def browser(events: list[dict[str, Any]], appends: list[dict[str, Any]]) -> dict[str, Any]:
    """First render of the whole log, then the appends one message at a time (in Chromium)."""
    whole = FakeSession(events)
    view = SessionView(whole)
    wire = Wire()
    view.send = wire
    tail = [r["n"] for r in view.backlog["items"] if "n" in r]
    view._handle_custom_msg({"type": "sync", "since": 0, "skip": [tail[0], tail[-1] + 1], "view": "x"}, [])
    view.flush()
    first = run_page(view_state(view), [], list(wire))
    view.close()
    empty = SessionView(FakeSession())
    script = """
      const times = [];
      for (const m of window.__live) { const t = performance.now(); deliver(m); times.push(performance.now() - t); }
      report.live = times;
    """
    live = run_page(view_state(empty), [], [], "window.__live = " + json.dumps(appends) + ";" + script)
    empty.close()
    return {"first": first, "live": live}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="events in the log (default 10,000)")
    parser.add_argument("--chunk", type=int, default=5, help="items per session callback (default 5)")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium part")
    args = parser.parse_args()
    n = args.events
    events = sample_events(n // 11 + 1)[:n]
    raw = sum(len(json.dumps(e)) for e in events)
    print(f"log: {n:,} events ({raw / n:.0f} B/event as raw wire JSON), {args.chunk} items per session callback")

    plain = push(events, chunk=args.chunk, previews=False, interval=0.15)
    rows = [r for m in plain["appends"] for r in m["items"]]
    print("\nPython side (batching every 150 ms, rows built and serialised):")
    print(f"  push {n:,} events through the view: {plain['seconds'] * 1000:.0f} ms, {plain['messages']} messages")
    began = time.perf_counter()
    built = ViewLog().apply(events)
    build_ms = (time.perf_counter() - began) * 1000
    began = time.perf_counter()
    Wire()({"type": "append", "t0": 0, "items": built})
    dump_ms = (time.perf_counter() - began) * 1000
    print(f"    CPU in that: {build_ms:.0f} ms building rows, {dump_ms:.0f} ms serialising (the rest: batching window)")
    print(f"  bytes/event, live appends:        {plain['append_bytes'] / n:7.1f} B")
    print(f"  bytes/event, full backfill:       {plain['sync_bytes'] / n:7.1f} B ({len(plain['syncs'])} messages)")
    print(f"  bytes/event, List trait re-sync:  {list_trait_bytes(rows) / n:7.0f} B (O(n²), for comparison)")
    streamed = push(events, chunk=1, previews=True, interval=0.15)
    deltas = sum(1 for i in live_items(events, True) if i["type"] == "event_delta")
    print(f"  with live previews ({deltas:,} deltas, one item per callback):")
    print(f"    push: {streamed['seconds'] * 1000:.0f} ms, {streamed['messages']} messages, ", end="")
    print(f"{streamed['append_bytes'] / n:.1f} B/event (deltas merged per batch)")
    paced = push(events[:110], chunk=1, previews=True, interval=0.15, pause=0.015)
    rate = paced["messages"] / paced["seconds"]
    print("    paced like a live model (an item every 15 ms, first 110 events): ", end="")
    print(f"{paced['append_bytes'] / 110:.1f} B/event,")
    print(f"    {paced['messages']} messages in {paced['seconds']:.1f} s ({rate:.1f} messages/s)")

    if args.no_browser or chromium() is None:
        print("\nBrowser side: skipped (no chromium); measured by the browser test of the quickstart.")
        return
    print(f"\nBrowser side (headless Chromium {chromium()}, standalone page, JS + style + layout, no paint):")
    for size in (100, 2_000):
        result = browser(events, rechunk(plain["appends"], size))
        first, live = result["first"], result["live"]
        assert not first["errors"] and not live["errors"], (first["errors"], live["errors"])
        if size == 100:
            print(f"  first render of {n:,} events (backlog + backfill): {first['ms']['render']:.0f} ms", end="")
            print(f" -> data-count={first['count']}, {first['rows']} rows drawn, {first['bars']} timeline bars")
        times = live["live"]
        print(f"  appends of {size:,} rows: {len(times)} messages, {statistics.median(times):.1f} ms median, ", end="")
        print(f"{max(times):.1f} ms max, {sum(times) / n * 1000:.0f} µs/event", end="")
        print(f" -> data-count={live['count']}, {live['rows']} rows drawn")


if __name__ == "__main__":
    main()
