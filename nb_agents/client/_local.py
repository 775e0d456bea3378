"""The local runtime as a background process: find it, or start it.

The local runtime is a background ``nb-agents serve`` process that outlives the kernel (and the
script) that started it, so a session keeps running while notebooks restart. ``local_client``
reuses the server recorded in the state directory when it answers, and starts one otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb_agents._home import SERVER_FILE, state_dir
from nb_agents.errors import PrerequisiteError

if TYPE_CHECKING:
    import anthropic

__all__ = ["LocalRuntime", "local_client", "local_runtime"]


class LocalRuntime:
    """Where the local server listens, and its key."""

    def __init__(self, url: str, api_key: str, pid: int, home: Path) -> None:
        self.url = url
        self.api_key = api_key
        self.pid = pid
        self.home = home

    def __repr__(self) -> str:
        return f"LocalRuntime(url={self.url!r}, pid={self.pid}, home={str(self.home)!r})"


def _answers(url: str, key: str) -> bool:
    import httpx2

    try:
        return httpx2.get(f"{url}/v1/agents?limit=1", headers={"x-api-key": key}, timeout=2).status_code == 200
    except httpx2.HTTPError:
        return False


def _running(home: Path) -> LocalRuntime | None:
    try:
        info = json.loads((home / SERVER_FILE).read_text())
        key = (home / "api_key").read_text().strip()
    except (OSError, ValueError):
        return None
    key = os.environ.get("NB_AGENTS_API_KEY") or key
    if not _answers(info["url"], key):
        return None
    return LocalRuntime(info["url"], key, int(info["pid"]), home)


def local_runtime(home: str | os.PathLike[str] | None = None, *, timeout: float = 30.0) -> LocalRuntime:
    """The local server of ``home`` (default: the state directory), started if none answers.

    The server is started detached (its own session; log in ``home/server.log``), so it keeps
    running when this process ends.

    Raises:
        PrerequisiteError: The server did not come up within ``timeout`` seconds.
    """
    home = Path(home).expanduser() if home else state_dir()
    found = _running(home)
    if found is not None:
        return found
    home.mkdir(parents=True, exist_ok=True)
    (home / SERVER_FILE).unlink(missing_ok=True)
    with open(home / "server.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nb_agents", "serve", "--state-dir", str(home)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _running(home)
        if found is not None:
            return found
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    tail = (home / "server.log").read_text(errors="replace")[-2000:]
    raise PrerequisiteError(f"the local nb-agents server did not start (log: {home / 'server.log'}):\n{tail}")


def local_client(home: str | os.PathLike[str] | None = None, **kwargs: Any) -> anthropic.Anthropic:
    """An ``anthropic.Anthropic`` client for the local runtime (started if needed)."""
    import anthropic

    runtime = local_runtime(home)
    return anthropic.Anthropic(base_url=runtime.url, api_key=runtime.api_key, **kwargs)
