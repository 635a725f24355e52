"""TRL and axolotl exports: dataset formats and config files."""

from __future__ import annotations

import json

import pytest
import yaml
from test_export_support import read_json_file, run_export

from templates_hub.errors import ConfigError, UsageError
from templates_hub.export import axolotl_schema, trl_schema


def _config(path):
    return yaml.safe_load(path.read_text())


# -- TRL ----------------------------------------------------------------------------------------------------
def test_trl_conversational_messages(tmp_path):
    result = run_export(tmp_path, "trl", "sft", validation=2, file_format="jsonl")
    export_dir = tmp_path / "sft"
    records = read_json_file(export_dir / "data" / "train.jsonl")
    assert len(records) == 6 and all(set(r) == {"messages", "tools"} for r in records)
    assert records[0]["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    call = records[2]["messages"][1]["tool_calls"][0]
    assert call == {"type": "function", "function": {"name": "get_weather",
                                                     "arguments": {"city": "Berlin", "unit": "celsius"}}}
    assert isinstance(records[2]["tools"], list) and records[2]["tools"][0]["name"] == "get_weather"
    assert [m["role"] for m in records[3]["messages"]] == ["user", "assistant", "tool", "tool", "assistant"]
    assert records[4]["messages"][1]["reasoning"] == "12 * 7 = 84, plus 3 is 87."
    config = _config(export_dir / "trl_sft.yaml")
    assert set(config) <= trl_schema.builtin_keys("sft")
    assert config["dataset_name"] == str(export_dir / "data") and config["dataset_test_split"] == "validation"
    assert config["assistant_only_loss"] is True  # the qwen template is exported with {% generation %} blocks
    assert config["eos_token"] == "<|im_end|>" and config["max_length"] == 2048 and config["use_peft"] is True
    jinja = (export_dir / "chat_template.jinja").read_text()
    assert config["chat_template_path"] == str(export_dir / "chat_template.jinja") and "generation" in jinja
    assert result.commands == [f"trl sft --config {export_dir / 'trl_sft.yaml'}"]


def test_trl_data_dir_loads_as_train_and_validation(tmp_path):
    from datasets import load_dataset

    run_export(tmp_path, "trl", "kto", validation=1, file_format="jsonl")
    loaded = load_dataset(str(tmp_path / "kto" / "data"))
    assert set(loaded) == {"train", "validation"} and len(loaded["train"]) == 3 and len(loaded["validation"]) == 1


@pytest.mark.parametrize("data,trl_format", [("preference", "messages"), ("sft", "messages"),
                                              ("sft", "prompt_completion")])
def test_trl_splits_with_different_fields_load_together(tmp_path, data, trl_format):
    """TRL reads the data directory with load_dataset, which types every split like the first one: the
    validation row's tool call (absent from train) made it fail with a CastError before data/README.md
    declared the union of the splits' fields."""
    from datasets import load_dataset

    result = run_export(tmp_path, "trl", data, validation=1, trl_format=trl_format)
    assert (tmp_path / data / "data" / "README.md").is_file()
    assert any("data/README.md" in note for note in result.notes)
    loaded = load_dataset(str(tmp_path / data / "data"))
    written = {split: read_json_file(tmp_path / data / "data" / f"{split}.json") for split in ("train", "validation")}
    assert {split: len(rows) for split, rows in loaded.items()} == {k: len(v) for k, v in written.items()}
    if data == "preference":
        call = loaded["validation"][0]["chosen"][0]["tool_calls"][0]
        assert call == {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}}
        assert loaded["train"][0]["chosen"] == [{"role": "assistant", "content": "4.", "tool_calls": None}]
    # a re-export with other rows is read afresh (a README `configs:` block would serve datasets' stale cache)
    run_export(tmp_path, "trl", data, validation=2, trl_format=trl_format, force=True)
    assert len(load_dataset(str(tmp_path / data / "data"))["validation"]) == 2


def test_trl_splits_with_the_same_fields_need_no_dataset_card(tmp_path):
    run_export(tmp_path, "trl", "kto", validation=1)
    assert not (tmp_path / "kto" / "data" / "README.md").exists()


def test_trl_feature_merge():
    from datasets import Json, List, Value

    from templates_hub.export.trl import _merge_features

    a = {"role": Value("string"), "tool_calls": Value("null")}
    b = {"role": Value("string"), "tool_calls": List({"name": Value("string")}), "reasoning": Value("string")}
    assert _merge_features(List(a), List(b)) == List(b)
    assert _merge_features(None, Value("int64")) == Value("int64")
    assert _merge_features(List(Json()), List({"role": Value("string")})) == List(Json())
    assert _merge_features(Value("string"), Value("int64")) == Json()


