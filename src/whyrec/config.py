"""The run configuration: one typed object, readable from TOML, overridable from the CLI.

Each model has its own typed config class (STYLE 1); the run config only names the model
and carries per-model overrides, which that model's config class validates.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from whyrec.errors import ConfigError


class Arm(BaseModel):
    """One arm of an experiment: the models it serves; a field left unset keeps the run's own."""

    model_config = ConfigDict(extra="forbid")

    recommender: str | None = None  # a name in RECOMMENDERS
    reasoner: str | None = None  # a name in REASONERS


class Experiment(BaseModel):
    """An A/B experiment: users are split between named arms by a salted hash (whyrec.serve.experiment.assign)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)  # names the experiment in the store's logs
    salt: str = ""  # changing it reshuffles users; "" uses the name
    arms: dict[str, Arm] = Field(min_length=2)  # in order; the first is the control
    weights: dict[str, float] = {}  # share of users per arm (normalised); empty = equal shares
    window_s: int = Field(7 * 86_400, gt=0)  # a click or purchase counts if within this long after the exposure

    @model_validator(mode="after")
    def _weights_match_arms(self) -> Experiment:
        if self.weights:
            if set(self.weights) != set(self.arms):
                raise ValueError(f"weights must name exactly the arms {list(self.arms)}")
            if any(not (w > 0 and w < float("inf")) for w in self.weights.values()):
                raise ValueError("weights must be positive and finite")
        return self

    @property
    def control(self) -> str:
        return next(iter(self.arms))

    def shares(self) -> dict[str, float]:
        """Each arm's share of users, summing to 1, in arm order."""
        raw = {a: self.weights.get(a, 1.0) for a in self.arms}
        total = sum(raw.values())
        return {a: w / total for a, w in raw.items()}


class RunConfig(BaseModel):
    """Everything `whyrec train` needs besides the data."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 42  # seeds splits, model init and sampling
    recommender: str = "sasrec"  # a name in whyrec.recommend.registry.RECOMMENDERS
    reasoner: str = "template"  # a name in whyrec.explain.registry.REASONERS
    split_protocol: Literal["leave-last-out", "temporal", "ratio"] = "leave-last-out"  # used when no --split is given
    models: dict[str, dict[str, Any]] = {}  # per-model overrides, e.g. {"sasrec": {"epochs": 50}}
    experiment: Experiment | None = None  # an A/B test served alongside this run's models

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
