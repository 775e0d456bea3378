"""Follow a session's event log live: the stream first, then the history, deduplicated by id.

This is the reconnect pattern of the SDK's session runner: open the stream (which has no
replay), read the whole history with ``events.list``, drop what was already seen, then consume
the stream; on a broken connection, do it again with capped backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nb_agents.client._local import in_background

if TYPE_CHECKING:
    import anthropic

__all__ = ["Follower", "to_wire"]

log = logging.getLogger(__name__)

_FINAL = ("session.deleted", "session.status_terminated")


def to_wire(event: Any) -> dict[str, Any]:
    """An SDK event object as its wire JSON dict."""
    if isinstance(event, dict):
        return event
    data: dict[str, Any] = event.to_dict(mode="json")
    return data


class Follower:
    """A daemon thread that feeds every event of one session to ``deliver`` exactly once.

    Previews (``event_start``/``event_delta``) are delivered too, but never deduplicated or
    counted; stored events are delivered once each, a client event a second time when it is
    processed (same id, ``processed_at`` set).
    """

    def __init__(self, client: anthropic.Anthropic, session_id: str, deliver: Callable[[list[dict[str, Any]]], None]):
        self.client = client
        self.session_id = session_id
        self.deliver = deliver
        self.seen: dict[str, str | None] = {}
        self.stopped = threading.Event()
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"nb_agents follow {session_id}", daemon=True)
        self._stream: Any = None

    def start(self) -> None:
        """Start following."""
        self.thread.start()

    def stop(self) -> None:
        """Stop following (the thread ends at once if it waits on the stream)."""
        self.stopped.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # closing a broken stream may raise; nothing to do about it
                pass

    def _fresh(self, event: dict[str, Any]) -> bool:
        event_id = event.get("id")
        if not event_id:
            return True
        processed = event.get("processed_at")
        if event_id in self.seen and (self.seen[event_id] is not None or processed is None):
            return False
        self.seen[event_id] = processed
        return True

    def _history(self) -> list[dict[str, Any]]:
        events = [to_wire(e) for e in self.client.beta.sessions.events.list(self.session_id, limit=1000)]
        return [e for e in events if self._fresh(e)]

    def _run(self) -> None:
        with in_background():  # a server stopped on purpose stays stopped for this thread
            self._follow()

    def _follow(self) -> None:
        delay = 0.5
        while not self.stopped.is_set():
            try:
                with self.client.beta.sessions.events.stream(self.session_id, event_deltas=["agent.message"]) as stream:
                    self._stream = stream
                    backlog = self._history()
                    if backlog:
                        self.deliver(backlog)
                    delay = 0.5
                    for event in stream:
                        wire = to_wire(event)
                        if self._fresh(wire):
                            self.deliver([wire])
                        if wire.get("type") in _FINAL:
                            self.ended.set()
                            return
            except Exception as exc:
                if self.stopped.is_set():
                    return
                status = getattr(exc, "status_code", None)
                if status in (401, 403, 404):
                    log.warning("stopped following session %s: %s", self.session_id, exc)
                    self.ended.set()
                    return
                log.debug("stream of %s broke (%s); reconnecting in %.1fs", self.session_id, exc, delay)
            finally:
                self._stream = None
            self.stopped.wait(delay)
            delay = min(delay * 2, 10.0)
        self.ended.set()


def wait_until(predicate: Callable[[], bool], condition: threading.Condition, timeout: float | None) -> bool:
    """Wait on ``condition`` until ``predicate()`` holds; False on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with condition:
        while not predicate():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            condition.wait(remaining if remaining is not None else 1.0)
    return True
