"""Where nb_agents keeps its state: ``NB_AGENTS_HOME``, else ``~/.nb_agents``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SERVER_FILE", "state_dir"]

#: Written by a running local server into its state directory: url, port and pid.
SERVER_FILE = "server.json"


def state_dir() -> Path:
    """The state directory (not created)."""
    home = os.environ.get("NB_AGENTS_HOME")
    return Path(home).expanduser() if home else Path.home() / ".nb_agents"
