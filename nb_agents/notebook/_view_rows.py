"""Compact rows for the browser: one per stored wire event (what the live view renders).

Row fields (short keys keep the bytes per event down; absent means empty):

- ``n`` position in the log, ``id`` event id, ``t`` ms since ``t0``, ``q`` 1 while a client
  event is queued (``processed_at`` null), ``k`` kind: ``user``, ``agent``, ``system``,
  ``thinking``, ``tool``, ``result``, ``confirm``, ``interrupt``, ``status``, ``error``,
  ``mreq`` / ``mend`` (a model request starts / ends) or ``event`` (any other type).
- ``x`` text (message text, tool output, error message, stop reason …), ``tr`` its full
  length when ``x`` was shortened; ``h`` the same as sanitised HTML (``_markdown``): messages
  rendered from Markdown, tool output that holds images.
- tools: ``name``, ``in`` (the input object, or a shortened JSON string), ``perm``
  (evaluated permission), ``srv`` (MCP server), ``hl`` the whole input as highlighted HTML
  (calls that wait for approval); results and confirmations: ``ref`` (the tool use event
  id), ``err`` 1 on error, ``ok`` 1 for allow / 0 for deny, ``o`` the outcome of a call that
  did not run to its end (``denied`` or ``interrupted``; set by ``ViewLog``).
- model requests: ``ref`` (the start event id), ``u`` ``[input, output, cache read,
  cache write]`` tokens; status: ``st``; errors: ``et`` (error type), ``rs`` (retry status).
- ``session.usage``: ``k`` ``usage``, ``x`` the spend (``$1.20``) and, with a budget, ``bx``
  its limit (``$25.00``).
- ``ty`` the wire type, only where ``k`` does not already say it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from nb_agents.notebook._markdown import content_html, tool_input_html

__all__ = [
    "INPUT_LIMIT",
    "RESULT_LIMIT",
    "TEXT_LIMIT",
    "content_text",
    "epoch_ms",
    "money",
    "shorten",
    "shown_model",
    "to_row",
]

TEXT_LIMIT = 20_000
"""Message text longer than this (characters) is shortened in the view (not in the log)."""
RESULT_LIMIT = 2_000
"""Tool output longer than this is shortened to its head and tail."""
INPUT_LIMIT = 2_000
"""Tool input whose JSON is longer than this is sent as a shortened JSON string."""


_STATUS = {
    "session.status_running": "running",
    "session.status_idle": "idle",
    "session.status_rescheduled": "rescheduling",
    "session.status_terminated": "terminated",
    "session.deleted": "terminated",
}
_TOOL_USES = ("agent.tool_use", "agent.mcp_tool_use", "agent.custom_tool_use")
_RESULTS = {
    "agent.tool_result": "tool_use_id",
    "agent.mcp_tool_result": "mcp_tool_use_id",
    "user.tool_result": "tool_use_id",
    "user.custom_tool_result": "custom_tool_use_id",
}
_SIMPLE = {
    "user.message": "user",
    "agent.message": "agent",
    "system.message": "system",
    "agent.thinking": "thinking",
    "user.interrupt": "interrupt",
    "span.model_request_start": "mreq",
}
_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def shorten(text: str, limit: int) -> tuple[str, int | None]:
    """Shorten ``text`` to about ``limit`` characters, keeping its head and its tail.

    Returns:
        ``(text, None)`` when it fits, else ``(shortened, original length)``.
    """
    if len(text) <= limit:
        return text, None
    tail = limit // 4
    head = limit - tail
    omitted = len(text) - head - tail
    return f"{text[:head]}\n… [{omitted:,} characters not shown] …\n{text[-tail:]}", len(text)


def content_text(content: Any) -> str:
    """The readable text of a list of content blocks (placeholders for non-text blocks)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind == "search_result":
            parts.append(f"[search result: {block.get('title', '')}]")
        elif kind == "document" and block.get("title"):
            parts.append(f"[document: {block['title']}]")
        else:
            parts.append(f"[{kind}]")
    return "\n".join(parts)


