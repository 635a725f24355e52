"""The key lists the exporters check against (LLaMA-Factory 0.9.5, TRL 1.16.0, axolotl 0.19.0)."""

from __future__ import annotations

import dataclasses
import sys
import types

import pytest

from templates_hub.errors import ConfigError
from templates_hub.export import axolotl_schema, lf_schema, trl_schema
from templates_hub.export.keycheck import check_keys, unknown_keys


# -- LLaMA-Factory ---------------------------------------------------------------------------------------
def test_llamafactory_yaml_keys_are_pinned():
    sizes = {name: len(keys) for name, keys in lf_schema.YAML_KEY_GROUPS.items()}
    # ModelArguments 76, DataArguments 28, LF TrainingArguments 18 + transformers 5.5.4 Seq2Seq 114, ...
    assert sizes == {"ModelArguments": 76, "DataArguments": 28, "TrainingArguments": 132,
                     "FinetuningArguments": 97, "GeneratingArguments": 10}
    assert len(lf_schema.YAML_KEYS) == sum(sizes.values())  # no key in two dataclasses


@pytest.mark.parametrize("key", [
    "model_name_or_path", "trust_remote_code", "add_special_tokens", "resize_vocab",  # model
    "template", "dataset", "eval_dataset", "dataset_dir", "cutoff_len", "train_on_prompt", "mask_history",
    "packing", "neat_packing", "val_size", "tokenized_path", "enable_thinking", "preserve_thinking",
    "tool_format", "default_system", "preprocessing_num_workers", "preprocessing_batch_size",  # data
    "stage", "finetuning_type", "lora_rank", "lora_alpha", "lora_dropout", "lora_target", "pref_beta",
    "pref_loss", "plot_loss",  # finetuning
    "output_dir", "overwrite_output_dir", "learning_rate", "num_train_epochs", "warmup_ratio", "bf16",
    "eval_strategy", "per_device_train_batch_size", "ddp_timeout", "report_to",  # training
    "max_new_tokens", "temperature",  # generation
])
def test_llamafactory_accepts(key):
    assert key in lf_schema.YAML_KEYS


@pytest.mark.parametrize("key", ["group_by_length", "evaluation_strategy", "no_cuda", "logging_dir_x", "format",
                                 "lora_r", "max_seq_length", "formatting"])
def test_llamafactory_rejects(key):
    assert key not in lf_schema.YAML_KEYS


def test_dataset_info_keys_agree_with_the_reader():
    from templates_hub.formats import dataset_info

    assert lf_schema.ENTRY_KEYS == frozenset(dataset_info.ENTRY_KEYS)
    assert lf_schema.SOURCE_KEYS == tuple(dataset_info.SOURCE_KEYS)
    assert lf_schema.FORMATTINGS == tuple(dataset_info.FORMATTINGS)
    assert lf_schema.COLUMN_DEFAULTS == dataset_info.COLUMN_DEFAULTS
    assert lf_schema.TAG_DEFAULTS == dataset_info.TAG_DEFAULTS


def test_template_names_and_builtins():
    from templates_hub.export.llamafactory import builtin_lf_name
    from templates_hub.plugins import get_registry

    assert len(lf_schema.TEMPLATE_NAMES) == 121
    assert {"qwen", "qwen3", "llama3", "chatml", "mistral", "gemma", "empty", "openchat-3.6"} <= lf_schema.TEMPLATE_NAMES
    registry = get_registry("templates")
    named = {name for name in registry.names() if builtin_lf_name(registry.get(name), name)}
    assert {"qwen", "llama3", "chatml", "alpaca"} <= named
    assert all(builtin_lf_name(registry.get(n), n) in lf_schema.TEMPLATE_NAMES for n in named)


def test_tokenized_features_follow_llamafactory():
    sft = lf_schema.tokenized_features_spec("sft")
    assert sft == {"input_ids": "int32", "attention_mask": "int8", "labels": "int64",
                   "images": "null", "videos": "null", "audios": "null"}
    assert "position_ids" in lf_schema.tokenized_features_spec("sft", packing=True)
    assert lf_schema.tokenized_features_spec("sft", neat_packing=True)["attention_mask"] == "int64"
    assert set(lf_schema.tokenized_features_spec("dpo")) == {
        "chosen_input_ids", "chosen_attention_mask", "chosen_labels", "rejected_input_ids",
        "rejected_attention_mask", "rejected_labels", "images", "videos", "audios"}
    assert lf_schema.tokenized_features_spec("kto")["kto_tags"] == "bool"
    assert lf_schema.tokenized_features_spec("pt") == {"input_ids": "int32", "attention_mask": "int8"}
    with pytest.raises(ValueError):
        lf_schema.tokenized_features_spec("ppo")


