"""``ReplayBrain``: answers from a file of recorded Messages responses (``replay:<path>``).

The file format is documented in ``docs/replay-format.md``: JSON Lines, one Messages response per
line (or ``{"delay_ms": N, "response": {...}}``), ``#`` comment lines and blank lines ignored.
The answer to a request is the response at the index given by how many assistant turns the
request's ``messages`` already hold, so replay needs no state and survives a restart.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nb_agents.errors import ReplayError
from nb_agents.runtime.brain._types import (
    ErrorCallback,
    ModelError,
    ModelRequest,
    TextCallback,
    assistant_turns,
)

__all__ = ["UNRECORDED_MODEL", "ReplayBrain", "ReplayEntry", "is_response_line", "load_replay"]

UNRECORDED_MODEL = "replay"
"""The ``model`` of a replayed response whose line names none (written by hand, not recorded)."""

_WRAPPER_KEYS = {"response", "delay_ms", "note"}
_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


@dataclass(frozen=True)
class ReplayEntry:
    """One recorded answer."""

    response: dict[str, Any]
    """The Messages response, with defaults filled in."""
    delay_ms: float
    """How long answering takes; text deltas are spread across it."""
    line: int
    """1-based line of the file it came from."""


def is_response_line(line: str) -> bool:
    """Whether a line of a replay file holds a response (not blank, not a ``#`` comment)."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _fail(path: Path, line: int, why: str) -> ReplayError:
    return ReplayError(f"replay file {path}, line {line}: {why}")


def _block(path: Path, line: int, turn: int, i: int, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise _fail(path, line, f"content[{i}] is not a content block with a 'type'")
    block: dict[str, Any] = dict(raw)
    if block["type"] == "text" and not isinstance(block.get("text"), str):
        raise _fail(path, line, f"content[{i}] is a text block without a string 'text'")
    if block["type"] == "tool_use":
        if not isinstance(block.get("name"), str) or not isinstance(block.get("input", {}), dict):
            raise _fail(path, line, f"content[{i}] is a tool_use block without a 'name' and an object 'input'")
        block.setdefault("input", {})
        block.setdefault("id", f"toolu_replay_{turn:03d}_{i}")
    return block


def _entry(path: Path, line: int, turn: int, obj: Any) -> ReplayEntry:
    if not isinstance(obj, dict):
        raise _fail(path, line, "expected a JSON object (a Messages response)")
    delay: Any = 0
    if "response" in obj:
        if unknown := set(obj) - _WRAPPER_KEYS:
            raise _fail(path, line, f"unknown key(s) {sorted(unknown)} next to 'response'")
        delay, obj = obj.get("delay_ms", 0), obj["response"]
        if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
            raise _fail(path, line, "'delay_ms' must be a number >= 0")
        if not isinstance(obj, dict):
            raise _fail(path, line, "'response' must be a JSON object")
    if obj.get("type", "message") != "message" or obj.get("role", "assistant") != "assistant":
        raise _fail(path, line, "not an assistant Message (type 'message', role 'assistant')")
    content = obj.get("content")
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise _fail(path, line, "the response has no 'content' list")
    blocks = [_block(path, line, turn, i, b) for i, b in enumerate(content)]
    uses_tools = any(b["type"] == "tool_use" for b in blocks)
    raw_usage = obj.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    response = {
        "id": f"msg_replay_{turn:03d}",
        "type": "message",
        "role": "assistant",
        "model": UNRECORDED_MODEL,
        "stop_reason": "tool_use" if uses_tools else "end_turn",
        "stop_sequence": None,
        **obj,
        "content": blocks,
        "usage": {**usage, **{k: usage.get(k) or 0 for k in _USAGE_KEYS}},
    }
    return ReplayEntry(response=response, delay_ms=float(delay), line=line)


def load_replay(path: str | os.PathLike[str]) -> list[ReplayEntry]:
    """Read and check a replay file.

    Args:
        path: The file.

    Returns:
        Its entries in order; entry ``k`` answers a session's ``k``-th model request (0-based).

    Raises:
        ReplayError: The file is missing or unreadable, or a line is not a valid entry
            (the message names the file and the line).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReplayError(f"replay file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReplayError(f"cannot read replay file {path}: {exc}") from exc
    entries: list[ReplayEntry] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not is_response_line(line):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(path, number, f"not valid JSON ({exc.msg}, column {exc.colno})") from None
        entries.append(_entry(path, number, len(entries), obj))
    return entries


def _pieces(text: str, count: int) -> list[str]:
    size = max(1, math.ceil(len(text) / max(1, count)))
    return [text[i : i + size] for i in range(0, len(text), size)]


class ReplayBrain:
    """Answers model requests from a replay file instead of calling Claude.

    The answer to a request is entry ``k`` of the file, where ``k`` is the number of assistant
    messages already in ``request.messages``. So the brain keeps no position: one instance can
    serve any number of sessions, and a session resumed after a restart gets the same answers.
    The file is read at the first request (``entries()`` checks it earlier), and again
    whenever it changes; so making the brain never fails, and every problem with the file is
    reported by ``complete`` like any other model failure.

    Args:
        path: The replay file (``~`` is expanded; a relative path is relative to the working
            directory of the process).
        chunks: Into how many ``on_text`` fragments each text block is cut.
    """

    def __init__(self, path: str | os.PathLike[str], *, chunks: int = 4) -> None:
        self._named = bool(str(path).strip())
        self.path = Path(path).expanduser()
        self.chunks = chunks
        self._stamp: tuple[int, int] | None = None
        self._entries: list[ReplayEntry] = []

    def entries(self) -> list[ReplayEntry]:
        """The file's entries, re-read if the file changed since the last read.

        Raises:
            ReplayError: No file is named, or it is missing or malformed.
        """
        if not self._named:
            raise ReplayError("model 'replay:' names no file; write replay:<path to a .jsonl file>")
        try:
            st = self.path.stat()
        except OSError:
            raise ReplayError(f"replay file not found: {self.path}") from None
        if self._stamp != (st.st_mtime_ns, st.st_size):
            self._entries = load_replay(self.path)
            self._stamp = (st.st_mtime_ns, st.st_size)
        return self._entries

    async def complete(
        self,
        request: ModelRequest,
        *,
        on_text: TextCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> dict[str, Any]:
        """Answer with the recorded response for this turn.

        Args:
            request: The turn's parameters; only the number of assistant turns is used.
            on_text: Called with ``(block index, fragment)``, a few fragments per text block.
            on_error: Called once (``will_retry=False``) before a ``ReplayError`` is raised.

        Returns:
            A copy of the recorded Message.

        Raises:
            ReplayError: The file is missing or malformed, or holds no answer for this turn.
        """
        turn = assistant_turns(request)
        try:
            entries = self.entries()
            if turn >= len(entries):
                raise ReplayError(
                    f"replay file {self.path} has no answer for model request {turn + 1} of this "
                    f"session: it holds {len(entries)} response(s), and the request already has "
                    f"{turn} assistant turn(s)"
                )
        except ReplayError as exc:
            if on_error is not None:
                on_error(ModelError("model_request_failed_error", str(exc), 1, False))
            raise
        entry = entries[turn]
        response = copy.deepcopy(entry.response)
        await self._play(response, entry.delay_ms / 1000, on_text)
        return response

    async def _play(self, response: dict[str, Any], delay: float, on_text: TextCallback | None) -> None:
        fragments = [
            (index, piece)
            for index, block in enumerate(response["content"])
            if block["type"] == "text"
            for piece in _pieces(block["text"], self.chunks)
        ]
        step = delay / (len(fragments) + 1)
        for index, piece in fragments:
            await asyncio.sleep(step)
            if on_text is not None:
                on_text(index, piece)
        await asyncio.sleep(step)

    async def aclose(self) -> None:
        """Nothing to release; here so every brain can be closed the same way."""
