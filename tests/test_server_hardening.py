"""Every bad request gets a 4xx with the API's error envelope, nothing invalid is stored, and
the state on disk is private; all against a real ``nb-agents serve`` subprocess."""

from __future__ import annotations

import base64
import json
import os
import random
import socket
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anthropic
import httpx2 as httpx
import pytest

from nb_agents.server._params import MAX_BODY_BYTES
from nb_agents.server._routes import ROUTES
from nb_agents.store import Store
from tests._server import LocalServer, local_server

_CAP = 1024 * 1024  # the module server's request cap (NB_AGENTS_MAX_REQUEST_BYTES)
_NO_MODEL = "http://127.0.0.1:9"  # a closed loopback port: no request can reach a real model


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    state = tmp_path_factory.mktemp("state")
    env = {"NB_AGENTS_MAX_REQUEST_BYTES": str(_CAP)}
    with local_server(state, _NO_MODEL, extra_env=env) as server:
        yield server


@pytest.fixture()
def client(srv: LocalServer) -> anthropic.Anthropic:
    return srv.client(max_retries=0, timeout=10.0)


def _error(resp: httpx.Response, status: int = 400) -> str:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    body = resp.json()
    assert body["type"] == "error" and body["request_id"] == resp.headers["request-id"]
    return str(body["error"]["message"])


