"""``model_requests_df``: one row per model request, with latency, tokens and estimated cost."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nb_agents._prices import ModelPrice, price_for
from nb_agents.analysis import _columns as col
from nb_agents.analysis._times import timestamps

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MODEL_REQUEST_COLUMNS", "model_requests_df", "session_model"]

MODEL_REQUEST_COLUMNS = (
    "session_id",
    "request_id",
    "started_at",
    "finished_at",
    "latency",
    "is_error",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "model",
    "cost_usd",
)
"""The columns of ``model_requests_df``, in order."""

_TOKENS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
_START, _END, _UPDATED = "span.model_request_start", "span.model_request_end", "session.updated"


def session_model(session: Any) -> str | None:
    """The model id of a Session wire object (or SDK object): ``agent.model.id``."""
    agent = col.as_dict(session, "session").get("agent") or {}
    return _model_id(agent.get("model"))


def _model_id(model: Any) -> str | None:
    if isinstance(model, dict):
        model = model.get("id")
    return model if isinstance(model, str) else None


@col.without_gc
def model_requests_df(
    events: Any,
    *,
    session_id: str | None = None,
    model: str | Mapping[str, str] | None = None,
    session: Any = None,
    prices: Mapping[str, ModelPrice] | None = None,
) -> pd.DataFrame:
    """One row per model request: a ``span.model_request_start`` and its ``_end``.

    The end names its start in ``model_request_start_id``. A request still in flight (no end)
    is kept with NaT/NA; an end whose start is not in ``events`` is kept with ``started_at`` NaT.

    The model of a request is, in this order: ``model=`` (one id, or ``{session_id: id}``);
    the agent snapshot of the latest ``session.updated`` event before the request; the
    ``session=`` object's ``agent.model``; else NA. The cost is estimated from ``PRICES``
    (see there: list prices, an estimate) merged with ``prices=``; it is NaN when the model has
    no price or the request has no token counts.

    Columns (in this order): ``session_id``, ``request_id`` (the start event's id),
    ``started_at``, ``finished_at`` (UTC), ``latency`` (timedelta), ``is_error`` (boolean),
    ``input_tokens``, ``output_tokens``, ``cache_read_input_tokens``,
    ``cache_creation_input_tokens`` (Int64), ``model`` (string), ``cost_usd`` (float64).

    Args:
        events: An iterable of events (wire dicts or SDK event objects), or a mapping
            ``{session_id: events}`` for many sessions at once.
        session_id: The session the events belong to (a single list only).
        model: The model id for every request, or a mapping from session id to model id.
        session: A Session object (wire dict or SDK object), or an iterable of them, used
            for the model when ``model=`` does not give it.
        prices: Price entries that override and extend ``PRICES`` for this call.

    Returns:
        A DataFrame with the columns above (also when there are no requests).

    Raises:
        TypeError: If ``session_id=`` is combined with a mapping of sessions.
        EventValidationError: If an item is neither a dict nor an SDK object.

    Example:
        >>> from nb_agents.analysis import ModelPrice, model_requests_df
        >>> events = [
        ...     {"id": "sevt_1", "type": "span.model_request_start", "processed_at": "2026-11-21T00:00:01.000000Z"},
        ...     {"id": "sevt_2", "type": "span.model_request_end", "model_request_start_id": "sevt_1",
        ...      "is_error": False, "processed_at": "2026-11-21T00:00:03.500000Z",
        ...      "model_usage": {"input_tokens": 1000, "output_tokens": 200,
        ...                      "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}},
        ... ]
        >>> row = model_requests_df(events, model="my-model", prices={"my-model": ModelPrice(1, 10, 1.25, 0.1)}).iloc[0]
        >>> row["latency"].total_seconds(), round(float(row["cost_usd"]), 6)
        (2.5, 0.003)
    """
    groups = col.by_session(events, session_id)
    from_sessions = _models_of(session)
    roles = {_START: 0, _END: 1, _UPDATED: 2}.get
    table: list[list[Any]] = []  # sid, request id, started, finished, is_error, 4 token counts, model
    for sid, evs in groups:
        col.dicts(evs)
        fixed = model.get(sid) if isinstance(model, Mapping) and sid is not None else model
        fixed = fixed if isinstance(fixed, str) else None
        current = from_sessions.get(sid, from_sessions.get(None))
        rows: dict[Any, list[Any]] = {}
        for ev in evs:  # one pass, every field read while the event is in the CPU cache
            role = roles(ev.get("type", ""))
            if role is None:
                continue
            if role == 2:
                current = _model_id((ev.get("agent") or {}).get("model")) or current
                continue
            key = ev.get("id") if role == 0 else ev.get("model_request_start_id")
            row = rows.get(key)
            if row is None:
                own_sid = sid if sid is not None else ev.get("session_id")
                rows[key] = row = [own_sid, key, None, None, None, None, None, None, None, fixed or current]
                table.append(row)
            if role == 0:
                row[2] = row[2] or ev.get("processed_at")
            elif row[3] is None:
                row[3] = ev.get("processed_at")
                row[4] = bool(ev.get("is_error", False))
                usage = ev.get("model_usage")
                if isinstance(usage, dict):
                    row[5:9] = [usage.get(name) for name in _TOKENS]
    return _frame(table, prices)


def _models_of(session: Any) -> dict[str | None, str | None]:
    """``{session id: model id}`` of one Session object or an iterable of them."""
    if session is None:
        return {}
    if isinstance(session, Mapping) or hasattr(session, "to_dict") or hasattr(session, "model_dump"):
        session = [session]
    out: dict[str | None, str | None] = {}
    for item in session:
        wire = col.as_dict(item, "session")
        out[wire.get("id")] = session_model(wire)
    if len(out) == 1:
        out[None] = next(iter(out.values()))
    return out


def _frame(table: list[list[Any]], prices: Mapping[str, ModelPrice] | None) -> pd.DataFrame:
    import numpy as np

    n = len(table)
    sids, ids, started_at, finished_at, is_error, *counts, models = zip(*table, strict=True) if n else ((),) * 10
    usage = np.array(counts, dtype=np.float64).reshape(4, n).T  # None -> NaN
    cache: dict[str | None, ModelPrice | None] = {}
    rates = np.full((n, 4), np.nan)
    for i, name in enumerate(models):
        if name not in cache:
            cache[name] = price_for(name, prices)
        price = cache[name]
        if price is not None:
            rates[i] = (price.input, price.output, price.cache_read, price.cache_write)
    billed = usage.copy()
    billed[:, 2:] = np.nan_to_num(billed[:, 2:])  # an end without cache counts read or wrote none
    cost = np.sum(billed * rates, axis=1) / 1_000_000  # NaN without a price or without usage
    started = timestamps(started_at)
    finished = timestamps(finished_at)
    columns: dict[str, Any] = {
        "session_id": col.strings(n, sids),
        "request_id": col.strings(n, ids),
        "started_at": started,
        "finished_at": finished,
        "latency": finished - started,
        "is_error": col.bools(n, is_error),
    }
    for j, key in enumerate(_TOKENS):
        columns[key] = col.ints(n, usage[:, j])
    columns["model"] = col.strings(n, models)
    columns["cost_usd"] = cost.astype(np.float64)
    return col.frame(columns)
