"""``MessagesBrain``: Claude through the ``anthropic`` SDK's streaming Messages API, with visible retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import anthropic
import httpx2
from anthropic.types import (
    RawContentBlockDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    TextDelta,
)

from nb_agents.runtime.brain._retry import (
    BrokenStreamError,
    IncompleteStreamError,
    MalformedStreamError,
    RetryPolicy,
    StalledStreamError,
    classify,
)
from nb_agents.runtime.brain._types import (
    ErrorCallback,
    ModelCallError,
    ModelError,
    ModelRequest,
    TextCallback,
)

__all__ = ["MessagesBrain"]

T = TypeVar("T")

DEFAULT_IDLE_TIMEOUT = 90.0
"""Seconds a model request may go without a byte before it is abandoned (and retried)."""

NO_CREDENTIALS = (
    "no Anthropic credentials: set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN) in the environment of "
    "the runtime and restart it, or use a replay:<path> model"
)

_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def _message_json(message: anthropic.types.Message) -> dict[str, Any]:
    data: dict[str, Any] = message.to_dict(mode="json")
    usage: dict[str, Any] = data.setdefault("usage", {})
    for key in _USAGE_KEYS:
        if usage.get(key) is None:
            usage[key] = 0
    return data


class MessagesBrain:
    """Asks Claude (or any Messages-compatible endpoint) through ``anthropic.AsyncAnthropic``.

    The SDK's own retries are off (``max_retries=0``): this brain retries 429, 529, 5xx,
    connection errors and broken, stalled or malformed streams itself, so that each failed
    attempt can be reported through ``on_error`` before the next one. One instance may serve many
    sessions at once.

    Every attempt has a deadline: when no byte comes for ``idle_timeout`` seconds (before the
    response starts, or in the middle of it) the attempt is abandoned and counts as a retryable
    failure. A client with no credentials at all fails at once, before any request.

    Args:
        client: An SDK client to use; by default one is made from ``client_kwargs``, honouring
            ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL``. A given client should have
            ``max_retries=0``.
        retry: The retry policy (attempts, backoff).
        idle_timeout: Seconds without a byte from the model before an attempt is abandoned.
        **client_kwargs: Passed to ``AsyncAnthropic`` (``api_key``, ``base_url``, ``timeout`` ...).
    """

    def __init__(
        self,
        *,
        client: anthropic.AsyncAnthropic | None = None,
        retry: RetryPolicy | None = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        **client_kwargs: Any,
    ) -> None:
        if not idle_timeout > 0:
            raise ValueError(f"idle_timeout must be a positive number of seconds, not {idle_timeout!r}")
        self.client = client or anthropic.AsyncAnthropic(**{**client_kwargs, "max_retries": 0})
        self.retry = retry or RetryPolicy()
        self.idle_timeout = idle_timeout

    def has_credentials(self) -> bool:
        """Whether the client holds any way to authenticate (key, token or credentials provider)."""
        client = self.client
        return bool(client.api_key or client.auth_token or client.custom_auth is not None)

    async def complete(
        self,
        request: ModelRequest,
        *,
        on_text: TextCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> dict[str, Any]:
        """Stream one assistant message, retrying what is worth retrying.

        Args:
            request: The turn's parameters.
            on_text: Called with ``(block index, fragment)`` for each text delta. A retried
                attempt streams again from the start (the previous ``on_error`` says so).
            on_error: Called before each retry (``will_retry=True``) and once on the final
                failure (``will_retry=False``).

        Returns:
            The final Message as Messages API JSON; the four ``usage`` counts are always ints.

        Raises:
            ModelCallError: Retries ran out, or the error is not retryable (400, 401, 403, 404,
                no credentials ...).
            asyncio.CancelledError: The caller cancelled; the HTTP stream is closed on the way out.
        """
        if not self.has_credentials():
            if on_error is not None:
                on_error(ModelError("model_request_failed_error", NO_CREDENTIALS, 1, False))
            raise ModelCallError(NO_CREDENTIALS, error_type="model_request_failed_error")
        params = request.params()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(params, on_text)
            except Exception as exc:
                failure = classify(exc)
                if failure is None:
                    raise
                will_retry = failure.retryable and attempt < self.retry.max_attempts
                if on_error is not None:
                    on_error(ModelError(failure.error_type, failure.message, attempt, will_retry))
                if not will_retry:
                    tries = "attempt" if attempt == 1 else "attempts"
                    raise ModelCallError(
                        f"model request failed after {attempt} {tries}: {failure.message}",
                        error_type=failure.error_type,
                        status_code=failure.status_code,
                        attempts=attempt,
                        retryable=failure.retryable,
                    ) from exc
                delay = self.retry.delay(attempt, failure.retry_after)
            await asyncio.sleep(delay)

    async def _attempt(self, params: dict[str, Any], on_text: TextCallback | None) -> dict[str, Any]:
        started = stopped = False
        manager = self.client.messages.stream(**params)
        stream = await self._within_idle(manager.__aenter__(), "no answer")
        try:
            events: AsyncIterator[Any] = stream.__aiter__()
            while True:
                try:
                    event = await self._within_idle(events.__anext__(), "the stream stalled")
                except StopAsyncIteration:
                    break
                except (anthropic.APIStatusError, StalledStreamError):
                    raise
                except (anthropic.APIConnectionError, httpx2.TransportError) as exc:
                    raise BrokenStreamError(str(exc.__cause__ or exc)) from exc
                except anthropic.AnthropicError:
                    raise
                except Exception as exc:  # what the SDK's SSE parser choked on
                    raise MalformedStreamError(f"{type(exc).__name__}: {exc}") from exc
                if isinstance(event, RawContentBlockDeltaEvent):
                    if on_text is not None and isinstance(event.delta, TextDelta):
                        on_text(event.index, event.delta.text)
                elif isinstance(event, RawMessageStartEvent):
                    started = True
                elif isinstance(event, RawMessageStopEvent):
                    stopped = True
            if not (started and stopped):
                missing = "message_start" if not started else "message_stop"
                raise IncompleteStreamError(f"the stream ended without {missing}")
            try:
                message = await stream.get_final_message()
            except anthropic.AnthropicError:
                raise
            except Exception as exc:
                raise MalformedStreamError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            await manager.__aexit__(None, None, None)
        return _message_json(message)

    async def _within_idle(self, step: Awaitable[T], what: str) -> T:
        """``await step``, abandoning it (``StalledStreamError``) after ``idle_timeout`` seconds."""
        try:
            return await asyncio.wait_for(step, self.idle_timeout)
        except asyncio.TimeoutError:
            raise StalledStreamError(f"{what}: no data for {self.idle_timeout:g} s") from None

    async def aclose(self) -> None:
        """Close the SDK client's connection pool."""
        await self.client.close()
