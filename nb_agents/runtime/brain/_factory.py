"""``brain_for``: the brain a model id asks for."""

from __future__ import annotations

import os
from typing import Any

from nb_agents.runtime.brain._messages import MessagesBrain
from nb_agents.runtime.brain._recording import RecordingBrain
from nb_agents.runtime.brain._replay import ReplayBrain
from nb_agents.runtime.brain._retry import RetryPolicy
from nb_agents.runtime.brain._types import Brain

__all__ = ["REPLAY_PREFIX", "brain_for", "is_replay_model"]

REPLAY_PREFIX = "replay:"


def is_replay_model(model: str) -> bool:
    """Whether ``model`` names a replay file (``replay:<path>``) rather than a Claude model."""
    return model.startswith(REPLAY_PREFIX)


def brain_for(
    model: str,
    *,
    record_to: str | os.PathLike[str] | None = None,
    retry: RetryPolicy | None = None,
    messages: MessagesBrain | None = None,
    **client_kwargs: Any,
) -> Brain:
    """The brain for a model id.

    Args:
        model: ``replay:<path>`` for a ``ReplayBrain`` on that file; anything else is a Claude
            model id, asked through a ``MessagesBrain`` (the id itself travels in each request).
        record_to: If set, wrap the brain in a ``RecordingBrain`` appending to this file.
        retry: Retry policy for a ``MessagesBrain``.
        messages: A ``MessagesBrain`` to use for Claude models instead of making one (a runtime
            shares one client, with its connection pool, between sessions).
        **client_kwargs: For ``anthropic.AsyncAnthropic`` (``api_key``, ``base_url`` ...); by
            default the SDK reads ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL``. Ignored for replay.

    Returns:
        A brain; it also has an ``aclose()`` coroutine method. Making it does no I/O and does
        not fail: a missing or malformed replay file is reported by its ``complete``.
    """
    brain: Brain
    if is_replay_model(model):
        brain = ReplayBrain(model[len(REPLAY_PREFIX) :].strip())
    elif messages is not None:
        brain = messages
    else:
        brain = MessagesBrain(retry=retry, **client_kwargs)
    if record_to is not None:
        brain = RecordingBrain(brain, record_to)
    return brain
