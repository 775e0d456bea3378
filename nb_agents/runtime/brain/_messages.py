"""``MessagesBrain``: Claude through the ``anthropic`` SDK's streaming Messages API, with visible retries."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
from anthropic.types import (
    RawContentBlockDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    TextDelta,
)

from nb_agents.runtime.brain._retry import IncompleteStreamError, RetryPolicy, classify
from nb_agents.runtime.brain._types import (
    ErrorCallback,
    ModelCallError,
    ModelError,
    ModelRequest,
    TextCallback,
)

__all__ = ["MessagesBrain"]

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
    connection errors and broken streams itself, so that each failed attempt can be reported
    through ``on_error`` before the next one. One instance may serve many sessions at once.

    Args:
        client: An SDK client to use; by default one is made from ``client_kwargs``, honouring
            ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL``. A given client should have
            ``max_retries=0``.
        retry: The retry policy (attempts, backoff).
        **client_kwargs: Passed to ``AsyncAnthropic`` (``api_key``, ``base_url``, ``timeout`` ...).
    """

    def __init__(
        self,
        *,
        client: anthropic.AsyncAnthropic | None = None,
        retry: RetryPolicy | None = None,
        **client_kwargs: Any,
    ) -> None:
        self.client = client or anthropic.AsyncAnthropic(**{**client_kwargs, "max_retries": 0})
        self.retry = retry or RetryPolicy()

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
            ModelCallError: Retries ran out, or the error is not retryable (400, 401, 403, 404 ...).
            asyncio.CancelledError: The caller cancelled; the HTTP stream is closed on the way out.
        """
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
        async with self.client.messages.stream(**params) as stream:
            async for event in stream:
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
            message = await stream.get_final_message()
        return _message_json(message)

    async def aclose(self) -> None:
        """Close the SDK client's connection pool."""
        await self.client.close()
