"""``RecordingBrain``: records a live session's model responses into a replay file."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from nb_agents.runtime.brain._replay import is_response_line
from nb_agents.runtime.brain._types import (
    Brain,
    ErrorCallback,
    ModelRequest,
    TextCallback,
    assistant_turns,
)

__all__ = ["RecordingBrain", "append_response"]

logger = logging.getLogger("nb_agents.runtime.brain")

_HEADER = "# nb_agents replay file: one Messages response per line, in model-request order (docs/replay-format.md)\n"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _truncate_to(path: Path, keep: int) -> None:
    """Keep the first ``keep`` responses (and the comments among them); replace the file atomically."""
    kept: list[str] = []
    responses = 0
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if is_response_line(line):
            if responses == keep:
                break
            responses += 1
        kept.append(line)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(kept), encoding="utf-8")
    os.replace(tmp, path)


def append_response(path: str | os.PathLike[str], turn: int, entry: dict[str, Any]) -> None:
    """Write ``entry`` as the answer to model request ``turn`` (0-based) of a replay file.

    The line is appended with one ``write`` and made durable with ``fsync``. If the file already
    holds ``turn`` or more responses (a request asked again after a crash), the later ones are
    dropped first, so line ``k`` always answers request ``k``.

    Args:
        path: The replay file; created (with a comment header) if missing.
        turn: The request's index: the number of assistant turns it already holds.
        entry: A Messages response, or a ``{"delay_ms": N, "response": {...}}`` wrapper.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        held = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if is_response_line(line))
        if held > turn:
            _truncate_to(path, turn)
        elif held < turn:
            logger.warning("replay file %s holds %d responses; recording turn %d after them", path, held, turn)
        prefix = ""
    else:
        prefix = _HEADER
    data = (prefix + json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


class RecordingBrain:
    """Wraps a brain and appends each final response to a replay file.

    Replaying the file with ``replay:<path>`` gives the same answers to the same session.
    A response that could not be recorded (disk full ...) is logged and still returned: the
    live session matters more than its recording.

    Args:
        inner: The brain that answers.
        path: The replay file to append to (one file per session).
        timing: Also record how long each answer took, as ``delay_ms``, for realistic replays.
    """

    def __init__(self, inner: Brain, path: str | os.PathLike[str], *, timing: bool = False) -> None:
        self.inner = inner
        self.path = Path(path).expanduser()
        self.timing = timing
        self._lock = asyncio.Lock()

    async def complete(
        self,
        request: ModelRequest,
        *,
        on_text: TextCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> dict[str, Any]:
        """Ask the inner brain, then record its answer.

        Args:
            request: The turn's parameters.
            on_text: Passed to the inner brain.
            on_error: Passed to the inner brain.

        Returns:
            The inner brain's response, unchanged.

        Raises:
            ModelCallError: As the inner brain raises it (nothing is recorded).
            ReplayError: As the inner brain raises it (nothing is recorded).
        """
        started = time.monotonic()
        response = await self.inner.complete(request, on_text=on_text, on_error=on_error)
        entry: dict[str, Any] = response
        if self.timing:
            entry = {"delay_ms": round((time.monotonic() - started) * 1000), "response": response}
        async with self._lock:
            try:
                await asyncio.to_thread(append_response, self.path, assistant_turns(request), entry)
            except OSError:
                logger.exception("could not record a model response to %s", self.path)
        return response

    async def aclose(self) -> None:
        """Close the inner brain, if it can be closed."""
        aclose = getattr(self.inner, "aclose", None)
        if aclose is not None:
            await aclose()
