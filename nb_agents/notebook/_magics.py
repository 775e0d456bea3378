"""The IPython magics: ``%%agent``, ``%%environment``, ``%%session``, ``%%eval``, ``%agents``, ``%sessions``,
``%attach``.

``%eval AGENT TASKS`` evaluates an agent; as ``%%eval`` the cell's text is the outcome rubric.

They are thin: each parses its line, calls the Python API (``nb_agents.Agent`` …) and shows
the result. Every mistake becomes a ``UsageError`` that says what to do, shown without a
traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from nb_agents.client import Agent, Environment, Session, attach, client_for
from nb_agents.errors import NbAgentsError

__all__ = ["SESSIONS_COLUMNS", "NbAgentsMagics"]

SESSIONS_COLUMNS = (
    "id",
    "title",
    "status",
    "agent_name",
    "model",
    "created_at",
    "input_tokens",
    "output_tokens",
    "active_seconds",
    "cost_usd",
)
"""The columns ``%sessions`` shows (``%sessions --all``: every column of ``sessions_df``)."""

_BACKEND_HELP = "local (default: the background nb-agents server) or hosted (ANTHROPIC_API_KEY)"


@contextlib.contextmanager
def _as_usage_errors(what: str) -> Iterator[None]:
    """Turn nb_agents and API errors into UsageError (no traceback in the notebook)."""
    try:
        yield
    except UsageError:
        raise
    except NbAgentsError as exc:
        raise UsageError(f"{what}: {exc}") from None
    except Exception as exc:
        import anthropic

        if isinstance(exc, anthropic.APIStatusError):
            message = getattr(exc, "api_message", None) or str(exc)
            raise UsageError(f"{what}: the backend refused it ({exc.status_code}): {message}") from None
        if isinstance(exc, anthropic.APIConnectionError):
            raise UsageError(f"{what}: the backend cannot be reached ({exc}); is it running?") from None
        raise


def _check_backend(value: str | None) -> str | None:
    if value is not None and value not in ("local", "hosted"):
        raise UsageError(f"--backend {value!r}: use local or hosted")
    return value


def _unquoted(value: str | None) -> str | None:
    """IPython's argument splitter keeps the quotes of a quoted argument (``--title "a b"``)."""
    if value and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _budget(value: str | None) -> float | None:
    if value is None:
        return None
    text = _unquoted(value.strip()) or ""
    try:
        dollars = float(text.removeprefix("$"))
    except ValueError:
        dollars = float("nan")
    if not dollars > 0 or dollars == float("inf") or round(dollars, 2) != dollars:
        raise UsageError(f"--budget {value}: give US dollars in whole cents, e.g. --budget 0.50")
    return dollars


def _without_cwd(text: str) -> str:
    """``text`` with the working directory's absolute path made relative (a saved notebook
    carries no machine path: ``replay:/home/me/nb/data/x.jsonl`` shows as ``replay:data/x.jsonl``)."""
    import os

    cwd = os.getcwd().rstrip(os.sep) + os.sep
    return text.replace(f"replay:{cwd}", "replay:") if len(cwd) > 1 else text


def _identifier(name: str, what: str) -> str:
    if not name.isidentifier():
        raise UsageError(f"{what} name {name!r} must be a Python identifier (it becomes a variable)")
    return name


