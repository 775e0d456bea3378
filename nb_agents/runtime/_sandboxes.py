"""Which hands a runtime uses: a Docker container per session, or the process sandbox.

``NB_AGENTS_SANDBOX`` chooses: ``docker``, ``process``, or ``auto`` (the default: Docker when an
engine and the base image are there, else the process sandbox). Every session whose tools run in
the process sandbox, chosen or fallen back to, is told that it has no isolation, and, when its
environment limits networking, that the limit is not enforced.
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
        why: Why this kind was chosen, for the process sandbox's notice (``NB_AGENTS_SANDBOX=process``,
            or why Docker cannot run).
    """

    def __init__(self, kind: str, state_dir: Path, why: str = "") -> None:
        self.kind = kind
        self.state_dir = state_dir
        self.why = why

    def notice(self, environment: Mapping[str, Any]) -> str | None:
        """What a session on ``environment`` must be told about its sandbox, or None (Docker)."""
        if self.kind == "docker":
            return None
        text = (
            f"Tools run in a process sandbox on the host, WITHOUT isolation ({self.why}). "
            "Files, processes and the network of this machine are within the agent's reach."
        )
        networking = ((environment.get("config") or {}).get("networking") or {}).get("type", "unrestricted")
        if networking != "unrestricted":
            text += (
                f" This environment's networking ('{networking}') is NOT enforced: the process sandbox "
                "cannot limit the network; use the Docker sandbox for that."
            )
        return text

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
        return SandboxProvider("process", state_dir, "NB_AGENTS_SANDBOX=process")
    from nb_agents.sandbox.docker import unavailable_reason

    reason = unavailable_reason()
    if reason is None:
        return SandboxProvider("docker", state_dir)
    if choice == "docker":
        raise PrerequisiteError(f"Docker sandboxes cannot run here: {reason}")
    provider = SandboxProvider("process", state_dir, f"no Docker: {reason}")
    log.warning("%s", provider.notice({}))
    return provider
