"""LLaMA-Factory export: on-disk layouts, dataset_info.json entries and merge, YAML, tokenized_path, manifest."""

from __future__ import annotations

import json

import pytest
import yaml
from test_export_support import FIXTURES, load_rows, public, read_json_file, run_export

from templates_hub.errors import ConfigError, DataError, UsageError
from templates_hub.export import lf_schema
from templates_hub.formats import load_canonical

TOOL_RESULTS_MERGED = "\n</tool_response>\n<tool_response>\n"


def _load_back(out, name, kind):
    options = None if kind == "text" else {"reasoning": "split"}
    result = load_canonical(None, dataset_info=out, dataset=name, options=options)
    assert result.rejects == [] and result.kind == kind
    return [public(r) for r in result.dataset]


def _expected(data, skip=()):
    return [public(r) for r in load_rows(data) if r["_row"] not in skip]


# -- layouts ---------------------------------------------------------------------------------------------
def test_sharegpt_sft_files_follow_llamafactory_layout(tmp_path):
    result = run_export(tmp_path, "llamafactory", "sft", validation=2)
    export_dir = tmp_path / "sft"
    records = read_json_file(export_dir / "data" / "train.json")
    assert isinstance(records, list) and len(records) == 6
    # every record has the same keys (JSON readers infer columns from the first rows)
    assert all(set(r) == {"conversations", "tools"} for r in records)
    first = records[0]["conversations"]
    assert first[0] == {"from": "system", "value": "You are a helpful assistant."}
    assert [t["from"] for t in first[1:]] == ["human", "gpt"]
    calls = records[2]["conversations"]
    assert [t["from"] for t in calls] == ["human", "function_call", "observation", "gpt"]
    assert json.loads(calls[1]["value"]) == {"name": "get_weather", "arguments": {"city": "Berlin", "unit": "celsius"}}
    assert isinstance(records[2]["tools"], str) and json.loads(records[2]["tools"])[0]["name"] == "get_weather"
    assert records[0]["tools"] is None
    parallel = records[3]["conversations"]
    assert json.loads(parallel[1]["value"])[1]["name"] == "search"  # parallel calls: a JSON list
    assert parallel[2]["value"] == '{"temperature": 18}' + TOOL_RESULTS_MERGED + "No results."
    assert "<think>\n12 * 7 = 84, plus 3 is 87.\n</think>\n\n" in records[4]["conversations"][1]["value"]
    assert len(read_json_file(export_dir / "data" / "validation.json")) == 2
    assert result.commands == [f"llamafactory-cli train {export_dir / 'llamafactory_sft.yaml'}"]


@pytest.mark.parametrize("layout", ["sharegpt", "alpaca"])
@pytest.mark.parametrize("data", ["preference", "kto", "text"])
@pytest.mark.parametrize("file_format", ["json", "jsonl"])
def test_round_trip_through_dataset_info_reader(tmp_path, layout, data, file_format):
    skip = {4} if data == "preference" and layout == "alpaca" else set()  # alpaca cannot hold a tool call
    if skip:
        pytest.raises(DataError, run_export, tmp_path, "llamafactory", data, layout=layout, file_format=file_format)
        return
    run_export(tmp_path, "llamafactory", data, validation=1, layout=layout, file_format=file_format)
    kind = "text" if data == "text" else data
    assert (tmp_path / data / "data" / f"train.{file_format}").is_file()
    assert _load_back(tmp_path, data, kind) == _expected(data)[:-1]
    assert _load_back(tmp_path, f"{data}_validation", kind) == _expected(data)[-1:]


def test_sft_round_trip_keeps_tools_calls_reasoning_and_system(tmp_path):
    run_export(tmp_path, "llamafactory", "sft", file_format="jsonl")
    back = _load_back(tmp_path, "sft", "sft")
    expected = _expected("sft")
    # LLaMA-Factory has one observation per turn: parallel tool results come back merged
    merged = expected[3]["messages"]
    merged[2] = {**merged[2], "content": merged[2]["content"] + TOOL_RESULTS_MERGED + merged[3]["content"]}
    del merged[3]
    assert back == expected


