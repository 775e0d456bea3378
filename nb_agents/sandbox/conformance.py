"""A conformance suite every `Sandbox` provider runs: the same tool behaviour everywhere.

Each check is an async function that gets a fresh, unstarted sandbox and raises
``AssertionError`` when the provider misbehaves. A provider lists the checks it is known to fail
with a reason; for pytest, `pytest_params` turns those into strict xfails::

    @pytest.mark.parametrize("check", conformance.pytest_params(known_failures={}))
    def test_conformance(check: conformance.Check, tmp_path: Path) -> None:
        asyncio.run(check.run(lambda: ProcessSandbox(tmp_path / "ws")))

Checks use relative paths and ``/tmp`` only, so they hold on a host and in a container.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nb_agents.errors import SandboxError
from nb_agents.sandbox._base import Sandbox, ToolResult

__all__ = ["CHECKS", "Check", "pytest_params"]


@dataclass(frozen=True)
class Check:
    """One named conformance check."""

    name: str
    """Stable identifier, used in ``known_failures`` and as the pytest id."""
    func: Callable[[Sandbox], Awaitable[None]]
    """The check; raises ``AssertionError`` on a failure."""

    async def run(self, factory: Callable[[], Sandbox]) -> None:
        """Run the check on a new sandbox from ``factory``, closing it afterwards."""
        sandbox = factory()
        try:
            await self.func(sandbox)
        finally:
            await sandbox.close()


def _expect(condition: bool, message: str, result: ToolResult | None = None) -> None:
    if not condition:
        raise AssertionError(message + (f"; got {result!r}" if result is not None else ""))


async def _ok(sandbox: Sandbox, tool: str, input: Mapping[str, Any], **kw: Any) -> ToolResult:
    result = await sandbox.call(tool, input, **kw)
    _expect(not result.is_error, f"{tool} {dict(input)} failed", result)
    return result


async def _fails(sandbox: Sandbox, tool: str, input: Mapping[str, Any], *needles: str) -> ToolResult:
    result = await sandbox.call(tool, input)
    _expect(result.is_error, f"{tool} {dict(input)} should fail", result)
    for needle in needles:
        _expect(needle in result.text, f"{tool} error should mention {needle!r}", result)
    return result


async def bash_state_persists(sandbox: Sandbox) -> None:
    await _ok(sandbox, "bash", {"command": "cd /tmp && export NB_X=1 && NB_Y=2"})
    result = await _ok(sandbox, "bash", {"command": "pwd; echo $NB_X $NB_Y"})
    _expect(result.text == "/tmp\n1 2", "cwd and variables should survive between calls", result)


async def bash_output(sandbox: Sandbox) -> None:
    result = await _ok(sandbox, "bash", {"command": "echo out; echo err >&2; printf '\\033[1;31mred\\033[0m'"})
    _expect(result.text == "out\nred\nerr", "stdout, then stderr, ANSI stripped", result)
    result = await _ok(sandbox, "bash", {"command": "true"})
    _expect(result.text == "(no output)", "empty output reads '(no output)'", result)
    result = await _ok(sandbox, "bash", {"command": "cat"})
    _expect(result.text == "(no output)", "stdin is /dev/null, so cat returns at once", result)


async def bash_exit_status(sandbox: Sandbox) -> None:
    result = await _fails(sandbox, "bash", {"command": "echo before; echo why >&2; (exit 3)"}, "before", "3")
    _expect(result.text.startswith("why\nbefore"), "a failed command shows stderr first", result)
    result = await _fails(sandbox, "bash", {"command": "echo 'unterminated"})
    result = await _ok(sandbox, "bash", {"command": "echo still here"})
    _expect(result.text == "still here", "a syntax error must not break the shell", result)
    result = await _ok(sandbox, "bash", {"command": "exec >/dev/null; echo hidden"})
    result = await _ok(sandbox, "bash", {"command": "echo shown"})
    _expect(result.text == "shown", "a command's exec >file lasts for that call only", result)


async def bash_timeout(sandbox: Sandbox) -> None:
    await _ok(sandbox, "bash", {"command": "true"})
    started = time.monotonic()
    result = await _fails(sandbox, "bash", {"command": "echo partial; sleep 30", "timeout_ms": 500}, "timed out")
    _expect(time.monotonic() - started < 5, "the timeout should stop the command promptly")
    _expect("partial" in result.text, "output before the timeout is kept", result)
    result = await _ok(sandbox, "bash", {"command": "echo next"})
    _expect(result.text == "next", "the next call works after a timeout", result)
    for asked in (10**12, 0, -5):  # more than 295 s is not granted, a non-positive one is the default
        result = await _ok(sandbox, "bash", {"command": "echo bounded", "timeout_ms": asked})
        _expect(result.text == "bounded", f"timeout_ms={asked} runs with a bounded limit", result)


async def bash_output_cap(sandbox: Sandbox) -> None:
    command = "i=0; while [ $i -lt 12000 ]; do i=$((i+1)); echo line-$i-0123456789; done; echo tail >&2"
    result = await _ok(sandbox, "bash", {"command": command})
    text = result.text
    _expect(text.startswith("line-1-0123456789\nline-2-"), "long output keeps its start", None)
    _expect(len(text) <= 30_000 + 400, f"output is capped at 30,000 characters, got {len(text)}")
    marker = "lines truncated] Full output saved to: "
    _expect(marker in text, "a long output names the file that holds all of it", result)
    path = text.split(marker, 1)[1].split(" ", 1)[0]
    result = await _ok(sandbox, "read", {"file_path": path, "view_range": [12000, 12001]})
    _expect(result.text == "line-12000-0123456789\ntail", "the file holds all of it, stderr last", result)
    result = await _ok(sandbox, "bash", {"command": "printf 'x%.0s' $(seq 1 29990); echo; echo end"})
    _expect(result.text.endswith("x\nend") and "truncated" not in result.text, "30,000 characters fit", result)


async def bash_restart(sandbox: Sandbox) -> None:
    await _ok(sandbox, "bash", {"command": "export NB_R=1; cd /tmp"})
    result = await _ok(sandbox, "bash", {"restart": True})
    _expect("restarted" in result.text, "restart says so", result)
    result = await _ok(sandbox, "bash", {"command": "echo ${NB_R:-unset}; pwd"})
    _expect(result.text == f"unset\n{sandbox.workspace}", "a restarted shell starts clean", result)


async def workspace_and_home(sandbox: Sandbox) -> None:
    result = await _ok(sandbox, "bash", {"command": "pwd; echo $HOME; echo $TERM"})
    ws = sandbox.workspace
    _expect(result.text == f"{ws}\n{ws}\ndumb", "bash starts in the workspace, HOME is it, TERM=dumb", result)
    await _ok(sandbox, "write", {"file_path": "rel.txt", "content": "r"})
    result = await _ok(sandbox, "read", {"file_path": f"{ws}/rel.txt"})
    _expect(result.text == "r", "relative tool paths resolve against the workspace", result)


async def file_round_trip(sandbox: Sandbox) -> None:
    result = await _ok(sandbox, "write", {"file_path": "pkg/mod.py", "content": "def f():\n    return 1\n"})
    _expect(result.text == "wrote 22 bytes to pkg/mod.py", "write reports bytes and path", result)
    result = await _ok(sandbox, "read", {"file_path": "pkg/mod.py"})
    _expect(result.text == "def f():\n    return 1\n", "read returns the text written", result)
    result = await _ok(sandbox, "edit", {"file_path": "pkg/mod.py", "old_string": "1", "new_string": "2"})
    _expect(result.text == "edited pkg/mod.py (1 replacement(s))", "edit reports its count", result)
    await _ok(sandbox, "write", {"file_path": "pkg/notes.txt", "content": "return nothing\n"})
    result = await _ok(sandbox, "glob", {"pattern": "**/*.py"})
    _expect(result.text.endswith("pkg/mod.py") and "notes" not in result.text, "glob finds *.py only", result)
    result = await _ok(sandbox, "glob", {"pattern": "*.nothing"})
    _expect(result.text == "no matches", "glob says 'no matches'", result)
    result = await _ok(sandbox, "grep", {"pattern": "return [0-9]", "path": "pkg"})
    _expect(result.text.endswith("pkg/mod.py:2:    return 2"), "grep prints path:line:text", result)
    result = await _ok(sandbox, "grep", {"pattern": "zzz_absent"})
    _expect(result.text == "no matches", "grep says 'no matches'", result)
    result = await _ok(sandbox, "bash", {"command": "cat pkg/mod.py"})
    _expect(result.text == "def f():\n    return 2", "bash sees the files the file tools wrote", result)


async def read_view_range(sandbox: Sandbox) -> None:
    await _ok(sandbox, "write", {"file_path": "lines.txt", "content": "l1\nl2\nl3\nl4\nl5\n"})
    result = await _ok(sandbox, "read", {"file_path": "lines.txt", "view_range": [2, 3]})
    _expect(result.text == "l2\nl3", "view_range is 1-based and inclusive", result)
    result = await _ok(sandbox, "read", {"file_path": "lines.txt", "view_range": [4, -1]})
    _expect(result.text == "l4\nl5", "an end <= 0 reads to the end of the file", result)
    await _fails(sandbox, "read", {"file_path": "lines.txt", "view_range": [9, 10]}, "5 lines")


async def read_image(sandbox: Sandbox) -> None:
    await _ok(sandbox, "bash", {"command": "printf '\\211PNG\\r\\n\\032\\n' > pic.png"})
    result = await _ok(sandbox, "read", {"file_path": "pic.png"})
    block = result.content[0]
    _expect(block.get("type") == "image", "a .png reads as an image block", result)
    _expect(block["source"] == {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}, "base64")


async def edit_errors(sandbox: Sandbox) -> None:
    await _ok(sandbox, "write", {"file_path": "e.txt", "content": "a b a\n"})
    await _fails(sandbox, "edit", {"file_path": "e.txt", "old_string": "zz", "new_string": "y"}, "not found")
    await _fails(sandbox, "edit", {"file_path": "e.txt", "old_string": "a", "new_string": "y"}, "2 times")
    result = await _ok(
        sandbox, "edit", {"file_path": "e.txt", "old_string": "a", "new_string": "y", "replace_all": True}
    )
    _expect("2 replacement" in result.text, "replace_all replaces every match", result)
    result = await _ok(sandbox, "read", {"file_path": "e.txt"})
    _expect(result.text == "y b y\n", "the edits landed", result)
    await _fails(sandbox, "edit", {"file_path": "missing.txt", "old_string": "a", "new_string": "b"}, "no such file")


async def bad_input(sandbox: Sandbox) -> None:
    await _fails(sandbox, "no_such_tool", {}, "unknown tool")
    await _fails(sandbox, "read", {}, "file_path")
    await _fails(sandbox, "bash", {"command": 42}, "command", "string")
    await _fails(sandbox, "bash", {}, "command")
    await _fails(sandbox, "read", {"file_path": "x", "view_range": [1]}, "view_range")
    await _fails(sandbox, "read", {"file_path": "no/such/file"}, "no such file")
    await _ok(sandbox, "bash", {"command": "true"})


async def ping_during_long_command(sandbox: Sandbox) -> None:
    await sandbox.start()
    long = asyncio.ensure_future(sandbox.call("bash", {"command": "sleep 1.5; echo done"}))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await _ok(sandbox, "ping", {})
    await _ok(sandbox, "write", {"file_path": "side.txt", "content": "x"})
    _expect(time.monotonic() - started < 0.5, "ping and write must not wait for a running bash command")
    _expect(not long.done(), "the long command is still running")
    result = await long
    _expect(result.text == "done" and not result.is_error, "the long command finishes normally", result)


async def cancel_stops_command(sandbox: Sandbox) -> None:
    await _ok(sandbox, "bash", {"command": "true"})
    long = asyncio.ensure_future(sandbox.call("bash", {"command": "sleep 30"}))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await sandbox.cancel()
    try:
        result = await asyncio.wait_for(long, 2)
    except SandboxError:
        pass  # a provider that kills its executor to cancel fails the call instead
    else:
        _expect(result.is_error, "a cancelled call is an error result", result)
    _expect(time.monotonic() - started < 1.0, "cancel stops a sleep within 1 s")
    result = await _ok(sandbox, "bash", {"command": "echo again"})
    _expect(result.text == "again", "the next call works after a cancel", result)


async def task_cancel_stops_command(sandbox: Sandbox) -> None:
    await _ok(sandbox, "bash", {"command": "true"})
    long = asyncio.ensure_future(sandbox.call("bash", {"command": "sleep 30"}))
    await asyncio.sleep(0.3)
    long.cancel()
    started = time.monotonic()
    result = await _ok(sandbox, "bash", {"command": "echo again"})
    _expect(result.text == "again", "cancelling the awaiting task stops the command", result)
    _expect(time.monotonic() - started < 1.0, "the next command did not wait for the cancelled one")


CHECKS: tuple[Check, ...] = tuple(
    Check(f.__name__, f)
    for f in (
        bash_state_persists,
        bash_output,
        bash_exit_status,
        bash_timeout,
        bash_output_cap,
        bash_restart,
        workspace_and_home,
        file_round_trip,
        read_view_range,
        read_image,
        edit_errors,
        bad_input,
        ping_during_long_command,
        cancel_stops_command,
        task_cancel_stops_command,
    )
)
"""Every check, in a stable order."""


def pytest_params(known_failures: Mapping[str, str] | None = None) -> list[Any]:
    """``pytest.param`` per check; known failures are strict xfails with their reason.

    Args:
        known_failures: Check name -> why this provider fails it.

    Returns:
        Parameters for ``pytest.mark.parametrize("check", ...)``.

    Raises:
        ValueError: A name in ``known_failures`` is not a check.
    """
    import pytest

    known = dict(known_failures or {})
    unknown = set(known) - {c.name for c in CHECKS}
    if unknown:
        raise ValueError(f"known_failures names no such check: {', '.join(sorted(unknown))}")
    return [
        pytest.param(
            c,
            id=c.name,
            marks=[pytest.mark.xfail(reason=known[c.name], strict=True)] if c.name in known else [],
        )
        for c in CHECKS
    ]
