"""A Docker sandbox's container over time: create, reuse, restart, replace, idle stop, remove."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb_agents._docker import docker_client
from nb_agents.errors import PrerequisiteError, SandboxUnavailableError
from nb_agents.sandbox._containers import (
    container_limits,
    create_container,
    find_container,
    kill_processes,
    put_executor,
    remove_sandbox,
)
from nb_agents.sandbox._docker_config import LABEL_RECIPE, RECIPE, SandboxConfig
from nb_agents.sandbox._images import resolve_image

if TYPE_CHECKING:
    from nb_agents.sandbox.docker import DockerSandbox

__all__ = ["Lifecycle"]

log = logging.getLogger("nb_agents.sandbox")
_image_log = logging.getLogger("nb_agents.sandbox.image")
Notify = Callable[[str, str], None]


class Lifecycle:
    """The container side of one `DockerSandbox`: which container, whether we stopped it, idleness.

    Blocking Docker calls run in worker threads; notices are handed back to the event loop.
    """

    def __init__(self, sandbox: DockerSandbox) -> None:
        self._sb = sandbox
        self.container_id: str | None = None
        self._had_container = False
        self._stopped_by_us = False
        self._busy = 0
        self._idle: asyncio.TimerHandle | None = None
        self._idle_task: asyncio.Task[bool] | None = None
        self._engine: dict[str, Any] | None = None
        self._released = False

    @property
    def in_use(self) -> bool:
        """Whether a tool call is running (or waiting for the sandbox to start)."""
        return self._busy > 0

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Mark a tool call: no idle stop while it runs; the idle clock restarts when it ends."""
        self._busy += 1
        self.cancel_idle()
        try:
            yield
        finally:
            self._busy -= 1
            self.touch()

    def touch(self) -> None:
        """Restart the idle clock (no-op while busy, closed or stopped)."""
        self.cancel_idle()
        sb = self._sb
        if self._busy or not sb.alive:
            return
        try:
            timeout = sb.config.idle_timeout
        except SandboxUnavailableError:
            return
        if timeout > 0:
            self._idle = asyncio.get_running_loop().call_later(timeout, self._idle_fired)

    def cancel_idle(self) -> None:
        """Stop the idle clock."""
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _idle_fired(self) -> None:
        self._idle = None
        if not self._busy:
            self._idle_task = asyncio.ensure_future(self._sb._stop_idle())

    async def client(self) -> Any:
        """The sandbox's Docker client, made on first use.

        Raises:
            SandboxUnavailableError: No engine answers.
        """
        if self._sb._docker is None:
            try:
                self._sb._docker = await asyncio.to_thread(docker_client)
            except PrerequisiteError as exc:
                raise SandboxUnavailableError(f"the Docker sandbox cannot start: {exc}") from exc
        return self._sb._docker

    async def ensure_container(self, config: SandboxConfig, *, replace: bool, why: str = "") -> str:
        """Make sure the session's container runs (creating, restarting or replacing it).

        Returns:
            ``created`` (just now), ``started`` (it was stopped) or ``running`` (it was running,
            so processes from an earlier executor may be in it).
        """
        client = await self.client()
        loop = asyncio.get_running_loop()

        def notify(kind: str, message: str) -> None:
            loop.call_soon_threadsafe(self._sb._notify, kind, message)

        return await asyncio.to_thread(self._ensure, client, config, replace, why, notify)

    def _ensure(self, client: Any, config: SandboxConfig, replace: bool, why: str, notify: Notify) -> str:
        sb = self._sb
        image_id = resolve_image(
            client, config, cache_dir=Path(sb.state_dir) / "cache", progress=_image_log.info, notice=notify
        )
        ctr = find_container(client, sb.container_name)
        kept = "started a new one with the same /workspace"
        state = "started"
        if ctr is not None and replace:
            notify("replaced", f"the sandbox container {why}; {kept}")
            ctr = _remove(ctr)
        elif ctr is not None and ctr.attrs.get("Image") != image_id:
            log.info("container %s runs an older image; replacing it", sb.container_name)
            ctr = _remove(ctr)
        elif ctr is not None and (ctr.labels or {}).get(LABEL_RECIPE) != RECIPE:
            log.info("container %s was made by an older recipe; replacing it", sb.container_name)
            ctr = _remove(ctr)
        elif ctr is not None and ctr.status in ("running", "paused"):
            if ctr.status == "paused":
                ctr.unpause()
            put_executor(ctr)
            state = "running"
        elif ctr is not None and ctr.status in ("exited", "created") and not self._died(ctr):
            put_executor(ctr)  # stopped when idle, by close(), or before a runtime restart
            ctr.start()
        elif ctr is not None:
            notify("replaced", f"the sandbox container {_death(ctr)}; {kept}")
            ctr = _remove(ctr)
        elif self._had_container and not replace:
            notify("replaced", f"the sandbox container was removed; {kept}")
        if ctr is None:
            state = "created"
            ctr = create_container(
                client,
                sb.session_id,
                config,
                image_id,
                volume=sb.volume_name,
                state_dir=sb.state_dir,
                limits=container_limits(config, self._engine_info(client)),
            )
        self.container_id = str(ctr.id)
        self._had_container, self._stopped_by_us, self._released = True, False, False
        return state

    def _died(self, ctr: Any) -> bool:
        """Whether a stopped container stopped on its own while this sandbox used it."""
        return self._had_container and not self._stopped_by_us and ctr.status != "created"

    def _engine_info(self, client: Any) -> dict[str, Any]:
        if self._engine is None:
            try:
                self._engine = dict(client.info())
            except Exception as exc:
                log.warning("docker info failed (%s); the sandbox gets no memory or CPU default", exc)
                self._engine = {}
        return self._engine

    async def stop_container(self) -> None:
        """Stop the container (keeping it and its volume) and remember we did."""
        self._stopped_by_us = True
        client, cid = self._sb._docker, self.container_id
        if client is not None and cid is not None:
            await asyncio.to_thread(_stop, client, cid)

    async def kill_processes(self) -> None:
        """Kill every process in the container but its init (a wedged executor)."""
        client, cid = self._sb._docker, self.container_id
        if client is not None and cid is not None:
            ctr = await asyncio.to_thread(find_container, client, cid)
            if ctr is not None and ctr.status == "running":
                await asyncio.to_thread(kill_processes, ctr)

    async def release(self, *, remove: bool) -> None:
        """After close: stop the container (or remove it and its volume) and drop the client."""
        sb = self._sb
        if self._released and not remove:
            return
        self._released = True
        if remove:
            client = await self.client()
            removed = await asyncio.to_thread(remove_sandbox, client, sb.session_id)
            log.info("session %s: removed %s", sb.session_id, ", ".join(removed) or "nothing")
            self.container_id = None
        elif sb._docker is not None and self.container_id is not None:
            await self.stop_container()
        if sb._own_docker and sb._docker is not None:
            sb._docker.close()
            sb._docker = None


def _remove(ctr: Any) -> Any:
    """Remove a container; returns ``None`` (the container variable's new value)."""
    ctr.remove(force=True)
    return None


def _death(ctr: Any) -> str:
    state = ctr.attrs.get("State") or {}
    if state.get("OOMKilled"):
        return "ran out of memory and was killed"
    if ctr.status in ("exited", "dead"):
        return f"stopped (exit code {state.get('ExitCode', '?')})"
    return f"was {ctr.status}"


def _stop(client: Any, container_id: str) -> None:
    ctr = find_container(client, container_id)
    if ctr is not None and ctr.status in ("running", "paused", "restarting"):
        try:
            ctr.stop(timeout=3)
        except Exception as exc:
            log.warning("could not stop container %s: %s", ctr.name, exc)
