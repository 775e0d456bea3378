"""The executor script (its protocol, run as a subprocess, and its tools) and ExecutorClient."""

from __future__ import annotations

import ast
import asyncio
import base64
import glob
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from nb_agents.errors import SandboxError, SandboxTimeoutError
from nb_agents.sandbox import EXECUTOR_PATH, ExecutorClient, ToolResult, _executor as ex
from nb_agents.sandbox._base import ExecutorSandbox, end_process

_OTHER_PYTHONS = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[0-9]*/bin/python3")))


class Executor:
    """The executor script as a subprocess, driven line by line."""

    def __init__(self, workspace: Path, python: str = sys.executable) -> None:
        self.proc = subprocess.Popen(
            [python, "-I", "-S", str(EXECUTOR_PATH), "--workspace", str(workspace)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )

    def send(self, message: Any) -> None:
        assert self.proc.stdin is not None
        raw = message if isinstance(message, bytes) else json.dumps(message).encode()
        self.proc.stdin.write(raw + b"\n")
        self.proc.stdin.flush()

    def recv(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def ask(self, message: Any) -> dict[str, Any]:
        self.send(message)
        return self.recv()

    def close(self) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            return self.proc.wait(5)
        finally:
            self.proc.stdout.close()


@pytest.fixture
def executor(tmp_path: Path) -> Any:
    proc = Executor(tmp_path)
    yield proc
    if proc.proc.poll() is None:
        proc.proc.kill()
    proc.close()


def _text(answer: dict[str, Any]) -> str:
    return str(answer["content"][0]["text"])


def test_protocol(executor: Executor, tmp_path: Path) -> None:
    assert executor.ask({"id": 1, "tool": "ping"}) == {
        "id": 1,
        "content": [{"type": "text", "text": "pong"}],
        "is_error": False,
    }
    bad = executor.ask(b"not json")
    assert bad["id"] is None and bad["is_error"] and "not JSON" in _text(bad)
    assert "'id'" in _text(executor.ask({"tool": "ping"}))
    assert "unknown tool 'rm'" in _text(executor.ask({"id": 2, "tool": "rm", "input": {}}))
    assert "must be a string" in _text(executor.ask({"id": 3, "tool": ["bash"]}))
    assert "JSON object" in _text(executor.ask({"id": 4, "tool": "read", "input": "x.txt"}))
    answer = executor.ask({"id": "s", "tool": "bash", "input": {"command": "echo $PWD"}})
    assert answer == {"id": "s", "content": [{"type": "text", "text": str(tmp_path)}], "is_error": False}


def test_answers_arrive_in_completion_order(executor: Executor) -> None:
    executor.send({"id": 1, "tool": "bash", "input": {"command": "sleep 0.5; echo slow"}})
    executor.send({"id": 2, "tool": "write", "input": {"file_path": "f", "content": "é"}})
    executor.send({"id": 3, "tool": "ping"})
    first, second, third = executor.recv(), executor.recv(), executor.recv()
    assert {first["id"], second["id"]} == {2, 3}
    assert _text(first if first["id"] == 2 else second) == "wrote 2 bytes to f"
    assert third == {"id": 1, "content": [{"type": "text", "text": "slow"}], "is_error": False}


def test_cancel_by_id_and_duplicate_ids(executor: Executor) -> None:
    executor.send({"id": 7, "tool": "bash", "input": {"command": "sleep 20"}})
    time.sleep(0.2)
    assert "already in flight" in _text(executor.ask({"id": 7, "tool": "grep", "input": {"pattern": "x"}}))
    assert _text(executor.ask({"id": 8, "tool": "cancel", "input": {"id": 99}})) == "cancelled 0 call(s)"
    started = time.monotonic()
    executor.send({"id": 9, "tool": "cancel", "input": {"id": 7}})
    answers = {a["id"]: a for a in (executor.recv(), executor.recv())}
    assert time.monotonic() - started < 1
    assert _text(answers[9]) == "cancelled 1 call(s)"
    assert answers[7]["is_error"] and "cancelled" in _text(answers[7])


def test_exit_on_eof_kills_the_shell_and_its_jobs(executor: Executor) -> None:
    answer = executor.ask({"id": 1, "tool": "bash", "input": {"command": "sleep 1000 & echo $!"}})
    job = int(_text(answer))
    assert executor.close() == 0
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            os.kill(job, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    else:
        with open(f"/proc/{job}/stat") as f:  # a zombie waiting for init counts as gone
            assert f.read().rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.parametrize("python", _OTHER_PYTHONS, ids=lambda p: p.split("/")[-3])
def test_runs_on_other_pythons(python: str, tmp_path: Path) -> None:
    executor = Executor(tmp_path, python)
    try:
        assert _text(executor.ask({"id": 1, "tool": "bash", "input": {"command": "echo ok"}})) == "ok"
        assert _text(executor.ask({"id": 2, "tool": "glob", "input": {"pattern": "*"}})) == "no matches"
    finally:
        executor.close()


def test_executor_imports_only_the_stdlib() -> None:
    tree = ast.parse(EXECUTOR_PATH.read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert names - {"__future__"} <= set(sys.stdlib_module_names), names


# ---- the tools, called in-process ----------------------------------------------------------------


def _call(tools: ex.Tools, tool: str, input: dict[str, Any], timeout_ms: int = 10_000) -> tuple[str, bool]:
    try:
        result = getattr(tools, tool)(ex.Call(1, timeout_ms), ex.validate(tool, input))
    except ex.ToolError as exc:
        return str(exc), True
    content, is_error = result if isinstance(result, tuple) else (result, False)
    return (content[0]["text"] if content[0]["type"] == "text" else json.dumps(content[0])), is_error


def test_validation_messages() -> None:
    with pytest.raises(ex.ToolError, match="'timeout_ms' must be an integer, got boolean"):
        ex.validate("bash", {"command": "x", "timeout_ms": True})
    with pytest.raises(ex.ToolError, match="'view_range' must be an array of two integers, got array"):
        ex.validate("read", {"file_path": "x", "view_range": [1, "2"]})
    assert ex.validate("glob", {"pattern": "*", "path": None, "other": 1}) == {"pattern": "*"}


def test_read_limits_and_binary(tmp_path: Path) -> None:
    tools = ex.Tools(str(tmp_path))
    (tmp_path / "big.txt").write_text("x" * 100 + "\n" + "y" * (ex.TEXT_LIMIT + 1) + "\n")
    text, error = _call(tools, "read", {"file_path": "big.txt"})
    assert error and "view_range" in text
    assert _call(tools, "read", {"file_path": "big.txt", "view_range": [1, 1]}) == ("x" * 100, False)
    text, error = _call(tools, "read", {"file_path": "big.txt", "view_range": [1, 2]})
    assert error and "exceeds" in text
    (tmp_path / "bin.dat").write_bytes(b"\xff\xfe\x00")
    assert "not valid UTF-8" in _call(tools, "read", {"file_path": "bin.dat"})[0]
    (tmp_path / "doc.pdf").write_bytes(b"%PDF-1.4")
    block = json.loads(_call(tools, "read", {"file_path": str(tmp_path / "doc.pdf")})[0])
    assert block == {
        "type": "document",
        "source": {
            "type": "base64",
            "media_type": "application/pdf",
            "data": base64.b64encode(b"%PDF-1.4").decode(),
        },
    }
    assert _call(tools, "read", {"file_path": "."}) == ("read: .: is a directory", True)
    (tmp_path / "empty").write_text("")
    assert _call(tools, "read", {"file_path": "empty"}) == ("(empty file)", False)


def test_glob_absolute_pattern_and_limit(tmp_path: Path) -> None:
    tools = ex.Tools(str(tmp_path))
    for i in range(205):
        (tmp_path / f"f{i:03}.txt").write_text("")
        os.utime(tmp_path / f"f{i:03}.txt", (1_000_000 + i, 1_000_000 + i))
    text, error = _call(tools, "glob", {"pattern": f"{tmp_path}/*.txt"})
    lines = text.splitlines()
    assert not error and len(lines) == 201 and lines[0] == str(tmp_path / "f204.txt")
    assert lines[-1] == "[showing the newest 200 of 205 matches]"
    assert "no such directory" in _call(tools, "glob", {"pattern": "*", "path": "nope"})[0]


def test_grep_fallback_skips_git_and_node_modules(tmp_path: Path) -> None:
    tools = ex.Tools(str(tmp_path))
    for rel in ("a.py", ".git/config", "node_modules/m.js", "sub/b.txt", ".hidden"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("header\nneedle here\n")
    (tmp_path / "bin").write_bytes(b"needle\x00")
    out = ex._walk_grep(ex.Call(1, 10_000), "needle", str(tmp_path))
    assert out.splitlines() == [f"{tmp_path}/{rel}:2:needle here" for rel in (".hidden", "a.py", "sub/b.txt")]
    with pytest.raises(ex.ToolError, match="invalid regex"):
        ex._walk_grep(ex.Call(1, 10_000), "(", str(tmp_path))
    assert _call(tools, "grep", {"pattern": "needle", "path": "nope"}) == (
        "grep: nope: no such file or directory",
        True,
    )
    with pytest.raises(ex.ToolError, match="cancelled"):
        call = ex.Call(1, 10_000)
        call.cancelled.set()
        ex._walk_grep(call, "needle", str(tmp_path))


def test_edit_and_write_details(tmp_path: Path) -> None:
    tools = ex.Tools(str(tmp_path))
    assert _call(tools, "write", {"file_path": "deep/er/x.txt", "content": "ä\r\n"}) == (
        "wrote 4 bytes to deep/er/x.txt",
        False,
    )
    assert (tmp_path / "deep/er/x.txt").read_bytes() == "ä\r\n".encode()
    assert (
        "must not be empty"
        in _call(tools, "edit", {"file_path": "deep/er/x.txt", "old_string": "", "new_string": "x"})[0]
    )
    assert _call(tools, "write", {"file_path": "deep", "content": ""}) == (
        "write: deep: is a directory",
        True,
    )


# ---- ExecutorClient over a fake transport ------------------------------------------------------


class FakeWriter:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.lines.extend(json.loads(line) for line in data.splitlines())

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_client_resolves_by_id_and_times_out() -> None:
    async def main() -> None:
        reader, writer = asyncio.StreamReader(), FakeWriter()
        client = ExecutorClient(reader, writer, grace_s=0.05)
        first = asyncio.ensure_future(client.request("read", {"file_path": "a"}))
        second = asyncio.ensure_future(client.request("bash", {"command": "x"}, timeout_ms=50_000))
        await asyncio.sleep(0)
        one, two = (m["id"] for m in writer.lines)
        assert one.endswith("-1") and two.endswith("-2") and writer.lines[1]["timeout_ms"] == 50_000
        answer = {"id": two, "content": [{"type": "text", "text": "two"}], "is_error": True}
        reader.feed_data(json.dumps(answer).encode() + b'\n{"id"')
        assert await second == ToolResult([{"type": "text", "text": "two"}], True)
        reader.feed_data(f': "{one}", "content": [], "is_error": false}}\n'.encode())
        assert await first == ToolResult([], False)
        assert client.in_flight == 0
        with pytest.raises(SandboxTimeoutError):
            await client.request("bash", {"command": "sleep 9", "timeout_ms": 10})
        three = writer.lines[-2]["id"]
        assert writer.lines[-1] == {"id": three[:-1] + "4", "tool": "cancel", "input": {"id": three}}
        await client.close()
        assert writer.closed and client.closed

    asyncio.run(main())


def test_client_fails_pending_calls_when_the_executor_dies() -> None:
    async def main() -> None:
        reader, stderr = asyncio.StreamReader(), asyncio.StreamReader()
        client = ExecutorClient(reader, FakeWriter(), stderr=stderr)
        pending = asyncio.ensure_future(client.request("bash", {"command": "x"}))
        await asyncio.sleep(0)
        stderr.feed_data(b"Traceback: boom\n")
        stderr.feed_eof()
        reader.feed_eof()
        with pytest.raises(SandboxError, match="boom"):
            await pending
        with pytest.raises(SandboxError, match="executor exited"):
            await client.request("ping", {})
        await client.cancel()  # a no-op once the executor is gone

    asyncio.run(main())


@pytest.mark.skipif(shutil.which("rg") is None, reason="ripgrep is not installed (the sandbox image has it)")
def test_ripgrep_and_fallback_agree(tmp_path: Path) -> None:
    for rel in ("a.py", ".git/config", "node_modules/m.js", "sub/b.txt", ".hidden"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("header\nneedle here\n")
    rg = shutil.which("rg")
    assert rg is not None
    call = ex.Call(1, 10_000)
    assert ex._ripgrep(call, rg, "needle", str(tmp_path)) == ex._walk_grep(call, "needle", str(tmp_path)) + "\n"
    one = ex._ripgrep(call, rg, "needle", str(tmp_path / "a.py"))
    assert one == f"{tmp_path}/a.py:2:needle here\n"
    with pytest.raises(ex.ToolError, match="regex parse error"):
        ex._ripgrep(call, rg, "(", str(tmp_path))


def test_tool_schemas_agree_with_the_model_tools_and_the_sdk() -> None:
    from anthropic.types import beta

    from nb_agents.runtime._tools import BUILTIN_TOOLS

    sdk = {
        "bash": beta.BetaManagedAgentsAgentToolset20260401BashInput,
        "read": beta.BetaManagedAgentsAgentToolset20260401ReadInput,
        "write": beta.BetaManagedAgentsAgentToolset20260401WriteInput,
        "edit": beta.BetaManagedAgentsAgentToolset20260401EditInput,
        "glob": beta.BetaManagedAgentsAgentToolset20260401GlobInput,
        "grep": beta.BetaManagedAgentsAgentToolset20260401GrepInput,
    }
    assert list(ex._SCHEMAS) == list(BUILTIN_TOOLS) == list(sdk)
    for tool, fields in ex._SCHEMAS.items():
        offered = BUILTIN_TOOLS[tool]["input_schema"]
        model_fields = sdk[tool].model_fields
        assert set(fields) == set(offered["properties"]) == set(model_fields), tool
        required = sorted(key for key, (_, needed) in fields.items() if needed)
        assert required == sorted(offered["required"]) == sorted(k for k, f in model_fields.items() if f.is_required())
        for key, (kind, _) in fields.items():
            assert offered["properties"][key]["type"] == ("array" if kind == "range" else kind), (tool, key)


# ---- a hostile executor: what the host keeps of what the box sends -------------------------------

_HOSTILE = r"""
import json, sys
out = sys.stdout.buffer
def answer(rid, text, **extra):
    line = {"id": rid, "content": [{"type": "text", "text": text}], "is_error": False, **extra}
    out.write(json.dumps(line).encode() + b"\n"); out.flush()
for raw in sys.stdin.buffer:
    req = json.loads(raw)
    command = req.get("input", {}).get("command")
    if req["tool"] != "bash":
        answer(req["id"], "pong")
    elif command == "flood":
        try:
            for _ in range(300):
                out.write(b"x" * (1 << 20)); out.flush()
        except BrokenPipeError:
            sys.exit(0)
    elif command == "empty":
        out.write(b"\n" * 200_000); out.flush()
    elif command == "forge":
        nonce, number = req["id"].rsplit("-", 1)
        for rid in (f"{nonce}-{int(number) + 1}", "1", 2, None, "other-1"):
            answer(rid, "FORGED")
        answer(req["id"], "real")
    elif command == "huge":
        answer(req["id"], "y" * 900_000)
    elif command == "bad":
        out.write(json.dumps({"id": req["id"], "content": {"type": "text"}, "is_error": False}).encode() + b"\n")
        out.flush()
"""


class HostileSandbox(ExecutorSandbox):
    """An executor sandbox whose executor lies: the host's defences, against a real process."""

    name = "hostile"

    def __init__(self) -> None:
        self.notices: list[tuple[str, str]] = []
        super().__init__(lambda kind, message: self.notices.append((kind, message)))
        self.procs: list[asyncio.subprocess.Process] = []

    @property
    def workspace(self) -> str:
        return "/nowhere"

    async def _spawn(self) -> ExecutorClient:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _HOSTILE, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self.procs.append(proc)
        return ExecutorClient.from_process(proc, on_violation=self._executor_violated)

    async def _teardown(self) -> None:
        for proc in self.procs:
            await end_process(proc, 1.0)


def _rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def test_an_oversized_answer_stops_the_executor_and_memory_stays_bounded() -> None:
    async def main() -> None:
        sandbox = HostileSandbox()
        await sandbox.start()
        before, peak = _rss(), 0
        call = asyncio.ensure_future(sandbox.call("bash", {"command": "flood"}))
        while not call.done():
            peak = max(peak, _rss())
            await asyncio.sleep(0.005)
        with pytest.raises(SandboxError, match="longer than 1048576 bytes"):
            await call
        assert peak - before < 20 * 1024 * 1024, f"grew by {(peak - before) >> 20} MiB"
        assert [kind for kind, _ in sandbox.notices] == ["executor"]
        assert "stopped" in sandbox.notices[0][1]
        for _ in range(100):  # it is stopped now, not at the next call
            if sandbox.procs[0].returncode is not None:
                break
            await asyncio.sleep(0.05)
        assert sandbox.procs[0].returncode is not None and not sandbox.alive
        started = time.monotonic()  # the flooder is stopped (its full pipe cannot hold that up)
        assert (await sandbox.call("ping", {})).text == "pong"  # a new executor
        assert len(sandbox.procs) == 2 and sandbox.procs[0].returncode is not None
        assert time.monotonic() - started < 5
        with pytest.raises(SandboxError):
            await sandbox.call("bash", {"command": "flood"})
        started = time.monotonic()
        await sandbox.close()  # closing beside a flooded pipe ends too
        assert time.monotonic() - started < 5 and all(p.returncode is not None for p in sandbox.procs)

    asyncio.run(main())


def test_garbage_is_logged_sparingly_and_too_much_stops_the_executor(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with HostileSandbox() as sandbox:
            with pytest.raises(SandboxError, match="lines .* that are not answers"):
                await sandbox.call("bash", {"command": "empty"})
            assert len(sandbox.notices) == 1

    with caplog.at_level(logging.WARNING, logger="nb_agents.sandbox"):
        asyncio.run(main())
    assert len(caplog.records) <= 3, [r.getMessage() for r in caplog.records]
    assert sum(len(r.getMessage()) for r in caplog.records) < 2000


def test_only_the_request_in_flight_gets_an_answer_and_the_host_caps_it() -> None:
    async def main() -> None:
        async with HostileSandbox() as sandbox:
            forged = await sandbox.call("bash", {"command": "forge"})
            assert forged == ToolResult([{"type": "text", "text": "real"}], False)
            after = await sandbox.call("ping", {})  # the forged "next id" answer was not kept for it
            assert after.text == "pong"
            assert [kind for kind, _ in sandbox.notices] == ["executor"]  # noted once
            assert "never made" in sandbox.notices[0][1] and sandbox.alive
            huge = await sandbox.call("bash", {"command": "huge"})
            assert len(huge.text) < 256 * 1024 + 100 and "cut by the host" in huge.text
            bad = await sandbox.call("bash", {"command": "bad"})
            assert bad.is_error and "malformed answer" in bad.text

    asyncio.run(main())


def test_the_host_bounds_the_time_it_waits_for_bash() -> None:
    from nb_agents.sandbox._client import _tool_limit_ms

    assert _tool_limit_ms("bash", {"timeout_ms": 10**12}, None) == 295_000
    assert _tool_limit_ms("bash", {"timeout_ms": 1500}, None) == 1500
    assert _tool_limit_ms("bash", {}, None) == _tool_limit_ms("bash", {"timeout_ms": -1}, None) == 295_000
    assert _tool_limit_ms("read", {}, None) == 120_000
