"""The run configuration: one typed object, readable from TOML, overridable from the CLI.

Each model has its own typed config class (STYLE 1); the run config only names the model
and carries per-model overrides, which that model's config class validates.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from whyrec.errors import ConfigError


class RunConfig(BaseModel):
    """Everything `whyrec train` needs besides the data."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 42  # seeds splits, model init and sampling
    recommender: str = "sasrec"  # a name in whyrec.recommend.registry.RECOMMENDERS
    reasoner: str = "template"  # a name in whyrec.explain.registry.REASONERS
    split_protocol: Literal["leave-last-out", "temporal", "ratio"] = "leave-last-out"  # used when no --split is given
    models: dict[str, dict[str, Any]] = {}  # per-model overrides, e.g. {"sasrec": {"epochs": 50}}

    @classmethod
    def from_toml(cls, path: str | Path) -> RunConfig:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{p}: config file not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: invalid TOML: {exc}") from exc
        return cls.parse(data, source=str(p))

    @classmethod
    def parse(cls, data: dict[str, Any], source: str = "config") -> RunConfig:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(x) for x in first["loc"])
            raise ConfigError(f"{source}: field '{field}': {first['msg']}") from exc

    def overridden(self, **changes: Any) -> RunConfig:
        """A copy with the non-None CLI overrides applied, re-validated."""
        data = self.model_dump()
        data.update({k: v for k, v in changes.items() if v is not None})
        return self.parse(data, source="command line")

    def model_options(self, name: str) -> dict[str, Any]:
        return dict(self.models.get(name, {}))
