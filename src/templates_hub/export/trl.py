"""The TRL exporter: datasets in TRL's formats plus a config for ``trl sft|dpo|kto --config``.

Layout of ``templates-hub export trl RECIPE --out DIR``::

    DIR/NAME/data/train.jsonl        TRL records (below); validation.jsonl when the recipe splits
    DIR/NAME/data/README.md          the union of the splits' fields, when they differ (_pin_shared_features)
    DIR/NAME/chat_template.jinja     the recipe's template (SFTConfig.chat_template_path points at it)
    DIR/NAME/trl_<trainer>.yaml      ScriptArguments + SFTConfig / DPOConfig / KTOConfig + ModelConfig keys
    DIR/NAME/manifest.json

Records (``tools`` is a list of function schemas; tool-call ``arguments`` are objects unless
``options.arguments_as: string``):

- sft rows, ``trl_format: messages``: conversational ``{"messages": [...], "tools"?}``;
- sft rows, ``trl_format: prompt_completion``: ``{"prompt": [...], "completion": [last assistant]}``;
- preference rows: ``{"prompt": [...], "chosen": [assistant], "rejected": [assistant]}`` (DPOConfig);
- kto rows: unpaired preference ``{"prompt", "completion", "label"}`` (KTOConfig);
- text rows: language modelling ``{"text": ...}``.

TRL is not a dependency: the config keys are checked against TRL 1.16.0's lists (``trl_schema``), or
against the installed TRL when it is importable.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import UsageError
from . import trl_schema
from .atomic import StagedExport
from .base import BaseExporter, BuildOutput, ExportContext
from .chat_files import (
    effective_eos,
    extra_keys,
    jinja_with_generation,
    lora_settings,
    merge_user_values,
    message_field_present,
    message_options,
    to_preference,
    to_prompt_completion,
    user_values,
)
from .keycheck import check_keys
from .records import write_split
from .yamlfile import dump_sections, flatten

_TRAINER = {"sft": "sft", "pt": "sft", "dpo": "dpo", "kto": "kto"}
_LEARNING_RATE = {"sft": 2.0e-5, "dpo": 1.0e-6, "kto": 1.0e-6}


class TRLExporter(BaseExporter):
    """TRL: conversational / prompt-completion / preference datasets + an SFT, DPO or KTO config."""

    name: ClassVar[str] = "trl"
    description: ClassVar[str] = ("TRL: messages, prompt-completion, preference or unpaired-preference datasets and a "
                                  "`trl sft|dpo|kto --config` YAML")
    kinds: ClassVar[tuple[str, ...]] = ("sft", "preference", "kto", "text")
    option_names: ClassVar[tuple[str, ...]] = ("arguments_as", "extra_keys")

    def check(self, ctx: ExportContext) -> None:
        super().check(ctx)
        if ctx.stage not in _TRAINER:
            raise UsageError(f"the trl exporter has no trainer for stage {ctx.stage!r} (it writes sft, dpo, kto)")
        if ctx.config.finetuning_type not in ("lora", "full"):
            raise UsageError(f"TRL's command line trains LoRA adapters or full models, not "
                             f"{ctx.config.finetuning_type!r} (set export.finetuning_type to lora or full)")
        message_options(ctx)
        allowed, version = trl_schema.allowed_keys(_TRAINER[ctx.stage])
        for where, values in user_values(ctx):  # typos first, before any work or overwrite decision
            check_keys(values, allowed | extra_keys(ctx), what=f"TRL {version} `trl {_TRAINER[ctx.stage]}`",
                       where=where)

    def fingerprint_inputs(self, ctx: ExportContext) -> dict[str, Any]:
        return {"trl_keys": trl_schema.allowed_keys(_TRAINER[ctx.stage])[1]}

    def build(self, ctx: ExportContext, staged: StagedExport) -> BuildOutput:
        notes: list[str] = []
        trainer = _TRAINER[ctx.stage]
        layout, reshape = self._layout(ctx)
        if ctx.kind != "text" and message_field_present(ctx, "train"):
            notes.append("per-message train flags were dropped: TRL has no per-message loss switch "
                         "(the axolotl or llamafactory export keeps them)")
        data_files: dict[str, str] = {}
        counts: dict[str, int] = {}
        ext = "json" if ctx.config.file_format == "json" else "jsonl"
        for split in ctx.split_names():
            relative = f"data/{split}.{ext}"
            written = write_split(ctx, staged, split, relative, layout=layout, reshape=reshape,
                                  options=message_options(ctx) if layout == "openai" else None,
                                  file_format=ctx.config.file_format, strip_train=True)
            data_files[split] = relative
            counts[split] = written.rows
        if _pin_shared_features(staged, {s: f for s, f in data_files.items() if counts[s]}):
            notes.append("the splits' records differ in their fields; data/README.md gives load_dataset the "
                         "union of them, so TRL loads train and validation together")
        jinja, has_generation = jinja_with_generation(ctx)
        if jinja is not None:
            staged.write_text("chat_template.jinja", jinja)
        sections = self.config_sections(ctx, trainer, data_files, jinja is not None, has_generation, notes)
        config_name = f"trl_{trainer}.yaml"
        version = trl_schema.allowed_keys(trainer)[1]
        header = (f"TRL ({version} keys) config written by templates-hub.\n"
                  f"Run: trl {trainer} --config {ctx.export_dir / config_name}")
        staged.write_text(config_name, dump_sections(sections, header))
        return BuildOutput(commands=[f"trl {trainer} --config {ctx.export_dir / config_name}"], notes=notes,
                           manifest={"counts": {"files": counts}, "trl": {"trainer": trainer, "keys_version": version,
                                                                          "format": self._format_name(ctx)}})

    @staticmethod
    def _format_name(ctx: ExportContext) -> str:
        return {"sft": ctx.config.trl_format, "preference": "preference", "kto": "unpaired_preference",
                "text": "language_modeling"}[ctx.kind]

    @staticmethod
    def _layout(ctx: ExportContext) -> tuple[str, Any]:
        if ctx.kind == "text":
            return "text", None
        if ctx.kind == "preference":
            return "openai", to_preference
        if ctx.kind == "kto" or ctx.config.trl_format == "prompt_completion":
            return "openai", to_prompt_completion
        return "openai", None

    def config_sections(self, ctx: ExportContext, trainer: str, data_files: dict[str, str], has_template: bool,
                        has_generation: bool, notes: list[str]) -> dict[str, dict[str, Any]]:
        """``{section: {key: value}}`` for ``trl <trainer> --config``, every key checked."""
        pre = ctx.preprocess
        validation = "validation" in data_files
        model: dict[str, Any] = {"model_name_or_path": ctx.model_name_or_path(), "trust_remote_code": True}
        lora = lora_settings(ctx)
        if lora is not None:
            model.update({"use_peft": True, "lora_r": lora["r"], "lora_alpha": lora["alpha"],
                          "lora_dropout": lora["dropout"], "lora_target_modules": lora["target_modules"]})
        data: dict[str, Any] = {"dataset_name": str(ctx.export_dir / "data"), "dataset_train_split": "train"}
        if validation:
            data["dataset_test_split"] = "validation"
        training: dict[str, Any] = {"output_dir": f"saves/{ctx.name}/trl/{trainer}", "max_length": pre.cutoff_len}
        if pre.num_proc:
            training["dataset_num_proc"] = pre.num_proc
        allowed, version = trl_schema.allowed_keys(trainer)
        allowed = allowed | extra_keys(ctx)
        if has_template and "chat_template_path" in allowed:
            training["chat_template_path"] = str(ctx.export_dir / "chat_template.jinja")
        elif has_template:
            notes.append(f"`trl {trainer}` (TRL {version}) formats rows with the model tokenizer's own chat template; "
                         f"to train with this recipe's template set tokenizer.chat_template to chat_template.jinja")
        if trainer == "sft":
            if pre.packing is not None or ctx.stage == "pt":
                training["packing"] = bool(pre.packing) if pre.packing is not None else True
            eos = effective_eos(ctx)
            if eos is not None and ctx.kind != "text":
                training["eos_token"] = eos
            if ctx.kind == "sft" and ctx.config.trl_format == "messages":
                if pre.train_on_prompt:
                    training["assistant_only_loss"] = False
                elif has_generation:
                    training["assistant_only_loss"] = True
                else:
                    notes.append("the chat template has no {% generation %} blocks, so TRL trains on the prompt "
                                 "tokens too; export with trl_format: prompt_completion to train on answers only")
            if ctx.kind == "sft" and ctx.config.trl_format == "prompt_completion" and pre.train_on_prompt:
                training["completion_only_loss"] = False
            if pre.mask_history and ctx.config.trl_format == "messages":
                notes.append("mask_history has no TRL equivalent for messages data; trl_format: prompt_completion "
                             "trains on the last answer only")
        elif trainer == "dpo":
            training.update({"beta": 0.1, "loss_type": "sigmoid"})
        elif trainer == "kto":
            training.update({"beta": 0.1})
        # KTO estimates its KL term from the other rows of a batch, so TRL refuses a per-device batch of 1
        batch = 2 if trainer == "kto" else 1
        training.update({
            "learning_rate": _LEARNING_RATE[trainer], "num_train_epochs": 3.0, "per_device_train_batch_size": batch,
            # warmup_steps below 1 is a ratio (transformers 5); transformers 5.24 has no warmup_ratio, and
            # TRL 1.x hands keys its parser does not know to `accelerate launch`, which refuses them
            "gradient_accumulation_steps": 8 // batch, "lr_scheduler_type": "cosine", "warmup_steps": 0.1,
            "logging_steps": 10, "bf16": True, "report_to": "none",
        })
        if validation:
            training.update({"eval_strategy": "steps", "eval_steps": 500, "per_device_eval_batch_size": 1})
        sections = {"model (ModelConfig)": model, "data (ScriptArguments)": data,
                    f"training ({trainer.upper()}Config)": training}
        user = user_values(ctx)
        for where, values in user:
            check_keys(values, allowed, what=f"TRL {version} `trl {trainer}`", where=where)
        merge_user_values(sections, user, lambda key: f"training ({trainer.upper()}Config)")
        check_keys(flatten(sections), allowed, what=f"TRL {version} `trl {trainer}`", where="training config")
        if trainer == "kto":
            _check_kto_batch(flatten(sections), user)
        return sections


def _pin_shared_features(staged: StagedExport, data_files: dict[str, str]) -> bool:
    """Write ``data/README.md`` declaring the union of the splits' columns when the splits differ.

    TRL loads the data directory with ``load_dataset(dataset_name)``, which infers the columns from the
    first split's first block and casts every other split to them: a validation split with a field train
    never has (``tools``, a message's ``tool_calls``, a tool argument name) fails with a CastError. The
    dataset card's ``dataset_info.features`` replaces that guess (missing fields then read as null); the
    split files are still found by their names (train.*, validation.*). Only written when needed, so the
    usual export stays plain JSON that any ``datasets`` version reads.
    """
    if len(data_files) < 2:
        return False
    import tempfile

    import yaml
    from datasets import DatasetInfo, Features, load_dataset

    from ..prepare import progress_bars

    found = []
    with tempfile.TemporaryDirectory() as cache, progress_bars(False):
        for relative in data_files.values():  # each file alone, as datasets would read it
            try:
                found.append(load_dataset("json", data_files=str(staged.path(relative)), split="train",
                                          cache_dir=cache).features)
            except Exception:  # a file datasets cannot type alone: TRL will say why; no card can help
                return False
    if all(features == found[0] for features in found[1:]):
        return False
    union = found[0]
    for features in found[1:]:
        union = _merge_features(union, features)
    # features only: a `configs:` block would make datasets cache the directory under a hash that ignores
    # the files' contents (datasets 5.2), so a re-export would load the previous export's rows
    card = {"dataset_info": DatasetInfo(features=Features(union))._to_yaml_dict()}
    staged.write_text("data/README.md", "---\n" + yaml.safe_dump(card, sort_keys=False, allow_unicode=True)
                      + "---\nTRL data exported by templates-hub; the header lists the fields of every split.\n")
    return True


def _merge_features(a: Any, b: Any) -> Any:
    """The ``datasets`` feature type that holds values of both ``a`` and ``b`` (None: the field is absent).

    Structs merge field by field, lists item by item, an all-null field takes the other side's type;
    anything else (a JSON object in one split, a struct in the other; different scalar types) becomes
    ``Json``, which keeps every value as written.
    """
    from datasets import Json, List, Value

    if a is None or a == Value("null"):
        return b
    if b is None or b == Value("null") or a == b:
        return a
    if isinstance(a, dict) and isinstance(b, dict):
        return {key: _merge_features(a.get(key), b.get(key)) for key in [*a, *(k for k in b if k not in a)]}
    if isinstance(a, List) and isinstance(b, List) and a.length == b.length:
        return List(_merge_features(a.feature, b.feature), length=a.length)
    return Json()


#: KTO losses that do not estimate a KL term from the batch (TRL accepts a per-device batch of 1 for them)
_KTO_WITHOUT_KL = ("apo_zero_unpaired",)


def _check_kto_batch(config: dict[str, Any], user: list[tuple[str, dict[str, Any]]]) -> None:
    """Refuse now what ``KTOTrainer`` refuses only after loading the model: a per-device batch of 1 with a
    loss that takes its KL estimate from the other rows of the batch."""
    batch = config.get("per_device_train_batch_size")
    if config.get("loss_type", "kto") in _KTO_WITHOUT_KL or not isinstance(batch, int) or batch > 1:
        return
    where = next((w for w, values in user if "per_device_train_batch_size" in values), "the recipe")
    raise UsageError(f"{where}.per_device_train_batch_size: TRL's KTOTrainer needs at least 2 rows per device "
                     f"(got {batch}): its KL term is estimated from the other rows of the batch; raise it, or "
                     f"lower gradient_accumulation_steps to keep the effective batch")