def epoch_ms(stamp: Any) -> float | None:
    """Milliseconds since the epoch for an RFC 3339 timestamp, or None."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        parsed = datetime.fromisoformat(stamp[:-1] + "+00:00" if stamp[-1:] in "zZ" else stamp)
    except ValueError:  # Python 3.10 rejects other fraction lengths; the full parser accepts them
        try:
            from nb_agents.events import parse_time

            parsed = parse_time(stamp)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp() * 1000.0


def shown_model(model: Any) -> str | None:
    """A model id as the view shows it: a ``replay:`` file by its name only (no machine path)."""
    if not isinstance(model, str) or not model:
        return None
    if model.startswith("replay:"):
        return "replay:" + model[len("replay:") :].replace("\\", "/").rsplit("/", 1)[-1]
    return model


def money(amount: Any) -> str | None:
    """``{"amount": "2500", "currency": "USD"}`` (minor units) as ``$25.00``; None if it is not that."""
    if not isinstance(amount, dict):
        return None
    try:
        value = int(amount["amount"]) / 100
    except (KeyError, TypeError, ValueError):
        return None
    currency = str(amount.get("currency") or "")
    return f"${value:,.2f}" if currency == "USD" else f"{value:,.2f} {currency}".strip()


def _put_text(row: dict[str, Any], text: str, limit: int) -> None:
    if text:
        row["x"], full = shorten(text, limit)
        if full is not None:
            row["tr"] = full


def to_row(event: dict[str, Any], n: int, t: int | None) -> dict[str, Any]:
    """The compact row for one stored wire event (see the module docstring)."""
    kind = str(event.get("type", ""))
    row: dict[str, Any] = {"n": n, "k": "event", "id": event.get("id") or ""}
    if t is not None:
        row["t"] = t
    elif kind.startswith(("user.", "system.")):
        row["q"] = 1
    if kind in _SIMPLE:
        row["k"] = _SIMPLE[kind]
        if kind.endswith("message"):
            _put_text(row, content_text(event.get("content")), TEXT_LIMIT)
            if "x" in row and kind != "user.message":
                row["h"] = content_html(event.get("content") if "tr" not in row else row["x"])
    elif kind in _TOOL_USES:
        row["k"] = "tool"
        row["name"] = event.get("name", "")
        if kind != "agent.tool_use":
            row["ty"] = kind
        tool_input = event.get("input") or {}
        encoded = json.dumps(tool_input, ensure_ascii=False, default=str)
        row["in"] = tool_input if len(encoded) <= INPUT_LIMIT else shorten(encoded, INPUT_LIMIT)[0]
        if event.get("evaluated_permission"):
            row["perm"] = event["evaluated_permission"]
            if row["perm"] == "ask":
                row["hl"] = tool_input_html(row["name"], row["in"])
        if event.get("mcp_server_name"):
            row["srv"] = event["mcp_server_name"]
    elif kind in _RESULTS:
        row["k"] = "result"
        row["ref"] = event.get(_RESULTS[kind]) or ""
        if event.get("is_error"):
            row["err"] = 1
        content = event.get("content")
        _put_text(row, content_text(content), RESULT_LIMIT)
        if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "image" for b in content):
            row["h"] = content_html([b for b in content if isinstance(b, dict) and b.get("type") == "image"])
    elif kind == "user.tool_confirmation":
        row["k"] = "confirm"
        row["ref"] = event.get("tool_use_id") or ""
        row["ok"] = 1 if event.get("result") == "allow" else 0
        _put_text(row, str(event.get("deny_message") or ""), RESULT_LIMIT)
    elif kind == "span.model_request_end":
        row["k"] = "mend"
        row["ref"] = event.get("model_request_start_id") or ""
        usage = event.get("model_usage") or {}
        row["u"] = [int(usage.get(key) or 0) for key in _USAGE_KEYS]
        if event.get("is_error"):
            row["err"] = 1
    elif kind in _STATUS:
        row["k"] = "status"
        row["st"] = _STATUS[kind]
        if kind != "session.status_" + row["st"]:
            row["ty"] = kind
        reason = event.get("stop_reason") or {}
        if reason.get("type"):
            row["x"] = reason["type"]
    elif kind == "session.usage":
        row["k"] = "usage"
        usage = event.get("usage") or {}
        spent = money(usage.get("list_cost"))
        if spent:
            row["x"] = spent
        limit = money((event.get("budget") or {}).get("max_list_cost"))
        if limit:
            row["bx"] = limit
    elif kind == "session.error":
        error = event.get("error") or {}
        row["k"] = "error"
        row["et"] = error.get("type", "unknown_error")
        row["rs"] = (error.get("retry_status") or {}).get("type", "")
        _put_text(row, str(error.get("message") or ""), RESULT_LIMIT)
    else:
        row["ty"] = kind
        text = event.get("description") if kind == "user.define_outcome" else event.get("content")
        _put_text(row, content_text(text) if text else "", RESULT_LIMIT)
    return row
