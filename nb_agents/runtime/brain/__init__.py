"""The brain: how the harness asks a model for the next assistant message.

``brain_for(model)`` gives a ``MessagesBrain`` (Claude through the ``anthropic`` SDK's streaming
Messages API, with retries reported through ``on_error``) or, for ``replay:<path>``, a
``ReplayBrain`` that answers from a recorded file (``docs/replay-format.md``). ``RecordingBrain``
records a live session into such a file.
"""

from __future__ import annotations

from nb_agents.runtime.brain._factory import REPLAY_PREFIX, brain_for, is_replay_model
from nb_agents.runtime.brain._messages import DEFAULT_IDLE_TIMEOUT, MessagesBrain
from nb_agents.runtime.brain._recording import RecordingBrain, append_response
from nb_agents.runtime.brain._replay import UNRECORDED_MODEL, ReplayBrain, ReplayEntry, load_replay
from nb_agents.runtime.brain._retry import RetryPolicy
from nb_agents.runtime.brain._types import (
    Brain,
    ErrorCallback,
    ModelCallError,
    ModelError,
    ModelErrorType,
    ModelRequest,
    TextCallback,
    assistant_turns,
)

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "REPLAY_PREFIX",
    "Brain",
    "ErrorCallback",
    "MessagesBrain",
    "ModelCallError",
    "ModelError",
    "ModelErrorType",
    "ModelRequest",
    "RecordingBrain",
    "ReplayBrain",
    "ReplayEntry",
    "RetryPolicy",
    "TextCallback",
    "UNRECORDED_MODEL",
    "append_response",
    "assistant_turns",
    "brain_for",
    "is_replay_model",
    "load_replay",
]
