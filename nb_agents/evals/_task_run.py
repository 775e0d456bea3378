"""One task × epoch of an evaluation: start (or re-attach to) its session, follow it, score it."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nb_agents.client import Agent, Environment, Session
from nb_agents.errors import EvalError
from nb_agents.evals._replays import REPLAY_KEY
from nb_agents.evals._results import Row, build_row, failed_row, settled
from nb_agents.evals._scorers import Scorer
from nb_agents.evals._tally import Tally
from nb_agents.evals._tasks import Key, Task

if TYPE_CHECKING:
    import anthropic

__all__ = ["EPOCH_KEY", "EVAL_KEY", "TASK_KEY", "TaskRunner", "refusal"]

EVAL_KEY = "nb_agents.eval"
"""Session metadata: the name of the evaluation the session belongs to."""
TASK_KEY = "nb_agents.eval.task"
"""Session metadata: the id of the session's task."""
EPOCH_KEY = "nb_agents.eval.epoch"
"""Session metadata: the session's epoch (0-based, as a string)."""

_POLL = 2.0  # seconds without news before a waiting worker asks the backend directly


def refusal(exc: Exception) -> str | None:
    """The backend's message when it refused a request (4xx), else None."""
    import anthropic

    if isinstance(exc, anthropic.APIStatusError) and 400 <= exc.status_code < 500:
        body = exc.body if isinstance(exc.body, Mapping) else {}
        error = body.get("error") if isinstance(body.get("error"), Mapping) else body
        message = error.get("message") if isinstance(error, Mapping) else None
        return f"{exc.status_code}: {message or exc.message}"
    return None


class TaskRunner:
    """Starts, follows and scores the sessions of one ``evaluate`` call (thread-safe: one task per call)."""

    def __init__(
        self,
        client: anthropic.Anthropic,
        agent: Agent,
        environment: Environment,
        name: str,
        *,
        scorers: Mapping[str, Scorer],
        budget: dict[str, Any] | None,
        max_iterations: int | None,
        timeout: float,
        price_as: str | None,
        replays: Mapping[Key, str],
        tally: Tally,
    ) -> None:
        self.client = client
        self.agent = agent
        self.environment = environment
        self.name = name
        self.scorers = scorers
        self.budget = budget
        self.max_iterations = max_iterations
        self.timeout = timeout
        self.model = price_as or agent.spec.model_id
        self.replays = replays
        self.tally = tally
        self.stopping = threading.Event()

    # ---- starting ----------------------------------------------------------------------------

    def _first_event(self, task: Task) -> dict[str, Any]:
        if task.rubric is None:
            return {"type": "user.message", "content": [{"type": "text", "text": task.prompt}]}
        event: dict[str, Any] = {
            "type": "user.define_outcome",
            "description": task.prompt,
            "rubric": {"type": "text", "content": task.rubric},
        }
        if self.max_iterations is not None:
            event["max_iterations"] = self.max_iterations
        return event

    def start(self, task: Task, epoch: int) -> Session:
        """Create the session of ``task`` × ``epoch`` and send it its task.

        A session whose task the backend refused is deleted again (it never ran), so a later
        call makes a fresh one.
        """
        metadata = {EVAL_KEY: self.name, TASK_KEY: task.id, EPOCH_KEY: str(epoch)}
        if (task.id, epoch) in self.replays:
            metadata[REPLAY_KEY] = self.replays[(task.id, epoch)]
        params: dict[str, Any] = {
            "agent": {"type": "agent", "id": self.agent.id, "version": self.agent.version},
            "environment_id": self.environment.id,
            "title": f"{self.name} · {task.id} #{epoch}"[:200],
            "metadata": metadata,
        }
        if self.budget is not None:
            params["budget"] = self.budget
        created = self.client.beta.sessions.create(**params)
        try:
            self.client.beta.sessions.events.send(created.id, events=[self._first_event(task)])  # type: ignore[list-item]
        except Exception:
            try:
                self.client.beta.sessions.delete(created.id)
            except Exception:  # best effort: the refusal is what the user must see
                pass
            raise
        return Session(self.client, created, self.agent.backend)

    def attach(self, task: Task, epoch: int, found: Any) -> Session:
        """Follow a session this evaluation made earlier; send its task if it never got it."""
        sent = self.client.beta.sessions.events.list(found.id, limit=5, types=["user.message", "user.define_outcome"])
        if not any(e.type.startswith("user.") for e in sent):  # made, then the kernel died before the task was sent
            self.client.beta.sessions.events.send(found.id, events=[self._first_event(task)])  # type: ignore[list-item]
        return Session(self.client, found, self.agent.backend)

    # ---- following ---------------------------------------------------------------------------

    def wait(self, session: Session) -> tuple[str, list[str]]:
        """Block until the session's work is over; interrupt it at the deadline."""
        news = threading.Event()
        unsubscribe = session.subscribe(lambda items: news.set())
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                reason = settled(session.events)
                if reason is not None:
                    return reason, []
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if self.stopping.is_set():
                    raise EvalError("stopped waiting (the evaluation was interrupted); the session goes on")
                if not news.wait(min(left, _POLL)):
                    self.client.beta.sessions.retrieve(session.id)  # raises if the session is gone
                news.clear()
        finally:
            unsubscribe()
        session.interrupt()
        try:
            session.wait(timeout=30)
        except TimeoutError:
            pass
        return settled(session.events) or "timeout", [f"timed out after {self.timeout:g}s; the session was interrupted"]

    def _outcome(self, session_id: str) -> dict[str, Any] | None:
        """The session's last outcome evaluation (``result``, ``explanation``, ``iteration`` …)."""
        outcomes = getattr(self.client.beta.sessions.retrieve(session_id), "outcome_evaluations", None) or []
        return outcomes[-1].to_dict(mode="json") if outcomes else None

    def finish(self, task: Task, epoch: int, session: Session) -> Row:
        """Wait for the session, then score it into a results row."""
        try:
            self.tally.running((task.id, epoch), session)
            reason, notes = self.wait(session)
            outcome = self._outcome(session.id) if task.rubric is not None else None
            return build_row(
                task,
                epoch,
                session.id,
                session.events,
                reason,
                outcome=outcome,
                scorers=self.scorers,
                model=self.model,
                extra_errors=notes,
            )
        finally:
            session.close()

    def job(self, task: Task, epoch: int, found: Any | None, started: Session | None = None) -> Row:
        """One task × epoch, start to row; any failure becomes this row's error, never the run's."""
        session_id = getattr(found, "id", None) or getattr(started, "id", None)
        try:
            if started is not None:
                session = started
            elif found is not None:
                session = self.attach(task, epoch, found)
            else:
                session = self.start(task, epoch)
            session_id = session.id
            row = self.finish(task, epoch, session)
        except Exception as exc:
            message = refusal(exc) or f"{type(exc).__name__}: {exc}"
            row = failed_row(task, epoch, session_id, message, list(self.scorers))
        self.tally.finished(row)
        return row
