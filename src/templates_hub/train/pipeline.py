"""From a recipe to what ``fit`` needs: the tokenizer and template, then the tokenized splits.

Shared by ``train(recipe)`` and ``run(recipe)`` so that both build data the same way:

1. ``setup_tokenizer``: load the recipe's tokenizer (or the model's), resolve its template, apply the
   template's tokenizer fixes (LLaMA-Factory's eos / pad / stop words), ``train.pad_token``,
   ``train.add_template_tokens``, then the cheap tokenizer checks (pad token, template tokens);
2. ``build_data``: ``prepare`` (load, filters, split) and ``preprocess_dataset`` on every split, or
   ``train.tokenized_path``.

Under ``torchrun`` / ``accelerate launch`` every process builds the same data; ``build_data`` runs on the
main process first (``main_process_first``) so the others reuse its ``datasets`` cache instead of racing it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from ..templates.base import ChatTemplate
from . import checks
from .config import TrainConfig
from .model import TINY_RANDOM
from .runner import load_tokenized, resolve_stage


@dataclass
class TokenizerSetup:
    """The tokenizer as training will use it, and the template whose Jinja form is saved with the model."""

    tokenizer: Any
    template: ChatTemplate | None
    source: str
    added_tokens: list[str] = field(default_factory=list)  # tokens new to the vocabulary (need resized embeddings)


@dataclass
class TokenizedData:
    """Tokenized splits plus the statistics of the steps that made them."""

    splits: dict[str, Any]  # "train", and "validation" when the recipe has one
    stage: str  # collator stage: "sft" or "pt"
    packing: bool = False
    neat_packing: bool = False
    cutoff_len: int | None = None
    prepare_report: dict[str, Any] | None = None  # rows per step (load, filters, split)
    preprocess_stats: dict[str, dict[str, Any]] = field(default_factory=dict)  # split -> PreprocessResult.stats
    rejects_path: str | None = None
    source: str = "recipe"  # "recipe" or the tokenized_path
    prepared: Any = None  # prepare's PrepareResult (canonical splits: what exporters read); None for tokenized_path


def train_config(recipe: Any) -> TrainConfig:
    """The recipe's ``train:`` section, or the defaults."""
    config = getattr(recipe, "train", None)
    return config if config is not None else TrainConfig()


def tokenizer_spec(recipe: Any) -> str:
    """The recipe's tokenizer, else the model's own (a hub id or model directory), else the offline ``tiny``."""
    if recipe.tokenizer:
        return str(recipe.tokenizer)
    model = train_config(recipe).model
    if model == TINY_RANDOM or model.endswith(".json"):
        raise UsageError(
            f"train.model is {model!r} (random weights, no tokenizer of its own): name a tokenizer in the recipe's "
            "tokenizer: section (a directory, a hub id, or tiny)"
        )
    return model


def setup_tokenizer(recipe: Any) -> TokenizerSetup:
    """Load and fix the tokenizer, resolve the template, and run the tokenizer checks."""
    from ..preprocess.recipe_run import check_preprocessable
    from ..templates import fix_tokenizer, get_template
    from ..tokenizer import load_tokenizer

    config = train_config(recipe)
    if not config.tokenized_path:  # tokenized data are read as they are: no template or row kind involved
        check_preprocessable(recipe)  # a missing template or a wrong preprocessor fails before any loading
    source = tokenizer_spec(recipe)
    tokenizer = load_tokenizer(source)
    template = get_template(recipe.template.name, tokenizer=tokenizer) if recipe.template is not None else None
    added: list[str] = []
    if template is not None:
        added.extend(fix_tokenizer(tokenizer, template))
    if config.pad_token is not None and tokenizer.pad_token_id is None:
        if config.pad_token not in tokenizer.get_vocab():
            raise UsageError(f"train.pad_token {config.pad_token!r} is not a token of tokenizer {source!r}")
        tokenizer.pad_token = config.pad_token
    skip = set(config.skip_checks)
    if template is not None and "template_tokens" not in skip:
        if config.add_template_tokens:
            missing = checks.missing_template_tokens(template, tokenizer)
            if missing:
                tokenizer.add_special_tokens({"additional_special_tokens": missing},
                                             replace_extra_special_tokens=False)
                added.extend(missing)
        checks.check_template_tokens(template, tokenizer)
    if "pad_token" not in skip:
        checks.check_pad_token(tokenizer)
    return TokenizerSetup(tokenizer=tokenizer, template=template, source=source, added_tokens=added)


