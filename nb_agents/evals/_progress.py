"""``EvalProgress``: the live progress board of an evaluation (an anywidget).

``evaluate`` calls ``refresh`` from the kernel's thread while the cell runs (at most twice a
second), so the board updates while the cell is busy. A click on a session id arrives only
when the kernel is free again (after the cell), and shows that session's live view below the
board.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import ipywidgets
import traitlets
from IPython.display import display

from nb_agents.client import attach
from nb_agents.evals._tally import Tally

__all__ = ["EvalProgress"]

_STATIC = Path(__file__).parent / "static"


class EvalProgress(anywidget.AnyWidget):
    """Done / running / failed, pass rate so far, spend vs budget, and a row per task × epoch.

    Attributes:
        panel: The board with the area where clicked sessions open (display this).
    """

    _esm = _STATIC / "eval_progress.js"
    _css = _STATIC / "eval_progress.css"

    summary = traitlets.Dict().tag(sync=True)

    def __init__(self, tally: Tally, *, backend: str | None = None) -> None:
        super().__init__()
        self._tally = tally
        self._backend = backend
        self.output = ipywidgets.Output()
        self.panel = ipywidgets.VBox([self, self.output])
        self.on_msg(self._on_msg)
        self.refresh()

    def refresh(self) -> None:
        """Send the tally's current state to the browser."""
        self.summary = self._tally.snapshot()

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "open" and isinstance(content.get("session_id"), str):
            view = attach(content["session_id"], backend=self._backend).view()
            with self.output:
                display(view)  # type: ignore[no-untyped-call]

    def __repr__(self) -> str:
        s = self._tally.snapshot()
        return (
            f"EvalProgress({s['name']}: {s['done']} done, {s['running']} running, {s['failed']} failed of {s['total']})"
        )
