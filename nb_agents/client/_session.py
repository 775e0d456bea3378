"""``Session``: a running agent session, followed live, driven with plain method calls.

The session runs on its backend, not in the kernel: ``Session.start`` returns at once, a
background thread keeps ``events`` current, and a kernel restart loses nothing (``attach``
picks the session up again with its whole log).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from nb_agents._load import SessionLog
from nb_agents.client._backends import client_for, default_backend
from nb_agents.client._follow import Follower, wait_until
from nb_agents.client._local import check_server_credentials
from nb_agents.errors import NbAgentsError, SpecError

if TYPE_CHECKING:
    import anthropic

    from nb_agents.client._resources import Agent, Environment

__all__ = ["Session", "attach", "budget_limit"]

Listener = Callable[[list[dict[str, Any]]], None]
_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def _text(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}]


def budget_limit(dollars: float | str) -> dict[str, Any]:
    """The API's budget object for a cap of ``dollars`` (whole cents).

    Example:
        >>> budget_limit(0.5)
        {'type': 'limit', 'max_list_cost': {'amount': '50', 'currency': 'USD'}}

    Raises:
        SpecError: Not a positive amount of dollars with at most two decimals.
    """
    try:
        cents = Decimal(str(dollars)) * 100
    except InvalidOperation:
        cents = Decimal("NaN")
    if not cents.is_finite() or cents <= 0 or cents != cents.to_integral_value():
        raise SpecError(f"{dollars!r} is not a positive amount of US dollars in whole cents, e.g. 0.50", key="budget")
    return {"type": "limit", "max_list_cost": {"amount": str(int(cents)), "currency": "USD"}}


def _dollars(money: Mapping[str, Any] | None) -> float | None:
    return None if not money else int(money["amount"]) / 100


def _field(obj: Any, name: str) -> Any:
    """A field of an SDK model as plain JSON data (None when absent: older SDKs lack budgets)."""
    value = getattr(obj, name, None)
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if dump is not None else value


def _sent_to_model(agent: Any) -> tuple[str | None, list[str]]:
    """The system prompt and the tool names of a session's agent snapshot: what every request carries."""
    from nb_agents.spec import AGENT_TOOL_NAMES, tool_permission

    try:
        wire = agent.to_dict(mode="json") if hasattr(agent, "to_dict") else dict(agent)
        tools = list(wire.get("tools") or [])
        names = [n for n in AGENT_TOOL_NAMES if tool_permission(tools, n)[0] != "deny"]
        names += [t["name"] for t in tools if t.get("type") == "custom"]
        names += [f"mcp:{t['mcp_server_name']}" for t in tools if t.get("type") == "mcp_toolset"]
        system = wire.get("system")
        return (system if isinstance(system, str) else None), names
    except Exception:  # a snapshot this version does not know: the view shows less, nothing fails
        return None, []


