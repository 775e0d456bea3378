"""nb_agents.events: types, ids, timestamps, strict validation against the SDK's models."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import typing
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from anthropic.types.beta.sessions.beta_managed_agents_session_event_type import (
    BetaManagedAgentsSessionEventType,
)
from anthropic.types.beta.sessions.beta_managed_agents_span_model_usage import BetaManagedAgentsSpanModelUsage

from nb_agents.errors import EventValidationError
from nb_agents.events import (
    CLIENT_EVENT_TYPES,
    EVENT_TYPES,
    STREAM_ONLY_TYPES,
    format_time,
    make_event,
    new_id,
    now,
    parse_time,
    time_to_us,
    validate_event,
    validate_object,
    validate_stream_event,
)

T = "2026-11-21T00:31:02.123456Z"
TEXT = [{"type": "text", "text": "hello"}]
USAGE = {
    "input_tokens": 10,
    "output_tokens": 5,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 3,
}


def ev(type_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "id": "sevt_01JD0000000000000000000000", "processed_at": T, **fields}


VALID = {
    "user.message": ev("user.message", content=TEXT, processed_at=None),
    "user.message (no processed_at)": {"type": "user.message", "id": "sevt_1", "content": TEXT},
    "user.message (image)": ev(
        "user.message",
        content=[*TEXT, {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}],
    ),
    "agent.message": ev("agent.message", content=[*TEXT, {"type": "redacted"}]),
    "agent.thinking": ev("agent.thinking"),
    "agent.tool_use": ev(
        "agent.tool_use",
        name="bash",
        input={"command": "ls -la", "nested": {"any": ["json", 1, None]}},
        evaluated_permission="allow",
        evaluation={"type": "always_allow"},
    ),
    "agent.tool_use (ask)": ev("agent.tool_use", name="write", input={}, evaluated_permission="ask"),
    "agent.tool_result": ev("agent.tool_result", tool_use_id="sevt_2", content=TEXT, is_error=False),
    "agent.custom_tool_use": ev("agent.custom_tool_use", name="lookup", input={"q": "x"}),
    "session.status_running": ev("session.status_running"),
    "session.status_idle (end_turn)": ev("session.status_idle", stop_reason={"type": "end_turn"}),
    "session.status_idle (requires_action)": ev(
        "session.status_idle", stop_reason={"type": "requires_action", "event_ids": ["sevt_2", "sevt_3"]}
    ),
    "session.error": ev(
        "session.error",
        error={
            "type": "model_overloaded_error",
            "message": "overloaded",
            "retry_status": {"type": "retrying"},
        },
    ),
    "session.error (mcp)": ev(
        "session.error",
        error={
            "type": "mcp_connection_failed_error",
            "message": "down",
            "mcp_server_name": "gh",
            "retry_status": {"type": "exhausted"},
        },
    ),
    "span.model_request_start": ev("span.model_request_start"),
    "span.model_request_end": ev("span.model_request_end", model_request_start_id="sevt_9", model_usage=USAGE),
    "span.model_request_end (speed, is_error)": ev(
        "span.model_request_end",
        model_request_start_id="sevt_9",
        model_usage={**USAGE, "speed": "fast"},
        is_error=True,
    ),
    "user.tool_confirmation (allow)": ev(
        "user.tool_confirmation", tool_use_id="sevt_2", result="allow", processed_at=None
    ),
    "user.tool_confirmation (deny)": ev(
        "user.tool_confirmation", tool_use_id="sevt_2", result="deny", deny_message="not in prod"
    ),
    "user.custom_tool_result": ev("user.custom_tool_result", custom_tool_use_id="sevt_4", content=TEXT),
    "user.interrupt": ev("user.interrupt"),
    "session.deleted": ev("session.deleted"),
    "offset timestamp": ev("session.status_terminated", processed_at="2026-11-21T01:31:02+01:00"),
}


@pytest.mark.parametrize("event", list(VALID.values()), ids=list(VALID))
def test_valid_events_validate(event: dict[str, Any]) -> None:
    model = validate_event(event)
    assert model.type == event["type"]
    assert type(model).__name__.startswith("BetaManagedAgents")
    assert validate_stream_event(event).type == event["type"]


def test_validated_model_carries_the_values() -> None:
    model = validate_event(VALID["session.status_idle (requires_action)"])
    assert model.type == "session.status_idle"
    assert model.stop_reason.type == "requires_action"
    assert model.stop_reason.event_ids == ["sevt_2", "sevt_3"]
    assert model.processed_at == datetime(2026, 11, 21, 0, 31, 2, 123456, tzinfo=timezone.utc)


INVALID: dict[str, tuple[dict[str, Any], str]] = {
    "unknown type": (ev("agent.mesage", content=TEXT), r"unknown event type 'agent.mesage'.*'agent.message'"),
    "no type": ({"id": "sevt_1"}, r"no string 'type'"),
    "stream-only type": (
        {"type": "event_start", "event": {"type": "agent.message", "id": "sevt_1"}},
        r"stream-only",
    ),
    "missing required field": (
        ev("agent.tool_use", input={}),
        r"'agent.tool_use' event: name: required field",
    ),
    "missing processed_at on server event": (
        {"type": "agent.message", "id": "sevt_1", "content": TEXT},
        r"processed_at: required field is missing",
    ),
    "wrong type (int for str)": (
        ev("agent.tool_use", name=5, input={}),
        r"name: Input should be a valid string",
    ),
    "wrong type (str for int)": (
        ev(
            "span.model_request_end",
            model_request_start_id="sevt_9",
            model_usage={**USAGE, "input_tokens": "10"},
        ),
        r"model_usage\.input_tokens: Input should be a valid integer",
    ),
    "wrong type (dict for list)": (
        ev("agent.message", content={"type": "text"}),
        r"content: .*valid (list|array)",
    ),
    "bad literal": (
        ev("user.tool_confirmation", tool_use_id="sevt_2", result="maybe"),
        r"result: Input should be 'allow' or 'deny'",
    ),
    "extra top-level field": (
        ev("agent.thinking", content=TEXT),
        r"'agent.thinking' event: content: unknown field",
    ),
    "extra field in stop_reason": (
        ev("session.status_idle", stop_reason={"type": "end_turn", "event_ids": []}),
        r"stop_reason\.event_ids: unknown field",
    ),
    "extra field in content block": (
        ev("agent.message", content=[{"type": "text", "text": "x", "citations": []}]),
        r"content\[0\]\.citations: unknown field",
    ),
    "extra field deep in a block": (
        ev("user.message", content=[{"type": "image", "source": {"type": "url", "url": "u", "w": 1}}]),
        r"content\[0\]\.source\.w: unknown field",
    ),
    "unknown nested type": (
        ev("session.status_idle", stop_reason={"type": "sleepy"}),
        r"stop_reason\.type: unknown type 'sleepy'; expected one of 'end_turn'",
    ),
    "block not allowed for agent.message": (
        ev("agent.message", content=[{"type": "image", "source": {"type": "url", "url": "u"}}]),
        r"content\[0\]\.type: unknown type 'image'",
    ),
    "missing nested field": (
        ev("session.status_idle", stop_reason={"type": "requires_action"}),
        r"stop_reason\.event_ids: required field is missing",
    ),
    "bad processed_at (garbage)": (
        ev("agent.thinking", processed_at="yesterday"),
        r"processed_at: .*datetime",
    ),
    "bad processed_at (epoch int)": (
        ev("agent.thinking", processed_at=1700000000),
        r"processed_at: .*datetime",
    ),
    "bad processed_at (date only)": (ev("agent.thinking", processed_at="2026-11-21"), r"processed_at"),
    "bad processed_at (no zone)": (
        ev("agent.thinking", processed_at="2026-11-21T00:31:02"),
        r"processed_at: timestamp has no time zone",
    ),
    "not JSON": (ev("agent.thinking", processed_at=datetime.now(timezone.utc)), r"not JSON-serialisable"),
    "not an object": ([1, 2], r"must be a JSON object"),  # type: ignore[dict-item]
}


@pytest.mark.parametrize(("event", "pattern"), list(INVALID.values()), ids=list(INVALID))
def test_invalid_events_raise(event: dict[str, Any], pattern: str) -> None:
    with pytest.raises(EventValidationError, match=pattern):
        validate_event(event)


def test_errors_are_value_errors_and_short() -> None:
    with pytest.raises(ValueError) as info:
        validate_event(ev("user.message", content=[{"type": "document", "source": {"type": "url"}}]))
    message = str(info.value)
    # Only the relevant union member is reported, not every content-block variant.
    assert message == "invalid 'user.message' event: content[0].source.url: required field is missing"


def test_stream_events() -> None:
    start = {"type": "event_start", "event": {"type": "agent.message", "id": "sevt_1"}}
    delta: dict[str, Any] = {
        "type": "event_delta",
        "event_id": "sevt_1",
        "delta": {"type": "content_delta", "index": 0, "content": {"type": "text", "text": "Hel"}},
    }
    assert validate_stream_event(start).type == "event_start"
    assert validate_stream_event(delta).type == "event_delta"
    with pytest.raises(EventValidationError, match=r"delta\.content\.bold: unknown field"):
        validate_stream_event(
            {**delta, "delta": {**delta["delta"], "content": {"type": "text", "text": "x", "bold": 1}}}
        )
    with pytest.raises(EventValidationError, match="unknown event type"):
        validate_stream_event({"type": "event_stop"})


def test_validate_object() -> None:
    model = validate_object(BetaManagedAgentsSpanModelUsage, USAGE)
    assert isinstance(model, BetaManagedAgentsSpanModelUsage)
    assert model.input_tokens == 10
    with pytest.raises(EventValidationError, match=r"invalid BetaManagedAgentsSpanModelUsage: surprise: unknown"):
        validate_object(BetaManagedAgentsSpanModelUsage, {**USAGE, "surprise": True})
    with pytest.raises(EventValidationError, match="output_tokens: required field is missing"):
        validate_object(BetaManagedAgentsSpanModelUsage, {"input_tokens": 1})


def test_event_type_sets_track_the_sdk() -> None:
    literal = set(typing.get_args(BetaManagedAgentsSessionEventType))
    assert literal <= EVENT_TYPES
    assert len(EVENT_TYPES) == 42
    assert "session.deleted" in EVENT_TYPES  # in the SDK union, missing from its Literal in 2.11.0
    assert not (STREAM_ONLY_TYPES & EVENT_TYPES)
    assert CLIENT_EVENT_TYPES <= EVENT_TYPES
    assert len(CLIENT_EVENT_TYPES) == 7


def test_make_event() -> None:
    event = make_event("agent.message", content=TEXT)
    assert event["type"] == "agent.message"
    assert re.fullmatch(r"sevt_[0-9A-HJKMNP-TV-Z]{26}", event["id"])
    assert parse_time(event["processed_at"]).tzinfo is not None
    validate_event(event)
    queued = make_event("user.message", content=TEXT, processed_at=None)
    assert queued["processed_at"] is None
    with pytest.raises(EventValidationError, match="not a Managed Agents event type"):
        make_event("agent.sing")
    with pytest.raises(EventValidationError, match="stream-only"):
        make_event("event_delta")


# ---- ids --------------------------------------------------------------------------------------

CROCKFORD = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


@pytest.mark.parametrize("prefix", ["sevt", "sesn", "agent", "env", "req", "outc", "sthr", "vlt"])
def test_id_shape(prefix: str) -> None:
    value = new_id(prefix)
    head, _, tail = value.partition("_")
    assert head == prefix
    assert CROCKFORD.fullmatch(tail)


def test_unknown_prefix() -> None:
    with pytest.raises(ValueError, match="unknown id prefix 'evt'"):
        new_id("evt")


def test_ids_sort_in_creation_order_and_are_unique() -> None:
    ids = [new_id("sevt") for _ in range(10_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_id_timestamp_is_the_creation_millisecond() -> None:
    before = int(datetime.now(timezone.utc).timestamp() * 1000)
    value = new_id("sesn")[5:]
    after = int(datetime.now(timezone.utc).timestamp() * 1000)
    ms = 0
    for ch in value[:10]:
        ms = ms * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(ch)
    assert before - 1 <= ms <= after + 1  # as in a ULID, the first 10 characters are the 48-bit time


def test_ids_unique_across_threads_and_processes() -> None:
    results: list[list[str]] = [[] for _ in range(4)]

    def work(out: list[str]) -> None:
        out.extend(new_id("sevt") for _ in range(2000))

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    code = "from nb_agents.events import new_id; print('\\n'.join(new_id('sevt') for _ in range(2000)))"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    everything = [i for out in results for i in out] + child.stdout.split()
    assert len(set(everything)) == 10_000
    for out in results:
        assert out == sorted(out)  # each thread sees its own ids in order


# ---- time -------------------------------------------------------------------------------------


def test_now_format() -> None:
    value = now()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", value)
    assert abs(parse_time(value) - datetime.now(timezone.utc)) < timedelta(seconds=5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (T, datetime(2026, 11, 21, 0, 31, 2, 123456, tzinfo=timezone.utc)),
        ("2026-11-21T00:31:02Z", datetime(2026, 11, 21, 0, 31, 2, tzinfo=timezone.utc)),
        ("2026-11-21T00:31:02.5z", datetime(2026, 11, 21, 0, 31, 2, 500000, tzinfo=timezone.utc)),
        (
            "2026-11-21T01:31:02.123456789+01:00",
            datetime(2026, 11, 21, 0, 31, 2, 123456, tzinfo=timezone.utc),
        ),
        ("2026-11-20T19:31:02-05:00", datetime(2026, 11, 21, 0, 31, 2, tzinfo=timezone.utc)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed.tzinfo is not None
    assert parsed == expected


@pytest.mark.parametrize("text", ["2026-11-21", "2026-11-21T00:31:02", "yesterday", "2026-13-01T00:00:00Z", ""])
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


def test_format_time_and_microseconds() -> None:
    dt = datetime(2026, 11, 21, 1, 31, 2, 7, tzinfo=timezone(timedelta(hours=1)))
    assert format_time(dt) == "2026-11-21T00:31:02.000007Z"
    with pytest.raises(ValueError, match="naive"):
        format_time(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    assert time_to_us("2026-11-21T00:31:02Z") < time_to_us("2026-11-21T00:31:02.000001Z")
    assert time_to_us("2026-11-21T01:31:02+01:00") == time_to_us("2026-11-21T00:31:02Z")
    assert time_to_us("1970-01-01T00:00:01Z") == 1_000_000
