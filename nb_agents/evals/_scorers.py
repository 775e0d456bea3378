"""Scorers: plain callables over a finished task, and the four that come with nb_agents.

A scorer is any callable ``scorer(finished) -> bool | float | None``. It gets a ``Finished``
(the task's columns, the session's events, its final message, its outcome) and returns a
value for its column of the results: ``True``/``False`` for pass or fail (these decide the
``passed`` column), a number for a graded score (reported, not part of ``passed``), or
``None`` when it does not apply. Its column is named by its ``name`` attribute, else its
``__name__``. A scorer that raises leaves NA in its column and its message in ``error``.

```python
from nb_agents.evals import exact_match, numeric, regex, model_graded

scorers = [
    exact_match("answer"),                       # final message == the task's 'answer' column
    regex(r"\\bnorth\\b"),                        # the final message matches a pattern
    numeric("total", tolerance=0.5),             # the last number in it is within 0.5 of 'total'
    model_graded("Names the region and its revenue."),  # a model judges it (Messages API)
]
```
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nb_agents.errors import EvalError

if TYPE_CHECKING:
    import anthropic

__all__ = ["Finished", "Scorer", "exact_match", "model_graded", "numeric", "regex", "scorer_name"]

Scorer = Callable[["Finished"], Any]
"""A callable over a finished task that returns ``bool``, a number or ``None``."""

_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")


@dataclass(frozen=True)
class Finished:
    """One task × epoch whose session is over, as scorers see it.

    Attributes:
        task_id: The task's id.
        epoch: The epoch (0-based).
        task: The task's columns (``prompt`` and any others, such as an expected answer).
        session_id: The session that ran it.
        events: The session's stored events, in log order (wire dicts).
        final_message: The text of the agent's last message, or None if it sent none.
        outcome: The session's last outcome evaluation (``result``, ``explanation`` ...), if any.
    """

    task_id: str
    epoch: int
    task: Mapping[str, Any]
    session_id: str
    events: list[dict[str, Any]] = field(repr=False)
    final_message: str | None
    outcome: Mapping[str, Any] | None = None


def scorer_name(scorer: Scorer) -> str:
    """A scorer's column name: its ``name`` attribute, else its ``__name__``."""
    name = getattr(scorer, "name", None) or getattr(scorer, "__name__", None)
    if not isinstance(name, str) or not name or name == "<lambda>":
        raise EvalError(f"scorer {scorer!r} has no name: give it a 'name' attribute or use a named function")
    return name


def _column(finished: Finished, column: str, scorer: str) -> Any:
    if column not in finished.task:
        raise EvalError(f"{scorer} needs a {column!r} column in the tasks")
    return finished.task[column]


def _named(name: str, fn: Callable[[Finished], Any]) -> Scorer:
    fn.name = name  # type: ignore[attr-defined]
    fn.__name__ = name
    return fn


def exact_match(target: str = "target", *, ignore_case: bool = True, name: str = "exact_match") -> Scorer:
    """The final message equals the task's ``target`` column (whitespace collapsed; case ignored by default).

    Example:
        >>> score = exact_match("answer")
        >>> score(Finished("t", 0, {"answer": "North"}, "sesn_1", [], " north\\n"))
        True
    """

    def norm(text: str) -> str:
        text = " ".join(text.split())
        return text.casefold() if ignore_case else text

    def score(finished: Finished) -> bool:
        expected = _column(finished, target, name)
        return finished.final_message is not None and norm(finished.final_message) == norm(str(expected))

    return _named(name, score)


def regex(
    pattern: str | None = None, *, column: str | None = None, flags: int = re.IGNORECASE, name: str = "regex"
) -> Scorer:
    """The final message contains a match of ``pattern``, or of the pattern in the task's ``column``.

    Example:
        >>> regex(r"\\b255\\b")(Finished("t", 0, {}, "sesn_1", [], "North: 255."))
        True
    """
    if (pattern is None) == (column is None):
        raise EvalError("regex(): give a pattern, or column= naming the tasks' column of patterns")
    fixed = re.compile(pattern, flags) if pattern is not None else None

    def score(finished: Finished) -> bool:
        compiled = fixed or re.compile(str(_column(finished, column or "", name)), flags)
        return finished.final_message is not None and compiled.search(finished.final_message) is not None

    return _named(name, score)


def numeric(target: str = "target", *, tolerance: float = 0.0, relative: bool = False, name: str = "numeric") -> Scorer:
    """The last number in the final message is within ``tolerance`` of the task's ``target`` column.

    ``relative=True`` makes the tolerance a fraction of the target. Thousands separators
    (``1,250``) are read as such.

    Example:
        >>> numeric("total", tolerance=1)(Finished("t", 0, {"total": 660}, "sesn_1", [], "In all: 660.4 units"))
        True
    """
    if tolerance < 0:
        raise EvalError(f"numeric(): tolerance must be ≥ 0, not {tolerance}")

    def score(finished: Finished) -> bool:
        expected = float(_column(finished, target, name))
        found = _NUMBER.findall(finished.final_message or "")
        if not found:
            return False
        value = float(found[-1].replace(",", ""))
        allowed = tolerance * abs(expected) if relative else tolerance
        return abs(value - expected) <= allowed

    return _named(name, score)


_GRADER_SYSTEM = (
    "You grade an AI agent's answer to a task against criteria. Judge only the answer as given. "
    "Explain briefly, then end with a last line that is exactly 'GRADE: PASS' or 'GRADE: FAIL'."
)
_GRADE = re.compile(r"GRADE:\s*(PASS|FAIL)\s*$", re.IGNORECASE)


def model_graded(
    criteria: str | None = None,
    *,
    column: str | None = None,
    model: str = "claude-haiku-4-5",
    client: anthropic.Anthropic | None = None,
    max_tokens: int = 1024,
    name: str = "model_graded",
) -> Scorer:
    """A model judges the final message against ``criteria`` (or the task's ``column``): pass or fail.

    The grader is asked through the Messages API of the official SDK: ``client``, else an
    ``anthropic.Anthropic()`` made from ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL`` of
    this process (so any Messages-compatible endpoint works). It sees the task's prompt,
    the criteria and the answer, never the agent's reasoning, and must end with
    ``GRADE: PASS`` or ``GRADE: FAIL``; any other reply is an error in that row.
    """
    if (criteria is None) == (column is None):
        raise EvalError("model_graded(): give criteria, or column= naming the tasks' column of criteria")
    lock = threading.Lock()
    made: list[anthropic.Anthropic] = [client] if client is not None else []

    def grader() -> anthropic.Anthropic:
        with lock:
            if not made:
                import anthropic

                made.append(anthropic.Anthropic())
            return made[0]

    def score(finished: Finished) -> bool:
        wanted = criteria if criteria is not None else str(_column(finished, column or "", name))
        prompt = (
            f"<task>\n{finished.task.get('prompt', '')}\n</task>\n<criteria>\n{wanted}\n</criteria>\n"
            f"<answer>\n{finished.final_message or '(the agent gave no answer)'}\n</answer>"
        )
        reply = grader().messages.create(
            model=model,
            max_tokens=max_tokens,
            system=_GRADER_SYSTEM,
            messages=[{"role": "user", "content": prompt}],
        )
        text = "".join(getattr(block, "text", "") for block in reply.content).strip()
        found = _GRADE.search(text)
        if found is None:
            raise EvalError(f"the grader's reply does not end with 'GRADE: PASS' or 'GRADE: FAIL': {text[-200:]!r}")
        return found.group(1).upper() == "PASS"

    return _named(name, score)
