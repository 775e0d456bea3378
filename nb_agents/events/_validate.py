"""Strict validation of wire objects against the SDK's own pydantic models.

The SDK builds its models leniently (``extra="allow"``, no errors for missing fields), so a
server that only *parses* its output with the SDK would never notice a typo. Here every object
goes through pydantic in strict JSON mode (``"5"`` is not an int, ``1700000000`` is not a
timestamp), and the resulting model tree is walked to reject any unknown field and any
timestamp without a time zone.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

import pydantic
from anthropic.types.beta.sessions.beta_managed_agents_session_event import BetaManagedAgentsSessionEvent
from anthropic.types.beta.sessions.beta_managed_agents_stream_session_events import (
    BetaManagedAgentsStreamSessionEvents,
)

from nb_agents.errors import EventValidationError
from nb_agents.events._types import EVENT_MODELS, STREAM_EVENT_MODELS, STREAM_ONLY_TYPES

__all__ = ["validate_event", "validate_object", "validate_stream_event"]

_M = TypeVar("_M", bound=pydantic.BaseModel)

_MAX_ISSUES = 8
# Pydantic names each member of a non-discriminated union in the error location: the model
# class name (``BetaManagedAgentsTextBlock``) or a type such as ``str`` / ``list[...]``.
_TAG = re.compile(r"[A-Z][A-Za-z0-9_]*|str|int|float|bool|list|dict|none|.*\[.*")


@functools.cache
def _adapter(tp: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(tp)


def validate_event(event: Mapping[str, Any]) -> BetaManagedAgentsSessionEvent:
    """Validate a persisted event strictly against the SDK's ``BetaManagedAgentsSessionEvent``.

    Args:
        event: The wire JSON object (a dict as it would be sent or stored).

    Returns:
        The SDK model instance (for example ``BetaManagedAgentsAgentMessageEvent``).

    Raises:
        EventValidationError: Unknown or stream-only ``type``, a missing required field, a
            wrong field type, an unknown field anywhere, or a timestamp that is not RFC 3339
            with a time zone. The message names the event type and each field path.
    """
    model = _dispatch(event, EVENT_MODELS, stream=False)
    result: BetaManagedAgentsSessionEvent = _validate(model, event, _describe(event))
    return result


def validate_stream_event(event: Mapping[str, Any]) -> BetaManagedAgentsStreamSessionEvents:
    """Like ``validate_event`` for the SSE stream union, which adds ``event_start``/``event_delta``.

    Raises:
        EventValidationError: As for ``validate_event``.
    """
    model = _dispatch(event, STREAM_EVENT_MODELS, stream=True)
    result: BetaManagedAgentsStreamSessionEvents = _validate(model, event, _describe(event))
    return result


def validate_object(model_type: type[_M], obj: Mapping[str, Any]) -> _M:
    """Validate any wire object strictly against an SDK model class.

    For example ``validate_object(BetaManagedAgentsSession, body)``. Same strictness as
    ``validate_event``.

    Args:
        model_type: An SDK pydantic model class.
        obj: The wire JSON object.

    Returns:
        The validated model instance.

    Raises:
        EventValidationError: If ``obj`` does not match ``model_type`` exactly.
    """
    result: _M = _validate(model_type, obj, model_type.__name__)
    return result


def _describe(event: Mapping[str, Any]) -> str:
    return f"{event.get('type')!r} event"


def _dispatch(
    event: Mapping[str, Any], models: Mapping[str, type[pydantic.BaseModel]], *, stream: bool
) -> type[pydantic.BaseModel]:
    if not isinstance(event, Mapping):
        raise EventValidationError(f"an event must be a JSON object, got {type(event).__name__}")
    etype = event.get("type")
    if not isinstance(etype, str):
        raise EventValidationError(f"event has no string 'type' field (got {etype!r})")
    model = models.get(etype)
    if model is not None:
        return model
    if not stream and etype in STREAM_ONLY_TYPES:
        raise EventValidationError(f"{etype!r} is a stream-only event type; it is never stored or listed")
    hint = difflib.get_close_matches(etype, list(models), n=1)
    suffix = f"; did you mean {hint[0]!r}?" if hint else ""
    raise EventValidationError(f"unknown event type {etype!r}{suffix}")


def _validate(tp: Any, obj: Mapping[str, Any], what: str) -> Any:
    if not isinstance(obj, Mapping):
        raise EventValidationError(f"invalid {what}: expected a JSON object, got {type(obj).__name__}")
    try:
        raw = json.dumps(dict(obj), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise EventValidationError(f"invalid {what}: not JSON-serialisable: {exc}") from None
    try:
        model = _adapter(tp).validate_json(raw, strict=True)
    except pydantic.ValidationError as exc:
        raise EventValidationError(_message(what, _format_errors(exc.errors()))) from None
    issues = list(dict.fromkeys(_walk(model, "")))
    if issues:
        raise EventValidationError(_message(what, issues))
    return model


def _message(what: str, issues: list[str]) -> str:
    shown = "; ".join(issues[:_MAX_ISSUES])
    more = f"; and {len(issues) - _MAX_ISSUES} more" if len(issues) > _MAX_ISSUES else ""
    return f"invalid {what}: {shown}{more}"


def _walk(value: Any, path: str) -> Iterator[str]:
    """Yield a message for every unknown field and naive timestamp in a validated model tree."""
    if isinstance(value, pydantic.BaseModel):
        for key in value.__pydantic_extra__ or {}:
            yield f"{_join(path, key)}: unknown field"
        for name, field in type(value).model_fields.items():
            yield from _walk(getattr(value, name), _join(path, field.alias or name))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, _join(path, str(key)))
    elif isinstance(value, datetime) and value.tzinfo is None:
        yield f"{path}: timestamp has no time zone (RFC 3339 needs 'Z' or an offset)"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_tag(segment: Any) -> bool:
    return isinstance(segment, str) and _TAG.fullmatch(segment) is not None


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for segment in loc:
        if isinstance(segment, int):
            path += f"[{segment}]"
        elif not _is_tag(segment):
            path = _join(path, str(segment))
    return path or "<root>"


def _format_errors(errors: list[Any]) -> list[str]:
    """Turn pydantic errors into ``path: problem`` lines, keeping only the relevant union member.

    For a union such as a content block, pydantic reports a failure for every member. A member
    whose ``type`` literal did not match is irrelevant and dropped; if no member matched, one
    line says which ``type`` values are allowed.
    """
    dead: set[tuple[Any, ...]] = set()
    expected: dict[tuple[Any, ...], list[str]] = {}
    got: dict[tuple[Any, ...], Any] = {}
    for err in errors:
        loc = tuple(err["loc"])
        if len(loc) >= 2 and loc[-1] == "type" and _is_tag(loc[-2]):
            if err["type"] in ("literal_error", "missing"):
                dead.add(loc[:-1])
                allowed = expected.setdefault(loc[:-2], [])
                if err["type"] == "literal_error":
                    allowed.append(str(err.get("ctx", {}).get("expected", "?")))
                    got[loc[:-2]] = err.get("input")

    def under_dead(loc: tuple[Any, ...]) -> bool:
        return any(loc[: len(b)] == b for b in dead)

    kept = [e for e in errors if not under_dead(tuple(e["loc"]))]
    lines: list[str] = []
    for parent, allowed in expected.items():
        if under_dead(parent) or any(_has_prefix(tuple(e["loc"]), parent) for e in kept):
            continue  # a member matched (its own errors are kept), or the whole branch is moot
        where = _join("" if not parent else _loc_to_path(parent), "type")
        if parent in got:
            lines.append(f"{where}: unknown type {got[parent]!r}; expected one of {', '.join(allowed)}")
        else:
            lines.append(f"{where}: required field is missing")
    for err in kept:
        msg = "required field is missing" if err["type"] == "missing" else err["msg"]
        if err["type"] != "missing" and "input" in err:
            msg += f" (got {_short(err['input'])})"
        lines.append(f"{_loc_to_path(tuple(err['loc']))}: {msg}")
    return list(dict.fromkeys(lines))


def _has_prefix(loc: tuple[Any, ...], prefix: tuple[Any, ...]) -> bool:
    return len(loc) > len(prefix) and loc[: len(prefix)] == prefix


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
