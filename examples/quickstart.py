"""Quickstart: one agent session on the local runtime, offline, through the official SDK.

Starts (or reuses) the local ``nb-agents serve`` in the background, defines an environment and
an agent whose brain is a recorded replay file (no API key needed), runs a session whose tools
run for real in the sandbox, approves the one ``always_ask`` call, and prints the event log.

    scripts/quickstart                # or: .venv/bin/python examples/quickstart.py
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from nb_agents.client import local_runtime
from nb_agents.spec import AgentSpec, EnvironmentSpec

HERE = Path(__file__).resolve().parent
REPLAY = HERE.parent / "notebooks" / "data" / "quickstart.jsonl"

AGENT = f"""
name: analyst
model: replay:{REPLAY}
system: You are a careful data analyst. Use the workspace.
tools: [bash, read, write, glob]
permissions:
  bash: always_ask
"""

ENVIRONMENT = """
name: quickstart
networking: none
"""


def _show(event: object) -> None:
    kind = getattr(event, "type", "?")
    if kind == "agent.message":
        print(f"  {kind:<26} {event.content[0].text}")  # type: ignore[attr-defined]
    elif kind == "agent.tool_use":
        command = event.input.get("command") or event.input.get("file_path")  # type: ignore[attr-defined]
        first = str(command).splitlines()[0]
        print(f"  {kind:<26} {event.name} [{event.evaluated_permission}] {first}")  # type: ignore[attr-defined]
    elif kind == "agent.tool_result":
        text = event.content[0].text if event.content else ""  # type: ignore[attr-defined]
        print(f"  {kind:<26} " + textwrap.indent(text.strip(), " " * 29).lstrip())
    elif kind == "session.status_idle":
        print(f"  {kind:<26} stop_reason={event.stop_reason.type}")  # type: ignore[attr-defined]
    elif not kind.startswith("user.") or getattr(event, "processed_at", None) is None:
        print(f"  {kind}")


def main() -> None:
    import anthropic

    runtime = local_runtime()
    print(f"local runtime: {runtime.url} (state in {runtime.home})")
    client = anthropic.Anthropic(base_url=runtime.url, api_key=runtime.api_key)
    env_params = EnvironmentSpec.from_yaml(ENVIRONMENT).to_params(target="local")
    env = next((e for e in client.beta.environments.list() if e.name == env_params["name"]), None)
    if env is None:
        env = client.beta.environments.create(**env_params)
    agent = client.beta.agents.create(**AgentSpec.from_yaml(AGENT).to_params())  # type: ignore[arg-type]
    session = client.beta.sessions.create(agent=agent.id, environment_id=env.id, title="quickstart")
    print(f"session {session.id}\n")

    message = {"type": "user.message", "content": [{"type": "text", "text": "Which region sells most?"}]}
    pending: list[dict[str, object]] = [message]
    while pending:
        with client.beta.sessions.events.stream(session.id) as stream:
            client.beta.sessions.events.send(session.id, events=pending)  # type: ignore[arg-type]
            pending = []
            for event in stream:
                _show(event)
                if event.type == "session.status_idle":
                    if event.stop_reason.type == "requires_action":
                        print("  -> approving the bash call (always_ask)")
                        for event_id in event.stop_reason.event_ids:
                            pending.append(
                                {"type": "user.tool_confirmation", "tool_use_id": event_id, "result": "allow"}
                            )
                    break

    done = client.beta.sessions.retrieve(session.id)
    events = list(client.beta.sessions.events.list(session.id))
    print(f"\n{len(events)} events stored; status {done.status}; workspace {runtime.home / 'workspaces' / session.id}")
    archived = client.beta.sessions.archive(session.id)
    print(f"archived at {archived.archived_at:%H:%M:%S}; the local runtime keeps running (pid {runtime.pid})")


if __name__ == "__main__":
    main()
