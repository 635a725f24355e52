"""The built-in Hugging Face Trainer runner (``templates-hub train``).

``train(recipe)`` builds the tokenized data through the recipe, runs the pre-training checks, trains
with ``transformers.Trainer`` and our collator, and saves the model (or LoRA adapter) with a tokenizer
whose ``chat_template`` is the training template. The heavy modules (transformers, torch, peft) load on
the first call, so importing this package (every recipe does, for ``TrainConfig``) stays cheap.

This package is itself callable (``templates_hub.train(recipe)``), because the attribute
``templates_hub.train`` is this package once any of its modules has been imported.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .config import LoraSettings, TrainConfig

if TYPE_CHECKING:
    from .runner import TrainResult

__all__ = ["LoraSettings", "TrainConfig", "TrainResult", "train"]


def train(
    recipe: Any,
    *,
    overrides: Sequence[str] = (),
    progress: bool = True,
    callbacks: Sequence[Any] = (),
    **kwargs: Any,
) -> TrainResult:
    """Train the model of ``recipe`` (a ``Recipe`` or a recipe file); see ``templates_hub.train.api.train``."""
    from .api import train as _train

    return _train(recipe, overrides=overrides, progress=progress, callbacks=callbacks, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "TrainResult":
        from .runner import TrainResult

        return TrainResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> TrainResult:
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
