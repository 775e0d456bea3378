"""The local runtime: the store, the live bus and one runner per active session.

The server maps HTTP onto these methods; everything here runs on one asyncio event loop, and
every event is stored (durably) before anything acts on it or any subscriber sees it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from nb_agents.errors import ConflictError, InvalidRequestError, NotFoundError, PrerequisiteError
from nb_agents.events import make_event, now, validate_event
from nb_agents.runtime import _budget, _objects
from nb_agents.runtime._bus import EventBus
from nb_agents.runtime._intake import client_event
from nb_agents.runtime._registry import Registry
from nb_agents.runtime._runner import SessionRunner
from nb_agents.runtime._sandboxes import SandboxProvider, choose_provider
from nb_agents.runtime.brain import (
    DEFAULT_IDLE_TIMEOUT,
    REPLAY_PREFIX,
    Brain,
    MessagesBrain,
    RetryPolicy,
    brain_for,
    is_replay_model,
)
from nb_agents.sandbox import Sandbox
from nb_agents.store import Store, private_dir

__all__ = ["Runtime"]

log = logging.getLogger(__name__)

N = TypeVar("N", int, float)

REPLAY_METADATA = "nb_agents.replay"
"""Session metadata naming the session's replay file in a ``replay:<directory>`` model."""


class Runtime(Registry):
    """Agents, environments and sessions of one state directory.

    Args:
        state_dir: Where the store, workspaces and recordings live.
        sandboxes: Where tools run; by default ``NB_AGENTS_SANDBOX`` decides (Docker when it
            can run here, else the process sandbox).
        record_dir: When set, every live model response is recorded to
            ``record_dir/<session id>.jsonl`` in the replay format.
        max_tokens: ``max_tokens`` of every model request.
        eager_sandbox: Wait for the sandbox to start before the first model request, instead
            of starting it beside it (only to measure what the lazy start saves;
            ``NB_AGENTS_SANDBOX_EAGER=1``).
        model_idle_timeout: Seconds a model request may go without a byte before it is
            abandoned and retried (default ``NB_AGENTS_MODEL_IDLE_TIMEOUT``, else 90).
        max_tool_rounds: Tool-use rounds (model responses that call tools) one turn may take
            before it stops with ``tool_use_limit_reached_error`` (default
            ``NB_AGENTS_MAX_TOOL_ROUNDS``, else 200).
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        sandboxes: SandboxProvider | None = None,
        record_dir: Path | None = None,
        max_tokens: int = 8192,
        eager_sandbox: bool | None = None,
        model_idle_timeout: float | None = None,
        max_tool_rounds: int | None = None,
    ) -> None:
        self.state_dir = private_dir(Path(state_dir))
        self.store = Store(self.state_dir / "nb_agents.sqlite3")
        self.bus = EventBus()
        self.sandboxes = sandboxes or choose_provider(self.state_dir)
        self.eager_sandbox = (
            os.environ.get("NB_AGENTS_SANDBOX_EAGER") == "1" if eager_sandbox is None else eager_sandbox
        )
        self.record_dir = record_dir
        self.max_tokens = max_tokens
        self.model_idle_timeout = _positive(
            "NB_AGENTS_MODEL_IDLE_TIMEOUT", model_idle_timeout, float, DEFAULT_IDLE_TIMEOUT
        )
        self.max_tool_rounds = _positive("NB_AGENTS_MAX_TOOL_ROUNDS", max_tool_rounds, int, 200)
        self._spend: dict[str, float] = {}
        self._runners: dict[str, SessionRunner] = {}
        self._brains: dict[str, Brain] = {}
        self._messages: MessagesBrain | None = None
        self._status: dict[str, str] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    # ---- lifecycle -------------------------------------------------------------------------

    def recover(self) -> int:
        """Resume every session the last process left running, or idle with input it had not taken.

        Returns:
            How many sessions were resumed.
        """
        count = 0
        for status in ("running", "idle"):
            after: int | None = None
            while True:
                page, after, _ = self.store.list_sessions(statuses=[status], order="asc", after=after, limit=100)
                for session in page:
                    if status == "running" or self._has_queued_input(session["id"]):
                        self._runner(session["id"]).recover()
                        count += 1
                if after is None:
                    break
        return count

    def _has_queued_input(self, session_id: str) -> bool:
        # An idle session emits nothing after taking its input, so input it never took (the
        # process died between storing it and taking it) is among its last events.
        tail = self.store.read(session_id, order="desc", limit=10)
        return any(e.type.startswith(("user.", "system.")) and e.body.get("processed_at") is None for e in tail)

    async def close(self) -> None:
        """Stop every runner and sandbox; sessions stay as stored and resume on the next start."""
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        runners, self._runners = list(self._runners.values()), {}
        await asyncio.gather(*(r.close() for r in runners), return_exceptions=True)
        self._brains = {}
        if self._messages is not None:
            await self._messages.aclose()
        self.store.close()

    # ---- helpers the runners use -------------------------------------------------------------

    def append(self, session_id: str, events: Sequence[dict[str, Any]]) -> None:
        """Validate, store durably, then publish events of a session."""
        for event in events:
            validate_event(event)
        bodies = [stored.body for stored in self.store.append(session_id, events)]
        runner = self._runners.get(session_id)
        if runner is not None:
            runner.observe(bodies)
        for body in bodies:
            self.bus.publish(session_id, body)

    def mark_processed(self, session_id: str, event_ids: Sequence[str]) -> None:
        """Record that queued client events were taken, and echo them as processed."""
        at = now()
        self.store.mark_processed(session_id, event_ids, at)
        runner = self._runners.get(session_id)
        if runner is not None:
            for body in runner.observe_processed(list(event_ids), at):
                self.bus.publish(session_id, body)

    def require_session(self, session_id: str) -> dict[str, Any]:
        """The stored session, or NotFoundError."""
        session = self.store.get_session(session_id)
        if session is None:
            raise NotFoundError(f"no session with id '{session_id}'")
        return session

    def session_status(self, session_id: str) -> str:
        """The stored status of a session (cached: every status change goes through here)."""
        status = self._status.get(session_id)
        if status is None:
            status = self._status[session_id] = str(self.require_session(session_id)["status"])
        return status

    def set_status(self, session_id: str, status: str) -> None:
        """Persist a status change (before its event is emitted)."""
        session = self.require_session(session_id)
        session["status"] = status
        session["updated_at"] = now()
        self.store.update_session(session)
        self._status[session_id] = status

    def add_usage(
        self, session_id: str, usage: Mapping[str, int], seconds: float, cost: float | None
    ) -> dict[str, Any]:
        """Add one model request's usage, list cost and active time to the session totals.

        Args:
            session_id: The session.
            usage: The request's token counts.
            seconds: How long the request took.
            cost: Its estimated list cost in USD, or None if its model has no list price (the
                session's ``list_cost`` is unknown from then on).

        Returns:
            The updated session.
        """
        session = self.require_session(session_id)
        total = session["usage"]
        for key in ("input_tokens", "output_tokens", "cache_read_input_tokens"):
            total[key] = int(total.get(key) or 0) + int(usage.get(key, 0))
        cache = total.setdefault("cache_creation", {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0})
        cache["ephemeral_5m_input_tokens"] += int(usage.get("cache_creation_input_tokens", 0))
        spent = self.spend(session_id)
        if cost is None or spent is None:
            total.pop("list_cost", None)
            self._spend.pop(session_id, None)
        else:
            self._spend[session_id] = spent + cost
            total["list_cost"] = _budget.money(spent + cost)
        stats = session["stats"]
        stats["active_seconds"] = round(float(stats.get("active_seconds") or 0.0) + seconds, 6)
        session["updated_at"] = now()
        self.store.update_session(session)
        return session

    def spend(self, session_id: str) -> float | None:
        """A session's estimated list cost in USD so far, or None when it cannot be told.

        Exact while this process runs; after a restart it continues from the stored figure
        (whole cents, rounded up), so a restart can only make a budget stop earlier.
        """
        if session_id not in self._spend:
            cost = self.require_session(session_id)["usage"].get("list_cost")
            if cost is None:
                return None
            self._spend[session_id] = int(cost["amount"]) / 100
        return self._spend[session_id]

    def make_sandbox(self, session_id: str, on_notice: Callable[[str, str], None]) -> Sandbox:
        """A new (not yet started) sandbox for a session."""
        session = self.require_session(session_id)
        environment = self.store.get_environment(session["environment_id"]) or {"id": session["environment_id"]}
        return self.sandboxes.make(session_id, environment, on_notice)

    def sandbox_notice(self, session_id: str) -> str | None:
        """What the session must be told about where its tools run (no isolation ...), or None."""
        session = self.require_session(session_id)
        environment = self.store.get_environment(session["environment_id"]) or {"id": session["environment_id"]}
        return self.sandboxes.notice(environment)

    def brain_for(self, session_id: str, model: str) -> Brain:
        """The brain of a session: one shared Messages API client, or the session's replay file.

        The Messages client (its connection pool and TLS context) is made once per runtime:
        making one per session cost tens of milliseconds on the event loop at the first request.
        """
        key = f"{session_id}:{model}"
        brain = self._brains.get(key)
        if brain is None:
            if self._messages is None and not is_replay_model(model):
                self._messages = MessagesBrain(retry=_retry_policy(), idle_timeout=self.model_idle_timeout)
            record = self.record_dir / f"{session_id}.jsonl" if self.record_dir else None
            resolved = self._replay_file(session_id, model) if is_replay_model(model) else model
            brain = self._brains[key] = brain_for(resolved, record_to=record, messages=self._messages)
        return brain

    def _replay_file(self, session_id: str, model: str) -> str:
        """``replay:<directory>``: the session's file there, ``<metadata nb_agents.replay>.jsonl``.

        Without that metadata the file is ``<session id>.jsonl``; only the name's last part is
        used, so metadata cannot point outside the directory.
        """
        folder = Path(model[len(REPLAY_PREFIX) :].strip()).expanduser()
        if not folder.is_dir():
            return model
        metadata = self.require_session(session_id).get("metadata") or {}
        name = Path(str(metadata.get(REPLAY_METADATA) or session_id)).name
        return f"{REPLAY_PREFIX}{folder / (name + '.jsonl')}"

    def _runner(self, session_id: str) -> SessionRunner:
        runner = self._runners.get(session_id)
        if runner is None:
            runner = self._runners[session_id] = SessionRunner(self, session_id)
        return runner

    # ---- sessions ------------------------------------------------------------------------------

    def create_session(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Create an idle session pinned to an agent version; initial events are sent at once."""
        _objects.check_session_create(params)
        agent = self.session_agent_for(params.get("agent"))
        if agent.get("archived_at"):
            raise InvalidRequestError(f"agent '{agent['id']}' is archived; new sessions cannot use it")
        if not isinstance(params.get("environment_id"), str):
            raise InvalidRequestError("'environment_id' is required")
        env = self.get_environment(params["environment_id"])
        if env.get("archived_at"):
            raise InvalidRequestError(f"environment '{env['id']}' is archived", error_code="environment_archived")
        self.sandboxes.check(env)
        initial = list(params.get("initial_events") or [])
        if len(initial) > 50 or any(e.get("type") != "user.message" for e in initial):
            raise InvalidRequestError("initial_events: at most 50 events, each a user.message")
        session = _objects.new_session(params, agent, env, now())
        list_cost = _budget.zero_cost(agent["model"]["id"])
        if list_cost is not None:
            session["usage"]["list_cost"] = list_cost
        if params.get("budget") is not None:
            session["budget"] = _budget.budget_param(params["budget"])
            _budget.check_budgetable(agent["model"]["id"], list_cost, used=False)
        self.store.insert_session(session)
        if initial:
            self.send_events(session["id"], initial)
        return session

    def update_session(self, session_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Update title, metadata, budget or the agent's tools (tools not while running)."""
        session = self.require_session(session_id)
        _objects.check_session_update(params)
        changed: dict[str, Any] = {}
        if "budget" in params:
            if session["status"] == "terminated":
                raise InvalidRequestError(f"session '{session_id}' is terminated; its budget cannot change")
            budget = _budget.budget_update(session, params["budget"])
            if budget != session.get("budget"):
                session["budget"] = changed["budget"] = budget
        if "title" in params:
            session["title"] = changed["title"] = params["title"]
        if "metadata" in params:
            session["metadata"] = changed["metadata"] = _objects._metadata(session["metadata"], params["metadata"])
        if params.get("agent"):
            if session["status"] == "running":
                raise ConflictError("the session is running; update its agent when it is idle", retryable=False)
            patch = {k: v for k, v in params["agent"].items() if k in ("tools", "mcp_servers")}
            updated = _objects.updated_agent(
                {**session["agent"], "metadata": {}, "created_at": "", "updated_at": "", "archived_at": None},
                patch,
                now(),
            )
            if updated is not None:
                session["agent"]["tools"] = updated["tools"]
                session["agent"]["mcp_servers"] = updated["mcp_servers"]
                changed["agent"] = session["agent"]
        if changed:
            session["updated_at"] = now()
            self.store.update_session(session)
            self.append(session_id, [make_event("session.updated", **changed)])
        return session

    async def archive_session(self, session_id: str) -> dict[str, Any]:
        """Archive an idle session (or one waiting to retry the model): it becomes read-only."""
        await self._stop_retrying(session_id)
        session = self.require_session(session_id)
        if session["status"] == "running":
            raise InvalidRequestError(_RUNNING)
        session["archived_at"] = session.get("archived_at") or now()
        self.store.update_session(session)
        self._drop_runner(session_id)
        return session

    async def delete_session(self, session_id: str) -> dict[str, Any]:
        """Delete an idle session (or one waiting to retry the model); its stream ends with ``session.deleted``."""
        await self._stop_retrying(session_id)
        session = self.require_session(session_id)
        if session["status"] == "running":
            raise InvalidRequestError(_RUNNING)
        self.append(session_id, [make_event("session.deleted")])
        self.store.delete_session(session_id)
        self._status.pop(session_id, None)
        self._spend.pop(session_id, None)
        self.bus.close_session(session_id)
        self._drop_runner(session_id)
        return {"id": session_id, "type": "session_deleted"}

    async def _stop_retrying(self, session_id: str, timeout: float = 5.0) -> None:
        """Interrupt a running session whose model request waits to be retried, and wait for its idle.

        A session in a retry storm is not doing work that archiving or deleting would lose, and a
        user who archives it wants it to stop. Any other running session is left alone (the API
        answers 400 for those).
        """
        runner = self._runners.get(session_id)
        if runner is None or not runner.retrying or self.session_status(session_id) != "running":
            return
        self.send_events(session_id, [{"type": "user.interrupt"}])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.session_status(session_id) == "running" and loop.time() < deadline:
            await asyncio.sleep(0.01)

    def _drop_runner(self, session_id: str) -> None:
        """Stop a session's runner and remove its sandbox (container and volume, or workspace)."""
        runner = self._runners.pop(session_id, None)
        for key in [k for k in self._brains if k.startswith(session_id + ":")]:
            del self._brains[key]  # replay and recording brains hold nothing open; the client is shared

        async def retire() -> None:
            if runner is not None:
                await runner.close()
            try:
                await self.sandboxes.destroy(session_id)
            except Exception:
                log.exception("could not remove the sandbox of session %s", session_id)

        task = asyncio.get_running_loop().create_task(retire())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def send_events(self, session_id: str, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Store client events durably, then hand them to the session's runner.

        Raises:
            InvalidRequestError: An event is malformed, of a type clients may not send, or refers
                to a tool call that is not waiting for it.
            ConflictError: The session is archived or terminated.
        """
        session = self.require_session(session_id)
        if session.get("archived_at"):
            raise ConflictError(f"session '{session_id}' is archived and read-only", retryable=False)
        if session["status"] == "terminated":
            raise ConflictError(f"session '{session_id}' is terminated", retryable=False)
        if not events:
            raise InvalidRequestError("'events' must hold at least one event")
        runner = self._runner(session_id)
        stored = [client_event(self.store, runner, e) for e in events]
        self.append(session_id, stored)
        for event in stored:
            runner.accept(event)
        return stored


_RUNNING = (
    "the session is running; send a user.interrupt event (session.interrupt() in a notebook) and "
    "wait for its session.status_idle, then try again"
)


def _retry_policy() -> RetryPolicy:
    """Model retries: ``NB_AGENTS_MODEL_RETRIES`` attempts, ``NB_AGENTS_MODEL_RETRY_DELAY`` seconds first."""
    attempts = int(os.environ.get("NB_AGENTS_MODEL_RETRIES", "5"))
    delay = float(os.environ.get("NB_AGENTS_MODEL_RETRY_DELAY", "0.5"))
    return RetryPolicy(max_attempts=attempts, base_delay=delay, max_delay=max(delay, 8.0 * delay / 0.5))


def _positive(env: str, given: N | None, kind: type[N], default: N) -> N:
    """A positive setting: the argument, else the environment variable, else the default.

    Raises:
        PrerequisiteError: The environment variable is not a positive number.
    """
    if given is not None:
        value = given
    else:
        raw = os.environ.get(env, "").strip()
        try:
            value = kind(raw) if raw else default
        except ValueError:
            raise PrerequisiteError(
                f"{env}={raw!r} is not a {kind.__name__}; unset it or give a positive number"
            ) from None
    if not value > 0:
        raise PrerequisiteError(f"{env}: {value!r} must be positive")
    return value
