"""The run configuration: one typed object, readable from TOML, overridable from the CLI.

Each model has its own typed config class (STYLE 1); the run config names the models and carries
per-model overrides (`[models.NAME]` sections), which that model's config class validates when the
run config is built, so a misspelt model or option fails at parse time. Checking a section imports
that model's module (the registries map names to classes; no model module imports torch at import time).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from whyrec.errors import ConfigError
from whyrec.explain.registry import DEFAULT_REASONER, REASONERS, get_reasoner_class
from whyrec.recommend.registry import DEFAULT_RECOMMENDER, RECOMMENDERS, get_recommender_class

if TYPE_CHECKING:
    from whyrec.explain.base import ReasonerConfig
    from whyrec.recommend.base import RecommenderConfig


def _registered(registry: dict[str, str], kind: str, optional: bool = False) -> AfterValidator:
    """A validator that accepts only the names in `registry` (a model registry of `kind`), and "" (none) if `optional`."""

    def check(name: str) -> str:
        if name not in registry and not (optional and name == ""):
            known = ", ".join(sorted(registry))
            raise PydanticCustomError(
                "unknown_model", "unknown {kind} '{name}'; known: {known}", {"kind": kind, "name": name, "known": known}
            )
        return name

    return AfterValidator(check)


RecommenderName = Annotated[str, _registered(RECOMMENDERS, "recommender")]
ReasonerName = Annotated[str, _registered(REASONERS, "reasoner", optional=True)]


def _first_error(exc: ValidationError, prefix: tuple[str, ...] = ()) -> str:
    """`field 'a.b': message` for the first error of `exc`, its location under `prefix`."""
    first = exc.errors()[0]
    field = ".".join(str(x) for x in (*prefix, *first["loc"]))
    return f"field '{field}': {first['msg']}"


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
    recommender: RecommenderName = DEFAULT_RECOMMENDER  # a name in whyrec.recommend.registry.RECOMMENDERS
    reasoner: ReasonerName = DEFAULT_REASONER  # a name in whyrec.explain.registry.REASONERS; "" = none
    split_protocol: Literal["leave-last-out", "temporal", "ratio"] = "leave-last-out"  # used when no --split is given
    models: dict[
        str, dict[str, Any]
    ] = {}  # per-model overrides as written, e.g. {"sasrec": {"epochs": 50}}; read with config_for
    experiment: Experiment | None = None  # an A/B test served alongside this run's models

    @model_validator(mode="after")
    def _sections_fit_their_models(self) -> RunConfig:
        """Each section names a registered model and fits its config class; raises ConfigError, whose message names the nested field."""
        for name in self.models:
            self.config_for(name)
        return self

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
            raise ConfigError(f"{source}: {_first_error(exc)}") from exc
        except ConfigError as exc:  # a [models.NAME] section, checked by its model's config class
            raise ConfigError(f"{source}: {exc}") from exc

    def overridden(self, **changes: Any) -> RunConfig:
        """A copy with the non-None CLI overrides applied, re-validated."""
        data = self.model_dump()
        data.update({k: v for k, v in changes.items() if v is not None})
        return self.parse(data, source="command line")

    def config_for(self, name: str) -> RecommenderConfig | ReasonerConfig:
        """Model `name`'s typed config: its `[models.NAME]` section over the class defaults, with the run's seed unless the section sets one."""
        if name in RECOMMENDERS:
            config_class = get_recommender_class(name).config_class
        elif name in REASONERS:
            config_class = get_reasoner_class(name).config_class
        else:
            raise ConfigError(f"models.{name}: unknown model; known: {', '.join(sorted({*RECOMMENDERS, *REASONERS}))}")
        try:
            return config_class.model_validate({"seed": self.seed, **self.models.get(name, {})})
        except ValidationError as exc:
            raise ConfigError(_first_error(exc, prefix=("models", name))) from exc
