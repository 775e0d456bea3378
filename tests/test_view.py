"""The live view (``SessionView``): rows, batching from threads, sync, actions, repr, 10k events.

Headless: a ``FakeSession`` with the ``LiveSession`` surface drives the view, and the messages the
widget sends are recorded by replacing ``send`` on the instance. Two more layers, each skipped
when its tool is missing: a real kernel (``jupyter_client``) proves that updates reach the front
end over IOPub while the kernel is idle and while it runs another cell, and headless Chromium
runs the ES module itself against recorded messages.
"""

from __future__ import annotations

import inspect
import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nb_agents.notebook._markdown import sanitize, tool_input_html
from nb_agents.notebook._view import SessionView
from nb_agents.notebook._view_model import ViewLog
from nb_agents.notebook._view_rows import shorten, to_row
from tests._view_harness import chromium, run_page, sample_events, view_state

T0 = "2026-11-21T09:00:00.000000Z"


class FakeSession:
    """A stand-in for ``nb_agents.Session`` (the ``LiveSession`` surface), driven by the test.

    Self-contained (its source is also sent to a real kernel).
    """

    def __init__(self, events: Any = None, status: str = "idle") -> None:
        import threading

        self.id = "sesn_fake"
        self.title = "fake session"
        self.model = "replay:fake"
        self.status = status
        self.usage = {"input_tokens": 0, "output_tokens": 0}
        self._events = list(events or [])
        self._index = {e["id"]: i for i, e in enumerate(self._events)}
        self._listeners: list[Any] = []
        self._lock = threading.Lock()
        self.calls: list[tuple[Any, ...]] = []
        self.fail: Exception | None = None
        self.cost = 0.5
        self.cost_reads = 0

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    def subscribe(self, callback: Any) -> Any:
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return unsubscribe

    def emit(self, *items: dict[str, Any]) -> None:
        """Store the stored events (by id), then call the listeners on this thread."""
        states = {"session.status_running": "running", "session.status_idle": "idle"}
        with self._lock:
            for item in items:
                if item.get("id") and item["type"] not in ("event_start", "event_delta"):
                    if item["id"] in self._index:
                        self._events[self._index[item["id"]]] = item
                    else:
                        self._index[item["id"]] = len(self._events)
                        self._events.append(item)
                    self.status = states.get(item["type"], self.status)
                    for key, value in (item.get("model_usage") or {}).items():
                        self.usage[key] = self.usage.get(key, 0) + value
            listeners = list(self._listeners)
        for callback in listeners:
            callback(list(items))

    def produce(self, count: int, pause: float = 0.0, prefix: str = "p") -> None:
        """Emit ``count`` agent messages, one per call (for a producer thread)."""
        import time

        for i in range(count):
            text = [{"type": "text", "text": f"message {prefix}{i}"}]
            stamp = f"2026-11-21T09:00:{i % 60:02d}.000000Z"
            self.emit({"type": "agent.message", "id": f"sevt_{prefix}{i}", "processed_at": stamp, "content": text})
            if pause:
                time.sleep(pause)

    def _call(self, *call: Any) -> None:
        self.calls.append(call)
        if self.fail is not None:
            raise self.fail

    def send(self, text: str) -> None:
        self._call("send", text)

    def confirm(self, tool_use_id: str, allow: bool = True, message: str | None = None) -> None:
        self._call("confirm", tool_use_id, allow, message)

    def interrupt(self) -> None:
        self._call("interrupt")

    def estimated_cost(self) -> float | None:
        self.cost_reads += 1
        return self.cost


def ev(kind: str, event_id: str, at: str | None = T0, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "id": event_id, "processed_at": at, **fields}


def text(value: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": value}]


def start(event_id: str) -> dict[str, Any]:
    return {"type": "event_start", "event": {"type": "agent.message", "id": event_id}}


def delta(event_id: str, fragment: str, index: int = 0) -> dict[str, Any]:
    change = {"type": "content_delta", "index": index, "content": {"type": "text", "text": fragment}}
    return {"type": "event_delta", "event_id": event_id, "delta": change}


class Recorder(list[dict[str, Any]]):
    """Records what a view sends to the browser (checked to be JSON, as the comm requires)."""

    def __call__(self, content: dict[str, Any], buffers: Any = None) -> None:
        self.append(json.loads(json.dumps(content)))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self if m["type"] == kind]

    def items(self, kind: str = "append") -> list[dict[str, Any]]:
        return [item for m in self.of(kind) for item in m["items"]]


@pytest.fixture()
def views() -> Iterator[list[SessionView]]:
    made: list[SessionView] = []
    yield made
    for view in made:
        view.close()


def open_view(views: list[SessionView], session: FakeSession, **kw: Any) -> tuple[SessionView, Recorder]:
    kw.setdefault("interval", 0.02)
    view = SessionView(session, **kw)
    views.append(view)
    sent = Recorder()
    view.send = sent
    return view, sent


def front(view: SessionView, content: dict[str, Any]) -> None:
    """Deliver a custom message from the browser, as ipywidgets does."""
    view._handle_custom_msg(content, [])


