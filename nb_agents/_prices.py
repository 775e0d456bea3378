"""Estimated model cost: a documented, overridable table of list prices per million tokens.

Shared by the runtime (session budgets) and the analysis layer (cost columns).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PRICES", "PRICES_AS_OF", "REPLAY_PRICE", "ModelPrice", "estimate_cost", "price_for"]


@dataclass(frozen=True)
class ModelPrice:
    """List prices of one model, in USD per million tokens.

    Attributes:
        input: Uncached input tokens.
        output: Output tokens (thinking included).
        cache_write: Tokens written to the prompt cache (5-minute TTL; the 1-hour TTL costs more,
            but ``model_usage`` does not say which TTL was used).
        cache_read: Tokens read from the prompt cache.

    Example:
        >>> ModelPrice(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30).cost(1_000_000, 0)
        3.0
    """

    input: float
    output: float
    cache_write: float
    cache_read: float

    def cost(
        self,
        input_tokens: float,
        output_tokens: float,
        cache_creation_input_tokens: float = 0,
        cache_read_input_tokens: float = 0,
    ) -> float:
        """Estimated USD cost of one request's tokens (the Messages API's ``usage`` fields)."""
        return (
            input_tokens * self.input
            + output_tokens * self.output
            + cache_creation_input_tokens * self.cache_write
            + cache_read_input_tokens * self.cache_read
        ) / 1_000_000


PRICES_AS_OF = "2026-11-21"
"""The date this table was written down (see ``PRICES`` for where the figures come from)."""

_OPUS_4_0 = ModelPrice(input=15.0, output=75.0, cache_write=18.75, cache_read=1.50)
_OPUS_4_5 = ModelPrice(input=5.0, output=25.0, cache_write=6.25, cache_read=0.50)
_SONNET_4 = ModelPrice(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30)
_HAIKU_4_5 = ModelPrice(input=1.0, output=5.0, cache_write=1.25, cache_read=0.10)

PRICES: dict[str, ModelPrice] = {
    "claude-opus-4": _OPUS_4_5,
    "claude-opus-4-0": _OPUS_4_0,
    "claude-opus-4-20250514": _OPUS_4_0,
    "claude-opus-4-1": _OPUS_4_0,
    "claude-sonnet-4": _SONNET_4,
    "claude-haiku-4-5": _HAIKU_4_5,
}
"""Estimated list prices (USD per million tokens) of current Claude models, by model id prefix.

These are Anthropic's public list prices for the Claude API as the nb_agents team understood
them when this table was written (``PRICES_AS_OF``), from Anthropic's pricing pages
(https://www.anthropic.com/pricing and https://docs.anthropic.com/en/docs/about-claude/pricing).
They were not read from an API and may be out of date: treat every cost computed from them as
an **estimate**, and pass your own table (``prices=``) when exact figures matter.

- ``claude-opus-4``: Opus 4.5 and later 4.x models ($5 / $25). Opus 4 and 4.1
  (``claude-opus-4-0``, ``claude-opus-4-20250514``, ``claude-opus-4-1``) cost $15 / $75.
- ``claude-sonnet-4``: Sonnet 4 and 4.x ($3 / $15). The higher long-context rate (prompts over
  200k tokens) is not modelled.
- ``claude-haiku-4-5``: Haiku 4.5 ($1 / $5).

Keys match a model id exactly or as a prefix ending at a ``-``: ``claude-sonnet-4-6`` and
``claude-sonnet-4-5-20250929`` find ``claude-sonnet-4``; the longest matching key wins. A model
that matches no key (``claude-opus-5-5``) has no price, and its cost is NaN, never a guess.
A ``replay:`` model calls no API, so it costs nothing: its price is zero (``REPLAY_PRICE``), and
a replayed session shows its recorded tokens at $0. Not modelled either: batch discounts,
priority tiers, data-residency multipliers, fast mode, server tools (web search/fetch) and
Managed Agents' runtime charges.
"""


REPLAY_PRICE = ModelPrice(input=0.0, output=0.0, cache_write=0.0, cache_read=0.0)
"""The price of ``replay:<path>`` models (the offline brain): nothing, as no model is called."""


def price_for(model: str | None, prices: Mapping[str, ModelPrice] | None = None) -> ModelPrice | None:
    """The price of ``model``: the longest key of the table that equals it or prefixes it at a ``-``.

    Args:
        model: A model id such as ``claude-sonnet-4-6``.
        prices: Entries that override and extend ``PRICES`` (same key rules).

    Returns:
        The matching ``ModelPrice``, or None if no key matches (or ``model`` is None).

    Example:
        >>> price_for("claude-sonnet-4-6").output
        15.0
        >>> price_for("claude-opus-5-5") is None
        True
        >>> price_for("replay:data/quickstart.jsonl").output
        0.0
    """
    if not model:
        return None
    if model.startswith("replay:"):
        return REPLAY_PRICE
    table = {**PRICES, **prices} if prices else PRICES
    best: str | None = None
    for key in table:
        if (model == key or model.startswith(key + "-")) and (best is None or len(key) > len(best)):
            best = key
    return None if best is None else table[best]


def estimate_cost(
    usage: Mapping[str, Any], model: str | None, *, prices: Mapping[str, ModelPrice] | None = None
) -> float:
    """Estimated USD cost of one usage record (``model_usage`` or a Messages API ``usage``).

    Args:
        usage: ``input_tokens``, ``output_tokens`` and optionally ``cache_read_input_tokens``
            and ``cache_creation_input_tokens``.
        model: The model id.
        prices: Entries that override and extend ``PRICES``.

    Returns:
        The estimated cost in USD, or NaN if the model has no price or the token counts are missing.

    Example:
        >>> estimate_cost({"input_tokens": 1000, "output_tokens": 100}, "claude-haiku-4-5")
        0.0015
    """
    price = price_for(model, prices)
    tokens_in, tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
    if price is None or tokens_in is None or tokens_out is None:
        return math.nan
    return price.cost(
        tokens_in,
        tokens_out,
        usage.get("cache_creation_input_tokens") or 0,
        usage.get("cache_read_input_tokens") or 0,
    )
