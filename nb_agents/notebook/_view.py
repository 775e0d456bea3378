"""``SessionView``: the live view of a session's event log (an anywidget).

Threading (``shared/reference/notebook-ecosystem.md`` §2): the session calls the view from its
own background thread, and the view only queues what it gets. ONE flusher thread per view owns
the widget's writes: at most every ``interval`` seconds it turns what arrived into compact rows
(``ViewLog``) and sends them as one ``append`` message; it also answers the browser's ``sync``
requests and refreshes the header traits. A thread, not an asyncio task, because the kernel's
event loop is blocked while a cell runs, and the view must keep updating then too; ipykernel
hands comm messages from any thread to its IOPub thread.

Clicks (approve, deny, interrupt, send) arrive on the kernel's shell thread (so, only between
cells); a second small worker thread calls the session, so a slow or failing backend never
blocks the kernel, and the outcome (an error included) goes back to the browser.

Messages, Python → browser: ``{"type": "append" | "sync", "t0", "items": [...]}`` (a sync reply
also has ``view`` and ``done``) and ``{"type": "result", "req", "action", "ok", "error"?}``.
Browser → Python: ``{"type": "sync", "since", "view", "skip"?}``, ``{"type": "confirm",
"tool_use_id", "allow", "message"?, "req"}``, ``{"type": "interrupt", "req"}``,
``{"type": "send", "text", "req"}``. Rows: ``_view_rows``; preview items: ``_view_model``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from nb_agents.notebook._view_model import LiveSession, ViewLog, act
from nb_agents.notebook._view_rows import shown_model

__all__ = ["LiveSession", "SessionView"]

_log = logging.getLogger(__name__)
_STATIC = Path(__file__).parent / "static"
_CHUNK = 2_000  # rows per message: a burst or a backfill goes as a few messages, not one huge one
_COST_EVERY = 1.0  # seconds between two estimated_cost() calls (it may build a DataFrame)
_STOP = ("stop",)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class SessionView(anywidget.AnyWidget):
    """The live view of a session: its log as it happens, with buttons to steer it.

    Args:
        session: The session to show (anything with the ``LiveSession`` surface).
        max_rows: How many of the latest events the page draws (older ones are counted only).
        interval: The longest time (seconds) an event waits before it is sent to the browser;
            everything that arrives meanwhile goes in the same message.

    Example:
        >>> view = SessionView(session)  # doctest: +SKIP
        >>> view  # in a notebook the live view; in a console its one-line summary  # doctest: +SKIP
        SessionView(sesn_01…, status=idle, 12 events: 2 messages, 3 tool calls)
    """

    _esm = _STATIC / "session_view.js"
    _css = _STATIC / "session_view.css"

    status = traitlets.Unicode("idle").tag(sync=True)
    info = traitlets.Dict().tag(sync=True)
    max_rows = traitlets.Int(500).tag(sync=True)
    uid = traitlets.Unicode("").tag(sync=True)
    backlog = traitlets.Dict().tag(sync=True)

    def __init__(self, session: LiveSession, *, max_rows: int = 500, interval: float = 0.15) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, not {max_rows}")
        self._session = session
        self._interval = float(interval)
        self._rows = ViewLog()
        self._rows_lock = threading.Lock()
        self._inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._actions: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._action_thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._errors: list[str] = []
        self._cost: float | None = None
        self._cost_due: float | None = None  # when the cost should be read again (monotonic)
        self._cost_read = 0.0
        # Subscribe first, then read the snapshot: nothing falls between the two, and what
        # arrives twice is merged by event id.
        self._unsubscribe = session.subscribe(self._receive)
        try:
            self._rows.apply(session.events)
            self._read_cost()
            status, info = self._header()
            super().__init__(
                max_rows=max_rows, status=status, info=info, uid=uuid.uuid4().hex, backlog=self._backlog(max_rows)
            )
        except BaseException:
            self._unsubscribe()
            raise
        self.on_msg(self._on_front_msg)
        self._flusher = threading.Thread(target=self._run, name=f"nb_agents-view-{session.id}", daemon=True)
        self._flusher.start()

    # ---- public ------------------------------------------------------------------------------

    @property
    def session(self) -> LiveSession:
        """The session this view shows."""
        return self._session

    @property
    def errors(self) -> list[str]:
        """Errors of the actions asked from the view (approve, deny, interrupt, send), oldest first."""
        return list(self._errors)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until the actions asked so far have run and all items received so far were sent.

        Returns:
            False if ``timeout`` seconds passed first, or if the view is closed.
        """
        if self._closed.is_set():
            return False
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._action_thread is not None:
            done = threading.Event()
            self._actions.put(("barrier", done))
            if not done.wait(timeout):
                return False
        sent = threading.Event()
        self._inbox.put(("barrier", sent))
        return sent.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        """Stop following the session and close the widget (the session keeps running)."""
        closed = getattr(self, "_closed", None)
        if closed is not None and not closed.is_set():
            closed.set()
            getattr(self, "_unsubscribe", lambda: None)()
            self._inbox.put(_STOP)
            self._actions.put(_STOP)
        super().close()

    def __repr__(self) -> str:
        with self._rows_lock:
            rows = self._rows
            parts = [_plural(rows.messages, "message"), _plural(rows.tool_calls, "tool call")]
            if rows.errors:
                parts.append(_plural(rows.errors, "error"))
            if rows.awaiting:
                parts.append(f"{len(rows.awaiting)} awaiting approval")
            counts = f"{_plural(len(rows), 'event')}: {', '.join(parts)}"
        return f"SessionView({self._session.id}, status={self._session.status}, {counts})"

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        # Being displayed: refresh the backlog first, so the new view draws the latest rows at
        # once, even if the kernel is busy (and cannot answer its sync request) right after.
        if not self._closed.is_set():
            fresh = threading.Event()
            self._inbox.put(("backlog", fresh))
            fresh.wait(2.0)
        bundle = super()._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle or {}, {})
        data["text/plain"] = repr(self)
        data["text/html"] = self.transcript()
        return data, metadata

    def transcript(self) -> str:
        """The log so far as static HTML (the last ``max_rows`` events): the output's fallback.

        A front end without the widget (GitHub, nbviewer, an untrusted notebook) shows this
        instead of the live view; it needs no kernel and runs no script.
        """
        from nb_agents.notebook._transcript import transcript_html

        session = self._session
        return transcript_html(
            session.events,
            session_id=session.id,
            title=getattr(session, "title", None),
            model=getattr(session, "model", None),
            status=session.status,
            cost=self._cost,
            max_events=self.max_rows,
        )

    # ---- producers (any thread) --------------------------------------------------------------

    def _receive(self, items: list[dict[str, Any]]) -> None:
        """The session's callback: queue the items (never blocks, never raises)."""
        if items:
            self._inbox.put(("items", list(items)))

    def _on_front_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """A custom message from the browser (on the kernel's shell thread)."""
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "sync":
            since, skip = content.get("since"), content.get("skip")
            if not (isinstance(skip, list) and len(skip) == 2 and all(isinstance(v, int) for v in skip)):
                skip = None
            since = since if isinstance(since, int) else 0
            self._inbox.put(("sync", since, str(content.get("view", "")), tuple(skip) if skip else None))
        elif kind in ("confirm", "interrupt", "send"):
            self._actions.put(("act", content))
            if self._action_thread is None:
                name = f"nb_agents-view-actions-{self._session.id}"
                self._action_thread = threading.Thread(target=self._run_actions, name=name, daemon=True)
                self._action_thread.start()
        else:
            reply = {"type": "result", "action": str(kind), "ok": False, "error": f"unknown request {kind!r}"}
            if "req" in content:
                reply["req"] = content["req"]
            self._inbox.put(("notice", reply))

    # ---- the action worker -------------------------------------------------------------------

    def _run_actions(self) -> None:
        while True:
            entry = self._actions.get()
            if entry is _STOP:
                return
            if entry[0] == "barrier":
                entry[1].set()
                continue
            content: dict[str, Any] = entry[1]
            action = str(content.get("type"))
            reply: dict[str, Any] = {"type": "result", "action": action, "ok": True}
            if "req" in content:
                reply["req"] = content["req"]
            try:
                act(self._session, content)
            except Exception as exc:  # shown in the view, not lost in a thread
                reply.update(ok=False, error=f"{type(exc).__name__}: {exc}")
                self._errors.append(f"{action}: {type(exc).__name__}: {exc}")
            self._inbox.put(("notice", reply))

    # ---- the flusher -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            wait = None if self._cost_due is None else max(0.0, self._cost_due - time.monotonic())
            try:
                first: tuple[Any, ...] | None = self._inbox.get(timeout=wait)
            except queue.Empty:
                first = None
            if first is _STOP:
                return
            if first is not None and first[0] == "items" and self._closed.wait(self._interval):
                return  # closed while gathering a batch
            batch = [] if first is None else [first]
            while True:
                try:
                    batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            stop = _STOP in batch
            try:
                self._process(batch[: batch.index(_STOP)] if stop else batch)
            except Exception:  # the flusher must outlive any one bad batch
                _log.exception("nb_agents live view: could not send an update")
            if stop:
                return

    def _process(self, batch: list[tuple[Any, ...]]) -> None:
        done: list[threading.Event] = []
        backlog: dict[str, Any] | None = None
        out: list[dict[str, Any]] = []
        requests_ended = False  # the cost changes only when a model request ends
        with self._rows_lock:
            for entry in batch:
                if entry[0] == "items":
                    rows = self._rows.apply(entry[1])
                    requests_ended = requests_ended or any(row["k"] == "mend" for row in rows)
                    out.extend(rows)
                    continue
                self._send_rows("append", out)
                out = []
                if entry[0] == "sync":
                    rows = self._rows.backfill(entry[1], entry[3])
                    self._send_rows("sync", rows, view=entry[2])
                elif entry[0] == "notice":
                    self.send(entry[1])
                elif entry[0] == "backlog":
                    backlog = self._backlog(self.max_rows)
                    done.append(entry[1])
                else:
                    done.append(entry[1])
            self._send_rows("append", out)
            if self._cost_due is None and requests_ended:
                self._cost_due = self._cost_read + _COST_EVERY
            if self._cost_due is not None and time.monotonic() >= self._cost_due:
                self._read_cost()
            status, info = self._header()
            if backlog is None and status != self.status and status in ("idle", "terminated"):
                # a turn ended: refresh the snapshot saved with the notebook's widget state
                backlog = self._backlog(self.max_rows)
        if status != self.status:
            self.status = status
        if info != self.info:
            self.info = info
        if backlog is not None:
            self.backlog = backlog
        for event in done:
            event.set()

    def _send_rows(self, kind: str, items: list[dict[str, Any]], **extra: Any) -> None:
        """Send ``items`` in messages of ``_CHUNK`` items; a sync reply always goes, marked ``done`` last."""
        if not items and kind != "sync":
            return
        chunks = [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)] or [[]]
        for number, chunk in enumerate(chunks):
            message: dict[str, Any] = {"type": kind, "t0": self._rows.t0, "items": chunk, **extra}
            if kind == "sync":
                message["done"] = number == len(chunks) - 1
            self.send(message)

    def _backlog(self, count: int) -> dict[str, Any]:
        return {"t0": self._rows.t0, "items": self._rows.tail(count)}

    def _read_cost(self) -> None:
        try:
            self._cost = self._session.estimated_cost()
        except Exception:
            self._cost = None
        self._cost_read = time.monotonic()
        self._cost_due = None

    def _header(self) -> tuple[str, dict[str, Any]]:
        session = self._session
        try:
            usage = {k: int(v) for k, v in dict(session.usage or {}).items() if isinstance(v, int | float)}
            status = str(session.status or "idle")
        except Exception:
            usage, status = {}, "idle"
        title, model = getattr(session, "title", None), getattr(session, "model", None)
        info = {"id": session.id, "title": title, "model": shown_model(model), "usage": usage, "cost": self._cost}
        if self._rows.spend:
            info["spend"] = dict(self._rows.spend)
        system, tools = getattr(session, "system", None), getattr(session, "tool_names", None)
        if isinstance(system, str) and system:
            info["system"] = system[:4000]  # what each model request carries, for its detail
        if isinstance(tools, list) and tools:
            info["tools"] = [str(name) for name in tools][:100]
        return status, info