# ---- rows ----------------------------------------------------------------------------------------


def test_rows_are_compact_and_keep_what_the_view_shows() -> None:
    error = {"type": "billing_error", "message": "no credit", "retry_status": {"type": "terminal"}}
    failed = {"n": 5, "k": "error", "id": "sevt_x", "t": 50, "et": "billing_error", "rs": "terminal"}
    events = [
        ev("user.message", "sevt_m", None, content=text("hi")),
        ev("agent.tool_use", "sevt_u", name="bash", input={"command": "ls"}, evaluated_permission="ask"),
        ev("agent.tool_result", "sevt_r", tool_use_id="sevt_u", content=text("out"), is_error=True),
        ev("span.model_request_end", "sevt_e", model_request_start_id="sevt_s", model_usage={"input_tokens": 7}),
        ev("session.status_idle", "sevt_i", stop_reason={"type": "requires_action", "event_ids": ["sevt_u"]}),
        ev("session.error", "sevt_x", error=error),
        ev("user.tool_confirmation", "sevt_c", tool_use_id="sevt_u", result="deny", deny_message="no"),
        ev("agent.thread_context_compacted", "sevt_z"),
    ]
    rows = [to_row(event, n, None if n == 0 else n * 10) for n, event in enumerate(events)]
    assert rows[0] == {"n": 0, "k": "user", "id": "sevt_m", "q": 1, "x": "hi"}
    tool = {"name": "bash", "in": {"command": "ls"}, "perm": "ask"}
    assert rows[1] == {"n": 1, "k": "tool", "id": "sevt_u", "t": 10, **tool, "hl": '<pre class="nbav-hl">ls\n</pre>'}
    assert rows[2] == {"n": 2, "k": "result", "id": "sevt_r", "t": 20, "ref": "sevt_u", "err": 1, "x": "out"}
    assert rows[3] == {"n": 3, "k": "mend", "id": "sevt_e", "t": 30, "ref": "sevt_s", "u": [7, 0, 0, 0]}
    assert rows[4] == {"n": 4, "k": "status", "id": "sevt_i", "t": 40, "st": "idle", "x": "requires_action"}
    assert rows[5] == {**failed, "x": "no credit"}
    assert rows[6] == {"n": 6, "k": "confirm", "id": "sevt_c", "t": 60, "ref": "sevt_u", "ok": 0, "x": "no"}
    assert rows[7] == {"n": 7, "k": "event", "id": "sevt_z", "t": 70, "ty": "agent.thread_context_compacted"}


def _tags(markup: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every start tag of ``markup`` with its attributes, as a browser's parser sees them."""
    from html.parser import HTMLParser

    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs))

    Collect().feed(markup)
    return found


def test_agent_markdown_is_rendered_and_can_never_inject_script() -> None:
    attack = (
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        '<img src=x onerror="window.pwned=1"> <script>window.pwned=2</script> '
        "[click](javascript:alert(1)) <a href='#' onclick='x()'>a</a> ![remote](https://example.com/p.png)\n\n"
        "```python\nprint('hi')\n```\n\n$e^{i\\pi} + 1 = 0$"
    )
    row = to_row(ev("agent.message", "sevt_a", content=text(attack)), 0, 0)
    markup = row["h"]
    assert "<table>" in markup and "<td>1</td>" in markup  # a Markdown table is a table
    assert '<pre class="nbav-hl">' in markup and '<span class="nb">print</span>' in markup  # highlighted code
    assert "<math" in markup and "<mi>π</mi>" in markup  # math as MathML: no fetch, no script
    tags = _tags(markup)
    assert not [t for t in tags if t[0] == "script" or any(k.startswith("on") for k, _ in t[1])], tags
    assert not [t for t in tags if any("javascript:" in (v or "") for _, v in t[1])]
    assert not [t for t in tags if t[0] == "img"]  # neither the injected one nor the remote one
    assert "&lt;script&gt;" in markup  # the tag is shown as text, inert
    assert '<a href="https://example.com/p.png"' in markup  # a remote image is a link, never fetched
    # defence in depth: HTML that got past the parser is cleaned by the allow-list sanitiser
    assert sanitize('<p onclick="x()">a</p><script>b</script><img src="http://e/x">') == "<p>a</p><img>"
    # images from content blocks show inline as data: URLs
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    result = to_row(ev("agent.tool_result", "r", tool_use_id="u", content=[image]), 0, 0)
    assert result["h"] == '<img src="data:image/png;base64,iVBORw0KGgo=" alt="image">'
    # user text is shown as written, never as Markdown
    assert "h" not in to_row(ev("user.message", "m", content=text("# not a heading")), 0, 0)


