"""A session's log as static HTML: readable without a kernel, a widget or JavaScript.

``transcript_html`` is what a saved notebook keeps (the live view's ``text/html`` fallback and
a session's own HTML repr), so the session shows on GitHub, nbviewer and in JupyterLab without
a kernel, and what ``Session.export("run.html")`` writes as a self-contained page. It uses the
live view's CSS classes (the same look in JupyterLab) and degrades to plain, readable HTML
where styles are stripped (GitHub). Agent text goes through ``_markdown`` (sanitised); all
other text is escaped. No script, no external resource.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nb_agents.notebook._markdown import content_html, tool_input_html
from nb_agents.notebook._view_rows import RESULT_LIMIT, content_text, epoch_ms, money, shorten, shown_model

__all__ = ["transcript_html"]

_STATIC = Path(__file__).parent / "static"
_TOOL_USES = ("agent.tool_use", "agent.mcp_tool_use", "agent.custom_tool_use")
_RESULT_KEYS = {
    "agent.tool_result": "tool_use_id",
    "agent.mcp_tool_result": "mcp_tool_use_id",
    "user.tool_result": "tool_use_id",
    "user.custom_tool_result": "custom_tool_use_id",
}
_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def _duration(ms: float | None) -> str:
    if ms is None or ms < 0:
        return ""
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{int(ms // 60_000)} min {round(ms % 60_000 / 1000)} s"


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


class _Calls:
    """Tool calls paired with their confirmation, result and any interrupt, in one pass."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.confirmations: dict[str, dict[str, Any]] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.cut: set[str] = set()
        open_calls: set[str] = set()
        for event in events:
            kind = event.get("type")
            if kind in _TOOL_USES:
                open_calls.add(str(event.get("id")))
            elif kind == "user.tool_confirmation":
                self.confirmations[str(event.get("tool_use_id"))] = event
            elif kind in _RESULT_KEYS:
                ref = str(event.get(_RESULT_KEYS[kind]))
                open_calls.discard(ref)
                self.results[ref] = event
            elif kind == "user.interrupt":
                self.cut |= open_calls

    def badge(self, use: dict[str, Any]) -> tuple[str, str]:
        """``(text, css class)`` of a call's outcome: ``ok · 0.1 s``, ``denied``, ``interrupted`` …"""
        use_id = str(use.get("id"))
        confirmation = self.confirmations.get(use_id)
        result = self.results.get(use_id)
        start = epoch_ms(use.get("processed_at"))
        ready = epoch_ms(confirmation.get("processed_at")) if confirmation else None
        waited = f" (waited {_duration(ready - start)} for approval)" if ready and start else ""
        if use.get("evaluated_permission") == "deny" or (confirmation and confirmation.get("result") == "deny"):
            return f"denied{waited}", "warn"
        if result is None:
            if use.get("evaluated_permission") == "ask" and confirmation is None:
                return "awaiting approval", "warn"
            return "no result", "run"
        end = epoch_ms(result.get("processed_at"))
        began = ready or start
        took = f" · {_duration(end - began)}" if end is not None and began is not None else ""
        if result.get("is_error"):
            return (f"interrupted{took}{waited}", "warn") if use_id in self.cut else (f"error{took}{waited}", "err")
        return f"ok{took}{waited}", "ok"


def _summary(tool_input: Any) -> str:
    if isinstance(tool_input, dict):
        for key in ("command", "file_path", "pattern", "path", "url", "query"):
            value = tool_input.get(key)
            if isinstance(value, str):
                line = value.split("\n", 1)[0]
                return line[:100] + (" …" if len(line) > 100 or "\n" in value else "")
    return ""


def _row(kind: str, label: str, body: str, clock: str = "", extra: str = "") -> str:
    return (
        f'<div class="nbav-row nbav-k-{kind}{extra}" data-kind="{kind}"><span class="nbav-label">{label}</span>'
        f'<div class="nbav-body">{body}</div><span class="nbav-time">{clock}</span></div>'
    )


def _clock(event: Mapping[str, Any]) -> str:
    stamp = event.get("processed_at")
    return _esc(stamp[11:19]) if isinstance(stamp, str) and len(stamp) >= 19 else ""


