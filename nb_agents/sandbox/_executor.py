"""nb_agents tool executor: the ``agent_toolset_20260401`` tools behind a JSON-lines protocol.

A single, stdlib-only script (Python >= 3.10, nb_agents not installed): the Docker sandbox copies
it into the container and runs ``python3 -I -S executor.py --workspace /workspace``; the process
sandbox runs it as a local subprocess. One request per line on stdin, one response per line on
stdout, in completion order and matched by ``id``::

    {"id": 1, "tool": "bash", "input": {"command": "ls"}, "timeout_ms": 120000}
    {"id": 1, "content": [{"type": "text", "text": "..."}], "is_error": false}

Tools: ``bash read write edit glob grep`` with the Managed Agents input schemas, plus ``ping`` and
``cancel`` (input ``{"id": n}`` cancels request n; no id cancels every call in flight). Each
request runs in its own thread; bash calls share one persistent shell and run one at a time;
``ping`` and ``cancel`` are answered at once. A bad request gets an ``is_error`` answer and never
stops the executor. It exits when stdin closes, killing the shell's process group first.

The output rules follow the SDK's reference ``agent_toolset`` (``anthropic.lib.tools``): bash
gives stdout then stderr (stderr first when the command fails), ANSI escapes stripped, the
first 30,000 characters and the path of a file with all of it (at most 32 MiB), a 295 s time
limit that ``timeout_ms`` can only lower; ``read`` gives at most 110,000 bytes of text.

The protocol moves off descriptors 0 and 1 at start (see `private_channel`): no tool process
inherits it, and a non-dumpable executor's ``/proc/<pid>/fd`` is closed to them.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations need it only for mypy
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import IO, Any, TypeAlias

    Content: TypeAlias = list[dict[str, Any]]

BASH_OUTPUT_LIMIT = 30_000
"""Characters (UTF-16 code units, as the API counts them) of bash output the model sees."""
BASH_DEFAULT_TIMEOUT_MS = 295_000
"""bash's time limit, and the most a model-chosen ``timeout_ms`` can ask for."""
SAVED_OUTPUT_BYTES = 32 * 1024 * 1024
"""The most of a long bash output kept in the file the result names."""
HEAD_BYTES = 3 * BASH_OUTPUT_LIMIT + 4
DEFAULT_TIMEOUT_MS = 120_000
READ_LIMIT = 110_000
"""Bytes of text one ``read`` returns (the reference toolset's default)."""
TEXT_LIMIT = 256 * 1024
"""Bytes of a file ``edit`` loads."""
IMAGE_B64_LIMIT = 5 * 1024 * 1024
PDF_LIMIT = 20 * 1024 * 1024
GREP_OUTPUT_LIMIT = 100 * 1024
GREP_MAX_LINE = 2000
GLOB_LIMIT = 200
WALK_LIMIT = 50_000
MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".pdf": "application/pdf",
}
SKIP_DIRS = (".git", "node_modules")
_ANSI = r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>]"
RESET_NOTE = "the shell was killed and restarted (working directory, variables and background jobs are reset)"


class ToolError(Exception):
    """A tool failed in a way the model should see: becomes an ``is_error`` result."""


def _text(text: str) -> Content:
    return [{"type": "text", "text": text}]


class Call:
    """One request in flight: its deadline, and how to stop it."""

    def __init__(self, rid: int | str, timeout_ms: int | None) -> None:
        self.rid = rid
        self.explicit = timeout_ms is not None
        self.timeout_ms = timeout_ms if timeout_ms is not None else DEFAULT_TIMEOUT_MS
        self.deadline = time.monotonic() + self.timeout_ms / 1000
        self.cancelled = threading.Event()
        self.on_cancel: Callable[[], None] | None = None

    def check(self, tool: str) -> None:
        """Raise ``ToolError`` if the call was cancelled or ran out of time."""
        if self.cancelled.is_set():
            raise ToolError(f"{tool}: cancelled")
        if time.monotonic() > self.deadline:
            raise ToolError(f"{tool}: timed out after {self.timeout_ms / 1000:g} s")


# ---- input validation ----------------------------------------------------------------------------

