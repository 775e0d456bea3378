"""Which hands a runtime uses: a Docker container per session, or the process sandbox.

``NB_AGENTS_SANDBOX`` chooses: ``docker``, ``process``, or ``auto`` (the default: Docker when an
engine and the base image are there, else the process sandbox, whose lack of isolation every
session using it is told about).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nb_agents.errors import InvalidRequestError, PrerequisiteError, SandboxUnavailableError
from nb_agents.sandbox import ProcessSandbox, Sandbox

__all__ = ["SandboxProvider", "choose_provider"]

log = logging.getLogger(__name__)

Notice = Callable[[str, str], None]


class SandboxProvider:
    """Makes, checks and removes the sandboxes of one runtime.

    Attributes:
        kind: ``docker`` or ``process``.
        warning: Told to every session whose tools run here (the process sandbox fallback), or None.
    """

    def __init__(self, kind: str, state_dir: Path, warning: str | None = None) -> None:
        self.kind = kind
        self.state_dir = state_dir
        self.warning = warning

    def workspace(self, session_id: str) -> Path:
        """The host directory of a process sandbox's workspace."""
        return self.state_dir / "workspaces" / session_id

    def check(self, environment: Mapping[str, Any]) -> None:
        """Refuse, at session creation, an environment this provider cannot honour."""
        if self.kind != "docker":
            return
        from nb_agents.sandbox.docker import sandbox_config

        try:
            sandbox_config(environment)
        except SandboxUnavailableError as exc:
            raise InvalidRequestError(str(exc)) from exc

    def make(self, session_id: str, environment: Mapping[str, Any], on_notice: Notice) -> Sandbox:
        """A new, not yet started sandbox for a session."""
        if self.kind == "docker":
            from nb_agents.sandbox.docker import DockerSandbox

            return DockerSandbox(session_id, environment, on_notice=on_notice, state_dir=self.state_dir)
        workspace = self.workspace(session_id)
        workspace.mkdir(parents=True, exist_ok=True)
        return ProcessSandbox(workspace, on_notice=on_notice)

    async def destroy(self, session_id: str) -> None:
        """Remove what a session's sandbox left: its container and volume, or its workspace."""
        if self.kind == "docker":
            from nb_agents.sandbox.docker import DockerSandbox

            await DockerSandbox(session_id, state_dir=self.state_dir).destroy()
        else:
            shutil.rmtree(self.workspace(session_id), ignore_errors=True)


def choose_provider(state_dir: Path, choice: str | None = None) -> SandboxProvider:
    """The provider ``choice`` (or ``NB_AGENTS_SANDBOX``) asks for.

    Raises:
        PrerequisiteError: ``docker`` was asked for and cannot run here, or an unknown choice.
    """
    choice = (choice or os.environ.get("NB_AGENTS_SANDBOX") or "auto").lower()
    if choice not in ("auto", "docker", "process"):
        raise PrerequisiteError(f"NB_AGENTS_SANDBOX={choice!r}: use auto, docker or process")
    if choice == "process":
        return SandboxProvider("process", state_dir)
    from nb_agents.sandbox.docker import unavailable_reason

    reason = unavailable_reason()
    if reason is None:
        return SandboxProvider("docker", state_dir)
    if choice == "docker":
        raise PrerequisiteError(f"Docker sandboxes cannot run here: {reason}")
    warning = (
        f"Tools run in a process sandbox on the host, WITHOUT isolation (no Docker: {reason}). "
        "Files, processes and the network of this machine are within the agent's reach."
    )
    log.warning("%s", warning)
    return SandboxProvider("process", state_dir, warning)
