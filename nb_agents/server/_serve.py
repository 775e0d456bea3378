"""Run the local server: the key, the listening socket and the discovery file."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from nb_agents import __version__
from nb_agents._credentials import describe_credentials, model_credentials
from nb_agents._home import SERVER_FILE
from nb_agents.errors import PrerequisiteError
from nb_agents.runtime import Runtime
from nb_agents.server._app import create_app
from nb_agents.server._logging import server_logging
from nb_agents.server._params import MAX_BODY_BYTES
from nb_agents.store import private_dir

__all__ = ["load_api_key", "serve"]

log = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_WILDCARD = ("0.0.0.0", "::", "")


def _allowed_hosts(host: str, extra: Sequence[str]) -> list[str]:
    """Host names served beside loopback: the bound address, ``extra`` and ``NB_AGENTS_ALLOWED_HOSTS``."""
    names = [h.strip() for h in os.environ.get("NB_AGENTS_ALLOWED_HOSTS", "").split(",") if h.strip()]
    names.extend(extra)
    if host not in _LOOPBACK and host not in _WILDCARD:
        names.append(host)
    return names


def _max_body_bytes() -> int:
    raw = os.environ.get("NB_AGENTS_MAX_REQUEST_BYTES")
    if not raw:
        return MAX_BODY_BYTES
    if not raw.isdigit() or int(raw) < 1024:
        raise PrerequisiteError(f"NB_AGENTS_MAX_REQUEST_BYTES: expected a number of bytes >= 1024, got {raw!r}")
    return int(raw)


def load_api_key(state_dir: Path) -> str:
    """``NB_AGENTS_API_KEY``, else the key stored in the state directory (created 0600)."""
    key = os.environ.get("NB_AGENTS_API_KEY")
    if key:
        return key
    path = state_dir / "api_key"
    if path.exists():
        return path.read_text().strip()
    private_dir(state_dir)
    key = "nba-" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


def _server_info(url: str, port: int) -> dict[str, object]:
    """What ``server.json`` says: where the server listens, which process it is, and which model
    credentials it holds (fingerprints, never the values; see ``nb_agents._credentials``)."""
    return {
        "url": url,
        "port": port,
        "pid": os.getpid(),
        "started_at": time.time(),
        "version": __version__,
        "python": sys.executable,
        "credentials": model_credentials(),
    }


def serve(
    state_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    record_dir: Path | None = None,
    allowed_hosts: Sequence[str] = (),
) -> None:
    """Serve the Managed Agents API for ``state_dir`` until interrupted.

    Args:
        state_dir: The runtime's state directory (made private: 0700).
        host: Interface to bind; loopback unless told otherwise.
        port: TCP port; 0 picks a free one. The chosen URL is written to
            ``state_dir/server.json``, with the pid, the start time and which model
            credentials this process holds (fingerprints, never the values).
        record_dir: Record every live model response per session into this directory.
        allowed_hosts: ``Host`` header names to answer beside the loopback names and ``host``
            (``*``: any; also ``NB_AGENTS_ALLOWED_HOSTS``, comma-separated).
    """
    private_dir(state_dir)
    with server_logging(state_dir):
        _serve(state_dir, host, port, record_dir, _allowed_hosts(host, allowed_hosts))


def _serve(state_dir: Path, host: str, port: int, record_dir: Path | None, allowed_hosts: list[str]) -> None:
    if host not in _LOOPBACK:
        log.warning("binding to %s: the runtime is reachable beyond this machine (the key still applies)", host)
    key = load_api_key(state_dir)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it every keep-alive response waits ~40 ms for a delayed ACK (Nagle)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise PrerequisiteError(f"cannot listen on {host}:{port}: {exc}; choose another --port") from exc
    bound = sock.getsockname()[1]
    url_host = f"[{host}]" if family == socket.AF_INET6 else host
    url = f"http://{url_host}:{bound}"
    runtime = Runtime(state_dir, record_dir=record_dir)  # fails here, cleanly, if it cannot run
    app = create_app(lambda: runtime, key, allowed_hosts=allowed_hosts, max_body_bytes=_max_body_bytes())
    app.state.keepalive_seconds = float(os.environ.get("NB_AGENTS_SSE_KEEPALIVE", "15"))
    # log_config=None: uvicorn's records go to the root logger, hence to the rotated, rate-limited log
    config = uvicorn.Config(app, log_level="warning", log_config=None, lifespan="on", timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    info = state_dir / SERVER_FILE

    async def main() -> None:
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started:
            tmp = info.with_suffix(".tmp")
            tmp.write_text(json.dumps(_server_info(url, bound)))
            tmp.replace(info)
            print(f"nb-agents: serving the Managed Agents API at {url} (state: {state_dir})", flush=True)
            print(f"nb-agents: model credentials: {describe_credentials(model_credentials())}", flush=True)
        await task

    try:
        asyncio.run(main())
    finally:
        try:
            if json.loads(info.read_text()).get("pid") == os.getpid():
                info.unlink()
        except (OSError, ValueError):
            pass
