"""Run ``nb-agents serve`` as a real subprocess and drive it with the official SDK."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx2 as httpx

from nb_agents.events import validate_event, validate_object

STOP = ("session.status_idle", "session.status_terminated", "session.deleted")


class LocalServer:
    """One ``nb-agents serve`` process on loopback with its own state directory."""

    def __init__(
        self,
        state_dir: Path,
        model_url: str | None = None,
        *,
        extra_env: Mapping[str, str | None] | None = None,
        args: tuple[str, ...] = (),
    ):
        self.state_dir = state_dir
        self.model_url = model_url
        self.extra_env = dict(extra_env or {})
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.key = ""

    def start(self, timeout: float = 30.0) -> LocalServer:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        info = self.state_dir / "server.json"
        info.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
        env.update(NB_AGENTS_HOME=str(self.state_dir), ANTHROPIC_API_KEY="sk-test-model-key")
        for name, value in self.extra_env.items():  # None removes a variable
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        if self.model_url:
            env["ANTHROPIC_BASE_URL"] = self.model_url
        self._log = open(self.state_dir / "server.log", "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nb_agents",
                "serve",
                "--port",
                "0",
                "--state-dir",
                str(self.state_dir),
                *self.args,
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while not info.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{self.log()}")
            time.sleep(0.02)
        try:
            self.url = json.loads(info.read_text())["url"]
            self.key = self.extra_env.get("NB_AGENTS_API_KEY") or (self.state_dir / "api_key").read_text().strip()
        except Exception:
            self.stop()  # never leave a server behind
            raise
        return self

    def log(self) -> str:
        path = self.state_dir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def client(self, **kwargs: Any) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key=self.key, **kwargs)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()

    def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"x-api-key": self.key, **kwargs.pop("headers", {})}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)


@contextmanager
def local_server(state_dir: Path, model_url: str | None = None, **kwargs: Any) -> Iterator[LocalServer]:
    server = LocalServer(state_dir, model_url, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()


def setup_agent(client: anthropic.Anthropic, **agent: Any) -> tuple[str, str]:
    """Create an environment and an agent; return (agent_id, environment_id)."""
    env = client.beta.environments.create(name=f"env-{time.monotonic_ns()}")
    params = {"name": "tester", "model": "claude-sonnet-4-6", "tools": [{"type": "agent_toolset_20260401"}]}
    params.update(agent)
    created = client.beta.agents.create(**params)
    return created.id, env.id


def run_until_idle(
    client: anthropic.Anthropic,
    session_id: str,
    events: list[dict[str, Any]],
    *,
    deltas: bool = False,
    timeout: float = 30,
) -> list[Any]:
    """Open the stream, send events, and collect streamed events up to the next idle."""
    kwargs: dict[str, Any] = {"event_deltas": ["agent.message"]} if deltas else {}
    seen: list[Any] = []
    deadline = time.monotonic() + timeout
    with client.beta.sessions.events.stream(session_id, **kwargs) as stream:
        if events:
            client.beta.sessions.events.send(session_id, events=events)  # type: ignore[arg-type]
        for event in stream:
            seen.append(event)
            if event.type in STOP:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"no idle within {timeout}s; saw {[e.type for e in seen]}")
    return seen


def user_message(text: str) -> dict[str, Any]:
    return {"type": "user.message", "content": [{"type": "text", "text": text}]}


def raw_events(server: LocalServer, session_id: str) -> list[dict[str, Any]]:
    """Every stored event of a session as raw JSON (all pages)."""
    out: list[dict[str, Any]] = []
    page: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if page:
            params["page"] = page
        resp = server.raw("GET", f"/v1/sessions/{session_id}/events", params=params)
        resp.raise_for_status()
        body = resp.json()
        out.extend(body["data"])
        page = body["next_page"]
        if not page:
            return out


def assert_conforms(server: LocalServer, session_id: str) -> list[dict[str, Any]]:
    """Validate the session object and every stored event strictly against the SDK types."""
    session = server.raw("GET", f"/v1/sessions/{session_id}").json()
    validate_object(anthropic.types.beta.BetaManagedAgentsSession, session)
    events = raw_events(server, session_id)
    for event in events:
        validate_event(event)
    return events