def test_approval_input_is_whole_and_highlighted() -> None:
    script = "python3 - <<'PY'\n" + "\n".join(f"print({i})" for i in range(12)) + "\nPY"
    row = to_row(ev("agent.tool_use", "u", name="bash", input={"command": script}, evaluated_permission="ask"), 0, 0)
    assert row["hl"].startswith('<pre class="nbav-hl">') and '<span class="w"> </span>' in row["hl"]
    assert all(f"print({i})" in row["hl"] for i in range(12))  # every line of the script, not the first
    edit = {"file_path": "app.py", "old_string": "x = 1", "new_string": "x = 2"}
    markup = tool_input_html("edit", edit)
    assert (
        "app.py" in markup and '<span class="gd">-x = 1</span>' in markup and '<span class="gi">+x = 2</span>' in markup
    )
    write = tool_input_html("write", {"file_path": "a.py", "content": "<script>x</script>"})
    assert "<script>" not in write and "a.py" in write
    assert "hl" not in to_row(ev("agent.tool_use", "v", name="bash", input={}, evaluated_permission="allow"), 0, 0)


def test_denied_and_interrupted_calls_are_labelled_not_failed() -> None:
    log = ViewLog()
    rows = log.apply(
        [
            ev("agent.tool_use", "u1", name="bash", input={"command": "rm -rf /"}, evaluated_permission="ask"),
            ev("user.tool_confirmation", "c1", tool_use_id="u1", result="deny"),
            ev("agent.tool_result", "r1", tool_use_id="u1", content=text("Permission denied"), is_error=True),
            ev("agent.tool_use", "u2", name="bash", input={"command": "sleep 60"}, evaluated_permission="allow"),
            ev("user.interrupt", "i"),
            ev("agent.tool_result", "r2", tool_use_id="u2", content=text("Interrupted"), is_error=True),
            ev("agent.tool_use", "u3", name="bash", input={"command": "false"}, evaluated_permission="allow"),
            ev("agent.tool_result", "r3", tool_use_id="u3", content=text("exit 1"), is_error=True),
        ]
    )
    results = [r for r in rows if r["k"] == "result"]
    assert [r.get("o") for r in results] == ["denied", "interrupted", None]
    assert log.errors == 1  # only the call that really failed


def test_budget_and_spend_reach_the_header() -> None:
    usage = {"input_tokens": 10, "list_cost": {"amount": "120", "currency": "USD"}}
    budget = {"type": "limit", "max_list_cost": {"amount": "2500", "currency": "USD"}}
    log = ViewLog()
    [row] = log.apply([ev("session.usage", "s", usage=usage, budget=budget)])
    assert row["k"] == "usage" and row["x"] == "$1.20" and row["bx"] == "$25.00"
    assert log.spend == {"spent": "$1.20", "budget": "$25.00"}
    log.apply([ev("session.usage", "s2", usage={"list_cost": {"amount": "300", "currency": "USD"}}, budget=None)])
    assert log.spend == {"spent": "$3.00"}


def test_long_text_and_big_inputs_are_shortened_head_and_tail() -> None:
    short, full = shorten("a" * 100 + "b" * 100, 40)
    assert full == 200 and short.startswith("a" * 30) and short.endswith("b" * 10) and "160 characters" in short
    row = to_row(ev("agent.tool_result", "r", tool_use_id="u", content=text("x" * 50_000)), 0, 0)
    assert row["tr"] == 50_000 and len(row["x"]) < 2_100
    row = to_row(ev("agent.tool_use", "u", name="write", input={"content": "y" * 10_000}), 0, 0)
    assert isinstance(row["in"], str) and len(row["in"]) < 2_100


def test_client_event_seen_twice_is_updated_in_place() -> None:
    log = ViewLog()
    queued = ev("user.message", "sevt_m", None, content=text("hi"))
    assert [r["q"] for r in log.apply([queued])] == [1]
    processed = ev("user.message", "sevt_m", "2026-11-21T09:00:01.5Z", content=text("hi"))
    out = log.apply([processed, queued])  # a late duplicate of the queued copy changes nothing
    assert out == [{"n": 0, "k": "user", "id": "sevt_m", "t": 0, "x": "hi"}]
    assert len(log) == 1 and log.apply([processed]) == []  # unchanged rows are not sent again


def test_previews_fold_deltas_and_give_way_to_the_final_event() -> None:
    log = ViewLog()
    out = log.apply([start("sevt_a"), delta("sevt_a", "Hel"), delta("sevt_a", "lo"), delta("sevt_a", "!", 1)])
    assert out == [
        {"k": "pv", "id": "sevt_a", "ty": "agent.message", "parts": []},
        {"k": "pd", "id": "sevt_a", "i": 0, "x": "Hello"},  # two deltas of one part, one item
        {"k": "pd", "id": "sevt_a", "i": 1, "x": "!"},
    ]
    assert log.backfill(0) == [{"k": "pv", "id": "sevt_a", "ty": "agent.message", "parts": ["Hello", "!"]}]
    log.apply([ev("agent.message", "sevt_a", content=text("Hello!"))])
    assert log.previews() == [] and log.apply([delta("sevt_a", "late")]) == []
    log.apply([delta("sevt_b", "orphan")])  # a delta without its start still shows
    assert log.previews()[0]["parts"] == ["orphan"]
    log.apply([ev("span.model_request_end", "sevt_e", model_request_start_id="s")])
    assert log.previews() == []  # the model request ended: its previews close


