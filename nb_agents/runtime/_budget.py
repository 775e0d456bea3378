"""Session budgets: the ``budget`` parameter, list costs in the wire's money format, and the rules.

A budget is ``{type: "limit", max_list_cost: {amount, currency: "USD"}}`` with ``amount`` an
integer string of cents. The runtime tracks each session's estimated list cost
(``usage.list_cost``) with the list prices of ``nb_agents._prices``: every model response is
priced as the model that answered it (its ``model`` field). So a ``replay:`` session costs what
the recorded model would have cost live, and a hand-written replay line (no ``model``) costs
nothing. A response from a model with no list price makes the session's cost unknown:
``list_cost`` disappears, and a budgeted session stops (``budget_reached``), as the API does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from nb_agents._prices import price_for
from nb_agents.errors import InvalidRequestError
from nb_agents.runtime.brain import UNRECORDED_MODEL, is_replay_model

__all__ = [
    "budget_param",
    "budget_update",
    "cap_cents",
    "check_budgetable",
    "money",
    "response_cost",
    "zero_cost",
]

_CENTS = re.compile(r"0|[1-9][0-9]{0,11}")


def money(dollars: float) -> dict[str, str]:
    """A list cost in the wire's form: whole cents, rounded up (the cap fires at or before the charge)."""
    cents = max(0, math.ceil(round(dollars * 100, 6)))
    return {"amount": str(cents), "currency": "USD"}


def zero_cost(model: str) -> dict[str, str] | None:
    """The starting ``list_cost`` of a session on ``model``; None when its cost cannot be tracked."""
    return money(0.0) if is_replay_model(model) or price_for(model) is not None else None


def response_cost(response: Mapping[str, Any], model: str, usage: Mapping[str, int]) -> float | None:
    """Estimated USD list cost of one model response; None if its model has no list price.

    Args:
        response: The Messages response (its ``model`` names who answered).
        model: The model id the request asked for (used when the response names none).
        usage: The response's token counts.
    """
    answered = response.get("model")
    if answered == UNRECORDED_MODEL and is_replay_model(model):
        return 0.0
    price = price_for(answered if isinstance(answered, str) and answered else model)
    if price is None:
        return None
    return price.cost(
        usage.get("input_tokens", 0),
        usage.get("output_tokens", 0),
        usage.get("cache_creation_input_tokens", 0),
        usage.get("cache_read_input_tokens", 0),
    )


def cap_cents(budget: Mapping[str, Any]) -> int:
    """The cap of a (validated) budget, in cents."""
    return int(budget["max_list_cost"]["amount"])


def budget_param(value: Any) -> dict[str, Any]:
    """A validated, normalised budget from request params.

    Raises:
        InvalidRequestError: It is not ``{type: "limit", max_list_cost: {amount, currency: "USD"}}``.
    """
    shape = "expected {type: 'limit', max_list_cost: {amount: '<whole cents>', currency: 'USD'}}"
    if not isinstance(value, Mapping) or value.get("type") != "limit":
        raise InvalidRequestError(f"budget: {shape}")
    cost = value.get("max_list_cost")
    if not isinstance(cost, Mapping) or set(cost) - {"amount", "currency"}:
        raise InvalidRequestError(f"budget.max_list_cost: {shape}")
    if cost.get("currency") != "USD":
        raise InvalidRequestError("budget.max_list_cost.currency: USD is the only currency")
    amount = cost.get("amount")
    if not isinstance(amount, str) or not _CENTS.fullmatch(amount):
        raise InvalidRequestError(
            f"budget.max_list_cost.amount: {amount!r} is not a whole number of cents as a string "
            "(no leading zeros): '50' is fifty cents, '2500' is $25.00"
        )
    if set(value) - {"type", "max_list_cost"}:
        raise InvalidRequestError(f"budget: unknown field(s) {sorted(set(value) - {'type', 'max_list_cost'})}")
    return {"type": "limit", "max_list_cost": {"amount": amount, "currency": "USD"}}


def check_budgetable(model: str, list_cost: Mapping[str, Any] | None, *, used: bool) -> None:
    """Refuse a budget the runtime cannot measure (``model_not_budgetable``).

    Args:
        model: The session's model id.
        list_cost: The session's ``usage.list_cost`` (None once a response had no price).
        used: Whether the session has asked the model before (then a missing list cost means an
            unpriced model answered).
    """
    if not is_replay_model(model) and price_for(model) is None:
        raise InvalidRequestError(
            f"model '{model}' has no list price in nb_agents' price table, so a budget cannot be enforced; "
            "remove the budget (or use a model with a list price)",
            error_code="model_not_budgetable",
        )
    if used and list_cost is None:
        raise InvalidRequestError(
            "this session's usage includes answers from a model with no list price, so its cost is unknown "
            "and a budget cannot be enforced; remove the budget (budget=None) to go on",
            error_code="model_not_budgetable",
        )


def budget_update(session: Mapping[str, Any], value: Any) -> dict[str, Any] | None:
    """The session's budget after ``sessions.update(budget=value)``.

    Raises:
        InvalidRequestError: ``budget_create_only`` (the session has no budget: none was set at
            creation, or it was removed), ``budget_not_raised`` (the new cap is not above the cost
            already consumed) or ``model_not_budgetable``.
    """
    if value is None:
        return None
    budget = budget_param(value)
    if session.get("budget") is None:
        raise InvalidRequestError(
            "a budget can only be set when the session is created (and a removed budget cannot come back); "
            "create a new session with budget=...",
            error_code="budget_create_only",
        )
    usage = session.get("usage") or {}
    used = any(usage.get(k) for k in ("input_tokens", "output_tokens"))
    check_budgetable(session["agent"]["model"]["id"], usage.get("list_cost"), used=used)
    spent = int((usage.get("list_cost") or {"amount": "0"})["amount"])
    if cap_cents(budget) <= spent:
        raise InvalidRequestError(
            f"the new budget ({cap_cents(budget)} cents) is not above the list cost this session has already "
            f"consumed ({spent} cents); raise it above that",
            error_code="budget_not_raised",
        )
    return budget
