"""nb_agents: build, run and evaluate Claude managed agents from a Jupyter notebook.

```python
%load_ext nb_agents            # magics: %%agent, %%environment, %%session, %%eval, %agents, %sessions, %attach
import nb_agents as nba        # the same from Python: nba.Agent.define(...), nba.Session.start(...)
nba.server_status()            # the background local server: nba.stop_server(), nba.restart_server()
nba.load("run.jsonl")          # a session exported with session.export("run.jsonl"): no server needed
nba.evaluate(agent, tasks_df)  # an evaluation: one results row per task × epoch (nb_agents.evals)
```
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version
from typing import TYPE_CHECKING, Any

from nb_agents._load import SavedSession, load
from nb_agents.client import Agent, Environment, Session, attach, restart_server, server_status, stop_server
from nb_agents.errors import NbAgentsError
from nb_agents.evals import compare, evaluate

if TYPE_CHECKING:
    import pandas as pd

try:
    __version__ = _version("nb_agents")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "Agent",
    "Environment",
    "NbAgentsError",
    "SavedSession",
    "Session",
    "__version__",
    "attach",
    "compare",
    "evaluate",
    "load",
    "load_ipython_extension",
    "restart_server",
    "server_status",
    "sessions_df",
    "stop_server",
]


def sessions_df(*, backend: str | None = None) -> pd.DataFrame:
    """Every session of a backend, newest first, one row each (see ``nb_agents.analysis``)."""
    from nb_agents.analysis import sessions_df as frame
    from nb_agents.client import client_for

    return frame([s.to_dict(mode="json") for s in client_for(backend).beta.sessions.list()])


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nb_agents``: register the magics."""
    from nb_agents.notebook import load_ipython_extension as load

    load(ipython)