def test_alpaca_sft_without_tools_uses_history(tmp_path):
    rows = [r for r in load_rows("sft") if r["_row"] in (1, 2, 6)]
    from datasets import Dataset, DatasetDict

    from templates_hub.export import ExportConfig, export_dataset
    from templates_hub.schemas import features
    from templates_hub.tiny import build_tiny_tokenizer

    splits = DatasetDict({"train": Dataset.from_list(rows, features=features("sft"))})
    export_dataset(splits, target="llamafactory", out_dir=tmp_path, name="alp", template="qwen",
                   tokenizer=build_tiny_tokenizer(), config=ExportConfig(layout="alpaca", model_name_or_path="m"),
                   progress=False)
    records = read_json_file(tmp_path / "alp" / "data" / "train.json")
    assert records[1]["history"] == [["What is the capital of France?", "The capital of France is Paris."]]
    assert records[1]["instruction"] == "And of Germany?" and records[1]["output"] == "Berlin."
    assert records[0]["system"] == "You are a helpful assistant." and records[1]["system"] is None
    entry = json.loads((tmp_path / "dataset_info.json").read_text())["alp"]
    assert entry["formatting"] == "alpaca"
    assert entry["columns"] | {} == {**{k: None for k in lf_schema.COLUMN_KEYS}, "prompt": "instruction",
                                     "query": "input", "response": "output", "history": "history",
                                     "system": "system"}
    assert _load_back(tmp_path, "alp", "sft") == [public(r) for r in rows]


# -- dataset_info.json -----------------------------------------------------------------------------------
@pytest.mark.parametrize("data,ranking,extra", [
    ("sft", False, {"messages": "conversations", "tools": "tools"}),
    ("preference", True, {"messages": "conversations", "tools": "tools", "chosen": "chosen", "rejected": "rejected"}),
    ("kto", False, {"messages": "conversations", "kto_tag": "label"}),
    ("text", False, {"prompt": "text"}),
])
def test_entries_carry_full_columns_and_tags_blocks(tmp_path, data, ranking, extra):
    run_export(tmp_path, "llamafactory", data)
    entry = json.loads((tmp_path / "dataset_info.json").read_text())[data]
    assert set(entry) <= lf_schema.ENTRY_KEYS
    assert entry["file_name"] == f"{data}/data/train.json"
    assert entry["ranking"] is ranking
    assert entry["formatting"] == ("alpaca" if data == "text" else "sharegpt")
    assert set(entry["columns"]) == lf_schema.COLUMN_KEYS  # full block: omitted keys would become None in LF
    assert set(entry["tags"]) == lf_schema.TAG_KEYS
    assert {k: v for k, v in entry["columns"].items() if v is not None} == extra
    assert entry["tags"] == lf_schema.TAG_DEFAULTS


def test_merge_keeps_other_entries_and_backs_up_the_old_file(tmp_path):
    old = {"alpaca_en_demo": {"file_name": "alpaca_en_demo.json"},
           "typo": {"file_name": "x.json", "format": "sharegpt"},
           "c4_demo": {"file_name": "c4_demo.jsonl", "columns": {"prompt": "text"}}}
    old_text = json.dumps(old, indent=4)
    (tmp_path / "dataset_info.json").write_text(old_text)
    result = run_export(tmp_path, "llamafactory", "kto")
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert list(info) == ["alpaca_en_demo", "typo", "c4_demo", "kto"]
    assert {k: info[k] for k in old} == old
    assert (tmp_path / "dataset_info.json.bak").read_text() == old_text
    assert any("'format'" in n and "formatting" in n for n in result.notes)  # reported, left unchanged
    # a second export merges again and backs up the file written by the first one
    before = (tmp_path / "dataset_info.json").read_text()
    run_export(tmp_path, "llamafactory", "text")
    assert (tmp_path / "dataset_info.json.bak").read_text() == before
    assert list(json.loads((tmp_path / "dataset_info.json").read_text())) == [
        "alpaca_en_demo", "typo", "c4_demo", "kto", "text"]


