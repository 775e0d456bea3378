"""The brain: MessagesBrain against the fake model server, ReplayBrain, RecordingBrain.

Every test talks only to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Coroutine
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import anthropic
import pytest

import nb_agents.runtime.brain as brain_pkg
import nb_agents.testing as testing_pkg
from nb_agents.errors import BrainError, ReplayError
from nb_agents.runtime.brain import (
    MessagesBrain,
    ModelCallError,
    ModelError,
    ModelRequest,
    RecordingBrain,
    ReplayBrain,
    RetryPolicy,
    append_response,
    brain_for,
    load_replay,
)
from nb_agents.testing import FakeModelServer, message_events, text_response, tool_use_response

T = TypeVar("T")
FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002)
TOOLS = [{"name": "bash", "description": "Run a command", "input_schema": {"type": "object"}}]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def ask(brain: Any, req: ModelRequest, **callbacks: Any) -> dict[str, Any]:
    """One ``complete`` in a fresh event loop, closing the brain (its HTTP pool) before the loop ends."""

    async def go() -> dict[str, Any]:
        try:
            result: dict[str, Any] = await brain.complete(req, **callbacks)
            return result
        finally:
            await brain.aclose()

    return run(go())


def request(*turns: dict[str, Any], model: str = "claude-sonnet-4-6") -> ModelRequest:
    messages = [{"role": "user", "content": "List the files."}, *turns]
    return ModelRequest(model=model, system="You are terse.", messages=messages, tools=TOOLS)


def after(response: dict[str, Any], tool_result: str = "ok") -> list[dict[str, Any]]:
    """The assistant turn and the user turn that answers its tool calls."""
    results = [
        {"type": "tool_result", "tool_use_id": b["id"], "content": tool_result}
        for b in response["content"]
        if b["type"] == "tool_use"
    ]
    return [{"role": "assistant", "content": response["content"]}, {"role": "user", "content": results}]


def messages_brain(srv: FakeModelServer, retry: RetryPolicy = FAST, idle_timeout: float = 30.0) -> MessagesBrain:
    return MessagesBrain(base_url=srv.base_url, api_key="sk-test", retry=retry, idle_timeout=idle_timeout)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing may reach a real endpoint: the default base URL is a dead loopback port."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-default")
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)


@pytest.mark.parametrize("pkg", [brain_pkg, testing_pkg])
def test_public_names(pkg: Any) -> None:
    public = {
        name
        for name, value in vars(pkg).items()
        if not name.startswith("_") and not isinstance(value, ModuleType) and name != "annotations"
    }
    assert public == set(pkg.__all__) and len(pkg.__all__) == len(public)


# -- the fake server speaks the Messages API, as the real SDK parses it ---------------------------


def test_fake_server_streams_what_the_sdk_parses() -> None:
    answer = tool_use_response([("bash", {"command": "ls -la"}), ("read", {})], text="Looking.", thinking="hm")

    async def go(base_url: str) -> tuple[anthropic.types.Message, anthropic.types.Message]:
        client = anthropic.AsyncAnthropic(base_url=base_url, api_key="sk-test", max_retries=0)
        params: dict[str, Any] = {
            "model": "m",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "x"}],
        }
        async with client.messages.stream(**params) as stream:
            streamed = await stream.get_final_message()
        plain = await client.messages.create(**params)
        await client.close()
        return streamed, plain

    with FakeModelServer([answer, answer], chunk_size=3) as srv:
        streamed, plain = run(go(srv.base_url))
    for message in (streamed, plain):
        data = message.to_dict()
        assert data["content"] == answer["content"]
        assert data["stop_reason"] == "tool_use" and data["usage"] == answer["usage"]
    assert [r.body.get("stream") for r in srv.requests] == [True, None]


def test_sse_events_are_well_formed() -> None:
    names = [name for name, _ in message_events(text_response("hello world", thinking="t"), chunk_size=4)]
    assert names[:2] == ["message_start", "ping"] and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_start") == names.count("content_block_stop") == 2


def test_fake_server_script_forms() -> None:
    seen: list[str] = []

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        seen.append(body["model"])
        return text_response(f"you asked {body['model']}")

    async def go(srv: FakeModelServer) -> list[str]:
        brain = messages_brain(srv)
        out = []
        for model in ("a", "b"):
            r = await brain.complete(ModelRequest(model=model, system=None, messages=[], tools=[]))
            out.append(r["content"][0]["text"])
        await brain.aclose()
        return out

    with FakeModelServer(answer) as srv:
        assert run(go(srv)) == ["you asked a", "you asked b"]
    assert seen == ["a", "b"]
    with FakeModelServer([lambda body: text_response("dynamic")]) as srv:
        srv.push(text_response("pushed"))
        assert run(go(srv)) == ["dynamic", "pushed"] and srv.remaining == 0


def test_fake_server_latency_and_step_delay() -> None:
    with FakeModelServer([{"delay_ms": 150, **text_response("slow")}], latency_ms=100) as srv:
        started = time.monotonic()
        result = ask(messages_brain(srv), request())
        assert time.monotonic() - started >= 0.24
    assert result["content"][0]["text"] == "slow" and "delay_ms" not in result


def test_fake_server_exhausted_script_fails_loudly() -> None:
    with FakeModelServer([]) as srv, pytest.raises(ModelCallError, match="script exhausted") as info:
        ask(messages_brain(srv), request())
    assert info.value.status_code == 400 and len(srv.requests) == 1


# -- MessagesBrain --------------------------------------------------------------------------------


def test_text_answer_and_what_was_sent() -> None:
    with FakeModelServer([text_response("Three files.")]) as srv:
        result = ask(messages_brain(srv), request())
    assert result["type"] == "message" and result["role"] == "assistant"
    assert result["content"] == [{"type": "text", "text": "Three files."}]
    assert result["stop_reason"] == "end_turn" and result["model"] == "claude-sonnet-4-6"
    assert set(result["usage"]) >= {
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    }
    (sent,) = srv.requests
    assert sent.body["stream"] is True and sent.body["system"] == "You are terse."
    assert sent.body["messages"] == request().messages and sent.body["tools"] == TOOLS
    assert sent.body["max_tokens"] == 8192 and "thinking" not in sent.body


def test_several_tool_uses_and_thinking() -> None:
    answer = tool_use_response(
        [("bash", {"command": "ls"}), ("read", {"file_path": "/workspace/a.csv", "limit": 5})],
        text="Let me look.",
        thinking="The user wants files.",
    )
    thinking = {"type": "enabled", "budget_tokens": 1024}
    req = ModelRequest("claude-sonnet-4-6", None, [{"role": "user", "content": "x"}], TOOLS, thinking=thinking)
    with FakeModelServer([answer]) as srv:
        result = ask(messages_brain(srv), req)
    assert [b["type"] for b in result["content"]] == ["thinking", "text", "tool_use", "tool_use"]
    assert result["content"] == answer["content"] and result["stop_reason"] == "tool_use"
    ids = [b["id"] for b in result["content"] if b["type"] == "tool_use"]
    assert len(set(ids)) == 2 and all(i.startswith("toolu_") for i in ids)
    assert srv.requests[0].body["thinking"] == thinking and "system" not in srv.requests[0].body


def test_on_text_streams_deltas() -> None:
    fragments: list[tuple[int, str]] = []
    answer = text_response("A longer answer, in pieces.", thinking="first think")
    with FakeModelServer([answer], chunk_size=4) as srv:
        ask(messages_brain(srv), request(), on_text=lambda i, t: fragments.append((i, t)))
    assert len(fragments) > 3 and {i for i, _ in fragments} == {1}
    assert "".join(t for _, t in fragments) == "A longer answer, in pieces."


def test_overloaded_then_success() -> None:
    errors: list[ModelError] = []
    with FakeModelServer([{"fault": "overloaded"}, text_response("ok")]) as srv:
        result = ask(messages_brain(srv), request(), on_error=errors.append)
    assert result["content"][0]["text"] == "ok" and len(srv.requests) == 2
    (error,) = errors
    assert error.error_type == "model_overloaded_error" and error.attempt == 1 and error.will_retry
    assert "529" in error.message


def test_retries_exhausted() -> None:
    errors: list[ModelError] = []
    with FakeModelServer([{"fault": "overloaded"}] * 3) as srv, pytest.raises(ModelCallError) as info:
        ask(messages_brain(srv), request(), on_error=errors.append)
    exc = info.value
    assert isinstance(exc, BrainError) and exc.error_type == "model_overloaded_error"
    assert exc.attempts == 3 and exc.status_code == 529 and exc.retryable
    assert [(e.attempt, e.will_retry) for e in errors] == [(1, True), (2, True), (3, False)]
    assert isinstance(exc.__cause__, anthropic.APIStatusError)


def test_rate_limited_honours_retry_after() -> None:
    errors: list[ModelError] = []
    script = [{"fault": "rate_limited", "retry_after": 0.3}, text_response("ok")]
    with FakeModelServer(script) as srv:
        started = time.monotonic()
        result = ask(messages_brain(srv), request(), on_error=errors.append)
        elapsed = time.monotonic() - started
    assert result["content"][0]["text"] == "ok" and elapsed >= 0.29
    assert [e.error_type for e in errors] == ["model_rate_limited_error"]


@pytest.mark.parametrize(
    "fault",
    [
        {"fault": "server_error"},
        {"fault": "error", "status": 503, "error_type": "api_error"},
        {"fault": "stream_error", "error_type": "api_error"},
        {"fault": "truncate", "after_events": 5},
    ],
)
def test_request_failures_are_retried(fault: dict[str, Any]) -> None:
    errors: list[ModelError] = []
    with FakeModelServer([fault, text_response("ok")]) as srv:
        result = ask(messages_brain(srv), request(), on_error=errors.append)
    assert result["content"] == [{"type": "text", "text": "ok"}]
    assert [(e.error_type, e.will_retry) for e in errors] == [("model_request_failed_error", True)]


def test_error_event_in_stream_maps_to_its_type() -> None:
    errors: list[ModelError] = []
    with FakeModelServer([{"fault": "stream_error", "error_type": "overloaded_error"}, text_response("ok")]) as srv:
        ask(messages_brain(srv), request(), on_error=errors.append)
    assert [e.error_type for e in errors] == ["model_overloaded_error"]


def test_broken_stream_then_success() -> None:
    fragments: list[str] = []
    errors: list[ModelError] = []

    def on_error(error: ModelError) -> None:
        errors.append(error)
        fragments.clear()  # what a live preview does: the retry streams from the start

    cut = {"fault": "break", "response": text_response("The first try gets cut"), "after_events": 5}
    with FakeModelServer([cut, text_response("The whole answer.")], chunk_size=5) as srv:
        result = ask(messages_brain(srv), request(), on_text=lambda i, t: fragments.append(t), on_error=on_error)
    assert result["content"] == [{"type": "text", "text": "The whole answer."}]
    assert "".join(fragments) == "The whole answer."
    assert len(errors) == 1 and errors[0].will_retry and "broke off" in errors[0].message


@pytest.mark.parametrize("after_events", [0, 5], ids=["no-first-byte", "mid-stream"])
def test_stalled_stream_is_abandoned_and_retried(after_events: int) -> None:
    errors: list[ModelError] = []
    stall = {"fault": "stall", "response": text_response("This one stops"), "after_events": after_events}
    with FakeModelServer([stall, text_response("Second try.")], chunk_size=4) as srv:
        started = time.monotonic()
        result = ask(messages_brain(srv, idle_timeout=0.5), request(), on_error=errors.append)
        elapsed = time.monotonic() - started
        deadline = time.monotonic() + 2
        while srv.disconnects == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert srv.disconnects == 1  # the stalled HTTP stream was closed, not left open
    assert result["content"] == [{"type": "text", "text": "Second try."}]
    assert 0.5 <= elapsed < 5
    assert [(e.error_type, e.will_retry) for e in errors] == [("model_request_failed_error", True)]
    assert "stopped answering" in errors[0].message and "0.5 s" in errors[0].message


def test_a_hung_request_is_abandoned_after_the_idle_timeout() -> None:
    errors: list[ModelError] = []
    with FakeModelServer([{"fault": "hang"}] * 3) as srv, pytest.raises(ModelCallError) as info:
        ask(messages_brain(srv, idle_timeout=0.3), request(), on_error=errors.append)
    assert info.value.attempts == 3 and info.value.retryable and len(srv.requests) == 3
    assert [e.will_retry for e in errors] == [True, True, False]


def test_malformed_stream_is_a_retryable_model_error() -> None:
    errors: list[ModelError] = []
    with FakeModelServer([{"fault": "malformed"}, text_response("Clean.")]) as srv:
        result = ask(messages_brain(srv), request(), on_error=errors.append)
    assert result["content"] == [{"type": "text", "text": "Clean."}]
    assert [(e.error_type, e.will_retry) for e in errors] == [("model_request_failed_error", True)]
    assert "malformed" in errors[0].message


def test_idle_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="idle_timeout"):
        MessagesBrain(api_key="k", idle_timeout=0)


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_not_retried(status: int) -> None:
    errors: list[ModelError] = []
    fault = {"fault": "error", "status": status, "error_type": "invalid_request_error", "message": "no"}
    with FakeModelServer([fault, text_response("never")]) as srv, pytest.raises(ModelCallError) as info:
        ask(messages_brain(srv), request(), on_error=errors.append)
    assert info.value.status_code == status and info.value.attempts == 1 and not info.value.retryable
    assert info.value.error_type == "model_request_failed_error"
    assert [e.will_retry for e in errors] == [False] and len(srv.requests) == 1


def test_connection_refused_is_retried() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    errors: list[ModelError] = []
    brain = MessagesBrain(base_url=f"http://127.0.0.1:{port}", api_key="k", retry=FAST)
    with pytest.raises(ModelCallError) as info:
        ask(brain, request(), on_error=errors.append)
    assert info.value.attempts == 3 and info.value.error_type == "model_request_failed_error"
    assert [e.will_retry for e in errors] == [True, True, False]


def test_cancel_during_hang_is_prompt() -> None:
    async def go(srv: FakeModelServer) -> float:
        brain = messages_brain(srv)
        task = asyncio.create_task(brain.complete(request()))
        await asyncio.sleep(0.3)
        assert len(srv.requests) == 1 and not task.done()
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        elapsed = time.monotonic() - started
        await brain.aclose()
        return elapsed

    with FakeModelServer([{"fault": "hang"}]) as srv:
        assert run(go(srv)) < 1.0
        deadline = time.monotonic() + 2
        while srv.disconnects == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert srv.disconnects == 1  # the HTTP stream was closed, not left behind


def test_cancel_during_retry_backoff() -> None:
    async def go(srv: FakeModelServer) -> float:
        slow = RetryPolicy(max_attempts=5, base_delay=30, max_delay=30)
        brain = messages_brain(srv, slow)
        task = asyncio.create_task(brain.complete(request()))
        while not srv.requests:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        elapsed = time.monotonic() - started
        await brain.aclose()
        return elapsed

    with FakeModelServer([{"fault": "overloaded"}]) as srv:
        assert run(go(srv)) < 1.0


def test_env_base_url_and_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeModelServer([text_response("from env")], api_key="sk-env-key") as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env-key")
        brain = brain_for("claude-sonnet-4-6", retry=FAST)
        assert isinstance(brain, MessagesBrain)
        result = ask(brain, request())
    assert result["content"][0]["text"] == "from env"
    headers = srv.requests[0].headers
    assert "sk-env-key" in (
        headers.get("x-api-key"),
        headers.get("authorization", "").removeprefix("Bearer "),
    )


def test_wrong_api_key_is_not_retried() -> None:
    with (
        FakeModelServer([text_response("no")], api_key="right") as srv,
        pytest.raises(ModelCallError) as info,
    ):
        ask(MessagesBrain(base_url=srv.base_url, api_key="wrong", retry=FAST), request())
    assert info.value.status_code == 401 and len(srv.requests) == 1


def test_missing_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("HOME", str(tmp_path))
    errors: list[ModelError] = []
    with FakeModelServer([text_response("never asked")]) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        with pytest.raises(ModelCallError, match="ANTHROPIC_API_KEY") as info:
            ask(brain_for("claude-sonnet-4-6", retry=FAST), request(), on_error=errors.append)
        assert srv.requests == []  # found out before asking, not from the SDK's wording
    assert info.value.attempts == 1 and [e.will_retry for e in errors] == [False]


def test_retry_policy_delays() -> None:
    policy = RetryPolicy()
    assert all(0.25 <= policy.delay(1) <= 0.5 for _ in range(50))
    assert all(4.0 <= policy.delay(20) <= 8.0 for _ in range(50))
    assert policy.delay(3, retry_after=2.5) == 2.5 and policy.delay(1, retry_after=600) == 60.0


# -- ReplayBrain ----------------------------------------------------------------------------------


def write_lines(path: Path, *lines: Any) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


@pytest.fixture
def replay_file(tmp_path: Path) -> Path:
    first = tool_use_response([("bash", {"command": "ls"})], text="Looking.")
    return write_lines(
        tmp_path / "demo.jsonl",
        "# a demo session",
        first,
        "",
        {"delay_ms": 0, "note": "hand-written", "response": {"content": "Two files: a.csv and b.csv."}},
        {"content": [{"type": "tool_use", "name": "read", "input": {"file_path": "a.csv"}}]},
    )


def test_replay_answers_by_assistant_turns(replay_file: Path) -> None:
    brain = brain_for(f"replay:{replay_file}")
    assert isinstance(brain, ReplayBrain) and len(load_replay(replay_file)) == 3
    first = ask(brain, request())
    assert first == json.loads(replay_file.read_text().splitlines()[1])
    second = ask(brain, request(*after(first)))
    assert second["content"] == [{"type": "text", "text": "Two files: a.csv and b.csv."}]
    assert second["stop_reason"] == "end_turn" and second["role"] == "assistant"
    assert second["usage"] == dict.fromkeys(
        ["input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"], 0
    )
    turns = [
        *after(first),
        {"role": "assistant", "content": second["content"]},
        {"role": "user", "content": "go"},
    ]
    third = ask(brain, request(*turns))
    assert third["stop_reason"] == "tool_use" and third["content"][0]["id"] == "toolu_replay_002_0"
    # no state: a fresh instance (a restarted runtime) answers the same turn the same way
    assert ask(ReplayBrain(replay_file), request(*after(first))) == second


def test_replay_streams_text_in_chunks_and_waits(tmp_path: Path) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    path = write_lines(tmp_path / "r.jsonl", {"delay_ms": 300, "response": text_response(text, thinking="t")})
    fragments: list[tuple[int, str]] = []
    started = time.monotonic()
    ask(ReplayBrain(path), request(), on_text=lambda i, t: fragments.append((i, t)))
    assert time.monotonic() - started >= 0.28
    assert len(fragments) == 4 and {i for i, _ in fragments} == {1}
    assert "".join(t for _, t in fragments) == text


def test_replay_can_be_cancelled(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "slow.jsonl", {"delay_ms": 60_000, "response": text_response("late")})

    async def go() -> float:
        task = asyncio.create_task(ReplayBrain(path).complete(request()))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert run(go()) < 0.5


def test_replay_exhausted(replay_file: Path) -> None:
    errors: list[ModelError] = []
    turns = [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}] * 3
    with pytest.raises(ReplayError) as info:
        ask(ReplayBrain(replay_file), request(*turns), on_error=errors.append)
    message = str(info.value)
    assert str(replay_file) in message and "model request 4" in message and "3 response(s)" in message
    assert [(e.error_type, e.will_retry) for e in errors] == [("model_request_failed_error", False)]


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ({"role": "user", "content": "x"}, "not an assistant Message"),
        ({"stop_reason": "end_turn"}, "no 'content' list"),
        ({"content": [{"text": "x"}]}, "content[0]"),
        ({"content": [{"type": "tool_use", "input": {}}]}, "tool_use block"),
        ({"response": {"content": "x"}, "dealy_ms": 5}, "unknown key"),
        ({"response": {"content": "x"}, "delay_ms": -1}, "delay_ms"),
    ],
)
def test_replay_malformed_line(tmp_path: Path, bad: Any, why: str) -> None:
    path = write_lines(tmp_path / "bad.jsonl", "# comment", text_response("fine"), bad)
    with pytest.raises(ReplayError, match=r"bad\.jsonl, line 3: .*" + re.escape(why)):
        ReplayBrain(path).entries()


def test_replay_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    brain = brain_for(f"replay:{missing}")  # making the brain does not fail; asking it does
    errors: list[ModelError] = []
    with pytest.raises(ReplayError, match="replay file not found: .*nope.jsonl"):
        ask(brain, request(), on_error=errors.append)
    assert [(e.error_type, e.will_retry) for e in errors] == [("model_request_failed_error", False)]
    with pytest.raises(ReplayError, match="names no file"):
        ask(brain_for("replay:"), request())
    missing.write_text(json.dumps(text_response("there now")) + "\n")
    assert ask(brain, request())["content"][0]["text"] == "there now"


def test_replay_rereads_a_changed_file(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "r.jsonl", text_response("one"))
    brain = ReplayBrain(path)
    turn = [{"role": "assistant", "content": "one"}, {"role": "user", "content": "more"}]
    with pytest.raises(ReplayError):
        ask(brain, request(*turn))
    with path.open("a") as f:
        f.write(json.dumps(text_response("two, added later")) + "\n")
    assert ask(brain, request(*turn))["content"][0]["text"] == "two, added later"


# -- RecordingBrain -------------------------------------------------------------------------------


def test_record_then_replay_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "rec" / "session.jsonl"
    script = [
        tool_use_response([("bash", {"command": "ls"}), ("bash", {"command": "pwd"})]),
        text_response("Done."),
    ]

    async def conversation(brain: Any) -> list[dict[str, Any]]:
        first = await brain.complete(request())
        second = await brain.complete(request(*after(first)))
        await brain.aclose()
        return [first, second]

    with FakeModelServer(script) as srv:
        live = run(conversation(brain_for("claude-sonnet-4-6", record_to=path, base_url=srv.base_url)))
    lines = path.read_text().splitlines()
    assert lines[0].startswith("#") and len(lines) == 3
    assert run(conversation(brain_for(f"replay:{path}"))) == live


def test_recording_a_request_asked_again_replaces_its_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    append_response(path, 0, text_response("zero"))
    append_response(path, 1, text_response("one, lost in a crash"))
    append_response(path, 1, text_response("one, asked again"))
    assert [e.response["content"][0]["text"] for e in load_replay(path)] == ["zero", "one, asked again"]


def test_recording_with_timing(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", {"delay_ms": 50, "response": text_response("hi")})
    path = tmp_path / "out.jsonl"
    result = ask(RecordingBrain(ReplayBrain(source), path, timing=True), request())
    (entry,) = load_replay(path)
    assert entry.response == result and entry.delay_ms >= 40


def test_recording_does_not_record_failures(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with FakeModelServer([{"fault": "error", "status": 400, "error_type": "invalid_request_error"}]) as srv:
        brain = RecordingBrain(messages_brain(srv), path)
        with pytest.raises(ModelCallError):
            ask(brain, request())
    assert not path.exists()
