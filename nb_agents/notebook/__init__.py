"""The notebook front door: the magics and the live session view.

``%load_ext nb_agents`` registers the magics; ``SessionView`` is the live widget that
``%%session`` and ``Session.view()`` display.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nb_agents.notebook._view import SessionView

__all__ = ["SessionView", "load_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Register nb_agents' magics in an IPython shell; in a notebook, its frames as interactive tables."""
    from nb_agents.notebook._magics import NbAgentsMagics

    ipython.register_magics(NbAgentsMagics)
    if getattr(ipython, "kernel", None) is not None:  # a notebook front end, not a terminal
        from nb_agents.notebook._tables import register

        register(ipython)


def __getattr__(name: str) -> Any:
    if name == "SessionView":
        from nb_agents.notebook._view import SessionView

        return SessionView
    raise AttributeError(name)