def test_counts_and_awaiting_approvals() -> None:
    log = ViewLog()
    log.apply(sample_events(3, ask_every=1)[:5])  # the first tool call asks, not yet confirmed
    assert log.tool_calls == 1 and log.messages == 1 and log.awaiting == ["sevt_00000000000000000000000004"]
    log.apply([ev("user.tool_confirmation", "c", tool_use_id="sevt_00000000000000000000000004", result="allow")])
    assert log.awaiting == []


# ---- the widget ---------------------------------------------------------------------------------


def test_updates_from_many_threads_are_batched_into_few_messages(views: list[SessionView]) -> None:
    session = FakeSession()
    view, sent = open_view(views, session, interval=0.15)
    producers = [threading.Thread(target=session.produce, args=(250, 0.0002, f"t{k}_")) for k in range(4)]
    for thread in producers:
        thread.start()
    for thread in producers:
        thread.join()
    assert view.flush()
    items = sent.items()
    assert [item["n"] for item in items] == list(range(1000))  # each row once, in log order
    assert len(sent.of("append")) <= 12  # ~1 s of producing, at most one message per 150 ms
    assert not sent.of("sync")


def test_sync_answers_with_what_the_browser_lacks(views: list[SessionView]) -> None:
    events = sample_events(4)  # 44 events already in the log when the view is made
    session = FakeSession(events)
    view, sent = open_view(views, session, max_rows=10)
    assert [r["n"] for r in view.backlog["items"]] == list(range(34, 44))  # the tail, drawn at once
    session.emit(start("sevt_live"), delta("sevt_live", "typing"))
    front(view, {"type": "sync", "since": 0, "skip": [34, 44], "view": "v1"})
    front(view, {"type": "sync", "since": 40, "view": "v2"})
    assert view.flush()
    first, second = sent.of("sync")
    assert first["view"] == "v1" and first["done"] and [r["n"] for r in first["items"][:-1]] == list(range(34))
    assert first["items"][-1] == {"k": "pv", "id": "sevt_live", "ty": "agent.message", "parts": ["typing"]}
    assert second["view"] == "v2" and [r.get("n") for r in second["items"]] == [40, 41, 42, 43, None]
    assert first["t0"] == second["t0"] == sent.of("append")[0]["t0"]


def test_a_view_made_later_shows_the_whole_log(views: list[SessionView]) -> None:
    """After a kernel restart, attach gives a session with its whole log: the view shows all of it."""
    session = FakeSession(sample_events(300))  # 3,300 events
    view, sent = open_view(views, session)
    assert len(view.backlog["items"]) == 500
    front(view, {"type": "sync", "since": 0, "skip": [2800, 3300], "view": "v"})
    assert view.flush()
    replies = sent.of("sync")
    assert len(replies) == 2 and [m["done"] for m in replies] == [False, True]  # chunks of 2,000 rows
    assert [r["n"] for r in sent.items("sync")] == list(range(2800))


def test_snapshot_and_subscription_overlap_without_duplicates(views: list[SessionView]) -> None:
    events = sample_events(2)
    session = FakeSession(events)
    view, sent = open_view(views, session)
    session.emit(*events[-3:], ev("agent.message", "sevt_new", content=text("new")))  # re-delivered + new
    assert view.flush()
    assert [r["n"] for r in sent.items()] == [22] and "23 events" in repr(view)


def test_buttons_call_the_session(views: list[SessionView]) -> None:
    session = FakeSession()
    view, sent = open_view(views, session)
    front(view, {"type": "confirm", "tool_use_id": "sevt_a", "allow": True, "req": "r1"})
    front(view, {"type": "confirm", "tool_use_id": "sevt_b", "allow": False, "message": "not there", "req": "r2"})
    front(view, {"type": "confirm", "tool_use_id": "sevt_c", "allow": True, "message": "ignored", "req": "r3"})
    front(view, {"type": "interrupt", "req": "r4"})
    front(view, {"type": "send", "text": "next, please", "req": "r5"})
    assert view.flush()
    assert session.calls == [
        ("confirm", "sevt_a", True, None),
        ("confirm", "sevt_b", False, "not there"),
        ("confirm", "sevt_c", True, None),
        ("interrupt",),
        ("send", "next, please"),
    ]
    assert [(m["req"], m["action"], m["ok"]) for m in sent.of("result")] == [
        ("r1", "confirm", True),
        ("r2", "confirm", True),
        ("r3", "confirm", True),
        ("r4", "interrupt", True),
        ("r5", "send", True),
    ]


def test_errors_of_actions_are_shown_not_lost(views: list[SessionView]) -> None:
    session = FakeSession()
    session.fail = RuntimeError("the server is gone")
    view, sent = open_view(views, session)
    front(view, {"type": "interrupt", "req": "r1"})
    front(view, {"type": "send", "text": "   ", "req": "r2"})
    front(view, {"type": "confirm", "req": "r3"})
    front(view, {"type": "dance", "req": "r4"})
    assert view.flush()
    results = {m["req"]: m for m in sent.of("result")}
    assert results["r1"]["error"] == "RuntimeError: the server is gone" and not results["r1"]["ok"]
    assert "empty" in results["r2"]["error"] and "tool_use_id" in results["r3"]["error"]
    assert "unknown request" in results["r4"]["error"]
    assert session.calls == [("interrupt",)]
    assert view.errors[0] == "interrupt: RuntimeError: the server is gone" and len(view.errors) == 3


