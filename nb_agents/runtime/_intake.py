"""Client events on their way in: what may be sent, and whether it answers something waiting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nb_agents.errors import EventValidationError, InvalidRequestError, NotAvailableLocallyError
from nb_agents.events import CLIENT_EVENT_TYPES, new_id, validate_event
from nb_agents.store import Store

if TYPE_CHECKING:
    from nb_agents.runtime._runner import SessionRunner

__all__ = ["client_event"]

_LOCAL_UNSUPPORTED = {
    "user.tool_result": "user.tool_result (it answers tools of self_hosted environments)",
    "user.define_outcome": "outcomes (user.define_outcome)",
    "system.message": "system.message events",
}


def client_event(store: Store, runner: SessionRunner, event: Mapping[str, Any]) -> dict[str, Any]:
    """The event to store for a client event, or InvalidRequestError saying what is wrong with it."""
    kind = event.get("type")
    if not isinstance(kind, str) or kind not in CLIENT_EVENT_TYPES:
        raise InvalidRequestError(f"event type {kind!r} cannot be sent; send one of {sorted(CLIENT_EVENT_TYPES)}")
    if kind in _LOCAL_UNSUPPORTED:
        raise NotAvailableLocallyError(_LOCAL_UNSUPPORTED[kind])
    stored = {**event, "id": new_id("sevt"), "processed_at": None}
    try:
        validate_event(stored)
    except EventValidationError as exc:
        raise InvalidRequestError(str(exc)) from exc
    if kind == "user.tool_confirmation":
        _check_waiting(store, runner, stored["tool_use_id"], "agent.tool_use", "tool_use_id")
        if stored.get("deny_message") and stored["result"] != "deny":
            raise InvalidRequestError("deny_message is only allowed with result 'deny'")
    elif kind == "user.custom_tool_result":
        _check_waiting(store, runner, stored["custom_tool_use_id"], "agent.custom_tool_use", "custom_tool_use_id")
    return stored


def _check_waiting(store: Store, runner: SessionRunner, use_id: str, use_type: str, field: str) -> None:
    stored = store.get_event(runner.session_id, use_id)
    if stored is None or stored.type != use_type:
        raise InvalidRequestError(f"{field} '{use_id}' is not the id of an {use_type} event of this session")
    if any(e.get(field) == use_id for e in runner.inbox) or use_id in runner.decisions:
        raise InvalidRequestError(f"{field} '{use_id}' was already answered")
    if use_type == "agent.tool_use" and stored.body.get("evaluated_permission") != "ask":
        raise InvalidRequestError(f"tool call '{use_id}' does not wait for a confirmation")
    answered = store.read(
        runner.session_id, after_seq=stored.seq, types=["agent.tool_result", "user.custom_tool_result"]
    )
    if any(e.body.get(field) == use_id or e.body.get("tool_use_id") == use_id for e in answered):
        raise InvalidRequestError(f"{field} '{use_id}' was already answered")
