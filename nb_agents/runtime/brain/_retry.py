"""Which model failures are worth retrying, and how long to wait before the next attempt.

This is the one place that looks at ``anthropic`` and ``httpx2`` exception types: each is turned
into a ``Failure`` (a ``session.error`` type, a message, retryable or not).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

import anthropic
import httpx2

from nb_agents.runtime.brain._types import ModelErrorType

__all__ = [
    "BrokenStreamError",
    "Failure",
    "IncompleteStreamError",
    "MalformedStreamError",
    "RetryPolicy",
    "StalledStreamError",
    "classify",
]


class IncompleteStreamError(Exception):
    """The SSE stream ended (cleanly, as far as HTTP goes) before ``message_stop``."""


class BrokenStreamError(Exception):
    """The connection failed after the response had started streaming."""


class StalledStreamError(Exception):
    """No byte came for the idle timeout: before the response started, or in the middle of it."""


class MalformedStreamError(Exception):
    """The response stream could not be parsed (bad SSE framing, JSON or event shapes)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How ``MessagesBrain`` retries: exponential backoff with jitter, honouring ``retry-after``.

    The wait before attempt ``n + 1`` is ``min(max_delay, base_delay * 2 ** (n - 1))``, scaled by a
    random factor in ``[0.5, 1]``; a ``retry-after`` from the server replaces it (capped at
    ``max_retry_after``).
    """

    max_attempts: int = 5
    """Attempts in all, the first one included (1 means no retries)."""
    base_delay: float = 0.5
    """Seconds before the first retry (before jitter)."""
    max_delay: float = 8.0
    """Cap on the exponential backoff, in seconds."""
    max_retry_after: float = 60.0
    """Cap on a server's ``retry-after``, in seconds."""

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        backoff = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return backoff * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Failure:
    """A model failure, classified."""

    error_type: ModelErrorType
    message: str
    retryable: bool
    status_code: int | None = None
    retry_after: float | None = None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        return None if parsed is None else email.utils.mktime_tz(parsed) - time.time()


def _status_failure(exc: anthropic.APIStatusError) -> Failure:
    status, kind = exc.status_code, exc.type
    detail = exc.api_message or exc.message
    where = f"HTTP {status}" if status != 200 else "error event in the response stream"
    message = f"{where} ({kind or 'unknown error'}): {detail}"
    if status == 529 or kind == "overloaded_error":
        return Failure("model_overloaded_error", message, True, status)
    if status == 429 or kind == "rate_limit_error":
        return Failure("model_rate_limited_error", message, True, status, _retry_after(exc.response.headers))
    retryable = status >= 500 or status in (408, 409) or (status == 200 and kind == "api_error")
    return Failure("model_request_failed_error", message, retryable, status)


def classify(exc: BaseException) -> Failure | None:
    """Classify an exception raised while asking the model.

    Args:
        exc: What the SDK (or the HTTP layer under it) raised.

    Returns:
        The failure, or None if ``exc`` is not a model failure (a bug, a callback's own error),
        which the caller should let propagate untouched.
    """
    if isinstance(exc, anthropic.APIStatusError):
        return _status_failure(exc)
    if isinstance(exc, StalledStreamError):
        return Failure("model_request_failed_error", f"the model stopped answering: {exc}", True)
    if isinstance(exc, BrokenStreamError):
        return Failure("model_request_failed_error", f"the response stream broke off: {exc}", True)
    if isinstance(exc, IncompleteStreamError):
        return Failure("model_request_failed_error", f"the response stream was cut short: {exc}", True)
    if isinstance(exc, MalformedStreamError):
        return Failure("model_request_failed_error", f"the response stream was malformed: {exc}", True)
    if isinstance(exc, anthropic.APITimeoutError):
        return Failure("model_request_failed_error", "the model request timed out", True)
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__ or exc
        return Failure("model_request_failed_error", f"could not reach the model: {cause}", True)
    if isinstance(exc, httpx2.TransportError):
        return Failure("model_request_failed_error", f"could not reach the model: {exc}", True)
    if isinstance(exc, anthropic.AnthropicError):
        return Failure("model_request_failed_error", f"{type(exc).__name__}: {exc}", False)
    return None
