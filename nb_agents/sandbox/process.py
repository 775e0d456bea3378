"""The process sandbox: the tools run in a local subprocess. It does NOT isolate anything.

Use it where no Docker engine exists (Binder, CI without Docker, quick demos). The agent's
commands run as your user, on your machine, with your files and your network: ``rm -rf ~``
would do exactly that. The only protections are a scrubbed environment (no API keys, tokens or
secrets from the host) and ``HOME`` pointing at the workspace. The runtime warns when it uses it.

Unlike the Docker sandbox it has no tool user, no dropped capabilities and no limits (memory,
CPU, processes, disk). Its executor keeps the protocol off the descriptors tools inherit and is
non-dumpable, which keeps processes without ``CAP_SYS_PTRACE`` out of the channel; run as root,
the tools could still write into it (the host's bounds on what it reads still hold).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
import weakref
from collections.abc import Mapping
from pathlib import Path

from nb_agents.errors import SandboxUnavailableError
from nb_agents.sandbox._base import EXECUTOR_PATH, ExecutorSandbox, NoticeCallback, end_process
from nb_agents.sandbox._client import ExecutorClient

__all__ = ["EXECUTOR_PATH", "ProcessSandbox", "scrubbed_environ"]

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|SESSION", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"sk-ant-|://[^/\s:@]+:[^/\s@]+@")  # Anthropic keys, user:password@ URLs


def scrubbed_environ(environ: Mapping[str, str], workspace: Path | str) -> dict[str, str]:
    """The host environment with credentials removed, as the sandbox's tools see it.

    Drops ``ANTHROPIC_*`` and ``NB_AGENTS_*``, every name containing KEY, TOKEN, SECRET, PASSW,
    CREDENTIAL, AUTH, COOKIE or SESSION, and every value that holds an Anthropic key or a URL with
    a password. Sets ``HOME`` to the workspace and ``TERM=dumb``; keeps ``PATH``, ``LANG`` and
    the rest.

    Args:
        environ: The host environment (usually ``os.environ``).
        workspace: The sandbox's workspace directory.

    Returns:
        A new mapping.
    """
    env = {
        name: value
        for name, value in environ.items()
        if not name.startswith(("ANTHROPIC_", "NB_AGENTS_"))
        and not _SECRET_NAME.search(name)
        and not _SECRET_VALUE.search(value)
    }
    env.update(HOME=str(workspace), TERM="dumb")
    env.setdefault("PATH", os.defpath)
    return env


class ProcessSandbox(ExecutorSandbox):
    """Runs the tools in a local executor subprocess, in its own session and process group.

    **No isolation**: commands run as the current user with full access to the machine and the
    network. See the module docstring.

    Args:
        workspace: The working directory; created if missing. Relative tool paths resolve here.
        env: Extra variables for the tools, set on top of the scrubbed host environment (not
            scrubbed themselves: pass no secrets).
        on_notice: Called with ``(kind, message)`` for things the session log should show
            (see `NoticeCallback`).
    """

    name = "process"

    def __init__(
        self, workspace: Path | str, *, env: Mapping[str, str] | None = None, on_notice: NoticeCallback | None = None
    ) -> None:
        super().__init__(on_notice)
        self._workspace = Path(workspace).expanduser().resolve()
        self._extra_env = dict(env or {})
        self._proc: asyncio.subprocess.Process | None = None
        self._finalizer: weakref.finalize[[int], ProcessSandbox] | None = None

    @property
    def workspace(self) -> str:
        """The workspace directory (a host path)."""
        return str(self._workspace)

    @property
    def pid(self) -> int | None:
        """The executor's process id (also its process group and session id), if running."""
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    async def _spawn(self) -> ExecutorClient:
        if os.name != "posix":
            raise SandboxUnavailableError("the process sandbox needs a POSIX system (bash, process groups)")
        if not (os.path.exists("/bin/bash") or shutil.which("bash")):
            raise SandboxUnavailableError("the process sandbox needs bash, and there is none on PATH")
        python = sys.executable or shutil.which("python3")
        if not python:
            raise SandboxUnavailableError("the process sandbox cannot find a Python interpreter")
        env = {**scrubbed_environ(os.environ, self._workspace), **self._extra_env}
        try:
            self._workspace.mkdir(parents=True, exist_ok=True)
            proc = await asyncio.create_subprocess_exec(
                python,
                "-I",
                "-S",
                str(EXECUTOR_PATH),
                "--workspace",
                str(self._workspace),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=self._workspace,
                start_new_session=True,
            )
        except OSError as exc:
            raise SandboxUnavailableError(f"cannot start the process sandbox's executor: {exc}") from exc
        self._proc = proc
        # A sandbox dropped without close() (a notebook cell re-run) must not leave processes behind.
        self._finalizer = weakref.finalize(self, _kill_session, proc.pid)
        return ExecutorClient.from_process(proc, on_violation=self._executor_violated)

    async def _teardown(self) -> None:
        proc, self._proc = self._proc, None
        finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.detach()
        if proc is None:
            return
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()  # the executor kills its shell's process group and exits
        await end_process(proc, 1.0)
        _kill_session(proc.pid)


def _kill_session(sid: int) -> None:
    """SIGKILL the executor's process group, then (on Linux) every process left in its session."""
    try:
        os.killpg(sid, signal.SIGKILL)
    except OSError:
        pass
    try:
        entries = os.listdir("/proc")
    except OSError:
        return  # no /proc (macOS): the executor kills its shell's group itself on exit
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if int(fields[3]) == sid:
                os.kill(int(entry), signal.SIGKILL)
        except (OSError, IndexError, ValueError):
            continue
