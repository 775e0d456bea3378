"""The live state of an evaluation: each task × epoch's state, spend and verdict (thread-safe)."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nb_agents.client import Session

__all__ = ["Tally"]


@dataclass
class _Item:
    task_id: str
    epoch: int
    state: str = "queued"  # queued | running | done | failed
    session_id: str | None = None
    passed: bool | None = None
    cost: float = 0.0
    session: Session | None = None


class Tally:
    """What the progress view shows; workers report into it, the view reads snapshots.

    Args:
        name: The evaluation's name.
        keys: Every (task id, epoch) of the run.
        budget_usd: The run's whole budget in USD (per-task budget × task × epochs), if any.
        model: The model id costs are estimated for.
    """

    def __init__(self, name: str, keys: list[tuple[str, int]], budget_usd: float | None, model: str | None) -> None:
        self.name = name
        self.budget_usd = budget_usd
        self.model = model
        self.started = time.monotonic()
        self._items = {key: _Item(*key) for key in keys}
        self._lock = threading.Lock()

    def running(self, key: tuple[str, int], session: Session) -> None:
        """A session is working on ``key`` (new or re-attached)."""
        with self._lock:
            item = self._items[key]
            item.state, item.session_id, item.session = "running", session.id, session

    def finished(self, row: dict[str, Any]) -> None:
        """``key``'s results row is in: done, or failed when it carries an error."""
        with self._lock:
            item = self._items[(row["task_id"], row["epoch"])]
            item.state = "failed" if row.get("error") else "done"
            item.session_id, item.session = row.get("session_id"), None
            item.passed = row.get("passed")
            cost = row.get("cost_usd")
            item.cost = float(cost) if isinstance(cost, (int, float)) and not math.isnan(cost) else 0.0

    def _live_cost(self, item: _Item) -> float:
        if item.session is None:
            return item.cost
        from nb_agents.analysis import estimate_cost

        cost = estimate_cost(item.session.usage, self.model)
        return 0.0 if math.isnan(cost) else cost

    def snapshot(self) -> dict[str, Any]:
        """Counts, pass rate so far, spend vs budget, and one small dict per task × epoch."""
        with self._lock:
            items = list(self._items.values())
            costs = [self._live_cost(i) for i in items]
        counts = {s: sum(i.state == s for i in items) for s in ("queued", "running", "done", "failed")}
        judged = [i.passed for i in items if i.state in ("done", "failed") and i.passed is not None]
        return {
            "name": self.name,
            "total": len(items),
            **counts,
            "passed": sum(bool(p) for p in judged),
            "judged": len(judged),
            "pass_rate": (sum(bool(p) for p in judged) / len(judged)) if judged else None,
            "spend_usd": round(sum(costs), 6),
            "budget_usd": self.budget_usd,
            "elapsed_s": round(time.monotonic() - self.started, 1),
            "rows": [
                {"task_id": i.task_id, "epoch": i.epoch, "state": i.state, "session_id": i.session_id}
                | {"passed": i.passed}
                for i in items
            ],
        }
