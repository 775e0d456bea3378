"""The ASGI app: Host check, auth, request ids and the API's error envelope around every route."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nb_agents.errors import ApiError, AuthenticationError, NotFoundError
from nb_agents.events import new_id
from nb_agents.runtime import Runtime
from nb_agents.server._hosts import HostCheck
from nb_agents.server._params import MAX_BODY_BYTES

__all__ = ["ApiJSONResponse", "Handler", "api", "create_app", "error_response", "json_bytes"]

log = logging.getLogger(__name__)

Handler = Callable[[Request, Runtime], Awaitable[Any]]


def json_bytes(content: Any) -> bytes:
    """Compact UTF-8 JSON; a lone surrogate (only an old stored row can hold one) becomes ``?``.

    Raises:
        ValueError, TypeError: ``content`` is not plain, finite JSON.
    """
    text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8", errors="replace")


class ApiJSONResponse(JSONResponse):
    """A JSON response whose encoding never fails on text the store holds."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


def error_response(exc: ApiError, request_id: str) -> JSONResponse:
    """The Managed Agents error envelope for ``exc``."""
    error: dict[str, Any] = {"type": exc.error_type, "message": exc.message}
    details = dict(exc.details)
    if exc.error_code:
        details["error_code"] = exc.error_code
    if details:
        error["details"] = details
    headers = {"request-id": request_id}
    if exc.retryable is not None:
        headers["x-should-retry"] = "true" if exc.retryable else "false"
    body = {"type": "error", "error": error, "request_id": request_id}
    return ApiJSONResponse(body, status_code=exc.status, headers=headers)


def _authorized(request: Request, key: str) -> bool:
    given = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if given is None and auth[:7].lower() == "bearer ":
        given = auth[7:].strip()
    return given is not None and hmac.compare_digest(given.encode(), key.encode())


def api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a route: check the key, run it, and turn every failure into the error envelope."""

    async def endpoint(request: Request) -> Response:
        request_id = new_id("req")
        try:
            if not _authorized(request, request.app.state.api_key):
                raise AuthenticationError(
                    "invalid or missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key'"
                )
            result = await handler(request, request.app.state.runtime)
            if isinstance(result, Response):
                result.headers["request-id"] = request_id
                return result
            return ApiJSONResponse(result, headers={"request-id": request_id})  # encodes here, inside the try
        except ApiError as exc:
            return error_response(exc, request_id)
        except Exception:
            log.exception("request %s failed", request_id)
            return error_response(ApiError("internal error in the local runtime; see its log"), request_id)

    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    request_id = new_id("req")
    if status == 404:
        return error_response(NotFoundError(f"no route {request.method} {request.url.path}"), request_id)
    if status < 500:
        message = f"method {request.method} is not allowed on {request.url.path}" if status == 405 else str(exc)
        err = ApiError(message)
        err.status, err.error_type = status, "invalid_request_error"
        return error_response(err, request_id)
    return error_response(ApiError("internal error in the local runtime"), request_id)


def create_app(
    runtime_factory: Callable[[], Runtime],
    api_key: str,
    *,
    allowed_hosts: Iterable[str] = (),
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Starlette:
    """The local Managed Agents server.

    Args:
        runtime_factory: Builds the runtime once the event loop runs (startup); it is closed at
            shutdown.
        api_key: The key every request must carry.
        allowed_hosts: ``Host`` names served beside the loopback names (``*``: any).
        max_body_bytes: The largest request body accepted (413 above it).
    """
    from nb_agents.server._routes import ROUTES

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = runtime_factory()
        app.state.runtime = runtime
        resumed = runtime.recover()
        if resumed:
            log.warning("resumed %d running session(s) from the log", resumed)
        try:
            yield
        finally:
            await runtime.close()

    routes = [Route(path, api(handler), methods=[method]) for method, path, handler in ROUTES]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
        middleware=[Middleware(HostCheck, allowed=tuple(allowed_hosts))],
    )
    app.state.api_key = api_key
    app.state.max_body_bytes = max_body_bytes
    return app
