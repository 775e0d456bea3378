"""Parts shared by agents and environments: metadata, local settings in metadata, text fields."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nb_agents.errors import SpecError
from nb_agents.spec._errors_help import Path, Source, describe, expect_mapping, expect_str

LOCAL_METADATA_KEY = "nb_agents.local"
"""Metadata key that carries ``local:`` settings (compact JSON) in ``to_params(target="local")``."""

MAX_METADATA_PAIRS = 16


def parse_metadata(src: Source, path: Path, value: Any) -> tuple[dict[str, str], Any]:
    """Check ``metadata`` (≤16 pairs, keys ≤64 and values ≤512 characters, all strings).

    Returns:
        The metadata without :data:`LOCAL_METADATA_KEY`, and that key's decoded JSON (or ``None``).
    """
    if value is None:
        return {}, None
    mapping = expect_mapping(src, path, value, "a mapping of string keys to string values")
    out: dict[str, str] = {}
    local: Any = None
    for key, item in mapping.items():
        at = (*path, str(key))
        if not isinstance(key, str) or not 1 <= len(key) <= 64:
            raise src.error(at, f"metadata keys must be strings of 1 to 64 characters, got {describe(key)}")
        if not isinstance(item, str):
            raise src.error(at, f"metadata values must be strings (quote it), got {describe(item)}")
        if len(item) > 512:
            raise src.error(at, f"metadata values must be at most 512 characters, got {len(item)}")
        if key == LOCAL_METADATA_KEY:
            try:
                local = json.loads(item)
            except ValueError as exc:
                raise src.error(at, f"must be a JSON object of local settings ({exc})") from None
            if local is None:
                raise src.error(at, "must be a JSON object of local settings, got null")
        else:
            out[key] = item
    if len(out) > MAX_METADATA_PAIRS:
        raise src.error(path, f"at most {MAX_METADATA_PAIRS} metadata pairs are allowed, got {len(out)}")
    return out, local


def merge_local(src: Source, path: Path, local: Any, from_metadata: Any) -> Any:
    """The raw ``local:`` value, from the ``local`` key or from metadata (not both)."""
    if local is not None and from_metadata is not None:
        raise src.error(path, f"local settings are given twice: in 'local' and in metadata '{LOCAL_METADATA_KEY}'")
    return local if local is not None else from_metadata


def embed_local(metadata: Mapping[str, str], local: Mapping[str, Any]) -> dict[str, str]:
    """``metadata`` plus the local settings as compact JSON under :data:`LOCAL_METADATA_KEY`.

    Raises:
        SpecError: There is no metadata slot left, or the JSON is longer than 512 characters.
    """
    out = dict(metadata)
    if not local:
        return out
    text = json.dumps(dict(local), separators=(",", ":"), sort_keys=True)
    if len(out) >= MAX_METADATA_PAIRS:
        raise SpecError(
            f"metadata has {len(out)} pairs; the local settings need one more ('{LOCAL_METADATA_KEY}')",
            key="metadata",
        )
    if len(text) > 512:
        raise SpecError(f"local settings are {len(text)} characters as JSON; at most 512 fit", key="local")
    out[LOCAL_METADATA_KEY] = text
    return out


def opt_text(src: Source, path: Path, value: Any, max_len: int) -> str | None:
    """An optional free-text field (``description``, ``system``); empty text is kept."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise src.error(path, f"must be a string, got {describe(value)}")
    if len(value) > max_len:
        raise src.error(path, f"must be at most {max_len} characters, got {len(value)}")
    return value


def parse_name(src: Source, data: Mapping[str, Any]) -> str:
    """The required ``name``."""
    if data.get("name") is None:
        raise src.error(("name",), "missing required key 'name'")
    return expect_str(src, ("name",), data["name"])


def reject_unsupported(src: Source, data: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
    """Reject API fields nb_agents does not model; null, empty and default values pass.

    Args:
        src: Where the data came from.
        data: The top-level mapping.
        fields: Each unsupported field and the one non-empty value that means "default".
    """
    for key, default in fields.items():
        value = data.get(key)
        if value in (None, [], {}, "") or (default is not None and value == default):
            continue
        raise src.error((key,), f"'{key}' is a Managed Agents field that nb_agents does not support yet")


def target_metadata(metadata: dict[str, str], local: dict[str, Any], target: str) -> dict[str, str]:
    """The metadata to send: ``local`` settings are embedded only for ``target="local"``."""
    if target == "hosted":
        return dict(metadata)
    if target == "local":
        return embed_local(metadata, local)
    raise SpecError(f"target must be 'hosted' or 'local', got {target!r}")
