"""Request parsing: JSON bodies, bracketed query arrays and ranges, limits and page cursors.

Everything a client sends is checked here before the runtime sees it: a body is a JSON object
of bounded size and depth whose strings encode as UTF-8 and whose numbers are finite and
bounded; query integers are bounded; cursors are ones this server made.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any, Literal, cast

from starlette.requests import Request

from nb_agents.errors import ApiError, InvalidRequestError
from nb_agents.events import time_to_us

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "body",
    "check_json",
    "cursor_in",
    "cursor_out",
    "flag",
    "integer",
    "limit",
    "order",
    "range_filter",
    "too_large",
]

MAX_BODY_BYTES = 32 * 1024 * 1024
"""Default cap of a request body (``app.state.max_body_bytes``; ``NB_AGENTS_MAX_REQUEST_BYTES``)."""
MAX_DEPTH = 64
"""How deeply JSON values may nest in a body."""
MAX_INT = 2**53
"""Integers in bodies and query strings stay within ±2**53 (what every JSON reader keeps exactly)."""
_MAX_POSITION = 2**62
_DIGITS = re.compile(r"[0-9]{1,16}")


def too_large(limit_bytes: int) -> ApiError:
    """The API's 413 ``request_too_large`` error."""
    err = ApiError(
        f"the request body is larger than {limit_bytes} bytes, the local runtime's limit "
        "(NB_AGENTS_MAX_REQUEST_BYTES); send less"
    )
    err.status, err.error_type = 413, "request_too_large"
    return err


async def _read_capped(request: Request) -> bytes:
    cap = int(getattr(request.app.state, "max_body_bytes", MAX_BODY_BYTES))
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise too_large(cap)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise too_large(cap)
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


async def body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object body (empty body → ``{}`` when ``optional``), checked by :func:`check_json`."""
    raw = await _read_capped(request)
    if not raw.strip():
        if optional:
            return {}
        raise InvalidRequestError("the request needs a JSON object body")
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidRequestError(f"the request body nests deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"the request body is not valid JSON: {exc}") from None
    if data is None and optional:
        return {}
    if not isinstance(data, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    check_json(data)
    return data


def check_json(value: Any) -> None:
    """Check a parsed JSON value: depth, UTF-8 strings, finite and bounded numbers.

    Iterative, so no input can exhaust the stack.

    Raises:
        InvalidRequestError: Naming the path of the first offending value.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidRequestError(f"the request body nests deeper than {MAX_DEPTH} levels (at {path or 'top'})")
        if isinstance(item, str):
            _check_text(item, path)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not -MAX_INT <= item <= MAX_INT:
                raise InvalidRequestError(f"{path or 'body'}: integers must be within ±2**53")
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                raise InvalidRequestError(f"{path or 'body'}: numbers must be finite")
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, f"{path}.{key!r}" if path else repr(key))
                stack.append((child, f"{path}.{key}" if path else str(key), depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequestError(
            f"{path or 'body'}: the text holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode"
        ) from None


def integer(request: Request, name: str, *, minimum: int = 1, maximum: int = _MAX_POSITION) -> int | None:
    """A bounded integer query parameter (ASCII digits), or None when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not _DIGITS.fullmatch(raw) or not minimum <= int(raw) <= maximum:
        raise InvalidRequestError(f"{name}: expected an integer from {minimum} to {maximum}, got {raw[:40]!r}")
    return int(raw)


def limit(request: Request, *, default: int = 20, maximum: int = 100) -> int:
    """The ``limit`` query parameter, checked against ``1..maximum``."""
    value = integer(request, "limit", minimum=1, maximum=maximum)
    return default if value is None else value


def flag(request: Request, name: str) -> bool:
    """A boolean query parameter (``true``/``false``)."""
    raw = request.query_params.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise InvalidRequestError(f"{name}: expected true or false, got {raw[:40]!r}")
    return raw in ("true", "1")


def order(request: Request, default: Literal["asc", "desc"]) -> Literal["asc", "desc"]:
    """The ``order`` query parameter."""
    value = request.query_params.get("order", default)
    if value not in ("asc", "desc"):
        raise InvalidRequestError(f"order: expected 'asc' or 'desc', got {value[:40]!r}")
    return cast(Literal["asc", "desc"], value)


def range_filter(request: Request, name: str) -> dict[str, str]:
    """Bracketed range keys such as ``created_at[gte]`` → ``{"gte": value}`` (RFC 3339, checked)."""
    out = {}
    for op in ("gt", "gte", "lt", "lte"):
        value = request.query_params.get(f"{name}[{op}]")
        if value is not None:
            try:
                time_to_us(value)
            except (ValueError, OverflowError):
                raise InvalidRequestError(
                    f"{name}[{op}]: expected an RFC 3339 timestamp such as 2026-01-31T12:00:00Z, got {value[:40]!r}"
                ) from None
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
    bad = InvalidRequestError("page: not a cursor from this list; pass the next_page value you were given")
    if len(raw) > 512:
        raise bad
    try:
        data: Mapping[str, Any] = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, RecursionError, binascii.Error):
        raise bad from None
    if not isinstance(data, Mapping):
        raise bad
    position, direction = data.get("p"), data.get("d")
    if type(position) is not int or not 0 <= position <= _MAX_POSITION or direction not in ("next", "prev"):
        raise bad
    if data.get("k") != kind:
        raise InvalidRequestError("page: this cursor belongs to another list")
    if data.get("o", "") != order:
        raise InvalidRequestError("page: this cursor was made for another order; start again without 'page'")
    return position, direction
