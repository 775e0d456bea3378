"""The Managed Agents event types, read from the installed SDK so they track it."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pydantic
from anthropic.types.beta.sessions.beta_managed_agents_session_event import BetaManagedAgentsSessionEvent
from anthropic.types.beta.sessions.beta_managed_agents_session_event_type import (
    BetaManagedAgentsSessionEventType,
)
from anthropic.types.beta.sessions.beta_managed_agents_stream_session_events import (
    BetaManagedAgentsStreamSessionEvents,
)

from nb_agents.errors import EventValidationError
from nb_agents.events._ids import new_id
from nb_agents.events._time import now

__all__ = [
    "CLIENT_EVENT_TYPES",
    "EVENT_MODELS",
    "EVENT_TYPES",
    "STREAM_EVENT_MODELS",
    "STREAM_ONLY_TYPES",
    "make_event",
]


def _models_by_type(union: Any) -> Mapping[str, type[pydantic.BaseModel]]:
    """Map each ``type`` value of a discriminated SDK union to its model class."""
    inner = typing.get_args(union)[0]  # Annotated[Union[...], UnionDiscriminator("type")]
    table: dict[str, type[pydantic.BaseModel]] = {}
    for model in typing.get_args(inner):
        for value in typing.get_args(model.model_fields["type"].annotation):
            table[value] = model
    return MappingProxyType(table)


EVENT_MODELS: Mapping[str, type[pydantic.BaseModel]] = _models_by_type(BetaManagedAgentsSessionEvent)
"""Persisted event type (``agent.message``) → its SDK model class."""

STREAM_EVENT_MODELS: Mapping[str, type[pydantic.BaseModel]] = _models_by_type(BetaManagedAgentsStreamSessionEvents)
"""Stream event type (the persisted ones plus ``event_start``/``event_delta``) → SDK model class."""

# The SDK's ``BetaManagedAgentsSessionEventType`` Literal (41 names in 2.11.0) lacks
# ``session.deleted``, which the event union has; take the union of both so nothing is lost.
EVENT_TYPES: frozenset[str] = frozenset(EVENT_MODELS) | frozenset(typing.get_args(BetaManagedAgentsSessionEventType))
"""The persisted wire event types (42 with SDK 2.11.0)."""

STREAM_ONLY_TYPES: frozenset[str] = frozenset({"event_start", "event_delta"})
"""Types that exist only on the SSE stream: never stored, never listed."""

CLIENT_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "user.message",
        "user.interrupt",
        "user.tool_confirmation",
        "user.custom_tool_result",
        "user.tool_result",
        "user.define_outcome",
        "system.message",
    }
)
"""Types a client may send with ``POST /v1/sessions/{id}/events``."""


def make_event(type: str, **fields: Any) -> dict[str, Any]:
    """Build a new server event dict: ``{"type", "id": "sevt_...", "processed_at": now(), **fields}``.

    Args:
        type: A persisted event type (one of ``EVENT_TYPES``).
        **fields: The event's other fields; ``processed_at`` or ``id`` given here win.

    Returns:
        A plain dict ready to store and to send on the wire (not validated; see
        ``validate_event``).

    Raises:
        EventValidationError: If ``type`` is not a persisted event type.
    """
    if type not in EVENT_TYPES:
        kind = "a stream-only type" if type in STREAM_ONLY_TYPES else "not a Managed Agents event type"
        raise EventValidationError(f"cannot make an event of type {type!r}: {kind}")
    event: dict[str, Any] = {"type": type, "id": new_id("sevt"), "processed_at": now()}
    event.update(fields)
    return event
