"""``Store``: the SQLite state file of the local runtime."""

from __future__ import annotations

from nb_agents.store._events import EventsMixin
from nb_agents.store._objects import AgentsMixin, EnvironmentsMixin
from nb_agents.store._sessions import SessionsMixin

__all__ = ["Store"]


class Store(AgentsMixin, EnvironmentsMixin, SessionsMixin, EventsMixin):
    """The append-only event log, plus agents, environments and sessions, in one SQLite file.

    Bodies are the full wire JSON objects. The file is in WAL mode with
    ``synchronous=FULL``, so a write is durable when its method returns, and other processes
    can read while this one writes. One connection, guarded by a lock, serves every thread.

    ```python
    with Store(state_dir / "nb_agents.sqlite3") as store:
        [stored] = store.append("sesn_...", [make_event("session.status_running")])
        store.read("sesn_...", after_seq=stored.seq - 1)
    ```

    Args:
        path: The SQLite file; missing parent directories are created.

    Raises:
        StoreError: The file cannot be opened or is not an SQLite database.
        SchemaVersionError: The file was written by a newer nb_agents.
    """
