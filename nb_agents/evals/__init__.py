"""Evaluations in the notebook: run an agent over a table of tasks, score it, resume it, compare it.

```python
import nb_agents as nba
from nb_agents.evals import compare, evaluate, exact_match, numeric

tasks = pd.DataFrame({"prompt": ["What is 17 * 23?", ...], "answer": [391, ...]})
quick = evaluate(agent, tasks, scorers=[numeric("answer")], epochs=2, concurrency=8)
careful = evaluate(other_agent, tasks, scorers=[numeric("answer")], epochs=2)
compare(quick, careful)          # paired per task, bootstrap CI, win/loss table, .plot()
```

``evaluate`` reaches a runtime only through the SDK (``nb_agents.client``), so the same call
runs on the local runtime or the hosted API. Each task × epoch is one session that carries
the evaluation's name, task id and epoch in its metadata: running the same call again (after
a kernel restart, say) re-attaches to running sessions and reads finished ones instead of
paying for them twice. A ``rubric`` (or a ``rubric`` column) sends the task as an outcome
(``user.define_outcome``) for the backend's grader; scorers are plain callables over the
finished session. ``save_replays`` turns a recorded evaluation into replay files for CI.
"""

from __future__ import annotations

from nb_agents.evals._compare import Comparison, compare
from nb_agents.evals._replays import REPLAY_KEY, save_replays
from nb_agents.evals._results import settled
from nb_agents.evals._run import evaluate
from nb_agents.evals._scorers import Finished, Scorer, exact_match, model_graded, numeric, regex
from nb_agents.evals._task_run import EPOCH_KEY, EVAL_KEY, TASK_KEY
from nb_agents.evals._tasks import RESULT_COLUMNS

__all__ = [
    "EPOCH_KEY",
    "EVAL_KEY",
    "REPLAY_KEY",
    "RESULT_COLUMNS",
    "TASK_KEY",
    "Comparison",
    "Finished",
    "Scorer",
    "compare",
    "evaluate",
    "exact_match",
    "model_graded",
    "numeric",
    "regex",
    "save_replays",
    "settled",
]
