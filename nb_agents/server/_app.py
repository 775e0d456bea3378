"""The ASGI app: auth, request ids and the API's error envelope around every route."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nb_agents.errors import ApiError, AuthenticationError, NotFoundError
from nb_agents.events import new_id
from nb_agents.runtime import Runtime

__all__ = ["Handler", "api", "create_app", "error_response"]

log = logging.getLogger(__name__)

Handler = Callable[[Request, Runtime], Awaitable[Any]]


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
    return JSONResponse(body, status_code=exc.status, headers=headers)


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
        except ApiError as exc:
            return error_response(exc, request_id)
        except Exception:
            log.exception("request %s failed", request_id)
            return error_response(ApiError("internal error in the local runtime; see its log"), request_id)
        if isinstance(result, Response):
            result.headers["request-id"] = request_id
            return result
        return JSONResponse(result, headers={"request-id": request_id})

    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    request_id = new_id("req")
    if status == 404:
        return error_response(NotFoundError(f"no route {request.method} {request.url.path}"), request_id)
    if status == 405:
        err = ApiError(f"method {request.method} is not allowed on {request.url.path}")
        err.status, err.error_type = 405, "invalid_request_error"
        return error_response(err, request_id)
    return error_response(ApiError("internal error in the local runtime"), request_id)


def create_app(runtime_factory: Callable[[], Runtime], api_key: str) -> Starlette:
    """The local Managed Agents server.

    Args:
        runtime_factory: Builds the runtime once the event loop runs (startup); it is closed at
            shutdown.
        api_key: The key every request must carry.
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
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})
    app.state.api_key = api_key
    return app
