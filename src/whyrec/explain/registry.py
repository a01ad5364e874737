"""Every reasoner by name: the config's `reasoner = "..."` picks one (STYLE 3).

Models import lazily so `whyrec --help` stays instant and torch loads only when a torch model is used.
The names are also those of the run config's `[models.NAME]` sections, checked by each class's `config_class`.
A saved reasoner is a folder whose `config.json` names its model ({"model": NAME, "format": N,
"config": {...}}), so `load_reasoner` can find the class without being told.
"""

from __future__ import annotations

import json
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from whyrec.errors import ArtifactError, ConfigError, NotFoundError

if TYPE_CHECKING:
    from whyrec.explain.base import Reasoner

# name -> "module:Class"; a new reasoner plugs in with one line here.
REASONERS: dict[str, str] = {
    "template": "whyrec.explain.template:TemplateReasoner",
    "peter": "whyrec.explain.peter:Peter",
    "prompt_lm": "whyrec.explain.prompt_lm:PromptLM",
}
DEFAULT_REASONER = "prompt_lm"  # the run config's default


def get_reasoner_class(name: str) -> type[Reasoner]:
    """The class registered under `name`, imported on first use."""
    try:
        target = REASONERS[name]
    except KeyError:
        raise NotFoundError(f"unknown reasoner '{name}'; known: {', '.join(sorted(REASONERS))}") from None
    module, cls = target.split(":")
    return getattr(import_module(module), cls)


def make_reasoner(name: str, options: dict[str, Any] | None = None) -> Reasoner:
    """Build a reasoner from its name and a plain dict of config fields (e.g. a TOML section)."""
    klass = get_reasoner_class(name)
    try:
        config = klass.config_class.model_validate(options or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"models.{name}: field '{field}': {first['msg']}") from exc
    return klass(config)


def load_reasoner(path: str | Path) -> Reasoner:
    """Load a saved reasoner; the class comes from the model name in its config.json."""
    d = Path(path)
    try:
        meta = json.loads((d / "config.json").read_bytes().decode("utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(f"{d}: no reasoner saved here (config.json missing)") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{d / 'config.json'}: not valid JSON: {exc}") from exc
    name = meta.get("model") if isinstance(meta, dict) else None
    if not isinstance(name, str):
        raise ArtifactError(f"{d / 'config.json'}: field 'model' missing; not a saved reasoner")
    if name not in REASONERS:
        raise ArtifactError(f"{d / 'config.json'}: unknown reasoner '{name}'; known: {', '.join(sorted(REASONERS))}")
    return get_reasoner_class(name).load(d)