def test_trl_prompt_completion(tmp_path):
    run_export(tmp_path, "trl", "sft", trl_format="prompt_completion")
    records = read_json_file(tmp_path / "sft" / "data" / "train.json")
    assert all(set(r) == {"prompt", "completion", "tools"} for r in records)
    assert records[1]["completion"] == [{"role": "assistant", "content": "Berlin."}]
    assert [m["role"] for m in records[1]["prompt"]] == ["user", "assistant", "user"]
    config = _config(tmp_path / "sft" / "trl_sft.yaml")
    assert "assistant_only_loss" not in config and "completion_only_loss" not in config  # TRL's default: True


@pytest.mark.parametrize("data,trainer,columns", [
    ("preference", "dpo", {"prompt", "chosen", "rejected", "tools"}),
    ("kto", "kto", {"prompt", "completion", "label"}),  # no kto row has tools
    ("text", "sft", {"text"}),
])
def test_trl_other_kinds(tmp_path, data, trainer, columns):
    run_export(tmp_path, "trl", data)
    records = read_json_file(tmp_path / data / "data" / "train.json")
    assert all(set(r) == columns for r in records)
    config = _config(tmp_path / data / f"trl_{trainer}.yaml")
    assert set(config) <= trl_schema.builtin_keys(trainer)
    if data == "preference":
        assert records[0]["chosen"] == [{"role": "assistant", "content": "4."}]
        assert records[0]["rejected"] == [{"role": "assistant", "content": "5."}]
        assert config["beta"] == 0.1 and config["loss_type"] == "sigmoid"
    if data == "kto":
        assert [r["label"] for r in records] == [True, False, True, False]
    if data == "text":
        assert config["packing"] is True and "chat_template_path" in config


def test_trl_arguments_as_string_and_dropped_train_flags(tmp_path):
    result = run_export(tmp_path, "trl", "sft_train_flags", options={"arguments_as": "string"})
    records = read_json_file(tmp_path / "sft_train_flags" / "data" / "train.json")
    assert all("train" not in m for r in records for m in r["messages"])
    assert any("train flags were dropped" in n for n in result.notes)
    run_export(tmp_path, "trl", "sft", name="strings", options={"arguments_as": "string"})
    call = read_json_file(tmp_path / "strings" / "data" / "train.json")[2]["messages"][1]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"city": "Berlin", "unit": "celsius"}
    with pytest.raises(UsageError, match="arguments_as"):
        run_export(tmp_path, "trl", "sft", name="bad", options={"arguments_as": "yaml"})
    with pytest.raises(UsageError, match="no option 'colour'"):
        run_export(tmp_path, "trl", "sft", name="bad", options={"colour": 1})


def test_trl_key_checks(tmp_path):
    with pytest.raises(ConfigError, match="'max_seq_length' \\(did you mean 'max_length'"):
        run_export(tmp_path, "trl", "sft", hyperparameters={"max_seq_length": 512})
    run_export(tmp_path, "trl", "sft", hyperparameters={"max_seq_length": 512},
               options={"extra_keys": ["max_seq_length"]})
    assert _config(tmp_path / "sft" / "trl_sft.yaml")["max_seq_length"] == 512
    with pytest.raises(UsageError, match="LoRA adapters or full models"):
        run_export(tmp_path, "trl", "sft", name="frozen", finetuning_type="freeze")


@pytest.mark.parametrize("target, config_file", [("trl", "trl_sft.yaml"), ("axolotl", "axolotl.yaml")])
def test_the_users_warmup_replaces_the_default_warmup_ratio(tmp_path, target, config_file):
    """The default warmup_ratio must not stay beside the user's warmup_steps: transformers 5.5 lets it
    override warmup_steps, axolotl refuses the pair. axolotl's warmup_steps counts whole steps, so the
    transformers 5 way of giving a ratio (warmup_steps: 0.25) is written as warmup_ratio there."""
    from templates_hub.train.config import TrainConfig

    run_export(tmp_path, target, "sft", train=TrainConfig(warmup_steps=0.25))
    config = _config(tmp_path / "sft" / config_file)
    expected = {"warmup_ratio": 0.25} if target == "axolotl" else {"warmup_steps": 0.25}
    assert {k: v for k, v in config.items() if k.startswith("warmup")} == expected
    run_export(tmp_path, target, "sft", name="steps", train=TrainConfig(warmup_steps=30))
    config = _config(tmp_path / "steps" / config_file)
    assert config["warmup_steps"] == 30 and "warmup_ratio" not in config


def test_trl_full_finetuning_has_no_peft_keys(tmp_path):
    run_export(tmp_path, "trl", "sft", finetuning_type="full")
    config = _config(tmp_path / "sft" / "trl_sft.yaml")
    assert "use_peft" not in config and "lora_r" not in config



