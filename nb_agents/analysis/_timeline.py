"""``timeline``: a Gantt-like plotly figure of model requests and tool calls."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nb_agents._prices import ModelPrice
from nb_agents.analysis._requests import model_requests_df
from nb_agents.analysis._tools import tool_calls_df
from nb_agents.errors import PrerequisiteError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["timeline", "timeline_frame"]

_COLORS = {"model request": "#7f7fff", "tool call": "#2ca02c", "error": "#d62728", "running": "#ff7f0e"}


def _plotly_express() -> Any:
    try:
        return importlib.import_module("plotly.express")
    except ImportError as exc:
        raise PrerequisiteError("timeline() needs plotly, which is not installed: pip install plotly") from exc


def timeline_frame(
    events: Any,
    *,
    session_id: str | None = None,
    model: str | Mapping[str, str] | None = None,
    session: Any = None,
    prices: Mapping[str, ModelPrice] | None = None,
) -> pd.DataFrame:
    """The bars of ``timeline`` as a tidy DataFrame (one row per model request or tool call).

    Columns: ``session_id``, ``row`` (the y-axis label: ``model`` or ``tools``, prefixed with
    the session id when there are several sessions), ``label`` (``model request`` or the tool
    name), ``category`` (``model request``, ``tool call``, ``error`` or ``running``),
    ``start``, ``finish`` (UTC; a running item ends at the session's latest timestamp),
    ``duration``, ``detail`` (tokens and cost, or the tool input).

    Args:
        events: As for ``events_df``: a list of events or ``{session_id: events}``.
        session_id: The session the events belong to (a single list only).
        model: Passed to ``model_requests_df``.
        session: Passed to ``model_requests_df``.
        prices: Passed to ``model_requests_df``.

    Returns:
        The bars, ordered by start time.
    """
    import pandas as pd

    if not isinstance(events, Mapping):
        events = list(events)
    requests = model_requests_df(events, session_id=session_id, model=model, session=session, prices=prices)
    calls = tool_calls_df(events, session_id=session_id)
    model_bars = pd.DataFrame(
        {
            "session_id": requests["session_id"],
            "lane": "model",
            "label": "model request",
            "category": _category(requests["is_error"], requests["finished_at"], "model request"),
            "start": requests["started_at"],
            "finish": requests["finished_at"],
            "detail": [
                _request_detail(*values)
                for values in zip(
                    requests["input_tokens"],
                    requests["output_tokens"],
                    requests["cache_read_input_tokens"],
                    requests["cost_usd"],
                    strict=True,
                )
            ],
        }
    )
    tool_bars = pd.DataFrame(
        {
            "session_id": calls["session_id"],
            "lane": "tools",
            "label": calls["name"],
            "category": _category(calls["is_error"], calls["finished_at"], "tool call"),
            "start": calls["started_at"],
            "finish": calls["finished_at"],
            "detail": [str(value)[:200] for value in calls["input"]],
        }
    )
    bars = pd.concat([model_bars, tool_bars], ignore_index=True)
    bars = bars[bars["start"].notna()]
    latest = pd.concat([bars["start"], bars["finish"]]).groupby(
        pd.concat([bars["session_id"], bars["session_id"]]).fillna(""), sort=False
    )
    last = latest.max()
    running = bars["finish"].isna()
    bars.loc[running, "finish"] = bars.loc[running, "session_id"].fillna("").map(last).to_numpy()
    several = bars["session_id"].nunique(dropna=False) > 1
    bars["row"] = (bars["session_id"].fillna("") + " " + bars["lane"]) if several else bars["lane"]
    bars["duration"] = bars["finish"] - bars["start"]
    columns = ["session_id", "row", "label", "category", "start", "finish", "duration", "detail"]
    return bars.sort_values("start", kind="stable")[columns].reset_index(drop=True)


def _request_detail(tokens_in: Any, tokens_out: Any, cache_read: Any, cost: float) -> str:
    import pandas as pd

    if pd.isna(tokens_in):
        return "no usage yet"
    text = f"in {tokens_in} · out {tokens_out} · cache read {cache_read}"
    return text + ("" if pd.isna(cost) else f" · est. ${cost:.4f}")


def _category(is_error: Any, finished: Any, done: str) -> Any:
    import numpy as np

    errors = is_error.fillna(False).to_numpy(dtype=bool)
    pending = finished.isna().to_numpy()
    return np.where(pending, "running", np.where(errors, "error", done))


def timeline(
    events: Any,
    *,
    session_id: str | None = None,
    model: str | Mapping[str, str] | None = None,
    session: Any = None,
    prices: Mapping[str, ModelPrice] | None = None,
    title: str | None = None,
) -> Any:
    """A Gantt-like plotly figure of model requests and tool calls, per session.

    Each session gets a ``model`` row and a ``tools`` row; bars are coloured by category
    (model request, tool call, error, running) and their hover shows the tokens and
    estimated cost, or the tool input. plotly is imported here, not at package import.

    Args:
        events: As for ``events_df``: a list of events or ``{session_id: events}``.
        session_id: The session the events belong to (a single list only).
        model: Passed to ``model_requests_df`` (for the cost in the hover text).
        session: Passed to ``model_requests_df``.
        prices: Passed to ``model_requests_df``.
        title: The figure title (default: ``Session timeline``).

    Returns:
        A ``plotly.graph_objects.Figure``.

    Raises:
        PrerequisiteError: If plotly is not installed (``pip install plotly``).

    Example:
        >>> from nb_agents.analysis import timeline
        >>> fig = timeline(session_events, session_id="sesn_1")  # doctest: +SKIP
        >>> fig.show()  # doctest: +SKIP
    """
    px = _plotly_express()
    bars = timeline_frame(events, session_id=session_id, model=model, session=session, prices=prices)
    bars["seconds"] = bars["duration"].dt.total_seconds().round(3)
    figure = px.timeline(
        bars,
        x_start="start",
        x_end="finish",
        y="row",
        color="category",
        color_discrete_map=_COLORS,
        hover_name="label",
        hover_data={"seconds": True, "detail": True, "row": False, "category": False},
        title=title or "Session timeline",
    )
    figure.update_yaxes(autorange="reversed", title=None)
    figure.update_layout(legend_title_text=None)
    return figure