@contextlib.contextmanager
def main_process_first(config: TrainConfig | None = None) -> Iterator[None]:
    """Run the body on the main process first when launched with several processes; a no-op otherwise.

    The other processes wait at a barrier while the main one prepares the data, so the process group is
    created here with the ``train:`` section's ``ddp_timeout`` / ``ddp_backend`` / ``use_cpu`` (the same
    settings TrainingArguments would use): a long preprocessing must not hit the default 30-minute timeout.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        yield
        return
    from datetime import timedelta

    from accelerate import PartialState

    from .arguments import accelerator

    extra = (config.training_arguments() if config is not None else {})
    kwargs: dict[str, Any] = {"cpu": bool(extra.get("use_cpu")) or accelerator() == "cpu",
                              "timeout": timedelta(seconds=int(extra.get("ddp_timeout", 1800)))}
    if extra.get("ddp_backend"):
        kwargs["backend"] = extra["ddp_backend"]
    with PartialState(**kwargs).main_process_first():
        yield


def build_data(recipe: Any, setup: TokenizerSetup, *, progress: bool = True, out_dir: str | None = None,
               on_step: Any = None, rejects: str | None = None) -> TokenizedData:
    """Tokenized train / validation splits from the recipe (prepare + preprocess) or ``train.tokenized_path``.

    ``out_dir``: also write prepare's files (splits, report.json, rejects.jsonl) there.
    ``rejects``: write every row dropped by any step (validation, filters, preprocessing) to this file.
    ``on_step(name, info)`` is called after each step (load, filter, split, write, preprocess).
    """
    from ..preprocess.api import preprocess_dataset

    preprocess = recipe.preprocess
    config = train_config(recipe)
    if "preprocessor" in preprocess.model_fields_set:  # refuse a preference stage before any data work
        resolve_stage(preprocess.preprocessor)
    if config.tokenized_path:
        splits = load_tokenized(config.tokenized_path)
        stage = "pt" if "labels" not in splits["train"].column_names else "sft"
        return TokenizedData(splits=splits, source=config.tokenized_path, **_layout(preprocess, stage))

    from ..prepare import prepare
    from ..rejects import RejectsWriter

    notify = on_step or (lambda name, info: None)
    with main_process_first(config):
        prepared = prepare(recipe, out_dir=out_dir, progress=progress, tokenizer=setup.tokenizer, on_step=on_step,
                           rejects=rejects)
        kind = str(prepared.report.get("kind") or "sft")
        options = recipe.template.render_options(preprocess) if recipe.template is not None else None
        splits: dict[str, Any] = {}
        stats: dict[str, dict[str, Any]] = {}
        stage = "sft"
        for name, dataset in prepared.splits.items():
            if len(dataset) == 0:
                continue
            result = preprocess_dataset(dataset, template=setup.template, tokenizer=setup.tokenizer,
                                        config=preprocess, kind=kind, render_options=options,
                                        source=recipe.data.label, progress=progress)
            stage = resolve_stage(result.stage)
            splits[name] = result.dataset
            stats[name] = dict(result.stats) | {"preprocessor": result.preprocessor}
            notify("preprocess", {"step": "preprocess", "split": name, **stats[name]})
            if prepared.rejects_path is not None and result.rejects:
                with RejectsWriter(prepared.rejects_path, append=True) as writer:
                    writer.write_issues(result.rejects, "preprocess")
    return TokenizedData(
        splits=splits,
        prepare_report=dict(prepared.report),
        preprocess_stats=stats,
        rejects_path=str(prepared.rejects_path) if prepared.rejects_path else None,
        prepared=prepared,
        **_layout(preprocess, stage),
    )


def _layout(preprocess: Any, stage: str) -> dict[str, Any]:
    """Collator settings that follow from the preprocess section (packing is on by default for pretraining)."""
    packing = preprocess.packing is not False if stage == "pt" else bool(preprocess.packing) or preprocess.neat_packing
    return {"stage": stage, "packing": packing, "neat_packing": preprocess.neat_packing,
            "cutoff_len": preprocess.cutoff_len}


def is_main_process() -> bool:
    """True on the process that writes files (rank 0, or the only process)."""
    return int(os.environ.get("RANK", "0")) == 0
