"""``evaluate``: run every task × epoch as a session, resumably, and collect a results DataFrame.

Resumable by construction: each session carries the evaluation's name, its task id and its
epoch in its metadata (``nb_agents.eval``, ``nb_agents.eval.task``, ``nb_agents.eval.epoch``).
``evaluate`` first lists the agent's sessions and keeps those of this evaluation: a finished one
is only read, a running one is followed to its end, and only the task × epochs with no session
get one. So after a kernel restart (or a crash of the local server, which resumes its sessions
itself), running the same cell again pays for nothing twice.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb_agents.client import Agent, Environment, Session, client_for, local_runtime, reset_clients
from nb_agents.errors import EvalError, NbAgentsError
from nb_agents.evals._results import Row, build_row, failed_row, frame, settled
from nb_agents.evals._scorers import Scorer, scorer_name
from nb_agents.evals._tally import Tally
from nb_agents.evals._tasks import Task, fingerprint, read_tasks

if TYPE_CHECKING:
    import anthropic
    import pandas as pd

__all__ = ["EPOCH_KEY", "EVAL_KEY", "REPLAY_KEY", "TASK_KEY", "evaluate", "replay_dir"]

EVAL_KEY = "nb_agents.eval"
TASK_KEY = "nb_agents.eval.task"
EPOCH_KEY = "nb_agents.eval.epoch"
REPLAY_KEY = "nb_agents.replay"
"""Session metadata naming the session's file in a ``replay:<directory>`` (without ``.jsonl``)."""

_POLL = 2.0  # seconds without news before a waiting worker asks the backend directly
_SAFE_ID = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")

Key = tuple[str, int]


def replay_dir(agent: Agent) -> Path | None:
    """The directory of an agent whose model is ``replay:<directory>``, else None."""
    model = agent.spec.model_id
    if not model.startswith("replay:"):
        return None
    path = Path(model[len("replay:") :].strip()).expanduser()
    return path if path.is_dir() else None


def _replay_names(agent: Agent, tasks: Sequence[Task], epochs: int) -> dict[Key, str]:
    """Each task × epoch's file in the agent's replay directory: ``<task>.<epoch>.jsonl``, else ``<task>.jsonl``."""
    folder = replay_dir(agent)
    if folder is None:
        return {}
    names: dict[Key, str] = {}
    missing: list[str] = []
    for task in tasks:
        if not set(task.id) <= _SAFE_ID or task.id.startswith("."):
            raise EvalError(f"task id {task.id!r} cannot name a replay file: use letters, digits, '_', '.', '-'")
        for epoch in range(epochs):
            found = next((n for n in (f"{task.id}.{epoch}", task.id) if (folder / f"{n}.jsonl").is_file()), None)
            if found is None:
                missing.append(f"{task.id}.{epoch}.jsonl")
            else:
                names[(task.id, epoch)] = found
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise EvalError(
            f"the replay directory {folder} has no file for {shown} "
            "(each task needs <task id>.<epoch>.jsonl or <task id>.jsonl; see save_replays)"
        )
    return names


