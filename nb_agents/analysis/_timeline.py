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

__all__ = ["COLORS", "timeline", "timeline_frame"]

COLORS = {
    "model request": "#1976d2",
    "tool call": "#2e7d32",
    "approval wait": "#f0a35e",
    "interrupted": "#ef6c00",
    "denied": "#9e9e9e",
    "error": "#d32f2f",
    "running": "#8fb8e3",
}
"""Bar colours by category: the live view's (its theme's fallback colours), so both read alike."""


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
    """The bars of ``timeline`` as a tidy DataFrame (one row per bar).

    A model request is one bar. A tool call is one bar from when it could run (its approval,
    else its use) to its result; a call that waited for approval has a second bar before it,
    ``approval wait`` (for a denied call, the only bar, ``denied``), so the wait never counts
    as the tool's time.

    Columns: ``session_id``, ``row`` (the lane: ``model`` or the tool's name, prefixed with
    the session id when there are several sessions), ``label`` (``model request`` or the tool
    name), ``category`` (``model request``, ``tool call``, ``approval wait``, ``denied``,
    ``interrupted``, ``error`` or ``running``), ``start``, ``finish`` (UTC; a bar still open
    ends at the session's latest timestamp), ``duration``, ``detail`` (one or two lines of
    plain text: tokens and cost, or the tool's input and outcome).

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
    inputs = [_input_line(value) for value in calls["input"]]
    waited = calls["confirmed_at"].notna() | (calls["outcome"] == "awaiting approval")
    waits = calls[waited]
    wait_bars = pd.DataFrame(
        {
            "session_id": waits["session_id"],
            "lane": waits["name"],
            "label": waits["name"],
            "category": ["denied" if o == "denied" else "approval wait" for o in waits["outcome"]],
            "start": waits["started_at"],
            "finish": waits["confirmed_at"],
            "detail": [f"{inputs[i]}\n{_wait_line(o)}" for i, o in zip(waits.index, waits["outcome"], strict=True)],
        }
    )
    ran = calls[~calls["outcome"].isin(["denied", "awaiting approval"])]
    tool_bars = pd.DataFrame(
        {
            "session_id": ran["session_id"],
            "lane": ran["name"],
            "label": ran["name"],
            "category": [_TOOL_CATEGORY.get(o, "tool call") for o in ran["outcome"]],
            "start": ran["confirmed_at"].fillna(ran["started_at"]),
            "finish": ran["finished_at"],
            "detail": [f"{inputs[i]}\n{o}" for i, o in zip(ran.index, ran["outcome"], strict=True)],
        }
    )
    frames = [frame for frame in (model_bars, wait_bars, tool_bars) if len(frame)]
    bars = pd.concat(frames, ignore_index=True) if frames else model_bars
    bars = bars[bars["start"].notna()]
    latest = pd.concat([bars["start"], bars["finish"]]).groupby(
        pd.concat([bars["session_id"], bars["session_id"]]).fillna(""), sort=False
    )
    last = latest.max()
    running = bars["finish"].isna()
    bars.loc[running, "finish"] = bars.loc[running, "session_id"].fillna("").map(last).to_numpy()
    several = bars["session_id"].nunique(dropna=False) > 1
    lane = bars["lane"].astype("string")
    bars["row"] = (bars["session_id"].fillna("") + " " + lane) if several else lane
    bars["duration"] = bars["finish"] - bars["start"]
    columns = ["session_id", "row", "label", "category", "start", "finish", "duration", "detail"]
    return bars.sort_values("start", kind="stable")[columns].reset_index(drop=True)


_TOOL_CATEGORY = {"ok": "tool call", "error": "error", "interrupted": "interrupted", "running": "running"}


def _input_line(tool_input: Any) -> str:
    """One readable line of a tool's input: the command, the path, or compact JSON (shortened)."""
    import json

    text: str
    if isinstance(tool_input, dict):
        found = [
            v
            for k in ("command", "file_path", "pattern", "path", "url", "query")
            if isinstance(v := tool_input.get(k), str)
        ]
        text = found[0] if found else json.dumps(tool_input, ensure_ascii=False, default=str)
    else:
        text = "" if tool_input is None else str(tool_input)
    line = text.split("\n", 1)[0]
    return line[:117] + "…" if len(line) > 120 or "\n" in text else line


def _request_detail(tokens_in: Any, tokens_out: Any, cache_read: Any, cost: float) -> str:
    import pandas as pd

    if pd.isna(tokens_in):
        return "no usage yet"
    text = f"{int(tokens_in):,} in · {int(tokens_out):,} out · {int(cache_read or 0):,} cache read"
    return text + ("" if pd.isna(cost) else f"\nest. ${cost:.4f}")


def _category(is_error: Any, finished: Any, done: str) -> Any:
    import numpy as np

    errors = is_error.fillna(False).to_numpy(dtype=bool)
    pending = finished.isna().to_numpy()
    return np.where(pending, "running", np.where(errors, "error", done))


def _wait_line(outcome: str) -> str:
    if outcome == "denied":
        return "denied: it never ran"
    return "waiting for approval" if outcome == "awaiting approval" else "waited for approval"


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

    Each session gets a ``model`` lane and one lane per tool; bars are coloured as in the live
    view (``COLORS``: model request, tool call, approval wait, denied, interrupted, error,
    running), the wait for approval drawn apart from the tool's own time. The hover shows
    the duration and the tokens and estimated cost, or the tool's input and outcome. The
    figure's background is transparent and its text mid-grey, so it reads on a light or a
    dark notebook theme. plotly is imported here, not at package import.

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
    bars["took"] = [_seconds(value) for value in bars["duration"]]
    bars["hover"] = bars["detail"].str.replace("\n", "<br>", regex=False)
    lanes = list(dict.fromkeys(bars["row"].tolist()))
    figure = px.timeline(
        bars,
        x_start="start",
        x_end="finish",
        y="row",
        color="category",
        color_discrete_map=COLORS,
        category_orders={"row": lanes, "category": list(COLORS)},
        custom_data=["label", "took", "hover"],
        title=title or "Session timeline",
    )
    figure.update_traces(hovertemplate="<b>%{customdata[0]}</b> · %{customdata[1]}<br>%{customdata[2]}<extra></extra>")
    for trace in figure.data:
        if trace.name in ("approval wait", "running"):
            trace.marker.pattern = {"shape": "/", "fgcolor": "rgba(128,128,128,0.6)", "size": 6}
    grid, grey = "rgba(128,128,128,0.25)", "#888888"
    axes = {"title": None, "gridcolor": grid, "zeroline": False, "linecolor": grey, "tickcolor": grey}
    figure.update_yaxes(**axes)
    figure.update_xaxes(showgrid=True, **axes)
    # Transparent, with mid-grey text: it reads the same on JupyterLab's light and dark themes.
    figure.update_layout(
        template="simple_white",
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"color": "#888888"},
        legend_title_text=None,
        hoverlabel={"align": "left"},
        height=max(220, 120 + 34 * len(lanes)),
        margin={"l": 10, "r": 10, "t": 50, "b": 30},
    )
    return figure


def _seconds(value: Any) -> str:
    seconds = value.total_seconds()
    return (
        f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.1f} min"
    )
