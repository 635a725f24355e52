"""The LLaMA-Factory exporter: data files, ``dataset_info.json``, training YAML, optional ``tokenized_path``.

Layout of ``templates-hub export llamafactory RECIPE --out DIR`` (DIR is LLaMA-Factory's ``dataset_dir``)::

    DIR/dataset_info.json            merged: entries NAME and NAME_validation; other entries untouched
    DIR/dataset_info.json.bak        the previous dataset_info.json
    DIR/NAME/data/train.json         records in LLaMA-Factory's alpaca or sharegpt layout (or .jsonl)
    DIR/NAME/data/validation.json    (when the recipe splits off a validation set)
    DIR/NAME/llamafactory_<stage>.yaml   the training config: `llamafactory-cli train` it
    DIR/NAME/template.jinja          the chat template as a Hugging Face Jinja template (inference)
    DIR/NAME/tokenized/              save_to_disk DatasetDict (train/validation) when the template is custom
    DIR/NAME/manifest.json           sources, counts, template, tokenizer, versions, file hashes

A built-in template that LLaMA-Factory knows by name is written as ``template: NAME`` and LLaMA-Factory
tokenizes the data files itself (templates-hub's ``segments`` mode produces the same ids). A custom
template cannot be named in LLaMA-Factory, so the rows are tokenized here and handed over through
``tokenized_path``; LLaMA-Factory then trains on exactly these ids and labels.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ConfigError, UsageError
from . import lf_info, lf_schema
from .atomic import StagedExport
from .base import BaseExporter, BuildOutput, ExportContext
from .chat_files import merge_user_values, message_field_present, user_values
from .keycheck import check_keys
from .records import write_split
from .yamlfile import dump_sections, flatten

BUILTIN_TEMPLATE_PLUGIN = "templates_hub.templates.builtin"
#: section title -> the LLaMA-Factory dataclass whose keys go there
_SECTION_OF_GROUP = {
    "ModelArguments": "model", "FinetuningArguments": "method", "DataArguments": "dataset",
    "TrainingArguments": "train", "GeneratingArguments": "generation",
}
_LEARNING_RATE = {"sft": 1.0e-4, "pt": 1.0e-4, "dpo": 5.0e-6, "kto": 5.0e-6, "rm": 1.0e-5}


def builtin_lf_name(template: Any, spec: str | None) -> str | None:
    """LLaMA-Factory's name for ``template`` when it is one of templates-hub's built-ins, else None.

    Only a template resolved from the registry by name *and* registered by the built-in templates
    plugin counts: a YAML file, a Jinja file, ``tokenizer`` or a plugin template (even one that reuses
    a built-in name with ``override=True``) is custom, because LLaMA-Factory cannot know its slots.
    """
    if template is None or not spec or "/" in spec or "\\" in spec or spec == "tokenizer":
        return None
    from ..plugins import get_registry

    registry = get_registry("templates")
    if spec not in registry or registry.entry(spec).plugin != BUILTIN_TEMPLATE_PLUGIN:
        return None
    if registry.get(spec) is not template:  # e.g. a built-in with changed fields
        return None
    name = getattr(template, "lf_name", None)  # None for @hf variants and templates LLaMA-Factory lacks
    return name if name in lf_schema.TEMPLATE_NAMES else None


def template_mode(ctx: ExportContext, lf_name: str | None) -> tuple[str, str | None]:
    """``("name" | "tokenized", reason)``: how the template reaches LLaMA-Factory."""
    wanted = ctx.config.template_mode
    if ctx.template is None:
        if ctx.kind != "text":
            raise UsageError(f"export {ctx.name!r}: LLaMA-Factory needs a chat template for {ctx.kind} rows "
                             "(set `template:` in the recipe)")
        return ("tokenized", None) if wanted == "tokenized" else ("name", None)
    if wanted == "name":
        if lf_name is None:
            raise UsageError(
                f"export.template_mode is 'name' but template {ctx.template_spec or ctx.template.name!r} is not a "
                "built-in LLaMA-Factory knows by name; use template_mode 'tokenized' (or 'auto')"
            )
        return "name", None
    if wanted == "tokenized":
        return "tokenized", "export.template_mode is 'tokenized'"
    if lf_name is None:
        return "tokenized", f"template {ctx.template_spec or ctx.template.name!r} is custom"
    if ctx.preprocess.tokenization != "segments":
        return "tokenized", "preprocess.tokenization is 'whole' (LLaMA-Factory encodes each template piece separately)"
    if message_field_present(ctx, "train"):
        return "tokenized", "some messages have per-message train flags, which LLaMA-Factory's data files cannot hold"
    return "name", None


class LlamaFactoryExporter(BaseExporter):
    """LLaMA-Factory 0.9.5: data files + dataset_info.json + training YAML (+ tokenized_path)."""

    name: ClassVar[str] = "llamafactory"
    description: ClassVar[str] = ("LLaMA-Factory 0.9.5: alpaca/sharegpt data files, dataset_info.json entries, "
                                  "training YAML; custom templates as a tokenized_path dataset")
    kinds: ClassVar[tuple[str, ...]] = ("sft", "preference", "kto", "text")
    option_names: ClassVar[tuple[str, ...]] = ()

    # -- checks -----------------------------------------------------------------------------------------
    def check(self, ctx: ExportContext) -> None:
        super().check(ctx)
        if ctx.stage not in lf_schema.STAGES:  # pragma: no cover - ExportConfig restricts the values
            raise UsageError(f"LLaMA-Factory has no stage {ctx.stage!r}")
        # typos and refused combinations first, before any work or overwrite decision (training_sections
        # checks every key and validates the result; the real call in build adds the data file entries)
        self.training_sections(ctx, {}, builtin_lf_name(ctx.template, ctx.template_spec), None, [])

    def fingerprint_inputs(self, ctx: ExportContext) -> dict[str, Any]:
        return {"llamafactory": lf_schema.LLAMAFACTORY_VERSION}

    def is_intact(self, ctx: ExportContext, manifest: dict[str, Any]) -> bool:
        try:
            info = lf_info.read_info(ctx.out_dir / lf_info.DATASET_INFO) or {}
        except Exception:
            return False
        return all(info.get(name) == entry for name, entry in (manifest.get("dataset_info") or {}).items())

    # -- build ------------------------------------------------------------------------------------------
    def build(self, ctx: ExportContext, staged: StagedExport) -> BuildOutput:
        notes: list[str] = []
        stage = ctx.stage
        lf_name = builtin_lf_name(ctx.template, ctx.template_spec)
        mode, reason = template_mode(ctx, lf_name)
        if reason:
            notes.append(f"template handed over as token ids (tokenized_path): {reason}")
        layout, formatting = ("text", "alpaca") if ctx.kind == "text" else (ctx.config.layout, ctx.config.layout)
        from ..formats import make_adapter

        options = dict(make_adapter(layout, None, ctx.kind).options)
        if ctx.kind == "text":  # LLaMA-Factory reads pretraining text from the `prompt` column
            options = {"prompt": options["column"]}
        ext = ctx.config.file_format
        entries: dict[str, dict[str, Any]] = {}
        counts: dict[str, Any] = {}
        for split in ctx.split_names():
            relative = f"data/{split}.{ext}"
            written = write_split(ctx, staged, split, relative, layout=layout, file_format=ext,
                                  strip_train=mode == "tokenized", skip_unwritable=mode == "tokenized")
            if written.skipped_count:
                notes.append(f"{split}: {written.skipped_count} row(s) cannot be written as {layout} records and are "
                             f"left out of {relative} (they are in the tokenized dataset), e.g. {written.skipped[0]}")
            entry_name = ctx.name if split == "train" else f"{ctx.name}_{split}"
            entries[entry_name] = lf_info.build_entry(f"{ctx.name}/{relative}", formatting=formatting, kind=ctx.kind,
                                                      options=options, written_keys=written.keys)
            counts[split] = {"records": written.rows}
        tokenized_path: Path | None = None
        added_tokens: list[str] = []
        if mode == "tokenized":
            from .tokenized import tokenize_splits

            result = tokenize_splits(ctx, ctx.split_names())
            staged.write_with("tokenized", lambda path: result.splits.save_to_disk(str(path)))
            tokenized_path = ctx.export_dir / "tokenized"
            added_tokens = result.added_tokens
            if result.removed_columns:
                notes.append(f"column(s) {', '.join(result.removed_columns)} from the preprocessor not exported: "
                             "LLaMA-Factory's collators would receive them (remove_unused_columns is false there)")
            for split, dataset in result.splits.items():
                counts[split]["tokenized"] = len(dataset)
                counts[split]["dropped_while_tokenizing"] = result.dropped.get(split, 0)
            counts["preprocess"] = result.stats
        jinja = _jinja_text(ctx, notes)
        if jinja is not None:
            staged.write_text("template.jinja", jinja)
        sections = self.training_sections(ctx, entries, lf_name, tokenized_path, added_tokens)
        config_name = f"llamafactory_{stage}.yaml"
        header = (f"LLaMA-Factory {lf_schema.LLAMAFACTORY_VERSION} training config written by templates-hub.\n"
                  f"Run: llamafactory-cli train {ctx.export_dir / config_name}")
        staged.write_text(config_name, dump_sections(sections, header))
        siblings = self._stage_dataset_info(ctx, staged, entries, notes)
        return BuildOutput(
            commands=[f"llamafactory-cli train {ctx.export_dir / config_name}"],
            notes=notes,
            manifest={"dataset_info": entries, "template_mode": mode, "llamafactory_template": lf_name,
                      "tokenized_path": str(tokenized_path) if tokenized_path else None,
                      "added_tokens": added_tokens, "counts": {"files": counts}},
            siblings=siblings,
        )

    def _stage_dataset_info(self, ctx: ExportContext, staged: StagedExport, entries: dict[str, dict[str, Any]],
                            notes: list[str]) -> list[str]:
        path = ctx.out_dir / lf_info.DATASET_INFO
        existing = lf_info.read_info(path)
        merged, merge_notes = lf_info.merge(existing, entries, export_name=ctx.name, force=ctx.force, path=path)
        notes.extend(merge_notes)
        siblings = [lf_info.DATASET_INFO]
        if existing is not None:
            staged.replace_sibling(lf_info.BACKUP, path.read_bytes())
            siblings.append(lf_info.BACKUP)
        staged.replace_sibling(lf_info.DATASET_INFO, lf_info.dumps(merged).encode("utf-8"))
        return siblings

    # -- training YAML ----------------------------------------------------------------------------------
    def training_sections(self, ctx: ExportContext, entries: dict[str, dict[str, Any]], lf_name: str | None,
                          tokenized_path: Path | None, added_tokens: list[str]) -> dict[str, dict[str, Any]]:
        """The YAML as ``{section: {key: value}}``, every key checked against LLaMA-Factory 0.9.5."""
        stage = ctx.stage
        pre = ctx.preprocess
        validation = f"{ctx.name}_validation" in entries
        finetuning = ctx.config.finetuning_type
        lora = getattr(ctx.train, "lora", None) if ctx.train is not None else None
        if lora is not None:
            finetuning = "lora"
        method: dict[str, Any] = {"stage": stage, "do_train": True, "finetuning_type": finetuning}
        if finetuning == "lora":
            target = getattr(lora, "target_modules", "all-linear") if lora is not None else "all-linear"
            method.update({
                "lora_rank": getattr(lora, "r", 8) if lora is not None else 8,
                "lora_alpha": getattr(lora, "alpha", 16) if lora is not None else 16,
                "lora_dropout": getattr(lora, "dropout", 0.0) if lora is not None else 0.0,
                "lora_target": "all" if target in ("all-linear", "all") else
                (",".join(target) if isinstance(target, list) else str(target)),
            })
        if stage == "dpo":
            method.update({"pref_beta": 0.1, "pref_loss": "sigmoid"})
        elif stage == "kto":
            method.update({"pref_beta": 0.1})
        dataset: dict[str, Any] = {"dataset": ctx.name, "dataset_dir": str(ctx.out_dir)}
        if validation:
            dataset["eval_dataset"] = f"{ctx.name}_validation"
        if lf_name is not None:
            dataset["template"] = lf_name
        dataset["cutoff_len"] = pre.cutoff_len
        if stage == "sft":
            dataset["train_on_prompt"] = pre.train_on_prompt
            dataset["mask_history"] = pre.mask_history
        if pre.packing is not None:
            dataset["packing"] = pre.packing
        if pre.neat_packing:
            dataset["neat_packing"] = True
        dataset["enable_thinking"] = pre.enable_thinking
        dataset["preserve_thinking"] = pre.preserve_thinking
        options = ctx.render_options
        if options is not None and getattr(options, "default_system", None) is not None:
            dataset["default_system"] = options.default_system
        if options is not None and getattr(options, "tool_format", None) is not None:
            dataset["tool_format"] = options.tool_format
        dataset["preprocessing_batch_size"] = pre.batch_size
        if pre.num_proc:
            dataset["preprocessing_num_workers"] = pre.num_proc
        dataset["overwrite_cache"] = True
        if tokenized_path is not None:
            dataset["tokenized_path"] = str(tokenized_path)
        model: dict[str, Any] = {"model_name_or_path": ctx.model_name_or_path(), "trust_remote_code": True}
        if added_tokens:
            model["add_special_tokens"] = ",".join(added_tokens)
            model["resize_vocab"] = True
        output = {"output_dir": f"saves/{ctx.name}/{finetuning}/{stage}", "logging_steps": 10, "save_steps": 500,
                  "overwrite_output_dir": True, "save_only_model": False, "report_to": "none"}
        train = {"per_device_train_batch_size": 1, "gradient_accumulation_steps": 8,
                 "learning_rate": _LEARNING_RATE[stage], "num_train_epochs": 3.0, "lr_scheduler_type": "cosine",
                 "warmup_steps": 0.1, "bf16": True, "ddp_timeout": 180000000}
        evaluation = ({"per_device_eval_batch_size": 1, "eval_strategy": "steps", "eval_steps": 500}
                      if validation else {})
        sections = {"model": model, "method": method, "dataset": dataset, "output": output, "train": train,
                    "eval": evaluation, "generation": {}}
        user = user_values(ctx)
        for where, values in user:
            check_keys(values, lf_schema.YAML_KEYS, what=f"LLaMA-Factory {lf_schema.LLAMAFACTORY_VERSION}",
                       where=where)
        merge_user_values(sections, user, _section_for)
        self.validate(ctx, sections)
        return sections

    @staticmethod
    def validate(ctx: ExportContext, sections: dict[str, dict[str, Any]]) -> None:
        """Every key known to LLaMA-Factory, and no combination its parser refuses."""
        flat = flatten(sections)
        check_keys(flat, lf_schema.YAML_KEYS, what=f"LLaMA-Factory {lf_schema.LLAMAFACTORY_VERSION}",
                   where="training config")
        problems: list[tuple[str, str]] = []
        if flat.get("stage") != "sft":
            for key in lf_schema.SFT_ONLY_KEYS:
                if flat.get(key):
                    problems.append((key, f"LLaMA-Factory refuses {key} outside stage sft (stage is {flat.get('stage')})"))
        if flat.get("train_on_prompt") and flat.get("mask_history"):
            problems.append(("mask_history", "LLaMA-Factory refuses train_on_prompt together with mask_history"))
        if flat.get("train_on_prompt") and getattr(ctx.template, "efficient_eos", False):
            problems.append(("train_on_prompt", "LLaMA-Factory refuses train_on_prompt with an efficient_eos template"))
        if flat.get("stage") not in lf_schema.STAGES:
            close = difflib.get_close_matches(str(flat.get("stage")), lf_schema.STAGES, n=1)
            problems.append(("stage", f"must be one of {', '.join(lf_schema.STAGES)}"
                                      + (f" (did you mean {close[0]!r}?)" if close else "")))
        if flat.get("finetuning_type") not in lf_schema.FINETUNING_TYPES:
            problems.append(("finetuning_type", f"must be one of {', '.join(lf_schema.FINETUNING_TYPES)}"))
        if problems:
            listed = "; ".join(f"{key}: {message}" for key, message in problems)
            raise ConfigError(f"LLaMA-Factory would refuse the training config: {listed}", problems)


def _section_for(key: str) -> str:
    for group, keys in lf_schema.YAML_KEY_GROUPS.items():
        if key in keys:
            return _SECTION_OF_GROUP[group]
    return "train"  # pragma: no cover - keys are checked before


def _jinja_text(ctx: ExportContext, notes: list[str]) -> str | None:
    """The template as a Jinja chat template (for inference with the trained model), if it has one."""
    if ctx.template is None:
        return None
    try:
        return ctx.template.to_jinja()
    except Exception as exc:  # a plugin template may have no Jinja form; the tokens are still exact
        notes.append(f"template {ctx.template.name!r} has no Jinja form ({exc}); template.jinja not written")
        return None
