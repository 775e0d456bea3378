"""In-process fan-out of session events to live subscribers (SSE streams, widgets).

The store is the truth; the bus only carries what happened after a subscriber joined, as the
Managed Agents stream does (no replay). Delta previews (``event_start``/``event_delta``) go only
to subscribers that asked for them.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EventBus", "Subscription"]

#: A subscriber that falls this far behind is dropped rather than grow without bound.
MAX_BACKLOG = 10_000


@dataclass(eq=False)
class Subscription:
    """One live reader of a session's events.

    Attributes:
        session_id: The session it follows.
        deltas: Event types whose previews it wants (``agent.message``, ``agent.thinking``).
        queue: Items to deliver; ``None`` means the stream is over.
    """

    session_id: str
    deltas: frozenset[str] = frozenset()
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)
    overflowed: bool = False

    def _offer(self, item: dict[str, Any] | None) -> None:
        if self.overflowed:
            return
        if item is not None and self.queue.qsize() >= MAX_BACKLOG:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(item)


class EventBus:
    """Per-session subscriber lists. Must be used from the event loop's thread."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = defaultdict(set)

    def subscribe(self, session_id: str, deltas: Collection[str] = ()) -> Subscription:
        """Start following a session; the caller must ``unsubscribe`` when done."""
        sub = Subscription(session_id, frozenset(deltas))
        self._subs[session_id].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop delivering to ``sub``."""
        subs = self._subs.get(sub.session_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.session_id]

    def publish(self, session_id: str, event: Mapping[str, Any]) -> None:
        """Deliver a stored event to every subscriber of the session."""
        item = dict(event)
        for sub in tuple(self._subs.get(session_id, ())):
            sub._offer(item)

    def publish_preview(self, session_id: str, event_type: str, item: Mapping[str, Any]) -> None:
        """Deliver an ``event_start``/``event_delta`` to subscribers that asked for ``event_type``."""
        payload = dict(item)
        for sub in tuple(self._subs.get(session_id, ())):
            if event_type in sub.deltas:
                sub._offer(payload)

    def close_session(self, session_id: str) -> None:
        """End every stream of a session (deleted)."""
        for sub in tuple(self._subs.get(session_id, ())):
            sub._offer(None)
        self._subs.pop(session_id, None)
