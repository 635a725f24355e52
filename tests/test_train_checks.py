"""Pre-training checks and the train: -> TrainingArguments mapping (no training here: fast)."""

from __future__ import annotations

import json

import pytest

from templates_hub.errors import ConfigError, TrainingCheckError, UsageError
from templates_hub.train import checks
from templates_hub.train.arguments import build_training_arguments, check_keys
from templates_hub.train.config import TrainConfig
from templates_hub.train.model import load_model, max_positions, model_config, vocab_rows
from templates_hub.train.runner import check_before_loading, resolve_stage


def _tok(**kwargs):
    from templates_hub.tiny import build_tiny_tokenizer

    return build_tiny_tokenizer(**kwargs)


# ------------------------------------------------------------------------------------------ arguments


def test_unknown_train_key_lists_close_matches_and_valid_keys():
    with pytest.raises(ConfigError) as info:
        check_keys({"learnig_rate": 1e-3, "num_train_epochs": 1})
    err = info.value
    assert err.problems[0][0] == "train.learnig_rate"
    assert "did you mean 'learning_rate'" in err.problems[0][1]
    assert "Valid keys" in str(err) and "per_device_train_batch_size" in str(err)


def test_removed_v4_key_names_its_replacement():
    with pytest.raises(ConfigError) as info:
        check_keys({"evaluation_strategy": "steps", "warmup_ratio": 0.1})
    problems = dict(info.value.problems)
    assert "eval_strategy" in problems["train.evaluation_strategy"]
    assert "warmup_steps" in problems["train.warmup_ratio"]


def test_training_arguments_defaults_and_user_keys_win(tmp_path):
    config = TrainConfig(output_dir=str(tmp_path), learning_rate=3e-4, save_strategy="no", logging_steps=2)
    args = build_training_arguments(config, has_eval=True, progress=False, device="cpu")
    assert args.learning_rate == 3e-4 and args.logging_steps == 2
    assert args.output_dir == str(tmp_path)
    assert args.remove_unused_columns is False and args.report_to == [] and args.use_cpu
    assert str(args.eval_strategy.value) == "epoch" and str(args.save_strategy.value) == "no"
    no_eval = build_training_arguments(TrainConfig(output_dir=str(tmp_path)), has_eval=False, progress=False, device="cpu")
    assert str(no_eval.eval_strategy.value) == "no"


def test_eval_strategy_without_validation_split_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no validation split"):
        build_training_arguments(TrainConfig(output_dir=str(tmp_path), eval_strategy="steps"), has_eval=False,
                                 device="cpu")


def test_bad_value_is_a_config_error_not_a_traceback(tmp_path):
    with pytest.raises(ConfigError, match="TrainingArguments rejected"):
        build_training_arguments(TrainConfig(output_dir=str(tmp_path), save_strategy="sometimes"), has_eval=False,
                                 device="cpu")


def test_numbers_yaml_reads_as_strings_are_converted_and_bad_values_named(tmp_path):
    """YAML 1.1 reads `1e-3` as a string: TrainingArguments would take it and the optimizer fail much later."""
    values = check_keys({"learning_rate": "1e-3", "num_train_epochs": "2", "max_steps": 5.0, "bf16": False,
                         "save_strategy": "no"})
    assert values == {"learning_rate": 0.001, "num_train_epochs": 2.0, "max_steps": 5, "bf16": False,
                      "save_strategy": "no"}
    config = TrainConfig(output_dir=str(tmp_path), learning_rate="1e-3")
    assert build_training_arguments(config, has_eval=False, progress=False, device="cpu").learning_rate == 0.001
    with pytest.raises(ConfigError) as info:
        check_keys({"num_train_epochs": "abc", "per_device_train_batch_size": 1.5, "seed": 1})
    problems = dict(info.value.problems)
    assert set(problems) == {"train.num_train_epochs", "train.per_device_train_batch_size"}
    assert "'abc' is not valid" in problems["train.num_train_epochs"] and "1.5" in str(info.value)
    assert "Valid keys" not in str(info.value)  # the keys are right: no list of every key