class Session(SessionLog):
    """One session on a backend, with its event log kept current in the background.

    The read side (``events_df``, ``tool_calls_df``, ``model_requests_df``, ``timeline``,
    ``estimated_cost``, ``transcript``, ``export``) comes from ``SessionLog``; in a notebook,
    ``session.view()`` is the live view and ``session`` itself shows the static transcript.

    Attributes:
        id: The session id.
        backend: ``local`` or ``hosted``.
        title: The session's title.
        model: The model id of the agent version the session pinned.
        system: That agent's system prompt (None if it has none): what every model request carries.
        tool_names: That agent's enabled tools (built-in, custom, ``mcp:<server>``).
    """

    def __init__(self, client: anthropic.Anthropic, session: Any, backend: str, *, follow: bool = True) -> None:
        self._client = client
        self.id: str = session.id
        self.backend = backend
        self.title: str | None = session.title
        self.model: str = session.agent.model.id
        self.system, self.tool_names = _sent_to_model(session.agent)
        self._status: str = session.status
        self._stop_reason: dict[str, Any] | None = None
        self._usage = {k: 0 for k in _USAGE_KEYS}
        self._budget: dict[str, Any] | None = _field(session, "budget")
        self._list_cost: dict[str, Any] | None = _field(getattr(session, "usage", None), "list_cost")
        self._events: list[dict[str, Any]] = []
        self._index: dict[str, int] = {}
        self._listeners: list[Listener] = []
        # arrival order of stored events, to tell "idle after my message" from an older idle
        self._tick = 0
        self._idle_tick = -1
        self._processed_tick: dict[str, int] = {}
        self._sent: list[str] = []
        self._changed = threading.Condition()
        self._follower = Follower(client, self.id, self._deliver)
        if follow:
            self._follower.start()

    # ---- construction --------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        agent: Agent,
        message: str | None = None,
        *,
        environment: Environment | None = None,
        title: str | None = None,
        budget: float | None = None,
    ) -> Session:
        """Start a session of ``agent`` and, if given, send the first message. Returns at once.

        Args:
            agent: The agent (its current version is pinned).
            message: The first message, if any.
            environment: Where its tools run (default: the backend's default environment).
            title: The session's title.
            budget: A hard cap on the session's estimated list cost, in US dollars (``0.50``):
                no model request starts once it is reached, and the session goes idle with
                ``budget_reached``. See ``spend`` and ``set_budget``.

        Raises:
            PrerequisiteError: On the local backend, the agent's model is not a ``replay:`` one
                and the local server holds no Anthropic credentials (nothing is created).
        """
        from nb_agents.client._resources import Environment

        limit = budget_limit(budget) if budget is not None else None
        environment = environment or Environment.default(backend=agent.backend)
        if environment.backend != agent.backend:
            raise NbAgentsError(f"the agent is on {agent.backend} but the environment on {environment.backend}")
        if agent.backend == "local":
            model = agent.spec.model if isinstance(agent.spec.model, str) else str(agent.spec.model.get("id", ""))
            check_server_credentials(model)
        client = client_for(agent.backend)
        params: dict[str, Any] = {
            "agent": {"type": "agent", "id": agent.id, "version": agent.version},
            "environment_id": environment.id,
        }
        if title:
            params["title"] = title
        if limit is not None:
            params["budget"] = limit
        created = client.beta.sessions.create(**params)
        session = cls(client, created, agent.backend)
        if message:
            session.send(message)
        return session

    # ---- live state --------------------------------------------------------------------------

    def _deliver(self, items: list[dict[str, Any]]) -> None:
        stored = [e for e in items if e.get("id") and e.get("type") not in ("event_start", "event_delta")]
        with self._changed:
            for event in stored:
                self._tick += 1
                position = self._index.get(event["id"])
                if position is None:
                    self._index[event["id"]] = len(self._events)
                    self._events.append(event)
                    self._apply(event)
                else:
                    self._events[position] = event
                if event.get("processed_at") and event["type"].startswith(("user.", "system.")):
                    self._processed_tick.setdefault(event["id"], self._tick)
            self._changed.notify_all()
            listeners = list(self._listeners)
        for listener in listeners:
            listener(items)

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "session.status_running":
            self._status, self._stop_reason = "running", None
        elif kind == "session.status_idle":
            self._status, self._stop_reason = "idle", event.get("stop_reason")
            self._idle_tick = self._tick
        elif kind == "session.status_rescheduled":
            self._status = "rescheduling"
        elif kind in ("session.status_terminated", "session.deleted"):
            self._status = "terminated"
        elif kind == "span.model_request_end":
            for key in _USAGE_KEYS:
                self._usage[key] += int((event.get("model_usage") or {}).get(key) or 0)
        elif kind == "session.usage":
            self._list_cost = (event.get("usage") or {}).get("list_cost")
            self._budget = event.get("budget")
        elif kind == "session.updated" and "budget" in event:
            self._budget = event["budget"]

    @property
    def status(self) -> str:
        """``idle``, ``running``, ``rescheduling`` or ``terminated``, as the log says now."""
        return self._status

    @property
    def stop_reason(self) -> dict[str, Any] | None:
        """Why the session last went idle (``{"type": "end_turn"}`` …), or None while running."""
        return self._stop_reason

    @property
    def usage(self) -> dict[str, int]:
        """Tokens used so far, summed over model requests."""
        return dict(self._usage)

    @property
    def budget(self) -> float | None:
        """The session's budget in US dollars, or None when it has none."""
        return _dollars((self._budget or {}).get("max_list_cost"))

    @property
    def spend(self) -> float | None:
        """The session's estimated list cost so far in US dollars (whole cents, rounded up), as the
        backend tracks it; None when it does not (a model with no list price)."""
        return _dollars(self._list_cost)

    def set_budget(self, dollars: float | None) -> None:
        """Replace the session's budget (raise it to continue after ``budget_reached``), or remove it.

        The backend refuses a budget for a session created without one (``budget_create_only``)
        and a cap at or below what it has already spent (``budget_not_raised``).
        """
        change: dict[str, Any] = {"budget": budget_limit(dollars) if dollars is not None else None}
        updated = self._client.beta.sessions.update(self.id, **change)
        with self._changed:
            self._budget = _field(updated, "budget")

    @property
    def events(self) -> list[dict[str, Any]]:
        """The stored events so far, in log order, as wire dicts (a copy)."""
        with self._changed:
            return list(self._events)

    @property
    def pending(self) -> list[dict[str, Any]]:
        """Tool calls waiting for you: confirmations and custom tool results."""
        reason = self._stop_reason or {}
        if self._status != "idle" or reason.get("type") != "requires_action":
            return []
        wanted = set(reason.get("event_ids") or [])
        return [e for e in self.events if e["id"] in wanted]

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(items)`` from a background thread for new events and previews."""
        with self._changed:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._changed:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return unsubscribe

    # ---- actions -----------------------------------------------------------------------------

    def _send(self, *events: dict[str, Any]) -> None:
        sent = self._client.beta.sessions.events.send(self.id, events=list(events))  # type: ignore[arg-type]
        with self._changed:
            self._sent.extend(e.id for e in sent.data or [] if e.id)

    def send(self, text: str) -> None:
        """Send the next user message (taken at the next turn if the agent is working)."""
        if not text.strip():
            raise NbAgentsError("the message is empty; type what the agent should do")
        self._send({"type": "user.message", "content": _text(text)})

    def confirm(self, tool_use_id: str, allow: bool = True, message: str | None = None) -> None:
        """Allow or deny a tool call waiting under ``always_ask``; ``message`` tells the agent why."""
        event: dict[str, Any] = {"type": "user.tool_confirmation", "tool_use_id": tool_use_id}
        event["result"] = "allow" if allow else "deny"
        if message and not allow:
            event["deny_message"] = message
        self._send(event)

    def respond(self, custom_tool_use_id: str, text: str, *, is_error: bool = False) -> None:
        """Answer a custom tool call with its result."""
        event = {"type": "user.custom_tool_result", "custom_tool_use_id": custom_tool_use_id, "content": _text(text)}
        self._send({**event, "is_error": is_error})

    def interrupt(self) -> None:
        """Stop the model request or tool in flight; the session goes idle."""
        self._send({"type": "user.interrupt"})

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until the session has taken everything sent to it and is idle; return the stop reason.

        Raises:
            TimeoutError: Still working after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        def taken() -> bool:
            return self._status == "terminated" or all(i in self._processed_tick for i in self._sent)

        def idle_after(tick: int) -> Callable[[], bool]:
            return lambda: self._status == "terminated" or self._idle_tick > tick

        if not wait_until(taken, self._changed, left()):
            raise TimeoutError(f"session {self.id} has not taken the events sent to it after {timeout}s")
        last = max((self._processed_tick[i] for i in self._sent if i in self._processed_tick), default=-1)
        if not idle_after(last)():
            # The server turns "taken" into "running" without yielding: if it is idle now, either
            # nothing started (an interrupt while idle) or the turn is over and its idle is on its way.
            if self._client.beta.sessions.retrieve(self.id).status == "idle":
                latest = self._client.beta.sessions.events.list(
                    self.id, types=["session.status_idle"], order="desc", limit=1
                ).data
                target = latest[0].id if latest else None
                done = wait_until(lambda: target is None or target in self._index, self._changed, left())
            else:
                done = wait_until(idle_after(last), self._changed, left())
            if not done:
                raise TimeoutError(f"session {self.id} is still {self._status} after {timeout}s")
        return dict(self._stop_reason or {"type": self._status})

    def close(self) -> None:
        """Stop following the session (it keeps running on its backend)."""
        self._follower.stop()

    # ---- display -----------------------------------------------------------------------------

    def view(self) -> Any:
        """The live view widget of this session."""
        from nb_agents.notebook import SessionView

        return SessionView(self)

    def __repr__(self) -> str:
        events = self.events
        tools = sum(e["type"] in ("agent.tool_use", "agent.custom_tool_use") for e in events)
        messages = sum(e["type"] == "agent.message" for e in events)
        return (
            f"Session({self.id}, backend={self.backend}, status={self._status}, "
            f"{len(events)} events: {messages} agent messages, {tools} tool calls)"
        )


def attach(session_id: str, *, backend: str | None = None) -> Session:
    """Follow an existing session (after a kernel restart, from another notebook …)."""
    backend = backend or default_backend()
    client = client_for(backend)
    return Session(client, client.beta.sessions.retrieve(session_id), backend)
