"""The `Sandbox` interface the runtime calls tools through, and the executor-backed base class."""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from nb_agents.errors import SandboxError, SandboxUnavailableError

if TYPE_CHECKING:
    from nb_agents.sandbox._client import ExecutorClient

__all__ = ["EXECUTOR_PATH", "ExecutorSandbox", "NoticeCallback", "Sandbox", "ToolResult", "end_process"]

log = logging.getLogger("nb_agents.sandbox")

#: The stdlib-only executor script. The Docker sandbox copies it into its containers and runs
#: ``python3 -I -S <it> --workspace /workspace``; the process sandbox runs it in place.
EXECUTOR_PATH = Path(__file__).with_name("_executor.py")
_S = TypeVar("_S", bound="Sandbox")

#: ``on_notice(kind, message)``: things the session log should show. ``replaced`` (a dead
#: container was replaced), ``building`` / ``built`` (a derived image), ``executor`` (the
#: executor broke the protocol: it was stopped, or a forged answer was discarded).
NoticeCallback = Callable[[str, str], None]


@dataclass(frozen=True)
class ToolResult:
    """What a tool call produced: content blocks for ``agent.tool_result`` and the error flag."""

    content: list[dict[str, Any]]
    """Tool-result content blocks: ``text``, ``image`` or ``document`` (never empty text)."""
    is_error: bool = False
    """True when the tool failed (bad input, non-zero exit, timeout, cancel)."""

    @property
    def text(self) -> str:
        """The text blocks joined by newlines (images and documents left out)."""
        return "\n".join(str(b.get("text", "")) for b in self.content if b.get("type") == "text")


