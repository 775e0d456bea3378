"""The front's one way to a runtime: the official ``anthropic`` SDK, local or hosted.

```python
import nb_agents as nba

agent = nba.Agent.define('''
name: analyst
model: claude-sonnet-4-6
tools: [bash, read]
''')
session = nba.Session.start(agent, "Summarise data.csv")
session.wait()
session.tool_calls_df()
```
"""

from __future__ import annotations

from nb_agents.client._backends import BACKENDS, client_for, default_backend, reset_clients
from nb_agents.client._local import (
    LocalRuntime,
    ServerStatus,
    local_client,
    local_runtime,
    restart_server,
    server_status,
    stop_server,
)
from nb_agents.client._resources import Agent, Environment
from nb_agents.client._session import Session, attach

__all__ = [
    "BACKENDS",
    "Agent",
    "Environment",
    "LocalRuntime",
    "ServerStatus",
    "Session",
    "attach",
    "client_for",
    "default_backend",
    "local_client",
    "local_runtime",
    "reset_clients",
    "restart_server",
    "server_status",
    "stop_server",
]
