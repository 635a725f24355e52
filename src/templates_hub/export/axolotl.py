"""The axolotl exporter: ``type: chat_template`` datasets with the recipe's template as inline Jinja.

Layout of ``templates-hub export axolotl RECIPE --out DIR``::

    DIR/NAME/data/train.jsonl      {"messages": [{"role", "content", "tool_calls"?, "reasoning"?, "train"?}], "tools"?}
    DIR/NAME/data/validation.jsonl (test_datasets, when the recipe splits)
    DIR/NAME/chat_template.jinja   the same template as a file
    DIR/NAME/axolotl.yaml          `axolotl train` it
    DIR/NAME/manifest.json

The config uses axolotl's ``chat_template`` prompt strategy: ``field_messages``,
``message_property_mappings`` (role/content), ``roles_to_train: [assistant]``, ``train_on_eos: turn``,
``field_tools`` / ``field_thinking`` when rows have tools / reasoning, and ``message_field_training:
train`` when messages carry per-message train flags (axolotl honours them turn by turn). The template is
given as ``chat_template: jinja`` + ``chat_template_jinja``. Text rows become a ``type: completion``
dataset. axolotl's ``AxolotlInputConfig`` silently drops unknown keys, so every key is checked against
axolotl 0.19.0's schema (``axolotl_schema``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import UsageError
from . import axolotl_schema
from .atomic import StagedExport
from .base import BaseExporter, BuildOutput, ExportContext
from .chat_files import (
    effective_eos,
    extra_keys,
    lora_settings,
    merge_user_values,
    message_field_present,
    message_options,
    user_values,
)
from .keycheck import check_keys
from .records import write_split
from .yamlfile import dump_sections, flatten

#: transformers.TrainingArguments names (the recipe's ``train:`` section) -> axolotl's names for the same setting
TRAINING_ARGUMENT_NAMES: dict[str, str] = {
    "num_train_epochs": "num_epochs",
    "per_device_train_batch_size": "micro_batch_size",
    "per_device_eval_batch_size": "eval_batch_size",
    "lr_scheduler_type": "lr_scheduler",
    "optim": "optimizer",
}


class AxolotlExporter(BaseExporter):
    """axolotl: chat_template datasets (messages, tools, per-turn training) + a config with inline Jinja."""

    name: ClassVar[str] = "axolotl"
    description: ClassVar[str] = ("axolotl 0.19: type: chat_template datasets with message_property_mappings, "
                                  "roles_to_train and chat_template: jinja")
    kinds: ClassVar[tuple[str, ...]] = ("sft", "text")
    option_names: ClassVar[tuple[str, ...]] = ("arguments_as", "extra_keys")

    def check(self, ctx: ExportContext) -> None:
        if ctx.kind in ("preference", "kto"):
            raise UsageError(f"the axolotl exporter writes supervised (sft) and text rows; for {ctx.kind} rows use "
                             "`templates-hub export trl` (DPO/KTO) or `export llamafactory`")
        super().check(ctx)
        if ctx.config.finetuning_type not in ("lora", "full"):
            raise UsageError(f"the axolotl exporter writes LoRA or full fine-tuning configs, not "
                             f"{ctx.config.finetuning_type!r}")
        if ctx.kind == "sft" and ctx.template is None:
            raise UsageError(f"export {ctx.name!r}: axolotl needs the chat template (set `template:` in the recipe)")
        message_options(ctx)
        for where, values in self.user_values(ctx):  # typos first, before any work or overwrite decision
            check_keys(values, axolotl_schema.CONFIG_KEYS | extra_keys(ctx),
                       what=f"axolotl {axolotl_schema.AXOLOTL_VERSION}", where=where)

    @staticmethod
    def user_values(ctx: ExportContext) -> list[tuple[str, dict[str, Any]]]:
        """The recipe's training keys, ``train:`` names translated to axolotl's."""
        out = []
        for where, values in user_values(ctx, warmup_ratio=True):
            if where == "train":
                values = {TRAINING_ARGUMENT_NAMES.get(k, k): v for k, v in values.items()}
            out.append((where, values))
        return out

    def fingerprint_inputs(self, ctx: ExportContext) -> dict[str, Any]:
        return {"axolotl": axolotl_schema.AXOLOTL_VERSION}

    def build(self, ctx: ExportContext, staged: StagedExport) -> BuildOutput:
        notes: list[str] = []
        ext = "json" if ctx.config.file_format == "json" else "jsonl"
        files: dict[str, str] = {}
        keys: set[str] = set()
        counts: dict[str, int] = {}
        for split in ctx.split_names():
            relative = f"data/{split}.{ext}"
            if ctx.kind == "text":
                written = write_split(ctx, staged, split, relative, layout="text", file_format=ctx.config.file_format)
            else:
                written = write_split(ctx, staged, split, relative, layout="openai", options=message_options(ctx),
                                      file_format=ctx.config.file_format)
            files[split] = relative
            keys.update(written.keys)
            counts[split] = written.rows
        jinja = None
        if ctx.template is not None:  # axolotl finds the turns itself: no {% generation %} blocks needed
            jinja = ctx.template.to_jinja()
            staged.write_text("chat_template.jinja", jinja)
        sections = self.config_sections(ctx, files, keys, jinja, notes)
        header = f"axolotl ({axolotl_schema.AXOLOTL_VERSION} keys) config written by templates-hub.\n" \
                 f"Run: axolotl train {ctx.export_dir / 'axolotl.yaml'}"
        staged.write_text("axolotl.yaml", dump_sections(sections, header))
        return BuildOutput(commands=[f"axolotl preprocess {ctx.export_dir / 'axolotl.yaml'}",
                                     f"axolotl train {ctx.export_dir / 'axolotl.yaml'}"],
                           notes=notes, manifest={"counts": {"files": counts}})

    def dataset_entry(self, ctx: ExportContext, path: str, keys: set[str]) -> dict[str, Any]:
        """One ``datasets:`` / ``test_datasets:`` entry for a written file."""
        entry: dict[str, Any] = {"path": path, "ds_type": "json"}
        if ctx.kind == "text":
            entry.update({"type": "completion", "field": "text"})
        else:
            entry.update({
                "type": "chat_template",
                "field_messages": "messages",
                "message_property_mappings": {"role": "role", "content": "content"},
                "roles_to_train": ["assistant"],
                "train_on_eos": "turn",
            })
            if "tools" in keys:
                entry["field_tools"] = "tools"
            if message_field_present(ctx, "reasoning"):
                entry["field_thinking"] = "reasoning"
            if message_field_present(ctx, "train"):
                entry["message_field_training"] = "train"
        check_keys(entry, axolotl_schema.SFT_DATASET_KEYS, what=f"axolotl {axolotl_schema.AXOLOTL_VERSION} datasets",
                   where="datasets[0]")
        return entry

    def config_sections(self, ctx: ExportContext, files: dict[str, str], keys: set[str], jinja: str | None,
                        notes: list[str]) -> dict[str, dict[str, Any]]:
        pre = ctx.preprocess
        model: dict[str, Any] = {"base_model": ctx.model_name_or_path(), "trust_remote_code": True}
        eos = effective_eos(ctx)
        tokenizer = ctx.try_tokenizer()
        if eos is not None and ctx.kind != "text" and (tokenizer is None or tokenizer.eos_token != eos):
            model["special_tokens"] = {"eos_token": eos}
        template: dict[str, Any] = {}
        if jinja is not None and ctx.kind != "text":
            template = {"chat_template": "jinja", "chat_template_jinja": jinja}
        data: dict[str, Any] = {
            "datasets": [self.dataset_entry(ctx, str(ctx.export_dir / files["train"]), keys)],
        }
        if "validation" in files:
            test = self.dataset_entry(ctx, str(ctx.export_dir / files["validation"]), keys)
            test["split"] = "train"  # a single json file loads as one "train" split
            data["test_datasets"] = [test]
        data.update({"dataset_prepared_path": str(ctx.export_dir / "prepared"), "sequence_len": pre.cutoff_len,
                     "sample_packing": bool(pre.packing) if pre.packing is not None else ctx.kind == "text",
                     "train_on_inputs": pre.train_on_prompt})
        if pre.num_proc:
            data["dataset_processes"] = pre.num_proc
        if pre.mask_history:
            notes.append("mask_history has no axolotl equivalent: all assistant turns are trained "
                         "(set per-message train flags to choose turns)")
        method: dict[str, Any] = {}
        lora = lora_settings(ctx)
        if lora is not None:
            method = {"adapter": "lora", "lora_r": lora["r"], "lora_alpha": lora["alpha"],
                      "lora_dropout": lora["dropout"]}
            target = lora["target_modules"]
            if target in ("all-linear", "all"):
                method["lora_target_linear"] = True
            else:
                method["lora_target_modules"] = list(target) if isinstance(target, list) else [str(target)]
        train = {"output_dir": f"./outputs/{ctx.name}", "micro_batch_size": 1, "gradient_accumulation_steps": 8,
                 "num_epochs": 3, "learning_rate": 1.0e-4 if lora is not None else 2.0e-5, "optimizer": "adamw_torch",
                 "lr_scheduler": "cosine", "warmup_ratio": 0.1, "bf16": "auto", "logging_steps": 10}
        if "validation" in files:
            train["eval_steps"] = 500
        sections = {"model": model, "chat template": template, "data": data, "method": method, "train": train}
        allowed = axolotl_schema.CONFIG_KEYS | extra_keys(ctx)
        what = f"axolotl {axolotl_schema.AXOLOTL_VERSION}"
        user = self.user_values(ctx)
        for where, values in user:
            check_keys(values, allowed, what=what, where=where)
        merge_user_values(sections, user, lambda key: "train")
        check_keys(flatten(sections), allowed, what=what, where="training config")
        return sections