def test_foreign_entry_of_the_same_name_needs_force(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"kto": {"file_name": "mine.json"}}))
    with pytest.raises(UsageError, match="already exists and points elsewhere"):
        run_export(tmp_path, "llamafactory", "kto")
    assert not (tmp_path / "kto").exists()
    run_export(tmp_path, "llamafactory", "kto", force=True)
    assert json.loads((tmp_path / "dataset_info.json").read_text())["kto"]["file_name"] == "kto/data/train.json"


def test_stale_validation_entry_is_removed(tmp_path):
    run_export(tmp_path, "llamafactory", "kto", validation=1)
    assert "kto_validation" in json.loads((tmp_path / "dataset_info.json").read_text())
    run_export(tmp_path, "llamafactory", "kto", force=True)
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert "kto_validation" not in info and "kto" in info
    assert not (tmp_path / "kto" / "data" / "validation.json").exists()


def test_invalid_existing_dataset_info_is_reported_with_its_line(tmp_path):
    (tmp_path / "dataset_info.json").write_text('{\n  "a": {"file_name": "a.json"},\n  oops\n}')
    with pytest.raises(DataError, match=r"dataset_info.json:3"):
        run_export(tmp_path, "llamafactory", "kto")


def test_entry_checks_reject_partial_blocks_and_unknown_keys():
    from templates_hub.export.lf_info import check_entry, entry_problems

    with pytest.raises(ConfigError, match="incomplete block"):
        check_entry("x", {"file_name": "x.json", "columns": {"system": "system"}})
    problems = dict(entry_problems("x", {"file_name": "x.json", "format": "sharegpt",
                                         "columns": {"mesages": "conversations"}}))
    assert "did you mean 'formatting'" in problems["dataset_info.json['x'].format"]
    assert "did you mean 'messages'" in problems["dataset_info.json['x'].columns.mesages"]
    assert entry_problems("x", {"file_name": "x.xml"})[0][1].startswith("LLaMA-Factory loads only")


# -- overwrite policy --------------------------------------------------------------------------------------
def test_identical_export_is_left_alone_and_different_one_needs_force(tmp_path):
    first = run_export(tmp_path, "llamafactory", "kto")
    stamp = (tmp_path / "kto" / "manifest.json").read_text()
    again = run_export(tmp_path, "llamafactory", "kto")
    assert again.unchanged and (tmp_path / "kto" / "manifest.json").read_text() == stamp
    assert again.commands == first.commands
    with pytest.raises(UsageError, match="holds a different export") as refused:
        run_export(tmp_path, "llamafactory", "kto", validation=1)
    assert "another --out or --name" in str(refused.value) and "--force" in str(refused.value)
    assert (tmp_path / "kto" / "manifest.json").read_text() == stamp
    changed = run_export(tmp_path, "llamafactory", "kto", validation=1, force=True)
    assert not changed.unchanged and changed.manifest["fingerprint"] != first.manifest["fingerprint"]


