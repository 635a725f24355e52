"""Settings of the training step (the recipe's ``train:`` section).

Besides the fields below, any ``transformers.TrainingArguments`` field may appear directly in the
section (``learning_rate: 2e-4``); unknown keys are rejected when training starts, with the list of
valid ones and the closest matches (``templates_hub.train.arguments``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Names of the checks run before training (``templates_hub.train.checks``); ``skip_checks`` takes these.
CheckName = Literal["vocab", "pad_token", "template_tokens", "trained_tokens", "positions"]


class LoraSettings(BaseModel):
    """A LoRA adapter (peft ``LoraConfig``): only the adapter weights are trained and saved."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(default=8, ge=1, description="Rank of the update matrices.")
    alpha: int = Field(default=16, ge=1, description="Scaling: the update is multiplied by alpha / r.")
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0, description="Dropout on the adapter input.")
    target_modules: str | list[str] = Field(
        default="all-linear",
        description="Module names to adapt (q_proj, v_proj, ...) or all-linear (every linear layer but the output head).",
    )
    modules_to_save: list[str] | None = Field(
        default=None,
        description="Modules trained in full and saved with the adapter. Default: none, or the embedding and "
        "output layers when resize_embeddings added rows (new tokens must learn their embeddings).",
    )


class TrainConfig(BaseModel):
    """Model, adapter and Trainer settings."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(
        default="tiny-random",
        description="Hub id, local model directory, a model config JSON path (random weights), "
        "or tiny-random (a small random Llama, offline).",
    )
    model_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra from_pretrained arguments: dtype, attn_implementation, revision, trust_remote_code.",
    )
    output_dir: str = Field(default="runs/train", description="Where checkpoints and the final model go.")
    lora: LoraSettings | None = Field(default=None, description="Train a LoRA adapter (peft) instead of all weights.")
    resize_embeddings: bool = Field(
        default=False, description="Resize the model's embeddings to the tokenizer when the tokenizer is larger."
    )
    add_template_tokens: bool = Field(
        default=False,
        description="Add the template's special tokens the tokenizer lacks as new special tokens "
        "(a pretrained model then needs resize_embeddings: true).",
    )
    pad_token: str | None = Field(
        default=None, description="Use this existing token as the pad token (e.g. the eos) when the tokenizer has none."
    )
    tokenized_path: str | None = Field(
        default=None, description="Train on a saved tokenized DatasetDict instead of building it from the recipe."
    )
    resume_from_checkpoint: bool | str | None = Field(
        default=None, description="A checkpoint directory, or true for the latest checkpoint in output_dir."
    )
    packed_attention: Literal["auto", "4d", "varlen"] = Field(
        default="auto",
        description="How packed rows are kept apart: 4d (a block-diagonal float mask; eager / sdpa), varlen "
        "(restarting position_ids, no mask; flash-attention). auto: varlen for flash-attention models, else 4d.",
    )
    skip_checks: list[CheckName] = Field(
        default_factory=list, description="Pre-training checks to skip (vocab, pad_token, template_tokens, ...)."
    )

    def training_arguments(self) -> dict[str, Any]:
        """The extra keys: they map onto transformers.TrainingArguments."""
        return dict(self.model_extra or {})