def _cursor(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_invalid_text_and_types_are_refused_and_not_stored(srv: LocalServer, client: anthropic.Anthropic) -> None:
    agents = len(srv.raw("GET", "/v1/agents", params={"limit": 100}).json()["data"])
    surrogate = b'{"name": "x", "model": "claude-sonnet-4-6", "system": "\\udfff"}'
    assert "lone surrogate" in _error(srv.raw("POST", "/v1/agents", content=surrogate))
    in_key = b'{"name": "x", "model": "m", "metadata": {"\\ud800": "v"}}'
    assert "lone surrogate" in _error(srv.raw("POST", "/v1/agents", content=in_key))
    listed = srv.raw("GET", "/v1/agents", params={"limit": 100})
    assert listed.status_code == 200 and len(listed.json()["data"]) == agents  # nothing was stored

    env = client.beta.environments.create(name="types")
    agent = client.beta.agents.create(name="t", model="claude-sonnet-4-6")
    as_list = {"agent": agent.id, "environment_id": env.id, "title": ["not", "a", "string"]}
    assert "title" in _error(srv.raw("POST", "/v1/sessions", json=as_list))
    session = client.beta.sessions.create(agent=agent.id, environment_id=env.id, title="ok")
    assert "title" in _error(srv.raw("POST", f"/v1/sessions/{session.id}", json={"title": {"x": 1}}))
    assert "events" in _error(srv.raw("POST", "/v1/sessions", json={**as_list, "title": "t", "initial_events": [1]}))
    assert srv.raw("GET", f"/v1/sessions/{session.id}").json()["title"] == "ok"
    assert srv.raw("GET", "/v1/sessions").status_code == 200


def test_numbers_cursors_depth_and_size(srv: LocalServer, client: anthropic.Anthropic) -> None:
    agent = client.beta.agents.create(name="n", model="claude-sonnet-4-6")
    huge = "9" * 30
    assert "version" in _error(srv.raw("GET", f"/v1/agents/{agent.id}", params={"version": huge}))
    assert "version" in _error(srv.raw("GET", f"/v1/agents/{agent.id}", params={"version": "²"}))
    assert "agent_version" in _error(srv.raw("GET", "/v1/sessions", params={"agent_version": huge}))
    assert "limit" in _error(srv.raw("GET", "/v1/agents", params={"limit": huge}))
    assert "2**53" in _error(srv.raw("POST", f"/v1/agents/{agent.id}", json={"version": 10**30}))
    assert "finite" in _error(srv.raw("POST", "/v1/agents", content=b'{"name": "x", "model": "m", "n": 1e999}'))
    assert "JSON" in _error(srv.raw("POST", "/v1/agents", content=b'{"name": "x", "model": "m", "n": NaN}'))
    for page in (
        "garbage!",
        _cursor([1, 2]),
        _cursor({"k": "agents", "p": 10**30, "d": "next", "o": ""}),
        _cursor({"k": "agents", "p": -1, "d": "next", "o": ""}),
        _cursor({"k": "agents", "p": 1.5, "d": "next", "o": ""}),
        _cursor({"k": "agents", "p": 1, "d": "sideways", "o": ""}),
        _cursor({"k": "agents", "p": 123456789, "d": "next", "o": ""}),  # well-formed, names no row
        "A" * 5000,
    ):
        assert "page" in _error(srv.raw("GET", "/v1/agents", params={"page": page})), page
    deep = b'{"name": "x", "model": "m", "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert "deeper" in _error(srv.raw("POST", "/v1/agents", content=deep))
    nested = json.dumps({"name": "x", "model": "m", "description": json.loads("[" * 80 + "]" * 80)})
    assert "deeper" in _error(srv.raw("POST", "/v1/agents", content=nested.encode()))
    assert "RFC 3339" in _error(srv.raw("GET", "/v1/sessions", params={"created_at[gte]": "yesterday"}))
    assert "statuses" in _error(srv.raw("GET", "/v1/sessions", params={"statuses[]": "sleeping"}))

    big = json.dumps({"name": "x" * (_CAP + 10), "model": "m"}).encode()
    assert str(_CAP) in _error(srv.raw("POST", "/v1/agents", content=big), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap holds on the stream too
        yield b'{"name": "'
        for _ in range(_CAP // 65536 + 2):
            yield b"y" * 65536
        yield b'", "model": "m"}'

    assert _error(srv.raw("POST", "/v1/agents", content=chunks()), 413)
    assert MAX_BODY_BYTES == 32 * 1024 * 1024  # the default when NB_AGENTS_MAX_REQUEST_BYTES is not set


def test_host_header_allow_list(srv: LocalServer, tmp_path: Path) -> None:
    port = srv.url.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost", f"[::1]:{port}"):
        assert srv.raw("GET", "/v1/agents", headers={"host": host}).status_code == 200, host
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}", "[::1]x", ""):
        message = _error(srv.raw("GET", "/v1/agents", headers={"host": host}))
        assert "DNS rebinding" in message and "--allow-host" in message
    with local_server(tmp_path / "state", args=("--allow-host", "notebook.internal")) as other:
        assert other.raw("GET", "/v1/agents", headers={"host": "notebook.internal:80"}).status_code == 200
        assert other.raw("GET", "/v1/agents", headers={"host": "other.internal"}).status_code == 400


def test_a_damaged_row_never_breaks_a_list(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with local_server(state) as server:
        c = server.client(max_retries=0)
        env = c.beta.environments.create(name="e")
        broken_env = c.beta.environments.create(name="broken")
        agent = c.beta.agents.create(name="a", model="claude-sonnet-4-6")
        good = c.beta.sessions.create(agent=agent.id, environment_id=env.id)
        broken = c.beta.sessions.create(agent=agent.id, environment_id=env.id)
    # What an older nb_agents could store (a lone surrogate), and rows damaged on disk.
    with Store(state / "nb_agents.sqlite3") as store:
        v1 = store.get_agent(agent.id)
        assert v1 is not None
        store.insert_agent_version({**v1, "version": 2, "system": "bad \udfff text"})
    conn = sqlite3.connect(state / "nb_agents.sqlite3")
    with conn:
        conn.execute("UPDATE sessions SET body = '{broken' WHERE id = ?", (broken.id,))
        conn.execute("UPDATE environments SET body = '[1]' WHERE id = ?", (broken_env.id,))
        conn.execute(
            "INSERT INTO events (session_id, seq, id, type, created_at, body) VALUES (?, 1000, 'sevt_x', "
            "'user.message', '2026-01-01T00:00:00Z', '{broken')",
            (good.id,),
        )
    conn.close()
    with local_server(state) as server:
        agents = server.raw("GET", "/v1/agents")
        assert agents.status_code == 200
        [listed] = agents.json()["data"]
        assert listed["version"] == 2 and listed["system"] == "bad ? text"
        assert server.raw("GET", f"/v1/agents/{agent.id}").json()["system"] == "bad ? text"
        sessions = server.raw("GET", "/v1/sessions")
        assert sessions.status_code == 200 and [s["id"] for s in sessions.json()["data"]] == [good.id]
        envs = server.raw("GET", "/v1/environments")
        assert envs.status_code == 200 and [e["id"] for e in envs.json()["data"]] == [env.id]
        events = server.raw("GET", f"/v1/sessions/{good.id}/events")
        assert events.status_code == 200 and all(e["id"] != "sevt_x" for e in events.json()["data"])
        assert "damaged" in server.log()


# ---- fuzzing ---------------------------------------------------------------------------------

_NASTY: list[Any] = [
    None, True, -1, 0, 2**63, -(2**80), 1.5, 1e308, "", "x" * 3000, "\u0000", "\udfff", "²", "../../etc",
    [], [None], {}, {"type": None}, {"type": "agent"}, [[[[[]]]]], {"": {"": {"": {}}}}, "sesn_nope",
]  # fmt: skip
_TEMPLATES: dict[str, dict[str, Any]] = {
    "/v1/agents": {
        "name": "fz", "model": "claude-sonnet-4-6", "system": "s", "description": "d",
        "tools": [{"type": "agent_toolset_20260401", "configs": [{"name": "bash", "enabled": True}]}],
        "metadata": {"k": "v"},
    },
    "/v1/environments": {"name": "fz", "config": {"type": "cloud", "networking": {"type": "unrestricted"}}},
    "/v1/sessions": {"agent": "AGENT", "environment_id": "ENV", "title": "t", "metadata": {"k": "v"}},
    "overrides": {
        "agent": {
            "type": "agent_with_overrides", "id": "AGENT", "system": "s", "model": {"id": "m", "effort": "low"},
            "tools": [{"type": "agent_toolset_20260401", "default_config": {"enabled": False}}],
        },
        "environment_id": "ENV",
    },
    "events": {"events": [{"type": "user.interrupt"}]},
}  # fmt: skip
_QUERY_KEYS = (
    "limit", "page", "order", "version", "agent_version", "include_archived", "statuses[]", "types[]",
    "created_at[gte]", "created_at[lt]", "event_deltas[]", "agent_id",
)  # fmt: skip


def _mutate(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """``value`` with one part replaced, removed or wrapped (or a nasty value in its place)."""
    if depth > 4 or rng.random() < 0.25:
        return rng.choice(_NASTY)
    if isinstance(value, dict) and value:
        out = dict(value)
        key = rng.choice(list(out))
        roll = rng.random()
        if roll < 0.2:
            del out[key]
        elif roll < 0.3:
            out[rng.choice(["extra", "budget", "vault_ids", "type", "\udfff"])] = rng.choice(_NASTY)
        else:
            out[key] = _mutate(rng, out[key], depth + 1)
        return out
    if isinstance(value, list) and value:
        out_list = list(value)
        i = rng.randrange(len(out_list))
        out_list[i] = _mutate(rng, out_list[i], depth + 1)
        return out_list if rng.random() < 0.8 else out_list * 60
    return rng.choice(_NASTY)


def _encode(rng: random.Random, data: Any) -> bytes:
    roll = rng.random()
    if roll < 0.05:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    if roll < 0.1:
        return b"[" * 3000
    text = json.dumps(data, allow_nan=True)
    if roll < 0.15:
        return text[: rng.randrange(len(text) + 1)].encode()
    return text.encode("utf-8", errors="surrogatepass")


def test_fuzz_never_500(srv: LocalServer, client: anthropic.Anthropic) -> None:
    rng = random.Random(int(os.environ.get("FUZZ_SEED", "20261204")))
    env = client.beta.environments.create(name="fuzz-env")
    agent = client.beta.agents.create(name="fuzz", model="claude-sonnet-4-6")
    session = client.beta.sessions.create(agent=agent.id, environment_id=env.id)
    ids = {"agent_id": agent.id, "environment_id": env.id, "session_id": session.id}
    served = [(m, p) for m, p, h in ROUTES if h.__module__.endswith(("._routes", "._stream"))]
    refused = [(m, p) for m, p, _ in ROUTES if (m, p) not in served]
    assert len(served) == 21 and len(refused) == 3 * 62  # the SDK paths not served, each for GET, POST, DELETE
    statuses: dict[int, int] = {}
    sent = 0
    with httpx.Client(base_url=srv.url, headers={"x-api-key": srv.key}, timeout=10) as http:
        while sent < int(os.environ.get("FUZZ_N", "600")):
            method, pattern = rng.choice(served if rng.random() < 0.75 else refused)
            path = pattern
            for name, real in ids.items():
                choice = real if rng.random() < 0.7 else rng.choice(["x", "agent_nope", "%ff", "a" * 300])
                path = path.replace("{" + name + "}", choice)
            path = path.replace("{", "").replace("}", "")
            query = "&".join(
                f"{quote(k)}={quote(str(rng.choice(_NASTY)), safe='', errors='surrogatepass')}"
                for k in rng.sample(_QUERY_KEYS, rng.randrange(0, 3))
            )
            key = "events" if pattern.endswith("/events") else "/" + "/".join(pattern.split("/")[1:3])
            if pattern == "/v1/sessions" and rng.random() < 0.5:
                key = "overrides"
            template = json.loads(json.dumps(_TEMPLATES.get(key, {})).replace("AGENT", agent.id).replace("ENV", env.id))
            content = _encode(rng, _mutate(rng, template)) if method == "POST" else None
            url = f"{path}?{query}" if query else path
            if pattern.endswith("/stream"):  # an SSE stream: its status and headers, then hang up
                with http.stream(method, url, content=content) as resp:
                    if resp.status_code >= 400:
                        resp.read()
            else:
                resp = http.request(method, url, content=content)
            sent += 1
            statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
            assert resp.status_code < 500, (method, path, query, content and content[:200], resp.text[:500])
            if resp.status_code >= 400:
                assert resp.json()["type"] == "error"
            if rng.random() < 0.03:  # sessions the fuzzer made run: let them be idle before deleting
                time.sleep(0.05)
    assert srv.proc is not None and srv.proc.poll() is None  # no crash
    assert sum(statuses.values()) >= 500 and any(s < 300 for s in statuses)
    for path in ("/v1/agents", "/v1/environments", "/v1/sessions", f"/v1/agents/{agent.id}/versions"):
        assert srv.raw("GET", path).status_code == 200, path
    listed = srv.raw("GET", "/v1/sessions", params={"limit": 100}).json()["data"]
    for s in listed[:20]:
        assert srv.raw("GET", f"/v1/sessions/{s['id']}/events").status_code == 200


# ---- state on disk -----------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_is_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with local_server(state) as server:
        c = server.client(max_retries=0)
        c.beta.environments.create(name="e")
        db = state / "nb_agents.sqlite3"
        assert _mode(state) == 0o700
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), state / "api_key", state / "server.log"):
            assert path.exists() and _mode(path) == 0o600, path
    state.chmod(0o755)  # a directory from an older version is made private again
    db.chmod(0o644)
    with local_server(state):
        assert _mode(state) == 0o700 and _mode(db) == 0o600


def test_log_is_capped_under_a_flood(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with local_server(state, extra_env={"NB_AGENTS_LOG_MAX_BYTES": "65536"}) as server:
        host, port = "127.0.0.1", int(server.url.rsplit(":", 1)[1])
        payload = b"\x00\x01 NOT HTTP " + b"z" * 2000 + b"\r\n\r\n"
        for _ in range(1500):  # each is a malformed HTTP request uvicorn warns about
            with socket.create_connection((host, port), timeout=5) as sock:
                sock.sendall(payload)
                sock.recv(4096)
        assert server.raw("GET", "/v1/agents").status_code == 200
        logs = sorted(state.glob("server.log*"))
        total = sum(p.stat().st_size for p in logs)
        text = "".join(p.read_text(errors="replace") for p in logs)
        assert total <= 3 * 65536 + 4096, [(p.name, p.stat().st_size) for p in logs]
        assert 1 <= text.count("Invalid HTTP request") <= 20  # rate-limited: a burst per minute
        assert all(_mode(p) == 0o600 for p in logs)


def test_rate_limit_lets_a_burst_through_then_says_how_many_it_dropped() -> None:
    import logging

    from nb_agents.server._logging import RateLimit

    limit = RateLimit(burst=3, window=0.3)

    def record(msg: str, line: int = 1) -> logging.LogRecord:
        return logging.LogRecord("uvicorn.error", logging.WARNING, "h.py", line, msg, None, None)

    verdicts = [limit.filter(record("Invalid HTTP request received.")) for _ in range(10)]
    assert verdicts == [True] * 3 + [False] * 7
    assert limit.filter(record("another call site", line=2))  # counted per call site
    same = record("Invalid HTTP request received.")
    assert limit.filter(same) is False and limit.filter(same) is False  # judged once, on every handler
    time.sleep(0.35)
    summary = record("Invalid HTTP request received.")
    assert limit.filter(summary)
    assert "[8 more like this were not logged" in summary.getMessage()
