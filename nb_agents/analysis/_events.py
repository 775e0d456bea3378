"""``events_df``: one row per event, with the commonly useful fields flattened into columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nb_agents.analysis import _columns as col

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EVENT_COLUMNS", "events_df"]

EVENT_COLUMNS = (
    "session_id",
    "seq",
    "id",
    "type",
    "processed_at",
    "actor",
    "text",
    "tool_name",
    "tool_use_id",
    "is_error",
    "stop_reason",
    "error_type",
    "retry_status",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "raw",
)
"""The columns of ``events_df``, in order."""

_TEXT, _USE, _RESULT, _CONFIRM, _SPAN_END, _IDLE, _ERROR = range(1, 8)
_KINDS = {
    "agent.message": _TEXT,
    "user.message": _TEXT,
    "system.message": _TEXT,
    "agent.thread_message_sent": _TEXT,
    "agent.thread_message_received": _TEXT,
    "agent.tool_use": _USE,
    "agent.mcp_tool_use": _USE,
    "agent.custom_tool_use": _USE,
    "agent.tool_result": _RESULT,
    "user.tool_result": _RESULT,
    "agent.mcp_tool_result": _RESULT,
    "user.custom_tool_result": _RESULT,
    "user.tool_confirmation": _CONFIRM,
    "span.model_request_end": _SPAN_END,
    "session.status_idle": _IDLE,
    "session.thread_status_idle": _IDLE,
    "session.error": _ERROR,
}
_RESULT_KEYS = {
    "agent.tool_result": "tool_use_id",
    "user.tool_result": "tool_use_id",
    "agent.mcp_tool_result": "mcp_tool_use_id",
    "user.custom_tool_result": "custom_tool_use_id",
}
_TOKENS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def _actor(event_type: Any) -> str | None:
    if not isinstance(event_type, str) or "." not in event_type:
        return None
    return event_type.split(".", 1)[0]


def events_df(events: Any, *, session_id: str | None = None) -> pd.DataFrame:
    """One row per event, in log order, with common fields flattened into typed columns.

    Columns (in this order; see the package docstring for the dtypes):

    - ``session_id``: the ``session_id=`` argument, the mapping key, or the event's own
      ``session_id`` field; NA when none is known.
    - ``seq``: the event's position in its session's list (0-based, ``int64``).
    - ``id``, ``type``, ``processed_at`` (UTC; NaT while a client event is still queued).
    - ``actor``: the type's prefix: ``user``, ``agent``, ``session``, ``span``, ``system``
      (``workflow_run`` for workflow events).
    - ``text``: the text blocks joined with newlines, for messages and tool results; the
      error message for ``session.error``; the deny message of a ``user.tool_confirmation``.
    - ``tool_name``: for tool uses. ``tool_use_id``: a use's own id; for a result or a
      confirmation, the id of the use it answers.
    - ``is_error``: for tool results and ``span.model_request_end``.
    - ``stop_reason``: ``stop_reason.type`` of ``session.status_idle``.
    - ``error_type``, ``retry_status``: ``error.type`` and ``error.retry_status.type`` of
      ``session.error``.
    - ``input_tokens``, ``output_tokens``, ``cache_read_input_tokens``,
      ``cache_creation_input_tokens``: ``model_usage`` of ``span.model_request_end``.
    - ``raw``: the event as a wire dict (SDK objects are converted with ``to_dict``).

    Args:
        events: An iterable of events (wire dicts or SDK event objects), or a mapping
            ``{session_id: events}`` for many sessions at once.
        session_id: The session the events belong to (a single list only).

    Returns:
        A DataFrame with the columns above (also when there are no events).

    Raises:
        TypeError: If ``session_id=`` is combined with a mapping of sessions.
        EventValidationError: If an item is neither a dict nor an SDK object.

    Example:
        >>> from nb_agents.analysis import events_df
        >>> df = events_df(
        ...     [{"id": "sevt_1", "type": "agent.message", "processed_at": "2026-11-21T00:00:01.000000Z",
        ...       "content": [{"type": "text", "text": "hello"}]}],
        ...     session_id="sesn_1",
        ... )
        >>> df.loc[0, ["session_id", "actor", "text"]].tolist()
        ['sesn_1', 'agent', 'hello']
        >>> str(df["processed_at"].dtype)
        'datetime64[us, UTC]'
    """
    import numpy as np

    groups = col.by_session(events, session_id)
    evs = groups[0][1] if len(groups) == 1 else [e for _, group in groups for e in group]
    n = len(evs)
    counts = [len(group) for _, group in groups]
    carried: list[Any] | None = None
    if len(groups) == 1 and groups[0][0] is None:
        carried = [e.get("session_id") for e in evs]
        if not any(carried):
            carried = None

    ids = [e.get("id") for e in evs]
    types = [e.get("type") for e in evs]
    times = [e.get("processed_at") for e in evs]
    actor_of = {t: _actor(t) for t in set(types)}
    actors = [actor_of[t] for t in types]

    text_i: list[int] = []
    text_v: list[Any] = []
    name_i: list[int] = []
    name_v: list[Any] = []
    use_i: list[int] = []
    use_v: list[Any] = []
    err_i: list[int] = []
    err_v: list[Any] = []
    stop_i: list[int] = []
    stop_v: list[Any] = []
    etype_v: list[Any] = []
    retry_v: list[Any] = []
    error_i: list[int] = []
    tok_i: list[int] = []
    tok_v: tuple[list[Any], ...] = ([], [], [], [])
    text_a, name_a, use_a, err_a = text_i.append, name_i.append, use_i.append, err_i.append
    textv_a, namev_a, usev_a, errv_a = text_v.append, name_v.append, use_v.append, err_v.append
    kind_of = _KINDS.get

    for i, kind in enumerate(map(kind_of, types)):
        if kind is None:
            continue
        ev = evs[i]
        if kind == _SPAN_END:
            is_error = ev.get("is_error")
            if is_error is not None:
                err_a(i)
                errv_a(is_error)
            usage = ev.get("model_usage")
            if usage:
                tok_i.append(i)
                for values, key in zip(tok_v, _TOKENS):
                    values.append(usage.get(key))
        elif kind == _RESULT:
            ref = ev.get(_RESULT_KEYS[types[i]])
            if ref is not None:
                use_a(i)
                usev_a(ref)
            text = col.join_text(ev.get("content"))
            if text is not None:
                text_a(i)
                textv_a(text)
            is_error = ev.get("is_error")
            if is_error is not None:
                err_a(i)
                errv_a(is_error)
        elif kind == _USE:
            name_a(i)
            namev_a(ev.get("name"))
            use_a(i)
            usev_a(ids[i])
        elif kind == _TEXT:
            text = col.join_text(ev.get("content"))
            if text is not None:
                text_a(i)
                textv_a(text)
        elif kind == _IDLE:
            reason = ev.get("stop_reason")
            if isinstance(reason, dict):
                stop_i.append(i)
                stop_v.append(reason.get("type"))
        elif kind == _ERROR:
            error = ev.get("error")
            if isinstance(error, dict):
                error_i.append(i)
                etype_v.append(error.get("type"))
                retry = error.get("retry_status")
                retry_v.append(retry.get("type") if isinstance(retry, dict) else retry)
                text_a(i)
                textv_a(error.get("message"))
        else:  # _CONFIRM
            use_a(i)
            usev_a(ev.get("tool_use_id"))
            if ev.get("deny_message") is not None:
                text_a(i)
                textv_a(ev["deny_message"])

    if len(groups) == 1:
        seq = np.arange(n, dtype=np.int64)
    else:
        seq = np.concatenate([np.arange(c, dtype=np.int64) for c in counts] or [np.arange(0, dtype=np.int64)])
    raw = np.empty(n, dtype=object)
    raw[:] = evs
    columns: dict[str, Any] = {
        "session_id": col.session_strings(groups, counts, carried),
        "seq": seq,
        "id": col.strings(n, ids),
        "type": col.strings(n, types),
        "processed_at": col.timestamps(times),
        "actor": col.strings(n, actors),
        "text": col.strings(n, text_v, text_i),
        "tool_name": col.strings(n, name_v, name_i),
        "tool_use_id": col.strings(n, use_v, use_i),
        "is_error": col.bools(n, err_v, err_i),
        "stop_reason": col.strings(n, stop_v, stop_i),
        "error_type": col.strings(n, etype_v, error_i),
        "retry_status": col.strings(n, retry_v, error_i),
    }
    for key, values in zip(_TOKENS, tok_v):
        columns[key] = col.ints(n, values, tok_i)
    columns["raw"] = raw
    return col.frame(columns)
