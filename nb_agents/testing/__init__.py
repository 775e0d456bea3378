"""Test doubles for nb_agents: a Messages-compatible fake model server and response builders.

Nothing here talks to Claude; the server listens on ``127.0.0.1`` only.
"""

from __future__ import annotations

from nb_agents.testing.model_server import (
    FakeModelServer,
    ReceivedRequest,
    Script,
    Step,
    message_events,
    message_response,
    text_response,
    tool_use_response,
)

__all__ = [
    "FakeModelServer",
    "ReceivedRequest",
    "Script",
    "Step",
    "message_events",
    "message_response",
    "text_response",
    "tool_use_response",
]
