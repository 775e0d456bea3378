"""pandas analysis of Managed Agents sessions: tidy DataFrames and a timeline figure.

Every producer takes the events exactly as the API returns them (wire dicts, or the SDK's
event objects), one session's list or a mapping ``{session_id: events}`` for many sessions
at once, and returns one tidy DataFrame whose columns and dtypes do not depend on the input
(an empty input gives an empty frame with the same columns):

```python
from nb_agents.analysis import events_df, model_requests_df, sessions_df, timeline, tool_calls_df

events = list(client.beta.sessions.events.list(session_id, limit=1000))  # SDK objects or wire dicts
events_df(events, session_id=session_id)          # one row per event
tool_calls_df(events, session_id=session_id)      # one row per tool call: use + confirmation + result
model_requests_df(events, session_id=session_id, model="claude-sonnet-4-6")  # latency, tokens, cost
sessions_df(client.beta.sessions.list())          # one row per session
timeline(events, session_id=session_id)           # a plotly figure (needs plotly)
events_df({sid: events_of[sid] for sid in ids})   # many sessions: one frame, a session_id column
```

Dtypes, the same on pandas 2 and 3:

- timestamps: ``datetime64[us, UTC]`` (the wire carries microseconds); durations: ``timedelta64[us]``.
- strings: ``pd.StringDtype("python")``, which compares equal to ``"string"``; missing values are
  ``pd.NA``. This is the NA-variant string dtype, chosen over pandas 3's default ``str`` (whose
  missing value is NaN) so strings, ``Int64`` and ``boolean`` columns all use ``pd.NA``, and
  so the dtype does not depend on the pandas version or on whether pyarrow is installed.
- counts: ``Int64``; flags: ``boolean``; ``seq``: ``int64``; costs and seconds: ``float64``
  (NaN when unknown); ``raw``, ``input``: ``object`` (dicts).

Concatenating frames of several sessions (``pd.concat``) keeps the dtypes; every frame has a
``session_id`` column. Costs are estimates from ``PRICES`` (list prices as of
``PRICES_AS_OF``, overridable with ``prices=``); ``price_for`` and ``estimate_cost`` give the
same figures for one model or one usage record. ``timeline_frame`` is the timeline's data.

pandas, numpy and plotly are imported inside the functions, so ``import nb_agents`` stays light.
"""

from __future__ import annotations

from nb_agents._prices import PRICES, PRICES_AS_OF, ModelPrice, estimate_cost, price_for
from nb_agents.analysis._events import events_df
from nb_agents.analysis._requests import model_requests_df
from nb_agents.analysis._sessions import sessions_df
from nb_agents.analysis._timeline import COLORS, timeline, timeline_frame
from nb_agents.analysis._tools import tool_calls_df

__all__ = [
    "COLORS",
    "ModelPrice",
    "PRICES",
    "PRICES_AS_OF",
    "estimate_cost",
    "events_df",
    "model_requests_df",
    "price_for",
    "sessions_df",
    "timeline",
    "timeline_frame",
    "tool_calls_df",
]