# -- checking -------------------------------------------------------------------------------------------
def test_check_keys_names_every_bad_key_with_close_matches():
    with pytest.raises(ConfigError) as info:
        check_keys({"learning_rate": 1, "lerning_rate": 2, "zzz": 3}, lf_schema.YAML_KEYS,
                   what="LLaMA-Factory 0.9.5", where="export.hyperparameters")
    problems = dict(info.value.problems)
    assert set(problems) == {"export.hyperparameters.lerning_rate", "export.hyperparameters.zzz"}
    assert "did you mean 'learning_rate'" in problems["export.hyperparameters.lerning_rate"]
    assert problems["export.hyperparameters.zzz"] == "unknown key 'zzz'"
    assert "'lerning_rate' (did you mean 'learning_rate'" in str(info.value)
    assert unknown_keys(["a", "b"], ["a"]) == [("b", [])]


# -- TRL ----------------------------------------------------------------------------------------------------
def test_trl_builtin_keys():
    sft = trl_schema.builtin_keys("sft")
    for key in ("dataset_name", "dataset_train_split", "dataset_test_split", "model_name_or_path", "use_peft",
                "lora_r", "lora_target_modules", "max_length", "packing", "assistant_only_loss",
                "completion_only_loss", "chat_template_path", "eos_token", "dataset_num_proc", "learning_rate",
                "eval_strategy", "datasets"):
        assert key in sft, key
    assert "max_seq_length" not in sft and "beta" not in sft and "predict_with_generate" not in sft
    assert "warmup_ratio" not in sft and "warmup_steps" in sft  # transformers 5.24: warmup_steps < 1 is a ratio
    dpo = trl_schema.builtin_keys("dpo")
    assert {"beta", "loss_type", "max_length", "truncation_mode"} <= dpo
    assert "max_prompt_length" not in dpo  # gone in TRL 1.x: TRL 1.16 would stop with "unrecognized arguments"
    kto = trl_schema.builtin_keys("kto")
    assert {"beta", "desirable_weight", "undesirable_weight"} <= kto


def test_trl_keys_follow_an_installed_trl(monkeypatch):
    @dataclasses.dataclass
    class FakeSFTConfig:
        learning_rate: float = 1e-5
        brand_new_option: bool = False

    @dataclasses.dataclass
    class FakeScript:
        dataset_name: str = ""

    @dataclasses.dataclass
    class FakeModel:
        model_name_or_path: str = ""

    fake = types.ModuleType("trl")
    fake.__version__ = "9.9.9"
    fake.SFTConfig, fake.ScriptArguments, fake.ModelConfig = FakeSFTConfig, FakeScript, FakeModel
    monkeypatch.setitem(sys.modules, "trl", fake)
    keys, version = trl_schema.allowed_keys("sft")
    assert version == "9.9.9" and "brand_new_option" in keys and "packing" not in keys
    monkeypatch.setitem(sys.modules, "trl", None)  # not importable: the built-in 1.16.0 lists
    assert trl_schema.allowed_keys("sft") == (trl_schema.builtin_keys("sft"), "1.16.0")


# -- axolotl ------------------------------------------------------------------------------------------------
def test_axolotl_keys():
    for key in ("base_model", "chat_template", "chat_template_jinja", "datasets", "test_datasets",
                "dataset_prepared_path", "sequence_len", "sample_packing", "train_on_inputs", "adapter", "lora_r",
                "lora_target_linear", "micro_batch_size", "num_epochs", "optimizer", "lr_scheduler",
                "special_tokens", "eot_tokens"):
        assert key in axolotl_schema.CONFIG_KEYS, key
    assert "num_train_epochs" not in axolotl_schema.CONFIG_KEYS
    assert {"type", "field_messages", "message_property_mappings", "roles_to_train", "train_on_eos", "field_tools",
            "field_thinking", "message_field_training", "chat_template_jinja"} <= axolotl_schema.SFT_DATASET_KEYS
