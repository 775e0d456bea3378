"""The asyncio side of the executor's JSON-lines protocol, over any pair of byte streams."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from nb_agents.errors import SandboxError, SandboxTimeoutError
from nb_agents.sandbox._base import ToolResult

__all__ = ["DEFAULT_TIMEOUT_MS", "ExecutorClient"]

log = logging.getLogger("nb_agents.sandbox")

#: The executor's default tool time limit (the bash default of the Managed Agents toolset).
DEFAULT_TIMEOUT_MS = 120_000
_CONTROL = frozenset({"ping", "cancel"})
_STDERR_TAIL = 4000


class _Reader(Protocol):
    async def read(self, n: int = -1, /) -> bytes: ...


class _Writer(Protocol):
    def write(self, data: bytes, /) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


class ExecutorClient:
    """Sends tool requests to one executor and resolves each answer by its request id.

    Any number of requests may be in flight at once. When the executor's output ends (it died,
    or the transport broke), every pending request fails with `SandboxError`, and so does every
    later one: the owner replaces the client. Construct it inside a running event loop.

    Args:
        reader: The executor's stdout (anything with ``async read(n)``).
        writer: The executor's stdin (``write``, ``async drain``, ``close``).
        stderr: The executor's stderr, if separate; its tail goes into the death message.
        grace_s: How long past a call's tool time limit to wait before giving up on an answer.
    """

    def __init__(
        self,
        reader: _Reader,
        writer: _Writer,
        *,
        stderr: _Reader | None = None,
        grace_s: float = 5.0,
    ) -> None:
        self._writer = writer
        self._grace_s = grace_s
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, asyncio.Future[ToolResult]]] = {}
        self._drain_lock = asyncio.Lock()
        self._error: SandboxError | None = None
        self._stderr_tail = bytearray()
        loop = asyncio.get_running_loop()
        self._stderr_task = loop.create_task(self._drain_stderr(stderr)) if stderr is not None else None
        self._reader_task = loop.create_task(self._read_loop(reader))

    @classmethod
    def from_process(cls, proc: asyncio.subprocess.Process, *, grace_s: float = 5.0) -> ExecutorClient:
        """A client over a subprocess started with ``stdin``/``stdout`` (and maybe ``stderr``) pipes.

        Args:
            proc: The executor process.
            grace_s: See the class docstring.

        Returns:
            The client; it reads the process's stdout until it ends.
        """
        if proc.stdin is None or proc.stdout is None:
            raise ValueError("the executor process needs stdin and stdout pipes")
        return cls(proc.stdout, proc.stdin, stderr=proc.stderr, grace_s=grace_s)

    @property
    def closed(self) -> bool:
        """Whether the executor is gone (or the client was closed): no request can succeed."""
        return self._error is not None

    @property
    def in_flight(self) -> int:
        """How many tool calls (not pings or cancels) are waiting for an answer."""
        return sum(1 for tool, _ in self._pending.values() if tool not in _CONTROL)

    async def request(self, tool: str, input: Mapping[str, Any], *, timeout_ms: int | None = None) -> ToolResult:
        """Run one tool in the executor and wait for its answer.

        Cancelling the awaiting task also cancels the call inside the executor.

        Args:
            tool: ``bash``, ``read``, ``write``, ``edit``, ``glob``, ``grep``, ``ping`` or ``cancel``.
            input: The tool input, as the model sent it.
            timeout_ms: The tool time limit (bash's own ``timeout_ms`` input wins); default 120 s.

        Returns:
            The executor's answer; tool failures are ``is_error`` results, not exceptions.

        Raises:
            SandboxError: The executor is gone, died during the call, or the input is not JSON.
            SandboxTimeoutError: No answer arrived within the time limit plus the grace period
                (the call is cancelled in the executor).
        """
        if self._error is not None:
            raise SandboxError(str(self._error))
        rid = next(self._ids)
        message: dict[str, Any] = {"id": rid, "tool": tool, "input": dict(input)}
        if timeout_ms is not None:
            message["timeout_ms"] = timeout_ms
        try:
            line = json.dumps(message, ensure_ascii=False).encode("utf-8", "replace") + b"\n"
        except (TypeError, ValueError) as exc:
            raise SandboxError(f"{tool}: the tool input is not JSON-serializable: {exc}") from exc
        future: asyncio.Future[ToolResult] = asyncio.get_running_loop().create_future()
        self._pending[rid] = (tool, future)
        limit_s = _tool_limit_ms(tool, input, timeout_ms) / 1000 + self._grace_s
        try:
            await self._send(line)
            result = await asyncio.wait_for(future, limit_s)
        except asyncio.TimeoutError:
            self._send_nowait({"id": next(self._ids), "tool": "cancel", "input": {"id": rid}})
            raise SandboxTimeoutError(f"{tool}: the executor did not answer within {limit_s:g} s") from None
        except asyncio.CancelledError:
            self._send_nowait({"id": next(self._ids), "tool": "cancel", "input": {"id": rid}})
            raise
        finally:
            self._pending.pop(rid, None)
        return result

    async def cancel(self, request_id: int | None = None) -> None:
        """Ask the executor to stop one call (by request id) or every call in flight.

        It does not wait: the cancelled calls answer soon after, with an ``is_error`` result
        saying they were cancelled (see `wait_idle`). A no-op once the executor is gone.
        """
        if self._error is not None:
            return
        target = {} if request_id is None else {"id": request_id}
        self._send_nowait({"id": next(self._ids), "tool": "cancel", "input": target})
        try:
            async with self._drain_lock:
                await self._writer.drain()
        except (OSError, RuntimeError) as exc:
            log.debug("could not send a cancel to the executor: %s", exc)

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no tool call is in flight; return whether that happened within ``timeout_s``."""
        futures = [f for tool, f in self._pending.values() if tool not in _CONTROL]
        if not futures:
            return True
        _, not_done = await asyncio.wait(futures, timeout=timeout_s)
        return not not_done

    async def close(self, reason: str = "the executor client was closed") -> None:
        """Fail every pending call with `SandboxError` and close the transport; idempotent."""
        self._fail(SandboxError(reason))
        try:
            self._writer.close()
        except (OSError, RuntimeError):
            pass
        for task in (self._reader_task, self._stderr_task):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    # ---- internals ---------------------------------------------------------------------------

    async def _send(self, line: bytes) -> None:
        try:
            self._writer.write(line)
            async with self._drain_lock:
                await self._writer.drain()
        except (OSError, RuntimeError) as exc:
            self._fail(SandboxError(f"cannot write to the executor: {exc}"))
            raise SandboxError(str(self._error)) from exc

    def _send_nowait(self, message: dict[str, Any]) -> None:
        if self._error is None:
            try:
                self._writer.write(json.dumps(message).encode() + b"\n")
            except (OSError, RuntimeError):
                pass

    async def _read_loop(self, reader: _Reader) -> None:
        buf, scanned = bytearray(), 0
        try:
            while chunk := await reader.read(1 << 16):
                buf += chunk
                while (newline := buf.find(b"\n", scanned)) >= 0:
                    line = bytes(buf[:newline])
                    del buf[: newline + 1]
                    scanned = 0
                    self._dispatch(line)
                scanned = len(buf)
        except (OSError, ValueError) as exc:
            log.debug("executor transport failed: %s", exc)
        if self._error is None:
            if self._stderr_task is not None:
                await asyncio.wait({self._stderr_task}, timeout=0.5)
            tail = self._stderr_tail.decode("utf-8", "replace").strip()
            self._fail(SandboxError("the executor exited" + (f"; its stderr ends with:\n{tail}" if tail else "")))

    def _dispatch(self, line: bytes) -> None:
        try:
            answer = json.loads(line)
            rid, content, is_error = answer["id"], answer["content"], answer["is_error"]
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable line from the executor: %.200r", line)
            return
        entry = self._pending.get(rid) if isinstance(rid, int) else None
        if entry is None:
            if rid is None:
                log.warning("the executor rejected a request: %s", content)
            return
        if not entry[1].done():
            entry[1].set_result(ToolResult(list(content), bool(is_error)))

    async def _drain_stderr(self, stderr: _Reader) -> None:
        try:
            while chunk := await stderr.read(1 << 14):
                self._stderr_tail += chunk
                del self._stderr_tail[:-_STDERR_TAIL]
        except (OSError, ValueError):
            pass

    def _fail(self, error: SandboxError) -> None:
        if self._error is None:
            self._error = error
        for _, future in list(self._pending.values()):
            if not future.done():
                future.set_exception(SandboxError(str(error)))


def _tool_limit_ms(tool: str, input: Mapping[str, Any], timeout_ms: int | None) -> int:
    """The time the executor may take: bash's own ``timeout_ms`` input wins, then the call's."""
    own = input.get("timeout_ms") if tool == "bash" else None
    if isinstance(own, int) and not isinstance(own, bool) and own > 0:
        return own
    if tool == "ping" and timeout_ms is None:
        return 10_000
    return timeout_ms if timeout_ms is not None and timeout_ms > 0 else DEFAULT_TIMEOUT_MS
