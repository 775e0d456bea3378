"""A Messages-compatible fake model server on loopback, for tests and benchmarks.

``FakeModelServer`` answers ``POST /v1/messages`` from a script, streamed (Anthropic SSE) or not,
so the real ``anthropic`` SDK, and everything built on it, can be driven without Claude:

```python
with FakeModelServer([{"fault": "overloaded"}, text_response("hi")]) as srv:
    client = AsyncAnthropic(base_url=srv.base_url, api_key="test", max_retries=0)
    ...
    assert srv.requests[1].body["messages"][-1]["role"] == "user"
```

A script step is a Message dict (see ``text_response``/``tool_use_response``), a fault, or a
callable ``(request_json) -> step``; the script itself may also be one such callable. Any step
may carry ``"delay_ms"`` (wait before answering). Faults:

| step | answer |
|---|---|
| ``{"fault": "overloaded"}`` | 529 ``overloaded_error`` |
| ``{"fault": "rate_limited", "retry_after": s}`` | 429 ``rate_limit_error`` (with ``retry-after``) |
| ``{"fault": "server_error"}`` | 500 ``api_error`` |
| ``{"fault": "error", "status": N, "error_type": t}`` | any status and error type |
| ``{"fault": "break", "response": msg?, "after_events": n?}`` | part of a stream, then the connection drops |
| ``{"fault": "truncate", ...}`` (as break) | part of a stream, ended cleanly (no message_stop) |
| ``{"fault": "stream_error", "error_type": t?}`` | 200 stream that carries an SSE ``error`` event |
| ``{"fault": "hang"}`` | never answers (until the client goes away or the server closes) |
| ``{"fault": "stall", "response": msg?, "after_events": n?}`` | streams ``n`` events (default 0: only \
the headers), then sends nothing more until the client goes away |
| ``{"fault": "malformed", "after_events": n?}`` | streams ``n`` events (default 2), then an event whose \
data is not JSON, then ends |

A request with no step left, or a step that is neither, is answered 400 ``invalid_request_error``
(which a client does not retry), so a short script fails a test loudly.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeAlias

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from nb_agents.testing._responses import (
    message_events,
    message_response,
    text_response,
    tool_use_response,
)

__all__ = [
    "FakeModelServer",
    "ReceivedRequest",
    "Script",
    "Step",
    "message_events",
    "message_response",
    "text_response",
    "tool_use_response",
]

Step: TypeAlias = Mapping[str, Any]
"""One scripted answer: a Messages response dict, or a fault dict (``{"fault": ...}``)."""
StepFactory: TypeAlias = Callable[[dict[str, Any]], Step]
Script: TypeAlias = Iterable[Step | StepFactory] | StepFactory
"""Steps consumed one per request, or one callable that answers every request."""

_FAULTS = {
    "overloaded": (529, "overloaded_error", "Overloaded"),
    "rate_limited": (429, "rate_limit_error", "Number of request tokens has exceeded your rate limit."),
    "server_error": (500, "api_error", "Internal server error"),
}


@dataclass(frozen=True)
class ReceivedRequest:
    """A request the fake server received."""

    body: dict[str, Any]
    """The parsed JSON body (``model``, ``messages``, ``tools``, ``stream`` ...)."""
    headers: dict[str, str]
    """The HTTP headers, names lower-cased."""


def _error(status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


class _BrokenResponse(Response):
    """Sends the start of a body, then returns without finishing it: the server drops the connection."""

    def __init__(self, first_bytes: bytes, media_type: str) -> None:
        super().__init__(media_type=media_type)
        self._first = first_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # No content-length, so the body is chunked and the client sees it end mid-chunk-stream.
        headers = [(b"content-type", (self.media_type or "").encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self._first, "more_body": True})


class _StalledResponse(Response):
    """Sends the headers and the start of an SSE body, then nothing until the client goes away."""

    def __init__(self, first_bytes: bytes, server: FakeModelServer) -> None:
        super().__init__(media_type="text/event-stream")
        self._first = first_bytes
        self._server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        if self._first:
            await send({"type": "http.response.body", "body": self._first, "more_body": True})
        await self._server._wait_for_disconnect(receive)


class _QuietBreaks(logging.Filter):
    """Drops uvicorn's complaint about the responses a ``break`` fault cuts off on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        on_purpose = record.threadName == _THREAD and "without completing response" in record.getMessage()
        return not on_purpose


_THREAD = "FakeModelServer"
_QUIET_BREAKS = _QuietBreaks()