@magics_class
class NbAgentsMagics(Magics):
    """nb_agents' magics; load them with ``%load_ext nb_agents``."""

    @property
    def _ns(self) -> dict[str, Any]:
        assert self.shell is not None, "nb_agents magics need an IPython shell"
        ns: dict[str, Any] = self.shell.user_ns
        return ns

    def _lookup(self, name: str, kind: type, magic: str) -> Any:
        value = self._ns.get(name)
        if not isinstance(value, kind):
            defined = [k for k, v in self._ns.items() if isinstance(v, kind) and not k.startswith("_")]
            hint = f" (defined here: {', '.join(sorted(defined))})" if defined else ""
            raise UsageError(
                f"no {kind.__name__.lower()} named {name!r} in this notebook: define it with {magic} {name}{hint}"
            )
        return value

    def _define(self, line: str, cell: str, kind: type[Agent] | type[Environment], magic: str) -> None:
        args = parse_argstring(self.agent if kind is Agent else self.environment, line)
        name = _identifier(args.name, kind.__name__.lower())
        with _as_usage_errors(f"{magic} {name}"):
            import yaml

            text = cell if cell.strip() else "{}"
            try:
                loaded = yaml.safe_load(text)
            except yaml.YAMLError:
                loaded = None  # define() reports the error with its line
            if isinstance(loaded, dict) and "name" not in loaded:
                text = f"{text.rstrip()}\nname: {name}\n"  # appended, so error line numbers stay right
            obj = kind.define(text, backend=_check_backend(args.backend))
        self._ns[name] = obj
        display({"text/plain": _without_cwd(repr(obj))}, raw=True)

    @magic_arguments()
    @argument("name", help="variable to bind; also the agent's name unless the YAML has one")
    @argument("--backend", default=None, help=_BACKEND_HELP)
    @cell_magic
    def agent(self, line: str, cell: str) -> None:
        """Define an agent from the cell's YAML; a changed definition becomes a new version."""
        self._define(line, cell, Agent, "%%agent")

    @magic_arguments()
    @argument("name", help="variable to bind; also the environment's name unless the YAML has one")
    @argument("--backend", default=None, help=_BACKEND_HELP)
    @cell_magic
    def environment(self, line: str, cell: str) -> None:
        """Define an environment (networking, packages, local sandbox settings) from YAML."""
        self._define(line, cell, Environment, "%%environment")

    @magic_arguments()
    @argument("agent", help="an agent defined with %%agent")
    @argument("--env", default=None, help="an environment defined with %%environment (default: no network)")
    @argument("--as", dest="var", default="session", help="variable to bind the Session to (default: session)")
    @argument("--backend", default=None, help=_BACKEND_HELP)
    @argument("--title", default=None, help="the session's title")
    @argument("--budget", default=None, help="hard cap on the estimated list cost, in US dollars (e.g. 0.50)")
    @cell_magic
    def session(self, line: str, cell: str) -> None:
        """Start a session; the cell's text is the first message. Returns at once with a live view."""
        args = parse_argstring(self.session, line)
        var = _identifier(args.var, "--as")
        budget = _budget(args.budget)
        agent: Agent = self._lookup(args.agent, Agent, "%%agent")
        env: Environment | None = self._lookup(args.env, Environment, "%%environment") if args.env else None
        backend = _check_backend(args.backend) or agent.backend
        with _as_usage_errors(f"%%session {args.agent}"):
            if agent.backend != backend:
                agent = Agent.define(agent.spec, backend=backend)
            if env is not None and env.backend != backend:
                env = Environment.define(env.spec, backend=backend)
            session = Session.start(
                agent, cell.strip() or None, environment=env, title=_unquoted(args.title), budget=budget
            )
        self._ns[var] = session
        display(session.view())

    @magic_arguments()
    @argument("agent", help="an agent defined with %%agent")
    @argument("tasks", help="a variable holding the tasks: a DataFrame or a list of dicts, a 'prompt' each")
    @argument("--env", default=None, help="an environment defined with %%environment (default: no network)")
    @argument("--scorers", default=None, help="a variable holding a scorer or a list of scorers")
    @argument("--epochs", type=int, default=1, help="runs per task (default 1)")
    @argument("--concurrency", type=int, default=4, help="sessions at once (default 4)")
    @argument("--budget", type=float, default=None, help="each session's spending limit in USD")
    @argument("--name", default=None, help="the evaluation's name (the same name resumes it)")
    @argument("--price-as", default=None, help="estimate costs as if the tokens were this model's")
    @argument("--as", dest="var", default="results", help="variable to bind the results to (default: results)")
    @argument("--backend", default=None, help=_BACKEND_HELP)
    @line_cell_magic("eval")  # type: ignore[arg-type]
    def evaluation(self, line: str, cell: str | None = None) -> None:
        """Evaluate an agent on tasks (``nb_agents.evals.evaluate``): ``%eval`` or ``%%eval`` with a rubric."""
        args = parse_argstring(self.evaluation, line)
        var = _identifier(args.var, "--as")
        agent: Agent = self._lookup(args.agent, Agent, "%%agent")
        env: Environment | None = self._lookup(args.env, Environment, "%%environment") if args.env else None
        if args.tasks not in self._ns:
            raise UsageError(f"no variable {args.tasks!r} holds tasks: make a DataFrame with a 'prompt' column first")
        scorers: Any = self._ns.get(args.scorers, ()) if args.scorers else ()
        if args.scorers and args.scorers not in self._ns:
            raise UsageError(f"no variable {args.scorers!r} holds scorers: e.g. checks = [numeric('answer')]")
        with _as_usage_errors(f"%%eval {args.agent}"):
            from nb_agents.evals import evaluate

            results = evaluate(
                agent,
                self._ns[args.tasks],
                environment=env,
                rubric=(cell or "").strip() or None,
                scorers=list(scorers) if isinstance(scorers, (list, tuple)) else [scorers],
                epochs=args.epochs,
                concurrency=args.concurrency,
                budget=args.budget,
                name=_unquoted(args.name),
                backend=_check_backend(args.backend),
                price_as=args.price_as,
            )
        self._ns[var] = results
        judged, errors = results["passed"].dropna(), int(results["error"].notna().sum())
        passed = f"passed {int(judged.sum())}/{len(judged)}"
        print(f"{var}: {len(results)} rows (evaluation {results.attrs['eval']}), {passed}, {errors} errors")

    @magic_arguments()
    @argument("session_id", help="a session id (sesn_…)")
    @argument("--as", dest="var", default="session", help="variable to bind the Session to")
    @argument("--backend", default=None, help=_BACKEND_HELP)
    @line_magic
    def attach(self, line: str) -> None:
        """Follow an existing session again (after a kernel restart, from another notebook)."""
        args = parse_argstring(self.attach, line)
        var = _identifier(args.var, "--as")
        with _as_usage_errors(f"%attach {args.session_id}"):
            session = attach(args.session_id, backend=_check_backend(args.backend))
        self._ns[var] = session
        display(session.view())

    @magic_arguments()
    @argument("--backend", default=None, help=_BACKEND_HELP)
    @line_magic
    def agents(self, line: str) -> Any:
        """List the agents of a backend (latest versions)."""
        args = parse_argstring(self.agents, line)
        with _as_usage_errors("%agents"):
            import pandas as pd

            rows = [
                {"name": a.name, "id": a.id, "version": a.version, "model": a.model.id, "created_at": a.created_at}
                for a in client_for(_check_backend(args.backend)).beta.agents.list()
            ]
            frame = pd.DataFrame(rows, columns=["name", "id", "version", "model", "created_at"])
            frame.attrs["nb_agents"] = True  # an interactive table in a notebook
            return frame

    @magic_arguments()
    @argument("--backend", default=None, help=_BACKEND_HELP)
    @argument("--all", dest="every", action="store_true", help="every column (default: a compact set)")
    @line_magic
    def sessions(self, line: str) -> Any:
        """List the sessions of a backend, newest first: id, title, status, agent, tokens, cost."""
        args = parse_argstring(self.sessions, line)
        with _as_usage_errors("%sessions"):
            from nb_agents import sessions_df

            frame = sessions_df(backend=_check_backend(args.backend))
            return frame if args.every else frame[list(SESSIONS_COLUMNS)]
