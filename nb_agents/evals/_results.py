"""What a finished session says about its task: the results row, and when a session is over."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from nb_agents.evals._scorers import Finished, Scorer
from nb_agents.evals._tasks import Task

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Row", "build_row", "failed_row", "frame", "settled", "usage_of"]

Row = dict[str, Any]

_STATUS = ("session.status_running", "session.status_idle", "session.status_rescheduled")
_ENDED = ("session.status_terminated", "session.deleted")
_TOKENS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
_NEEDS_YOU = (
    "the agent waits for a tool confirmation or a custom tool result; an evaluation cannot answer "
    "them, so give the agent tools that run without asking (permission always_allow)"
)


def settled(events: Sequence[Mapping[str, Any]]) -> str | None:
    """The stop reason once a session's work is over (``end_turn`` …, ``terminated``), else None.

    Over means: the last status event is an idle (or the session ended) and every event the
    client sent has been taken. A session that has not started yet is not over.
    """
    last: Mapping[str, Any] | None = None
    for event in events:
        if event["type"] in _ENDED:
            return "terminated"
        if event["type"] in _STATUS:
            last = event
    if last is None or last["type"] != "session.status_idle":
        return None
    if any(e["type"].startswith("user.") and not e.get("processed_at") for e in events):
        return None
    return str((last.get("stop_reason") or {}).get("type") or "idle")


def usage_of(events: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Tokens of the writer's model requests and of any outcome grader, summed."""
    total = dict.fromkeys(_TOKENS, 0)
    for event in events:
        usage = event.get("model_usage") if event["type"] == "span.model_request_end" else None
        if event["type"] == "span.outcome_evaluation_end":
            usage = event.get("usage")
        for key in _TOKENS:
            total[key] += int((usage or {}).get(key) or 0)
    return total


def _cost(usage: Mapping[str, int], model: str | None) -> float:
    from nb_agents.analysis import estimate_cost

    return estimate_cost(usage, model)


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _duration(events: Sequence[Mapping[str, Any]]) -> float:
    """Seconds from the first event the session took to its last idle."""
    starts = [_time(e.get("processed_at")) for e in events if e["type"].startswith("user.") and e.get("processed_at")]
    ends = [_time(e.get("processed_at")) for e in events if e["type"] == "session.status_idle"]
    start, end = next((t for t in starts if t), None), next((t for t in reversed(ends) if t), None)
    return (end - start).total_seconds() if start and end else math.nan


def _final_message(events: Sequence[Mapping[str, Any]]) -> str | None:
    for event in reversed(events):
        if event["type"] == "agent.message":
            return "".join(b.get("text", "") for b in event.get("content") or [] if b.get("type") == "text")
    return None


def _errors(events: Sequence[Mapping[str, Any]], stop_reason: str) -> list[str]:
    """Errors that ended or stalled the work (a ``retrying`` notice is not one)."""
    found = []
    for event in events:
        if event["type"] != "session.error":
            continue
        error = event.get("error") or {}
        if ((error.get("retry_status") or {}).get("type") or "") != "retrying":
            found.append(f"{error.get('type', 'error')}: {error.get('message', '')}".strip())
    if stop_reason == "requires_action":
        found.append(_NEEDS_YOU)
    if stop_reason == "terminated" and not found:
        found.append("the session was terminated")
    return found


def _passed(values: Sequence[Any]) -> bool | None:
    """Kleene AND of pass/fail checks: False if any failed, None if any is unknown or none exist."""
    if any(v is False for v in values):
        return False
    if not values or any(v is None for v in values):
        return None
    return True


def build_row(
    task: Task,
    epoch: int,
    session_id: str,
    events: list[dict[str, Any]],
    stop_reason: str,
    *,
    outcome: Mapping[str, Any] | None,
    scorers: Mapping[str, Scorer],
    model: str | None,
    extra_errors: Sequence[str] = (),
) -> Row:
    """The results row of a finished task × epoch (scorers run here)."""
    usage = usage_of(events)
    errors = _errors(events, stop_reason) + list(extra_errors)
    finished = Finished(task.id, epoch, task.columns, session_id, events, _final_message(events), outcome)
    checks: list[Any] = []
    row: Row = {"task_id": task.id, "epoch": epoch, **task.columns}
    row["outcome"] = outcome.get("result") if outcome else None
    row["explanation"] = outcome.get("explanation") if outcome else None
    row["iterations"] = int(outcome.get("iteration", 0)) + 1 if outcome else None
    if task.rubric is not None:
        checks.append(None if outcome is None else outcome.get("result") == "satisfied")
    for name, scorer in scorers.items():
        try:
            value = scorer(finished)
            if type(value).__name__ == "bool_":  # numpy's bool
                value = bool(value)
        except Exception as exc:  # a scorer is user code: its failure is this row's error, not the run's
            value = None
            errors.append(f"scorer {name}: {type(exc).__name__}: {exc}")
        row[name] = value
        if isinstance(value, bool) or value is None:
            checks.append(value)
    row["passed"] = _passed(checks)
    row["final_message"] = finished.final_message
    row["model_requests"] = sum(e["type"] == "span.model_request_start" for e in events)
    row.update(usage)
    row["cost_usd"] = _cost(usage, model)
    row["duration_s"] = _duration(events)
    row["stop_reason"] = stop_reason
    row["error"] = "; ".join(errors) or None
    row["session_id"] = session_id
    return row


def failed_row(task: Task, epoch: int, session_id: str | None, error: str, scorers: Sequence[str]) -> Row:
    """The row of a task × epoch that could not run (the session could not start, or vanished)."""
    row: Row = {"task_id": task.id, "epoch": epoch, **task.columns}
    row.update(dict.fromkeys(scorers))
    row.update(passed=None, stop_reason=None, error=error, session_id=session_id, model_requests=0)
    return row


def frame(rows: Sequence[Row], tasks: Sequence[Task], scorers: Sequence[str]) -> pd.DataFrame:
    """The results DataFrame: one row per task × epoch in task order, with stable columns and dtypes."""
    import pandas as pd

    text = pd.StringDtype("python")
    task_columns: list[str] = []
    for task in tasks:
        task_columns += [c for c in task.columns if c not in task_columns]
    order = {task.id: i for i, task in enumerate(tasks)}
    rows = sorted(rows, key=lambda r: (order[r["task_id"]], r["epoch"]))
    head = ["task_id", "epoch", *task_columns, "outcome", "explanation", "iterations", *scorers, "passed"]
    tail = ["final_message", "model_requests", *_TOKENS, "cost_usd", "duration_s", "stop_reason", "error", "session_id"]
    out = pd.DataFrame([{c: r.get(c) for c in head + tail} for r in rows], columns=head + tail)
    dtypes: dict[str, Any] = {"task_id": text, "epoch": "int64", "iterations": "Int64", "passed": "boolean"}
    dtypes.update({c: text for c in ("outcome", "explanation", "final_message", "stop_reason", "error", "session_id")})
    dtypes.update({c: "Int64" for c in ("model_requests", *_TOKENS)})
    dtypes.update({"cost_usd": "float64", "duration_s": "float64"})
    for column, dtype in dtypes.items():
        out[column] = out[column].astype(dtype)
    for name in scorers:
        try:
            out[name] = pd.array(list(out[name]))
        except (TypeError, ValueError):
            pass  # mixed values stay object
    return out