def test_header_follows_status_usage_and_cost(views: list[SessionView]) -> None:
    session = FakeSession()
    view, sent = open_view(views, session)
    assert view.info == {
        "id": "sesn_fake",
        "title": "fake session",
        "model": "replay:fake",
        "usage": {"input_tokens": 0, "output_tokens": 0},
        "cost": 0.5,
    }
    session.cost = 0.75
    session.emit(*sample_events(1)[:6])  # ... running, a model request ended
    assert view.flush()
    assert view.status == "running" and view.info["usage"]["input_tokens"] == 1800
    deadline = time.monotonic() + 3
    while view.info["cost"] != 0.75 and time.monotonic() < deadline:  # read again within ~1 s
        time.sleep(0.05)
    assert view.info["cost"] == 0.75
    reads = session.cost_reads
    assert len(view.backlog["items"]) == 0  # the snapshot for saved widget state: made at the start …
    session.emit(*sample_events(1)[6:])
    assert view.flush() and view.status == "idle" and session.cost_reads <= reads + 1
    assert [r["n"] for r in view.backlog["items"]] == list(range(11))  # … and at the end of each turn


def test_repr_is_a_deterministic_summary(views: list[SessionView]) -> None:
    events = sample_events(1)  # 11 events: 2 messages, 1 tool call
    events.append(ev("agent.tool_use", "sevt_ask", name="bash", input={}, evaluated_permission="ask"))
    events.append(ev("session.error", "sevt_err", error={"type": "unknown_error", "message": "boom"}))
    first, _ = open_view(views, FakeSession(events))
    second, _ = open_view(views, FakeSession(events))
    expected = "SessionView(sesn_fake, status=idle, 13 events: 2 messages, 2 tool calls, 1 error, 1 awaiting approval)"
    assert repr(first) == repr(second) == expected
    data, _ = first._repr_mimebundle_()
    assert data["text/plain"] == expected and "application/vnd.jupyter.widget-view+json" in data
    assert not re.search(r"0x[0-9a-f]+|\d{2}:\d{2}:\d{2}", expected)
    # the static fallback a saved notebook keeps: the transcript, no script
    fallback = data["text/html"]
    assert '<div class="nbav nbav-static" data-count="13">' in fallback and "<script" not in fallback
    assert "data_0.csv has 1000 rows" in fallback and "awaiting approval" in fallback and "boom" in fallback


def test_ten_thousand_events_stay_cheap(views: list[SessionView]) -> None:
    session = FakeSession()
    view, sent = open_view(views, session, interval=0.1)
    events = sample_events(910)[:10_000]
    begin = time.perf_counter()
    producer = threading.Thread(target=lambda: [session.emit(*events[i : i + 50]) for i in range(0, 10_000, 50)])
    producer.start()
    producer.join()
    assert view.flush(timeout=30)
    took = time.perf_counter() - begin
    assert [r["n"] for r in sent.items()] == list(range(10_000))
    assert len(sent.of("append")) <= 40 and took < 10
    size = sum(len(json.dumps(m)) for m in sent)
    assert size / 10_000 < 400  # bytes per event on the wire
    assert repr(view).startswith("SessionView(sesn_fake, status=idle, 10000 events:")
    view._repr_mimebundle_()
    assert len(view.backlog["items"]) == 500  # a new view gets the tail at once, the rest on request


def test_close_stops_following(views: list[SessionView]) -> None:
    session = FakeSession()
    view, sent = open_view(views, session)
    view.close()
    session.emit(ev("agent.message", "sevt_after", content=text("late")))
    time.sleep(0.1)
    assert not session._listeners and not sent and not view._flusher.is_alive()


def test_the_front_end_files_are_package_data_and_offline() -> None:
    static = Path(__file__).parents[1] / "nb_agents" / "notebook" / "static"
    js = (static / "session_view.js").read_text()
    css = (static / "session_view.css").read_text()
    assert "export default" in js and "initialize" in js and "render" in js
    assert not re.search(r"^\s*import\s", js, re.M) and "http" not in js.replace("http://www.w3.org/2000/svg", "")
    assert "@import" not in css and "url(" not in css
    assert str(SessionView._esm) == js and str(SessionView._css) == css


# ---- the ES module in a real browser engine -----------------------------------------------------

needs_chromium = pytest.mark.skipif(chromium() is None, reason="no chromium binary on PATH")


def browser_run(view: SessionView, sent: Recorder, feed: list[dict[str, Any]], script: str = "") -> dict[str, Any]:
    """Render ``view`` in Chromium: its backlog, its sync reply, then ``feed``."""
    state = view_state(view)
    rows = [r["n"] for r in state["backlog"]["items"] if "n" in r]
    skip = [rows[0], rows[-1] + 1] if rows else None
    prefix = 0 if rows and rows[0] > 0 else len(rows)
    before = len(sent)
    front(view, {"type": "sync", "since": prefix, "skip": skip, "view": "x"})
    assert view.flush()
    replies = [m for m in sent[before:] if m["type"] == "sync"]
    report = run_page(state, feed, replies, script)
    assert report["errors"] == []
    return report


