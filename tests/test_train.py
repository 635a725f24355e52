"""The Trainer runner on CPU: a tiny random model trains a few steps (loss goes down), LoRA, resume,
resize_embeddings, the checks wired into ``fit``, saving with the chat template."""

from __future__ import annotations

import json
import math

import pytest

from templates_hub.errors import TrainingCheckError
from templates_hub.train.config import TrainConfig
from templates_hub.train.runner import SUMMARY_FILE, fit

SENTENCES = [
    ("Give three tips for staying healthy.", "Eat a balanced diet, exercise regularly and sleep well."),
    ("What is the capital of France?", "The capital of France is Paris."),
    ("Translate 'good morning' into French.", "Bonjour."),
    ("Add 2 and 3.", "The sum of 2 and 3 is 5."),
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models train fastest on one thread, and a shared 2-core CI box thrashes with more."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def chatml(tiny_tokenizer):
    from templates_hub.templates import get_template

    return get_template("chatml", tokenizer=tiny_tokenizer)


def _splits(tokenizer, template, rows: int = 32):
    """Tokenized train / validation splits of short conversations, through the real preprocessor."""
    from datasets import Dataset

    from templates_hub.preprocess.api import preprocess_dataset
    from templates_hub.preprocess.config import PreprocessConfig

    def conv(i: int) -> dict:
        q, a = SENTENCES[i % len(SENTENCES)]
        msgs = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        return {"messages": [m | {"tool_calls": None, "reasoning": None, "train": None} for m in msgs],
                "tools": None, "_row": i + 1}

    data = Dataset.from_list([conv(i) for i in range(rows)])
    config = PreprocessConfig(cutoff_len=128)
    out = {}
    for name, part in (("train", data), ("validation", data.select(range(4)))):
        out[name] = preprocess_dataset(part, template=template, tokenizer=tokenizer, config=config,
                                       progress=False).dataset
    return out


def _config(tmp_path, **kwargs) -> TrainConfig:
    base = {"output_dir": str(tmp_path / "out"), "max_steps": 8, "per_device_train_batch_size": 8,
            "learning_rate": 1e-2, "logging_steps": 1, "save_strategy": "no", "seed": 7}
    return TrainConfig(**(base | kwargs))


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def test_tiny_model_trains_loss_decreases_and_saves_the_template(tmp_path, tiny_tokenizer, chatml):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    splits = _splits(tiny_tokenizer, chatml)
    result = fit(_config(tmp_path), tokenizer=tiny_tokenizer, template=chatml, splits=splits, progress=False)
    losses = [loss for _, loss in result.losses]
    assert result.global_step == 8 and len(losses) == 8 and all(math.isfinite(v) for v in losses)
    assert _mean(losses[-2:]) < _mean(losses[:2]) - 0.5, losses
    assert "eval_loss" in result.eval_metrics and result.device == "cpu"
    assert result.data["train"]["rows"] == 32 and 0 < result.data["train"]["trained_share"] < 1
    out = tmp_path / "out"
    saved = AutoTokenizer.from_pretrained(out)
    assert saved.chat_template == chatml.to_jinja()  # inference uses the trained format
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.get_input_embeddings().weight.shape[0] == len(tiny_tokenizer)
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert summary["first_loss"] == losses[0] and summary["template"] == "chatml"


def test_same_seed_same_losses(tmp_path, tiny_tokenizer, chatml):
    splits = _splits(tiny_tokenizer, chatml)
    a = fit(_config(tmp_path / "a", max_steps=3), tokenizer=tiny_tokenizer, splits=splits, progress=False)
    b = fit(_config(tmp_path / "b", max_steps=3), tokenizer=tiny_tokenizer, splits=splits, progress=False)
    assert a.losses == b.losses


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")  # peft 0.21 on transformers v5
def test_lora_trains_an_adapter(tmp_path, tiny_tokenizer, chatml):
    splits = _splits(tiny_tokenizer, chatml)
    config = _config(tmp_path, lora={"r": 4, "alpha": 8}, learning_rate=3e-2)
    result = fit(config, tokenizer=tiny_tokenizer, template=chatml, splits=splits, progress=False)
    losses = [loss for _, loss in result.losses]
    assert result.adapter and 0 < result.trainable_params < result.total_params / 5
    assert _mean(losses[-2:]) < _mean(losses[:2]), losses
    out = tmp_path / "out"
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and (out / "adapter_model.safetensors").is_file()
    assert not (out / "model.safetensors").exists()  # only the adapter is saved


class _StopAt:
    """A Trainer callback that interrupts training at a step (a crash, a preempted node)."""

    def __init__(self, step: int):
        from transformers import TrainerCallback

        class Stop(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step >= step:
                    control.should_training_stop = True
                return control

        self.callback = Stop()


def test_resume_from_checkpoint_continues_exactly(tmp_path, tiny_tokenizer, chatml):
    splits = _splits(tiny_tokenizer, chatml)
    settings = {"max_steps": 6, "per_device_train_batch_size": 4}
    straight = fit(_config(tmp_path / "straight", **settings), tokenizer=tiny_tokenizer, splits=splits, progress=False)

    config = _config(tmp_path / "interrupted", save_strategy="steps", save_steps=2, **settings)
    first = fit(config, tokenizer=tiny_tokenizer, splits=splits, progress=False, callbacks=[_StopAt(4).callback])
    assert first.global_step == 4
    assert (tmp_path / "interrupted" / "out" / "checkpoint-4").is_dir()

    resumed = fit(config.model_copy(update={"resume_from_checkpoint": True}), tokenizer=tiny_tokenizer,
                  splits=splits, progress=False)
    assert resumed.resumed_from.endswith("checkpoint-4") and resumed.global_step == 6
    after = dict(resumed.losses)
    for step in (5, 6):  # the same batches, weights, optimizer and scheduler state as the uninterrupted run
        assert after[step] == pytest.approx(dict(straight.losses)[step], rel=1e-4)


def test_resume_without_checkpoint_says_so(tmp_path, tiny_tokenizer, chatml):
    from templates_hub.errors import UsageError

    splits = _splits(tiny_tokenizer, chatml, rows=8)
    with pytest.raises(UsageError, match="no checkpoint"):
        fit(_config(tmp_path, resume_from_checkpoint=True), tokenizer=tiny_tokenizer, splits=splits, progress=False)


def test_rows_without_trained_tokens_stop_training_before_the_model_loads(tmp_path, tiny_tokenizer, chatml):
    splits = _splits(tiny_tokenizer, chatml, rows=8)
    prompt_only = splits["train"].map(lambda row: {"labels": [-100] * len(row["labels"])}, keep_in_memory=True)
    with pytest.raises(TrainingCheckError, match="no trained token"):
        fit(_config(tmp_path), tokenizer=tiny_tokenizer, splits={"train": prompt_only}, progress=False)
    assert not (tmp_path / "out").exists()


def test_small_model_vocab_is_refused_then_resized(tmp_path, tiny_tokenizer, chatml):
    from transformers import AutoConfig

    small = tmp_path / "small.json"
    small.write_text(json.dumps({"model_type": "llama", "vocab_size": len(tiny_tokenizer) - 40, "hidden_size": 32,
                                 "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                                 "max_position_embeddings": 256}))
    splits = _splits(tiny_tokenizer, chatml, rows=8)
    with pytest.raises(TrainingCheckError, match="resize_embeddings"):
        fit(_config(tmp_path, model=str(small)), tokenizer=tiny_tokenizer, splits=splits, progress=False)
    result = fit(_config(tmp_path, model=str(small), resize_embeddings=True, max_steps=2), tokenizer=tiny_tokenizer,
                 splits=splits, progress=False)
    assert any("resized" in note for note in result.notes)
    assert AutoConfig.from_pretrained(tmp_path / "out").vocab_size == len(tiny_tokenizer)


def test_packed_rows_train(tmp_path, tiny_tokenizer, chatml):
    from datasets import Dataset

    from templates_hub.preprocess.api import preprocess_dataset
    from templates_hub.preprocess.config import PreprocessConfig

    convs = Dataset.from_list([
        {"messages": [{"role": "user", "content": q, "tool_calls": None, "reasoning": None, "train": None},
                      {"role": "assistant", "content": a, "tool_calls": None, "reasoning": None, "train": None}],
         "tools": None, "_row": i + 1}
        for i, (q, a) in enumerate(SENTENCES * 8)
    ])
    packed = preprocess_dataset(convs, template=chatml, tokenizer=tiny_tokenizer,
                                config=PreprocessConfig(cutoff_len=128, packing=True, neat_packing=True),
                                progress=False)
    assert "position_ids" in packed.dataset.column_names
    result = fit(_config(tmp_path, max_steps=3, per_device_train_batch_size=2), tokenizer=tiny_tokenizer,
                 splits={"train": packed.dataset}, packing=True, neat_packing=True, cutoff_len=128, progress=False)
    assert result.global_step == 3 and all(math.isfinite(v) for _, v in result.losses)


def test_streaming_splits_need_max_steps(tmp_path, tiny_tokenizer, chatml):
    from templates_hub.errors import ConfigError

    splits = _splits(tiny_tokenizer, chatml, rows=8)
    stream = {"train": splits["train"].to_iterable_dataset()}
    no_steps = TrainConfig(output_dir=str(tmp_path / "out"), save_strategy="no")
    with pytest.raises(ConfigError, match="max_steps"):
        fit(no_steps, tokenizer=tiny_tokenizer, splits=stream, progress=False)
    result = fit(_config(tmp_path, max_steps=2), tokenizer=tiny_tokenizer, splits=stream, progress=False)
    assert result.global_step == 2 and any("streaming" in note for note in result.notes)
