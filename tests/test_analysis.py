"""pandas analysis: tidy frames with exact columns and dtypes, pairing, durations, costs.

The hand-written logs below are valid wire events (each one validates strictly against the
SDK's types); one test runs a real session on ``nb-agents serve`` and analyses its stored log.
"""

from __future__ import annotations

import doctest
import json
import math
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import nb_agents._prices
import nb_agents.analysis
from nb_agents.analysis import (
    COLORS,
    PRICES,
    ModelPrice,
    estimate_cost,
    events_df,
    model_requests_df,
    price_for,
    sessions_df,
    timeline,
    timeline_frame,
    tool_calls_df,
)
from nb_agents.errors import EventValidationError, NbAgentsError, PrerequisiteError
from nb_agents.events import validate_event, validate_object
from nb_agents.testing import FakeModelServer, text_response, tool_use_response
from tests._server import local_server, raw_events, run_until_idle, setup_agent, user_message

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)
UTC_US = pd.DatetimeTZDtype(unit="us", tz="UTC")
TD_US = "timedelta64[us]"
EVENT_DTYPES = {
    "session_id": "string",
    "seq": "int64",
    "id": "string",
    "type": "string",
    "processed_at": UTC_US,
    "actor": "string",
    "text": "string",
    "tool_name": "string",
    "tool_use_id": "string",
    "is_error": "boolean",
    "stop_reason": "string",
    "error_type": "string",
    "retry_status": "string",
    "input_tokens": "Int64",
    "output_tokens": "Int64",
    "cache_read_input_tokens": "Int64",
    "cache_creation_input_tokens": "Int64",
    "raw": "object",
}
TOOL_DTYPES = {
    "session_id": "string",
    "tool_use_id": "string",
    "name": "string",
    "kind": "string",
    "input": "object",
    "permission": "string",
    "confirmation": "string",
    "outcome": "string",
    "started_at": UTC_US,
    "confirmed_at": UTC_US,
    "finished_at": UTC_US,
    "approval_wait": TD_US,
    "duration": TD_US,
    "is_error": "boolean",
    "output_chars": "Int64",
    "output": "string",
}
REQUEST_DTYPES = {
    "session_id": "string",
    "request_id": "string",
    "started_at": UTC_US,
    "finished_at": UTC_US,
    "latency": TD_US,
    "is_error": "boolean",
    "input_tokens": "Int64",
    "output_tokens": "Int64",
    "cache_read_input_tokens": "Int64",
    "cache_creation_input_tokens": "Int64",
    "model": "string",
    "cost_usd": "float64",
}
SESSION_DTYPES = {
    "id": "string",
    "title": "string",
    "status": "string",
    "agent_id": "string",
    "agent_name": "string",
    "agent_version": "Int64",
    "model": "string",
    "environment_id": "string",
    "created_at": UTC_US,
    "updated_at": UTC_US,
    "archived_at": UTC_US,
    "input_tokens": "Int64",
    "output_tokens": "Int64",
    "cache_read_input_tokens": "Int64",
    "cache_creation_input_tokens": "Int64",
    "active_seconds": "float64",
    "list_cost_usd": "float64",
    "cost_usd": "float64",
}


