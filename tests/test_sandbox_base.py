"""ExecutorSandbox's lifecycle over a fake executor: lazy start, cancel fallback, close."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from nb_agents.errors import SandboxError, SandboxUnavailableError
from nb_agents.sandbox import ExecutorClient, ToolResult
from nb_agents.sandbox._base import ExecutorSandbox


class _Stuck:
    """A fake executor transport that answers pings and nothing else (not even cancels)."""

    def __init__(self, answer_pings: bool = True) -> None:
        self.reader = asyncio.StreamReader()
        self.answer_pings = answer_pings
        self.closed = False
        self.seen: list[str] = []

    def write(self, data: bytes) -> None:
        for line in data.splitlines():
            message = json.loads(line)
            self.seen.append(message["tool"])
            if message["tool"] == "ping" and self.answer_pings:
                answer = {
                    "id": message["id"],
                    "content": [{"type": "text", "text": "pong"}],
                    "is_error": False,
                }
                self.reader.feed_data(json.dumps(answer).encode() + b"\n")

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True
        self.reader.feed_eof()


class StuckSandbox(ExecutorSandbox):
    name = "stuck"
    cancel_grace_s = 0.2
    start_timeout_ms = 100

    def __init__(self, answer_pings: bool = True) -> None:
        super().__init__()
        self.answer_pings = answer_pings
        self.transports: list[_Stuck] = []
        self.teardowns = 0

    @property
    def workspace(self) -> str:
        return "/nowhere"

    async def _spawn(self) -> ExecutorClient:
        transport = _Stuck(self.answer_pings)
        self.transports.append(transport)
        return ExecutorClient(transport.reader, transport, grace_s=0.1)

    async def _teardown(self) -> None:
        self.teardowns += 1


def test_call_starts_lazily_and_cancel_falls_back_to_a_restart() -> None:
    async def main() -> None:
        sandbox = StuckSandbox()
        assert not sandbox.alive and not sandbox.transports
        pending = asyncio.ensure_future(sandbox.call("bash", {"command": "sleep 30"}))
        await asyncio.sleep(0.05)
        assert sandbox.alive and sandbox.transports[0].seen == ["ping", "bash"]
        started = time.monotonic()
        await sandbox.cancel()
        assert time.monotonic() - started < 1
        with pytest.raises(SandboxError, match="cancelled"):
            await pending
        assert not sandbox.alive and sandbox.teardowns == 1 and sandbox.transports[0].closed
        await sandbox.start()
        assert sandbox.alive and len(sandbox.transports) == 2
        await sandbox.close()
        await sandbox.close()
        assert sandbox.teardowns == 2
        with pytest.raises(SandboxError, match="closed"):
            await sandbox.start()

    asyncio.run(main())


def test_an_executor_that_does_not_answer_is_unavailable() -> None:
    async def main() -> None:
        sandbox = StuckSandbox(answer_pings=False)
        with pytest.raises(SandboxUnavailableError, match="did not start"):
            await sandbox.call("bash", {"command": "true"}, timeout_ms=1)

    asyncio.run(main())


def test_tool_result_text() -> None:
    result = ToolResult([{"type": "text", "text": "a"}, {"type": "image", "source": {}}, {"type": "text", "text": "b"}])
    assert result.text == "a\nb" and not result.is_error


def test_close_fails_pending_calls() -> None:
    async def main() -> Any:
        sandbox = StuckSandbox()
        pending = asyncio.ensure_future(sandbox.call("read", {"file_path": "x"}))
        await asyncio.sleep(0.05)
        await sandbox.close()
        return await asyncio.gather(pending, return_exceptions=True)

    [error] = asyncio.run(main())
    assert isinstance(error, SandboxError) and "closed" in str(error)
