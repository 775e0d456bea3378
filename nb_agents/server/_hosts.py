"""The ``Host`` header allow-list: a defence against DNS rebinding.

A web page can make a browser send requests to ``127.0.0.1`` under a hostile name that resolves
there (DNS rebinding). The key stops it from reading anything, but the server also answers only
requests addressed to a name it serves: the loopback names, the interface it binds, and any the
operator allows (``--allow-host``, ``NB_AGENTS_ALLOWED_HOSTS``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from nb_agents.events import new_id

__all__ = ["LOOPBACK_HOSTS", "HostCheck", "host_name"]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without port and brackets, lower-cased (``""`` if malformed)."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        rest = header[end + 1 :] if end > 0 else "?"
        if rest and not (rest[0] == ":" and rest[1:].isdigit()):
            return ""
        return header[1:end]
    name, sep, port = header.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        return name
    return "" if ":" in header else header


class HostCheck:
    """ASGI middleware: a request whose ``Host`` is not allowed gets the API's 400 envelope.

    Args:
        app: The wrapped application.
        allowed: Extra names (no port) beside the loopback names; ``*`` allows any name.
    """

    def __init__(self, app: ASGIApp, allowed: Iterable[str] = ()) -> None:
        self.app = app
        extra = {host_name(h) or h.strip().lower() for h in allowed if h.strip()}
        self.any = "*" in extra
        self.allowed = LOOPBACK_HOSTS | extra

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.any:
            await self.app(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        if host_name(header) in self.allowed:
            await self.app(scope, receive, send)
            return
        request_id = new_id("req")
        shown = header[:100] or "(none)"
        message = (
            f"Host header {shown!r} is not allowed: the local runtime answers requests addressed to "
            "localhost, 127.0.0.1 or [::1] (a defence against DNS rebinding); to serve another name, "
            "start it with --allow-host NAME or set NB_AGENTS_ALLOWED_HOSTS"
        )
        error = {"type": "invalid_request_error", "message": message}
        body = json.dumps({"type": "error", "error": error, "request_id": request_id}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"request-id", request_id.encode()),
        ]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})
