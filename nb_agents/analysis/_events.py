"""``events_df``: one row per event, with the commonly useful fields flattened into columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nb_agents.analysis import _columns as col
from nb_agents.analysis._times import epoch_us

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


@col.without_gc
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
    acc = _Columns()
    for start in range(0, n, CHUNK):
        acc.add(evs[start : start + CHUNK], start)
    counts = [len(group) for _, group in groups]
    raw = np.concatenate([np.zeros(0, dtype=object), *acc.raw])
    carried: list[Any] | None = None
    if len(groups) == 1 and groups[0][0] is None:
        carried = [e.get("session_id") for e in raw]
        if not any(carried):
            carried = None
    if len(groups) == 1:
        seq = np.arange(n, dtype=np.int64)
    else:
        seq = np.concatenate([np.zeros(0, dtype=np.int64), *(np.arange(c, dtype=np.int64) for c in counts)])
    columns = {"session_id": col.session_strings(groups, counts, carried), "seq": seq, **acc.columns(n)}
    columns["raw"] = raw
    return col.frame(columns)


CHUNK = 8192
"""Events per block: a block's events are read field by field while they are still in the CPU caches."""


class _Columns:
    """Accumulates the columns of ``events_df``, one block of events at a time."""

    def __init__(self) -> None:
        self.types: dict[Any, int] = {}  # event type -> code, in order of first appearance
        self.codes: list[Any] = []
        self.ids: list[Any] = []
        self.times: list[Any] = []
        self.raw: list[Any] = []
        self.sparse: dict[str, tuple[list[Any], list[Any]]] = {}

    def put(self, column: str, rows: Any, values: Any) -> None:
        entry = self.sparse.setdefault(column, ([], []))
        entry[0].append(rows)
        entry[1].append(values)

    def add(self, evs: list[Any], offset: int) -> None:
        """Read one block of events (``offset``: the row of its first event)."""
        import numpy as np
        import pandas as pd

        base = col.table(evs, ("type", "id", "processed_at"))  # also converts SDK objects in evs
        codes, uniques = pd.factorize(base[:, 0])
        kinds = [str(t) for t in uniques]
        to_global = np.array([self.types.setdefault(t, len(self.types)) for t in uniques] + [-1], dtype=np.intp)
        self.codes.append(to_global[codes])  # code -1 (no type) picks the trailing -1
        self.ids.append(base[:, 1])
        self.times.append(epoch_us(base[:, 2]))
        self.raw.append(col.objects(evs))
        put = self.put
        for code, event_type in enumerate(kinds):
            kind = _KINDS.get(event_type)
            if kind is None:
                continue
            local = np.flatnonzero(codes == code)
            sub = list(map(evs.__getitem__, local.tolist()))
            rows = local + offset
            if kind == _SPAN_END:
                fields = col.table(sub, ("is_error", "model_usage"))
                put("is_error", rows, fields[:, 0])
                usage = col.tokens(fields[:, 1].tolist(), _TOKENS)
                for j, key in enumerate(_TOKENS):
                    put(key, rows, usage[:, j])
            elif kind == _RESULT:
                fields = col.table(sub, (_RESULT_KEYS[event_type], "content", "is_error"))
                put("tool_use_id", rows, fields[:, 0])
                put("text", rows, col.texts(fields[:, 1].tolist()))
                put("is_error", rows, fields[:, 2])
            elif kind == _USE:
                put("tool_name", rows, col.table(sub, ("name",))[:, 0])
                put("tool_use_id", rows, base[local, 1])
            elif kind == _TEXT:
                put("text", rows, col.texts(col.table(sub, ("content",))[:, 0].tolist()))
            elif kind == _IDLE:
                put("stop_reason", rows, [_field(x, "type") for x in col.table(sub, ("stop_reason",))[:, 0]])
            elif kind == _ERROR:
                errors = col.table(sub, ("error",))[:, 0]
                put("error_type", rows, [_field(x, "type") for x in errors])
                put("retry_status", rows, [_field(_field(x, "retry_status"), "type") for x in errors])
                put("text", rows, [_field(x, "message") for x in errors])
            else:  # _CONFIRM
                fields = col.table(sub, ("tool_use_id", "deny_message"))
                put("tool_use_id", rows, fields[:, 0])
                put("text", rows, fields[:, 1])

    def columns(self, n: int) -> dict[str, Any]:
        """Every column but ``session_id``, ``seq`` and ``raw``, each ``n`` rows long."""
        import numpy as np
        import pandas as pd

        def sparse(build: Any, column: str) -> Any:
            rows, chunks = self.sparse.get(column, ([], []))
            if build is col.ints:
                values: Any = np.concatenate([np.zeros(0), *chunks])
            else:
                values = np.concatenate([np.zeros(0, dtype=object), *(np.asarray(c, dtype=object) for c in chunks)])
            return build(n, values, np.concatenate([np.zeros(0, dtype=np.intp), *rows]))

        kinds = list(self.types)
        codes = np.concatenate([np.zeros(0, dtype=np.intp), *self.codes])
        times = np.concatenate([np.zeros(0, dtype=np.int64), *self.times]).view("M8[us]")
        columns: dict[str, Any] = {
            "id": col.strings(n, np.concatenate([np.zeros(0, dtype=object), *self.ids])),
            "type": col.strings(len(kinds), kinds).take(codes, allow_fill=True),
            "processed_at": pd.DatetimeIndex(times).tz_localize("UTC").as_unit("us").array,
            "actor": col.strings(len(kinds), [_actor(t) for t in kinds]).take(codes, allow_fill=True),
            "text": sparse(col.strings, "text"),
            "tool_name": sparse(col.strings, "tool_name"),
            "tool_use_id": sparse(col.strings, "tool_use_id"),
            "is_error": sparse(col.bools, "is_error"),
            "stop_reason": sparse(col.strings, "stop_reason"),
            "error_type": sparse(col.strings, "error_type"),
            "retry_status": sparse(col.strings, "retry_status"),
        }
        for key in _TOKENS:
            columns[key] = sparse(col.ints, key)
        return columns


def _field(obj: Any, key: str) -> Any:
    """``obj[key]`` if ``obj`` is a dict, else None (a string ``obj`` is returned as is)."""
    if isinstance(obj, dict):
        return obj.get(key)
    return obj if isinstance(obj, str) else None
