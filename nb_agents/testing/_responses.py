"""Messages API response builders, and the SSE events that stream one.

The event sequence follows the Messages streaming format: ``message_start`` (empty content),
``ping``, then per block ``content_block_start`` / ``content_block_delta``... /
``content_block_stop``, then ``message_delta`` (``stop_reason``, cumulative ``usage``) and
``message_stop``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["DEFAULT_MODEL", "message_events", "message_response", "text_response", "tool_use_response"]

DEFAULT_MODEL = "claude-sonnet-4-6"


def _usage(usage: Mapping[str, int] | None, output_chars: int) -> dict[str, int]:
    base = {
        "input_tokens": 25,
        "output_tokens": max(1, output_chars // 4),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    return {**base, **(usage or {})}


def message_response(
    content: Sequence[Mapping[str, Any]],
    *,
    stop_reason: str | None = None,
    model: str = DEFAULT_MODEL,
    usage: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Build a Messages response dict around content blocks.

    Args:
        content: The assistant content blocks, as Messages API JSON.
        stop_reason: Defaults to ``tool_use`` if a block is a ``tool_use``, else ``end_turn``.
        model: The ``model`` field.
        usage: Token counts that override the defaults.

    Returns:
        A complete Message object (``id``, ``type``, ``role``, ``content``, ``usage``, ...).
    """
    blocks = [dict(block) for block in content]
    if stop_reason is None:
        stop_reason = "tool_use" if any(b.get("type") == "tool_use" for b in blocks) else "end_turn"
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": _usage(usage, len(json.dumps(blocks))),
    }


def _thinking_block(thinking: str | None) -> list[dict[str, Any]]:
    if thinking is None:
        return []
    return [{"type": "thinking", "thinking": thinking, "signature": f"sig_{uuid.uuid4().hex}"}]


def text_response(
    text: str,
    *,
    thinking: str | None = None,
    stop_reason: str = "end_turn",
    model: str = DEFAULT_MODEL,
    usage: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Build a Messages response with one text block (after an optional thinking block).

    Args:
        text: The text the model says.
        thinking: If given, a ``thinking`` block (with a fake signature) comes first.
        stop_reason: The ``stop_reason`` field.
        model: The ``model`` field.
        usage: Token counts that override the defaults.

    Returns:
        A complete Message object.
    """
    content = [*_thinking_block(thinking), {"type": "text", "text": text}]
    return message_response(content, stop_reason=stop_reason, model=model, usage=usage)


def tool_use_response(
    calls: Sequence[tuple[str, Mapping[str, Any]]],
    text: str | None = None,
    *,
    thinking: str | None = None,
    model: str = DEFAULT_MODEL,
    usage: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Build a Messages response that calls tools (``stop_reason: tool_use``).

    Args:
        calls: ``(tool name, input)`` pairs, one ``tool_use`` block each, with unique ``toolu_`` ids.
        text: Optional text block before the calls.
        thinking: Optional thinking block first.
        model: The ``model`` field.
        usage: Token counts that override the defaults.

    Returns:
        A complete Message object.
    """
    content = _thinking_block(thinking)
    if text is not None:
        content.append({"type": "text", "text": text})
    for name, tool_input in calls:
        content.append(
            {
                "type": "tool_use",
                "id": f"toolu_{uuid.uuid4().hex[:24]}",
                "name": name,
                "input": dict(tool_input),
            }
        )
    return message_response(content, stop_reason="tool_use", model=model, usage=usage)


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _block_events(index: int, block: Mapping[str, Any], size: int) -> list[tuple[str, dict[str, Any]]]:
    kind = block.get("type")
    deltas: list[dict[str, Any]] = []
    if kind == "text":
        start = {**block, "text": ""}
        deltas = [{"type": "text_delta", "text": part} for part in _chunks(str(block["text"]), size)]
    elif kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        start = {**block, "input": {}}
        raw = json.dumps(block.get("input", {}))
        deltas = [{"type": "input_json_delta", "partial_json": part} for part in _chunks(raw, size)]
    elif kind == "thinking":
        start = {**block, "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": p} for p in _chunks(str(block["thinking"]), size)]
        deltas.append({"type": "signature_delta", "signature": str(block.get("signature", ""))})
    else:
        start = dict(block)
    return [
        ("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}),
        *(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas),
        ("content_block_stop", {"type": "content_block_stop", "index": index}),
    ]


def message_events(message: Mapping[str, Any], chunk_size: int = 16) -> list[tuple[str, dict[str, Any]]]:
    """The SSE events (name, data) that stream ``message``, as the Messages API sends them.

    Args:
        message: A complete Messages response dict.
        chunk_size: Characters per text, thinking or tool-input delta.

    Returns:
        ``(event name, JSON data)`` pairs from ``message_start`` to ``message_stop``.
    """
    usage = dict(message.get("usage") or _usage(None, 0))
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1},
    }
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(message.get("content") or []):
        events += _block_events(index, block, chunk_size)
    delta = {"stop_reason": message.get("stop_reason"), "stop_sequence": message.get("stop_sequence")}
    events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events
