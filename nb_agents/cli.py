"""The ``nb-agents`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nb_agents._home import state_dir
from nb_agents.errors import NbAgentsError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nb-agents", description="Run and inspect nb_agents runtimes.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the Managed Agents API locally (the local runtime)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    serve.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    serve.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="state directory (default: $NB_AGENTS_HOME or ~/.nb_agents)",
    )
    serve.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="DIR",
        help="record live model responses per session into DIR (replay format)",
    )
    serve.add_argument("--log-level", default="WARNING", help="Python log level (default: WARNING)")
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests whose Host header names NAME (repeatable; '*' for any; default: loopback names)",
    )
    _server_parser(sub)
    _sandbox_parser(sub)
    return parser


def _server_parser(sub: Any) -> None:
    server = sub.add_parser(
        "server",
        help="show, stop or restart the background local server (the one notebooks start)",
        description="The background `nb-agents serve` of a state directory, which kernels start "
        "when they first need the local runtime. status: where it listens, its pid, which model "
        "credentials it holds (never their values) and its sessions; exit status 3 when none runs. "
        "stop: SIGTERM it (SIGKILL after --timeout). restart: stop it and start one with this "
        "shell's environment (e.g. after setting ANTHROPIC_API_KEY); running sessions resume.",
    )
    commands = server.add_subparsers(dest="server_command", required=True)
    for name, text in (
        ("status", "show the server and its credentials, without starting one"),
        ("stop", "stop the server"),
        ("restart", "stop the server and start one with this shell's environment"),
    ):
        cmd = commands.add_parser(name, help=text)
        cmd.add_argument(
            "--state-dir",
            type=Path,
            default=None,
            help="state directory (default: $NB_AGENTS_HOME or ~/.nb_agents)",
        )
        if name != "status":
            cmd.add_argument("--timeout", type=float, default=10.0, help="seconds to wait after SIGTERM (default 10)")
        cmd.add_argument("--log-level", default="WARNING", help=argparse.SUPPRESS)


def _server_command(command: str, home: Path, timeout: float) -> int:
    from nb_agents.client import restart_server, server_status, stop_server

    if command == "stop":
        pid = stop_server(home, timeout=timeout)
        print(f"stopped the local server (pid {pid})" if pid else f"no local server was running (state: {home})")
        return 0
    if command == "restart":
        restart_server(home, stop_timeout=timeout)
    status = server_status(home)
    print(status)
    return 0 if status.running else 3


def _sandbox_parser(sub: Any) -> None:
    sandbox = sub.add_parser("sandbox", help="list and clean up Docker sandboxes (containers and volumes)")
    commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    ls = commands.add_parser("ls", help="list every nb_agents container and workspace volume")
    clean = commands.add_parser(
        "cleanup",
        help="remove the sandboxes of sessions that no longer exist (deleted, archived or unknown)",
        description="Remove orphaned sandboxes: the containers and workspace volumes of sessions "
        "the state directory's store does not hold, or holds as archived. Only sandboxes made by "
        "a runtime of this state directory are judged; --all removes every nb_agents sandbox.",
    )
    clean.add_argument("--all", action="store_true", help="remove every nb_agents sandbox, orphaned or not")
    clean.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    for cmd in (ls, clean):
        cmd.add_argument(
            "--state-dir",
            type=Path,
            default=None,
            help="state directory (default: $NB_AGENTS_HOME or ~/.nb_agents)",
        )
        cmd.add_argument("--log-level", default="WARNING", help=argparse.SUPPRESS)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``nb-agents``; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "serve":
            from nb_agents.server import serve

            serve(
                (args.state_dir or state_dir()).expanduser(),
                host=args.host,
                port=args.port,
                record_dir=args.record,
                allowed_hosts=args.allow_host,
            )
        elif args.command == "server":
            return _server_command(
                args.server_command, (args.state_dir or state_dir()).expanduser(), getattr(args, "timeout", 10.0)
            )
        elif args.command == "sandbox":
            from nb_agents.sandbox._cli import run_sandbox_command

            return run_sandbox_command(
                args.sandbox_command,
                (args.state_dir or state_dir()).expanduser(),
                all=getattr(args, "all", False),
                dry_run=getattr(args, "dry_run", False),
            )
    except NbAgentsError as exc:
        print(f"nb-agents: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
