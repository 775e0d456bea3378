"""Parts of an environment: networking, packages and local settings (types and parsing)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from nb_agents.spec._errors_help import (
    Path,
    Source,
    check_keys,
    choice,
    describe,
    expect_int,
    expect_mapping,
    expect_positive_number,
    expect_str,
    expect_str_list,
    opt_bool,
    suggest,
)

PACKAGE_MANAGERS = ("apt", "cargo", "gem", "go", "npm", "pip")
NET_HELP = "none, unrestricted, {limited: [host, ...]}, or {type: limited, allowed_hosts: [...], ...}"
_MEMORY = re.compile(r"(\d+(?:\.\d+)?) ?([kmgt]?)i?b?", re.IGNORECASE)


@dataclass(frozen=True)
class Networking:
    """Network access of the sandbox: ``unrestricted``, or ``limited`` to some hosts."""

    type: Literal["limited", "unrestricted"] = "limited"
    allowed_hosts: tuple[str, ...] = ()
    allow_package_managers: bool = False
    allow_mcp_servers: bool = False

    def to_params(self) -> dict[str, Any]:
        """The API form (``limited`` always lists all its fields)."""
        if self.type == "unrestricted":
            return {"type": "unrestricted"}
        return {
            "type": "limited",
            "allowed_hosts": list(self.allowed_hosts),
            "allow_package_managers": self.allow_package_managers,
            "allow_mcp_servers": self.allow_mcp_servers,
        }


@dataclass(frozen=True)
class Packages:
    """Packages to install, per package manager (``pkg==1.0`` style; unversioned means latest)."""

    apt: tuple[str, ...] = ()
    cargo: tuple[str, ...] = ()
    gem: tuple[str, ...] = ()
    go: tuple[str, ...] = ()
    npm: tuple[str, ...] = ()
    pip: tuple[str, ...] = ()

    def to_params(self) -> dict[str, Any]:
        """The API form, listing only the managers that have packages."""
        lists = {name: list(getattr(self, name)) for name in PACKAGE_MANAGERS if getattr(self, name)}
        return {"type": "packages", **lists}


@dataclass(frozen=True)
class LocalSettings:
    """Environment settings only the local runtime reads (the hosted API never sees them).

    Attributes:
        image: Docker image of the sandbox container.
        cpu: CPU cores (may be fractional).
        memory: Memory limit in Docker's notation (``"512m"``, ``"2g"``).
        pids: Maximum number of processes in the container.
        disk: Size limit of the container's file system (``"10g"``), where the Docker storage
            driver supports one.
        idle_timeout: Seconds an idle session's container is kept before it is stopped.
    """

    image: str | None = None
    cpu: float | None = None
    memory: str | None = None
    pids: int | None = None
    idle_timeout: float | None = None
    disk: str | None = None

    @property
    def memory_bytes(self) -> int | None:
        """:attr:`memory` in bytes, or ``None`` when not set."""
        return None if self.memory is None else memory_bytes(self.memory)

    @property
    def disk_bytes(self) -> int | None:
        """:attr:`disk` in bytes, or ``None`` when not set."""
        return None if self.disk is None else memory_bytes(self.disk)

    def to_dict(self) -> dict[str, Any]:
        """The settings that are set, as plain data."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def memory_bytes(text: str) -> int | None:
    """Bytes in a Docker memory size (``"512m"``, ``"2g"``, ``"1.5GiB"``), or ``None`` if invalid."""
    match = _MEMORY.fullmatch(text.strip())
    if match is None:
        return None
    return int(float(match[1]) * 1024 ** " kmgt".index(match[2].lower() or " "))


def networking_yaml(net: Networking) -> Any:
    """The shortest YAML form of ``net``: ``none``, ``unrestricted`` or ``{limited: [...], ...}``."""
    if net.type == "unrestricted":
        return "unrestricted"
    if not (net.allowed_hosts or net.allow_package_managers or net.allow_mcp_servers):
        return "none"
    out: dict[str, Any] = {"limited": list(net.allowed_hosts)}
    out.update({k: True for k in ("allow_package_managers", "allow_mcp_servers") if getattr(net, k)})
    return out


