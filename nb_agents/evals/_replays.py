"""An evaluation recorded once, replayed offline: one replay file per task × epoch.

Record: run the evaluation on a server started with ``nb-agents serve --record DIR``, which
writes each session's model answers to ``DIR/<session id>.jsonl``. Then
``save_replays(results, DIR, into)`` copies them to ``into/<task id>.<epoch>.jsonl``. Replay:
an agent whose model is ``replay:<into>`` (a directory) answers each session from the file its
``nb_agents.replay`` metadata names, which ``evaluate`` sets per task × epoch: the same tasks
give the same results, with no model and no key. A hand-written ``<task id>.jsonl`` serves every
epoch of its task.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nb_agents.errors import EvalError
from nb_agents.evals._tasks import Key, Task

if TYPE_CHECKING:
    import pandas as pd

    from nb_agents.client import Agent

__all__ = ["REPLAY_KEY", "replay_dir", "replay_names", "save_replays"]

REPLAY_KEY = "nb_agents.replay"
"""Session metadata naming the session's file in a ``replay:<directory>`` (without ``.jsonl``)."""

_SAFE_ID = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def replay_dir(agent: Agent) -> Path | None:
    """The directory of an agent whose model is ``replay:<directory>``, else None."""
    model = agent.spec.model_id
    if not model.startswith("replay:"):
        return None
    path = Path(model[len("replay:") :].strip()).expanduser()
    return path if path.is_dir() else None


def replay_names(agent: Agent, tasks: Sequence[Task], epochs: int) -> dict[Key, str]:
    """Each task × epoch's file in the agent's replay directory: ``<task>.<epoch>.jsonl``, else ``<task>.jsonl``."""
    folder = replay_dir(agent)
    if folder is None:
        return {}
    names: dict[Key, str] = {}
    missing: list[str] = []
    for task in tasks:
        if not set(task.id) <= _SAFE_ID or task.id.startswith("."):
            raise EvalError(f"task id {task.id!r} cannot name a replay file: use letters, digits, '_', '.', '-'")
        for epoch in range(epochs):
            found = next((n for n in (f"{task.id}.{epoch}", task.id) if (folder / f"{n}.jsonl").is_file()), None)
            if found is None:
                missing.append(f"{task.id}.{epoch}.jsonl")
            else:
                names[(task.id, epoch)] = found
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise EvalError(
            f"the replay directory {folder} has no file for {shown} "
            "(each task needs <task id>.<epoch>.jsonl or <task id>.jsonl; see save_replays)"
        )
    return names


def save_replays(results: pd.DataFrame, record_dir: str | os.PathLike[str], into: str | os.PathLike[str]) -> list[Path]:
    """Copy each row's recorded session to ``into/<task id>.<epoch>.jsonl``; return the files.

    Raises:
        EvalError: A row has no session, or its recording is missing from ``record_dir``.
    """
    source, target = Path(record_dir).expanduser(), Path(into).expanduser()
    missing = [
        str(row.task_id)
        for row in results.itertuples()
        if not isinstance(row.session_id, str) or not (source / f"{row.session_id}.jsonl").is_file()
    ]
    if missing:
        raise EvalError(
            f"no recording in {source} for task(s) {', '.join(missing[:5])}: was the server started "
            "with nb-agents serve --record DIR, and did those sessions run?"
        )
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for row in results.itertuples():
        path = target / f"{row.task_id}.{row.epoch}.jsonl"
        shutil.copyfile(source / f"{row.session_id}.jsonl", path)
        written.append(path)
    return written
