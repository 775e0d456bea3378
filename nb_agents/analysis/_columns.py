"""Input normalisation and fast column builders shared by the DataFrame producers.

Every producer walks plain Python lists once, then turns each column into a pandas extension
array in one vectorised step. Sparse columns (a value on a few event types only) are collected
as ``(row index, value)`` pairs and scattered into a pre-filled array, which is far faster than
converting a million-element list that is mostly ``None``.

pandas and numpy are imported inside the functions: ``import nb_agents`` must not import them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nb_agents.errors import EventValidationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Group",
    "as_dict",
    "bools",
    "by_session",
    "frame",
    "ints",
    "join_text",
    "session_strings",
    "string_dtype",
    "strings",
    "timestamps",
]

Group = tuple[str | None, list[dict[str, Any]]]
"""One session's events: its id (None when unknown) and its events as wire dicts."""


def as_dict(obj: Any, what: str = "event") -> dict[str, Any]:
    """Return ``obj`` as a plain wire dict (SDK pydantic objects are converted once).

    Raises:
        EventValidationError: If ``obj`` is neither a mapping nor an SDK/pydantic model.
    """
    if type(obj) is dict:
        return obj
    if isinstance(obj, Mapping):
        return dict(obj)
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        try:
            result = to_dict(mode="json")
        except TypeError:
            result = to_dict()
        if isinstance(result, dict):
            return result
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        result = dump(mode="json", by_alias=True, exclude_unset=True)
        if isinstance(result, dict):
            return result
    raise EventValidationError(f"expected an {what} (a dict or an SDK object), got {type(obj).__name__}")


def _convert(items: Iterable[Any], what: str) -> list[dict[str, Any]]:
    out = list(items)
    if all(type(e) is dict for e in out):
        return out
    return [as_dict(e, what) for e in out]


def by_session(events: Any, session_id: str | None) -> list[Group]:
    """Split the producers' ``events`` argument into per-session groups.

    ``events`` is one iterable of events, or a mapping ``{session_id: events}``.

    Raises:
        TypeError: If a mapping of sessions is combined with ``session_id=``.
        EventValidationError: If an event is not a dict or an SDK object.
    """
    if isinstance(events, Mapping) and not isinstance(events.get("type"), str):
        if session_id is not None:
            raise TypeError("session_id= is for a single event list; a mapping already names its sessions")
        return [(str(sid), _convert(evs, "event")) for sid, evs in events.items()]
    if isinstance(events, Mapping):
        raise TypeError("expected a list of events (or {session_id: events}), got a single event")
    return [(session_id, _convert(events, "event"))]


def join_text(content: Any) -> str | None:
    """The text blocks of a content list joined with newlines ("" if none; None if no content)."""
    if content is None:
        return None
    if len(content) == 1:
        block = content[0]
        return (block.get("text") or "") if block.get("type") == "text" else ""
    return "\n".join(b.get("text") or "" for b in content if b.get("type") == "text")


def string_dtype() -> Any:
    """``pd.StringDtype("python")``: the NA-variant string dtype, identical on pandas 2 and 3."""
    import pandas as pd

    return pd.StringDtype("python")


def strings(n: int, values: Sequence[Any], index: Sequence[int] | None = None) -> Any:
    """A ``string`` array of length ``n`` (missing values are ``pd.NA``).

    Args:
        n: Length of the column.
        values: Every value (when ``index`` is None), or the values at the rows in ``index``.
        index: Row positions of ``values`` for a sparse column; other rows are NA.
    """
    import numpy as np
    import pandas as pd

    dtype = string_dtype()
    if index is None:
        return pd.array(list(values), dtype=dtype)
    out = np.full(n, pd.NA, dtype=object)
    if len(index):
        out[np.asarray(index, dtype=np.intp)] = np.asarray(pd.array(list(values), dtype=dtype), dtype=object)
    return pd.arrays.StringArray(out)


def session_strings(groups: Sequence[Group], counts: Sequence[int], carried: list[Any] | None) -> Any:
    """The ``session_id`` column: each group's id repeated, or the ids the events carry."""
    import numpy as np
    import pandas as pd

    if carried is not None:
        return strings(len(carried), carried)
    keys = np.array([pd.NA if sid is None else sid for sid, _ in groups], dtype=object)
    return pd.arrays.StringArray(np.repeat(keys, np.asarray(counts, dtype=np.intp)))


def ints(n: int, values: Sequence[Any], index: Sequence[int] | None = None) -> Any:
    """An ``Int64`` array of length ``n``; ``None`` values and rows not in ``index`` are NA."""
    import numpy as np
    import pandas as pd

    data = np.zeros(n, dtype=np.int64)
    mask = np.ones(n, dtype=bool)
    if len(values):
        floats = np.array(values, dtype=np.float64)  # None -> NaN; token counts are far below 2**53
        ok = ~np.isnan(floats)
        rows = np.arange(n) if index is None else np.asarray(index, dtype=np.intp)
        data[rows[ok]] = floats[ok].astype(np.int64)
        mask[rows[ok]] = False
    return pd.arrays.IntegerArray(data, mask)


def bools(n: int, values: Sequence[Any], index: Sequence[int] | None = None) -> Any:
    """A ``boolean`` array of length ``n``; ``None`` values and rows not in ``index`` are NA."""
    import numpy as np
    import pandas as pd

    data = np.zeros(n, dtype=bool)
    mask = np.ones(n, dtype=bool)
    if len(values):
        known = np.array([v is not None for v in values], dtype=bool)
        rows = np.arange(n) if index is None else np.asarray(index, dtype=np.intp)
        data[rows[known]] = np.array([bool(v) for v in values], dtype=bool)[known]
        mask[rows[known]] = False
    return pd.arrays.BooleanArray(data, mask)


def timestamps(values: Sequence[Any]) -> Any:
    """RFC 3339 strings (or None) as a ``datetime64[us, UTC]`` array (NaT for None)."""
    import pandas as pd

    parsed = pd.to_datetime(list(values), format="ISO8601", utc=True)
    return parsed.as_unit("us").array


def frame(columns: Mapping[str, Any]) -> pd.DataFrame:
    """A DataFrame with the given ``{name: array}`` columns (kept in order)."""
    import pandas as pd

    return pd.DataFrame(dict(columns), copy=False)