@needs_chromium
def test_browser_renders_the_log_and_sends_the_clicks(views: list[SessionView]) -> None:
    events = sample_events(3, ask_every=10)  # 33 events; the first call asked and was approved
    session = FakeSession(events[:20], status="running")
    view, sent = open_view(views, session)
    session.emit(*events[20:])
    ask = ev("agent.tool_use", "sevt_ask", name="bash", input={"command": "rm -rf build"}, evaluated_permission="ask")
    session.emit(ask, start("sevt_pv"), delta("sevt_pv", "Work"))
    session.emit(delta("sevt_pv", "ing on it"))
    session.status = "running"
    assert view.flush()
    feed = [m for m in sent if m["type"] == "append"]
    feed.append({"type": "result", "req": "zzz", "ok": False, "error": "not mine"})  # another view's request
    script = """
      click('approve', 'sevt_ask'); click('interrupt');
      el.querySelector('textarea').value = 'and then?'; click('send');
      const req = model.sent.find((m) => m.type === 'send').req;
      deliver({type: 'result', req, action: 'send', ok: false, error: 'RuntimeError: offline'});
    """
    report = browser_run(view, sent, feed, script)
    total = len(events) + 1
    assert report["count"] == str(total) and report["rows"] == total and report["awaiting"] == "1"
    assert report["previews"] == ["Working on it"]
    assert report["bars"] == 6 + 4 + 2  # 6 model requests, 4 tool calls, 2 waits for approval (one still on)
    sent_msgs = [m for m in report["sent"] if m["type"] != "sync"]
    assert [(m["type"], m.get("tool_use_id"), m.get("allow"), m.get("text")) for m in sent_msgs] == [
        ("confirm", "sevt_ask", True, None),
        ("interrupt", None, None, None),
        ("send", None, None, "and then?"),
    ]
    buttons = {(b["action"], b["id"]): b for b in report["buttons"]}
    assert buttons[("approve", "sevt_ask")]["disabled"] and buttons[("approve", "sevt_ask")]["text"] == "Approving…"
    assert report["notices"] == ["Could not send the message: RuntimeError: offline"]
    assert not buttons[("send", None)]["disabled"]  # usable again after the error

    # the confirmation and the final message reach the log: the button and the preview go
    session.emit(ev("user.tool_confirmation", "sevt_ok", tool_use_id="sevt_ask", result="allow"))
    session.emit(ev("agent.message", "sevt_pv", content=text("Working on it, done.")))
    assert view.flush()
    report = browser_run(view, sent, [m for m in sent if m["type"] == "append"])
    assert report["awaiting"] == "0" and not [b for b in report["buttons"] if b["action"] == "approve"]
    assert report["previews"] == [] and "Working on it, done." in report["text"]


@needs_chromium
def test_browser_shows_the_tail_of_a_long_log(views: list[SessionView]) -> None:
    session = FakeSession(sample_events(100))  # 1,100 events, made before the view (as after attach)
    view, sent = open_view(views, session, max_rows=200)
    report = browser_run(view, sent, [])
    assert report["count"] == "1100" and report["rows"] == 200
    assert report["hidden"] == "900 earlier events hidden"
    assert report["bars"] == 300  # the timeline has the whole log


@needs_chromium
def test_browser_follows_the_newest_row_unless_scrolled_up(views: list[SessionView]) -> None:
    session = FakeSession()
    view, sent = open_view(views, session)
    state = view_state(view)  # the page opens on an empty log, then the rows arrive live
    front(view, {"type": "sync", "since": 0, "view": "x"})
    assert view.flush() and sent.pop()["items"] == []
    events = sample_events(60)  # 660 events, delivered as 20 messages
    for i in range(0, 660, 33):
        session.emit(*events[i : i + 33])
        assert view.flush()
    appends = sent.of("append")
    assert len(appends) == 20
    script = f"""
      const log = el.querySelector('.nbav-log');
      const gap = () => log.scrollHeight - log.scrollTop - log.clientHeight;
      const [first, second] = [{json.dumps(appends[:10])}, {json.dumps(appends[10:])}];
      for (const m of first) {{ deliver(m); await sleep(30); }}
      await sleep(200);
      report.followed = gap();
      log.dispatchEvent(new WheelEvent('wheel', {{deltaY: -500}}));
      log.scrollTop = 100;  // the user scrolls up to read
      await sleep(100);
      for (const m of second) {{ deliver(m); await sleep(30); }}
      await sleep(200);
      report.kept = log.scrollTop;
      log.dispatchEvent(new WheelEvent('wheel', {{deltaY: 50000}}));
      log.scrollTop = log.scrollHeight;  // and back to the end: following again
      await sleep(100);
      deliver({{type: 'append', items: [{{n: 660, k: 'agent', id: 'x', t: 1, x: 'one\\ntwo\\nthree\\nfour'}}]}});
      await sleep(200);
      report.again = gap();
    """
    report = run_page(state, [], [{"type": "sync", "t0": None, "items": [], "done": True}], script)
    assert report["errors"] == []
    assert report["followed"] <= 1 and 50 < report["kept"] < 400 and report["again"] <= 1
    assert report["count"] == "661" and report["rows"] == 500 and report["hidden"] == "161 earlier events hidden"


