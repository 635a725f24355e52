"""Settings of the preprocessing step (the recipe's ``preprocess:`` section).

Names follow LLaMA-Factory's data arguments (cutoff_len, train_on_prompt, mask_history, packing,
neat_packing, enable_thinking, preserve_thinking) so a recipe reads like an LLaMA-Factory YAML.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PreprocessConfig(BaseModel):
    """How rows become token ids and labels."""

    model_config = ConfigDict(extra="forbid")

    preprocessor: str = Field(
        default="supervised",
        description="Registered preprocessor: supervised | pairwise | kto | pretrain | unsupervised | a plugin's.",
    )
    cutoff_len: int = Field(default=2048, ge=1, description="Maximum tokens per row (per packed row when packing).")
    train_on_prompt: bool = Field(default=False, description="Also train on prompt tokens.")
    mask_history: bool = Field(default=False, description="Train only on the last assistant turn.")
    packing: bool | None = Field(
        default=None,
        description="Pack rows into sequences of cutoff_len (default: on for pretrain, off otherwise).",
    )
    neat_packing: bool = Field(default=False, description="Packing without cross-attention between packed rows.")
    tokenization: Literal["segments", "whole"] = Field(
        default="segments",
        description="segments: each template piece encoded on its own (LLaMA-Factory's ids); "
        "whole: the rendered text encoded once (apply_chat_template's ids).",
    )
    enable_thinking: bool | None = Field(default=True, description="Reasoning templates: train on the empty thought.")
    preserve_thinking: bool = Field(default=False, description="Reasoning templates: keep chain-of-thought in history.")
    fast_tokenization: bool = Field(
        default=True,
        description="Reuse the ids of constant template text by cutting pieces at added tokens, where the "
        "tokenizer provably gives the same ids that way (checked automatically; SentencePiece tokenizers whose "
        "prefix space depends on the position always use exact per-piece encoding).",
    )
    drop_untrained: bool = Field(
        default=True,
        description="Drop rows left without any trained token (all labels -100: every trained token truncated "
        "away, or every response masked); each drop is reported with its reason. LLaMA-Factory keeps them.",
    )
    media_columns: bool = Field(
        default=True,
        description="Add LLaMA-Factory's images/videos/audios columns (nulls for text), which its pairwise and "
        "KTO collators require.",
    )
    packing_window: int = Field(
        default=10_000, ge=1,
        description="Streaming only: rows planned together when packing (a Dataset is packed as a whole).",
    )
    batch_size: int = Field(default=1000, ge=1, description="Rows per batched tokenizer call.")
    num_proc: int | None = Field(default=None, ge=1, description="Worker processes for datasets.map.")
    output_dir: str | None = Field(default=None, description="Where `preprocess` saves the tokenized DatasetDict.")
    params: dict[str, Any] = Field(default_factory=dict, description="Extra parameters for a plugin preprocessor.")

    @model_validator(mode="after")
    def _compatible(self) -> PreprocessConfig:
        if self.train_on_prompt and self.mask_history:
            raise ValueError("train_on_prompt and mask_history cannot both be true")
        if self.neat_packing and self.packing is False:
            raise ValueError("neat_packing needs packing (leave packing unset or true)")
        return self