class Sandbox(abc.ABC):
    """Where the built-in tools run: the "hands" of a local session.

    One sandbox serves one session. ``call`` starts it when needed, so a sandbox costs nothing
    until the first tool call; ``close`` releases everything it started. Tool failures (a
    non-zero exit, a missing file, bad input, a timeout) come back as ``is_error`` results;
    exceptions mean the sandbox itself failed.
    """

    name: ClassVar[str] = ""
    """The provider's registry key: ``"process"``, ``"docker"``."""

    @property
    @abc.abstractmethod
    def workspace(self) -> str:
        """The working directory as the tools see it (relative tool paths resolve against it)."""

    @property
    @abc.abstractmethod
    def alive(self) -> bool:
        """Whether the sandbox is started and its executor is answering."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Start the sandbox now, or do nothing if it is running (idempotent).

        Raises:
            SandboxUnavailableError: The sandbox cannot be started.
            SandboxError: The sandbox was closed.
        """

    @abc.abstractmethod
    async def call(self, tool: str, input: Mapping[str, Any], *, timeout_ms: int | None = None) -> ToolResult:
        """Run one tool, starting (or restarting) the sandbox first if needed.

        Args:
            tool: ``bash``, ``read``, ``write``, ``edit``, ``glob`` or ``grep`` (or ``ping``).
            input: The tool input as the model sent it (Managed Agents input schema).
            timeout_ms: The tool's time limit; default 120 s (bash: 295 s, its own ``timeout_ms``
                input wins, and nothing raises it past 295 s).

        Returns:
            The result; failures of the tool are ``is_error`` results.

        Raises:
            SandboxUnavailableError: The sandbox could not be started.
            SandboxTimeoutError: The sandbox did not answer in time.
            SandboxError: The sandbox died during the call, or was closed.
        """

    @abc.abstractmethod
    async def cancel(self) -> None:
        """Stop every call in flight within about a second; they answer ``is_error`` results.

        A cancelled bash command loses the shell: the next command gets a fresh one.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop the sandbox and everything it started; idempotent. Pending calls fail."""

    async def __aenter__(self: _S) -> _S:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class ExecutorSandbox(Sandbox):
    """A sandbox whose tools run in one executor process reached through an `ExecutorClient`.

    Subclasses say how to start the executor (`_spawn`) and how to stop what they started
    (`_teardown`). A dead executor is replaced at the next call; the call that was running when
    it died fails with `SandboxError` and is not run again.
    """

    cancel_grace_s: ClassVar[float] = 1.0
    """How long `cancel` waits for the executor to stop the calls before killing it."""
    start_timeout_ms: ClassVar[int] = 10_000
    """How long `start` waits for a new executor to answer its first ping."""

    def __init__(self, on_notice: NoticeCallback | None = None) -> None:
        self._client: ExecutorClient | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self._on_notice = on_notice
        self._retiring: set[asyncio.Task[None]] = set()

    @abc.abstractmethod
    async def _spawn(self) -> ExecutorClient:
        """Start an executor and return a client connected to it.

        Raises:
            SandboxUnavailableError: It cannot be started.
        """

    @abc.abstractmethod
    async def _teardown(self) -> None:
        """Stop whatever `_spawn` started, leaving no process behind; idempotent."""

    @property
    def alive(self) -> bool:
        """Whether the executor is running and the sandbox is open."""
        return not self._closed and self._client is not None and not self._client.closed

    async def start(self) -> None:
        """Start the executor unless it is running; wait until it answers a ping.

        Raises:
            SandboxUnavailableError: The executor could not be started or did not answer.
            SandboxError: The sandbox was closed.
        """
        async with self._lock:
            if self._closed:
                raise SandboxError(f"the {self.name} sandbox is closed")
            if self.alive:
                return
            if self._client is not None:
                log.warning("the %s sandbox's executor is gone; starting a new one", self.name)
                await self._stop("the executor was replaced")
            client = await self._spawn()
            try:
                await client.request("ping", {}, timeout_ms=self.start_timeout_ms)
            except SandboxError as exc:
                await client.close()
                await self._teardown()
                raise SandboxUnavailableError(f"the {self.name} sandbox's executor did not start: {exc}") from exc
            self._client = client

    async def call(self, tool: str, input: Mapping[str, Any], *, timeout_ms: int | None = None) -> ToolResult:
        """Run one tool in the executor; see `Sandbox.call`."""
        if not self.alive:
            await self.start()
        client = self._client
        if client is None:
            raise SandboxError(f"the {self.name} sandbox is closed")
        return await client.request(tool, input, timeout_ms=timeout_ms)

    async def cancel(self) -> None:
        """Cancel every call in flight; kill the executor if they have not stopped after a second."""
        client = self._client
        if client is None or client.closed:
            return
        await client.cancel()
        if not await client.wait_idle(self.cancel_grace_s):
            log.warning(
                "the %s sandbox did not stop its calls within %s s; killing it",
                self.name,
                self.cancel_grace_s,
            )
            async with self._lock:
                if self._client is client:
                    await self._stop(f"the call was cancelled and the {self.name} sandbox was restarted")

    async def close(self) -> None:
        """Stop the executor and everything it started; idempotent. Pending calls fail."""
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            await self._stop(f"the {self.name} sandbox was closed")

    def _notify(self, kind: str, message: str) -> None:
        """Tell the session (``on_notice``) and the log; exceptions of the callback are logged."""
        log.info("%s sandbox: %s: %s", self.name, kind, message)
        if self._on_notice is not None:
            try:
                self._on_notice(kind, message)
            except Exception:
                log.exception("on_notice(%r) failed", kind)

    def _executor_violated(self, message: str) -> None:
        """`ExecutorClient`'s ``on_violation``: the executor broke the protocol.

        When its client gave up on it, it is stopped now rather than at the next call.
        """
        self._notify("executor", message)
        client = self._client
        if client is not None and client.closed:
            task = asyncio.ensure_future(self._retire(client))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _retire(self, client: ExecutorClient) -> None:
        async with self._lock:
            if self._client is client:
                await self._stop("the executor broke the protocol and was stopped")

    async def _stop(self, reason: str) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close(reason)
        await self._teardown()


async def end_process(proc: asyncio.subprocess.Process, grace_s: float) -> bool:
    """Let ``proc`` exit within ``grace_s`` (its input should be closed), else kill it; bounded.

    Returns within about twice ``grace_s`` whatever the process does. Its pipes are closed
    here: asyncio's ``wait()`` ends only once they are, and a pipe the reader stopped draining
    (a flood) is paused and would never see its end. Returns whether it exited by itself.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    while proc.returncode is None and loop.time() < deadline:
        await asyncio.sleep(0.02)
    exited = proc.returncode is not None
    if not exited:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    transport = getattr(proc, "_transport", None)  # asyncio has no public way to close the pipes
    if transport is not None:
        transport.close()
    try:
        await asyncio.wait_for(proc.wait(), grace_s)
    except asyncio.TimeoutError:
        log.warning("process %s did not end within %s s of SIGKILL", proc.pid, grace_s)
    return exited
