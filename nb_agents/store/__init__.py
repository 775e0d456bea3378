"""The local runtime's state: an append-only SQLite event log, plus agents, environments, sessions."""

from __future__ import annotations

from nb_agents.store._events import StoredEvent
from nb_agents.store._private import private_dir, private_file
from nb_agents.store._schema import SCHEMA_VERSION
from nb_agents.store._sqlite import Store

__all__ = ["SCHEMA_VERSION", "Store", "StoredEvent", "private_dir", "private_file"]
