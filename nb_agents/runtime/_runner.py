"""The harness: one runner per session turns client events into model requests and tool calls.

Every decision is taken from the event log, so a runner built after a restart continues where the
last one stopped. The loop (``_run``) repeats until there is nothing to do:

1. take queued client events (marking them processed): messages, confirmations, custom tool
   results, interrupts;
2. settle the tool calls of the last model response: run the allowed ones, answer denied ones,
   and stop idle on ``requires_action`` while any still waits for the client;
3. if the conversation ends on the user's side and no idle has closed the turn since, check the
   session's limits (budget, tool-use rounds), then ask the model (``_model_turn``).

A failed model request, a reached budget or limit and an interrupt each end the turn with one
idle; nothing asks the model again until new client input arrives.

Model requests and tool calls run as child tasks, so ``interrupt()`` can cancel exactly the
operation in flight and leave the log consistent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nb_agents.errors import BrainError, NbAgentsError
from nb_agents.events import make_event
from nb_agents.runtime import _budget
from nb_agents.runtime._history import conversation, processing_order, unanswered_tool_uses
from nb_agents.runtime._tools import BUILTIN_TOOLS, model_tools
from nb_agents.runtime._turn import Previews, error_type, model_usage, response_events, text_content, zero_usage
from nb_agents.runtime.brain import ModelError, ModelRequest
from nb_agents.spec import tool_permission

if TYPE_CHECKING:
    from nb_agents.runtime._runtime import Runtime
    from nb_agents.sandbox import Sandbox

__all__ = ["SessionRunner"]

log = logging.getLogger(__name__)

INTERRUPTED = "Interrupted by the user before this tool call finished."
RESTARTED = (
    "The runtime restarted while this tool call was in flight; it was not completed and was not run "
    "again. Run it again if it is still needed."
)
_USER_SIDE = ("user.message", "agent.tool_result", "user.custom_tool_result")
_MODEL_SIDE = ("agent.message", "agent.tool_use", "agent.custom_tool_use")


class _Interrupted(Exception):
    """The operation in flight was cancelled by ``user.interrupt``."""


class SessionRunner:
    """Drives one session. All methods run on the runtime's event loop."""

    def __init__(self, runtime: Runtime, session_id: str) -> None:
        self.rt = runtime
        self.session_id = session_id
        self.inbox: deque[dict[str, Any]] = deque()
        self.decisions: dict[str, tuple[str, str | None]] = {}
        self.task: asyncio.Task[None] | None = None
        self._op: asyncio.Task[Any] | None = None
        self._interrupt = False
        self._last_required: tuple[str, ...] = ()
        self._sandbox: Sandbox | None = None
        self._starting: asyncio.Future[None] | None = None
        self.retrying = False
        """True while a model request waits to be tried again (archive and delete may interrupt it)."""
        self.log: list[dict[str, Any]] = [e.body for e in runtime.store.read(session_id)]
        self._by_id = {e["id"]: e for e in self.log}
        self._scan_log()

    # ---- log-derived state -------------------------------------------------------------------

    def observe(self, events: list[dict[str, Any]]) -> None:
        """Mirror newly stored events (the runtime calls this after every durable append)."""
        self.log.extend(events)
        self._by_id.update((e["id"], e) for e in events)

    def observe_processed(self, event_ids: list[str], processed_at: str) -> list[dict[str, Any]]:
        """Mirror processing marks; returns the updated events."""
        out = []
        for event_id in event_ids:
            event = self._by_id.get(event_id)
            if event is not None:
                event["processed_at"] = processed_at
                out.append(event)
        return out

    def _scan_log(self) -> None:
        for event in self.log:
            if event["type"] == "user.tool_confirmation" and event.get("processed_at"):
                self.decisions[event["tool_use_id"]] = (event["result"], event.get("deny_message"))
            elif event["type"].startswith(("user.", "system.")) and not event.get("processed_at"):
                self.inbox.append(event)

    def recover(self) -> None:
        """Make the log consistent after a restart, then continue the session.

        A model request in flight is closed as failed and asked again; an allowed tool call with no
        result is answered as interrupted rather than run twice.
        """
        events = self.log
        starts = {e["id"] for e in events if e["type"] == "span.model_request_start"}
        for e in events:
            if e["type"] == "span.model_request_end":
                starts.discard(e["model_request_start_id"])
        for start_id in starts:
            self._end_span(start_id, zero_usage(), failed=True)
        for use in unanswered_tool_uses(events):
            if use["type"] == "agent.tool_use" and self._allowed(use):
                self._emit("agent.tool_result", tool_use_id=use["id"], content=text_content(RESTARTED), is_error=True)
        self.wake()

    def _allowed(self, use: Mapping[str, Any]) -> bool:
        return use.get("evaluated_permission") == "allow" or self.decisions.get(use["id"], ("",))[0] == "allow"

    # ---- control from the runtime --------------------------------------------------------------

    def accept(self, event: dict[str, Any]) -> None:
        """Queue a stored client event; interrupts jump the queue and cancel work in flight."""
        if event["type"] == "user.interrupt":
            self.inbox.appendleft(event)
            self._interrupt = True
            if self._op is not None and not self._op.done():
                self._op.cancel()
                if self._sandbox is not None:
                    asyncio.ensure_future(self._sandbox.cancel())
        else:
            self.inbox.append(event)
        self.wake()

    def wake(self) -> None:
        """Start the loop unless it is running."""
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name=f"session {self.session_id}")

    async def close(self) -> None:
        """Stop the loop and release the sandbox."""
        for task in (self.task, self._starting):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._sandbox is not None:
            await self._sandbox.close()
            self._sandbox = None

    # ---- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while await self._step():
                pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or a store failure: report it, never die silently
            log.exception("session %s failed", self.session_id)
            self._fail("unknown_error", f"the runtime failed: {exc}")

    async def _step(self) -> bool:
        """Do one unit of work; False when the session has nothing left to do."""
        interrupted = self._absorb_inbox()
        if interrupted:
            self._settle_interrupt()
            return bool(self.inbox)
        pending = unanswered_tool_uses(self.log)
        if pending:
            return await self._settle_tools(pending)
        if self._needs_model():
            self._set_running()
            if self._limit_reached():
                return bool(self.inbox)
            try:
                if not await self._model_turn():
                    return bool(self.inbox)
            except _Interrupted:
                pass
            return True
        if self.rt.session_status(self.session_id) == "running":
            self._set_idle({"type": "end_turn"})
        return bool(self.inbox)

    def _absorb_inbox(self) -> bool:
        """Take the queued client events; True if they were interrupts.

        Interrupts are taken alone, ahead of everything queued: the turn they stop ends with its
        idle first, and what was queued with them (a redirecting message) starts the next turn.
        """
        interrupts = [e for e in self.inbox if e["type"] == "user.interrupt"]
        if interrupts:
            self.inbox = deque(e for e in self.inbox if e["type"] != "user.interrupt")
            self.rt.mark_processed(self.session_id, [e["id"] for e in interrupts])
            self._interrupt = False
            return True
        taken: list[str] = []
        while self.inbox:
            event = self.inbox.popleft()
            taken.append(event["id"])
            if event["type"] == "user.tool_confirmation":
                self.decisions[event["tool_use_id"]] = (event["result"], event.get("deny_message"))
        if taken:
            self.rt.mark_processed(self.session_id, taken)
        return False

    def _needs_model(self) -> bool:
        """The conversation ends on the user's side, and no idle has ended the turn since.

        An idle after the user's last word means the turn was stopped (a failed model request,
        a budget or limit, an interrupt): only new client input starts the model again.
        """
        side = None
        for event in processing_order(self.log):
            kind = event["type"]
            if kind in _USER_SIDE:
                side = "user"
            elif kind in _MODEL_SIDE:
                side = "model"
            elif kind == "session.status_idle":
                side = None
        return side == "user"

    def _limit_reached(self) -> bool:
        """Stop the turn, before a model request, at the budget or the tool-use round limit."""
        session = self.rt.require_session(self.session_id)
        budget = session.get("budget")
        if budget is not None:
            spent = self.rt.spend(self.session_id)
            if spent is None or spent * 100 >= _budget.cap_cents(budget):
                self._set_idle({"type": "budget_reached"})
                return True
        rounds = self._tool_rounds()
        if rounds >= self.rt.max_tool_rounds:
            message = (
                f"this turn used {rounds} tool-use rounds, the limit of this runtime "
                f"(NB_AGENTS_MAX_TOOL_ROUNDS={self.rt.max_tool_rounds}); send a message to continue"
            )
            retry = {"type": "exhausted"}
            self._emit(
                "session.error",
                error={"type": "tool_use_limit_reached_error", "message": message, "retry_status": retry},
            )
            self._flush_inbox()
            self._set_idle({"type": "retries_exhausted"})
            return True
        return False

    def _tool_rounds(self) -> int:
        """Model responses that called tools since the turn's ``user.message``."""
        rounds, fresh = 0, False
        for event in processing_order(self.log):
            kind = event["type"]
            if kind == "user.message":
                rounds = 0
            elif kind == "span.model_request_start":
                fresh = True
            elif kind in ("agent.tool_use", "agent.custom_tool_use") and fresh:
                rounds, fresh = rounds + 1, False
        return rounds

    def _settle_interrupt(self) -> None:
        """Answer every open tool call as interrupted and go idle (a fresh idle if anything changed)."""
        pending = unanswered_tool_uses(self.log)
        for use in pending:
            if use["type"] == "agent.tool_use":
                self._emit("agent.tool_result", tool_use_id=use["id"], content=text_content(INTERRUPTED), is_error=True)
            else:
                self._emit_custom_cancel(use)
        self._last_required = ()
        if pending or self.rt.session_status(self.session_id) != "idle":
            self._set_idle({"type": "end_turn"})

    def _emit_custom_cancel(self, use: Mapping[str, Any]) -> None:
        # A custom tool call answered by nobody: the user interrupted instead. Record it as the
        # client's (error) result so the conversation stays well formed.
        event = make_event(
            "user.custom_tool_result", custom_tool_use_id=use["id"], content=text_content(INTERRUPTED), is_error=True
        )
        self.rt.append(self.session_id, [event])

    async def _settle_tools(self, pending: list[Mapping[str, Any]]) -> bool:
        waiting: list[str] = []
        for use in pending:
            if use["type"] == "agent.custom_tool_use":
                waiting.append(use["id"])
                continue
            decision = self.decisions.get(use["id"])
            permission = use.get("evaluated_permission")
            if permission == "deny":
                self._set_running()
                self._emit(
                    "agent.tool_result",
                    tool_use_id=use["id"],
                    content=text_content(f"Tool '{use['name']}' is not enabled for this agent."),
                    is_error=True,
                )
            elif permission == "allow" or (decision is not None and decision[0] == "allow"):
                self._set_running()
                try:
                    await self._run_tool(use)
                except _Interrupted:
                    return True
            elif decision is not None:
                self._set_running()
                message = decision[1] or "The user denied this tool call."
                self._emit(
                    "agent.tool_result",
                    tool_use_id=use["id"],
                    content=text_content(f"Permission denied by the user: {message}"),
                    is_error=True,
                )
            else:
                waiting.append(use["id"])
        if waiting:
            required = tuple(waiting)
            if required != self._last_required or self.rt.session_status(self.session_id) != "idle":
                self._last_required = required
                self._set_idle({"type": "requires_action", "event_ids": list(required)})
            return False
        self._last_required = ()
        return True

    # ---- operations ----------------------------------------------------------------------------

    async def _interruptible(self, coro: Any) -> Any:
        """Run ``coro`` as the operation ``user.interrupt`` cancels; _Interrupted if it was."""
        if self._interrupt:  # the interrupt came in before the operation could start
            coro.close()
            raise _Interrupted
        op = self._op = asyncio.ensure_future(coro)
        try:
            await asyncio.wait({op})
        except asyncio.CancelledError:  # the runner itself is stopping: take the operation along
            op.cancel()
            raise
        finally:
            self._op = None
        if op.cancelled():
            raise _Interrupted
        return op.result()

    async def _run_tool(self, use: Mapping[str, Any]) -> None:
        if self._interrupt:
            raise _Interrupted
        try:
            sandbox = self._get_sandbox()
            result = await self._interruptible(sandbox.call(use["name"], dict(use["input"])))
            content, is_error = result.content or text_content("(no output)"), result.is_error
        except _Interrupted:
            self._emit("agent.tool_result", tool_use_id=use["id"], content=text_content(INTERRUPTED), is_error=True)
            raise
        except NbAgentsError as exc:
            content, is_error = text_content(f"The sandbox failed: {exc}"), True
        self._emit("agent.tool_result", tool_use_id=use["id"], content=content, is_error=is_error)

    def _get_sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = self.rt.make_sandbox(self.session_id, self._notice)
            warning = self.rt.sandbox_notice(self.session_id)
            if warning and not any(e["type"] == "session.error" and warning in e["error"]["message"] for e in self.log):
                self._notice("warning", warning)
        return self._sandbox

    def _notice(self, kind: str, message: str) -> None:
        """Sandbox news the user must see (a replaced container, an image build, no isolation).

        The wire protocol has no notice event; a ``session.error`` whose retry status is
        ``retrying`` says "something happened, the session goes on".
        """
        retry = {"type": "retrying"}
        self._emit(
            "session.error",
            error={"type": "unknown_error", "message": f"sandbox {kind}: {message}", "retry_status": retry},
        )

    async def _prepare_sandbox(self, agent: Mapping[str, Any]) -> None:
        """Start the sandbox beside the first model request (or before it, when eager).

        Raises:
            _Interrupted: An interrupt came while an eager start was waited for.
        """
        if (self._sandbox is not None and self._sandbox.alive) or not any(
            tool_permission(list(agent["tools"]), name)[0] != "deny" for name in BUILTIN_TOOLS
        ):
            return
        sandbox = self._get_sandbox()
        if self.rt.eager_sandbox:
            try:
                await self._interruptible(sandbox.start())
            except NbAgentsError:
                log.warning("session %s: the sandbox did not start", self.session_id, exc_info=True)
            return

        async def start_quietly() -> None:
            try:
                await sandbox.start()
            except NbAgentsError:  # the first tool call reports it again, as its result
                log.warning("session %s: the sandbox did not start early", self.session_id, exc_info=True)

        self._starting = asyncio.ensure_future(start_quietly())

    async def _model_turn(self) -> bool:
        """Ask the model once; False when the turn is over (the session is idle).

        Raises:
            _Interrupted: An interrupt cancelled the request (its span is closed as failed).
        """
        session = self.rt.require_session(self.session_id)
        agent = session["agent"]
        await self._prepare_sandbox(agent)
        span = self._emit("span.model_request_start")
        request = ModelRequest(
            model=agent["model"]["id"],
            system=agent.get("system"),
            messages=conversation(self.log),
            tools=model_tools(agent["tools"]),
            max_tokens=self.rt.max_tokens,
        )
        previews = Previews(self.rt.bus, self.session_id)
        errors: list[ModelError] = []

        def on_error(error: ModelError) -> None:
            errors.append(error)
            self.retrying = error.will_retry
            previews.ids.clear()
            status = "retrying" if error.will_retry else "exhausted"
            self._emit(
                "session.error",
                error={"type": error.error_type, "message": error.message, "retry_status": {"type": status}},
            )

        started = time.monotonic()
        try:
            brain = self.rt.brain_for(self.session_id, request.model)
            message = await self._interruptible(brain.complete(request, on_text=previews.on_text, on_error=on_error))
        except _Interrupted:
            self._end_span(span["id"], zero_usage(), failed=True)
            raise
        except Exception as exc:  # a model failure, or a bug on the way: either way the turn ends here
            self._end_span(span["id"], zero_usage(), failed=True)
            if isinstance(exc, BrainError):
                kind, text = error_type(exc), str(exc)
            else:
                log.exception("session %s: the model request failed unexpectedly", self.session_id)
                kind, text = "unknown_error", f"the model request failed unexpectedly: {type(exc).__name__}: {exc}"
            if not errors or errors[-1].will_retry:
                self._emit(
                    "session.error", error={"type": kind, "message": text, "retry_status": {"type": "exhausted"}}
                )
            self._flush_inbox()
            self._set_idle({"type": "retries_exhausted"})
            return False
        finally:
            self.retrying = False
        produced = False
        for type_, fields in response_events(message, agent, previews.ids):
            produced = produced or type_ != "agent.thinking"
            self._emit(type_, **fields)
        usage = model_usage(message.get("usage") or {})
        self._end_span(span["id"], usage, failed=False)
        cost = _budget.response_cost(message, request.model, usage)
        session = self.rt.add_usage(self.session_id, usage, time.monotonic() - started, cost)
        self._emit("session.usage", usage=dict(session["usage"]), budget=session.get("budget"))
        if not produced:
            self._set_idle({"type": "end_turn"})
        return produced

    def _end_span(self, start_id: str, usage: dict[str, int], *, failed: bool) -> None:
        self._emit("span.model_request_end", model_request_start_id=start_id, is_error=failed, model_usage=usage)

    # ---- status and events ---------------------------------------------------------------------

    def _emit(self, type_: str, **fields: Any) -> dict[str, Any]:
        event = make_event(type_, **fields)
        self.rt.append(self.session_id, [event])
        return event

    def _set_running(self) -> None:
        if self.rt.session_status(self.session_id) != "running":
            self.rt.set_status(self.session_id, "running")
            self._emit("session.status_running")

    def _set_idle(self, stop_reason: dict[str, Any]) -> None:
        self.rt.set_status(self.session_id, "idle")
        self._emit("session.status_idle", stop_reason=stop_reason)

    def _flush_inbox(self) -> None:
        if self.inbox:
            self.rt.mark_processed(self.session_id, [e["id"] for e in self.inbox])
            self.inbox.clear()

    def _fail(self, error_type: str, message: str) -> None:
        try:
            retry = {"type": "exhausted"}
            self._emit("session.error", error={"type": error_type, "message": message, "retry_status": retry})
            self._flush_inbox()
            self._set_idle({"type": "retries_exhausted"})
        except Exception:
            log.exception("session %s: could not record the failure", self.session_id)
