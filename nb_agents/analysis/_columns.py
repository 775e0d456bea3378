"""Input normalisation and fast column builders shared by the DataFrame producers.

Every producer reads the fields it needs from each event once, into plain Python lists or
object ndarrays, then turns each column into a pandas extension array in one vectorised step.
Sparse columns (a value on a few event types only) are built from their few values and spread
out with ``take`` (fill: NA), which is far faster than converting a long list of ``None``.
The cost of a million events is set by memory traffic, not by Python: read each event while it
is in the CPU cache, and touch it as few times as possible.

pandas and numpy are imported inside the functions: ``import nb_agents`` must not import them.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import chain, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from nb_agents.errors import EventValidationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Group",
    "as_dict",
    "bools",
    "by_session",
    "dicts",
    "frame",
    "ints",
    "join_text",
    "objects",
    "paused_gc",
    "session_strings",
    "string_dtype",
    "strings",
    "table",
    "texts",
    "tokens",
    "without_gc",
]

P = ParamSpec("P")
R = TypeVar("R")

Group = tuple[str | None, list[dict[str, Any]]]
"""One session's events: its id (None when unknown) and its events as wire dicts."""


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a frame is built.

    Building columns allocates hundreds of thousands of tuples and lists; each allocation
    burst makes the collector walk every live object, which is millions of them when a
    million events are loaded (3x slower without this). Nothing built here forms reference
    cycles, so pausing loses nothing; the previous state is restored afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def without_gc(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run ``fn`` inside ``paused_gc()``."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with paused_gc():
            return fn(*args, **kwargs)

    return wrapper


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


def by_session(events: Any, session_id: str | None) -> list[Group]:
    """Split the producers' ``events`` argument into per-session groups.

    ``events`` is one iterable of events, or a mapping ``{session_id: events}``. Each group
    is a new list; SDK objects in it are converted later, by ``dicts`` or ``table``.

    Raises:
        TypeError: If a mapping of sessions is combined with ``session_id=``, or if ``events``
            is a single event.
    """
    if isinstance(events, Mapping) and isinstance(events.get("type"), str):
        raise TypeError("expected a list of events (or {session_id: events}), got a single event")
    if isinstance(events, Mapping):
        if session_id is not None:
            raise TypeError("session_id= is for a single event list; a mapping already names its sessions")
        return [(str(sid), list(evs)) for sid, evs in events.items()]
    return [(session_id, list(events))]


def dicts(events: list[Any]) -> None:
    """Convert the SDK objects in ``events`` (the producers' own copy) to wire dicts, in place.

    Raises:
        EventValidationError: If an item is neither a dict nor an SDK object.
    """
    if not set(map(type, events)) <= {dict}:
        events[:] = [as_dict(e) for e in events]


def table(events: list[Any], keys: Sequence[str]) -> Any:
    """``event.get(key)`` for every event and key, as an object ndarray of shape (n, len(keys)).

    SDK objects in ``events`` are converted to wire dicts in place first (``events`` is the
    producers' own copy).

    Raises:
        EventValidationError: If an item is neither a dict nor an SDK object.
    """
    import numpy as np

    n, k = len(events), len(keys)
    try:  # fast path: one C-level pass, valid while every event is a dict with every key
        flat = chain.from_iterable(map(itemgetter(*keys), events)) if k > 1 else map(itemgetter(keys[0]), events)
        return np.fromiter(flat, dtype=object, count=n * k).reshape(n, k)
    except (KeyError, TypeError):
        pass
    dicts(events)
    out = np.empty((n, k), dtype=object)
    for j, key in enumerate(keys):
        out[:, j] = np.fromiter(map(dict.get, events, repeat(key)), dtype=object, count=n)
    return out


def join_text(content: Any) -> str | None:
    """The text blocks of a content list joined with newlines ("" if none; None if no content)."""
    if content is None:
        return None
    if len(content) == 1:
        block = content[0]
        return (block.get("text") or "") if block.get("type") == "text" else ""
    return "\n".join(b.get("text") or "" for b in content if b.get("type") == "text")


def texts(contents: list[Any]) -> list[str | None]:
    """``join_text`` of each content list, inlining the common case of one text block."""
    join = join_text
    return [c[0].get("text") or "" if c and len(c) == 1 and c[0].get("type") == "text" else join(c) for c in contents]


def string_dtype() -> Any:
    """``pd.StringDtype("python")``: the NA-variant string dtype, identical on pandas 2 and 3."""
    import pandas as pd

    return pd.StringDtype("python")


def objects(values: list[Any]) -> Any:
    """An ``object`` ndarray holding the items of ``values`` (dicts stay dicts)."""
    import numpy as np

    return np.fromiter(values, dtype=object, count=len(values))


def tokens(usages: list[Any], keys: Sequence[str]) -> Any:
    """Token counts of usage dicts as a float array of shape (n, len(keys)), NaN where missing."""
    import numpy as np

    n, k = len(usages), len(keys)
    try:  # fast path: every usage is a dict with every key
        flat = chain.from_iterable(map(itemgetter(*keys), usages))
        return np.fromiter(flat, dtype=np.float64, count=n * k).reshape(n, k)
    except (KeyError, TypeError, ValueError):
        rows = [[u.get(key) for key in keys] if isinstance(u, dict) else [None] * k for u in usages]
        return np.array(rows, dtype=np.float64).reshape(n, k)


def strings(n: int, values: Any, rows: Any = None) -> Any:
    """A ``string`` array of length ``n`` (None and missing rows are ``pd.NA``).

    Args:
        n: Length of the column.
        values: Every value (when ``rows`` is None), or the values at the positions in ``rows``.
            Values that are not strings are converted with ``str``.
        rows: Row positions of ``values`` for a sparse column (other rows are NA).
    """
    import numpy as np
    import pandas as pd

    if isinstance(values, np.ndarray) and values.dtype == object:
        array = np.array(values, dtype=object)  # our own contiguous copy: StringArray edits it in place
    else:
        array = np.fromiter(values, dtype=object, count=len(values))
    try:  # validates (and turns None into NA) without converting every item: much faster
        small = pd.arrays.StringArray(array)
    except ValueError:
        small = pd.array(list(values), dtype=string_dtype())
    if rows is None:
        return small
    return small.take(_scatter(n, rows), allow_fill=True)


def _scatter(n: int, rows: Any) -> Any:
    """An indexer of length ``n``: position ``k`` of the sparse values at ``rows[k]``, else -1."""
    import numpy as np

    indexer = np.full(n, -1, dtype=np.intp)
    indexer[np.asarray(rows, dtype=np.intp)] = np.arange(len(rows), dtype=np.intp)
    return indexer


def session_strings(groups: Sequence[Group], counts: Sequence[int], carried: list[Any] | None) -> Any:
    """The ``session_id`` column: each group's id repeated, or the ids the events carry."""
    import numpy as np

    if carried is not None:
        return strings(len(carried), carried)
    keys = strings(len(groups), [sid for sid, _ in groups])
    return keys.take(np.repeat(np.arange(len(groups), dtype=np.intp), np.asarray(counts, dtype=np.intp)))


def ints(n: int, values: Any, rows: Any = None) -> Any:
    """An ``Int64`` array of length ``n``; ``None`` values and rows not in ``rows`` are NA."""
    import numpy as np
    import pandas as pd

    data = np.zeros(n, dtype=np.int64)
    mask = np.ones(n, dtype=bool)
    if len(values):
        floats = np.array(values, dtype=np.float64)  # None -> NaN; token counts are far below 2**53
        ok = ~np.isnan(floats)
        rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.intp)
        data[rows[ok]] = floats[ok].astype(np.int64)
        mask[rows[ok]] = False
    return pd.arrays.IntegerArray(data, mask)


def bools(n: int, values: Any, rows: Any = None) -> Any:
    """A ``boolean`` array of length ``n``; ``None`` values and rows not in ``rows`` are NA."""
    import numpy as np
    import pandas as pd

    data = np.zeros(n, dtype=bool)
    mask = np.ones(n, dtype=bool)
    if len(values):
        positions = np.arange(n) if rows is None else np.asarray(rows, dtype=np.intp)
        items = np.fromiter(values, dtype=object, count=len(values))
        known = ~pd.isna(items)
        data[positions[known]] = items[known].astype(bool)
        mask[positions[known]] = False
    return pd.arrays.BooleanArray(data, mask)


def frame(columns: Mapping[str, Any]) -> pd.DataFrame:
    """A DataFrame with the given ``{name: array}`` columns (kept in order).

    It is marked ``attrs["nb_agents"] = True`` (pandas keeps it through selection and
    filtering): with ``%load_ext nb_agents``, a notebook shows such frames as interactive tables.
    """
    import pandas as pd

    made = pd.DataFrame(dict(columns), copy=False)
    made.attrs["nb_agents"] = True
    return made