@pytest.mark.parametrize("data,trainer", [("sft", "sft"), ("preference", "dpo"), ("kto", "kto")])
def test_trl_default_warmup_is_a_ratio_in_warmup_steps(tmp_path, data, trainer):
    """transformers 5.24 has no warmup_ratio and TRL 1.x hands config keys its parser does not know to
    `accelerate launch`, which refuses them: the default warmup is written as warmup_steps < 1 (a ratio)."""
    run_export(tmp_path, "trl", data)
    config = _config(tmp_path / data / f"trl_{trainer}.yaml")
    assert config["warmup_steps"] == 0.1 and "warmup_ratio" not in config


def test_trl_kto_batch_holds_two_rows(tmp_path):
    """TRL's KTOTrainer estimates the KL term from the other rows of a batch and refuses a batch of 1."""
    from templates_hub.train.config import TrainConfig

    run_export(tmp_path, "trl", "kto")
    config = _config(tmp_path / "kto" / "trl_kto.yaml")
    assert config["per_device_train_batch_size"] == 2 and config["gradient_accumulation_steps"] == 4
    with pytest.raises(UsageError, match="export.hyperparameters.per_device_train_batch_size: TRL's KTOTrainer"):
        run_export(tmp_path, "trl", "kto", name="one", hyperparameters={"per_device_train_batch_size": 1})
    with pytest.raises(UsageError, match="train.per_device_train_batch_size"):
        run_export(tmp_path, "trl", "kto", name="one", train=TrainConfig(per_device_train_batch_size=1))
    assert not (tmp_path / "one").exists()
    # a loss without the KL term trains with one row per device
    run_export(tmp_path, "trl", "kto", name="apo",
               hyperparameters={"per_device_train_batch_size": 1, "loss_type": "apo_zero_unpaired"})
    assert _config(tmp_path / "apo" / "trl_kto.yaml")["per_device_train_batch_size"] == 1
    run_export(tmp_path, "trl", "sft", hyperparameters={"per_device_train_batch_size": 1})  # only KTO needs 2


# -- axolotl -------------------------------------------------------------------------------------------------
def test_axolotl_chat_template_config(tmp_path):
    from templates_hub.templates import get_template
    from templates_hub.train.config import TrainConfig

    result = run_export(tmp_path, "axolotl", "sft", validation=1, file_format="jsonl",
                        train=TrainConfig(num_train_epochs=2, per_device_train_batch_size=4))
    export_dir = tmp_path / "sft"
    config = _config(export_dir / "axolotl.yaml")
    assert set(config) <= axolotl_schema.CONFIG_KEYS
    assert config["base_model"] == "org/model" and config["chat_template"] == "jinja"
    assert config["chat_template_jinja"] == get_template("qwen").to_jinja()
    assert (export_dir / "chat_template.jinja").read_text() == config["chat_template_jinja"]
    entry = config["datasets"][0]
    assert set(entry) <= axolotl_schema.SFT_DATASET_KEYS
    assert entry == {"path": str(export_dir / "data" / "train.jsonl"), "ds_type": "json", "type": "chat_template",
                     "field_messages": "messages", "message_property_mappings": {"role": "role", "content": "content"},
                     "roles_to_train": ["assistant"], "train_on_eos": "turn", "field_tools": "tools",
                     "field_thinking": "reasoning"}
    assert config["test_datasets"][0]["path"].endswith("validation.jsonl") and config["test_datasets"][0]["split"] == "train"
    assert config["num_epochs"] == 2 and config["micro_batch_size"] == 4  # TrainingArguments names translated
    assert config["special_tokens"] == {"eos_token": "<|im_end|>"}  # qwen replaces the tokenizer's eos
    assert config["sequence_len"] == 2048 and config["adapter"] == "lora" and config["lora_target_linear"] is True
    records = read_json_file(export_dir / "data" / "train.jsonl")
    assert records[2]["messages"][1]["tool_calls"][0]["function"]["arguments"] == {"city": "Berlin", "unit": "celsius"}
    assert result.commands[-1] == f"axolotl train {export_dir / 'axolotl.yaml'}"


def test_axolotl_per_message_training(tmp_path):
    run_export(tmp_path, "axolotl", "sft_train_flags")
    config = _config(tmp_path / "sft_train_flags" / "axolotl.yaml")
    assert config["datasets"][0]["message_field_training"] == "train"
    records = read_json_file(tmp_path / "sft_train_flags" / "data" / "train.json")
    assert [m.get("train") for m in records[0]["messages"]] == [None, False, None, True]


def test_axolotl_text_and_unsupported_kinds(tmp_path):
    run_export(tmp_path, "axolotl", "text")
    config = _config(tmp_path / "text" / "axolotl.yaml")
    assert config["datasets"][0]["type"] == "completion" and config["datasets"][0]["field"] == "text"
    assert config["sample_packing"] is True and "chat_template" not in config
    with pytest.raises(UsageError, match="use `templates-hub export trl`"):
        run_export(tmp_path, "axolotl", "preference")
    with pytest.raises(ConfigError, match="'num_train_epoch'"):
        run_export(tmp_path, "axolotl", "sft", hyperparameters={"num_train_epoch": 1})
