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
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nb_agents.client import Agent, Environment, Session, client_for, local_runtime, reset_clients
from nb_agents.errors import EvalError, NbAgentsError
from nb_agents.evals._replays import replay_names
from nb_agents.evals._results import Row, frame
from nb_agents.evals._scorers import Scorer, scorer_name
from nb_agents.evals._tally import Tally
from nb_agents.evals._task_run import EPOCH_KEY, EVAL_KEY, TASK_KEY, TaskRunner, refusal
from nb_agents.evals._tasks import Key, Task, fingerprint, read_tasks

if TYPE_CHECKING:
    import anthropic
    import pandas as pd

__all__ = ["evaluate"]


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
    replays = replay_names(agent, checked, epochs)
    client = client_for(agent.backend)
    keys = [(t.id, e) for t in checked for e in range(epochs)]
    total_budget = _budget_usd(limit)
    tally = Tally(name, keys, total_budget * len(keys) if total_budget else None, price_as or agent.spec.model_id)
    run = TaskRunner(
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
    run: TaskRunner,
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
            refused = refusal(exc)
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
