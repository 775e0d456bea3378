"""Options of the server-side ``web_fetch`` and ``web_search`` tools (checked, kept in API form)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from nb_agents.spec._errors_help import (
    Path,
    Source,
    check_keys,
    choice,
    expect_int,
    expect_list,
    expect_mapping,
    expect_str,
    expect_str_list,
    require,
)

WEB_OPTIONS: dict[str, tuple[str, ...]] = {
    "web_fetch": ("allowed_domains", "blocked_domains", "max_content_tokens", "url_sources"),
    "web_search": ("allowed_domains", "blocked_domains", "user_location"),
}
_URL_SOURCE_KEYS = ("user_input", "client_tool_results", "server_tool_results")
_LOCATION_KEYS = ("type", "city", "region", "country", "timezone")


def parse_web_options(src: Source, path: Path, tool: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Check the options of a web tool; returns them without null values.

    ``options`` holds only keys of ``WEB_OPTIONS[tool]`` (the caller has checked the keys).
    """
    out: dict[str, Any] = {}
    for key, value in options.items():
        if value is None:
            continue
        at = (*path, key)
        if key in ("allowed_domains", "blocked_domains"):
            domains = expect_str_list(src, at, value, "a list of host names")
            if not 1 <= len(domains) <= 64:
                raise src.error(at, f"must list 1 to 64 domains (omit the key instead), got {len(domains)}")
            for i, domain in enumerate(domains):
                if "://" in domain or any(c.isspace() for c in domain):
                    raise src.error((*at, i), f"must be a plain host name like 'docs.python.org', got '{domain}'")
            out[key] = domains
        elif key == "max_content_tokens":
            out[key] = expect_int(src, at, value)
        elif key == "url_sources":
            out[key] = _url_sources(src, at, value)
        else:
            out[key] = _user_location(src, at, value)
    if "allowed_domains" in out and "blocked_domains" in out:
        raise src.error(path, f"{tool}: give allowed_domains or blocked_domains, not both")
    return out


def _url_sources(src: Source, path: Path, value: Any) -> dict[str, Any]:
    mapping = expect_mapping(src, path, value)
    check_keys(src, path, mapping, _URL_SOURCE_KEYS)
    out: dict[str, Any] = {}
    for key, item in mapping.items():
        if item is None:
            continue
        at = (*path, key)
        kinds = ("all", "none") if key == "user_input" else ("all", "none", "only", "except")
        kind = item.get("type") if isinstance(item, Mapping) else item
        kind = choice(src, at, kind, kinds, "URL source")
        if isinstance(item, Mapping):
            check_keys(src, at, item, ("type", "tools") if kind in ("only", "except") else ("type",))
        if kind in ("only", "except"):
            if not isinstance(item, Mapping):
                raise src.error(at, f"'{kind}' needs the mapping form {{type: {kind}, tools: [...]}}")
            tools = expect_list(src, (*at, "tools"), require(src, at, item, "tools"))
            if not 1 <= len(tools) <= 128:
                raise src.error((*at, "tools"), f"must list 1 to 128 tools, got {len(tools)}")
            for i, ref in enumerate(tools):
                ref_at = (*at, "tools", i)
                ref = expect_mapping(src, ref_at, ref, "a mapping {type: tool_reference, name: ...}")
                check_keys(src, ref_at, ref, ("type", "name"))
                choice(src, (*ref_at, "type"), require(src, ref_at, ref, "type"), ("tool_reference",), "type")
                expect_str(src, (*ref_at, "name"), require(src, ref_at, ref, "name"))
        out[key] = copy.deepcopy(item)
    resolved = resolve_url_sources(out)
    if all(resolved.get(k) == {"type": "none"} for k in _URL_SOURCE_KEYS):
        raise src.error(path, "setting all three URL sources to 'none' is rejected; remove web_fetch instead")
    return out


def _user_location(src: Source, path: Path, value: Any) -> dict[str, Any]:
    mapping = expect_mapping(src, path, value, "a mapping {type: approximate, city?, region?, country?, ...}")
    check_keys(src, path, mapping, _LOCATION_KEYS)
    choice(src, (*path, "type"), require(src, path, mapping, "type"), ("approximate",), "location type")
    out: dict[str, Any] = {}
    for key, item in mapping.items():
        if item is not None:
            out[key] = expect_str(src, (*path, key), item)
    return out


def resolve_url_sources(url_sources: Mapping[str, Any]) -> dict[str, Any]:
    """The response form of ``url_sources``: shorthand strings become ``{type: ...}`` objects."""
    return {k: ({"type": v} if isinstance(v, str) else copy.deepcopy(v)) for k, v in url_sources.items()}
