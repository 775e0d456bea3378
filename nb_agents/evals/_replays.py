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
from pathlib import Path
from typing import TYPE_CHECKING

from nb_agents.errors import EvalError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["save_replays"]


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
