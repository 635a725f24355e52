"""Load (or initialise) the model to train, resize its embeddings and wrap it in a LoRA adapter.

``train.model`` takes four forms so that the same recipe runs offline on a laptop and on a GPU node:

- ``tiny-random``: ``templates_hub.tiny.TINY_MODEL_CONFIG``, a 2-layer Llama with random weights;
- a path to a model config JSON (``examples/demo/tiny_model.json``): random weights of that architecture;
- a local model directory or a Hugging Face hub id: ``AutoModelForCausalLM.from_pretrained``.

Random models are sized to the tokenizer (vocabulary, pad/bos/eos ids) and seeded, so a demo run is
reproducible.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UsageError
from .config import LoraSettings

TINY_RANDOM = "tiny-random"


@dataclass
class LoadedModel:
    """The model plus what the summary reports about it."""

    model: Any
    source: str  # "tiny-random", the config path, or the hub id / directory
    random_init: bool
    resized_from: int | None = None  # embedding rows before resize_embeddings, when resized
    trainable_params: int = 0
    total_params: int = 0
    notes: list[str] = field(default_factory=list)


def _special_ids(tokenizer: Any) -> dict[str, Any]:
    return {
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }


def _config_from_json(path: Path, tokenizer: Any) -> Any:
    from transformers import AutoConfig

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the model config: {exc}", source=str(path)) from None
    if not isinstance(data, dict) or "model_type" not in data:
        raise ConfigError(
            f"{path}: a model config JSON needs a model_type (llama, qwen2, mistral, ...)",
            problems=[("model_type", "missing")],
            source=str(path),
        )
    data = {k: v for k, v in data.items() if not k.startswith("_")}  # "_comment" keys document the file
    model_type = data.pop("model_type")
    data.setdefault("vocab_size", len(tokenizer))
    for key, value in _special_ids(tokenizer).items():
        data.setdefault(key, value)
    try:
        return AutoConfig.for_model(model_type, **data)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: invalid model config: {exc}", source=str(path)) from None


def _tiny_config(tokenizer: Any) -> Any:
    from transformers import AutoConfig

    from ..tiny import TINY_MODEL_CONFIG

    params = {k: v for k, v in TINY_MODEL_CONFIG.items() if k != "model_type"}
    return AutoConfig.for_model(
        TINY_MODEL_CONFIG["model_type"], vocab_size=len(tokenizer), tie_word_embeddings=False,
        **_special_ids(tokenizer), **params,
    )


def _is_local(spec: str) -> Path | None:
    path = Path(spec).expanduser()
    return path if path.suffix == ".json" or path.exists() else None


def model_config(spec: str, tokenizer: Any, *, kwargs: dict[str, Any] | None = None) -> tuple[Any, bool]:
    """``(config, random_init)`` for ``train.model`` without loading any weights.

    Cheap enough for ``run --dry-run``: the pre-training checks (vocabulary, positions) only need the config.
    """
    if spec == TINY_RANDOM:
        return _tiny_config(tokenizer), True
    path = _is_local(spec)
    if path is None and spec.startswith(("/", "./", "../", "~")):  # a path, not a hub id: say it is missing
        raise UsageError(f"train.model: {spec} does not exist; point train.model at a model directory, a model "
                         "config JSON (random weights), a hub id or tiny-random")
    if path is not None and path.suffix == ".json":
        if not path.is_file():
            raise UsageError(f"train.model: model config file {path} does not exist")
        return _config_from_json(path, tokenizer), True
    if path is not None and not (path / "config.json").is_file():
        raise UsageError(
            f"train.model: {path} is not a model directory (no config.json); point train.model at a saved model "
            "directory, a model config JSON (random weights) or tiny-random"
        )
    from transformers import AutoConfig

    allowed = {k: v for k, v in (kwargs or {}).items() if k in ("revision", "trust_remote_code", "token")}
    try:
        return AutoConfig.from_pretrained(str(path) if path else spec, **allowed), False
    except (OSError, ValueError) as exc:
        where = "directory" if path else "hub id"
        raise UsageError(
            f"train.model: cannot load {where} {spec!r}: {exc}\n"
            "Offline? Use a local directory, a model config JSON, or tiny-random."
        ) from None


def load_model(
    spec: str, tokenizer: Any, *, seed: int = 42, kwargs: dict[str, Any] | None = None, config: Any = None
) -> LoadedModel:
    """The causal LM named by ``spec`` (see the module docstring); UsageError when it cannot be loaded.

    Random models are initialised under ``torch.manual_seed(seed)`` so that a run is reproducible.
    """
    import torch
    from transformers import AutoModelForCausalLM

    kwargs = dict(kwargs or {})
    if config is None:
        config, random_init = model_config(spec, tokenizer, kwargs=kwargs)
    else:
        random_init = spec == TINY_RANDOM or spec.endswith(".json")
    if random_init:
        torch.manual_seed(seed)
        allowed = {k: v for k, v in kwargs.items() if k in ("dtype", "attn_implementation", "trust_remote_code")}
        return LoadedModel(AutoModelForCausalLM.from_config(config, **allowed), spec, random_init=True)
    path = _is_local(spec)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path) if path else spec, **kwargs)
    except (OSError, ValueError) as exc:
        raise UsageError(f"train.model: cannot load the weights of {spec!r}: {exc}") from None
    return LoadedModel(model, spec, random_init=False)


def resize_embeddings(loaded: LoadedModel, tokenizer: Any) -> None:
    """Grow the embedding (and output) matrices to ``len(tokenizer)``; new rows start at the mean embedding."""
    model = loaded.model
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) <= rows:
        return
    model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    loaded.resized_from = rows
    loaded.notes.append(f"embeddings resized {rows} -> {len(tokenizer)} rows")


def _embedding_module_names(model: Any) -> list[str]:
    """Qualified names (last component) of the input embedding and output head, for LoRA's modules_to_save."""
    wanted = {id(model.get_input_embeddings()), id(model.get_output_embeddings())}
    names = [name.rsplit(".", 1)[-1] for name, module in model.named_modules() if id(module) in wanted]
    return sorted(set(names))


