"""``train(recipe)``: tokenizer + template, tokenized data, checks, Trainer, saved model, in one call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .pipeline import TokenizedData, TokenizerSetup, build_data, setup_tokenizer, train_config
from .runner import TrainResult, check_before_loading, fit


def as_recipe(recipe: Any, overrides: Sequence[str] = ()) -> Any:
    """A ``Recipe`` from a Recipe object or a recipe file (``overrides`` apply to files: ``train.max_steps=5``)."""
    from ..errors import UsageError
    from ..recipe import Recipe, load_recipe

    if isinstance(recipe, Recipe):
        if overrides:
            raise UsageError("overrides apply to a recipe file; for a Recipe object use recipe_from_data(..., overrides=)")
        return recipe
    return load_recipe(recipe, overrides)


def recipe_summary(recipe: Any) -> dict[str, Any]:
    """What ``templates_hub_train.json`` records about the recipe (for reproducing the run)."""
    return {
        "name": recipe.run_name,
        "file": str(recipe.source) if recipe.source else None,
        "tokenizer": recipe.tokenizer,
        "template": recipe.template.name if recipe.template is not None else None,
        "preprocess": recipe.preprocess.model_dump(mode="json"),
        "train": train_config(recipe).model_dump(mode="json"),
    }


def fit_recipe(
    recipe: Any,
    *,
    setup: TokenizerSetup,
    data: TokenizedData,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """``fit`` with everything taken from the recipe (its train: section, the built tokenizer and data)."""
    return fit(
        train_config(recipe),
        tokenizer=setup.tokenizer,
        template=setup.template,
        splits=data.splits,
        stage=data.stage,
        packing=data.packing,
        neat_packing=data.neat_packing,
        cutoff_len=data.cutoff_len,
        progress=progress,
        callbacks=callbacks,
        source=str(recipe.source) if recipe.source else None,
        extra_summary=recipe_summary(recipe),
    )


def train(
    recipe: Any,
    *,
    overrides: Sequence[str] = (),
    progress: bool = True,
    callbacks: Sequence[Any] = (),
    setup: TokenizerSetup | None = None,
    data: TokenizedData | None = None,
) -> TrainResult:
    """Train the model of ``recipe`` (a ``Recipe`` or a recipe file) on the recipe's data.

    The data are built through the recipe (``prepare`` + ``preprocess_dataset``) or read from
    ``train.tokenized_path``; ``setup`` / ``data`` let a caller that already built them pass them in.
    Every check that needs no weights runs before any data work, so a misspelt ``train:`` key or a
    tokenizer that does not fit the model fails in seconds.
    """
    recipe = as_recipe(recipe, overrides)
    setup = setup or setup_tokenizer(recipe)
    check_before_loading(train_config(recipe), setup.tokenizer, cutoff_len=recipe.preprocess.cutoff_len,
                         source=str(recipe.source) if recipe.source else None)
    data = data or build_data(recipe, setup, progress=progress)
    return fit_recipe(recipe, setup=setup, data=data, progress=progress, callbacks=callbacks)