def transcript_html(
    events: Iterable[Mapping[str, Any]],
    *,
    session_id: str | None = None,
    title: str | None = None,
    model: str | None = None,
    status: str | None = None,
    cost: float | None = None,
    max_events: int | None = None,
    standalone: bool = False,
) -> str:
    """A session's log as static HTML (see the module docs).

    Args:
        events: The stored events, in log order (wire dicts).
        session_id, title, model, status: For the header.
        cost: The estimated cost in USD for the header (None: not shown).
        max_events: Show only the last this many events (a note says how many are left out).
        standalone: A whole page (``<!doctype html>`` … with the styles inline), for a file.

    Returns:
        The HTML: a ``<div class="nbav nbav-static">`` fragment, or a page if ``standalone``.
    """
    log = [dict(e) for e in events]
    calls = _Calls(log)
    usage = dict.fromkeys(_USAGE_KEYS, 0)
    spend: dict[str, str] = {}
    for event in log:
        if event.get("type") == "span.model_request_end":
            for key in _USAGE_KEYS:
                usage[key] += int((event.get("model_usage") or {}).get(key) or 0)
        elif event.get("type") == "session.usage":
            spent = money((event.get("usage") or {}).get("list_cost"))
            limit = money((event.get("budget") or {}).get("max_list_cost"))
            spend = {k: v for k, v in (("spent", spent), ("budget", limit)) if v}
    shown = log if max_events is None else log[-max_events:] if max_events > 0 else []
    rows = [_event_html(event, calls) for event in shown]
    head = [f"<strong>{_esc(title or 'untitled session')}</strong>"]
    if session_id:
        head.append(f"<code>{_esc(session_id)}</code>")
    if model:
        head.append(_esc(shown_model(model)))
    if status:
        head.append(f"status: {_esc(status)}")
    tokens = f"{usage['input_tokens']:,} in · {usage['output_tokens']:,} out"
    if usage["cache_read_input_tokens"]:
        tokens += f" · {usage['cache_read_input_tokens']:,} cached"
    head.append(tokens)
    if spend:
        head.append(f"{spend.get('spent', '$0.00')}" + (f" of {spend['budget']} budget" if "budget" in spend else ""))
    elif cost is not None and cost == cost:
        head.append(f"${cost:.4f}" if cost < 1 else f"${cost:.2f}")
    skipped = len(log) - len(shown)
    note = f'<div class="nbav-hidden">{skipped:,} earlier events not shown</div>' if skipped else ""
    body = (
        f'<div class="nbav nbav-static" data-count="{len(log)}"><div class="nbav-head">{" · ".join(head)}</div>'
        f'<div class="nbav-log">{note}{"".join(r for r in rows if r)}</div></div>'
    )
    style = f"<style>{(_STATIC / 'session_view.css').read_text()}{_STATIC_CSS}</style>"
    if not standalone:
        return style + body
    page_title = _esc(title or session_id or "nb_agents session")
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{page_title}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">{style}</head>'
        f'<body class="nbav-page">{body}</body></html>\n'
    )


_STATIC_CSS = """
.nbav-static .nbav-head { gap: 4px 10px; flex-wrap: wrap; }
.nbav-static .nbav-log { max-height: none; overflow: visible; }
.nbav-static .nbav-badge { margin-left: 6px; }
.nbav-page { margin: 16px auto; max-width: 1100px; padding: 0 12px; color-scheme: light dark; }
@media (prefers-color-scheme: dark) { .nbav-page { background: #111; color: #ddd; } }
"""


def _event_html(event: dict[str, Any], calls: _Calls) -> str:
    kind = event.get("type")
    clock = _clock(event)
    if kind in ("user.message", "system.message"):
        text = html.escape(content_text(event.get("content")))
        return _row(
            "user", "you" if kind == "user.message" else "system", f'<div class="nbav-text">{text}</div>', clock
        )
    if kind == "agent.message":
        return _row("agent", "agent", f'<div class="nbav-md">{content_html(event.get("content"))}</div>', clock)
    if kind in _TOOL_USES:
        name = str(event.get("name") or "tool")
        if event.get("mcp_server_name"):
            name = f"{event['mcp_server_name']}/{name}"
        text, css = calls.badge(event)
        summary = (
            f'<summary><strong>{_esc(name)}</strong> <code class="nbav-sum">'
            f"{_esc(_summary(event.get('input')))}</code>"
            f' <span class="nbav-badge nbav-badge-{css}">{_esc(text)}</span></summary>'
        )
        parts = [
            summary,
            '<div class="nbav-sec">input</div>',
            tool_input_html(str(event.get("name")), event.get("input")),
        ]
        result = calls.results.get(str(event.get("id")))
        if result is not None:
            output, _ = shorten(content_text(result.get("content")), RESULT_LIMIT * 5)
            failed = result.get("is_error") and css == "err"
            parts.append(f'<div class="nbav-sec">{"error" if failed else "result"}</div>')
            parts.append(
                f'<pre class="nbav-pre{" nbav-pre-err" if failed else ""}">{_esc(output or "(no output)")}</pre>'
            )
            if any(isinstance(b, dict) and b.get("type") == "image" for b in result.get("content") or []):
                parts.append(f'<div class="nbav-md">{content_html(result.get("content"))}</div>')
        return _row("tool", "tool", f'<details class="nbav-tool">{"".join(parts)}</details>', clock)
    if kind == "user.tool_confirmation" and event.get("result") == "deny":
        reason = f": {_esc(event['deny_message'])}" if event.get("deny_message") else ""
        return _row("confirm", "", f"✗ denied{reason}", clock, " nbav-meta nbav-warn")
    if kind == "user.interrupt":
        return _row("interrupt", "", "■ interrupt", clock, " nbav-meta nbav-warn")
    if kind == "session.error":
        error = event.get("error") or {}
        message = _esc(error.get("message") or "")
        return _row(
            "error", "error", f"<strong>{_esc(error.get('type', 'error'))}</strong> {message}", clock, " nbav-err"
        )
    if kind == "session.status_idle":
        reason = str((event.get("stop_reason") or {}).get("type") or "")
        if reason and reason != "end_turn":
            return _row("status", "", f"● idle · {_esc(reason.replace('_', ' '))}", clock, " nbav-meta")
    if kind in ("session.status_terminated", "session.deleted"):
        return _row("status", "", "● terminated", clock, " nbav-meta")
    return ""  # model requests, status changes, results (shown with their call): not in the transcript
