"""Settings of the export step (the recipe's ``export:`` section, or one item of a list of them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: canonical row kind -> the training stage it feeds by default
DEFAULT_STAGE: dict[str, str] = {"sft": "sft", "preference": "dpo", "kto": "kto", "text": "pt"}
#: training stage -> the canonical row kinds it can train on
STAGE_KINDS: dict[str, tuple[str, ...]] = {
    "sft": ("sft",), "dpo": ("preference",), "rm": ("preference",), "kto": ("kto",), "pt": ("text",),
}


class ExportConfig(BaseModel):
    """Where and how to export (LLaMA-Factory, TRL or axolotl files)."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(default="llamafactory", description="Registered exporter: llamafactory | trl | axolotl | a plugin's.")
    out_dir: str | None = Field(
        default=None,
        description="Directory to export into (LLaMA-Factory: its dataset_dir, holding dataset_info.json); "
        "the CLI's --out wins. The export itself goes into OUT_DIR/NAME/.",
    )
    dataset_name: str | None = Field(
        default=None, description="Name of the export and of its dataset_info.json entry (default: the recipe's name)."
    )
    layout: Literal["alpaca", "sharegpt"] = Field(default="sharegpt", description="LLaMA-Factory on-disk record layout.")
    file_format: Literal["json", "jsonl"] = Field(default="json", description="json array or JSON lines.")
    stage: Literal["sft", "dpo", "kto", "pt", "rm"] | None = Field(
        default=None, description="Training stage (default: from the data kind: sft, dpo, kto or pt)."
    )
    finetuning_type: Literal["lora", "full", "freeze", "oft"] = "lora"
    model_name_or_path: str | None = Field(
        default=None, description="Model for the training config (default: train.model, else the recipe's tokenizer)."
    )
    template_mode: Literal["auto", "name", "tokenized"] = Field(
        default="auto",
        description="LLaMA-Factory: 'name' writes template: NAME (built-in templates only); 'tokenized' ships our "
        "token ids as a tokenized_path dataset; 'auto' picks 'name' when LLaMA-Factory reproduces our ids exactly "
        "(a built-in template, segments tokenization, no per-message train flags) and 'tokenized' otherwise.",
    )
    trl_format: Literal["messages", "prompt_completion"] = Field(
        default="messages",
        description="TRL SFT data: conversational 'messages', or 'prompt_completion' (everything before the last "
        "assistant turn is the prompt).",
    )
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra training-config keys, checked against what the target accepts (a typo is an error).",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Exporter-specific options (a plugin exporter documents its own; built-ins: extra_keys, "
        "arguments_as).",
    )
    force: bool = Field(default=False, description="Overwrite a different existing export.")

    @field_validator("dataset_name")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(c in value for c in "/\\,") or value.startswith(".")):
            raise ValueError("must be a plain name (no '/', '\\', ',' and not starting with '.')")
        return value
