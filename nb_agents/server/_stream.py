"""The session event stream over SSE, as the SDK's ``sessions.events.stream`` reads it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from nb_agents.errors import InvalidRequestError
from nb_agents.runtime import Runtime

__all__ = ["stream_events"]

_DELTA_TYPES = frozenset({"agent.message", "agent.thinking"})
_FINAL_TYPES = frozenset({"session.deleted", "session.status_terminated"})


def _frame(item: dict[str, Any]) -> bytes:
    data = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
    return f"event: {item['type']}\ndata: {data}\n\n".encode("utf-8", errors="replace")


async def stream_events(request: Request, rt: Runtime) -> StreamingResponse:
    """``GET /v1/sessions/{id}/events/stream``: live events from now on (no replay).

    Keep-alive comments go out every ``app.state.keepalive_seconds`` (15 s by default), well
    inside the SDK's 600 s read timeout.
    """
    session_id = request.path_params["session_id"]
    rt.require_session(session_id)
    deltas = request.query_params.getlist("event_deltas[]")
    unknown = set(deltas) - _DELTA_TYPES
    if unknown:
        raise InvalidRequestError(f"event_deltas[]: {sorted(unknown)} not allowed; use agent.message or agent.thinking")
    keepalive = float(getattr(request.app.state, "keepalive_seconds", 15.0))
    sub = rt.bus.subscribe(session_id, deltas)

    async def frames() -> AsyncIterator[bytes]:
        try:
            yield b": stream open\n\n"
            while True:
                try:
                    item = await asyncio.wait_for(sub.queue.get(), timeout=keepalive)
                except asyncio.TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if item is None:
                    return
                yield _frame(item)
                if item["type"] in _FINAL_TYPES:
                    return
        finally:
            rt.bus.unsubscribe(sub)

    headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
    return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)
