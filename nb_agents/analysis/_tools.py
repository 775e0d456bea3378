"""``tool_calls_df``: one row per tool call, each use paired with its confirmation and result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nb_agents.analysis import _columns as col
from nb_agents.analysis._times import timestamps

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["OUTCOMES", "TOOL_CALL_COLUMNS", "tool_calls_df"]

TOOL_CALL_COLUMNS = (
    "session_id",
    "tool_use_id",
    "name",
    "kind",
    "input",
    "permission",
    "confirmation",
    "outcome",
    "started_at",
    "confirmed_at",
    "finished_at",
    "approval_wait",
    "duration",
    "is_error",
    "output_chars",
    "output",
)
"""The columns of ``tool_calls_df``, in order."""

_USES = {"agent.tool_use": "builtin", "agent.mcp_tool_use": "mcp", "agent.custom_tool_use": "custom"}
_RESULTS = {
    "agent.tool_result": "tool_use_id",
    "user.tool_result": "tool_use_id",  # self-hosted environments: the worker answers built-in calls
    "agent.mcp_tool_result": "mcp_tool_use_id",
    "user.custom_tool_result": "custom_tool_use_id",
}
_CONFIRMATION = "user.tool_confirmation"
_INTERRUPT = "user.interrupt"
OUTCOMES = ("ok", "error", "denied", "interrupted", "awaiting approval", "running")
"""The values of ``tool_calls_df``'s ``outcome`` column."""


@col.without_gc
def tool_calls_df(events: Any, *, session_id: str | None = None) -> pd.DataFrame:
    """One row per tool call: the use, its confirmation (if asked) and its result.

    Uses and results are paired by id: ``agent.tool_use`` with ``agent.tool_result`` (or
    ``user.tool_result`` on self-hosted environments) by ``tool_use_id``;
    ``agent.custom_tool_use`` with ``user.custom_tool_result`` by ``custom_tool_use_id``;
    ``agent.mcp_tool_use`` with ``agent.mcp_tool_result`` by ``mcp_tool_use_id``. A
    ``user.tool_confirmation`` is matched by its ``tool_use_id``. Calls without a result yet
    (running, waiting for approval or for a custom tool answer) are kept, with NaT/NA in the
    result columns. Results whose use is not in ``events`` are left out. If a use occurs twice,
    its first occurrence counts; a client event that a stream echoed twice (first queued, with
    ``processed_at`` null, then processed) counts with its processed copy.

    Columns (in this order):

    - ``session_id``: as in ``events_df``.
    - ``tool_use_id`` (the use event's ``sevt_`` id), ``name``, ``kind`` (``builtin``,
      ``custom`` or ``mcp``), ``input`` (the input dict, ``object``).
    - ``permission``: ``evaluated_permission`` (``allow``/``ask``/``deny``; NA for custom tools).
    - ``confirmation``: ``allow``/``deny`` from ``user.tool_confirmation``, else NA.
    - ``outcome``: ``ok``, ``error`` (the tool failed), ``denied`` (by you or by the policy: it
      never ran), ``interrupted`` (a ``user.interrupt`` came while it ran), ``awaiting approval``
      or ``running`` (no result yet).
    - ``started_at``, ``confirmed_at``, ``finished_at``: ``processed_at`` of the use, the
      confirmation and the result (UTC).
    - ``approval_wait``: ``confirmed_at - started_at``, the time the call waited for you (NaT
      when it was not asked).
    - ``duration``: the tool's own time, from when it could run (the approval, else the use) to
      its result; the wait for approval is not in it. NaT for denied calls and while there is
      no result. It includes a sandbox's cold start when the call was the first: the log does
      not record when the sandbox was ready.
    - ``is_error`` (``boolean``), ``output_chars`` (``Int64``: characters of ``output``),
      ``output`` (the result's text blocks joined with newlines).

    Args:
        events: An iterable of events (wire dicts or SDK event objects), or a mapping
            ``{session_id: events}`` for many sessions at once.
        session_id: The session the events belong to (a single list only).

    Returns:
        A DataFrame with the columns above (also when there are no tool calls).

    Raises:
        TypeError: If ``session_id=`` is combined with a mapping of sessions.
        EventValidationError: If an item is neither a dict nor an SDK object.

    Example:
        >>> from nb_agents.analysis import tool_calls_df
        >>> events = [
        ...     {"id": "sevt_1", "type": "agent.tool_use", "name": "bash", "input": {"command": "ls"},
        ...      "evaluated_permission": "allow", "processed_at": "2026-11-21T00:00:01.000000Z"},
        ...     {"id": "sevt_2", "type": "agent.tool_result", "tool_use_id": "sevt_1", "is_error": False,
        ...      "content": [{"type": "text", "text": "a.txt"}], "processed_at": "2026-11-21T00:00:01.250000Z"},
        ... ]
        >>> row = tool_calls_df(events).iloc[0]
        >>> row["name"], row["duration"].total_seconds(), row["output"]
        ('bash', 0.25, 'a.txt')
    """
    groups = col.by_session(events, session_id)
    uses: list[tuple[Any, ...]] = []
    confirmations: list[tuple[Any, Any]] = []
    results: list[tuple[Any, Any, Any]] = []
    interrupted: list[bool] = []
    no_confirmation, no_result = (None, None), (None, None, None)
    roles = {**dict.fromkeys(_USES, 0), **dict.fromkeys(_RESULTS, 1), _CONFIRMATION: 2, _INTERRUPT: 3}.get
    for sid, evs in groups:
        col.dicts(evs)
        seen: set[Any] = set()
        group_uses: list[tuple[Any, ...]] = []
        answers: dict[Any, tuple[Any, Any, Any]] = {}
        confirmed: dict[Any, tuple[Any, Any]] = {}
        open_calls: set[Any] = set()  # uses without a result yet, in log order
        cut: set[Any] = set()  # uses that were open when a user.interrupt came
        for ev in evs:  # one pass, every field read while the event is in the CPU cache
            event_type = ev.get("type", "")
            role = roles(event_type)
            if role is None:
                continue
            if role == 3:
                cut |= open_calls
                continue
            if role == 0:
                use_id = ev.get("id")
                if use_id not in seen:
                    seen.add(use_id)
                    open_calls.add(use_id)
                    group_uses.append(
                        (
                            sid if sid is not None else ev.get("session_id"),
                            use_id,
                            ev.get("name"),
                            _USES[event_type],
                            ev.get("input"),
                            ev.get("evaluated_permission"),
                            ev.get("processed_at"),
                        )
                    )
            elif role == 1:
                ref = ev.get(_RESULTS[event_type])
                open_calls.discard(ref)
                if ref not in answers or answers[ref][0] is None:  # a processed echo beats a queued one
                    text = col.join_text(ev.get("content"))
                    answers[ref] = (ev.get("processed_at"), bool(ev.get("is_error", False)), text or "")
            else:
                ref = ev.get("tool_use_id")
                if ref not in confirmed or confirmed[ref][1] is None:
                    confirmed[ref] = (ev.get("result"), ev.get("processed_at"))
        for use in group_uses:
            uses.append(use)
            confirmations.append(confirmed.get(use[1], no_confirmation))
            results.append(answers.get(use[1], no_result))
            interrupted.append(use[1] in cut)
    return _frame(uses, confirmations, results, interrupted)


