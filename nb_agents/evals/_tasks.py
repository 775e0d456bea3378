"""Tasks of an evaluation: read from a DataFrame or a list of dicts, checked before anything runs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nb_agents.errors import EvalError

__all__ = ["RESULT_COLUMNS", "Key", "Task", "fingerprint", "read_tasks"]

Key = tuple[str, int]
"""A task × epoch: (task id, epoch)."""

RESULT_COLUMNS = (
    "task_id",
    "epoch",
    "outcome",
    "explanation",
    "iterations",
    "passed",
    "final_message",
    "model_requests",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cost_usd",
    "duration_s",
    "stop_reason",
    "error",
    "session_id",
)
"""The columns ``evaluate`` adds to each task's own columns (scorer columns come before ``passed``)."""

_MAX_ID = 200  # session metadata values hold at most 512 characters
_MAX_RUBRIC = 262_144  # the API's limit for a text rubric


@dataclass(frozen=True)
class Task:
    """One task: its id, prompt, optional rubric, and every column it came with."""

    id: str
    prompt: str
    rubric: str | None
    columns: dict[str, Any]


def _missing(value: Any) -> bool:
    """None, NaN, NA or NaT (a cell left empty in a DataFrame)."""
    if value is None:
        return True
    if isinstance(value, (str, list, dict, tuple)):
        return False
    try:
        return bool(_pd().isna(value))
    except (TypeError, ValueError):
        return False


def _pd() -> Any:
    import pandas as pd

    return pd


def _rows(tasks: Any) -> list[tuple[Any, dict[str, Any]]]:
    """(default id, columns) per task: a DataFrame's index labels, or a list's positions."""
    pd = _pd()
    if isinstance(tasks, pd.DataFrame):
        records = tasks.to_dict("records")
        return [(label, {str(k): v for k, v in row.items()}) for label, row in zip(tasks.index, records, strict=True)]
    if isinstance(tasks, Sequence) and not isinstance(tasks, (str, bytes)):
        rows = []
        for position, task in enumerate(tasks):
            if not isinstance(task, Mapping):
                raise EvalError(f"task {position} is a {type(task).__name__}; each task is a dict with a 'prompt'")
            rows.append((position, {str(k): v for k, v in task.items()}))
        return rows
    raise EvalError(f"tasks must be a pandas DataFrame or a list of dicts, not {type(tasks).__name__}")


def read_tasks(tasks: Any, *, rubric: str | None = None, extra_columns: Sequence[str] = ()) -> list[Task]:
    """Check and normalise ``tasks``.

    Each task needs a non-empty ``prompt``. Its id is its ``id`` column, else its DataFrame index
    label (a list's position); ids are unique strings of at most 200 characters, because
    sessions carry them in their metadata to make an evaluation resumable. A ``rubric`` column
    overrides ``rubric`` for its task. Any other column is kept and copied into the results.

    Raises:
        EvalError: No tasks, a missing prompt, duplicate ids, a ``files`` column, or a column
            whose name a result column takes.
    """
    rows = _rows(tasks)
    if not rows:
        raise EvalError("there are no tasks: pass a DataFrame or a list of dicts with a 'prompt' each")
    taken = set(RESULT_COLUMNS) | set(extra_columns)
    out: list[Task] = []
    seen: dict[str, int] = {}
    for position, (label, columns) in enumerate(rows):
        if "files" in columns:
            raise EvalError(
                "task files are not available yet: nb_agents has no Files API support to upload and "
                "mount them; drop the 'files' column (put small inputs in the prompt instead)"
            )
        clash = sorted(taken & set(columns))
        if clash:
            raise EvalError(f"task column(s) {clash} clash with result columns of the same name; rename them")
        prompt = columns.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise EvalError(f"task {label!r} has no prompt: each task needs a non-empty 'prompt' string")
        raw_id = columns["id"] if "id" in columns and not _missing(columns["id"]) else label
        task_id = str(raw_id)
        if not task_id or len(task_id) > _MAX_ID:
            raise EvalError(f"task id {task_id[:40]!r}… must be 1 to {_MAX_ID} characters")
        if task_id in seen:
            raise EvalError(f"task id {task_id!r} is used by tasks {seen[task_id]} and {position}; ids must be unique")
        seen[task_id] = position
        own = columns.get("rubric")
        task_rubric = rubric if own is None or _missing(own) else own
        if task_rubric is not None:
            if not isinstance(task_rubric, str) or not task_rubric.strip():
                raise EvalError(f"task {task_id!r}: a rubric is a non-empty markdown string")
            if len(task_rubric) > _MAX_RUBRIC:
                size = len(task_rubric)
                raise EvalError(f"task {task_id!r}: the rubric has {size} characters (at most {_MAX_RUBRIC})")
        out.append(Task(task_id, prompt, task_rubric, columns))
    return out


def fingerprint(*parts: Any) -> str:
    """A short, stable hash of JSON-able parts (an evaluation's default name)."""
    data = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode()).hexdigest()[:12]
