"""``sessions_df``: one row per Session object."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from nb_agents._prices import price_for
from nb_agents.analysis import _columns as col
from nb_agents.analysis._requests import session_model
from nb_agents.analysis._times import timestamps

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SESSION_COLUMNS", "sessions_df"]

SESSION_COLUMNS = (
    "id",
    "title",
    "status",
    "agent_id",
    "agent_name",
    "agent_version",
    "model",
    "environment_id",
    "created_at",
    "updated_at",
    "archived_at",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "active_seconds",
    "list_cost_usd",
    "cost_usd",
)
"""The columns of ``sessions_df``, in order."""


def sessions_df(sessions: Iterable[Any]) -> pd.DataFrame:
    """One row per Session object, in the order given.

    Columns (in this order): ``id``, ``title``, ``status``, ``agent_id``, ``agent_name``,
    ``agent_version`` (Int64), ``model`` (the agent snapshot's model id), ``environment_id``,
    ``created_at``, ``updated_at``, ``archived_at`` (UTC; NaT if not archived), the
    cumulative usage ``input_tokens``, ``output_tokens``, ``cache_read_input_tokens`` and
    ``cache_creation_input_tokens`` (Int64; the 5-minute and 1-hour cache writes added up),
    ``active_seconds`` (float64: ``usage.active_seconds``, else ``stats.active_seconds``) and
    ``list_cost_usd`` (float64: ``usage.list_cost`` in USD when the server reports it, else NaN)
    and ``cost_usd`` (float64: ``list_cost_usd`` when reported, else estimated from the tokens
    and the model's list price, ``PRICES``; NaN for a model without a price). The local runtime
    reports no ``list_cost``, so ``cost_usd`` is its estimate.

    Args:
        sessions: Session objects: wire dicts or SDK objects, e.g. ``client.beta.sessions.list()``.

    Returns:
        A DataFrame with the columns above (also when there are no sessions).

    Raises:
        EventValidationError: If an item is neither a dict nor an SDK object.

    Example:
        >>> from nb_agents.analysis import sessions_df
        >>> df = sessions_df([{"id": "sesn_1", "status": "idle", "environment_id": "env_1",
        ...     "agent": {"id": "agent_1", "name": "shell", "version": 2, "model": {"id": "claude-sonnet-4-6"}},
        ...     "usage": {"input_tokens": 1200, "output_tokens": 40}, "created_at": "2026-11-21T00:00:00Z"}])
        >>> row = df.iloc[0]
        >>> row["agent_name"], int(row["agent_version"]), row["model"], int(row["input_tokens"])
        ('shell', 2, 'claude-sonnet-4-6', 1200)
    """
    import numpy as np

    wires = [col.as_dict(s, "session") for s in sessions]
    n = len(wires)
    agents: list[dict[str, Any]] = [_dict(w.get("agent")) for w in wires]
    usages: list[dict[str, Any]] = [_dict(w.get("usage")) for w in wires]
    stats: list[dict[str, Any]] = [_dict(w.get("stats")) for w in wires]

    def strings(key: str) -> Any:
        return col.strings(n, [w.get(key) for w in wires])

    def tokens(usage: dict[str, Any]) -> list[Any]:
        cache = usage.get("cache_creation")
        written = None
        if isinstance(cache, dict):
            written = (cache.get("ephemeral_5m_input_tokens") or 0) + (cache.get("ephemeral_1h_input_tokens") or 0)
        elif usage.get("cache_creation_input_tokens") is not None:
            written = usage["cache_creation_input_tokens"]
        return [usage.get("input_tokens"), usage.get("output_tokens"), usage.get("cache_read_input_tokens"), written]

    counts = np.array([tokens(u) for u in usages], dtype=np.float64).reshape(n, 4)
    active = [u.get("active_seconds", s.get("active_seconds")) for u, s in zip(usages, stats, strict=True)]
    columns: dict[str, Any] = {
        "id": strings("id"),
        "title": strings("title"),
        "status": strings("status"),
        "agent_id": col.strings(n, [a.get("id") for a in agents]),
        "agent_name": col.strings(n, [a.get("name") for a in agents]),
        "agent_version": col.ints(n, np.array([_number(a.get("version")) for a in agents], dtype=np.float64)),
        "model": col.strings(n, [session_model(w) for w in wires]),
        "environment_id": strings("environment_id"),
        "created_at": timestamps([w.get("created_at") for w in wires]),
        "updated_at": timestamps([w.get("updated_at") for w in wires]),
        "archived_at": timestamps([w.get("archived_at") for w in wires]),
        "input_tokens": col.ints(n, counts[:, 0]),
        "output_tokens": col.ints(n, counts[:, 1]),
        "cache_read_input_tokens": col.ints(n, counts[:, 2]),
        "cache_creation_input_tokens": col.ints(n, counts[:, 3]),
        "active_seconds": np.array([_number(a) for a in active], dtype=np.float64),
        "list_cost_usd": np.array([_usd(u.get("list_cost")) for u in usages], dtype=np.float64),
    }
    estimated = [_estimate(row, model) for row, model in zip(counts.tolist(), columns["model"], strict=True)]
    columns["cost_usd"] = np.where(
        np.isnan(columns["list_cost_usd"]), np.array(estimated, dtype=np.float64), columns["list_cost_usd"]
    )
    return col.frame(columns)


def _estimate(counts: list[float], model: Any) -> float:
    """The list-price estimate of a session's cumulative tokens (both cache TTLs at the 5-minute rate)."""
    price = price_for(model if isinstance(model, str) else None)
    if price is None or any(c != c for c in counts[:2]):
        return float("nan")
    read, written = (0.0 if c != c else c for c in counts[2:])
    return price.cost(counts[0], counts[1], written, read)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


def _usd(amount: Any) -> float:
    """``{"amount": "2500", "currency": "USD"}`` (minor units) as dollars; NaN otherwise."""
    if not isinstance(amount, dict) or amount.get("currency") != "USD":
        return float("nan")
    try:
        return int(amount["amount"]) / 100
    except (KeyError, TypeError, ValueError):
        return float("nan")
