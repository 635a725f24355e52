"""Train a causal LM with ``transformers.Trainer`` on tokenized splits (the core of ``train``).

``fit`` takes what the recipe produced (tokenizer, template, tokenized splits) and does the rest: the
pre-training checks, the model (random, local or hub; resized; LoRA), TrainingArguments from the
``train:`` section, our collator, training, evaluation on the validation split, and saving the model or
adapter with a tokenizer whose ``chat_template`` is the training template as Jinja, so that inference
uses the format the model was trained on.

Nothing here is specific to one process: under ``accelerate launch`` or ``torchrun`` the Trainer shards
batches across processes, DeepSpeed / FSDP come from their TrainingArguments keys, and only the main
process writes files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from collections.abc import Iterator, Sequence, Sized
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UsageError
from ..templates.base import ChatTemplate
from . import checks
from .arguments import accelerator, build_training_arguments, check_keys
from .config import TrainConfig
from .model import (
    LoadedModel,
    apply_lora,
    count_parameters,
    load_model,
    max_positions,
    model_config,
    resize_embeddings,
    vocab_rows,
)

log = logging.getLogger(__name__)

#: preprocessor name -> collator stage; the plain Trainer computes the causal-LM loss, so only these train here.
TRAINABLE_STAGES: dict[str, str] = {"supervised": "sft", "sft": "sft", "pretrain": "pt", "pt": "pt"}
SUMMARY_FILE = "templates_hub_train.json"


@dataclass
class TrainResult:
    """What a training run produced; ``to_dict`` is what ``templates_hub_train.json`` holds."""

    output_dir: str
    adapter: bool
    model: str
    device: str
    global_step: int
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, training loss) as logged
    eval_losses: list[tuple[int, float]] = field(default_factory=list)  # (step, eval loss) per evaluation
    eval_metrics: dict[str, float] = field(default_factory=dict)  # the final evaluation
    train_metrics: dict[str, float] = field(default_factory=dict)  # train_runtime, train_loss, tokens/s, ...
    trainable_params: int = 0
    total_params: int = 0
    resumed_from: str | None = None
    template: str | None = None
    data: dict[str, dict[str, Any]] = field(default_factory=dict)  # split -> rows, tokens, trained_tokens
    notes: list[str] = field(default_factory=list)

    @property
    def first_loss(self) -> float | None:
        return self.losses[0][1] if self.losses else None

    @property
    def last_loss(self) -> float | None:
        return self.losses[-1][1] if self.losses else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["first_loss"], data["last_loss"] = self.first_loss, self.last_loss
        return data


def _log_callback_class() -> type:
    from transformers import TrainerCallback

    class LogCallback(TrainerCallback):
        """Send the Trainer's log dicts to the ``templates_hub.train`` logger instead of stdout."""

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any):
            if logs and state.is_world_process_zero:
                log.info("step %s: %s", state.global_step, logs)

    return LogCallback


def _LogCallback() -> Any:  # noqa: N802 - reads like the class it builds
    return _log_callback_class()()


def resolve_stage(preprocessor: str) -> str:
    """The collator stage of a preprocessor; UsageError for stages the plain Trainer cannot train."""
    stage = TRAINABLE_STAGES.get(preprocessor)
    if stage is None:
        raise UsageError(
            f"train: the {preprocessor!r} preprocessor needs a preference/KTO trainer (TRL's DPOTrainer, KTOTrainer): "
            "the built-in runner trains supervised and pretrain data. Export the data for TRL or LLaMA-Factory "
            "(an export: section with target: trl or llamafactory) and train there."
        )
    return stage


def resume_checkpoint(config: TrainConfig) -> str | None:
    value = config.resume_from_checkpoint
    if value in (None, False):
        return None
    if value is True:
        from transformers.trainer_utils import get_last_checkpoint

        last = get_last_checkpoint(config.output_dir) if Path(config.output_dir).is_dir() else None
        if last is None:
            raise UsageError(
                f"train.resume_from_checkpoint: true, but {config.output_dir} holds no checkpoint-* directory "
                "(checkpoints are written by save_strategy: epoch or steps)"
            )
        return last
    if not Path(str(value)).is_dir():
        raise UsageError(f"train.resume_from_checkpoint: {value} is not a checkpoint directory")
    return str(value)


