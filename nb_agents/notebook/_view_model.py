"""The live view's Python-side log: wire events and previews in, items for the browser out.

``ViewLog`` is plain Python (no widget imports), so it can be tested and benchmarked alone.
It keeps every stored event as one compact row (``_view_rows``), indexed by position ``n``,
and the live previews of messages still being written. ``apply(items)`` returns the items to
send to the browser: new or changed rows, and preview items. Preview items have no ``n``:
``{"k": "pv", "id", "ty", "parts": [...]}`` (re)starts a preview, ``{"k": "pd", "id", "i",
"x"}`` appends text to its part ``i``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from nb_agents.notebook._view_rows import epoch_ms, to_row

__all__ = ["LiveSession", "ViewLog", "act"]


class LiveSession(Protocol):
    """What the live view needs from a session (``nb_agents.Session`` has it).

    ``subscribe(callback)`` calls ``callback(items)`` from a background thread with new stored
    events and live previews (``event_start`` / ``event_delta``), and returns an unsubscribe
    function. ``events`` is a snapshot copy of the stored events, in log order.
    """

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str | None: ...
    @property
    def status(self) -> str: ...  # "idle" | "running" | "rescheduling" | "terminated"
    @property
    def usage(self) -> dict[str, Any]: ...
    @property
    def model(self) -> str: ...
    @property
    def events(self) -> list[dict[str, Any]]: ...

    def subscribe(self, callback: Callable[[list[dict[str, Any]]], None]) -> Callable[[], None]: ...
    def send(self, text: str) -> None: ...
    def confirm(self, tool_use_id: str, allow: bool = True, message: str | None = None) -> None: ...
    def interrupt(self) -> None: ...
    def estimated_cost(self) -> float | None: ...


def act(session: LiveSession, request: dict[str, Any]) -> None:
    """Do what a button asked: ``confirm``, ``interrupt`` or ``send`` (the real session calls).

    Raises:
        ValueError: If the request is incomplete (no text, no tool use id).
    """
    action = request.get("type")
    if action == "interrupt":
        session.interrupt()
    elif action == "send":
        text = request.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("nothing to send: the message is empty")
        session.send(text)
    elif action == "confirm":
        tool_use_id = request.get("tool_use_id")
        if not isinstance(tool_use_id, str) or not tool_use_id:
            raise ValueError("confirm needs the tool_use_id of the call")
        allow = request.get("allow", True) is not False
        message = request.get("message")
        message = message if isinstance(message, str) and message.strip() and not allow else None
        session.confirm(tool_use_id, allow=allow, message=message)
    else:
        raise ValueError(f"unknown request {action!r}")


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
        self._open: set[str] = set()  # tool calls without a result yet
        self._cut: set[str] = set()  # tool calls that were open when the user interrupted
        self._denied: set[str] = set()  # tool calls denied (by the user or the policy)
        self.spend: dict[str, str] = {}  # the latest session.usage: {"spent": "$1.20", "budget": "$25.00"}
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

    def backfill(self, since: int, skip: tuple[int, int] | None = None) -> list[dict[str, Any]]:
        """Rows from position ``since`` on (less the range ``skip``), then the open previews.

        Args:
            since: The first position the browser lacks.
            skip: ``(start, stop)``: positions the browser already holds (its backlog).
        """
        since = max(0, since)
        if skip is None or skip[1] <= skip[0]:
            items = self.rows[since:]
        else:
            items = self.rows[since : max(since, skip[0])] + self.rows[max(since, skip[1]) :]
        return [*items, *self.previews()]

    def tail(self, count: int) -> list[dict[str, Any]]:
        """The last ``count`` rows, then the open previews (the backlog of a new view)."""
        return [*self.rows[-count:], *self.previews()]

    def previews(self) -> list[dict[str, Any]]:
        """One ``pv`` item (with the full text so far) per preview still open."""
        return [{"k": "pv", "id": key, "ty": p["ty"], "parts": list(p["parts"])} for key, p in self._previews.items()]

    # ---- internals ---------------------------------------------------------------------------

    def _time(self, event: dict[str, Any]) -> int | None:
        ms = epoch_ms(event.get("processed_at"))
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
            row = self._outcome(to_row(event, position, t))
            if row == old or ("q" in row and "q" not in old):
                return
            self.rows[position] = row
            self._count(old, -1)
        else:
            row = self._outcome(to_row(event, len(self.rows), t))
            if event_id:
                self._index[event_id] = len(self.rows)
            self.rows.append(row)
        self._count(row, +1)
        self._track(row)
        out.append(row)

    def _outcome(self, row: dict[str, Any]) -> dict[str, Any]:
        """Follow the tool calls; label a result of a denied or an interrupted call (``o``)."""
        kind = row["k"]
        if kind == "tool":
            self._open.add(row["id"])
            if row.get("perm") == "deny":
                self._denied.add(row["id"])
        elif kind == "confirm" and not row.get("ok"):
            self._denied.add(row["ref"])
        elif kind == "interrupt":  # queued or taken: the calls open when it was sent are cut
            self._cut |= self._open
        elif kind == "result":
            ref = row["ref"]
            self._open.discard(ref)
            if ref in self._denied:
                row["o"] = "denied"
            elif ref in self._cut and row.get("err"):
                row["o"] = "interrupted"
        elif kind == "usage":
            self.spend = {key: row[field] for key, field in (("spent", "x"), ("budget", "bx")) if field in row}
        return row

    def _count(self, row: dict[str, Any], sign: int) -> None:
        kind = row["k"]
        if kind in ("user", "agent"):
            self.messages += sign
        elif kind == "tool":
            self.tool_calls += sign
        elif kind == "error" or (row.get("err") and not row.get("o") and kind in ("result", "mend")):
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
        preview: dict[str, Any] = {"ty": event.get("type") or "agent.message", "parts": []}
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