def _outcome(permission: Any, answer: Any, finished: Any, is_error: Any, cut: bool) -> str:
    if permission == "deny" or answer == "deny":
        return "denied"
    if finished is None and is_error is None:
        return "awaiting approval" if permission == "ask" and answer is None else "running"
    if is_error:
        return "interrupted" if cut else "error"
    return "ok"


def _frame(
    uses: list[tuple[Any, ...]],
    confirmations: list[tuple[Any, Any]],
    results: list[tuple[Any, Any, Any]],
    interrupted: list[bool],
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    n = len(uses)
    sids, ids, names, kinds, inputs, permissions, started_at = zip(*uses, strict=True) if n else ((),) * 7
    answers, confirmed_at = zip(*confirmations, strict=True) if n else ((),) * 2
    finished_at, is_error, outputs = zip(*results, strict=True) if n else ((),) * 3
    started = timestamps(started_at)
    confirmed = timestamps(confirmed_at)
    finished = timestamps(finished_at)
    outcomes = [
        _outcome(*values) for values in zip(permissions, answers, finished_at, is_error, interrupted, strict=True)
    ]
    denied = np.array([o == "denied" for o in outcomes], dtype=bool)
    ran_from = pd.Series(confirmed).fillna(pd.Series(started)).array  # after the approval, if asked
    duration = finished - ran_from
    duration[denied] = pd.NaT
    columns: dict[str, Any] = {
        "session_id": col.strings(n, sids),
        "tool_use_id": col.strings(n, ids),
        "name": col.strings(n, names),
        "kind": col.strings(n, kinds),
        "input": col.objects(list(inputs)),
        "permission": col.strings(n, permissions),
        "confirmation": col.strings(n, answers),
        "outcome": col.strings(n, outcomes),
        "started_at": started,
        "confirmed_at": confirmed,
        "finished_at": finished,
        "approval_wait": confirmed - started,
        "duration": duration,
        "is_error": col.bools(n, is_error),
        "output_chars": col.ints(n, np.array([np.nan if o is None else len(o) for o in outputs], dtype=np.float64)),
        "output": col.strings(n, outputs),
    }
    return col.frame(columns)
