"""The DataFrames nb_agents returns, shown as interactive tables (itables), offline.

``%load_ext nb_agents`` calls ``register``: it loads itables' JavaScript bundle into the
notebook once (``connected=False``: from the installed package, never from a CDN), and
registers an HTML formatter for DataFrames. A frame that nb_agents made (``events_df``,
``tool_calls_df``, ``model_requests_df``, ``sessions_df``, ``%sessions`` …, marked with
``df.attrs["nb_agents"]``, which pandas keeps through column selection and filtering) shows as
a sortable, searchable table; durations are shown in seconds (``duration (s)``) and long
objects (the raw event, a tool's input) cut to a line. Every other DataFrame keeps pandas' own
HTML. Without a kernel or JavaScript (GitHub, an untrusted notebook) itables' static preview
of the same table shows instead.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["display_frame", "interactive_html", "register"]

_log = logging.getLogger(__name__)
_OBJECT_CHARS = 120


def display_frame(frame: Any) -> Any:
    """A copy of ``frame`` for reading: durations as seconds, objects as one short line."""
    import pandas as pd

    shown = frame.copy()
    renames: dict[str, str] = {}
    for name in shown.columns:
        column = shown[name]
        if pd.api.types.is_timedelta64_dtype(column.dtype):
            shown[name] = (column.dt.total_seconds()).round(3)
            renames[name] = f"{name} (s)"
        elif column.dtype == object:
            shown[name] = [_short(value) for value in column]
        elif isinstance(column.dtype, pd.DatetimeTZDtype):
            shown[name] = column.dt.tz_convert(None).dt.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3]
    return shown.rename(columns=renames)


def _short(value: Any) -> Any:
    if value is None or isinstance(value, (int, float, bool)):
        return value
    text = str(value).replace("\n", " ")
    return text if len(text) <= _OBJECT_CHARS else text[: _OBJECT_CHARS - 1] + "…"


def interactive_html(frame: Any) -> str:
    """``frame`` as an itables table (needs the bundle that ``register`` loaded in the notebook)."""
    from itables import to_html_datatable

    shown = display_frame(frame)
    html: str = to_html_datatable(shown, connected=False, display_logo_when_loading=False, classes="display compact")
    return html


def _load_bundle(init_notebook_mode: Any) -> None:
    """Put itables' JavaScript into the notebook (one output), the bundle before what uses it.

    ``init_notebook_mode(connected=False)`` shows its dark-theme script before the bundle it
    awaits, which fails in JupyterLab ("Cannot destructure property 'set_or_remove_dark_class'");
    the same two pieces in the other order work. Should itables change its internals, its
    own ``init_notebook_mode`` is used.
    """
    from IPython.display import HTML, display

    try:
        from itables import javascript, options

        name = javascript._itables_underscore_version()
        bundle = javascript.generate_init_offline_itables_html(options.dt_bundle)
    except (AttributeError, ImportError, OSError):
        init_notebook_mode(all_interactive=False, connected=False)
        return
    call = "set_or_remove_dark_class"
    dark = f"<script type=module>const {{ {call} }} = await window.{name}; {call}();</script>"
    display(HTML(bundle + dark))


def register(ipython: Any) -> bool:
    """Load itables offline into the notebook and show nb_agents' frames with it.

    Returns:
        False (and nothing changes) if itables is not installed or the shell has no HTML formatter.
    """
    try:
        import pandas as pd
        from itables import init_notebook_mode
    except ImportError:
        return False
    formatter = getattr(getattr(ipython, "display_formatter", None), "formatters", {}).get("text/html")
    if formatter is None:
        return False
    _load_bundle(init_notebook_mode)

    def html(frame: Any) -> str | None:
        if not frame.attrs.get("nb_agents"):
            method = getattr(frame, "_repr_html_", None)
            return method() if method is not None else None
        try:
            return interactive_html(frame)
        except Exception:  # a table that cannot be made interactive still shows
            _log.exception("nb_agents: could not show the frame as an interactive table")
            return str(frame._repr_html_())

    formatter.for_type(pd.DataFrame, html)
    return True