def parse_networking(src: Source, path: Path, value: Any) -> Networking:
    """Networking from ``none``/``unrestricted``, ``{limited: [...]}`` or the API form."""
    if isinstance(value, str):
        if value in ("none", "limited", "unrestricted"):
            return Networking("unrestricted" if value == "unrestricted" else "limited")
        hint = suggest(value, ("none", "unrestricted")) or "."
        raise src.error(path, f"unknown networking '{value}'{hint} Allowed: {NET_HELP}")
    if not isinstance(value, Mapping):
        raise src.error(path, f"must be {NET_HELP}; got {describe(value)}")
    flags = ("allow_package_managers", "allow_mcp_servers")
    check_keys(src, path, value, ("type", "limited", "allowed_hosts", *flags))
    if value.get("type") == "unrestricted":
        check_keys(src, path, value, ("type",))
        return Networking("unrestricted")
    if "type" in value:
        choice(src, (*path, "type"), value["type"], ("limited", "unrestricted"), "networking type")
        check_keys(src, path, value, ("type", "allowed_hosts", *flags))
        hosts_key = "allowed_hosts"
    elif "limited" in value:
        check_keys(src, path, value, ("limited", *flags))
        hosts_key = "limited"
    else:
        raise src.error(path, f"must be {NET_HELP}")
    hosts = expect_str_list(src, (*path, hosts_key), value.get(hosts_key), "a list of host names")
    for i, host in enumerate(hosts):
        if "://" in host or "/" in host or any(c.isspace() for c in host):
            raise src.error((*path, hosts_key, i), f"must be a host name like 'pypi.org', got '{host}'")
    allow = [opt_bool(src, (*path, flag), value.get(flag)) is True for flag in flags]
    return Networking("limited", tuple(hosts), allow[0], allow[1])


def parse_packages(src: Source, path: Path, value: Any) -> Packages | None:
    """Packages per manager; ``None`` when no manager lists any package."""
    what = f"a mapping of package manager ({', '.join(PACKAGE_MANAGERS)}) to a list of packages"
    mapping = expect_mapping(src, path, value, what)
    check_keys(src, path, mapping, ("type", *PACKAGE_MANAGERS))
    if mapping.get("type") is not None:
        choice(src, (*path, "type"), mapping["type"], ("packages",), "packages type")
    lists = {
        name: tuple(expect_str_list(src, (*path, name), mapping.get(name), "a list of packages like 'pandas==2.2'"))
        for name in PACKAGE_MANAGERS
    }
    return Packages(**lists) if any(lists.values()) else None


def parse_local(src: Source, path: Path, value: Any) -> LocalSettings:
    """The ``local:`` settings of an environment (all optional)."""
    if value is None:
        return LocalSettings()
    mapping = expect_mapping(src, path, value, "a mapping of local runtime settings")
    check_keys(src, path, mapping, [f.name for f in fields(LocalSettings)])
    out: dict[str, Any] = {}
    for key, item in mapping.items():
        at = (*path, key)
        if item is None:
            continue
        if key == "image":
            out[key] = expect_str(src, at, item)
        elif key == "cpu":
            out[key] = expect_positive_number(src, at, item, "CPU cores")
        elif key == "idle_timeout":
            out[key] = expect_positive_number(src, at, item, "seconds")
        elif key == "pids":
            out[key] = expect_int(src, at, item)
        elif key == "disk":
            out[key] = _memory(src, at, item, "a disk size", 64)
        else:
            out[key] = _memory(src, at, item, "a memory size", 6)
    return LocalSettings(**out)


def _memory(src: Source, path: Path, value: Any, what: str, minimum_mib: int) -> str:
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else None
    size = None if text is None else memory_bytes(text)
    if text is None or size is None:
        shown = f"'{value}'" if isinstance(value, str) else describe(value)
        raise src.error(path, f"{shown} is not {what}; use a number with k, m or g, e.g. '512m' or '2g'")
    if size < minimum_mib * 1024**2:
        raise src.error(path, f"must be at least {minimum_mib}m, got '{text}'")
    return text
