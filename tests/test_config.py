"""RunConfig: a misspelt model or option fails when the config is read, naming it, never silently at training."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import Run, one_error_line
from whyrec.config import RunConfig
from whyrec.errors import ConfigError
from whyrec.explain.registry import REASONERS
from whyrec.explain.template import TemplateConfig
from whyrec.recommend.registry import RECOMMENDERS
from whyrec.recommend.sasrec import SASRecConfig

# (TOML a user wrote, what the one error line must say)
BAD = [
    (
        "[models.sasrc]\nepochs = 3\n",
        "models.sasrc: unknown model; known: content, itemknn, lightgcn, mf, peter, pop, prompt_lm, sasrec, template",
    ),
    ("[models.sasrec]\nepoch = 3\n", "field 'models.sasrec.epoch': Extra inputs are not permitted"),
    ('[models.sasrec]\nhidden = "big"\n', "field 'models.sasrec.hidden': Input should be a valid integer"),
    ('[models.template]\nuse_catalog = "maybe"\n', "field 'models.template.use_catalog': Input should be a valid boolean"),
    (
        'recommender = "sasrc"\n',
        "field 'recommender': unknown recommender 'sasrc'; known: content, itemknn, lightgcn, mf, pop, sasrec",
    ),
]


@pytest.mark.parametrize(("toml", "message"), BAD)
def test_bad_model_or_option_fails_at_parse_naming_it(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "run.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        RunConfig.from_toml(path)
    assert str(caught.value).startswith(f"{path}: {message}")


def test_parse_and_overrides_check_sections_too() -> None:
    with pytest.raises(ConfigError, match=r"^run.toml: field 'models.mf.factors': Input should be greater than 0"):
        RunConfig.parse({"models": {"mf": {"factors": 0}}}, source="run.toml")
    with pytest.raises(ConfigError, match=r"^command line: field 'reasoner': unknown reasoner 'nope'"):
        RunConfig().overridden(reasoner="nope")
    assert RunConfig.parse({"reasoner": ""}).reasoner == ""  # no reasoner
    with pytest.raises(ConfigError, match=r"^models.lightgnc: unknown model"):
        RunConfig().config_for("lightgnc")


def test_config_for_is_the_models_typed_config_seeded_by_the_run() -> None:
    run = RunConfig.parse({"seed": 7, "models": {"sasrec": {"epochs": 3}, "template": {"max_history": 1, "seed": 1}}})
    sasrec = run.config_for("sasrec")
    assert sasrec == SASRecConfig(seed=7, epochs=3)
    assert run.config_for("template") == TemplateConfig(seed=1, max_history=1)  # a section's own seed wins
    assert run.config_for("pop").seed == 7  # a model without a section: its defaults and the run's seed
    assert run.overridden(seed=9).config_for("sasrec") == SASRecConfig(seed=9, epochs=3)


def test_artifact_manifest_config_still_reads() -> None:
    """artifact.json stores the sections as the user wrote them; a manifest written before typed sections loads."""
    saved = {"seed": 3, "recommender": "mf", "reasoner": "template", "split_protocol": "leave-last-out",
             "models": {"mf": {"factors": 8, "iterations": 5}}, "experiment": None}  # fmt: skip
    run = RunConfig.parse(json.loads(json.dumps(saved)), source="artifact.json")
    assert run.model_dump() == saved
    assert run.config_for("mf").factors == 8 and run.config_for("mf").seed == 3


def test_model_names_are_unique_across_registries() -> None:
    """A [models.NAME] section must name one model."""
    assert not set(RECOMMENDERS) & set(REASONERS)


def test_checking_every_section_imports_no_torch() -> None:
    """Config classes come from the model modules; those must stay light so reading a config never loads torch."""
    code = (
        "import sys\nfrom whyrec.config import RunConfig\n"
        "from whyrec.explain.registry import REASONERS\nfrom whyrec.recommend.registry import RECOMMENDERS\n"
        "run = RunConfig.parse({'models': {n: {} for n in [*RECOMMENDERS, *REASONERS]}})\n"
        "[run.config_for(n) for n in run.models]\n"
        "print(sorted(m for m in ('torch', 'transformers', 'peft', 'implicit', 'sentence_transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("toml", "message"), BAD[:3])
def test_train_with_a_bad_config_is_one_error_line_and_exit_2(tmp_path: Path, cli: Run, toml: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    # The config is read before the store is opened: no store is needed to see the error.
    line = one_error_line(cli("train", "--store", tmp_path / "none.sqlite", "--config", config, "--out", tmp_path / "a"))
    assert f"{config}: {message}" in line
