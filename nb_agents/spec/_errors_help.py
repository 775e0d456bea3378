"""Checking helpers shared by the spec parsers: key paths, YAML lines and helpful messages.

A definition is parsed from plain Python data (what YAML or a params dict holds). Every value is
addressed by a *path* (``("tools", 1, "name")``); a :class:`Source` maps paths to YAML lines, so one
parser gives line numbers for YAML input and key paths for params input.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from nb_agents.errors import SpecError

Path: TypeAlias = "tuple[str | int, ...]"


def render_path(path: Path) -> str:
    """Render a path as the dotted key users see: ``tools[1].name``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


class Source:
    """Where a definition came from: the YAML line of each key path (empty for params input)."""

    def __init__(self, lines: Mapping[Path, int] | None = None) -> None:
        self.lines: dict[Path, int] = dict(lines or {})

    def line(self, path: Path) -> int | None:
        """The YAML line of ``path``, or of its nearest ancestor that has one."""
        while path not in self.lines:
            if not path:
                return None
            path = path[:-1]
        return self.lines[path]

    def error(self, path: Path, message: str) -> SpecError:
        """A ``SpecError`` for ``path``, naming the key and, for YAML input, the line."""
        return SpecError(message, key=render_path(path) or None, line=self.line(path))


def describe(value: Any) -> str:
    """A short description of a value for error messages: ``5 (an integer)``, ``a list``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int):
        return f"{value} (an integer)"
    if isinstance(value, float):
        return f"{value} (a number)"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"'{shown}' (a string)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def suggest(word: str, options: Iterable[str]) -> str:
    """`` — did you mean 'x'?`` when ``word`` is close to one of ``options``, else ``""``."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""


def check_keys(src: Source, path: Path, mapping: Mapping[Any, Any], allowed: Iterable[str]) -> None:
    """Reject non-string keys and keys outside ``allowed`` (with a did-you-mean hint)."""
    allowed = tuple(allowed)
    for key in mapping:
        if not isinstance(key, str):
            raise src.error(path, f"keys must be strings, got {describe(key)}")
        if key not in allowed:
            raise src.error(
                (*path, key),
                f"unknown key '{key}'{suggest(key, allowed) or '.'} Allowed keys: {', '.join(allowed)}",
            )


def require(src: Source, path: Path, mapping: Mapping[str, Any], key: str) -> Any:
    """The value of a required key; a missing or null one is an error."""
    value = mapping.get(key)
    if value is None:
        raise src.error((*path, key), f"missing required key '{key}'")
    return value


def choice(src: Source, path: Path, value: Any, allowed: Iterable[str], what: str) -> str:
    """``value`` if it is one of ``allowed``, else an error listing them."""
    allowed = tuple(allowed)
    if isinstance(value, str) and value in allowed:
        return value
    hint = (suggest(value, allowed) if isinstance(value, str) else "") or "."
    shown = f"'{value}'" if isinstance(value, str) else describe(value)
    raise src.error(path, f"unknown {what} {shown}{hint} Allowed: {', '.join(allowed)}")


def expect_mapping(src: Source, path: Path, value: Any, what: str = "a mapping") -> Mapping[str, Any]:
    """``value`` if it is a mapping, else a type error."""
    if not isinstance(value, Mapping):
        raise src.error(path, f"must be {what}, got {describe(value)}")
    return value


def expect_list(src: Source, path: Path, value: Any, what: str = "a list") -> list[Any]:
    """``value`` as a list if it is a list or tuple, else a type error."""
    if not isinstance(value, list | tuple):
        raise src.error(path, f"must be {what}, got {describe(value)}")
    return list(value)


def expect_str(src: Source, path: Path, value: Any, *, max_len: int | None = None) -> str:
    """``value`` if it is a non-empty string (of at most ``max_len`` characters)."""
    if not isinstance(value, str):
        raise src.error(path, f"must be a string, got {describe(value)}")
    if not value.strip():
        raise src.error(path, "must not be empty")
    if max_len is not None and len(value) > max_len:
        raise src.error(path, f"must be at most {max_len} characters, got {len(value)}")
    return value


def expect_str_list(src: Source, path: Path, value: Any, what: str = "a list of strings") -> list[str]:
    """``value`` as a list of non-empty strings; null is an empty list."""
    if value is None:
        return []
    items = expect_list(src, path, value, what)
    return [expect_str(src, (*path, i), item) for i, item in enumerate(items)]


def expect_bool(src: Source, path: Path, value: Any) -> bool:
    """``value`` if it is ``true`` or ``false``."""
    if not isinstance(value, bool):
        raise src.error(path, f"must be true or false, got {describe(value)}")
    return value


def opt_bool(src: Source, path: Path, value: Any) -> bool | None:
    """Like :func:`expect_bool`, but null stays ``None``."""
    return None if value is None else expect_bool(src, path, value)


def expect_int(src: Source, path: Path, value: Any, *, minimum: int = 1) -> int:
    """``value`` if it is an integer of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise src.error(path, f"must be an integer, got {describe(value)}")
    if value < minimum:
        raise src.error(path, f"must be at least {minimum}, got {value}")
    return value


def expect_positive_number(src: Source, path: Path, value: Any, unit: str) -> float:
    """``value`` if it is a number above zero (``unit`` names it in the message)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise src.error(path, f"must be a number of {unit}, got {describe(value)}")
    if not value > 0 or value != value or value == float("inf"):
        raise src.error(path, f"must be a positive number of {unit}, got {value}")
    return value
