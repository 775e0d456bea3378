"""Cold sandbox: ``events.send`` → first model request, lazy start vs an eager design.

Each measured session is new, so its Docker container does not exist yet. The lazy runtime (the
default) asks the model at once and starts the container beside the request; the eager design
(``NB_AGENTS_SANDBOX_EAGER=1``, kept only for this comparison) starts the container first. Both
run in one go against the same engine, on the same model server, alternating sessions.

    .venv/bin/python bench/lazy_start_bench.py [--sessions 12]

Target: the lazy design's P50 and P95 do not grow with container start time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nb_agents.events import parse_time
from nb_agents.store import Store
from tests._server import LocalServer, setup_agent, user_message

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness_bench import _model_server, _pct


def _first_request(srv: LocalServer, client, agent_id: str, env_id: str) -> tuple[float, str]:  # type: ignore[no-untyped-def]
    sid = client.beta.sessions.create(agent=agent_id, environment_id=env_id).id
    with client.beta.sessions.events.stream(sid) as stream:
        t0 = time.perf_counter()
        client.beta.sessions.events.send(sid, events=[user_message("go")])
        for event in stream:
            if event.type == "span.model_request_start":
                took = (time.perf_counter() - t0) * 1000
            if event.type == "session.status_idle":
                break
    return took, sid


def _server_side(state_dir: Path, session_ids: list[str]) -> list[float]:
    out = []
    with Store(state_dir / "nb_agents.sqlite3") as store:
        for sid in session_ids:
            events = store.read(sid)
            sent = next(e for e in events if e.type == "user.message")
            start = next(e for e in events if e.type == "span.model_request_start")
            out.append((parse_time(start.created_at or "") - parse_time(sent.created_at or "")).total_seconds() * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=12)
    args = parser.parse_args()
    model, url = _model_server(20)
    results: dict[str, list[float]] = {}
    inside: dict[str, list[float]] = {}
    servers: dict[str, tuple[LocalServer, str, str, list[str]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for mode, eager in (("lazy", "0"), ("eager", "1")):
                env = {"NB_AGENTS_SANDBOX": "docker", "NB_AGENTS_SANDBOX_EAGER": eager}
                srv = LocalServer(Path(tmp) / mode, url, extra_env=env).start()
                agent_id, env_id = setup_agent(srv.client())
                servers[mode] = (srv, agent_id, env_id, [])
                results[mode] = []
            for i in range(args.sessions + 1):
                for mode in ("lazy", "eager") if i % 2 else ("eager", "lazy"):
                    srv, agent_id, env_id, ids = servers[mode]
                    took, sid = _first_request(srv, srv.client(), agent_id, env_id)
                    if i:  # the first round warms both servers up
                        results[mode].append(took)
                        ids.append(sid)
                    srv.client().beta.sessions.archive(sid)  # removes the container again
            for mode, (srv, _, _, ids) in servers.items():
                inside[mode] = _server_side(srv.state_dir, ids)
        finally:
            for srv, *_ in servers.values():
                srv.stop()
            model.communicate("")
    print(f"send -> first span.model_request_start on a cold Docker sandbox ({args.sessions} sessions each)")
    for mode in ("lazy", "eager"):
        r, s = results[mode], inside[mode]
        print(
            f"  {mode:<6} client-observed P50 {_pct(r, 0.5):7.1f} ms  P95 {_pct(r, 0.95):7.1f} ms"
            f"   inside the server P50 {_pct(s, 0.5):7.1f} ms  P95 {_pct(s, 0.95):7.1f} ms"
        )
    saved = _pct(results["eager"], 0.5) - _pct(results["lazy"], 0.5)
    print(f"  the lazy start keeps the container start ({saved:.0f} ms at P50) off the first model request")


if __name__ == "__main__":
    main()
