"""One model request's worth of events: live previews, the response as events, usage.

Pure helpers of the harness (``_runner``): they decide what to emit; the runner emits it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from nb_agents.errors import BrainError
from nb_agents.events import new_id
from nb_agents.runtime._bus import EventBus
from nb_agents.runtime._tools import BUILTIN_TOOLS
from nb_agents.spec import tool_permission

__all__ = ["Previews", "error_type", "model_usage", "response_events", "text_content", "verdict", "zero_usage"]


class Previews:
    """Live text of one model request, streamed as ``event_start``/``event_delta``.

    Each text block gets the id its final ``agent.message`` will carry, so a client replaces the
    preview with the stored event.
    """

    def __init__(self, bus: EventBus, session_id: str) -> None:
        self.bus = bus
        self.session_id = session_id
        self.ids: dict[int, str] = {}

    def on_text(self, index: int, fragment: str) -> None:
        """The brain's text callback: (content block index, fragment)."""
        if index not in self.ids:
            self.ids[index] = new_id("sevt")
            start = {"type": "event_start", "event": {"type": "agent.message", "id": self.ids[index]}}
            self.bus.publish_preview(self.session_id, "agent.message", start)
        delta = {"type": "content_delta", "index": 0, "content": {"type": "text", "text": fragment}}
        item = {"type": "event_delta", "event_id": self.ids[index], "delta": delta}
        self.bus.publish_preview(self.session_id, "agent.message", item)


def response_events(
    message: Mapping[str, Any], agent: Mapping[str, Any], preview_ids: Mapping[int, str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The events a model response becomes, in block order: (type, fields)."""
    custom = {t["name"] for t in agent["tools"] if t.get("type") == "custom"}
    for index, block in enumerate(message.get("content") or []):
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            yield (
                "agent.message",
                {"id": preview_ids.get(index) or new_id("sevt"), "content": text_content(block["text"])},
            )
        elif kind in ("thinking", "redacted_thinking"):
            yield "agent.thinking", {}
        elif kind == "tool_use" and block["name"] in custom:
            yield "agent.custom_tool_use", {"name": block["name"], "input": block.get("input") or {}}
        elif kind == "tool_use":
            fields = {"name": block["name"], "input": block.get("input") or {}}
            yield "agent.tool_use", {**fields, **verdict(agent, block["name"])}


def verdict(agent: Mapping[str, Any], name: str) -> dict[str, Any]:
    if name not in BUILTIN_TOOLS:
        return {"evaluated_permission": "deny"}
    verdict, policy = tool_permission(list(agent["tools"]), name)
    if verdict == "deny" or policy is None:
        return {"evaluated_permission": "deny"}
    if policy == "auto":
        return {
            "evaluated_permission": verdict,
            "evaluation": {"type": "auto", "evaluated_permission": {"type": verdict}},
        }
    return {"evaluated_permission": verdict, "evaluation": {"type": policy}}


def text_content(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}]


def zero_usage() -> dict[str, int]:
    return {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def model_usage(usage: Mapping[str, Any]) -> dict[str, int]:
    return {k: int(usage.get(k) or 0) for k in zero_usage()}


def error_type(exc: BrainError) -> str:
    kind = getattr(exc, "error_type", None)
    return kind if isinstance(kind, str) else "model_request_failed_error"
