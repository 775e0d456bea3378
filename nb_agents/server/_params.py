"""Request parsing: JSON bodies, bracketed query arrays and ranges, limits and page cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any, Literal, cast

from starlette.requests import Request

from nb_agents.errors import InvalidRequestError

__all__ = ["body", "cursor_in", "cursor_out", "flag", "limit", "order", "range_filter"]


async def body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object body (empty body → ``{}`` when ``optional``)."""
    raw = await request.body()
    if not raw.strip():
        if optional:
            return {}
        raise InvalidRequestError("the request needs a JSON object body")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"the request body is not valid JSON: {exc}") from exc
    if data is None and optional:
        return {}
    if not isinstance(data, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    return data


def limit(request: Request, *, default: int = 20, maximum: int = 100) -> int:
    """The ``limit`` query parameter, checked against ``1..maximum``."""
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequestError(f"limit: expected an integer from 1 to {maximum}, got {raw!r}") from None
    if not 1 <= value <= maximum:
        raise InvalidRequestError(f"limit: expected an integer from 1 to {maximum}, got {value}")
    return value


def flag(request: Request, name: str) -> bool:
    """A boolean query parameter (``true``/``false``)."""
    raw = request.query_params.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise InvalidRequestError(f"{name}: expected true or false, got {raw!r}")
    return raw in ("true", "1")


def order(request: Request, default: Literal["asc", "desc"]) -> Literal["asc", "desc"]:
    """The ``order`` query parameter."""
    value = request.query_params.get("order", default)
    if value not in ("asc", "desc"):
        raise InvalidRequestError(f"order: expected 'asc' or 'desc', got {value!r}")
    return cast(Literal["asc", "desc"], value)


def range_filter(request: Request, name: str) -> dict[str, str]:
    """Bracketed range keys such as ``created_at[gte]`` → ``{"gte": value}``."""
    out = {}
    for op in ("gt", "gte", "lt", "lte"):
        value = request.query_params.get(f"{name}[{op}]")
        if value is not None:
            out[op] = value
    return out


def cursor_out(kind: str, position: int | None, direction: str = "next", order: str = "") -> str | None:
    """An opaque page cursor, or None at the end of the list."""
    if position is None:
        return None
    raw = json.dumps({"k": kind, "p": position, "d": direction, "o": order}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor_in(request: Request, kind: str, order: str = "") -> tuple[int, str] | None:
    """Decode the ``page`` cursor of a list call: (position, direction) or None."""
    raw = request.query_params.get("page")
    if not raw:
        return None
    try:
        data: Mapping[str, Any] = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        position, direction = int(data["p"]), str(data["d"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidRequestError(
            "page: not a cursor from this list; pass the next_page value you were given"
        ) from None
    if data.get("k") != kind:
        raise InvalidRequestError("page: this cursor belongs to another list")
    if data.get("o", "") != order:
        raise InvalidRequestError("page: this cursor was made for another order; start again without 'page'")
    return position, direction
