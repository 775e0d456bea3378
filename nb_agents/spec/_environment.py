"""Environment definitions: :class:`EnvironmentSpec`."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from nb_agents.spec._common import (
    LOCAL_METADATA_KEY,
    merge_local,
    opt_text,
    parse_metadata,
    parse_name,
    target_metadata,
)
from nb_agents.spec._env_parts import (
    LocalSettings,
    Networking,
    Packages,
    networking_yaml,
    parse_local,
    parse_networking,
    parse_packages,
)
from nb_agents.spec._errors_help import Path, Source, check_keys, choice, describe, expect_mapping, require
from nb_agents.spec._yaml import dump_yaml, load_yaml

_KEYS = ("name", "description", "config", "networking", "packages", "scope", "metadata", "local")


@dataclass(frozen=True)
class EnvironmentSpec:
    """An environment definition: what ``client.beta.environments.create(...)`` takes.

    Build one with :meth:`from_yaml` or :meth:`from_params`, which check everything; the
    constructor itself does not validate. ``networking``/``packages`` imply ``config_type="cloud"``.

    Attributes:
        name: Environment name (required; unique per organization on the hosted API).
        description: What the environment is for.
        config_type: ``"cloud"``, ``"self_hosted"``, or ``None`` when no config was given.
        networking: Network access; ``None`` when not set (the local runtime then allows none,
            see :attr:`effective_networking`).
        packages: Packages to install, or ``None``.
        scope: ``"organization"`` or ``"account"``, or ``None``.
        metadata: Up to 16 string pairs.
        local: Settings only the local runtime reads.
    """

    name: str
    description: str | None = None
    config_type: Literal["cloud", "self_hosted"] | None = None
    networking: Networking | None = None
    packages: Packages | None = None
    scope: Literal["organization", "account"] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    local: LocalSettings = field(default_factory=LocalSettings)

    def __post_init__(self) -> None:
        if self.config_type is None and (self.networking is not None or self.packages is not None):
            object.__setattr__(self, "config_type", "cloud")

    @classmethod
    def from_yaml(cls, text: str) -> EnvironmentSpec:
        """Parse a YAML environment definition (short forms and the API form are both accepted).

        Raises:
            SpecError: The YAML is invalid or the definition is wrong; the message names the line.
        """
        data, src = load_yaml(text)
        return _parse(data, src)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> EnvironmentSpec:
        """Build from environment create params (or the same mapping the YAML holds).

        ``metadata["nb_agents.local"]`` is read back into :attr:`local` and removed from metadata.

        Raises:
            SpecError: The params are wrong; the message names the key.
        """
        return _parse(params, Source())

    def to_params(self, *, target: Literal["hosted", "local"] = "hosted") -> dict[str, Any]:
        """The environment create params, with no null values and no keys that were not set.

        Args:
            target: ``"hosted"`` for Anthropic's API; ``"local"`` also stores :attr:`local` as
                compact JSON in ``metadata["nb_agents.local"]``.

        Raises:
            SpecError: ``target="local"`` but metadata has no room for the local settings.
        """
        out: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            out["description"] = self.description
        if self.config_type is not None:
            config: dict[str, Any] = {"type": self.config_type}
            if self.networking is not None:
                config["networking"] = self.networking.to_params()
            if self.packages is not None:
                config["packages"] = self.packages.to_params()
            out["config"] = config
        if self.scope is not None:
            out["scope"] = self.scope
        metadata = target_metadata(self.metadata, self.local.to_dict(), target)
        if metadata:
            out["metadata"] = metadata
        return out

    def to_yaml(self) -> str:
        """YAML that :meth:`from_yaml` reads back to an equal spec (short forms)."""
        data: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            data["description"] = self.description
        if self.networking is not None:
            data["networking"] = networking_yaml(self.networking)
        if self.packages is not None:
            data["packages"] = {k: v for k, v in self.packages.to_params().items() if k != "type"}
        if self.config_type is not None and self.networking is None and self.packages is None:
            data["config"] = {"type": self.config_type}
        if self.scope is not None:
            data["scope"] = self.scope
        if self.metadata:
            data["metadata"] = dict(self.metadata)
        if self.local.to_dict():
            data["local"] = self.local.to_dict()
        return dump_yaml(copy.deepcopy(data))

    @property
    def effective_networking(self) -> Networking:
        """:attr:`networking`, or no network at all when it was not set (the local rule)."""
        return self.networking or Networking()


def _parse(data: Any, src: Source) -> EnvironmentSpec:
    if not isinstance(data, Mapping):
        got = describe(data)
        raise src.error((), f"an environment definition must be a mapping with a name, got {got}")
    check_keys(src, (), data, _KEYS)
    name = parse_name(src, data)
    net, pkgs = data.get("networking"), data.get("packages")
    base: Path = ()
    config_type: Literal["cloud", "self_hosted"] | None = None
    if data.get("config") is not None:
        if net is not None or pkgs is not None:
            raise src.error(("config",), "give either config: (API form) or networking:/packages:, not both")
        config = expect_mapping(src, ("config",), data["config"], "a mapping {type: cloud, networking?, ...}")
        kind = choice(
            src,
            ("config", "type"),
            require(src, ("config",), config, "type"),
            ("cloud", "self_hosted"),
            "config type",
        )
        config_type = "cloud" if kind == "cloud" else "self_hosted"
        check_keys(src, ("config",), config, ("type", "networking", "packages") if kind == "cloud" else ("type",))
        net, pkgs, base = config.get("networking"), config.get("packages"), ("config",)
    networking = None if net is None else parse_networking(src, (*base, "networking"), net)
    packages = None if pkgs is None else parse_packages(src, (*base, "packages"), pkgs)
    if packages is not None and networking is not None and not networking.allow_package_managers:
        if networking.type == "limited":
            raise src.error(
                (*base, "packages"),
                "packages need the package registries: under limited networking set "
                "allow_package_managers: true, e.g. networking: {limited: [], allow_package_managers: true}",
            )
    metadata, from_metadata = parse_metadata(src, ("metadata",), data.get("metadata"))
    local_path: Path = ("local",) if data.get("local") is not None else ("metadata", LOCAL_METADATA_KEY)
    local = parse_local(src, local_path, merge_local(src, ("local",), data.get("local"), from_metadata))
    scope: Literal["organization", "account"] | None = None
    if data.get("scope") is not None:
        kind = choice(src, ("scope",), data["scope"], ("organization", "account"), "scope")
        scope = "organization" if kind == "organization" else "account"
    return EnvironmentSpec(
        name=name,
        description=opt_text(src, ("description",), data.get("description"), 100_000),
        config_type=config_type or ("cloud" if net is not None or pkgs is not None else None),
        networking=networking,
        packages=packages,
        scope=scope,
        metadata=metadata,
        local=local,
    )
