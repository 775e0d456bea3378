"""A session's log without a server: ``export`` it to a file, ``load`` it back.

``SessionLog`` holds what every session object can do with its events: the DataFrames, the
timeline, the estimated cost, a static HTML transcript and ``export``. ``nb_agents.Session``
(live, on a backend) and ``SavedSession`` (from a file, no server) both have it, so an
analysis written against one runs on the other:

```python
session.export("run.jsonl")            # the raw events (and the session's id, title, model)
session.export("run.html")             # a self-contained page: the transcript, no script
saved = nb_agents.load("run.jsonl")    # later, anywhere: no server, no key
saved.events_df(), saved.tool_calls_df(), saved.timeline()
```

The JSON Lines file has one wire event per line, in log order. Its first line may be the
session itself, ``{"type": "session", "id", "title", "model", "status"}``; ``load`` reads it
when present, and also reads a file of bare events (such as one written by hand or by
``jq -c '.data[]'`` from the events API).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb_agents.errors import NbAgentsError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SavedSession", "SessionLog", "load"]


class SessionLog:
    """The read side of a session: DataFrames, timeline, transcript and export of its events.

    A subclass provides ``id``, ``title``, ``model``, ``status`` and ``events`` (wire dicts).
    """

    id: str
    title: str | None
    model: str

    @property
    def status(self) -> str:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    @property
    def events(self) -> list[dict[str, Any]]:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def events_df(self) -> pd.DataFrame:
        """One row per event (see ``nb_agents.analysis.events_df``)."""
        from nb_agents.analysis import events_df

        return events_df(self.events, session_id=self.id)

    def tool_calls_df(self) -> pd.DataFrame:
        """One row per tool call: use, approval and result; the approval wait apart from the tool's time."""
        from nb_agents.analysis import tool_calls_df

        return tool_calls_df(self.events, session_id=self.id)

    def model_requests_df(self) -> pd.DataFrame:
        """One row per model request, with tokens and estimated cost."""
        from nb_agents.analysis import model_requests_df

        return model_requests_df(self.events, session_id=self.id, model=self.model)

    def timeline(self) -> Any:
        """A plotly timeline: one lane per tool, the approval waits apart (see ``nb_agents.analysis.timeline``)."""
        from nb_agents.analysis import timeline

        return timeline(self.events, session_id=self.id, model=self.model)

    def estimated_cost(self) -> float | None:
        """Estimated USD cost of the model requests so far (None for a model without a price)."""
        frame = self.model_requests_df()
        if frame.empty:
            return 0.0
        cost = frame["cost_usd"].sum(min_count=1)
        return None if cost != cost else float(cost)

    def transcript(self, *, standalone: bool = False, max_events: int | None = None) -> str:
        """The log as static HTML: messages rendered, tool calls with input, output and timings."""
        from nb_agents.notebook._transcript import transcript_html

        try:
            cost = self.estimated_cost()
        except Exception:  # a transcript never fails on a cost it cannot work out
            cost = None
        return transcript_html(
            self.events,
            session_id=self.id,
            title=self.title,
            model=self.model,
            status=self.status,
            cost=cost,
            max_events=max_events,
            standalone=standalone,
        )

    def export(self, path: str | Path) -> Path:
        """Write the session to ``path``: ``.jsonl`` the raw events, ``.html`` a self-contained page.

        Returns:
            The path written.

        Raises:
            NbAgentsError: If the suffix is neither ``.jsonl`` nor ``.html``.
        """
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix == ".jsonl":
            head = {"type": "session", "id": self.id, "title": self.title, "model": self.model, "status": self.status}
            lines = [json.dumps(head, ensure_ascii=False)]
            lines += [json.dumps(event, ensure_ascii=False, default=str) for event in self.events]
            target.write_text("\n".join(lines) + "\n", encoding="utf-8")
        elif suffix in (".html", ".htm"):
            target.write_text(self.transcript(standalone=True), encoding="utf-8")
        else:
            raise NbAgentsError(f"export({str(path)!r}): name a .jsonl file (the raw events) or an .html file (a page)")
        return target

    def _repr_html_(self) -> str:
        """In a notebook: the static transcript, kept in the saved file (no widget, no kernel needed)."""
        return self.transcript(max_events=2_000)


class SavedSession(SessionLog):
    """A session read from a file by ``load``: its events and the ``SessionLog`` methods, no server.

    Attributes:
        id: The session id (from the file's session line, else the events', else the file name).
        title: The session's title, if the file has it.
        model: The model id, if the file has it (costs are estimated from it), else ``""``.
        path: The file it was read from.
    """

    def __init__(
        self, events: list[dict[str, Any]], *, id: str, title: str | None, model: str, status: str, path: Path
    ) -> None:
        self.id = id
        self.title = title
        self.model = model
        self._status = status
        self._events = events
        self.path = path

    @property
    def status(self) -> str:
        """The status the session had when it was exported."""
        return self._status

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events, in log order, as wire dicts (a copy)."""
        return list(self._events)

    def __repr__(self) -> str:
        return f"SavedSession({self.id}, {len(self._events)} events, from {self.path.name})"


def load(path: str | Path) -> SavedSession:
    """Read a session exported with ``export("….jsonl")`` (or a file of bare events).

    Raises:
        NbAgentsError: If the file is missing or a line is not a JSON object with a ``type``
            (the message names the line).
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise NbAgentsError(f"load({str(path)!r}): cannot read it: {exc.strerror or exc}") from None
    head: dict[str, Any] = {}
    events: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise NbAgentsError(f"load({str(path)!r}): line {number} is not JSON ({exc.msg})") from None
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise NbAgentsError(f"load({str(path)!r}): line {number} is not an event (an object with a type)")
        if item["type"] == "session" and not events and not head:
            head = item
        else:
            events.append(item)
    session_id = head.get("id") or next((e["session_id"] for e in events if e.get("session_id")), None)
    status = head.get("status") or "idle"
    model = head.get("model") if isinstance(head.get("model"), str) else ""
    title = head.get("title") if isinstance(head.get("title"), str) else None
    return SavedSession(
        events, id=str(session_id or source.stem), title=title, model=str(model), status=str(status), path=source
    )