def apply_lora(loaded: LoadedModel, settings: LoraSettings) -> None:
    """Wrap the model in a peft LoRA adapter (the base weights are frozen)."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:  # pragma: no cover - peft is in the [train] extra
        raise UsageError("train.lora needs peft: pip install 'templates-hub[train]'") from None
    modules_to_save = settings.modules_to_save
    if modules_to_save is None and loaded.resized_from is not None:
        modules_to_save = _embedding_module_names(loaded.model)
        loaded.notes.append(f"LoRA trains and saves the resized {', '.join(modules_to_save)} in full")
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        modules_to_save=modules_to_save or None,
        task_type="CAUSAL_LM",
    )
    try:
        loaded.model = get_peft_model(loaded.model, config)
    except ValueError as exc:  # target modules not found in the model
        raise ConfigError(
            f"train.lora: {exc}", problems=[("train.lora.target_modules", str(exc))]
        ) from None


def count_parameters(loaded: LoadedModel) -> None:
    """Fill the trainable / total parameter counts."""
    params = list(loaded.model.parameters())
    loaded.total_params = sum(p.numel() for p in params)
    loaded.trainable_params = sum(p.numel() for p in params if p.requires_grad)


def _text_config(config: Any) -> Any:
    getter = getattr(config, "get_text_config", None)
    return getter() if callable(getter) else config


def max_positions(config: Any) -> int | None:
    """The longest sequence the model's position embeddings cover, or None when the config does not say."""
    text = _text_config(config)
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx"):
        value = getattr(text, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def vocab_rows(config: Any) -> int | None:
    """The number of embedding rows the config declares (the largest token id + 1 the model can take)."""
    value = getattr(_text_config(config), "vocab_size", None)
    return value if isinstance(value, int) and value > 0 else None
