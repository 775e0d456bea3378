"""YAML in and out: load with the line of every key, dump in a readable block style."""

from __future__ import annotations

from typing import Any

import yaml

from nb_agents.errors import SpecError
from nb_agents.spec._errors_help import Path, Source, describe, render_path


def load_yaml(text: str) -> tuple[Any, Source]:
    """Parse one YAML document into plain data plus a :class:`Source` of key lines.

    Raises:
        SpecError: The text is not valid YAML (with its line), has a duplicate key, or uses a
            complex mapping key or a recursive alias.
    """
    if not isinstance(text, str):
        raise SpecError(f"expected YAML text (a str), got {describe(text)}")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Path, int] = {}
        data = None if node is None else _build(loader, node, (), lines, frozenset())
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc) from None
    except yaml.YAMLError as exc:  # pragma: no cover - every PyYAML parse error is marked
        raise SpecError(f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return data, Source(lines)


def _syntax_error(exc: yaml.MarkedYAMLError) -> SpecError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "syntax error"
    context = ""
    if exc.context and exc.problem:
        where = exc.context_mark
        started = f" started at line {where.line + 1}" if where is not None and where is not mark else ""
        context = f" ({exc.context}{started})"
    return SpecError(f"invalid YAML: {problem}{context}", line=None if mark is None else mark.line + 1)


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Path, lines: dict[Path, int], active: frozenset[int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_object(node, deep=True)
    if id(node) in active:
        raise SpecError("a YAML alias refers to a node that contains it", line=node.start_mark.line + 1)
    active = active | {id(node)}
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, child, (*path, i), lines, active) for i, child in enumerate(node.value)]
    assert isinstance(node, yaml.MappingNode)
    loader.flatten_mapping(node)
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            raise SpecError("a mapping key must be a plain value, not a list or mapping", line=line)
        key = loader.construct_object(key_node, deep=True)
        child: Path = (*path, key if isinstance(key, str) else str(key))
        if key in result:
            raise SpecError(f"duplicate key '{key}'", key=render_path(child), line=line)
        lines[child] = line
        result[key] = _build(loader, value_node, child, lines, active)
    return result


class _Dumper(yaml.SafeDumper):
    """Block style, literal ``|`` strings for multi-line text, flow style for short scalar lists."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.SequenceNode:
    short = all(isinstance(item, int | float | bool) or (isinstance(item, str) and "\n" not in item) for item in data)
    flow = bool(data) and short and sum(len(str(item)) + 2 for item in data) <= 72
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(list, _represent_list)


def dump_yaml(data: dict[str, Any]) -> str:
    """Dump plain data as YAML that :func:`load_yaml` reads back to the same data."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