# ---- a real kernel: updates reach the front end over IOPub --------------------------------------


class KernelFront:
    """A jupyter_client kernel, read like a front end would (every IOPub message)."""

    def __init__(self) -> None:
        from jupyter_client.manager import KernelManager

        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=str(Path(__file__).parents[1]))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.seen: list[dict[str, Any]] = []

    def run(self, code: str, timeout: float = 60) -> list[dict[str, Any]]:
        """Execute ``code``; return the IOPub messages up to its idle status, in order."""
        msg_id = self.kc.execute(code)
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.kc.get_iopub_msg(timeout=timeout)
            got.append(msg)
            if msg["msg_type"] == "error":
                raise AssertionError("\n".join(msg["content"]["traceback"]))
            done = msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
            if done and msg["parent_header"].get("msg_id") == msg_id:
                self.kc.get_shell_msg(timeout=timeout)
                return got
        raise AssertionError("the cell did not finish")

    def listen(self, seconds: float) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(self.kc.get_iopub_msg(timeout=left))
            except queue.Empty:
                break
        return got

    def to_widget(self, comm_id: str, content: dict[str, Any]) -> None:
        """Send a custom message to the widget, as the browser's model.send does."""
        data = {"comm_id": comm_id, "data": {"method": "custom", "content": content}}
        self.kc.shell_channel.send(self.kc.session.msg("comm_msg", data))

    def shutdown(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def custom(messages: list[dict[str, Any]], comm_id: str, kind: str) -> list[dict[str, Any]]:
    return [
        m["content"]["data"]["content"]
        for m in messages
        if m["msg_type"] == "comm_msg"
        and m["content"]["comm_id"] == comm_id
        and m["content"]["data"].get("method") == "custom"
        and m["content"]["data"]["content"]["type"] == kind
    ]


@pytest.mark.slow
def test_kernel_delivers_updates_when_idle_and_while_busy() -> None:
    pytest.importorskip("jupyter_client")
    kernel = KernelFront()
    try:
        setup = inspect.getsource(FakeSession)
        shown = kernel.run(
            "from __future__ import annotations\nimport threading, time\n"
            "from nb_agents.notebook._view import SessionView\n"
            f"{setup}\nfake = FakeSession()\nview = SessionView(fake, interval=0.05)\ndisplay(view)\n"
        )
        display = [m for m in shown if m["msg_type"] == "display_data"][0]["content"]["data"]
        comm_id = display["application/vnd.jupyter.widget-view+json"]["model_id"]
        assert display["text/plain"] == "SessionView(sesn_fake, status=idle, 0 events: 0 messages, 0 tool calls)"

        # idle: the cell returns at once, the producer thread keeps going, the view follows
        kernel.run("threading.Thread(target=fake.produce, args=(30, 0.02, 'a')).start()")
        later = kernel.listen(2.5)
        appended = custom(later, comm_id, "append")
        assert [r["n"] for m in appended for r in m["items"]] == list(range(30))
        assert 2 <= len(appended) <= 25  # batched: not one message per event

        # busy: another cell runs (blocking the kernel's loop) while events arrive
        during = kernel.run("threading.Thread(target=fake.produce, args=(30, 0.02, 'b')).start()\ntime.sleep(2.0)")
        appended = custom(during, comm_id, "append")  # all of them before that cell's idle
        assert [r["n"] for m in appended for r in m["items"]] == list(range(30, 60))

        # the browser asks for backfill and clicks Deny: both go through the comm
        kernel.to_widget(comm_id, {"type": "sync", "since": 55, "view": "b1"})
        deny = {"type": "confirm", "tool_use_id": "sevt_x", "allow": False, "message": "no", "req": "q"}
        kernel.to_widget(comm_id, deny)
        replies = kernel.listen(1.5)
        (sync,) = custom(replies, comm_id, "sync")
        assert sync["view"] == "b1" and sync["done"] and [r["n"] for r in sync["items"]] == [55, 56, 57, 58, 59]
        assert custom(replies, comm_id, "result") == [{"type": "result", "action": "confirm", "ok": True, "req": "q"}]
        out = kernel.run("print(fake.calls, repr(view))")
        printed = "".join(m["content"]["text"] for m in out if m["msg_type"] == "stream")
        assert "[('confirm', 'sevt_x', False, 'no')] SessionView(sesn_fake, status=idle, 60 events:" in printed
    finally:
        kernel.shutdown()


@needs_chromium
def test_browser_reads_approvals_markdown_search_and_budget(views: list[SessionView], tmp_path: Path) -> None:
    script = "python3 - <<'PY'\n" + "\n".join(f"print('line {i}')" for i in range(14)) + "\nPY"
    attack = (
        "| region | revenue |\n|:--|--:|\n| north | 255 |\n\n"
        '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> [x](javascript:window.pwned=3)'
    )
    budget = {"type": "limit", "max_list_cost": {"amount": "2500", "currency": "USD"}}
    events = [
        ev("user.message", "m", content=text("Which region sells most?")),
        ev("agent.message", "a", content=text(attack)),
        ev("agent.tool_use", "u1", name="bash", input={"command": script}, evaluated_permission="ask"),
        ev("agent.tool_use", "u2", name="write", input={"file_path": "a.py", "content": "x = 1\n"},
           evaluated_permission="ask"),
        ev("span.model_request_start", "q"),
        ev("span.model_request_end", "e", model_request_start_id="q", model_usage={"input_tokens": 1200}),
        ev("session.usage", "s", usage={"list_cost": {"amount": "12", "currency": "USD"}}, budget=budget),
        ev("session.status_idle", "i", stop_reason={"type": "requires_action", "event_ids": ["u1", "u2"]}),
    ]  # fmt: skip
    session = FakeSession(events)
    session.system, session.tool_names = "You are a careful analyst.", ["bash", "write"]  # type: ignore[attr-defined]
    view, sent = open_view(views, session)
    shot = tmp_path / "view.png"
    probe = """
      report.header = el.querySelector('.nbav-status').textContent;
      report.statusClass = el.querySelector('.nbav-status').className;
      report.cost = el.querySelector('.nbav-cost').textContent;
      report.inputs = [...el.querySelectorAll('[data-role=approval-input]')].map((e) => e.textContent);
      const boxes = el.querySelectorAll('[data-role=approval-input] pre');
      report.scrolls = [...boxes].map((e) => getComputedStyle(e).overflowY);
      report.cells = [...el.querySelectorAll('.nbav-md td')].map((e) => e.textContent);
      report.images = el.querySelectorAll('.nbav-md img').length;
      report.links = [...el.querySelectorAll('.nbav-md a')].map((a) => a.getAttribute('href'));
      await sleep(50);
      report.pwned = window.pwned ?? null;
      const search = el.querySelector('[data-role=search]');
      search.value = 'north'; search.dispatchEvent(new Event('input'));
      report.searched = [el.dataset.shown, [...el.querySelectorAll('.nbav-rows > .nbav-row')]
        .filter((r) => getComputedStyle(r).display !== 'none').map((r) => r.dataset.kind)];
      search.value = ''; search.dispatchEvent(new Event('input'));
      el.querySelector('[data-filter=messages]').click();
      report.filtered = [...el.querySelectorAll('.nbav-rows > .nbav-row')]
        .filter((r) => getComputedStyle(r).display !== 'none').map((r) => r.dataset.kind);
      el.querySelector('[data-filter=messages]').click();
      click('full');
      report.full = getComputedStyle(el.querySelector('.nbav-log')).maxHeight;
      const request = el.querySelector('.nbav-k-mend details');
      request.open = true;
      await sleep(50);
      report.request = request.textContent;
    """
    state = view_state(view)
    report = run_page(state, [], [{"type": "sync", "t0": state["backlog"]["t0"], "items": [], "done": True}], probe,
                      screenshot=shot)  # fmt: skip
    assert report["errors"] == []
    assert report["header"] == "● waiting for you" and "nbav-st-waiting" in report["statusClass"]
    assert report["cost"] == "$0.12 of $25.00 budget"
    assert len(report["inputs"]) == 2  # each waiting call has its own box
    assert all(f"print('line {i}')" in report["inputs"][0] for i in range(14))  # the whole script
    assert "write a.py" in report["inputs"][1] and "x = 1" in report["inputs"][1]
    assert report["scrolls"] == ["auto", "auto"]
    assert report["cells"] == ["north", "255"]  # a Markdown table is a table
    assert report["images"] == 0 and report["links"] == [] and report["pwned"] is None  # inert
    shown, kinds = report["searched"]
    assert kinds == ["agent"] and shown == "1"  # the rows without "north" are hidden
    assert "agent" not in report["filtered"] and "user" not in report["filtered"] and "tool" in report["filtered"]
    assert report["full"] == "none"  # reading mode: the log at full height
    request = report["request"]  # what the model request carried
    assert "1,200" in request and "You are a careful analyst." in request and "bash, write" in request
    assert "1 user messages, 1 agent messages, 2 tool calls" in request
    assert shot.stat().st_size > 10_000


@needs_chromium
def test_browser_without_a_kernel_says_so_instead_of_loading(views: list[SessionView]) -> None:
    view, _ = open_view(views, FakeSession(sample_events(60)), max_rows=100)  # 660 events, 100 in the backlog
    state = view_state(view)
    script = """
      report.before = el.querySelector('.nbav-hidden').textContent;
      await sleep(5600);  // nobody answers the sync request: a saved notebook without its kernel
      report.after = el.querySelector('.nbav-hidden').textContent;
    """
    report = run_page(state, [], [], script)  # no sync reply
    assert report["errors"] == []
    assert "loading" in report["before"]
    assert "not in this saved view (no kernel)" in report["after"] and "loading" not in report["after"]
    assert report["rows"] == 100  # what the saved state holds is drawn