def _split_stats(scans: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for split, scan in scans.items():
        trained = scan["trained_tokens"]
        out[split] = {
            "rows": scan["rows"],
            "tokens": scan["tokens"],
            "trained_tokens": trained,
            "trained_share": (trained / scan["tokens"]) if trained is not None and scan["tokens"] else None,
            "longest": scan["max_len"],
        }
    return out


def check_before_loading(
    config: TrainConfig,
    tokenizer: Any,
    *,
    cutoff_len: int | None,
    packing: bool = False,
    source: str | None = None,
) -> Any:
    """The checks that need only the ``train:`` keys, the tokenizer and the model *config*; returns the config.

    Cheap (no weights, no data), so ``run`` calls it before preparing data and ``run --dry-run`` reports
    these problems without training.
    """
    check_keys(config.training_arguments(), source=source)
    output = Path(config.output_dir)
    if output.exists() and not output.is_dir():
        raise UsageError(f"train.output_dir: {output} is a file; point output_dir at a directory")
    skip = set(config.skip_checks)
    if "pad_token" not in skip:
        checks.check_pad_token(tokenizer)
    cfg, _random = model_config(config.model, tokenizer, kwargs=config.model_kwargs)
    if "vocab" not in skip:
        checks.check_vocab(tokenizer, vocab_rows(cfg), model_name=config.model, resize=config.resize_embeddings)
    if "positions" not in skip:
        checks.check_positions(cutoff_len, max_positions(cfg), model_name=config.model, packing=packing)
    return cfg


def _collator(config: TrainConfig, args: Any, model: Any, tokenizer: Any, stage: str, packing: bool,
              neat_packing: bool) -> Any:
    """Our collator for the stage; packed rows get a mask in the compute dtype, or varlen for flash-attention."""
    import torch

    from ..collate import collator_for

    if not (packing or neat_packing):
        return collator_for(stage, tokenizer)
    attention = config.packed_attention
    if attention == "auto":
        impl = str(getattr(model.config, "_attn_implementation", "") or "")
        attention = "varlen" if "flash" in impl else "4d"
    dtype = torch.bfloat16 if args.bf16 else torch.float16 if args.fp16 else model.dtype
    return collator_for(stage, tokenizer, packing=packing, neat_packing=neat_packing, packed_attention=attention,
                        dtype=dtype)


def _streaming(splits: dict[str, Any], config: TrainConfig, source: str | None) -> bool:
    """True for IterableDataset splits (``data.streaming``): no length, so max_steps must say when to stop."""
    from datasets import IterableDataset

    if not any(isinstance(ds, IterableDataset) for ds in splits.values()):
        return False
    if int(config.training_arguments().get("max_steps", -1)) <= 0:
        raise ConfigError(
            f"{source + ': ' if source else ''}streaming data have no length, so epochs cannot be counted: "
            "set train.max_steps",
            problems=[("train.max_steps", "required with streaming data")],
            source=source,
        )
    return True


def check_train_split(splits: dict[str, Any]) -> None:
    """UsageError when there is nothing to train on (every row filtered, rejected or split off); a streaming
    split has no length and is taken as it is."""
    train = splits.get("train")
    if train is None or (isinstance(train, Sized) and len(train) == 0):
        raise UsageError("train: the train split is empty: nothing to train on (check the filters and split settings)")


def _losses(history: list[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    return [(int(h["step"]), float(h[key])) for h in history if key in h and isinstance(h[key], (int, float))]


@contextlib.contextmanager
def hf_progress_bars(enabled: bool) -> Iterator[None]:
    """Hide transformers' own progress bars (loading and saving weights) and huggingface_hub's (downloads)
    for the block when ``enabled`` is False, then restore both settings.

    The Trainer's bars follow ``disable_tqdm``; these do not, so ``run -q`` / ``--json`` printed
    "Writing model shards" and "Loading weights" bars without this.
    """
    if enabled:
        yield
        return
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from transformers.utils import logging as hf_logging

    transformers_on = hf_logging.is_progress_bar_enabled()
    hub_off = are_progress_bars_disabled()
    hf_logging.disable_progress_bar()  # turns huggingface_hub's off as well
    try:
        yield
    finally:
        if transformers_on:
            hf_logging.enable_progress_bar()  # turns huggingface_hub's on as well: set it back below
        if hub_off:
            disable_progress_bars()
        elif are_progress_bars_disabled():
            enable_progress_bars()


def fit(
    config: TrainConfig,
    *,
    tokenizer: Any,
    splits: dict[str, Any],
    template: ChatTemplate | None = None,
    stage: str = "sft",
    packing: bool = False,
    neat_packing: bool = False,
    cutoff_len: int | None = None,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
    source: str | None = None,
    extra_summary: dict[str, Any] | None = None,
) -> TrainResult:
    """Train on ``splits["train"]`` (evaluating on ``splits["validation"]`` when present) and save the result.

    ``tokenizer`` must be the one the splits were tokenized with (after the template's fixes).
    Raises TrainingCheckError / ConfigError / UsageError before any training step when something cannot work.
    """
    from transformers import Trainer

    streaming = _streaming(splits, config, source)
    check_train_split(splits)
    if not streaming:
        splits = {name: ds for name, ds in splits.items() if ds is not None and len(ds) > 0}
    model_cfg = check_before_loading(config, tokenizer, cutoff_len=cutoff_len, packing=packing, source=source)
    has_eval = "validation" in splits
    device = accelerator()
    args = build_training_arguments(config, has_eval=has_eval, progress=progress, source=source, device=device)
    resume = resume_checkpoint(config)

    rows = vocab_rows(model_cfg)
    if config.resize_embeddings and rows is not None:
        rows = max(rows, len(tokenizer))
    scans = {} if streaming else checks.check_data(
        splits, embedding_rows=rows, positions=max_positions(model_cfg), model_name=config.model,
        skip=config.skip_checks,
    )

    with hf_progress_bars(progress):  # quiet: no 'Loading weights' / 'Writing model shards' bars either
        loaded: LoadedModel = load_model(config.model, tokenizer, seed=args.seed, kwargs=config.model_kwargs,
                                         config=model_cfg)
        if config.resize_embeddings:
            resize_embeddings(loaded, tokenizer)
        if config.lora is not None:
            if args.gradient_checkpointing:
                loaded.model.enable_input_require_grads()  # checkpointed LoRA needs grads flowing into frozen inputs
            apply_lora(loaded, config.lora)
        count_parameters(loaded)
        if template is not None:
            tokenizer.chat_template = template.to_jinja()  # saved with every checkpoint and the final model

        if packing and args.include_num_input_tokens_seen == "non_padding":
            # packed batches carry a 4-D float mask (or none): "non_padding" would sum the mask; packs are ~all tokens
            args.include_num_input_tokens_seen = "all"
        trainer = Trainer(
            model=loaded.model,
            args=args,
            train_dataset=splits["train"],
            eval_dataset=splits.get("validation"),
            data_collator=_collator(config, args, loaded.model, tokenizer, stage, packing, neat_packing),
            processing_class=tokenizer,
            callbacks=list(callbacks) or None,
        )
        if not progress:  # no bars, and no log dicts printed to stdout (``--json`` owns it): log them instead
            from transformers.trainer_callback import PrinterCallback

            trainer.remove_callback(PrinterCallback)
            trainer.add_callback(_LogCallback())
        output = trainer.train(resume_from_checkpoint=resume)
        eval_metrics: dict[str, float] = {}
        if has_eval:
            last = next((h for h in reversed(trainer.state.log_history) if "eval_loss" in h), None)
            if last is None or last.get("step") != trainer.state.global_step:  # not evaluated at the last step yet
                last = trainer.evaluate()
            eval_metrics = {k: float(v) for k, v in last.items() if isinstance(v, (int, float)) and k != "step"}
        trainer.save_model(config.output_dir)  # model or adapter, plus the tokenizer (processing_class)
        trainer.save_state()

    history = trainer.state.log_history
    result = TrainResult(
        output_dir=str(config.output_dir),
        adapter=config.lora is not None,
        model=config.model,
        device=str(args.device),
        global_step=int(trainer.state.global_step),
        losses=_losses(history, "loss"),
        eval_losses=_losses(history, "eval_loss"),
        eval_metrics=eval_metrics,
        train_metrics={k: float(v) for k, v in output.metrics.items() if isinstance(v, (int, float))},
        trainable_params=loaded.trainable_params,
        total_params=loaded.total_params,
        resumed_from=resume,
        template=getattr(template, "name", None),
        data=_split_stats(scans),
        notes=list(loaded.notes) + (["streaming data: the data checks were skipped"] if streaming else []),
    )
    if result.losses and any(math.isnan(v) for _, v in result.losses):
        result.notes.append("the training loss was NaN at some step: lower learning_rate or check fp16 overflow")
    if trainer.is_world_process_zero():
        summary = result.to_dict() | ({"recipe": extra_summary} if extra_summary else {})
        Path(config.output_dir, SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str) + "\n",
                                                         encoding="utf-8")
    log.info("trained %s steps on %s; loss %s -> %s", result.global_step, result.device, result.first_loss,
             result.last_loss)
    return result


def load_tokenized(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A saved tokenized dataset (``save_to_disk`` DatasetDict or Dataset) as ``{"train", "validation"?}``."""
    from datasets import Dataset, DatasetDict, load_from_disk

    target = Path(path)
    if not target.exists():
        raise UsageError(f"train.tokenized_path: {target} does not exist (write it with `templates-hub preprocess`)")
    try:
        data = load_from_disk(str(target))
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(f"train.tokenized_path: {target} is not a saved dataset: {exc}") from None
    if isinstance(data, Dataset):
        return {"train": data}
    assert isinstance(data, DatasetDict)
    if "train" not in data:
        raise UsageError(f"train.tokenized_path: {target} has splits {list(data)} but no 'train' split")
    splits = {"train": data["train"]}
    for name in ("validation", "eval", "test"):
        if name in data:
            splits["validation"] = data[name]
            break
    missing = {"input_ids"} - set(splits["train"].column_names)
    if missing:
        raise UsageError(f"train.tokenized_path: {target} has no input_ids column: is it tokenized?")
    return splits


__all__ = ["TrainResult", "check_before_loading", "fit", "load_tokenized", "resolve_stage"]