def test_directory_that_is_not_an_export_is_not_replaced(tmp_path):
    (tmp_path / "sft").mkdir()
    (tmp_path / "sft" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not a templates-hub export"):
        run_export(tmp_path, "llamafactory", "sft")
    assert (tmp_path / "sft" / "notes.txt").read_text() == "mine"


def test_removed_dataset_info_entry_is_restored_without_force(tmp_path):
    run_export(tmp_path, "llamafactory", "kto")
    (tmp_path / "dataset_info.json").write_text("{}")
    result = run_export(tmp_path, "llamafactory", "kto")
    assert not result.unchanged
    assert "kto" in json.loads((tmp_path / "dataset_info.json").read_text())


# -- training YAML -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("data,stage", [("sft", "sft"), ("preference", "dpo"), ("kto", "kto"), ("text", "pt")])
def test_training_yaml_per_stage(tmp_path, data, stage):
    run_export(tmp_path, "llamafactory", data, validation=1)
    config = yaml.safe_load((tmp_path / data / f"llamafactory_{stage}.yaml").read_text())
    assert set(config) <= lf_schema.YAML_KEYS
    assert config["stage"] == stage and config["dataset"] == data and config["eval_dataset"] == f"{data}_validation"
    assert config["dataset_dir"] == str(tmp_path) and config["template"] == "qwen"
    assert config["model_name_or_path"] == "org/model" and config["finetuning_type"] == "lora"
    assert config["cutoff_len"] == 2048 and "tokenized_path" not in config
    assert ("train_on_prompt" in config) is (stage == "sft")
    if stage == "dpo":
        assert config["pref_beta"] == 0.1 and config["pref_loss"] == "sigmoid"


def test_recipe_settings_reach_the_yaml(tmp_path):
    from templates_hub.preprocess.config import PreprocessConfig
    from templates_hub.templates.base import RenderOptions
    from templates_hub.train.config import TrainConfig

    pre = PreprocessConfig(cutoff_len=512, train_on_prompt=True, packing=True, num_proc=2)
    train = TrainConfig(lora={"r": 16, "alpha": 32, "target_modules": ["q_proj", "v_proj"]}, learning_rate=3e-4)
    run_export(tmp_path, "llamafactory", "sft", preprocess=pre, train=train,
               render_options=RenderOptions(default_system="Be kind.", tool_format="qwen"),
               hyperparameters={"num_train_epochs": 1.0, "lora_dropout": 0.05})
    config = yaml.safe_load((tmp_path / "sft" / "llamafactory_sft.yaml").read_text())
    assert config["cutoff_len"] == 512 and config["train_on_prompt"] is True and config["packing"] is True
    assert config["preprocessing_num_workers"] == 2
    assert config["lora_rank"] == 16 and config["lora_alpha"] == 32 and config["lora_target"] == "q_proj,v_proj"
    assert config["learning_rate"] == 3e-4 and config["num_train_epochs"] == 1.0 and config["lora_dropout"] == 0.05
    assert config["default_system"] == "Be kind." and config["tool_format"] == "qwen"


def test_warmup_and_numbers_from_the_train_section(tmp_path):
    """LLaMA-Factory 0.9.5's transformers lets warmup_ratio override warmup_steps: the default must not
    silently replace the user's warmup_steps; a number YAML read as a string ("1e-3") is written as a number."""
    from templates_hub.train.config import TrainConfig

    run_export(tmp_path, "llamafactory", "sft")
    config = yaml.safe_load((tmp_path / "sft" / "llamafactory_sft.yaml").read_text())
    assert config["warmup_steps"] == 0.1 and "warmup_ratio" not in config
    run_export(tmp_path, "llamafactory", "sft", name="mine", train=TrainConfig(warmup_steps=20, learning_rate="1e-3"),
               hyperparameters={"warmup_ratio": 0.05})
    config = yaml.safe_load((tmp_path / "mine" / "llamafactory_sft.yaml").read_text())
    assert config["warmup_steps"] == 20 and config["warmup_ratio"] == 0.05  # both the user's: theirs to resolve
    assert config["learning_rate"] == 0.001
    with pytest.raises(ConfigError, match="train.num_train_epochs: 'abc' is not valid"):
        run_export(tmp_path, "llamafactory", "sft", name="bad", train=TrainConfig(num_train_epochs="abc"))


def test_random_model_configs_are_not_a_model_for_llamafactory(tmp_path):
    from templates_hub.train.config import TrainConfig

    for model in ("tiny-random", str(tmp_path / "tiny_model.json")):
        with pytest.raises(UsageError, match="needs a model"):
            run_export(tmp_path, "llamafactory", "sft", model=None, train=TrainConfig(model=model))
    run_export(tmp_path, "llamafactory", "sft", model=None, train=TrainConfig(model="org/real"))
    assert yaml.safe_load((tmp_path / "sft" / "llamafactory_sft.yaml").read_text())["model_name_or_path"] == "org/real"


def test_hyperparameter_typo_names_the_key_and_close_matches(tmp_path):
    with pytest.raises(ConfigError) as info:
        run_export(tmp_path, "llamafactory", "sft", hyperparameters={"learning_rat": 1e-4, "lora_rnak": 4})
    message = str(info.value) + str(info.value.problems)
    assert "export.hyperparameters" in message and "'learning_rat'" in message and "'learning_rate'" in message
    assert "'lora_rank'" in message
    assert not (tmp_path / "sft").exists()


def test_train_section_keys_llamafactory_lacks_are_rejected(tmp_path):
    from templates_hub.train.config import TrainConfig

    with pytest.raises(ConfigError, match="train: 'group_by_length'"):
        run_export(tmp_path, "llamafactory", "sft", train=TrainConfig(group_by_length=True))


def test_combinations_llamafactory_refuses_are_errors(tmp_path):
    from templates_hub.preprocess.config import PreprocessConfig

    with pytest.raises(ConfigError, match="outside stage sft"):
        run_export(tmp_path, "llamafactory", "kto", hyperparameters={"neat_packing": True})
    with pytest.raises(UsageError, match="cannot train on preference rows"):
        run_export(tmp_path, "llamafactory", "preference", stage="sft")
    with pytest.raises(ConfigError, match="train_on_prompt together with mask_history"):
        run_export(tmp_path, "llamafactory", "sft", preprocess=PreprocessConfig(mask_history=True),
                   hyperparameters={"train_on_prompt": True})


# -- templates: built-in by name, custom as tokens ---------------------------------------------------------
def test_custom_template_ships_as_tokenized_path_with_llamafactory_dtypes(tmp_path):
    from datasets import load_from_disk

    result = run_export(tmp_path, "llamafactory", "sft", validation=2, template=str(FIXTURES / "custom_template.yaml"))
    export_dir = tmp_path / "sft"
    config = yaml.safe_load((export_dir / "llamafactory_sft.yaml").read_text())
    assert config["tokenized_path"] == str(export_dir / "tokenized") and "template" not in config
    assert result.manifest["template_mode"] == "tokenized"
    assert json.loads((export_dir / "tokenized" / "dataset_dict.json").read_text())["splits"] == ["train", "validation"]
    tokenized = load_from_disk(str(export_dir / "tokenized"))
    assert set(tokenized) == {"train", "validation"}
    assert tokenized["train"].features == lf_schema.tokenized_features("sft")
    assert str(tokenized["train"].features["input_ids"].feature.dtype) == "int32"
    assert len(tokenized["train"]) == 6 and len(tokenized["validation"]) == 2
    row = tokenized["train"][0]
    assert len(row["input_ids"]) == len(row["labels"]) == len(row["attention_mask"]) and row["images"] is None
    assert any(label != -100 for label in row["labels"]) and row["labels"][0] == -100
    jinja = (export_dir / "template.jinja").read_text()
    assert "acme_chat" in jinja and result.manifest["template"]["jinja"] == jinja
    assert result.manifest["template"]["declaration"]["name"] == "acme_chat"


@pytest.mark.parametrize("data,stage", [("preference", "dpo"), ("kto", "kto"), ("text", "pt")])
def test_tokenized_layout_of_other_stages(tmp_path, data, stage):
    from datasets import load_from_disk

    from templates_hub.preprocess.config import PreprocessConfig

    run_export(tmp_path, "llamafactory", data, template=str(FIXTURES / "custom_template.yaml"),
               template_mode="tokenized", preprocess=PreprocessConfig(cutoff_len=32))
    tokenized = load_from_disk(str(tmp_path / data / "tokenized"))
    packing = stage == "pt"
    assert tokenized["train"].features == lf_schema.tokenized_features(stage, packing=packing)


def test_train_flags_make_auto_mode_hand_over_tokens(tmp_path):
    result = run_export(tmp_path, "llamafactory", "sft_train_flags")
    assert result.manifest["template_mode"] == "tokenized"
    assert any("per-message train flags" in n for n in result.notes)
    config = yaml.safe_load((tmp_path / "sft_train_flags" / "llamafactory_sft.yaml").read_text())
    assert config["template"] == "qwen" and config["tokenized_path"].endswith("tokenized")


def test_name_mode_refuses_a_custom_template(tmp_path):
    with pytest.raises(UsageError, match="not a built-in"):
        run_export(tmp_path, "llamafactory", "sft", template=str(FIXTURES / "custom_template.yaml"),
                   template_mode="name")


def test_builtin_lf_name_only_for_registry_builtins():
    from templates_hub.export.llamafactory import builtin_lf_name
    from templates_hub.templates import get_template

    assert builtin_lf_name(get_template("qwen"), "qwen") == "qwen"
    assert builtin_lf_name(get_template("llama3"), "llama3") == "llama3"
    custom = get_template(str(FIXTURES / "custom_template.yaml"))
    assert builtin_lf_name(custom, str(FIXTURES / "custom_template.yaml")) is None
    assert builtin_lf_name(get_template("qwen"), None) is None  # an object without a registry name
    assert builtin_lf_name(get_template("qwen").replace(default_system="x"), "qwen") is None


# -- manifest ----------------------------------------------------------------------------------------------
def test_manifest_records_sources_counts_template_tokenizer_versions(tmp_path):
    result = run_export(tmp_path, "llamafactory", "kto", validation=1)
    manifest = json.loads((tmp_path / "kto" / "manifest.json").read_text())
    assert manifest == json.loads(json.dumps(result.manifest))
    assert manifest["counts"]["exported"] == {"train": 3, "validation": 1}
    assert manifest["template"]["name"] == "qwen" and "<|im_start|>" in manifest["template"]["jinja"]
    assert manifest["tokenizer"]["special_tokens"]["eos_token"] == "</s>" and manifest["tokenizer"]["sha256"]
    assert manifest["versions"]["templates-hub"] and manifest["versions"]["datasets"]
    for rel, meta in manifest["files"].items():
        import hashlib

        assert hashlib.sha256((tmp_path / "kto" / rel).read_bytes()).hexdigest() == meta["sha256"]
    assert set(manifest["files"]) == {"data/train.json", "data/validation.json", "llamafactory_kto.yaml",
                                      "template.jinja"}


# -- property: any plain conversation survives export -> dataset_info.json -> reader ------------------------
def test_any_plain_conversation_round_trips():
    import tempfile
    from pathlib import Path

    from datasets import Dataset, DatasetDict
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from test_export_support import tiny

    from templates_hub.export import ExportConfig, export_dataset
    from templates_hub.schemas import features, validate_row

    text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="<") | st.just("\n"),
                   min_size=1, max_size=40)

    @st.composite
    def conversation(draw):
        messages = [{"role": "system", "content": draw(text)}] if draw(st.booleans()) else []
        for _ in range(draw(st.integers(1, 3))):
            messages += [{"role": "user", "content": draw(text)}, {"role": "assistant", "content": draw(text)}]
        return {"messages": messages, "tools": None}

    @settings(max_examples=8, deadline=None, derandomize=True)
    @given(st.lists(conversation(), min_size=1, max_size=4), st.sampled_from(["sharegpt", "alpaca"]))
    def check(rows, layout):
        canonical = [{**validate_row("sft", r)[0], "_row": i} for i, r in enumerate(rows, start=1)]
        splits = DatasetDict({"train": Dataset.from_list(canonical, features=features("sft"))})
        with tempfile.TemporaryDirectory() as tmp:
            export_dataset(splits, target="llamafactory", out_dir=tmp, name="prop", template="qwen", tokenizer=tiny(),
                           config=ExportConfig(layout=layout, model_name_or_path="m"), progress=False)
            assert _load_back(Path(tmp), "prop", "sft") == [public(r) for r in canonical]

    check()
