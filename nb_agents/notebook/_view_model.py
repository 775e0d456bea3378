"""The live view's Python-side log: wire events in, compact rows for the browser out.

``ViewLog`` is plain Python (no widget imports), so it can be tested and benchmarked alone.
It keeps every stored event as one compact *row* (what the browser renders), indexed by
position ``n``, and the live previews of messages still being written. ``apply(items)``
returns the items to send to the browser: new or changed rows, and preview items.

Row fields (short keys keep the bytes per event down; absent means empty):

- ``n`` position in the log, ``k`` kind, ``id`` event id, ``t`` ms since ``t0``,
  ``q`` 1 while a client event is queued (``processed_at`` null).
- ``x`` text (message text, tool output, error message, stop reason …), ``tr`` its full
  length when ``x`` was shortened.
- tools: ``name``, ``in`` (the input object, or a shortened JSON string), ``perm``
  (evaluated permission), ``srv`` (MCP server); results and confirmations: ``ref`` (the
  tool use event id), ``err`` 1 on error, ``ok`` 1 for allow / 0 for deny.
- model requests: ``ref`` (the start event id), ``u`` ``[input, output, cache read,
  cache write]`` tokens; status: ``st``; errors: ``et`` (error type), ``rs`` (retry status).
- ``ty`` the wire type, only where ``k`` does not already say it.

Preview items have no ``n``: ``{"k": "pv", "id", "ty", "parts": [...]}`` (re)starts a
preview, ``{"k": "pd", "id", "i", "x"}`` appends text to its part ``i``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

__all__ = ["INPUT_LIMIT", "RESULT_LIMIT", "TEXT_LIMIT", "ViewLog", "shorten", "to_row"]

TEXT_LIMIT = 20_000
"""Message text longer than this (characters) is shortened in the view (not in the log)."""
RESULT_LIMIT = 2_000
"""Tool output longer than this is shortened to its head and tail."""
INPUT_LIMIT = 2_000
"""Tool input whose JSON is longer than this is sent as a shortened JSON string."""

_STATUS = {
    "session.status_running": "running",
    "session.status_idle": "idle",
    "session.status_rescheduled": "rescheduling",
    "session.status_terminated": "terminated",
    "session.deleted": "terminated",
}
_TOOL_USES = ("agent.tool_use", "agent.mcp_tool_use", "agent.custom_tool_use")
_RESULTS = {
    "agent.tool_result": "tool_use_id",
    "agent.mcp_tool_result": "mcp_tool_use_id",
    "user.tool_result": "tool_use_id",
    "user.custom_tool_result": "custom_tool_use_id",
}
_SIMPLE = {
    "user.message": "user",
    "agent.message": "agent",
    "system.message": "system",
    "agent.thinking": "thinking",
    "user.interrupt": "interrupt",
    "span.model_request_start": "mreq",
}
_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def shorten(text: str, limit: int) -> tuple[str, int | None]:
    """Shorten ``text`` to about ``limit`` characters, keeping its head and its tail.

    Returns:
        ``(text, None)`` when it fits, else ``(shortened, original length)``.
    """
    if len(text) <= limit:
        return text, None
    tail = limit // 4
    head = limit - tail
    omitted = len(text) - head - tail
    return f"{text[:head]}\n… [{omitted:,} characters not shown] …\n{text[-tail:]}", len(text)


def _content_text(content: Any) -> str:
    """The readable text of a list of content blocks (placeholders for non-text blocks)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind == "search_result":
            parts.append(f"[search result: {block.get('title', '')}]")
        elif kind == "document" and block.get("title"):
            parts.append(f"[document: {block['title']}]")
        else:
            parts.append(f"[{kind}]")
    return "\n".join(parts)


