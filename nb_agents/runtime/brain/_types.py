"""What the harness hands a brain, what it gets back, and how failures are reported."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from nb_agents.errors import BrainError

__all__ = [
    "Brain",
    "ErrorCallback",
    "ModelCallError",
    "ModelError",
    "ModelErrorType",
    "ModelRequest",
    "TextCallback",
    "assistant_turns",
]

ModelErrorType = Literal["model_overloaded_error", "model_rate_limited_error", "model_request_failed_error"]
"""The Managed Agents ``session.error`` types a model failure maps to."""


@dataclass(frozen=True)
class ModelRequest:
    """One model request: the Messages API parameters of a single turn of the agent loop."""

    model: str
    """Model id (``claude-sonnet-4-6``) or ``replay:<path>``."""
    system: str | None
    """System prompt, if any."""
    messages: list[dict[str, Any]]
    """The conversation so far, in Messages API params form (text, tool_use, tool_result blocks)."""
    tools: list[dict[str, Any]]
    """Tool definitions (``name``, ``description``, ``input_schema``)."""
    max_tokens: int = 8192
    """Output token limit."""
    thinking: dict[str, Any] | None = None
    """Extended thinking config (``{"type": "enabled", "budget_tokens": N}``), if any."""
    extra: dict[str, Any] = field(default_factory=dict)
    """More top-level Messages API parameters (``tool_choice``, ``temperature``, ``metadata`` ...)."""

    def params(self) -> dict[str, Any]:
        """The keyword arguments for ``client.messages.create``/``stream``.

        Returns:
            ``model``, ``max_tokens`` and ``messages``, plus ``system``, ``tools`` and ``thinking``
            when set, plus ``extra``.
        """
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": self.messages,
        }
        if self.system is not None:
            params["system"] = self.system
        if self.tools:
            params["tools"] = self.tools
        if self.thinking is not None:
            params["thinking"] = self.thinking
        params.update(self.extra)
        return params


@dataclass(frozen=True)
class ModelError:
    """One failed model attempt, as the brain reports it through ``on_error``."""

    error_type: ModelErrorType
    """``model_overloaded_error`` (529), ``model_rate_limited_error`` (429), else
    ``model_request_failed_error``."""
    message: str
    """What went wrong, for people."""
    attempt: int
    """1-based number of the attempt that failed."""
    will_retry: bool
    """True if the brain will try again (after a backoff); False on the final failure."""


TextCallback = Callable[[int, str], None]
"""``on_text(index, fragment)``: a text delta of content block ``index``, for live previews."""

ErrorCallback = Callable[[ModelError], None]
"""``on_error(error)``: one failed attempt, reported before a retry and once on the final failure."""


class ModelCallError(BrainError):
    """The model could not be asked: retries ran out, or the error is not one to retry.

    Attributes:
        error_type: The ``session.error`` type to report.
        status_code: The HTTP status, if the API answered (200 for an error inside a stream).
        attempts: How many attempts were made.
        retryable: Whether the last error was of a retryable kind (retries ran out).
    """

    def __init__(
        self,
        message: str,
        *,
        error_type: ModelErrorType,
        status_code: int | None = None,
        attempts: int = 1,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_type: ModelErrorType = error_type
        self.status_code = status_code
        self.attempts = attempts
        self.retryable = retryable


class Brain(Protocol):
    """Anything that answers a ``ModelRequest`` with an assistant Message."""

    async def complete(
        self,
        request: ModelRequest,
        *,
        on_text: TextCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> dict[str, Any]:
        """Ask the model for the next assistant message.

        Args:
            request: The turn's parameters.
            on_text: Called with ``(content block index, text fragment)`` as text streams in.
                After an ``on_error(will_retry=True)`` the next attempt streams from the start again.
            on_error: Called for each failed attempt before its retry (``will_retry=True``), and
                once for the final failure (``will_retry=False``) just before the error is raised.

        Returns:
            The final Message as Messages API JSON: ``id``, ``type``, ``role``, ``content``,
            ``model``, ``stop_reason``, ``stop_sequence`` and ``usage`` (``input_tokens``,
            ``output_tokens``, ``cache_creation_input_tokens``, ``cache_read_input_tokens``).

        Raises:
            ModelCallError: The model failed (retries exhausted, or a non-retryable error).
            ReplayError: A replay file is missing, malformed, or has no answer left.
            asyncio.CancelledError: The caller cancelled; any HTTP stream is closed first.
        """
        ...

    async def aclose(self) -> None:
        """Release connections; the brain is not used afterwards."""
        ...


def assistant_turns(request: ModelRequest) -> int:
    """How many assistant messages ``request.messages`` already holds (its 0-based turn index)."""
    return sum(1 for message in request.messages if message.get("role") == "assistant")