def _sse(name: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


class FakeModelServer:
    """A Messages API on ``127.0.0.1`` (an ephemeral port), run by uvicorn in a background thread.

    Use it as a context manager; ``base_url`` goes to ``AsyncAnthropic(base_url=...)`` or
    ``ANTHROPIC_BASE_URL``.

    Args:
        script: Steps consumed one per request, or a callable that answers every request.
        latency_ms: Extra wait before every answer (for benchmarks).
        api_key: If set, requests without this ``x-api-key`` (or Bearer token) get a 401.
        chunk_size: Characters per text/thinking/JSON delta in streamed answers.

    Attributes:
        requests: Every request received, in order.
        disconnects: How many ``hang`` and ``stall`` requests were ended by the client going away.
    """

    def __init__(
        self,
        script: Script = (),
        *,
        latency_ms: float = 0.0,
        api_key: str | None = None,
        chunk_size: int = 16,
    ) -> None:
        self._factory: StepFactory | None = script if callable(script) else None
        self._steps: collections.deque[Step | StepFactory] = collections.deque(() if callable(script) else script)
        self._latency = latency_ms / 1000
        self._api_key = api_key
        self._chunk_size = chunk_size
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self.requests: list[ReceivedRequest] = []
        self.disconnects = 0
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])

    @property
    def base_url(self) -> str:
        """The server's root URL, e.g. ``http://127.0.0.1:41234`` (no ``/v1``, as the SDK wants)."""
        if self._sock is None:
            raise RuntimeError("FakeModelServer is not started")
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def push(self, *steps: Step | StepFactory) -> None:
        """Append steps to the script."""
        with self._lock:
            self._steps.extend(steps)

    @property
    def remaining(self) -> int:
        """How many scripted steps have not been consumed yet."""
        with self._lock:
            return len(self._steps)

    def start(self) -> FakeModelServer:
        """Bind the port and start serving; returns once the server accepts connections."""
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self._sock = sock
        config = uvicorn.Config(self.app, log_config=None, lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name=_THREAD, daemon=True)
        logging.getLogger("uvicorn.error").addFilter(_QUIET_BREAKS)
        self._thread.start()
        for _ in range(1000):
            if self._server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not self._server.started:
            raise RuntimeError("FakeModelServer did not start")
        return self

    def close(self) -> None:
        """Stop serving (releasing any ``hang``), and wait for the server thread."""
        self._closing.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _next_step(self, body: dict[str, Any]) -> Step | None:
        with self._lock:
            item: Step | StepFactory | None = self._factory
            if item is None and self._steps:
                item = self._steps.popleft()
        return item(body) if callable(item) else item

    def _authorized(self, request: Request) -> bool:
        if self._api_key is None:
            return True
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        return self._api_key in (request.headers.get("x-api-key"), bearer)

    async def _messages(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "invalid_request_error", "fake model server: body is not JSON")
        self.requests.append(ReceivedRequest(body=body, headers=dict(request.headers)))
        if not self._authorized(request):
            return _error(401, "authentication_error", "invalid x-api-key")
        step = self._next_step(body)
        if step is None:
            n = len(self.requests)
            return _error(400, "invalid_request_error", f"fake model server: script exhausted at request {n}")
        delay = self._latency + float(step.get("delay_ms", 0)) / 1000
        if delay:
            await asyncio.sleep(delay)
        stream = bool(body.get("stream"))
        fault = step.get("fault")
        if fault is None and isinstance(step.get("content"), list):
            answer = {k: v for k, v in step.items() if k != "delay_ms"}
            if not stream:
                return JSONResponse(answer)
            return StreamingResponse(self._stream(answer), media_type="text/event-stream")
        if fault in _FAULTS:
            status, error_type, message = _FAULTS[str(fault)]
            headers = {"retry-after": str(step["retry_after"])} if "retry_after" in step else None
            return _error(status, error_type, str(step.get("message", message)), headers)
        if fault == "error":
            message = str(step.get("message", "scripted error"))
            return _error(int(step["status"]), str(step["error_type"]), message)
        if fault == "hang":
            return await self._hang(request)
        if fault in ("break", "truncate"):
            response = step.get("response") or text_response("This answer is cut off in the middle.")
            if not stream:
                return _BrokenResponse(json.dumps(response).encode()[:20], "application/json")
            events = message_events(response, self._chunk_size)[: int(step.get("after_events", 4))]
            data = b"".join(_sse(n, d) for n, d in events)
            if fault == "truncate":
                return Response(data, media_type="text/event-stream")
            return _BrokenResponse(data, "text/event-stream")
        if fault == "stall":
            response = step.get("response") or text_response("This answer stops in the middle.")
            events = message_events(response, self._chunk_size)[: int(step.get("after_events", 0))]
            return _StalledResponse(b"".join(_sse(n, d) for n, d in events), self)
        if fault == "malformed":
            events = message_events(text_response("Garbled."), self._chunk_size)[: int(step.get("after_events", 2))]
            garbage = b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, \n\n'
            return Response(b"".join(_sse(n, d) for n, d in events) + garbage, media_type="text/event-stream")
        if fault == "stream_error":
            error_type = str(step.get("error_type", "overloaded_error"))
            error = {"type": "error", "error": {"type": error_type, "message": "scripted stream error"}}
            start = message_events(text_response(""), self._chunk_size)[:2]
            chunks = [*(_sse(n, d) for n, d in start), _sse("error", error)]
            return Response(b"".join(chunks), media_type="text/event-stream")
        return _error(400, "invalid_request_error", f"fake model server: bad script step {dict(step)!r}")

    async def _stream(self, message: Step) -> AsyncIterator[bytes]:
        for name, data in message_events(message, self._chunk_size):
            yield _sse(name, data)
            await asyncio.sleep(0)

    async def _hang(self, request: Request) -> Response:
        await self._wait_for_disconnect(request.receive)
        return _error(503, "api_error", "fake model server: hang ended")

    async def _wait_for_disconnect(self, receive: Receive) -> None:
        """Wait until the client goes away (counted in ``disconnects``) or the server closes."""
        while not self._closing.is_set():
            try:
                message = await asyncio.wait_for(receive(), 0.05)
            except asyncio.TimeoutError:
                continue
            if message["type"] == "http.disconnect":
                with self._lock:
                    self.disconnects += 1
                return