def _epoch_ms(stamp: Any) -> float | None:
    """Milliseconds since the epoch for an RFC 3339 timestamp, or None."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        parsed = datetime.fromisoformat(stamp[:-1] + "+00:00" if stamp[-1:] in "zZ" else stamp)
    except ValueError:  # Python 3.10 rejects other fraction lengths; the full parser accepts them
        try:
            from nb_agents.events import parse_time

            parsed = parse_time(stamp)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp() * 1000.0


def _put_text(row: dict[str, Any], text: str, limit: int) -> None:
    if text:
        row["x"], full = shorten(text, limit)
        if full is not None:
            row["tr"] = full


def to_row(event: dict[str, Any], n: int, t: int | None) -> dict[str, Any]:
    """The compact row for one stored wire event (see the module docstring)."""
    kind = str(event.get("type", ""))
    row: dict[str, Any] = {"n": n, "k": "event", "id": event.get("id") or ""}
    if t is not None:
        row["t"] = t
    elif kind.startswith(("user.", "system.")):
        row["q"] = 1
    if kind in _SIMPLE:
        row["k"] = _SIMPLE[kind]
        if kind.endswith("message"):
            _put_text(row, _content_text(event.get("content")), TEXT_LIMIT)
    elif kind in _TOOL_USES:
        row["k"] = "tool"
        row["name"] = event.get("name", "")
        if kind != "agent.tool_use":
            row["ty"] = kind
        tool_input = event.get("input") or {}
        encoded = json.dumps(tool_input, ensure_ascii=False, default=str)
        row["in"] = tool_input if len(encoded) <= INPUT_LIMIT else shorten(encoded, INPUT_LIMIT)[0]
        if event.get("evaluated_permission"):
            row["perm"] = event["evaluated_permission"]
        if event.get("mcp_server_name"):
            row["srv"] = event["mcp_server_name"]
    elif kind in _RESULTS:
        row["k"] = "result"
        row["ref"] = event.get(_RESULTS[kind]) or ""
        if event.get("is_error"):
            row["err"] = 1
        _put_text(row, _content_text(event.get("content")), RESULT_LIMIT)
    elif kind == "user.tool_confirmation":
        row["k"] = "confirm"
        row["ref"] = event.get("tool_use_id") or ""
        row["ok"] = 1 if event.get("result") == "allow" else 0
        _put_text(row, str(event.get("deny_message") or ""), RESULT_LIMIT)
    elif kind == "span.model_request_end":
        row["k"] = "mend"
        row["ref"] = event.get("model_request_start_id") or ""
        usage = event.get("model_usage") or {}
        row["u"] = [int(usage.get(key) or 0) for key in _USAGE_KEYS]
        if event.get("is_error"):
            row["err"] = 1
    elif kind in _STATUS:
        row["k"] = "status"
        row["st"] = _STATUS[kind]
        if kind != "session.status_" + row["st"]:
            row["ty"] = kind
        reason = event.get("stop_reason") or {}
        if reason.get("type"):
            row["x"] = reason["type"]
    elif kind == "session.error":
        error = event.get("error") or {}
        row["k"] = "error"
        row["et"] = error.get("type", "unknown_error")
        row["rs"] = (error.get("retry_status") or {}).get("type", "")
        _put_text(row, str(error.get("message") or ""), RESULT_LIMIT)
    else:
        row["ty"] = kind
        text = event.get("description") if kind == "user.define_outcome" else event.get("content")
        _put_text(row, _content_text(text) if text else "", RESULT_LIMIT)
    return row


class ViewLog:
    """The rows of one session's log, as the live view shows them.

    Not thread-safe: the view calls it from one thread at a time (under its lock).

    Attributes:
        rows: One row per stored event, in log order (``rows[n]["n"] == n``).
        t0: The epoch milliseconds the rows' ``t`` are relative to (the first timestamp seen).
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.t0: float | None = None
        self._index: dict[str, int] = {}
        self._previews: dict[str, dict[str, Any]] = {}
        self._asks: dict[str, str] = {}  # tool use id -> name, for calls still awaiting a confirmation
        self.messages = 0
        self.tool_calls = 0
        self.errors = 0

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def awaiting(self) -> list[str]:
        """Ids of tool calls that wait for a confirmation (``evaluated_permission`` ask)."""
        return list(self._asks)

    def apply(self, items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Take stored events and previews in arrival order; return the items to send.

        An event whose id is already in the log replaces its row in place (a client event seen
        first queued, then processed), unless that would turn a processed row back into a
        queued one. Rows that did not change are not sent again. Consecutive text deltas of
        the same preview part are merged into one item.
        """
        out: list[dict[str, Any]] = []
        for item in items:
            kind = item.get("type")
            if kind == "event_start":
                self._start_preview(item.get("event") or {}, out)
            elif kind == "event_delta":
                self._delta(item, out)
            elif isinstance(kind, str):
                self._stored(item, out)
        return out

    def backfill(self, since: int) -> list[dict[str, Any]]:
        """Rows from position ``since`` on, then the previews still open (full text)."""
        items = self.rows[max(0, since) :]
        previews = [
            {"k": "pv", "id": key, "ty": p["ty"], "parts": list(p["parts"])} for key, p in self._previews.items()
        ]
        return [*items, *previews]

    # ---- internals ---------------------------------------------------------------------------

    def _time(self, event: dict[str, Any]) -> int | None:
        ms = _epoch_ms(event.get("processed_at"))
        if ms is None:
            return None
        if self.t0 is None:
            self.t0 = ms
        return round(ms - self.t0)

    def _stored(self, event: dict[str, Any], out: list[dict[str, Any]]) -> None:
        event_id = event.get("id") or ""
        position = self._index.get(event_id) if event_id else None
        t = self._time(event)
        if position is not None:
            old = self.rows[position]
            row = to_row(event, position, t)
            if row == old or ("q" in row and "q" not in old):
                return
            self.rows[position] = row
            self._count(old, -1)
        else:
            row = to_row(event, len(self.rows), t)
            if event_id:
                self._index[event_id] = len(self.rows)
            self.rows.append(row)
        self._count(row, +1)
        self._track(row)
        out.append(row)

    def _count(self, row: dict[str, Any], sign: int) -> None:
        kind = row["k"]
        if kind in ("user", "agent"):
            self.messages += sign
        elif kind == "tool":
            self.tool_calls += sign
        elif kind == "error" or (row.get("err") and kind in ("result", "mend")):
            self.errors += sign

    def _track(self, row: dict[str, Any]) -> None:
        kind = row["k"]
        if kind == "tool" and row.get("perm") == "ask":
            self._asks[row["id"]] = row["name"]
        elif kind in ("confirm", "result"):
            self._asks.pop(row.get("ref", ""), None)
        elif kind == "status" and row["st"] == "terminated":
            self._asks.clear()
        if kind in ("agent", "thinking"):
            self._previews.pop(row["id"], None)
        elif kind == "mend":
            self._previews.clear()  # a model request that ended closes any preview left open

    def _start_preview(self, event: dict[str, Any], out: list[dict[str, Any]]) -> None:
        event_id = event.get("id")
        if not event_id or event_id in self._index:
            return
        preview = {"ty": event.get("type") or "agent.message", "parts": []}
        self._previews[event_id] = preview
        out.append({"k": "pv", "id": event_id, "ty": preview["ty"], "parts": []})

    def _delta(self, item: dict[str, Any], out: list[dict[str, Any]]) -> None:
        event_id = item.get("event_id")
        delta = item.get("delta") or {}
        text = (delta.get("content") or {}).get("text")
        if not event_id or event_id in self._index or not isinstance(text, str):
            return
        index = int(delta.get("index") or 0)
        preview = self._previews.get(event_id)
        if preview is None:  # a delta without its start: open the preview now
            self._start_preview({"id": event_id, "type": "agent.message"}, out)
            preview = self._previews[event_id]
        parts: list[str] = preview["parts"]
        while len(parts) <= index:
            parts.append("")
        parts[index] += text
        last = out[-1] if out else None
        if last is not None and last["k"] == "pd" and last["id"] == event_id and last["i"] == index:
            last["x"] += text
        else:
            out.append({"k": "pd", "id": event_id, "i": index, "x": text})
