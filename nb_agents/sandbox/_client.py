"""The asyncio side of the executor's JSON-lines protocol, over any pair of byte streams.

What comes out of a sandbox is hostile input: an answer line is bounded (a longer one stops the
executor), checked against the shape of a tool result and cut to a size the host keeps, and
accepted only for a request in flight whose id (random per client) the box cannot guess.
Anything else is counted, logged at a bounded rate and size, and past a small allowance it
stops the executor too. The owner hears of each of these through ``on_violation``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from nb_agents.errors import SandboxError, SandboxTimeoutError
from nb_agents.sandbox._base import ToolResult

__all__ = ["DEFAULT_TIMEOUT_MS", "ExecutorClient"]

log = logging.getLogger("nb_agents.sandbox")

#: The executor's default tool time limit (file tools; bash has its own, see below).
DEFAULT_TIMEOUT_MS = 120_000
#: bash's time limit, and the most a model-chosen ``timeout_ms`` gets (the reference toolset's).
BASH_TIMEOUT_MS = 295_000
#: The longest answer line accepted; longer stops the executor. A ``read`` in flight may bring an
#: image or a PDF as base64, and raises it to `MAX_MEDIA_FRAME`.
MAX_FRAME = 1 << 20
MAX_MEDIA_FRAME = 32 << 20
#: Characters of text the host keeps from one tool result, whatever the box sends.
MAX_RESULT_TEXT = 256 * 1024
#: Protocol garbage (unreadable lines, forged answers) tolerated before the executor is stopped.
MAX_GARBAGE_LINES = 100
MAX_GARBAGE_BYTES = 64 * 1024
_LOG_EVERY_S = 30.0
_SHOWN = 200
_CONTROL = frozenset({"ping", "cancel"})
_STDERR_TAIL = 4000
_MEDIA = {"image": {"image/png", "image/jpeg", "image/gif", "image/webp"}, "document": {"application/pdf"}}


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
        on_violation: Called (on the loop) with a message when the executor broke the protocol:
            an oversized answer or too much garbage (it is then stopped), or a forged answer.
    """

    def __init__(
        self,
        reader: _Reader,
        writer: _Writer,
        *,
        stderr: _Reader | None = None,
        grace_s: float = 5.0,
        on_violation: Callable[[str], None] | None = None,
    ) -> None:
        self._writer = writer
        self._grace_s = grace_s
        self._on_violation = on_violation
        self._nonce = secrets.token_hex(8)
        self._counter = itertools.count(1)
        self._issued = 0
        self._pending: dict[str, tuple[str, asyncio.Future[ToolResult]]] = {}
        self._garbage_lines = 0
        self._garbage_bytes = 0
        self._logged_at = -_LOG_EVERY_S
        self._unlogged = 0
        self._forged_noted = False
        self._drain_lock = asyncio.Lock()
        self._error: SandboxError | None = None
        self._stderr_tail = bytearray()
        loop = asyncio.get_running_loop()
        self._stderr_task = loop.create_task(self._drain_stderr(stderr)) if stderr is not None else None
        self._reader_task = loop.create_task(self._read_loop(reader))

    @classmethod
    def from_process(
        cls,
        proc: asyncio.subprocess.Process,
        *,
        grace_s: float = 5.0,
        on_violation: Callable[[str], None] | None = None,
    ) -> ExecutorClient:
        """A client over a subprocess started with ``stdin``/``stdout`` (and maybe ``stderr``) pipes.

        Args:
            proc: The executor process.
            grace_s: See the class docstring.
            on_violation: See the class docstring.

        Returns:
            The client; it reads the process's stdout until it ends.
        """
        if proc.stdin is None or proc.stdout is None:
            raise ValueError("the executor process needs stdin and stdout pipes")
        return cls(proc.stdout, proc.stdin, stderr=proc.stderr, grace_s=grace_s, on_violation=on_violation)

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
        rid = self._next_id()
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
            self._send_nowait({"id": self._next_id(), "tool": "cancel", "input": {"id": rid}})
            raise SandboxTimeoutError(f"{tool}: the executor did not answer within {limit_s:g} s") from None
        except asyncio.CancelledError:
            self._send_nowait({"id": self._next_id(), "tool": "cancel", "input": {"id": rid}})
            raise
        finally:
            self._pending.pop(rid, None)
        return result

    async def cancel(self, request_id: str | None = None) -> None:
        """Ask the executor to stop one call (by request id) or every call in flight.

        It does not wait: the cancelled calls answer soon after, with an ``is_error`` result
        saying they were cancelled (see `wait_idle`). A no-op once the executor is gone.
        """
        if self._error is not None:
            return
        target = {} if request_id is None else {"id": request_id}
        self._send_nowait({"id": self._next_id(), "tool": "cancel", "input": target})
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

    def _next_id(self) -> str:
        self._issued = next(self._counter)
        return f"{self._nonce}-{self._issued}"

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

    def _frame_limit(self) -> int:
        reading = any(tool == "read" for tool, _ in self._pending.values())
        return MAX_MEDIA_FRAME if reading else MAX_FRAME

    async def _read_loop(self, reader: _Reader) -> None:
        buf = bytearray()
        try:
            while self._error is None and (chunk := await reader.read(1 << 16)):
                pos = 0
                buf += chunk  # holds no line break before this chunk
                newline = buf.find(b"\n", len(buf) - len(chunk))
                while newline >= 0 and self._error is None:
                    self._dispatch(bytes(buf[pos:newline]))
                    pos = newline + 1
                    newline = buf.find(b"\n", pos)
                del buf[:pos]
                if len(buf) > self._frame_limit():
                    self._violation(f"the executor sent an answer longer than {self._frame_limit()} bytes")
                await asyncio.sleep(0)  # a fast stream must not starve the other sessions
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
        except (ValueError, KeyError, TypeError, RecursionError):
            self._garbage(line, "unreadable line from the executor")
            return
        entry = self._pending.get(rid) if isinstance(rid, str) else None
        if entry is None:
            if rid is None:  # the executor could not read a request of ours
                self._garbage(line, "the executor rejected a request")
            elif not self._ours(rid):
                self._garbage(line, "an answer to no request the host sent")
                if not self._forged_noted:
                    self._forged_noted = True
                    self._notify("the sandbox sent an answer to a request the host never made; it was discarded")
            return  # else: the answer to a call that already timed out or was cancelled
        if not entry[1].done():
            entry[1].set_result(_checked(entry[0], content, is_error))

    def _ours(self, rid: object) -> bool:
        nonce, _, number = str(rid).partition("-")
        return nonce == self._nonce and number.isdigit() and 0 < int(number) <= self._issued

    def _garbage(self, line: bytes, what: str) -> None:
        self._garbage_lines += 1
        self._garbage_bytes += len(line) + 1
        now = time.monotonic()
        if now - self._logged_at >= _LOG_EVERY_S:
            more = f" ({self._unlogged} more such lines not logged)" if self._unlogged else ""
            log.warning("%s: %.*r%s", what, _SHOWN, line[:_SHOWN], more)
            self._logged_at, self._unlogged = now, 0
        else:
            self._unlogged += 1
        if self._garbage_lines > MAX_GARBAGE_LINES or self._garbage_bytes > MAX_GARBAGE_BYTES:
            self._violation(
                f"the executor sent {self._garbage_lines} lines ({self._garbage_bytes} bytes) that are not answers"
            )

    def _violation(self, what: str) -> None:
        """The executor broke the protocol: fail every call, stop reading, close its input."""
        message = f"{what}; it was stopped (the next call starts a new one)"
        if self._error is not None:
            return
        log.warning("%s", message)
        self._fail(SandboxError(message))
        try:
            self._writer.close()
        except (OSError, RuntimeError):
            pass
        self._notify(message)

    def _notify(self, message: str) -> None:
        if self._on_violation is not None:
            try:
                self._on_violation(message)
            except Exception:
                log.exception("on_violation failed")

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
    """The time the executor may take: bash's own ``timeout_ms`` input wins, then the call's.

    bash never gets more than `BASH_TIMEOUT_MS`, as in the executor itself.
    """
    if tool == "bash":
        own = input.get("timeout_ms")
        if isinstance(own, int) and not isinstance(own, bool) and own > 0:
            return min(own, BASH_TIMEOUT_MS)
        return min(timeout_ms, BASH_TIMEOUT_MS) if timeout_ms is not None and timeout_ms > 0 else BASH_TIMEOUT_MS
    if tool == "ping" and timeout_ms is None:
        return 10_000
    return timeout_ms if timeout_ms is not None and timeout_ms > 0 else DEFAULT_TIMEOUT_MS


def _checked(tool: str, content: object, is_error: object) -> ToolResult:
    """The result the box claims, if it has the shape of one, cut to what the host keeps."""
    if not isinstance(content, list) or not isinstance(is_error, bool) or len(content) > 100:
        return _malformed(tool)
    blocks: list[dict[str, Any]] = []
    room = MAX_RESULT_TEXT
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            text = block["text"]
            if len(text) > room:
                text = text[:room] + f"\n[cut by the host: the sandbox sent {len(block['text'])} characters]"
            room = max(0, room - len(text))
            blocks.append({"type": "text", "text": text})
        elif kind in _MEDIA and _media_ok(kind, block.get("source")):
            source = block["source"]
            blocks.append({"type": kind, "source": {k: source[k] for k in ("type", "media_type", "data")}})
        else:
            return _malformed(tool)
    return ToolResult(blocks, is_error)


def _media_ok(kind: str, source: object) -> bool:
    return (
        isinstance(source, dict)
        and source.get("type") == "base64"
        and source.get("media_type") in _MEDIA[kind]
        and isinstance(source.get("data"), str)
    )


def _malformed(tool: str) -> ToolResult:
    return ToolResult([{"type": "text", "text": f"{tool}: the sandbox sent a malformed answer"}], True)
