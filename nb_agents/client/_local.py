"""The local runtime as a background process: find it, start it, show it, stop it.

The local runtime is a background ``nb-agents serve`` process that outlives the kernel (and the
script) that started it, so a session keeps running while notebooks restart. ``local_runtime``
reuses the server recorded in the state directory when it answers, and starts one otherwise;
`server_status`, `stop_server` and `restart_server` (``nb-agents server status|stop|restart``)
show and control it. One process at a time starts or stops the server of a state directory
(a lock file, ``server.lock``).

Clients made here follow the server: when a request finds nothing listening because the server
died, the client starts it again and sends the request to its new port. A server stopped on
purpose (`stop_server`) is started again by the next call a user makes, never by a thread that
only follows a session's events in the background.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb_agents._credentials import (
    credential_differences,
    describe_credentials,
    has_credentials,
    model_credentials,
)
from nb_agents._home import SERVER_FILE, state_dir
from nb_agents.errors import PrerequisiteError

if TYPE_CHECKING:
    import anthropic
    import httpx2

__all__ = [
    "LocalRuntime",
    "ServerStatus",
    "check_server_credentials",
    "in_background",
    "local_client",
    "local_runtime",
    "restart_server",
    "server_status",
    "stop_server",
]

log = logging.getLogger(__name__)

_LOCK_FILE = "server.lock"
_LOCK_WAIT = 60.0
_RESTART_HINT = "nb_agents.restart_server() in the kernel, or `nb-agents server restart` in a terminal"
_background = threading.local()


class LocalRuntime:
    """Where the local server listens, its key, and what its ``server.json`` says.

    Attributes:
        url: The server's base URL (loopback).
        api_key: The key clients send.
        pid: The server's process id.
        home: Its state directory.
        credentials: Which model credentials the server holds (fingerprints, never the values;
            see `model_credentials`), or None for a server that does not say.
        started_at: When it started (Unix time), or None.
    """

    def __init__(self, url: str, api_key: str, pid: int, home: Path, info: dict[str, Any] | None = None) -> None:
        info = info or {}
        self.url = url
        self.api_key = api_key
        self.pid = pid
        self.home = home
        self.credentials: dict[str, str | None] | None = info.get("credentials")
        self.started_at: float | None = info.get("started_at")

    def __repr__(self) -> str:
        return f"LocalRuntime(url={self.url!r}, pid={self.pid}, home={str(self.home)!r})"


# ---- the process and its record ------------------------------------------------------------------


def _home(home: str | os.PathLike[str] | None) -> Path:
    return Path(home).expanduser() if home else state_dir()


def _read_info(home: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((home / SERVER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and "url" in info and "pid" in info else None


def _api_key(home: Path) -> str | None:
    try:
        stored = (home / "api_key").read_text().strip()
    except OSError:
        stored = None
    return os.environ.get("NB_AGENTS_API_KEY") or stored


def _answers(url: str, key: str) -> bool:
    import httpx2

    try:
        return httpx2.get(f"{url}/v1/agents?limit=1", headers={"x-api-key": key}, timeout=2).status_code == 200
    except httpx2.HTTPError:
        return False


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (an exited child of ours is reaped; a zombie counts as dead)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child
    else:
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _is_server_process(pid: int) -> bool:
    """Whether ``pid`` is alive and (where ``/proc`` tells) an ``nb-agents serve`` process."""
    if pid <= 0 or not _alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc here: the pid in server.json is all there is
    return b"serve" in argv and any(b"nb_agents" in a or b"nb-agents" in a for a in argv)


def _running(home: Path) -> LocalRuntime | None:
    info = _read_info(home)
    key = _api_key(home)
    if info is None or key is None or not _answers(info["url"], key):
        return None
    return LocalRuntime(info["url"], key, int(info["pid"]), home, info)


@contextlib.contextmanager
def _exclusive(home: Path, wait: float = _LOCK_WAIT) -> Iterator[None]:
    """Hold ``home/server.lock``: one process at a time starts or stops this home's server."""
    import fcntl

    home.mkdir(parents=True, exist_ok=True)
    with open(home / _LOCK_FILE, "a") as fh:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise PrerequisiteError(
                        f"another process has been starting or stopping the local server for {wait:.0f}s "
                        f"(it holds {home / _LOCK_FILE}); try again, or see {home / 'server.log'}"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _start(home: Path, timeout: float) -> LocalRuntime:
    """Start ``nb-agents serve`` for ``home`` detached, with this process's environment (the lock is held)."""
    (home / SERVER_FILE).unlink(missing_ok=True)
    with open(home / "server.log", "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nb_agents", "serve", "--state-dir", str(home)],
            stdin=subprocess.DEVNULL,
            stdout=out,
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
    if proc.poll() is None:  # never leave a server behind that we gave up on
        proc.kill()
        proc.wait(10)
    tail = (home / "server.log").read_text(errors="replace")[-2000:]
    raise PrerequisiteError(f"the local nb-agents server did not start (log: {home / 'server.log'}):\n{tail}")


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _stop(home: Path, timeout: float) -> int | None:
    """SIGTERM the recorded server and wait for it (SIGKILL after ``timeout``); its pid, or None."""
    info = _read_info(home)
    if info is None:
        return None
    pid = int(info["pid"])
    if not _is_server_process(pid):
        (home / SERVER_FILE).unlink(missing_ok=True)  # a record of a server that died
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _gone_within(pid, timeout):
        log.warning("the local server (pid %d) did not stop within %.0fs of SIGTERM; killing it", pid, timeout)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not _gone_within(pid, 10.0):
            raise PrerequisiteError(f"the local server (pid {pid}) survived SIGKILL for 10s")
    left = _read_info(home)
    if left is not None and int(left["pid"]) == pid:  # it was killed before removing its record
        (home / SERVER_FILE).unlink(missing_ok=True)
    return pid


# ---- the public controls ---------------------------------------------------------------------


def local_runtime(home: str | os.PathLike[str] | None = None, *, timeout: float = 30.0) -> LocalRuntime:
    """The local server of ``home`` (default: the state directory), started if none answers.

    The server is started detached (its own session; log in ``home/server.log``), so it keeps
    running when this process ends. It gets this process's environment, hence its
    ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL``.

    Raises:
        PrerequisiteError: The server did not come up within ``timeout`` seconds.
    """
    path = _home(home)
    found = _running(path)
    if found is not None:
        return found
    with _exclusive(path):
        return _running(path) or _start(path, timeout)


def stop_server(home: str | os.PathLike[str] | None = None, *, timeout: float = 10.0) -> int | None:
    """Stop the local server of ``home``: SIGTERM, then SIGKILL after ``timeout`` seconds.

    Sessions stay as stored: the next server resumes those that were running. Clients of this
    process start a server again on their next call.

    Returns:
        The pid of the server that was stopped, or None if none was running.
    """
    path = _home(home)
    with _exclusive(path):
        return _stop(path, timeout)


def restart_server(
    home: str | os.PathLike[str] | None = None, *, timeout: float = 30.0, stop_timeout: float = 10.0
) -> LocalRuntime:
    """Stop the local server of ``home`` (if one runs) and start a new one with this process's
    environment, e.g. after setting ``ANTHROPIC_API_KEY``. Running sessions resume on the new
    server; clients made before go to it on their next call.

    Args:
        home: The state directory (default: ``NB_AGENTS_HOME`` or ``~/.nb_agents``).
        timeout: Seconds the new server may take to answer.
        stop_timeout: Seconds the old one gets after SIGTERM before SIGKILL.

    Raises:
        PrerequisiteError: The new server did not come up.
    """
    path = _home(home)
    with _exclusive(path):
        _stop(path, stop_timeout)
        return _start(path, timeout)


@dataclass(frozen=True)
class ServerStatus:
    """What `server_status` found: the server of a state directory, and how it compares with the
    calling process.

    Attributes:
        home: The state directory.
        running: Whether a server answers there with this home's key.
        url, pid, started_at, version: From its ``server.json``.
        credentials: The model credentials the server holds (fingerprints), or None.
        sessions: Session count per status (``{"idle": 3, "running": 1}``), when it runs.
        note: Why it is not running, when something is left of it (a dead pid, a hung process).
    """

    home: Path
    running: bool
    url: str | None = None
    pid: int | None = None
    started_at: float | None = None
    version: str | None = None
    credentials: dict[str, str | None] | None = None
    sessions: dict[str, int] = field(default_factory=dict)
    note: str | None = None

    @property
    def credentials_differ(self) -> list[str]:
        """The credential variables whose value here differs from the server's (empty if the
        server does not run or does not say)."""
        if not self.running or self.credentials is None:
            return []
        return credential_differences(self.credentials, model_credentials())

    def __str__(self) -> str:
        if not self.running:
            lines = [f"local server: not running (state: {self.home})"]
            if self.note:
                lines.append(f"  {self.note}")
            return "\n".join(lines)
        up = f", up {_duration(time.time() - self.started_at)}" if self.started_at else ""
        lines = [
            f"local server: running at {self.url} (pid {self.pid}{up})",
            f"  state:       {self.home} (log: {self.home / 'server.log'})",
            f"  version:     nb_agents {self.version or '?'}",
            "  credentials: " + (describe_credentials(self.credentials) if self.credentials else "not recorded"),
            "  sessions:    " + (", ".join(f"{n} {s}" for s, n in sorted(self.sessions.items())) or "none"),
        ]
        if self.credentials is not None and not has_credentials(self.credentials):
            lines.append("  only replay: models can answer (no ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN)")
        differ = self.credentials_differ
        if differ:
            here = describe_credentials(model_credentials())
            lines.append(f"  this process's credentials differ ({', '.join(differ)}): {here}")
            lines.append(f"  to give them to the server: {_RESTART_HINT}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _session_counts(runtime: LocalRuntime, limit: int = 10_000) -> dict[str, int]:
    """Sessions per status on ``runtime`` (at most ``limit`` sessions are counted)."""
    import anthropic

    client = anthropic.Anthropic(base_url=runtime.url, api_key=runtime.api_key, max_retries=0, timeout=10)
    counts: dict[str, int] = {}
    for seen, session in enumerate(client.beta.sessions.list(limit=100)):
        if seen >= limit:
            break
        counts[session.status] = counts.get(session.status, 0) + 1
    return counts


def server_status(home: str | os.PathLike[str] | None = None) -> ServerStatus:
    """The local server of ``home`` (default: the state directory), without starting one.

    ``print(nb_agents.server_status())`` shows where it listens, its pid and uptime, which model
    credentials it holds (never their values) and whether they differ from this process's, and
    its sessions per status.
    """
    path = _home(home)
    runtime = _running(path)
    if runtime is None:
        info = _read_info(path)
        note = None
        if info is not None:
            pid = int(info["pid"])
            if _is_server_process(pid):
                note = f"pid {pid} is alive but does not answer at {info['url']}: stop or restart it"
            else:
                note = f"server.json names pid {pid}, which is gone (it died); the next call starts a server again"
        return ServerStatus(path, False, note=note)
    info = _read_info(path) or {}
    return ServerStatus(
        path,
        True,
        url=runtime.url,
        pid=runtime.pid,
        started_at=runtime.started_at,
        version=info.get("version"),
        credentials=runtime.credentials,
        sessions=_session_counts(runtime),
    )


def check_server_credentials(model: str, home: str | os.PathLike[str] | None = None) -> LocalRuntime:
    """Make sure the local server can run a session of ``model``, with this process's credentials.

    A ``replay:`` model needs none and is not checked. For any other model: when this process
    holds credentials (``ANTHROPIC_API_KEY`` or ``ANTHROPIC_AUTH_TOKEN``) and the server's
    credentials or ``ANTHROPIC_BASE_URL`` differ, the server is restarted with this process's if
    no session runs on it, else a warning says how to restart it.

    Returns:
        The (possibly restarted) server.

    Raises:
        PrerequisiteError: The server holds no credentials, so ``model`` cannot answer.
    """
    runtime = local_runtime(home)
    if model.startswith("replay:") or runtime.credentials is None:  # None: a server that does not say
        return runtime
    here = model_credentials()
    differ = ", ".join(credential_differences(runtime.credentials, here))
    if differ and has_credentials(here):
        running = _session_counts(runtime).get("running", 0)
        if running == 0:
            old = runtime.pid
            runtime = restart_server(runtime.home)
            log.warning(
                "restarted the local nb-agents server (pid %d -> %d) to use this process's %s",
                old,
                runtime.pid,
                describe_credentials(here),
            )
        else:
            warnings.warn(
                f"the local nb-agents server (pid {runtime.pid}) holds other model credentials than this "
                f"process ({differ} differ; the server: {describe_credentials(runtime.credentials or {})}), and "
                f"{running} session(s) run on it, so it was not restarted. When they are done: {_RESTART_HINT} "
                "(running sessions resume after a restart).",
                stacklevel=3,
            )
    if runtime.credentials is not None and not has_credentials(runtime.credentials):
        raise PrerequisiteError(
            f"model {model!r} needs Anthropic credentials, and the local nb-agents server (pid {runtime.pid}) "
            "has none: set ANTHROPIC_API_KEY here (in a notebook: %env ANTHROPIC_API_KEY=sk-ant-...), then "
            f"{_RESTART_HINT}; or use an offline replay:<path> model"
        )
    return runtime


# ---- clients that follow the server ----------------------------------------------------------


@contextlib.contextmanager
def in_background() -> Iterator[None]:
    """Mark this thread's requests as background ones (following a session's events): they
    start a server again only when the last one died, not when it was stopped on purpose."""
    before = getattr(_background, "active", False)
    _background.active = True
    try:
        yield
    finally:
        _background.active = before


def _following_http_client(home: Path, runtime: LocalRuntime) -> httpx2.Client:
    """An SDK HTTP client whose requests go to the server of ``home`` wherever it listens now."""
    import anthropic
    import httpx2

    class _FollowServer(httpx2.HTTPTransport):
        def __init__(self) -> None:
            super().__init__()
            self.url = httpx2.URL(runtime.url)
            self.guard = threading.Lock()

        def _retarget(self, request: httpx2.Request) -> None:
            if (request.url.host, request.url.port) != (self.url.host, self.url.port):
                request.url = request.url.copy_with(host=self.url.host, port=self.url.port)
                request.headers["host"] = self.url.netloc.decode("ascii")

        def _recover(self, failed: httpx2.URL) -> bool:
            with self.guard:
                if self.url != failed:
                    return True  # another thread found the server already
                info = _read_info(home)
                if info is None and getattr(_background, "active", False):
                    return False  # stopped on purpose: only a user's call starts it again
                fresh = local_runtime(home)
                self.url = httpx2.URL(fresh.url)
                return True

        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            self._retarget(request)
            used = self.url
            try:
                return super().handle_request(request)
            except httpx2.ConnectError:
                if not self._recover(used):
                    raise
            self._retarget(request)
            return super().handle_request(request)

    return anthropic.DefaultHttpxClient(transport=_FollowServer())


def local_client(home: str | os.PathLike[str] | None = None, **kwargs: Any) -> anthropic.Anthropic:
    """An ``anthropic.Anthropic`` client for the local runtime (started if needed, and again if it
    dies)."""
    import anthropic

    path = _home(home)
    runtime = local_runtime(path)
    kwargs.setdefault("http_client", _following_http_client(path, runtime))
    return anthropic.Anthropic(base_url=runtime.url, api_key=runtime.api_key, **kwargs)
