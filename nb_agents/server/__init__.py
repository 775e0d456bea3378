"""The local runtime's HTTP server: the Managed Agents wire protocol over Starlette + uvicorn."""

from __future__ import annotations

from nb_agents.server._app import create_app
from nb_agents.server._serve import load_api_key, serve

__all__ = ["create_app", "load_api_key", "serve"]
