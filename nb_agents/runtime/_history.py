"""Rebuild the Messages API conversation of a session from its event log.

The log is the only memory the harness has: after a restart, the next model request is built
from the log exactly as it would have been before. Tool-use blocks use the event id of their
``agent.tool_use``/``agent.custom_tool_use`` as their id, so results pair by event id.

Events are taken in processing order (``processed_at``, then ``seq``): a message sent while the
agent worked joins the conversation where it was taken, not where it was queued.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["conversation", "processing_order", "unanswered_tool_uses"]

_ASSISTANT_TYPES = ("agent.message", "agent.tool_use", "agent.custom_tool_use")
_TOOL_USE_TYPES = ("agent.tool_use", "agent.custom_tool_use")
_MISSING_RESULT = "(no result was recorded for this tool call)"


def _user_blocks(content: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(b) for b in content if b.get("type") != "redacted" and not _empty_text(b)]


def _empty_text(block: Mapping[str, Any]) -> bool:
    return block.get("type") == "text" and not block.get("text")


def _result_block(tool_use_id: str, event: Mapping[str, Any]) -> dict[str, Any]:
    content = [dict(b) for b in event.get("content") or [] if not _empty_text(b)]
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id, "content": content}
    if event.get("is_error"):
        block["is_error"] = True
    return block


def _block(event: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]] | None:
    kind = event["type"]
    if kind == "user.message":
        return "user", _user_blocks(event.get("content") or [])
    if kind == "agent.message":
        return "assistant", [dict(b) for b in event.get("content") or [] if b.get("type") == "text" and b["text"]]
    if kind in _TOOL_USE_TYPES:
        return "assistant", [{"type": "tool_use", "id": event["id"], "name": event["name"], "input": event["input"]}]
    if kind == "agent.tool_result":
        return "user", [_result_block(event["tool_use_id"], event)]
    if kind == "user.custom_tool_result":
        return "user", [_result_block(event["custom_tool_use_id"], event)]
    return None


def processing_order(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Processed events ordered by ``processed_at`` then log position; queued ones are left out."""
    indexed = [(e.get("processed_at"), i, e) for i, e in enumerate(events)]
    return [e for at, _, e in sorted((x for x in indexed if x[0]), key=lambda x: (x[0], x[1]))]


def conversation(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Messages API ``messages`` for the processed events of one session, in log order."""
    messages: list[dict[str, Any]] = []
    open_uses: list[str] = []
    answered: set[str] = set()
    for event in processing_order(events):
        item = _block(event)
        if item is None:
            continue
        role, blocks = item
        if not blocks:
            continue
        if role == "assistant" and (not messages or messages[-1]["role"] != "assistant"):
            _close_uses(messages, open_uses, answered)
            open_uses = []
        for b in blocks:
            if b["type"] == "tool_use":
                open_uses.append(b["id"])
            elif b["type"] == "tool_result":
                answered.add(b["tool_use_id"])
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        elif role == "user" or messages:
            messages.append({"role": role, "content": list(blocks)})
    _close_uses(messages, open_uses, answered)
    for message in messages:
        if message["role"] == "user":
            # tool results must open a user turn; text typed meanwhile follows them
            message["content"].sort(key=lambda b: b["type"] != "tool_result")
    return messages


def _close_uses(messages: list[dict[str, Any]], open_uses: list[str], answered: set[str]) -> None:
    missing = [u for u in open_uses if u not in answered]
    if not missing:
        return
    filler = [
        {
            "type": "tool_result",
            "tool_use_id": u,
            "content": [{"type": "text", "text": _MISSING_RESULT}],
            "is_error": True,
        }
        for u in missing
    ]
    if messages and messages[-1]["role"] == "user":
        messages[-1]["content"][:0] = filler
    else:
        messages.append({"role": "user", "content": filler})
    answered.update(missing)


def unanswered_tool_uses(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Tool-use events of the log that have no result yet, in log order."""
    uses: dict[str, Mapping[str, Any]] = {}
    for event in events:
        kind = event["type"]
        if kind in _TOOL_USE_TYPES:
            uses[event["id"]] = event
        elif kind == "agent.tool_result":
            uses.pop(event["tool_use_id"], None)
        elif kind == "user.custom_tool_result":
            uses.pop(event["custom_tool_use_id"], None)
    return list(uses.values())