def _budget(budget: float | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A per-session budget: USD as a number, or the API's ``{type: limit, ...}`` as is."""
    if budget is None or isinstance(budget, Mapping):
        return dict(budget) if budget is not None else None
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget <= 0:
        raise EvalError(f"budget: a positive number of USD per task (or the API's budget object), not {budget!r}")
    return {"type": "limit", "max_list_cost": {"amount": str(round(budget * 100)), "currency": "USD"}}


def _budget_usd(budget: Mapping[str, Any] | None) -> float | None:
    cost = (budget or {}).get("max_list_cost") or {}
    try:
        return float(cost["amount"]) / 100 if cost.get("currency", "USD") == "USD" else None
    except (KeyError, TypeError, ValueError):
        return None


def _refusal(exc: Exception) -> str | None:
    """The backend's message when it refused a request (4xx), else None."""
    import anthropic

    if isinstance(exc, anthropic.APIStatusError) and 400 <= exc.status_code < 500:
        body = exc.body if isinstance(exc.body, Mapping) else {}
        error = body.get("error") if isinstance(body.get("error"), Mapping) else body
        message = error.get("message") if isinstance(error, Mapping) else None
        return f"{exc.status_code}: {message or exc.message}"
    return None


class _Run:
    """One call of ``evaluate``: starts, follows and scores sessions."""

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
            message = _refusal(exc) or f"{type(exc).__name__}: {exc}"
            row = failed_row(task, epoch, session_id, message, list(self.scorers))
        self.tally.finished(row)
        return row


def _ours(client: anthropic.Anthropic, agent: Agent, name: str) -> dict[Key, Any]:
    """The sessions of this evaluation, by (task id, epoch); the oldest wins if there are two."""
    found: dict[Key, Any] = {}
    for session in client.beta.sessions.list(agent_id=agent.id, order="asc", limit=100):
        meta = session.metadata or {}
        if meta.get(EVAL_KEY) != name or session.archived_at is not None:
            continue
        try:
            key = (str(meta[TASK_KEY]), int(meta[EPOCH_KEY]))
        except (KeyError, ValueError):
            continue
        found.setdefault(key, session)
    return found


def _live_local_client() -> None:
    """Forget a cached local client whose server is gone (crashed, restarted on another port)."""
    runtime = local_runtime()  # the state directory's server, started again if it died
    if str(client_for("local").base_url).rstrip("/") != runtime.url.rstrip("/"):
        reset_clients()


def _resolve(agent: Agent, environment: Environment | None, backend: str | None) -> tuple[Agent, Environment]:
    if not isinstance(agent, Agent):
        raise EvalError(f"agent must be an nb_agents Agent (nba.Agent.define or %%agent), not {type(agent).__name__}")
    backend = backend or agent.backend
    if backend == "local":
        _live_local_client()
    if agent.backend != backend:
        agent = Agent.define(agent.spec, backend=backend)
    if environment is None:
        environment = Environment.default(backend=backend)
    elif environment.backend != backend:
        environment = Environment.define(environment.spec, backend=backend)
    return agent, environment


def _show_progress(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def evaluate(
    agent: Agent,
    tasks: Any,
    *,
    environment: Environment | None = None,
    rubric: str | None = None,
    scorers: Sequence[Scorer] = (),
    epochs: int = 1,
    concurrency: int = 4,
    budget: float | Mapping[str, Any] | None = None,
    name: str | None = None,
    backend: str | None = None,
    max_iterations: int | None = None,
    timeout: float = 1800.0,
    price_as: str | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Run every task ``epochs`` times as sessions of ``agent``; one results row per task × epoch.

    Args:
        agent: The agent under test (``nba.Agent.define`` or ``%%agent``).
        tasks: A DataFrame, or a list of dicts, with a ``prompt`` each; optional ``id``
            (default: the index label or list position) and ``rubric`` columns; any other
            column is copied into the results (expected answers for scorers, metadata).
        environment: Where the tools run (default: no network, no packages).
        rubric: The outcome rubric (markdown) for tasks without their own. With a rubric, a
            task is sent as ``user.define_outcome`` and graded by the backend's outcome grader.
        scorers: Callables over each finished task (see ``nb_agents.evals.exact_match`` …).
        epochs: How many times each task runs.
        concurrency: How many sessions run at once.
        budget: Each session's spending limit: USD, or the API's budget object. Passed to
            ``sessions.create``; the backend stops a session that reaches it.
        name: The evaluation's name. The same name resumes: finished sessions are read, running
            ones followed, missing ones started. Default: the agent's name and a hash of the
            agent version, environment, tasks, rubrics, epochs, budget and ``max_iterations``,
            so the same cell resumes by itself. Scorers are not part of it: they run again on
            every call over the stored sessions, so a changed or added scorer re-runs nothing.
        backend: ``local`` or ``hosted`` (default: the agent's).
        max_iterations: Outcome revisions at most (the backend's default when None).
        timeout: Seconds a session may take; then it is interrupted and its row has an error.
        price_as: Estimate costs as if the tokens were this model's (for ``replay:`` agents).
        progress: Show the live progress view (default: when running in a notebook kernel).

    Returns:
        One row per task × epoch, in task order: ``task_id``, ``epoch``, the task's columns,
        ``outcome``, ``explanation``, ``iterations``, one column per scorer, ``passed``,
        ``final_message``, ``model_requests``, token counts, ``cost_usd``, ``duration_s``,
        ``stop_reason``, ``error`` and ``session_id``. ``attrs["eval"]`` holds the name.

    Raises:
        EvalError: Malformed tasks or settings, or the backend refused the first session
            (outcomes, budgets …): then no session was started.
    """
    scorer_map: dict[str, Scorer] = {}
    for scorer in scorers:
        label = scorer_name(scorer)
        if label in scorer_map:
            raise EvalError(f"two scorers are named {label!r}; give one another name (name=...)")
        scorer_map[label] = scorer
    checked = read_tasks(tasks, rubric=rubric, extra_columns=list(scorer_map))
    if not isinstance(epochs, int) or epochs < 1:
        raise EvalError(f"epochs must be a positive integer, not {epochs!r}")
    if not isinstance(concurrency, int) or concurrency < 1:
        raise EvalError(f"concurrency must be a positive integer, not {concurrency!r}")
    if timeout <= 0:
        raise EvalError(f"timeout must be positive, not {timeout!r}")
    agent, environment = _resolve(agent, environment, backend)
    limit = _budget(budget)
    if name is None:
        parts = [(t.id, t.prompt, t.rubric) for t in checked]
        name = f"{agent.spec.name}-" + fingerprint(
            agent.id, agent.version, environment.id, parts, epochs, limit, max_iterations
        )
    if not name or len(name) > 200:
        raise EvalError("name must be 1 to 200 characters")
    replays = _replay_names(agent, checked, epochs)
    client = client_for(agent.backend)
    keys = [(t.id, e) for t in checked for e in range(epochs)]
    total_budget = _budget_usd(limit)
    tally = Tally(name, keys, total_budget * len(keys) if total_budget else None, price_as or agent.spec.model_id)
    run = _Run(
        client,
        agent,
        environment,
        name,
        scorers=scorer_map,
        budget=limit,
        max_iterations=max_iterations,
        timeout=timeout,
        price_as=price_as,
        replays=replays,
        tally=tally,
    )
    view = _view(tally, agent.backend) if _show_progress(progress) else None
    rows = _run_all(run, checked, epochs, _ours(client, agent, name), concurrency, view)
    out = frame(rows, checked, list(scorer_map))
    out.attrs["eval"] = name
    out.attrs["agent"] = agent.spec.name
    return out


def _view(tally: Tally, backend: str) -> Callable[[], None]:
    from IPython.display import display

    from nb_agents.evals._progress import EvalProgress

    board = EvalProgress(tally, backend=backend)
    display(board.panel)  # type: ignore[no-untyped-call]
    return board.refresh


def _run_all(
    run: _Run,
    tasks: Sequence[Task],
    epochs: int,
    existing: Mapping[Key, Any],
    concurrency: int,
    refresh: Callable[[], None] | None,
) -> list[Row]:
    """Every task × epoch through a pool of ``concurrency`` workers; the first new one alone first."""
    by_id = {t.id: t for t in tasks}
    keys = [(t.id, e) for t in tasks for e in range(epochs)]
    fresh = [k for k in keys if k not in existing]
    probe: Session | None = None
    if fresh:  # fail fast: a refused setting (outcomes, budget …) stops the run before anything else starts
        try:
            probe = run.start(by_id[fresh[0][0]], fresh[0][1])
        except Exception as exc:
            refused = _refusal(exc)
            if refused is None and not isinstance(exc, NbAgentsError):
                raise
            raise EvalError(f"the backend refused this evaluation's first session ({refused or exc})") from None
    pool = cf.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="nb_agents eval")
    futures = [
        pool.submit(run.job, by_id[k[0]], k[1], existing.get(k), probe if fresh and k == fresh[0] else None)
        for k in [k for k in keys if k in existing] + fresh
    ]
    pending = set(futures)
    try:
        while pending:
            _, pending = cf.wait(pending, timeout=0.5)
            if refresh is not None:
                refresh()
    except BaseException:  # KeyboardInterrupt: start nothing more; running sessions go on (resumable)
        run.stopping.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [f.result() for f in futures]