class Log:
    """Builds a realistic event log: ids ``sevt_<prefix>NN``, timestamps T0 + seconds."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.events: list[dict[str, Any]] = []

    def add(self, type_: str, at: float, **fields: Any) -> str:
        event_id = f"sevt_{self.prefix}{len(self.events) + 1:02d}"
        stamp = (T0 + timedelta(seconds=at)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.events.append({"type": type_, "id": event_id, **fields, "processed_at": stamp})
        return event_id

    def request(self, start: float, end: float, inp: int, out: int, *, error: bool = False, **extra: int) -> str:
        started = self.add("span.model_request_start", start)
        usage = {"input_tokens": inp, "output_tokens": out, "cache_read_input_tokens": 0}
        usage["cache_creation_input_tokens"] = 0
        usage.update(extra)
        self.add("span.model_request_end", end, model_request_start_id=started, is_error=error, model_usage=usage)
        return started


def _text(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}]


def _idle(log: Log, at: float, *, waiting: list[str] | None = None) -> None:
    reason = {"type": "requires_action", "event_ids": waiting} if waiting else {"type": "end_turn"}
    log.add("session.status_idle", at, stop_reason=reason)


def coding_session() -> list[dict[str, Any]]:
    """Approved bash, a retried overload, a denied call, a custom tool, MCP, an interrupt, a running call."""
    log = Log()
    log.add("user.message", 0, content=_text("List the files, then clean up."))
    log.add("session.status_running", 0.01)
    start = log.add("span.model_request_start", 0.02)
    log.add("agent.thinking", 0.5)
    ls = log.add(
        "agent.tool_use",
        1.0,
        name="bash",
        input={"command": "ls"},
        evaluated_permission="ask",
        evaluation={"type": "always_ask"},
    )
    usage = {
        "input_tokens": 1200,
        "output_tokens": 40,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 300,
    }
    log.add("span.model_request_end", 1.1, model_request_start_id=start, is_error=False, model_usage=usage)
    _idle(log, 1.11, waiting=[ls])
    log.add("user.tool_confirmation", 5.0, tool_use_id=ls, result="allow")
    log.add("session.status_running", 5.01)
    log.add("agent.tool_result", 5.5, tool_use_id=ls, content=_text("a.txt\nb.txt"), is_error=False)
    error = {"type": "model_overloaded_error", "message": "Overloaded", "retry_status": {"type": "retrying"}}
    start = log.add("span.model_request_start", 5.6)
    log.add("session.error", 6.0, error=error)
    usage = {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}
    log.add("span.model_request_end", 6.1, model_request_start_id=start, is_error=True, model_usage=usage)
    start = log.add("span.model_request_start", 7.0)
    rm = log.add(
        "agent.tool_use",
        8.0,
        name="bash",
        input={"command": "rm -rf /data"},
        evaluated_permission="ask",
        evaluation={"type": "always_ask"},
    )
    usage = {"input_tokens": 50, "output_tokens": 30, "cache_read_input_tokens": 1300, "cache_creation_input_tokens": 0}
    log.add("span.model_request_end", 8.1, model_request_start_id=start, is_error=False, model_usage=usage)
    _idle(log, 8.11, waiting=[rm])
    log.add("user.tool_confirmation", 9.0, tool_use_id=rm, result="deny", deny_message="not that directory")
    log.add("session.status_running", 9.001)
    denied = "The user denied this tool call: not that directory"
    log.add("agent.tool_result", 9.01, tool_use_id=rm, content=_text(denied), is_error=True)
    start = log.add("span.model_request_start", 9.1)
    price = log.add("agent.custom_tool_use", 10.0, name="lookup_price", input={"sku": "A-1"})
    usage = {"input_tokens": 80, "output_tokens": 20, "cache_read_input_tokens": 1300, "cache_creation_input_tokens": 0}
    log.add("span.model_request_end", 10.1, model_request_start_id=start, is_error=False, model_usage=usage)
    _idle(log, 10.11, waiting=[price])
    log.add("user.custom_tool_result", 12.0, custom_tool_use_id=price, content=_text("42 EUR"))
    log.add("session.status_running", 12.01)
    start = log.add("span.model_request_start", 12.1)
    issues = log.add(
        "agent.mcp_tool_use",
        12.5,
        name="search_issues",
        mcp_server_name="github",
        input={"q": "price"},
        evaluated_permission="allow",
        evaluation={"type": "always_allow"},
    )
    log.add("span.model_request_end", 12.6, model_request_start_id=start, is_error=False, model_usage=usage)
    log.add("agent.mcp_tool_result", 13.0, mcp_tool_use_id=issues, content=_text("#12 price is wrong"), is_error=False)
    start = log.add("span.model_request_start", 13.1)
    sleep = log.add(
        "agent.tool_use",
        14.0,
        name="bash",
        input={"command": "sleep 30"},
        evaluated_permission="allow",
        evaluation={"type": "always_allow"},
    )
    log.add("span.model_request_end", 14.1, model_request_start_id=start, is_error=False, model_usage=usage)
    log.add("user.interrupt", 15.0)
    interrupted = "Interrupted by the user before this tool call finished."
    log.add("agent.tool_result", 15.25, tool_use_id=sleep, content=_text(interrupted), is_error=True)
    _idle(log, 15.3)
    log.add("user.message", 20.0, content=_text("Build it."))
    log.add("session.status_running", 20.01)
    start = log.add("span.model_request_start", 20.1)
    log.add("agent.message", 21.0, content=[*_text("Building."), *_text("This takes a while.")])
    log.add(
        "agent.tool_use",
        21.5,
        name="bash",
        input={"command": "make"},
        evaluated_permission="allow",
        evaluation={"type": "always_allow"},
    )
    log.add("span.model_request_end", 21.6, model_request_start_id=start, is_error=False, model_usage=usage)
    return log.events


def short_session(prefix: str = "b") -> list[dict[str, Any]]:
    """One request that ended, and one still in flight."""
    log = Log(prefix)
    log.add("user.message", 0, content=_text("hi"))
    log.add("session.status_running", 0.01)
    log.request(0.1, 0.6, 100, 10)
    log.add("agent.message", 0.55, content=_text("hello"))
    log.add("span.model_request_start", 1.0)
    return log.events


def session_object(sid: str = "sesn_a", model: str = "claude-sonnet-4-6") -> dict[str, Any]:
    return {
        "id": sid,
        "type": "session",
        "status": "idle",
        "title": "demo",
        "environment_id": "env_1",
        "agent": {"type": "agent", "id": "agent_1", "name": "shell", "version": 3, "model": {"id": model}},
        "usage": {
            "input_tokens": 1300,
            "output_tokens": 70,
            "cache_read_input_tokens": 1300,
            "cache_creation": {"ephemeral_5m_input_tokens": 300, "ephemeral_1h_input_tokens": 10},
            "active_seconds": 12.5,
            "list_cost": {"amount": "2500", "currency": "USD"},
        },
        "stats": {"active_seconds": 12.0},
        "created_at": "2026-11-21T09:00:00Z",
        "updated_at": "2026-11-21T09:00:21.600000Z",
        "archived_at": None,
    }


def at(seconds: float) -> pd.Timestamp:
    return pd.Timestamp(T0 + timedelta(seconds=seconds))


def assert_schema(frame: pd.DataFrame, dtypes: dict[str, Any]) -> None:
    assert list(frame.columns) == list(dtypes)
    for column, dtype in dtypes.items():
        assert frame[column].dtype == dtype, (column, frame[column].dtype, dtype)
        if dtype == "string":
            assert frame[column].dtype.na_value is pd.NA, column


def test_fixture_logs_are_valid_wire_events() -> None:
    for event in coding_session() + short_session():
        validate_event(event)


# ---- events_df -------------------------------------------------------------------------------


def test_events_df_columns_dtypes_and_values() -> None:
    events = coding_session()
    df = events_df(events, session_id="sesn_a")
    assert_schema(df, EVENT_DTYPES)
    assert len(df) == len(events) and df["seq"].tolist() == list(range(len(events)))
    assert (df["session_id"] == "sesn_a").all()
    assert df["id"].tolist() == [e["id"] for e in events]
    assert df.loc[0, "processed_at"] == at(0) and df["processed_at"].is_monotonic_increasing
    assert all(raw is event for raw, event in zip(df["raw"], events, strict=True))
    by_type = df.groupby("type")["actor"].first().to_dict()
    assert by_type["user.tool_confirmation"] == "user" and by_type["span.model_request_end"] == "span"
    assert by_type["session.error"] == "session" and by_type["agent.mcp_tool_use"] == "agent"

    uses = df[df["type"] == "agent.tool_use"]
    assert uses["tool_name"].tolist() == ["bash"] * 4 and (uses["tool_use_id"] == uses["id"]).all()
    results = df[df["type"] == "agent.tool_result"]
    assert results["tool_use_id"].tolist() == uses["id"].tolist()[:3]
    assert results["is_error"].tolist() == [False, True, True]
    assert results["text"].iloc[0] == "a.txt\nb.txt"
    custom = df[df["type"] == "user.custom_tool_result"].iloc[0]
    assert custom["tool_use_id"] == df[df["type"] == "agent.custom_tool_use"]["id"].iloc[0]
    assert custom["text"] == "42 EUR" and custom["is_error"] is pd.NA
    mcp = df[df["type"] == "agent.mcp_tool_result"].iloc[0]
    assert mcp["tool_use_id"] == df[df["type"] == "agent.mcp_tool_use"]["id"].iloc[0]
    deny = df[(df["type"] == "user.tool_confirmation")].iloc[1]
    assert deny["tool_use_id"] == uses["id"].iloc[1] and deny["text"] == "not that directory"
    assert df[df["type"] == "agent.message"]["text"].iloc[0] == "Building.\nThis takes a while."
    assert df[df["type"] == "user.message"]["text"].tolist() == ["List the files, then clean up.", "Build it."]

    idle = df[df["type"] == "session.status_idle"]
    assert idle["stop_reason"].tolist() == ["requires_action"] * 3 + ["end_turn"]
    error = df[df["type"] == "session.error"].iloc[0]
    assert (error["error_type"], error["retry_status"], error["text"]) == (
        "model_overloaded_error",
        "retrying",
        "Overloaded",
    )

    ends = df[df["type"] == "span.model_request_end"]
    assert ends["input_tokens"].tolist() == [1200, 0, 50, 80, 80, 80, 80]
    assert ends["cache_creation_input_tokens"].iloc[0] == 300 and ends["is_error"].tolist()[:2] == [False, True]
    thinking = df[df["type"] == "agent.thinking"].iloc[0]
    assert thinking.drop(["session_id", "seq", "id", "type", "processed_at", "actor", "raw"]).isna().all()
    assert df["input_tokens"].sum() == 1200 + 50 + 80 * 4


def test_events_df_queued_event_odd_timestamps_and_carried_session_id() -> None:
    events = [
        {"type": "user.message", "id": "sevt_1", "content": _text("hi"), "processed_at": None, "session_id": "s1"},
        {"type": "session.status_running", "id": "sevt_2", "processed_at": "2026-11-21T10:00:00.5+01:00"},
        {"type": "agent.thinking", "id": "sevt_3", "processed_at": "2026-11-21T09:00:01Z"},
        {"type": "some.future_event", "id": "sevt_4", "processed_at": "2026-11-21T09:00:02.123456789Z"},
    ]
    df = events_df(events)
    assert_schema(df, EVENT_DTYPES)
    assert df["processed_at"].isna().tolist() == [True, False, False, False]
    assert df.loc[1, "processed_at"] == at(0.5) and df.loc[3, "processed_at"] == at(2.123456)
    assert df["session_id"].tolist() == ["s1", pd.NA, pd.NA, pd.NA]
    assert df["actor"].tolist() == ["user", "session", "agent", "some"]


def test_fast_timestamp_parser_agrees_with_pandas() -> None:
    from nb_agents.analysis._times import epoch_us

    rng = random.Random(5)
    stamps: list[Any] = [
        (datetime(1990, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=rng.randrange(2 * 10**15))).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )
        for _ in range(5000)
    ]
    stamps += ["2028-02-29T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z", "2026-11-21T10:00:00.5+01:00", None]
    stamps += ["2026-11-21T09:00:00Z", datetime(2026, 1, 1, tzinfo=timezone.utc), "2026-11-21T09:00:02.123456789Z"]
    expected = pd.to_datetime(stamps, format="ISO8601", utc=True).as_unit("us").asi8
    assert (epoch_us(stamps) == expected).all()
    junk = ["2027-02-29T00:00:00.000000Z", "2026-13-01T00:00:00.000000Z", "2026-11-21T24:00:00.000000Z", "späť", 7]
    assert pd.isna(pd.to_datetime(epoch_us(junk).view("M8[us]"))).all()


def test_events_df_accepts_sdk_objects() -> None:
    events = coding_session()
    objects = [validate_event(e) for e in events]
    from_objects = events_df(objects, session_id="sesn_a")
    from_dicts = events_df(events, session_id="sesn_a")
    pd.testing.assert_frame_equal(from_objects.drop(columns="raw"), from_dicts.drop(columns="raw"))
    assert from_objects["raw"].iloc[4]["name"] == "bash" and isinstance(from_objects["raw"].iloc[4], dict)
    pd.testing.assert_frame_equal(tool_calls_df(objects), tool_calls_df(events))
    pd.testing.assert_frame_equal(model_requests_df(objects), model_requests_df(events))


def test_events_df_many_blocks_matches_one(monkeypatch: pytest.MonkeyPatch) -> None:
    events = coding_session() * 3
    whole = events_df(events)
    monkeypatch.setattr(nb_agents.analysis._events, "CHUNK", 7)
    pd.testing.assert_frame_equal(events_df(events), whole)


def test_bad_input() -> None:
    with pytest.raises(EventValidationError, match="got int"):
        events_df([coding_session()[0], 3])
    with pytest.raises(TypeError, match="mapping already names"):
        events_df({"s1": []}, session_id="s1")
    with pytest.raises(TypeError, match="single event"):
        tool_calls_df(coding_session()[0])


# ---- tool_calls_df ---------------------------------------------------------------------------


def test_tool_calls_pairing_confirmation_and_durations() -> None:
    events = coding_session()
    df = tool_calls_df(events, session_id="sesn_a")
    assert_schema(df, TOOL_DTYPES)
    ids = {e["id"]: e for e in events}
    assert df["name"].tolist() == ["bash", "bash", "lookup_price", "search_issues", "bash", "bash"]
    assert df["kind"].tolist() == ["builtin", "builtin", "custom", "mcp", "builtin", "builtin"]
    assert all(ids[u]["type"].endswith("tool_use") for u in df["tool_use_id"])
    assert df["input"].iloc[1] == {"command": "rm -rf /data"}
    assert df["permission"].tolist() == ["ask", "ask", pd.NA, "allow", "allow", "allow"]
    assert df["confirmation"].tolist() == ["allow", "deny", pd.NA, pd.NA, pd.NA, pd.NA]
    assert df["confirmed_at"].iloc[0] == at(5.0) and pd.isna(df["confirmed_at"].iloc[2])

    approved, denied, custom, mcp, interrupted, running = (df.iloc[i] for i in range(6))
    assert approved["started_at"] == at(1.0) and approved["finished_at"] == at(5.5)
    # the wait for approval (1.0 -> 5.0) is its own column, not part of the tool's time
    assert approved["approval_wait"] == pd.Timedelta(seconds=4.0)
    assert approved["duration"] == pd.Timedelta(seconds=0.5)
    assert df["outcome"].tolist() == ["ok", "denied", "ok", "ok", "interrupted", "running"]
    assert (approved["is_error"], approved["output"], approved["output_chars"]) == (False, "a.txt\nb.txt", 11)
    assert denied["is_error"] and "not that directory" in denied["output"]
    assert pd.isna(denied["duration"])  # it never ran
    assert denied["approval_wait"] == pd.Timedelta(seconds=1.0)
    assert custom["duration"] == pd.Timedelta(seconds=2) and custom["output"] == "42 EUR"
    assert not custom["is_error"]  # is_error absent on the wire: not an error
    assert mcp["output"] == "#12 price is wrong" and mcp["duration"] == pd.Timedelta(milliseconds=500)
    assert interrupted["is_error"] and interrupted["output"].startswith("Interrupted")
    assert interrupted["duration"] == pd.Timedelta(seconds=1.25)
    assert running["started_at"] == at(21.5)
    assert pd.isna(running["finished_at"]) and pd.isna(running["duration"])
    assert running["is_error"] is pd.NA and running["output"] is pd.NA and running["output_chars"] is pd.NA
    assert df["duration"].sum() == pd.Timedelta(seconds=0.5 + 2 + 0.5 + 1.25)
    assert pd.isna(custom["approval_wait"]) and pd.isna(running["approval_wait"])


def test_tool_calls_ignore_duplicates_and_orphans() -> None:
    events = coding_session()
    echo = dict(events[4])  # the first tool use again, as a stream echo would repeat it
    orphan = {"type": "agent.tool_result", "id": "sevt_x", "tool_use_id": "sevt_gone", "processed_at": None}
    df = tool_calls_df([*events[:5], echo, orphan, *events[5:]])
    assert len(df) == 6 and df["tool_use_id"].is_unique
    queued = [{**e, "processed_at": None} for e in events if e["type"].startswith("user.")]  # stream echoes
    pd.testing.assert_frame_equal(tool_calls_df(queued + events), tool_calls_df(events))


# ---- model_requests_df and prices ------------------------------------------------------------


def test_model_requests_latency_tokens_and_no_model() -> None:
    df = model_requests_df(coding_session(), session_id="sesn_a")
    assert_schema(df, REQUEST_DTYPES)
    assert len(df) == 7
    assert df["latency"].iloc[0] == pd.Timedelta(milliseconds=1080)
    assert df["is_error"].tolist() == [False, True, False, False, False, False, False]
    assert df["input_tokens"].tolist() == [1200, 0, 50, 80, 80, 80, 80]
    assert df["cache_read_input_tokens"].tolist() == [0, 0, 1300, 1300, 1300, 1300, 1300]
    assert df["model"].isna().all() and df["cost_usd"].isna().all()  # no model known: no cost


def test_model_requests_cost_with_custom_price_table() -> None:
    prices = {"acme-large": ModelPrice(input=2.0, output=10.0, cache_write=2.5, cache_read=0.2)}
    df = model_requests_df(coding_session(), model="acme-large-2026-01", prices=prices)
    assert (df["model"] == "acme-large-2026-01").all()
    expected = [
        (1200 * 2.0 + 40 * 10.0 + 300 * 2.5) / 1e6,
        0.0,
        (50 * 2.0 + 30 * 10.0 + 1300 * 0.2) / 1e6,
    ]
    assert df["cost_usd"].tolist()[:3] == pytest.approx(expected, rel=1e-12)
    sonnet = model_requests_df(coding_session(), model="claude-sonnet-4-6")
    assert sonnet["cost_usd"].iloc[0] == pytest.approx((1200 * 3 + 40 * 15 + 300 * 3.75) / 1e6)
    # a caller's entry overrides the built-in one for the same model
    cheap = {"claude-sonnet-4-6": ModelPrice(0, 0, 0, 0)}
    assert model_requests_df(coding_session(), model="claude-sonnet-4-6", prices=cheap)["cost_usd"].sum() == 0


def test_unknown_model_costs_nan() -> None:
    df = model_requests_df(coding_session(), model="claude-opus-5-5")
    assert df["cost_usd"].isna().all() and (df["model"] == "claude-opus-5-5").all()
    assert math.isnan(estimate_cost({"input_tokens": 10}, "claude-haiku-4-5"))


def test_replay_models_cost_nothing() -> None:
    assert estimate_cost({"input_tokens": 10, "output_tokens": 1}, "replay:/tmp/x.jsonl") == 0.0
    df = model_requests_df(coding_session(), model="replay:data/x.jsonl")
    assert (df["cost_usd"] == 0.0).all()


def test_sessions_cost_is_reported_or_estimated() -> None:
    base = {"status": "idle", "environment_id": "env_1", "created_at": "2026-11-21T00:00:00Z"}
    sonnet = {"id": "agent_1", "name": "a", "version": 1, "model": {"id": "claude-sonnet-4-6"}}
    usage = {
        "input_tokens": 1_000_000,
        "output_tokens": 100_000,
        "cache_read_input_tokens": 1_000_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1_000_000, "ephemeral_1h_input_tokens": 0},
    }
    df = sessions_df(
        [
            {**base, "id": "sesn_1", "agent": sonnet, "usage": usage},  # local: no list_cost, estimated
            {
                **base,
                "id": "sesn_2",
                "agent": sonnet,
                "usage": {**usage, "list_cost": {"amount": "250", "currency": "USD"}},
            },
            {**base, "id": "sesn_3", "agent": {**sonnet, "model": {"id": "claude-opus-9"}}, "usage": usage},
        ]
    )
    assert math.isnan(df["list_cost_usd"].iloc[0]) and df["list_cost_usd"].iloc[1] == 2.5
    assert df["cost_usd"].iloc[0] == pytest.approx(3.0 + 1.5 + 0.30 + 3.75)
    assert df["cost_usd"].iloc[1] == 2.5  # the server's figure wins
    assert math.isnan(df["cost_usd"].iloc[2])  # no price: no guess


def test_price_lookup_by_prefix() -> None:
    assert price_for("claude-sonnet-4-6") is PRICES["claude-sonnet-4"]
    assert price_for("claude-sonnet-4-5-20250929") is PRICES["claude-sonnet-4"]
    assert price_for("claude-opus-4-8") is PRICES["claude-opus-4"]
    assert price_for("claude-opus-4-1-20250805") is PRICES["claude-opus-4-1"]
    assert price_for("claude-opus-4-20250514") is PRICES["claude-opus-4-20250514"]
    assert price_for("claude-haiku-4-5") is PRICES["claude-haiku-4-5"]
    assert price_for("claude-sonnet-45") is None and price_for(None) is None and price_for("claude") is None
    assert estimate_cost({"input_tokens": 1_000_000, "output_tokens": 0}, "claude-haiku-4-5") == 1.0


def test_model_from_session_object_and_session_updated() -> None:
    events = coding_session()
    df = model_requests_df(events, session=session_object())
    assert (df["model"] == "claude-sonnet-4-6").all()
    change = {
        "type": "session.updated",
        "id": "sevt_upd",
        "processed_at": events[20]["processed_at"],
        "agent": {"model": {"id": "claude-haiku-4-5"}},
    }
    df = model_requests_df([*events[:21], change, *events[21:]], session=session_object())
    first_after = sum(e["type"] == "span.model_request_start" for e in events[:21])
    assert df["model"].tolist() == ["claude-sonnet-4-6"] * first_after + ["claude-haiku-4-5"] * (7 - first_after)
    assert df["cost_usd"].notna().all()
    # an explicit model= wins over both
    assert (
        model_requests_df(events, session=session_object(), model="claude-opus-4-7")["model"] == "claude-opus-4-7"
    ).all()


def test_in_flight_request_is_kept() -> None:
    df = model_requests_df(short_session(), model="claude-haiku-4-5")
    assert len(df) == 2
    done, flying = df.iloc[0], df.iloc[1]
    assert done["latency"] == pd.Timedelta(milliseconds=500) and done["cost_usd"] == pytest.approx(150 / 1e6)
    assert pd.isna(flying["finished_at"]) and pd.isna(flying["latency"]) and flying["input_tokens"] is pd.NA
    assert flying["is_error"] is pd.NA and math.isnan(flying["cost_usd"])


# ---- many sessions, empty input ----------------------------------------------------------------


def test_many_sessions_at_once_and_concat() -> None:
    logs = {"sesn_a": coding_session(), "sesn_b": short_session()}
    df = events_df(logs)
    assert_schema(df, EVENT_DTYPES)
    assert df.groupby("session_id")["seq"].max().to_dict() == {"sesn_a": len(logs["sesn_a"]) - 1, "sesn_b": 5}
    concatenated = pd.concat([events_df(evs, session_id=sid) for sid, evs in logs.items()], ignore_index=True)
    pd.testing.assert_frame_equal(df, concatenated)
    calls = tool_calls_df(logs)
    assert_schema(calls, TOOL_DTYPES)
    assert calls["session_id"].value_counts().to_dict() == {"sesn_a": 6}
    requests = model_requests_df(logs, model={"sesn_a": "claude-sonnet-4-6"})
    assert_schema(requests, REQUEST_DTYPES)
    assert requests.groupby("session_id").size().to_dict() == {"sesn_a": 7, "sesn_b": 2}
    per_session = requests.groupby("session_id")["model"].first()
    assert per_session["sesn_a"] == "claude-sonnet-4-6" and pd.isna(per_session["sesn_b"])
    by_session_object = model_requests_df(logs, session=[session_object("sesn_a"), session_object("sesn_b", "x")])
    assert by_session_object.groupby("session_id")["model"].first().to_dict() == {
        "sesn_a": "claude-sonnet-4-6",
        "sesn_b": "x",
    }
    stacked = pd.concat([tool_calls_df(logs["sesn_a"], session_id="sesn_a"), tool_calls_df([], session_id="x")])
    assert_schema(stacked, TOOL_DTYPES)


@pytest.mark.parametrize("empty", [[], {}, {"sesn_a": []}, iter(())])
def test_empty_input_gives_typed_empty_frames(empty: Any) -> None:
    items = list(empty) if not isinstance(empty, dict) else empty
    for producer, dtypes in (
        (events_df, EVENT_DTYPES),
        (tool_calls_df, TOOL_DTYPES),
        (model_requests_df, REQUEST_DTYPES),
    ):
        frame = producer(items)
        assert frame.empty
        assert_schema(frame, dtypes)
    assert_schema(sessions_df([]), SESSION_DTYPES)


def test_log_without_tool_calls_or_requests() -> None:
    events = [e for e in short_session() if e["type"] in ("user.message", "session.status_running")]
    assert_schema(tool_calls_df(events), TOOL_DTYPES)
    assert_schema(model_requests_df(events), REQUEST_DTYPES)
    assert len(tool_calls_df(events)) == len(model_requests_df(events)) == 0


# ---- sessions_df -----------------------------------------------------------------------------


def test_sessions_df() -> None:
    bare = {
        "id": "sesn_b",
        "type": "session",
        "status": "running",
        "agent": {"id": "agent_2", "name": "x", "version": 1, "model": "claude-haiku-4-5"},
        "environment_id": "env_1",
        "title": None,
        "usage": {},
        "stats": {},
        "created_at": "2026-11-21T09:00:00Z",
        "updated_at": "2026-11-21T09:00:00Z",
        "archived_at": "2026-11-21T10:00:00.250000Z",
    }
    df = sessions_df([session_object(), bare])
    assert_schema(df, SESSION_DTYPES)
    first, second = df.iloc[0], df.iloc[1]
    assert (first["agent_name"], first["agent_version"], first["model"]) == ("shell", 3, "claude-sonnet-4-6")
    assert first["cache_creation_input_tokens"] == 310 and first["active_seconds"] == 12.5
    assert first["list_cost_usd"] == 25.0 and pd.isna(first["archived_at"])
    assert first["updated_at"] == at(21.6)
    assert second["model"] == "claude-haiku-4-5" and second["title"] is pd.NA
    assert second["input_tokens"] is pd.NA and math.isnan(second["active_seconds"])
    assert second["archived_at"] == at(3600.25)


# ---- timeline --------------------------------------------------------------------------------


def test_timeline_frame() -> None:
    bars = timeline_frame({"sesn_a": coding_session(), "sesn_b": short_session()}, model="claude-sonnet-4-6")
    assert len(bars) == 7 + 2 + 5 + 2  # requests; 2 approval waits; 5 tool runs (not the denied one); sesn_b
    assert set(bars["row"]) == {
        "sesn_a model", "sesn_a bash", "sesn_a lookup_price", "sesn_a search_issues", "sesn_b model"
    }  # fmt: skip
    assert bars["start"].is_monotonic_increasing
    categories = bars.groupby("category").size().to_dict()
    assert categories == {
        "model request": 7, "approval wait": 1, "denied": 1, "tool call": 3, "interrupted": 1, "error": 1, "running": 2
    }  # fmt: skip
    flying = bars[(bars["session_id"] == "sesn_b") & (bars["category"] == "running")].iloc[0]
    assert flying["detail"] == "no usage yet" and flying["duration"] == pd.Timedelta(0)
    running = bars[bars["category"] == "running"]
    assert running.set_index("session_id")["finish"].to_dict() == {"sesn_a": at(21.6), "sesn_b": at(1.0)}
    # the approved call: its wait (1.0 -> 5.0) and its own time (5.0 -> 5.5) are two bars
    ls = bars[bars["detail"].str.startswith("ls\n")]
    assert ls["category"].tolist() == ["approval wait", "tool call"]
    assert ls["duration"].tolist() == [pd.Timedelta(seconds=4), pd.Timedelta(seconds=0.5)]
    assert bars[bars["category"] == "denied"]["detail"].iloc[0] == "rm -rf /data\ndenied: it never ran"


def test_timeline_figure() -> None:
    pytest.importorskip("plotly")
    figure = timeline(coding_session(), session_id="sesn_a", model="claude-sonnet-4-6", title="demo")
    assert figure.layout.title.text == "demo"
    names = {trace.name for trace in figure.data}
    assert names == {"model request", "tool call", "approval wait", "denied", "interrupted", "error", "running"}
    assert sum(len(trace.x) for trace in figure.data) == 14
    assert {trace.marker.color for trace in figure.data} == {COLORS[name] for name in names}  # the view's colours
    assert set(figure.data[0].y) <= {"model", "bash", "lookup_price", "search_issues"}  # one lane per tool
    hover = figure.data[0].hovertemplate
    assert hover.startswith("<b>%{customdata[0]}</b> · %{customdata[1]}<br>%{customdata[2]}")
    hovers = [row[2] for trace in figure.data for row in trace.customdata]
    assert "1,200 in · 40 out · 0 cache read<br>est. $0.0053" in hovers  # formatted, no raw dict, no "\\n"
    assert all("\n" not in text and "{'" not in text for text in hovers)
    assert figure.layout.paper_bgcolor == "rgba(0,0,0,0)" and figure.layout.plot_bgcolor == "rgba(0,0,0,0)"
    assert "est. $" in figure.to_json()  # serialisable


def test_timeline_without_plotly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.express", None)
    with pytest.raises(PrerequisiteError, match="pip install plotly"):
        timeline(coding_session())


# ---- the package -----------------------------------------------------------------------------


def test_public_names_and_docs() -> None:
    pkg = nb_agents.analysis
    assert pkg.__all__ == sorted(pkg.__all__)
    public = {name for name in vars(pkg) if not name.startswith("_") and name != "annotations"}
    assert public == set(pkg.__all__)
    modules = (
        pkg._columns,
        pkg._events,
        nb_agents._prices,
        pkg._requests,
        pkg._sessions,
        pkg._timeline,
        pkg._times,
        pkg._tools,
    )
    for module in modules:
        failures, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert failures == 0, module.__name__


def test_import_does_not_load_pandas() -> None:
    code = "import sys, nb_agents, nb_agents.analysis; print(sorted({'pandas', 'numpy', 'plotly'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---- a real session --------------------------------------------------------------------------


def test_real_session_log(tmp_path: Path) -> None:
    script = [
        tool_use_response([("bash", {"command": "echo hello from the sandbox"})]),
        text_response("It said hello."),
    ]
    with FakeModelServer(script) as model, local_server(tmp_path, model.base_url) as srv:
        client = srv.client()
        agent_id, env_id = setup_agent(client)
        session = client.beta.sessions.create(agent=agent_id, environment_id=env_id, title="analysis")
        run_until_idle(client, session.id, [user_message("say hello")])
        events = raw_events(srv, session.id)
        wire_session = srv.raw("GET", f"/v1/sessions/{session.id}").json()
        sdk_session = client.beta.sessions.retrieve(session.id)
        validate_object(type(sdk_session), wire_session)
        sdk_events = list(client.beta.sessions.events.list(session.id, limit=3))  # SDK objects, 3 per page
    pd.testing.assert_frame_equal(tool_calls_df(sdk_events), tool_calls_df(events))
    pd.testing.assert_frame_equal(sessions_df([sdk_session]), sessions_df([wire_session]))

    calls = tool_calls_df(events, session_id=session.id)
    assert_schema(calls, TOOL_DTYPES)
    assert len(calls) == 1
    call = calls.iloc[0]
    use = next(e for e in events if e["type"] == "agent.tool_use")
    assert (call["session_id"], call["tool_use_id"], call["name"], call["kind"]) == (
        session.id,
        use["id"],
        "bash",
        "builtin",
    )
    assert call["input"] == {"command": "echo hello from the sandbox"} and call["permission"] == "allow"
    assert call["confirmation"] is pd.NA and not call["is_error"]
    assert "hello from the sandbox" in call["output"] and call["output_chars"] == len(call["output"])
    assert pd.Timedelta(0) <= call["duration"] < pd.Timedelta(seconds=30)

    requests = model_requests_df(events, session_id=session.id, session=wire_session)
    assert len(requests) == 2 and (requests["model"] == "claude-sonnet-4-6").all()
    assert (requests["input_tokens"] > 0).all() and (requests["cost_usd"] > 0).all()
    assert requests["input_tokens"].sum() == wire_session["usage"]["input_tokens"]
    frame = events_df(events, session_id=session.id)
    assert frame["type"].tolist() == [e["type"] for e in events]
    summary = sessions_df([wire_session]).iloc[0]
    assert summary["id"] == session.id and summary["input_tokens"] == wire_session["usage"]["input_tokens"]


# ---- a real session: the approval wait apart, export -> load --------------------------------------

_REPLAY = [
    {"response": {"content": [{"type": "tool_use", "name": "bash", "input": {"command": "echo hello"}}],
                  "usage": {"input_tokens": 1200, "output_tokens": 40}}},
    {"response": {"content": "Done.\n\n| word | count |\n|---|--:|\n| hello | 1 |\n\n<script>window.x=1</script>",
                  "usage": {"input_tokens": 1300, "output_tokens": 30}}},
]  # fmt: skip


def test_real_session_times_export_and_load(
    runtime_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import nb_agents

    monkeypatch.setenv("NB_AGENTS_SANDBOX", "process")
    replay = tmp_path / "replay.jsonl"
    replay.write_text("\n".join(json.dumps(line) for line in _REPLAY) + "\n")
    agent = nb_agents.Agent.define(
        {
            "name": "timed",
            "model": f"replay:{replay}",
            "system": "Be brief.",
            "tools": ["bash"],
            "permissions": {"bash": "always_ask"},
        }
    )
    session = nb_agents.Session.start(agent, "Say hello", title="timed")
    try:
        assert (session.system, session.tool_names) == ("Be brief.", ["bash"])  # what each request carries
        assert session.wait(timeout=60)["type"] == "requires_action"
        time.sleep(1.5)  # the user reads the command before approving it
        session.confirm(session.pending[0]["id"])
        assert session.wait(timeout=60)["type"] == "end_turn"

        calls = session.tool_calls_df()
        call = calls.iloc[0]
        assert call["outcome"] == "ok" and call["confirmation"] == "allow"
        assert call["approval_wait"] >= pd.Timedelta(seconds=1.5)
        assert call["duration"] < pd.Timedelta(seconds=1.5)  # the wait is not the tool's time
        assert call["finished_at"] - call["started_at"] == call["approval_wait"] + call["duration"]
        assert session.model_requests_df()["input_tokens"].tolist() == [1200, 1300]
        assert session.estimated_cost() == 0.0  # a replay model costs nothing

        jsonl = session.export(tmp_path / "run.jsonl")
        page = session.export(tmp_path / "run.html").read_text()
        saved = nb_agents.load(jsonl)
        assert (saved.id, saved.title, saved.model) == (session.id, "timed", f"replay:{replay}")
        pd.testing.assert_frame_equal(saved.events_df(), session.events_df())
        pd.testing.assert_frame_equal(saved.tool_calls_df(), calls)
        pd.testing.assert_frame_equal(saved.model_requests_df(), session.model_requests_df())
        assert saved.timeline() is not None

        assert page.startswith("<!doctype html>") and session.id in page
        assert "<td>hello</td>" in page and "echo hello" in page  # the answer's table, the command
        assert "<script" not in page.replace("&lt;script", "")  # the agent's tag is text, never a script
        assert "waited" in page and "for approval" in page
    finally:
        session.close()


def test_load_says_what_is_wrong(tmp_path: Path) -> None:
    import nb_agents

    with pytest.raises(NbAgentsError, match="cannot read it"):
        nb_agents.load(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "user.message"}\nnot json\n')
    with pytest.raises(NbAgentsError, match="line 2 is not JSON"):
        nb_agents.load(bad)
    bare = tmp_path / "bare.jsonl"
    bare.write_text(json.dumps({"type": "agent.message", "id": "sevt_1", "session_id": "sesn_9", "content": []}) + "\n")
    saved = nb_agents.load(bare)
    assert saved.id == "sesn_9" and len(saved.events_df()) == 1
    with pytest.raises(NbAgentsError, match=r"\.jsonl file .* \.html file"):
        saved.export(tmp_path / "run.csv")
