"""The Managed Agents endpoints the local runtime serves (paths as in the SDK)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.requests import Request

from nb_agents.errors import InvalidRequestError, NotAvailableLocallyError
from nb_agents.runtime import Runtime
from nb_agents.server import _params as q
from nb_agents.server._stream import stream_events
from nb_agents.server._unsupported import UNSUPPORTED_ROUTES

__all__ = ["ROUTES"]

Json = dict[str, Any]


_STATUSES = ("rescheduling", "running", "idle", "terminated")


def _page(data: list[Json], kind: str, nxt: int | None, order: str = "") -> Json:
    return {"data": data, "next_page": q.cursor_out(kind, nxt, "next", order)}


@contextmanager
def _cursor_checked() -> Iterator[None]:
    """A well-formed cursor naming no row of the list (the store's ValueError) is a 400."""
    try:
        yield
    except ValueError as exc:
        raise InvalidRequestError(f"page: {exc}; pass the next_page value you were given") from None


# ---- agents --------------------------------------------------------------------------------------


async def create_agent(request: Request, rt: Runtime) -> Json:
    return rt.create_agent(await q.body(request))


async def retrieve_agent(request: Request, rt: Runtime) -> Json:
    return rt.get_agent(request.path_params["agent_id"], q.integer(request, "version"))


async def update_agent(request: Request, rt: Runtime) -> Json:
    return rt.update_agent(request.path_params["agent_id"], await q.body(request))


async def list_agents(request: Request, rt: Runtime) -> Json:
    cursor = q.cursor_in(request, "agents")
    created = q.range_filter(request, "created_at")
    with _cursor_checked():
        data, nxt = rt.store.list_agents(
            include_archived=q.flag(request, "include_archived"),
            created_gte=created.get("gte"),
            created_lte=created.get("lte"),
            after=cursor[0] if cursor else None,
            limit=q.limit(request),
        )
    return _page(data, "agents", nxt)


async def archive_agent(request: Request, rt: Runtime) -> Json:
    return rt.archive_agent(request.path_params["agent_id"])


async def list_agent_versions(request: Request, rt: Runtime) -> Json:
    agent_id = request.path_params["agent_id"]
    rt.get_agent(agent_id)
    cursor = q.cursor_in(request, "versions")
    data, nxt = rt.store.list_agent_versions(agent_id, after=cursor[0] if cursor else None, limit=q.limit(request))
    return _page(data, "versions", nxt)


# ---- environments --------------------------------------------------------------------------------


async def create_environment(request: Request, rt: Runtime) -> Json:
    return rt.create_environment(await q.body(request))


async def retrieve_environment(request: Request, rt: Runtime) -> Json:
    return rt.get_environment(request.path_params["environment_id"])


async def update_environment(request: Request, rt: Runtime) -> Json:
    return rt.update_environment(request.path_params["environment_id"], await q.body(request))


async def list_environments(request: Request, rt: Runtime) -> Json:
    cursor = q.cursor_in(request, "environments")
    with _cursor_checked():
        data, nxt = rt.store.list_environments(
            include_archived=q.flag(request, "include_archived"),
            after=cursor[0] if cursor else None,
            limit=q.limit(request),
        )
    return _page(data, "environments", nxt)


async def archive_environment(request: Request, rt: Runtime) -> Json:
    return rt.archive_environment(request.path_params["environment_id"])


async def delete_environment(request: Request, rt: Runtime) -> Json:
    return rt.delete_environment(request.path_params["environment_id"])


# ---- sessions ------------------------------------------------------------------------------------


async def create_session(request: Request, rt: Runtime) -> Json:
    return rt.create_session(await q.body(request))


async def retrieve_session(request: Request, rt: Runtime) -> Json:
    return rt.require_session(request.path_params["session_id"])


async def update_session(request: Request, rt: Runtime) -> Json:
    return rt.update_session(request.path_params["session_id"], await q.body(request))


async def list_sessions(request: Request, rt: Runtime) -> Json:
    order = q.order(request, "desc")
    cursor = q.cursor_in(request, "sessions", order)
    created = q.range_filter(request, "created_at")
    for name, feature in (("deployment_id", "deployments"), ("memory_store_id", "memory stores")):
        if request.query_params.get(name) is not None:
            raise NotAvailableLocallyError(f"the '{name}' filter of sessions.list ({feature})")
    statuses = request.query_params.getlist("statuses[]")
    unknown = sorted(set(statuses) - set(_STATUSES))
    if unknown:
        raise InvalidRequestError(f"statuses[]: {unknown} are not statuses; use {', '.join(_STATUSES)}")
    with _cursor_checked():
        data, nxt, prev = rt.store.list_sessions(
            agent_id=request.query_params.get("agent_id"),
            agent_version=q.integer(request, "agent_version"),
            statuses=statuses or None,
            include_archived=q.flag(request, "include_archived"),
            created_gt=created.get("gt"),
            created_gte=created.get("gte"),
            created_lt=created.get("lt"),
            created_lte=created.get("lte"),
            order=order,
            after=cursor[0] if cursor and cursor[1] == "next" else None,
            before=cursor[0] if cursor and cursor[1] == "prev" else None,
            limit=q.limit(request),
        )
    return {
        "data": data,
        "next_page": q.cursor_out("sessions", nxt, "next", order),
        "prev_page": q.cursor_out("sessions", prev, "prev", order),
    }


async def archive_session(request: Request, rt: Runtime) -> Json:
    return await rt.archive_session(request.path_params["session_id"])


async def delete_session(request: Request, rt: Runtime) -> Json:
    return await rt.delete_session(request.path_params["session_id"])


# ---- events --------------------------------------------------------------------------------------


async def send_events(request: Request, rt: Runtime) -> Json:
    data = await q.body(request)
    if set(data) - {"events"}:
        raise InvalidRequestError(f"unknown field(s) {', '.join(sorted(set(data) - {'events'}))}; allowed: events")
    events = data.get("events")
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise InvalidRequestError("'events' must be a list of event objects")
    return {"data": rt.send_events(request.path_params["session_id"], events)}


async def list_events(request: Request, rt: Runtime) -> Json:
    session_id = request.path_params["session_id"]
    order = q.order(request, "asc")
    size = q.limit(request, default=100, maximum=1000)
    cursor = q.cursor_in(request, "events", order)
    rt.require_session(session_id)
    types = request.query_params.getlist("types[]") or None
    created = q.range_filter(request, "created_at")
    after = cursor[0] if cursor and order == "asc" else 0
    before = cursor[0] if cursor and order == "desc" else None
    if created:
        rows = [e for e in rt.store.read(session_id, types=types, order=order) if _in_range(e.body, created)]
        rows = [e for e in rows if (e.seq > after if order == "asc" else before is None or e.seq < before)]
    else:
        rows = rt.store.read(session_id, after_seq=after, before_seq=before, types=types, limit=size + 1, order=order)
    page = rows[:size]
    nxt = page[-1].seq if len(rows) > size else None
    return _page([e.body for e in page], "events", nxt, order)


def _in_range(event: Json, bounds: dict[str, str]) -> bool:
    at = event.get("processed_at")
    if at is None:
        return False
    checks = {
        "gt": at > bounds.get("gt", ""),
        "gte": at >= bounds.get("gte", ""),
        "lt": at < bounds.get("lt", "\uffff"),
        "lte": at <= bounds.get("lte", "\uffff"),
    }
    return all(checks[op] for op in bounds)


ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/v1/agents", create_agent),
    ("GET", "/v1/agents", list_agents),
    ("GET", "/v1/agents/{agent_id}", retrieve_agent),
    ("POST", "/v1/agents/{agent_id}", update_agent),
    ("POST", "/v1/agents/{agent_id}/archive", archive_agent),
    ("GET", "/v1/agents/{agent_id}/versions", list_agent_versions),
    ("POST", "/v1/environments", create_environment),
    ("GET", "/v1/environments", list_environments),
    ("GET", "/v1/environments/{environment_id}", retrieve_environment),
    ("POST", "/v1/environments/{environment_id}", update_environment),
    ("DELETE", "/v1/environments/{environment_id}", delete_environment),
    ("POST", "/v1/environments/{environment_id}/archive", archive_environment),
    ("POST", "/v1/sessions", create_session),
    ("GET", "/v1/sessions", list_sessions),
    ("GET", "/v1/sessions/{session_id}", retrieve_session),
    ("POST", "/v1/sessions/{session_id}", update_session),
    ("DELETE", "/v1/sessions/{session_id}", delete_session),
    ("POST", "/v1/sessions/{session_id}/archive", archive_session),
    ("GET", "/v1/sessions/{session_id}/events", list_events),
    ("POST", "/v1/sessions/{session_id}/events", send_events),
    ("GET", "/v1/sessions/{session_id}/events/stream", stream_events),
    *UNSUPPORTED_ROUTES,
]
