"""``compare``: two evaluations on the same tasks, paired per task, with a bootstrap interval."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nb_agents.errors import EvalError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Comparison", "compare"]


@dataclass(frozen=True)
class Comparison:
    """Two evaluations compared per task (``b`` minus ``a``).

    Attributes:
        labels: The names of ``a`` and ``b``.
        metric: The results column compared (a task's value is its mean over epochs).
        n_tasks: Tasks in both evaluations with a value in each.
        mean_a: Mean of the metric over those tasks, for ``a``.
        mean_b: The same for ``b``.
        difference: ``mean_b - mean_a``: the mean of the paired per-task differences.
        ci: The bootstrap confidence interval of ``difference`` (tasks resampled).
        confidence: The interval's level.
        wins: Tasks where ``b`` did better; ``losses``: worse; ``ties``: the same.
        tasks: One row per task: ``a``, ``b``, ``difference``, ``winner``.
    """

    labels: tuple[str, str]
    metric: str
    n_tasks: int
    mean_a: float
    mean_b: float
    difference: float
    ci: tuple[float, float]
    confidence: float
    wins: int
    losses: int
    ties: int
    tasks: pd.DataFrame = field(repr=False)

    def summary(self) -> pd.DataFrame:
        """The comparison as a one-row DataFrame."""
        import pandas as pd

        a, b = self.labels
        return pd.DataFrame(
            [
                {
                    "metric": self.metric,
                    "tasks": self.n_tasks,
                    a: self.mean_a,
                    b: self.mean_b,
                    "difference": self.difference,
                    "ci_low": self.ci[0],
                    "ci_high": self.ci[1],
                    "wins": self.wins,
                    "losses": self.losses,
                    "ties": self.ties,
                }
            ]
        )

    def plot(self) -> Any:
        """A plotly figure: the per-task differences, their mean and its confidence interval."""
        import importlib

        go = importlib.import_module("plotly.graph_objects")

        a, b = self.labels
        ordered = self.tasks.sort_values("difference")
        colors = ["#16a34a" if d > 0 else "#dc2626" if d < 0 else "#9ca3af" for d in ordered["difference"]]
        fig = go.Figure(go.Bar(x=ordered.index.astype(str), y=ordered["difference"], marker_color=colors, name="task"))
        fig.add_hrect(y0=self.ci[0], y1=self.ci[1], fillcolor="#2563eb", opacity=0.15, line_width=0)
        fig.add_hline(y=self.difference, line_color="#2563eb", annotation_text=f"mean {self.difference:+.3f}")
        level = round(self.confidence * 100)
        fig.update_layout(
            title=f"{b} − {a}: {self.metric} per task (mean {self.difference:+.3f}, {level}% CI "
            f"{self.ci[0]:+.3f} … {self.ci[1]:+.3f})",
            xaxis_title="task",
            yaxis_title=f"{self.metric}: {b} − {a}",
            showlegend=False,
            height=360,
        )
        return fig

    def __repr__(self) -> str:
        a, b = self.labels
        level = round(self.confidence * 100)
        return (
            f"Comparison({b} vs {a} on {self.metric}, {self.n_tasks} tasks: {self.mean_b:.3f} vs {self.mean_a:.3f}, "
            f"difference {self.difference:+.3f} ({level}% CI {self.ci[0]:+.3f} … {self.ci[1]:+.3f}); "
            f"{self.wins} wins, {self.losses} losses, {self.ties} ties)"
        )


def _per_task(results: pd.DataFrame, metric: str, which: str) -> pd.Series:
    import pandas as pd

    if not isinstance(results, pd.DataFrame):
        raise EvalError(f"compare(): {which} must be a results DataFrame from evaluate()")
    for column in ("task_id", metric):
        if column not in results.columns:
            columns = ", ".join(map(str, results.columns))
            raise EvalError(f"compare(): {which} has no {column!r} column (columns: {columns})")
    values = pd.to_numeric(results[metric].astype("Float64"), errors="coerce")
    return values.groupby(results["task_id"].astype(str)).mean().dropna().astype("float64")


def _label(results: pd.DataFrame, fallback: str) -> str:
    return str(results.attrs.get("agent") or results.attrs.get("eval") or fallback)


def compare(
    results_a: pd.DataFrame,
    results_b: pd.DataFrame,
    *,
    metric: str = "passed",
    labels: tuple[str, str] | None = None,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Compare two evaluations of the same tasks: ``b`` minus ``a``, paired per task.

    Each task's value is the mean of ``metric`` over its epochs (``passed`` counts as 1 or 0);
    tasks missing from either side, or without a value, are left out. The interval is a
    percentile bootstrap over tasks (``resamples`` draws, seeded, so it is reproducible).

    Args:
        results_a: The baseline's results (``evaluate``).
        results_b: The challenger's results.
        metric: A numeric or boolean results column: ``passed``, a scorer, ``cost_usd`` …
        labels: Names for the two sides (default: each agent's name).
        confidence: The interval's level, between 0 and 1.
        resamples: Bootstrap draws.
        seed: The bootstrap's random seed.

    Raises:
        EvalError: A side is not a results frame, or no task has a value on both sides.
    """
    import numpy as np
    import pandas as pd

    if not 0 < confidence < 1:
        raise EvalError(f"compare(): confidence must be between 0 and 1, not {confidence}")
    if resamples < 100:
        raise EvalError(f"compare(): use at least 100 resamples, not {resamples}")
    a, b = _per_task(results_a, metric, "results_a"), _per_task(results_b, metric, "results_b")
    if labels is None:
        labels = (_label(results_a, "a"), _label(results_b, "b"))
        if labels[0] == labels[1]:
            labels = (f"{labels[0]} (a)", f"{labels[1]} (b)")
    both = a.index.intersection(b.index, sort=False)
    if len(both) == 0:
        raise EvalError(f"compare(): no task has a {metric!r} value in both results; are they runs of the same tasks?")
    diff = (b[both] - a[both]).to_numpy()
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    winner = np.where(diff > 0, labels[1], np.where(diff < 0, labels[0], "tie"))
    tasks = pd.DataFrame({labels[0]: a[both], labels[1]: b[both], "difference": diff, "winner": winner}, index=both)
    tasks.index.name = "task_id"
    return Comparison(
        labels=labels,
        metric=metric,
        n_tasks=len(both),
        mean_a=float(a[both].mean()),
        mean_b=float(b[both].mean()),
        difference=float(diff.mean()),
        ci=(float(low), float(high)),
        confidence=confidence,
        wins=int((diff > 0).sum()),
        losses=int((diff < 0).sum()),
        ties=int((diff == 0).sum()),
        tasks=tasks,
    )