def test_output_dir_that_is_a_file_is_refused_before_any_work(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(UsageError, match="output_dir: .*taken is a file"):
        check_before_loading(TrainConfig(output_dir=str(tmp_path / "taken")), _tok(), cutoff_len=64)


def test_preference_stage_is_refused_with_the_alternative():
    assert resolve_stage("supervised") == "sft" and resolve_stage("pretrain") == "pt"
    with pytest.raises(UsageError, match="TRL"):
        resolve_stage("pairwise")


# ------------------------------------------------------------------------------------------ model


def test_model_config_forms(tmp_path):
    tok = _tok()
    cfg, random_init = model_config("tiny-random", tok)
    assert random_init and vocab_rows(cfg) == len(tok) and cfg.pad_token_id == tok.pad_token_id
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"_comment": "x", "model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
                                "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 128}))
    cfg, random_init = model_config(str(path), tok)
    assert random_init and max_positions(cfg) == 128 and vocab_rows(cfg) == len(tok)
    a = load_model(str(path), tok, seed=3).model
    b = load_model(str(path), tok, seed=3).model
    assert all((p == q).all() for p, q in zip(a.parameters(), b.parameters(), strict=True))  # seeded
    (tmp_path / "bad.json").write_text(json.dumps({"hidden_size": 4}))
    with pytest.raises(ConfigError, match="model_type"):
        model_config(str(tmp_path / "bad.json"), tok)
    with pytest.raises(UsageError, match="no config.json"):
        model_config(str(tmp_path), tok)
    with pytest.raises(UsageError, match="does not exist"):
        model_config(str(tmp_path / "missing.json"), tok)
    with pytest.raises(UsageError, match="missing_dir does not exist"):  # a path, not a hub id
        model_config(str(tmp_path / "missing_dir"), tok)


# ------------------------------------------------------------------------------------------ checks


def _opt_like_config(tmp_path, vocab_size: int, positions: int = 2048):
    """A model config JSON whose vocabulary is smaller than the tokenizer's (the seed notebook's mismatch)."""
    path = tmp_path / "small_vocab.json"
    path.write_text(json.dumps({"model_type": "llama", "vocab_size": vocab_size, "hidden_size": 32,
                                "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                                "max_position_embeddings": positions}))
    return str(path)


def test_vocab_check_says_resize_embeddings(tmp_path):
    tok = _tok()
    model = _opt_like_config(tmp_path, vocab_size=len(tok) - 10)
    with pytest.raises(TrainingCheckError, match="resize_embeddings: true") as info:
        check_before_loading(TrainConfig(model=model), tok, cutoff_len=64)
    assert f"{len(tok):,} tokens" in str(info.value)
    check_before_loading(TrainConfig(model=model, resize_embeddings=True), tok, cutoff_len=64)  # accepted
    check_before_loading(TrainConfig(model=model, skip_checks=["vocab"]), tok, cutoff_len=64)


def test_positions_check_names_the_cutoff(tmp_path):
    tok = _tok()
    model = _opt_like_config(tmp_path, vocab_size=len(tok), positions=256)
    with pytest.raises(TrainingCheckError, match=r"cutoff_len: 256"):
        check_before_loading(TrainConfig(model=model), tok, cutoff_len=1024)
    check_before_loading(TrainConfig(model=model), tok, cutoff_len=256)


def test_pad_token_check():
    tok = _tok(pad_token=None)
    with pytest.raises(TrainingCheckError, match="train.pad_token"):
        check_before_loading(TrainConfig(), tok, cutoff_len=64)


def test_unknown_key_is_reported_before_any_model_work():
    with pytest.raises(ConfigError, match="learnig_rate"):
        check_before_loading(TrainConfig(model="no/such-model", learnig_rate=1), _tok(), cutoff_len=64)


def _rows(*labels: list[int]):
    from datasets import Dataset

    return Dataset.from_list([{"input_ids": [5] * len(lab), "attention_mask": [1] * len(lab), "labels": lab}
                              for lab in labels])


def test_rows_without_trained_tokens_are_named():
    ds = _rows([-100, -100, 7], [-100, -100], [-100, 8, 9], [-100])
    with pytest.raises(TrainingCheckError) as info:
        checks.check_data({"train": ds}, embedding_rows=100, positions=100, model_name="m")
    message = str(info.value)
    assert "2 of 4 row(s)" in message and "row(s) 2, 4" in message and "train_on_prompt" in message
    scans = checks.check_data({"train": ds}, embedding_rows=100, positions=100, model_name="m",
                              skip=["trained_tokens"])
    assert scans["train"]["trained_tokens"] == 3 and scans["train"]["tokens"] == 9


def test_data_ids_beyond_embeddings_and_rows_beyond_positions():
    from datasets import Dataset

    ds = Dataset.from_list([{"input_ids": [1, 2, 150], "labels": [-100, 2, 150]}])
    with pytest.raises(TrainingCheckError, match="token id 150"):
        checks.check_data({"train": ds}, embedding_rows=100, positions=100, model_name="m")
    with pytest.raises(TrainingCheckError, match="3 tokens"):
        checks.check_data({"train": ds}, embedding_rows=200, positions=2, model_name="m")


def test_scan_respects_selection_order():
    ds = _rows([-100], [-100, 3], [-100, -100]).select([2, 1])
    scan = checks.scan_tokens(ds)
    assert scan["untrained"] == [0] and scan["rows"] == 2 and scan["max_len"] == 2
