"""Settings of the export step (the recipe's ``export:`` section)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ExportConfig(BaseModel):
    """Where and how to export (LLaMA-Factory, TRL or axolotl files)."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(default="llamafactory", description="Registered exporter: llamafactory | trl | axolotl.")
    out_dir: str = Field(description="Directory to write the export to.")
    dataset_name: str | None = Field(default=None, description="Name of the dataset entry (default: the recipe's name).")
    layout: Literal["alpaca", "sharegpt"] = Field(default="sharegpt", description="On-disk record layout.")
    file_format: Literal["json", "jsonl"] = Field(default="json", description="json array or JSON lines.")
    stage: Literal["sft", "dpo", "kto", "pt"] | None = Field(
        default=None, description="Training stage (default: from the preprocessor / data kind)."
    )
    finetuning_type: Literal["lora", "full", "freeze"] = "lora"
    model_name_or_path: str | None = Field(default=None, description="Model for the training YAML (default: train.model).")
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="Extra training YAML keys (checked against what the target accepts)."
    )
    force: bool = Field(default=False, description="Overwrite a different existing export.")
