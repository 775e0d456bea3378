"""What the model is offered: the built-in tools under their Managed Agents names and schemas.

The input schemas follow the SDK's ``BetaManagedAgentsAgentToolset20260401*Input`` models, so a
model that learnt the hosted tools sees the same ones here; the descriptions state the output
rules of the executor (``nb_agents/sandbox/_executor.py``), which follow the SDK's reference
``agent_toolset``. A test holds the three (these schemas, the executor's, the SDK's) together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nb_agents.spec import tool_permission

__all__ = ["BUILTIN_TOOLS", "model_tools"]


def _schema(properties: dict[str, Any], required: Sequence[str] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


_STR = {"type": "string"}

BUILTIN_TOOLS: dict[str, dict[str, Any]] = {
    "bash": {
        "description": (
            "Run a command in a persistent bash shell in the sandbox. The working directory and "
            "exported variables persist between calls; stdin is empty. The result is stdout, then "
            "stderr (stderr first when the command fails). Past 30,000 characters you get the start "
            "and the path of a file holding the whole output: read it with view_range. Set restart "
            "to true to start a fresh shell."
        ),
        "input_schema": _schema(
            {
                "command": {**_STR, "description": "The command to run."},
                "restart": {"type": "boolean", "description": "Restart the shell."},
                "timeout_ms": {
                    "type": "integer",
                    "description": "Time limit in ms (default and maximum 295000); the shell is killed after it.",
                },
            }
        ),
    },
    "read": {
        "description": (
            "Read a file from the sandbox (at most 110,000 bytes of text; images and PDFs come back "
            "as content). view_range selects 1-based lines [start, end]; an end of -1 reads to the end."
        ),
        "input_schema": _schema(
            {
                "file_path": _STR,
                "view_range": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
            },
            ["file_path"],
        ),
    },
    "write": {
        "description": "Write a file in the sandbox, replacing it; parent directories are created.",
        "input_schema": _schema({"file_path": _STR, "content": _STR}, ["file_path", "content"]),
    },
    "edit": {
        "description": (
            "Replace old_string with new_string in a file. old_string must match exactly once "
            "unless replace_all is true."
        ),
        "input_schema": _schema(
            {"file_path": _STR, "old_string": _STR, "new_string": _STR, "replace_all": {"type": "boolean"}},
            ["file_path", "old_string", "new_string"],
        ),
    },
    "glob": {
        "description": "List files matching a glob pattern such as **/*.py, newest first.",
        "input_schema": _schema({"pattern": _STR, "path": _STR}, ["pattern"]),
    },
    "grep": {
        "description": "Search file contents for a regular expression; prints path:line:text.",
        "input_schema": _schema({"pattern": _STR, "path": _STR}, ["pattern"]),
    },
}


def model_tools(resolved_tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Messages API tool definitions for an agent's resolved ``tools``.

    Enabled built-in tools come first, in a fixed order, then custom tools. Tools the local
    runtime cannot run (web_fetch, web_search, MCP toolsets) are not offered.
    """
    out: list[dict[str, Any]] = []
    for name, definition in BUILTIN_TOOLS.items():
        verdict, _ = tool_permission(list(resolved_tools), name)
        if verdict != "deny":
            out.append({"name": name, **definition})
    for tool in resolved_tools:
        if tool.get("type") == "custom":
            out.append(
                {
                    "name": tool["name"],
                    "description": tool["description"],
                    "input_schema": tool["input_schema"],
                }
            )
    return out
