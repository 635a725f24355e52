"""Settings of the training step (the recipe's ``train:`` section).

Besides the fields below, any ``transformers.TrainingArguments`` field may appear directly in the
section (``learning_rate: 2e-4``); unknown keys are rejected when training starts, with the list of
valid ones.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class LoraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = Field(default=8, ge=1)
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    target_modules: str | list[str] = Field(default="all-linear")


class TrainConfig(BaseModel):
    """Model, adapter and Trainer settings."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(
        default="tiny-random",
        description="Hub id, local path, a model config JSON path, or tiny-random (a small random model, offline).",
    )
    output_dir: str = Field(default="runs/train", description="Where checkpoints and the final model go.")
    lora: LoraSettings | None = Field(default=None, description="Train a LoRA adapter (peft) instead of all weights.")
    resize_embeddings: bool = Field(default=False, description="Resize the model's embeddings to the tokenizer.")
    tokenized_path: str | None = Field(default=None, description="Train on a saved tokenized DatasetDict.")

    def training_arguments(self) -> dict[str, Any]:
        """The extra keys: they map onto transformers.TrainingArguments."""
        return dict(self.model_extra or {})
