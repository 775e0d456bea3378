"""nb_agents: build, run and evaluate Claude managed agents from a Jupyter notebook."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

from nb_agents.errors import NbAgentsError

try:
    __version__ = _version("nb_agents")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["NbAgentsError", "__version__"]