_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}
_SCHEMAS: dict[str, dict[str, tuple[str, bool]]] = {
    "bash": {"command": ("string", False), "restart": ("boolean", False), "timeout_ms": ("integer", False)},
    "read": {"file_path": ("string", True), "view_range": ("range", False)},
    "write": {"file_path": ("string", True), "content": ("string", True)},
    "edit": {
        "file_path": ("string", True),
        "old_string": ("string", True),
        "new_string": ("string", True),
        "replace_all": ("boolean", False),
    },
    "glob": {"pattern": ("string", True), "path": ("string", False)},
    "grep": {"pattern": ("string", True), "path": ("string", False)},
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _matches(kind: str, value: object) -> bool:
    if kind == "range":
        return isinstance(value, list) and len(value) == 2 and all(_is_int(v) for v in value)
    if kind == "integer":
        return _is_int(value)
    return _JSON_TYPES.get(type(value)) == kind


def validate(tool: str, raw: object) -> dict[str, Any]:
    """Check ``raw`` against the tool's input schema; unknown keys are ignored, ``null`` is unset."""
    if not isinstance(raw, dict):
        raise ToolError(f"{tool}: input must be a JSON object")
    out: dict[str, Any] = {}
    for key, (kind, required) in _SCHEMAS[tool].items():
        value = raw.get(key)
        if value is None:
            if required:
                raise ToolError(f"{tool}: missing required parameter '{key}'")
        elif not _matches(kind, value):
            want = "an array of two integers" if kind == "range" else f"a{'n' * (kind[0] in 'ai')} {kind}"
            got = _JSON_TYPES.get(type(value), type(value).__name__)
            raise ToolError(f"{tool}: parameter '{key}' must be {want}, got {got}")
        else:
            out[key] = value
    return out


# ---- the persistent shell ------------------------------------------------------------------------


class Stream:
    """One of a command's output streams: its first characters in memory, the rest in a spill file.

    It looks for the end marker the shell prints after the command, and stops collecting there.
    Memory is bounded whatever the command prints: ``HEAD_BYTES`` here, at most
    ``SAVED_OUTPUT_BYTES`` in the spill file, and only a line count beyond that.
    """

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.head = bytearray()
        self.spill: Any = None  # a temporary file with what follows the head, once needed
        self.spilled = 0
        self.total = 0
        self.line_breaks = 0
        self.pending = bytearray()
        self.status: int | None = None

    def add(self, chunk: bytes) -> None:
        if self.status is not None:
            return
        self.pending += chunk
        pos = self.pending.find(self.key)
        if pos >= 0:
            end = self.pending.find(b"\n", pos + len(self.key))
            if end < 0:
                return
            text = self.pending[pos + len(self.key) : end].decode("ascii", "replace")
            self.status = int(text) if text.lstrip("-").isdigit() else -1
            before = self.pending[:pos]
            self.pending = bytearray()
            self._keep(before[:-1] if before.endswith(b"\n") else before)  # the newline before the marker
            return
        keep = len(self.key) + 1
        if len(self.pending) > keep:
            self._keep(self.pending[:-keep])
            del self.pending[:-keep]

    def finish(self) -> None:
        """Keep what is still pending (the command ended without a marker: timeout, cancel, exit)."""
        self._keep(self.pending)
        self.pending = bytearray()

    def _keep(self, data: bytes | bytearray) -> None:
        import tempfile

        if not data:
            return
        self.total += len(data)
        self.line_breaks += data.count(b"\n")
        room = HEAD_BYTES - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data or self.spilled >= SAVED_OUTPUT_BYTES:
            return
        try:
            if self.spill is None:
                self.spill = tempfile.TemporaryFile()
            piece = data[: SAVED_OUTPUT_BYTES - self.spilled]
            self.spill.write(piece)
            self.spilled += len(piece)
        except OSError:
            self.spilled = SAVED_OUTPUT_BYTES  # no room: keep the head only

    def chunks(self) -> Iterator[bytes]:
        """Everything kept, in order (the head, then the spill file)."""
        yield bytes(self.head)
        if self.spill is not None:
            self.spill.seek(0)
            while chunk := self.spill.read(1 << 16):
                yield chunk

    def trim_final_newline(self) -> None:
        """Drop one line break at the very end (before stderr is appended), if kept in full."""
        if self.spill is None and self.total == len(self.head) and self.head.endswith(b"\n"):
            del self.head[-1]
            self.total -= 1
            self.line_breaks -= 1
        elif self.spill is not None and self.spilled == self.total - len(self.head):
            self.spill.seek(-1, os.SEEK_END)
            if self.spill.read(1) == b"\n":
                self.spill.truncate(self.spilled - 1)
                self.spilled -= 1
                self.total -= 1
                self.line_breaks -= 1

    def close(self) -> None:
        if self.spill is not None:
            try:
                self.spill.close()
            except OSError:
                pass
            self.spill = None


class Shell:
    """One persistent ``bash --noprofile --norc`` in its own process group; one command at a time.

    Each command's stdout and stderr are read separately (as the reference toolset does), and
    its result is built by `render`.
    """

    def __init__(self, workspace: str) -> None:
        self.workspace = workspace
        self.lock = threading.Lock()
        self.proc: Any = None  # subprocess.Popen[bytes]; the import is lazy
        self.aborted = False
        self.wake_r, self.wake_w = os.pipe()
        self.saved_dir: str | None = None

    def start(self) -> None:
        import shutil
        import subprocess

        bash = "/bin/bash" if os.path.exists("/bin/bash") else shutil.which("bash") or "bash"
        env = {**os.environ, "PS1": "", "PS2": "", "TERM": "dumb", "PAGER": "cat", "GIT_PAGER": "cat", "HISTFILE": ""}
        # A new process group in the executor's session: killpg stops the shell and its jobs only.
        group: dict[str, Any] = {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}
        self.proc = subprocess.Popen(
            [bash, "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.workspace,
            env=env,
            **group,
        )
        self.proc.stdin.write(b"exec 30>&1 31>&2\n")

    def kill(self) -> None:
        """Kill the shell's whole process group (jobs included); the next command starts a new shell."""
        import signal

        proc, self.proc = self.proc, None
        if proc is None:
            return
        for kill in (lambda: os.killpg(proc.pid, signal.SIGKILL), proc.kill):
            try:
                kill()
            except OSError:
                pass
        try:
            proc.wait(timeout=2)
        except Exception:
            pass
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass

    def abort(self) -> None:
        """Stop the running command from another thread (cancel)."""
        self.aborted = True
        os.write(self.wake_w, b"!")

    def run(self, command: str, timeout_s: float) -> tuple[str, bool]:
        """Run ``command``; return (text, is_error). The caller holds ``self.lock``."""
        import selectors

        if self.proc is None or self.proc.poll() is not None:
            self.kill()
            self.start()
        marker = f"__NB_{os.urandom(8).hex()}_RC__"
        # The split keeps the literal marker out of the input, so `set -v` cannot echo it.
        split = f"{marker[:4]}''{marker[4:]}"
        quoted = "'" + command.replace("'", "'\\''") + "'"
        # As the reference toolset does: the command runs in braces inside `eval` (a syntax error
        # runs none of it and keeps the shell), with the group's redirections to the pipes saved on
        # 30/31 (undone after it, so a command's `exec >file` lasts for this call only). The status
        # goes to stderr, then a marker to stdout, on a line of their own.
        script = (
            f"unset __nb_rc; {{ eval '{{ :\n'{quoted}'\n\n}}\n__nb_rc=$?'; }} </dev/null >&30 2>&31; "
            ': "${__nb_rc=$?}"\n'
            f"__nb_rc=${{__nb_rc-$?}}; printf '\\n{split}%d\\n' \"$__nb_rc\" >&31; printf '\\n{split}0\\n' >&30\n"
        )
        try:
            self.proc.stdin.write(script.encode("utf-8", "replace"))
            self.proc.stdin.flush()
        except OSError:
            self.kill()
            return f"bash: the shell exited unexpectedly; {RESET_NOTE}", True
        key = marker.encode()
        out, err = Stream(key), Stream(key)
        streams = {self.proc.stdout.fileno(): out, self.proc.stderr.fileno(): err}
        deadline = time.monotonic() + timeout_s
        try:
            with selectors.DefaultSelector() as sel:
                for fd in streams:
                    sel.register(fd, selectors.EVENT_READ)
                sel.register(self.wake_r, selectors.EVENT_READ)
                while out.status is None or err.status is None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self.aborted:
                        self.kill()
                        why = "cancelled" if self.aborted else f"timed out after {timeout_s:g}s"
                        return self.render(out, err, -1, f"command {why}; {RESET_NOTE}"), True
                    for sel_key, _ in sel.select(remaining):
                        if sel_key.fd == self.wake_r:
                            os.read(self.wake_r, 1024)
                            continue
                        chunk = os.read(sel_key.fd, 65536)
                        if chunk:
                            streams[sel_key.fd].add(chunk)
                            continue
                        sel.unregister(sel_key.fd)
                        if streams[sel_key.fd].status is None:  # the shell ended (`exit`, `set -e`)
                            try:
                                status = self.proc.wait(timeout=2)
                            except Exception:  # it closed its output but lives on
                                status = -1
                            self.kill()
                            note = f"the shell exited with status {status}; the next command starts a new shell"
                            return self.render(out, err, status or -1, note), status != 0
            code = err.status or 0
            return self.render(out, err, code, f"exit status {code}" if code else ""), code != 0
        finally:
            out.close()
            err.close()

    def render(self, out: Stream, err: Stream, code: int, note: str) -> str:
        """The result text: stdout then stderr (stderr first when the command failed), ANSI escapes
        stripped; beyond ``BASH_OUTPUT_LIMIT`` characters, the start and the path of a file with
        all of it (at most ``SAVED_OUTPUT_BYTES``)."""
        import re

        out.finish()
        err.finish()
        first, second = (out, err) if code == 0 else (err, out)
        sep = b"\n" if err.total else b""
        if sep:
            first.trim_final_newline()  # one line break between the two, not two
        start = (bytes(first.head) + sep + bytes(second.head)).decode("utf-8", "replace")
        spilled = first.total > len(first.head) or second.total > len(second.head)
        suffix = f"\n[{note}]" if note else ""
        if not spilled and _utf16_len(start) <= BASH_OUTPUT_LIMIT:
            text = re.sub(_ANSI, "", start).rstrip("\n")
            return (text or "(no output)") + suffix
        kept = _utf16_cut(start, BASH_OUTPUT_LIMIT)
        cut_lines = 1 + first.line_breaks + len(sep) + second.line_breaks - kept.count("\n")
        saved = self.save(first, sep, second)
        return f"{re.sub(_ANSI, '', kept)}\n\n... [{cut_lines} lines truncated] {saved}...{suffix}"

    def save(self, first: Stream, sep: bytes, second: Stream) -> str:
        """Write the whole output to a new file (replacing the last one); the sentence naming it."""
        import tempfile

        self.remove_saved()
        left, label = SAVED_OUTPUT_BYTES, "Full output"
        try:
            self.saved_dir = tempfile.mkdtemp(prefix="bash-output-")
            path = os.path.join(self.saved_dir, "output.txt")
            with open(path, "wb") as f:
                for data in (*first.chunks(), sep, *second.chunks()):
                    if len(data) > left:
                        label = f"First {SAVED_OUTPUT_BYTES >> 20} MiB of output"
                        f.write(data[:left].decode("utf-8", "ignore").encode())
                        break
                    f.write(data)
                    left -= len(data)
            if first.total + len(sep) + second.total > SAVED_OUTPUT_BYTES:
                label = f"First {SAVED_OUTPUT_BYTES >> 20} MiB of output"
        except OSError:
            return ""
        return f"{label} saved to: {path} — use read with view_range to read specific portions. "

    def remove_saved(self) -> None:
        import shutil

        folder, self.saved_dir = self.saved_dir, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _utf16_cut(text: str, limit: int) -> str:
    """The first ``limit`` UTF-16 code units of ``text`` (as the API counts characters)."""
    return text.encode("utf-16-le", "surrogatepass")[: 2 * limit].decode("utf-16-le", "ignore")


# ---- file tools ----------------------------------------------------------------------------------


class Tools:
    """The six tools, bound to a workspace and one shell."""

    def __init__(self, workspace: str) -> None:
        self.workspace = workspace
        self.shell = Shell(workspace)

    def resolve(self, path: str) -> str:
        return os.path.normpath(os.path.join(self.workspace, os.path.expanduser(path)))

    def bash(self, call: Call, a: dict[str, Any]) -> Content | tuple[Content, bool]:
        # The reference toolset: 295 s unless the model asks for less; more is not granted.
        asked = a.get("timeout_ms")
        if asked is None or asked <= 0:
            asked = call.timeout_ms if call.explicit else BASH_DEFAULT_TIMEOUT_MS
        timeout_ms = min(asked, BASH_DEFAULT_TIMEOUT_MS)
        command = a.get("command")
        if not a.get("restart") and not command:
            raise ToolError("bash: command is required")
        with self.shell.lock:
            self.shell.aborted = False
            call.on_cancel = self.shell.abort
            try:
                call.check("bash")
                if a.get("restart"):
                    self.shell.kill()
                    self.shell.start()
                    if not command:
                        return _text("bash session restarted")
                text, is_error = self.shell.run(command or "", timeout_ms / 1000)
                return _text(text), is_error
            finally:
                call.on_cancel = None

    def read(self, call: Call, a: dict[str, Any]) -> Content:
        shown, path, view = a["file_path"], self.resolve(a["file_path"]), a.get("view_range")
        size = _regular_file_size("read", shown, path)
        media = MEDIA_TYPES.get(os.path.splitext(path)[1].lower())
        if media is not None:
            if view:
                raise ToolError("read: view_range is not supported for image/PDF files")
            return [_binary_block(shown, path, size, media)]
        if view:
            return _text(_read_range(shown, path, view[0], view[1]))
        if size > READ_LIMIT:
            raise ToolError(
                f"read: {shown} is {size} bytes, exceeds {READ_LIMIT}-byte limit. "
                "Use the view_range parameter to read specific line ranges, e.g. view_range: [1, 500]."
            )
        text = _decode("read", shown, _fs("read", shown, lambda: _read_bytes(path)))
        return _text(text or "(empty file)")

    def write(self, call: Call, a: dict[str, Any]) -> Content:
        shown, path = a["file_path"], self.resolve(a["file_path"])
        data = a["content"].encode("utf-8", "replace")
        _fs("write", shown, lambda: _write_bytes(path, data, mkdirs=True))
        return _text(f"wrote {len(data)} bytes to {shown}")

    def edit(self, call: Call, a: dict[str, Any]) -> Content:
        shown, path, old, new = a["file_path"], self.resolve(a["file_path"]), a["old_string"], a["new_string"]
        if not old:
            raise ToolError("edit: old_string must not be empty (use write to create a file)")
        size = _regular_file_size("edit", shown, path)
        if size > TEXT_LIMIT:
            raise ToolError(f"edit: {shown} is {size} bytes, exceeds {TEXT_LIMIT}-byte limit")
        text = _decode("edit", shown, _fs("edit", shown, lambda: _read_bytes(path)))
        count = text.count(old)
        if count == 0:
            raise ToolError(f"edit: old_string not found in {shown}")
        if count > 1 and not a.get("replace_all"):
            raise ToolError(
                f"edit: old_string appears {count} times in {shown} (must be unique; "
                "add surrounding context, or set replace_all to replace every occurrence)"
            )
        if count > 1 and a.get("replace_all"):
            grown = size + count * (len(new.encode("utf-8", "replace")) - len(old.encode("utf-8", "replace")))
            if grown > TEXT_LIMIT:
                raise ToolError(
                    f"edit: {count} replacements would make {shown} {grown} bytes, exceeds {TEXT_LIMIT}-byte limit"
                )
        updated = text.replace(old, new) if a.get("replace_all") else text.replace(old, new, 1)
        _fs("edit", shown, lambda: _write_bytes(path, updated.encode("utf-8", "replace")))
        return _text(f"edited {shown} ({count if a.get('replace_all') else 1} replacement(s))")

    def glob(self, call: Call, a: dict[str, Any]) -> Content:
        from pathlib import Path

        pattern = a["pattern"]
        root = self.resolve(a["path"]) if a.get("path") else self.workspace
        if os.path.isabs(pattern):  # split "/data/**/*.csv" into root "/data" and pattern "**/*.csv"
            parts = pattern.split("/")
            fixed = next(i for i, p in enumerate(parts) if any(c in p for c in "*?[") or i == len(parts) - 1)
            root, pattern = "/".join(parts[:fixed]) or "/", "/".join(parts[fixed:])
        if not os.path.isdir(root):
            raise ToolError(f"glob: {a.get('path') or root}: no such directory")
        matches: list[tuple[float, str]] = []
        try:
            for found in Path(root).glob(pattern):
                if len(matches) % 256 == 0:
                    call.check("glob")
                matches.append((_mtime(found), str(found)))
                if len(matches) >= WALK_LIMIT:
                    break
        except (ValueError, NotImplementedError, OSError) as exc:
            raise ToolError(f"glob: {exc}") from None
        if not matches:
            return _text("no matches")
        matches.sort(key=lambda m: m[0], reverse=True)
        lines = [path for _, path in matches[:GLOB_LIMIT]]
        if len(matches) > GLOB_LIMIT:
            lines.append(f"[showing the newest {GLOB_LIMIT} of {len(matches)} matches]")
        return _text("\n".join(lines))

    def grep(self, call: Call, a: dict[str, Any]) -> Content:
        import shutil

        target = self.resolve(a["path"]) if a.get("path") else self.workspace
        if not os.path.exists(target):
            raise ToolError(f"grep: {a.get('path')}: no such file or directory")
        rg = shutil.which("rg")
        out = _ripgrep(call, rg, a["pattern"], target) if rg else _walk_grep(call, a["pattern"], target)
        if not out:
            return _text("no matches")
        if len(out) > GREP_OUTPUT_LIMIT:
            out = out[: out.rfind("\n", 0, GREP_OUTPUT_LIMIT) + 1] + f"[output truncated at {GREP_OUTPUT_LIMIT} bytes]"
        return _text(out.rstrip("\n"))


def _fs_reason(exc: OSError) -> str:
    import errno

    names = {
        errno.ENOENT: "no such file or directory",
        errno.ENOTDIR: "not a directory",
        errno.EISDIR: "is a directory",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ELOOP: "too many levels of symbolic links",
    }
    return names.get(exc.errno or 0, (exc.strerror or "i/o error").lower())


def _fs(op: str, shown: str, action: Callable[[], Any]) -> Any:
    try:
        return action()
    except OSError as exc:
        raise ToolError(f"{op}: {shown}: {_fs_reason(exc)}") from None


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _write_bytes(path: str, data: bytes, *, mkdirs: bool = False) -> None:
    if mkdirs and os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _regular_file_size(op: str, shown: str, path: str) -> int:
    import stat

    st = _fs(op, shown, lambda: os.stat(path))
    if stat.S_ISDIR(st.st_mode):
        raise ToolError(f"{op}: {shown}: is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise ToolError(f"{op}: {shown}: not a regular file")
    return int(st.st_size)


def _decode(op: str, shown: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        hint = "binary files are only supported for image/PDF extensions" if op == "read" else "cannot edit"
        raise ToolError(f"{op}: {shown}: not valid UTF-8 text ({hint})") from None


def _binary_block(shown: str, path: str, size: int, media: str) -> dict[str, Any]:
    import base64

    limit = PDF_LIMIT if media == "application/pdf" else IMAGE_B64_LIMIT // 4 * 3
    if size > limit:
        raise ToolError(f"read: {shown} is {size} bytes, exceeds {limit}-byte limit for image/PDF files")
    data = base64.b64encode(_fs("read", shown, lambda: _read_bytes(path))).decode("ascii")
    kind = "document" if media == "application/pdf" else "image"
    return {"type": kind, "source": {"type": "base64", "media_type": media, "data": data}}


def _read_range(shown: str, path: str, start: int, end: int) -> str:
    """Lines ``start..end`` (1-based, inclusive; ``end <= 0`` means end of file), streamed."""
    start = max(start, 1)
    if 0 < end < start:
        raise ToolError("read: view_range end must be >= start (or <= 0 for the end of the file)")
    picked, size, count = [], 0, 0
    with _fs("read", shown, lambda: open(path, "rb")) as f:
        for count, line in enumerate(f, 1):
            if count < start:
                continue
            if 0 < end < count:
                break
            size += len(line)
            if size > READ_LIMIT:
                raise ToolError(
                    f"read: view_range [{start}, {end}] of {shown} exceeds {READ_LIMIT}-byte limit. "
                    "Narrow the view_range to read a smaller portion."
                )
            picked.append(line)
    if not picked:
        raise ToolError(f"read: view_range starts at line {start}, but {shown} has {count} lines")
    return _decode("read", shown, b"".join(picked)).removesuffix("\n")


def _mtime(path: Any) -> float:
    try:
        return float(path.stat().st_mtime)
    except OSError:
        return 0.0


def _ripgrep(call: Call, rg: str, pattern: str, target: str) -> str:
    import subprocess
    import tempfile

    args = [rg, "--no-config", "--line-number", "--with-filename", "--no-heading", "--color=never"]
    args += ["--hidden", "--sort=path", "--max-columns=2000", "--glob=!.git", "--glob=!node_modules"]
    out = bytearray()
    with (
        tempfile.TemporaryFile() as err,
        subprocess.Popen(
            [*args, "-e", pattern, "--", target], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err
        ) as proc,
    ):
        call.on_cancel = proc.kill
        timer = threading.Timer(max(0.0, call.deadline - time.monotonic()), proc.kill)
        timer.start()
        try:
            while chunk := proc.stdout.read(65536) if proc.stdout else b"":
                out += chunk
                if len(out) > GREP_OUTPUT_LIMIT:
                    proc.kill()
                    break
            code = proc.wait()
        finally:
            timer.cancel()
        call.check("grep")
        err.seek(0)
        message = err.read().decode("utf-8", "replace").strip()
    if code == 2 and not out:
        raise ToolError(f"grep: {message or 'rg failed'}")
    return out.decode("utf-8", "replace")


def _walk_grep(call: Call, pattern: str, target: str) -> str:
    import re

    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise ToolError(f"grep: invalid regex: {exc}") from None
    hits: list[str] = []
    size = 0
    for n, path in enumerate(_walk(target)):
        if n % 64 == 0:
            call.check("grep")
        try:
            with open(path, "rb") as f:
                if b"\0" in f.read(1024):
                    continue
                f.seek(0)
                for lineno, raw in enumerate(f, 1):
                    if len(raw) > GREP_MAX_LINE:
                        continue  # a model-chosen regex on a huge line can backtrack for minutes
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if rx.search(line):
                        hits.append(f"{path}:{lineno}:{line}")
                        size += len(hits[-1]) + 1
                        if size >= GREP_OUTPUT_LIMIT:
                            return "\n".join(hits)
        except OSError:
            continue
    return "\n".join(hits)


def _walk(target: str) -> Iterator[str]:
    if os.path.isfile(target):
        yield target
        return
    seen = 0
    for dirpath, dirnames, filenames in os.walk(target):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if os.path.isfile(full) and not os.path.islink(full):
                seen += 1
                if seen > WALK_LIMIT:
                    return
                yield full


# ---- the server ----------------------------------------------------------------------------------


class Server:
    """Reads requests, runs each in a thread, writes answers under a lock."""

    def __init__(self, workspace: str, out: IO[bytes]) -> None:
        self.tools = Tools(workspace)
        self.out = out
        self.out_lock = threading.Lock()
        self.calls: dict[int | str, Call] = {}
        self.calls_lock = threading.Lock()

    def send(self, rid: object, content: Content, is_error: bool) -> None:
        answer = {"id": rid, "content": content, "is_error": is_error}
        line = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")
        try:
            with self.out_lock:
                self.out.write(line + b"\n")
                self.out.flush()
        except OSError:
            self.shutdown()  # the host is gone

    def handle(self, line: bytes) -> None:
        try:
            req = json.loads(line)
        except ValueError as exc:
            self.send(None, _text(f"invalid request: not JSON ({exc})"), True)
            return
        rid = req.get("id") if isinstance(req, dict) else None
        if not isinstance(rid, (int, str)) or isinstance(rid, bool):
            self.send(None, _text("invalid request: expected an object with an integer or string 'id'"), True)
            return
        tool, raw, timeout_ms = req.get("tool"), req.get("input", {}), req.get("timeout_ms")
        if not isinstance(tool, str):
            self.send(rid, _text("invalid request: 'tool' must be a string"), True)
        elif tool == "ping":
            self.send(rid, _text("pong"), False)
        elif tool == "cancel":
            self.send(rid, _text(f"cancelled {self.cancel(raw)} call(s)"), False)
        elif tool not in _SCHEMAS:
            known = ", ".join(sorted(_SCHEMAS))
            self.send(rid, _text(f"unknown tool {tool!r}; the executor runs {known}"), True)
        else:
            call = Call(rid, timeout_ms if _is_int(timeout_ms) and timeout_ms > 0 else None)
            with self.calls_lock:
                duplicate = rid in self.calls
                if not duplicate:
                    self.calls[rid] = call
            if duplicate:
                self.send(rid, _text(f"invalid request: id {rid!r} is already in flight"), True)
                return
            threading.Thread(target=self.run, args=(call, tool, raw), daemon=True).start()

    def run(self, call: Call, tool: str, raw: object) -> None:
        try:
            result = getattr(self.tools, tool)(call, validate(tool, raw))
            content, is_error = result if isinstance(result, tuple) else (result, False)
        except ToolError as exc:
            content, is_error = _text(str(exc)), True
        except Exception as exc:  # a bug must not take the executor (and the shell) down
            content, is_error = _text(f"{tool}: internal error: {type(exc).__name__}: {exc}"), True
        with self.calls_lock:
            self.calls.pop(call.rid, None)
        self.send(call.rid, content, is_error)

    def cancel(self, raw: object) -> int:
        target = raw.get("id") if isinstance(raw, dict) else None
        with self.calls_lock:
            calls = [c for rid, c in self.calls.items() if target is None or rid == target]
            for call in calls:
                call.cancelled.set()
                if call.on_cancel is not None:
                    call.on_cancel()
        return len(calls)

    def shutdown(self) -> None:
        self.tools.shell.kill()
        self.tools.shell.remove_saved()
        os._exit(0)

    def serve(self, stdin: IO[bytes]) -> None:
        for line in stdin:
            if line.strip():
                self.handle(line)
        self.shutdown()


def private_channel() -> tuple[IO[bytes], IO[bytes]]:
    """Take the protocol off descriptors 0 and 1, out of reach of the tools' processes.

    The requests and answers move to close-on-exec copies, so no tool process inherits them,
    and 0 and 1 point at /dev/null. On Linux the executor also makes itself non-dumpable: a
    process without ``CAP_SYS_PTRACE`` (every tool process: same user or not) can then neither
    open ``/proc/<executor>/fd/*`` nor ptrace it, so only the executor writes answers.
    """
    requests, answers = os.dup(0), os.dup(1)  # os.dup: not inheritable
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
        except (ImportError, OSError, AttributeError):
            pass
    return os.fdopen(requests, "rb"), os.fdopen(answers, "wb")


def main(argv: list[str]) -> None:
    """Serve requests on stdin/stdout until stdin closes."""
    import signal

    workspace = os.environ.get("NB_AGENTS_WORKSPACE") or os.getcwd()
    if "--workspace" in argv[:-1]:
        workspace = argv[argv.index("--workspace") + 1]
    workspace = os.path.abspath(workspace)
    os.makedirs(workspace, exist_ok=True)
    os.chdir(workspace)
    requests, answers = private_channel()
    server = Server(workspace, answers)
    signal.signal(signal.SIGTERM, lambda *_: server.shutdown())
    server.serve(requests)


if __name__ == "__main__":
    main(sys.argv[1:])
