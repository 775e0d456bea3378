"""The Docker sandbox: one container per session, started lazily, one persistent executor inside.

Constructing a `DockerSandbox` touches nothing. `start` (or the first `call`) creates the
session's container ``nb-agents-<session id>`` with its volume ``nb-agents-ws-<session id>``
at ``/workspace``, copies the executor in and runs it as ONE long-lived ``docker exec -i``
process; every tool call is a JSON line to it (about a millisecond) instead of a ``docker exec``
(about 55 ms). The container gets nothing from the host: its environment is only ``PATH``,
``HOME=/workspace``, ``LANG`` and ``TERM``; no host path and never the Docker socket is mounted;
it has no network unless the environment is ``unrestricted``. Least privilege: the executor and
the tools run as the unprivileged user ``agent`` (uid 1000, owner of ``/workspace``), every
capability is dropped, ``no-new-privileges`` is set, and memory (no swap), CPUs, pids and, where
the storage driver allows, disk are limited (defaults like the hosted container's, see
``_docker_config``). A container that dies is replaced at the next call with the same
``/workspace`` (reported as a ``replaced`` notice); an idle one is stopped and started again on
demand. A new executor in a running container starts only after every process of the tool user
there is killed, so nothing an old one's tools left can meet it.

Known differences from the process sandbox (the conformance suite passes on both):

- Paths: the workspace is ``/workspace`` and tools see the container's file system; the
  process sandbox's workspace is a host directory and its tools see the whole host.
- ``HOME`` is ``/workspace`` (the process sandbox: its workspace directory too), and the
  environment holds only ``PATH``, ``HOME``, ``LANG`` and ``TERM`` (the process sandbox keeps the
  scrubbed host environment). Commands run as ``agent``, not root, inside the container, with
  the image's tools (bash, python3, ripgrep, procps) and not the host's.
- Only ``/workspace`` survives a replaced container; files elsewhere (``/tmp``, packages
  installed by the agent) survive an idle stop or ``close`` but not a replacement.
- Network: none by default; the process sandbox always has the host's network.
- A killed container fails the call in flight with `SandboxError` (as a killed executor does in
  the process sandbox); the next call runs in the replacement.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nb_agents._docker import BASE_IMAGE, base_image, docker_client
from nb_agents._home import state_dir as default_state_dir
from nb_agents.errors import PrerequisiteError, SandboxError, SandboxUnavailableError
from nb_agents.sandbox import _lifecycle
from nb_agents.sandbox._base import ExecutorSandbox, NoticeCallback, ToolResult, end_process
from nb_agents.sandbox._client import ExecutorClient
from nb_agents.sandbox._containers import TOOL_IDS, SandboxInfo, cleanup, list_sandboxes, remove_sandbox
from nb_agents.sandbox._docker_config import (
    EXECUTOR_IN_CONTAINER,
    WORKSPACE,
    SandboxConfig,
    container_name,
    sandbox_config,
    volume_name,
)
from nb_agents.spec import EnvironmentSpec

__all__ = [
    "DockerSandbox",
    "NoticeCallback",
    "SandboxConfig",
    "SandboxInfo",
    "cleanup",
    "list_sandboxes",
    "remove_sandbox",
    "sandbox_config",
    "unavailable_reason",
]

log = logging.getLogger("nb_agents.sandbox")

_CLI_ENV = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "SSH_AUTH_SOCK", "XDG_RUNTIME_DIR", "TMPDIR")


def unavailable_reason(image: str | None = None) -> str | None:
    """Why Docker sandboxes cannot run here (no CLI, no engine, no image), or ``None`` if they can.

    Blocking (an engine ping and an image lookup, a few milliseconds): for choosing between the
    Docker and the process sandbox when a runtime starts.

    Args:
        image: The image to look for (default: ``$NB_AGENTS_IMAGE`` or the base image).
    """
    if shutil.which("docker") is None:
        return "the docker command (the Docker CLI) is not on PATH"
    try:
        client = docker_client()
    except PrerequisiteError as exc:
        return str(exc)
    name = image or base_image()
    try:
        client.images.get(name)
    except Exception as exc:
        hint = ": run scripts/provision-docker" if name == BASE_IMAGE else ""
        return f"the sandbox image {name} is not available ({type(exc).__name__}){hint}"
    finally:
        client.close()
    return None


class DockerSandbox(ExecutorSandbox):
    """The tools of one session, in that session's Docker container.

    Args:
        session_id: The session; it names and labels the container and the volume.
        environment: The session's environment: the wire object (``config``, ``metadata``),
            its create params, or an `EnvironmentSpec`. Checked at `start`, not here.
        workspace_volume: The volume mounted at ``/workspace`` (default
            ``nb-agents-ws-<session id>``). Made and labelled if missing; a volume that already
            exists without the session's label is never removed.
        image: An image that overrides the environment's and ``$NB_AGENTS_IMAGE``.
        on_notice: Called on the event loop with ``(kind, message)`` for things the session log
            should show (see `NoticeCallback`); exceptions it raises are logged and ignored.
        idle_timeout: Seconds without a tool call before the container is stopped (default: the
            environment's ``local.idle_timeout``, else 600).
        state_dir: The runtime's state directory: a label (``cleanup`` judges only its own
            sandboxes) and where host package caches live. Default: ``$NB_AGENTS_HOME``.
        client: A ``docker.DockerClient`` to use (default: one from the environment, closed on close).
    """

    name = "docker"
    start_timeout_ms = 30_000

    def __init__(
        self,
        session_id: str,
        environment: Mapping[str, Any] | EnvironmentSpec | None = None,
        *,
        workspace_volume: str | None = None,
        image: str | None = None,
        on_notice: NoticeCallback | None = None,
        idle_timeout: float | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        client: Any = None,
    ) -> None:
        super().__init__(on_notice)
        self.session_id = session_id
        self.container_name = container_name(session_id)
        self.volume_name = workspace_volume or volume_name(session_id)
        self._environment = environment
        self._image = image
        self._idle_override = idle_timeout
        self.state_dir = str(Path(state_dir if state_dir is not None else default_state_dir()).expanduser())
        self._docker = client
        self._own_docker = client is None
        self._proc: asyncio.subprocess.Process | None = None
        self._life = _lifecycle.Lifecycle(self)

    @property
    def workspace(self) -> str:
        """``/workspace`` (inside the container)."""
        return WORKSPACE

    @property
    def config(self) -> SandboxConfig:
        """The checked settings of the environment.

        Raises:
            SandboxUnavailableError: They are invalid or cannot be honoured (see `sandbox_config`).
        """
        return sandbox_config(self._environment, image=self._image, idle_timeout=self._idle_override)

    @property
    def container_id(self) -> str | None:
        """The id of the container the executor runs in, once started."""
        return self._life.container_id

    async def start(self) -> None:
        """Start the container and the executor unless they run; safe to call beside `call`.

        Raises:
            SandboxUnavailableError: Docker, the image or the settings do not allow a sandbox.
            SandboxError: The sandbox was closed.
        """
        await super().start()
        self._life.touch()

    async def call(self, tool: str, input: Mapping[str, Any], *, timeout_ms: int | None = None) -> ToolResult:
        """Run one tool in the container, starting or replacing it first if needed; see `Sandbox.call`."""
        with self._life.busy():
            return await super().call(tool, input, timeout_ms=timeout_ms)

    async def close(self, *, remove: bool = False) -> None:
        """Stop the executor and the container; keep the volume unless ``remove``. Idempotent."""
        self._life.cancel_idle()
        await super().close()
        await self._life.release(remove=remove)

    async def destroy(self) -> None:
        """Remove the session's container and volume (for an archived or deleted session).

        Works on a sandbox that never started. Raises `SandboxUnavailableError` without an engine.
        """
        await self.close(remove=True)

    # ---- ExecutorSandbox ----------------------------------------------------------------------

    async def _spawn(self) -> ExecutorClient:
        config = self.config
        state = await self._life.ensure_container(config, replace=False)
        if state == "running":  # nothing the old executor's tools left may meet the new one
            await self._life.kill_processes()
        client = await self._exec()
        if state == "created":
            return client
        try:  # a container that cannot run a process (full process table, broken) is replaced
            await client.request("ping", {}, timeout_ms=self.start_timeout_ms)
        except SandboxError as exc:
            await client.close(str(exc))
            await self._teardown()
            await self._life.ensure_container(config, replace=True, why=f"did not answer ({exc})")
            client = await self._exec()
        return client

    async def _exec(self) -> ExecutorClient:
        docker_cli = shutil.which("docker")
        if docker_cli is None:
            raise SandboxUnavailableError("the Docker sandbox needs the docker command (the Docker CLI) on PATH")
        env = {k: v for k, v in os.environ.items() if k in _CLI_ENV or k.startswith("DOCKER_")}
        argv = ["exec", "-i", "--user", TOOL_IDS, "-w", WORKSPACE, str(self.container_id)]
        argv += ["python3", "-I", "-S", EXECUTOR_IN_CONTAINER, "--workspace", WORKSPACE]
        try:
            proc = await asyncio.create_subprocess_exec(
                docker_cli,
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise SandboxUnavailableError(f"cannot run docker exec: {exc}") from exc
        self._proc = proc
        return ExecutorClient.from_process(proc, on_violation=self._executor_violated)

    async def _teardown(self) -> None:
        """Stop the executor (not the container): EOF on its stdin, else kill every process."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        if not await end_process(proc, 2.0):
            await self._life.kill_processes()

    # ---- used by _lifecycle -------------------------------------------------------------------

    async def _stop_idle(self) -> bool:
        """Stop the executor if no call runs (under the start lock); True if it stopped it."""
        async with self._lock:
            if self._closed or self._life.in_use or self._client is None:
                return False
            await self._stop("the sandbox was stopped after being idle")
            await self._life.stop_container()
            log.info("session %s: stopped the idle sandbox container", self.session_id)
            return True
