"""The seed lecture notebook (Lecture 10, "LLM Training Pipeline"), steps 1-7, one templates-hub call each.

Runs offline on the shipped demo data (examples/demo/alpaca_demo.jsonl, in the Alpaca layout of
tatsu-lab/alpaca), with the demo tokenizer and a small random Llama, in well under a minute on a CPU:

    python examples/notebook_equivalent.py
    python examples/notebook_equivalent.py --max-steps 60 --output-dir runs/notebook

The notebook's bugs are fixed, each where it happened (search for "BUG"):

1. Step 4 threw away every row of a length bucket with fewer than 2 rows; the split merges such a
   bucket into the nearest one instead, and reports the merge.
2. Step 5 tokenized a prompt longer than max_length into a row whose labels are all -100: it trains
   nothing and a batch made only of such rows has a NaN loss. The preprocessor truncates the prompt
   and the response together (LLaMA-Factory's rule) and drops rows without a response; the
   pre-training check refuses any row left without a trained token.
3. Step 6's collate function printed every batch of input ids (a stray ``print``); the collator is silent.
4. Step 7 paired the Llama-3.2 tokenizer (128,256 tokens) with hf-internal-testing/tiny-random-OPT
   (50,272 embeddings): any token id above 50,271 crashes training. The vocabulary check catches the
   mismatch before training (shown below); here the random model is sized to the tokenizer.

The whole pipeline is also one command: ``templates-hub run examples/demo/recipe.yaml``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEMO = HERE / "demo"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="The seed notebook's steps 1-7 with templates-hub (offline).")
    parser.add_argument("--data", default=str(DEMO / "alpaca_demo.jsonl"), help="Alpaca-layout JSON lines")
    parser.add_argument("--tokenizer", default=str(DEMO / "tokenizer"), help="tokenizer directory or hub id")
    parser.add_argument("--model", default=str(DEMO / "tiny_model.json"),
                        help="model config JSON (random weights), model directory or hub id")
    parser.add_argument("--max-steps", type=int, default=30, help="training steps")
    parser.add_argument("--output-dir", default=None, help="where the model goes (default: a temporary directory)")
    args = parser.parse_args(argv)

    from torch.utils.data import DataLoader

    from templates_hub import apply_filters, load_canonical, split_dataset
    from templates_hub.collate import collator_for
    from templates_hub.errors import TrainingCheckError
    from templates_hub.preprocess.api import preprocess_dataset
    from templates_hub.preprocess.config import PreprocessConfig
    from templates_hub.split import SplitConfig
    from templates_hub.templates import fix_tokenizer, get_template
    from templates_hub.tokenizer import load_tokenizer
    from templates_hub.train.config import TrainConfig
    from templates_hub.train.runner import check_before_loading, fit

    # Step 1 + Step 3 - load Alpaca and build `messages`: the alpaca adapter reads instruction / input /
    # output and writes canonical rows ({"messages": [user, assistant]}) in one pass; rows that cannot be
    # read are rejects with their line number instead of exceptions.
    loaded = load_canonical(args.data, format="alpaca")
    print(f"Step 1/3: {loaded.rows_in} rows read, {len(loaded.rejects)} rejected; first row:",
          json.dumps(loaded.dataset[0]["messages"], ensure_ascii=False)[:160])

    # Step 2 - rule filter: keep answers longer than 5 characters (the notebook's keep_example).
    filtered = apply_filters(loaded.dataset, [{"name": "response_length", "min": 6, "unit": "chars"}])
    print(f"Step 2: kept {len(filtered.kept)}, dropped {dict(filtered.counts)}")

    # Step 4 - length buckets (min(user_words // 200, 4)) and a stratified 98/2 split with seed 42.
    # BUG fixed: a bucket with a single row is merged into the nearest bucket, not thrown away.
    split = split_dataset(filtered.kept, SplitConfig(val_size=0.02, seed=42, stratify="length"))
    print(f"Step 4: train {len(split.train)}, validation {len(split.validation)} ({split.report['method']}); "
          f"merged buckets: {split.report.get('merged') or 'none'}")

    # Step 5 - tokenizer and template: the notebook's '<|user|>\n...\n<|assistant|>\n' + response + eos is
    # the built-in `user_assistant_tags` template; fix_tokenizer sets pad := eos as the notebook did.
    tokenizer = load_tokenizer(args.tokenizer)
    template = get_template("user_assistant_tags", tokenizer=tokenizer)
    added = fix_tokenizer(tokenizer, template)
    print(f"Step 5: {len(tokenizer)} tokens (pad {tokenizer.pad_token!r}, eos {tokenizer.eos_token!r}), "
          f"template {template.name}, tokens added: {added or 'none'}")

    # Step 5 (tokenize) - prompt tokens masked with -100, the response (with eos) trained.
    # BUG fixed: a prompt longer than cutoff_len no longer yields a row whose labels are all -100.
    # (The notebook's max_length was 2048; the demo model has 1024 positions, which the positions check enforces.)
    preprocess = PreprocessConfig(cutoff_len=1024)
    tokenized = {name: preprocess_dataset(data, template=template, tokenizer=tokenizer, config=preprocess)
                 for name, data in (("train", split.train), ("validation", split.validation))}
    for name, result in tokenized.items():
        stats = result.stats
        print(f"Step 5: {name}: {stats['rows_out']} rows, {stats['tokens']:,} tokens, "
              f"{100 * stats['trained_share']:.1f}% trained, dropped {stats['dropped'] or 'none'}")

    # Step 6 - collate and DataLoader: pads input_ids with the pad id, labels with -100, attention_mask 0.
    # BUG fixed: no stray print of every batch.
    collate = collator_for("sft", tokenizer)
    loader = DataLoader(tokenized["train"].dataset, batch_size=4, shuffle=True, collate_fn=collate)
    batch = next(iter(loader))
    print("Step 6:", {key: tuple(value.shape) for key, value in batch.items()})

    # Step 7 - the notebook's model pairing, checked before any training:
    # BUG fixed: a model with fewer embeddings than the tokenizer has tokens is refused with the fix.
    with tempfile.TemporaryDirectory() as tmp:
        opt_like = Path(tmp) / "tiny_opt_like.json"  # the tiny OPT's architecture numbers, offline
        opt_like.write_text(json.dumps({"model_type": "opt", "vocab_size": len(tokenizer) // 2, "hidden_size": 16,
                                        "ffn_dim": 4, "num_hidden_layers": 2, "num_attention_heads": 4,
                                        "word_embed_proj_dim": 16, "max_position_embeddings": 100}))
        try:
            check_before_loading(TrainConfig(model=str(opt_like)), tokenizer, cutoff_len=preprocess.cutoff_len)
        except TrainingCheckError as exc:
            print(f"Step 7: the notebook's pairing is refused: {exc}"[:300] + " ...")

    # Step 7 - Trainer: a random Llama sized to the tokenizer, trained with the same collator; the
    # saved tokenizer carries the training template as its chat_template.
    out = args.output_dir or tempfile.mkdtemp(prefix="notebook_equivalent_")
    config = TrainConfig(model=args.model, output_dir=out, max_steps=args.max_steps, per_device_train_batch_size=8,
                         learning_rate=3e-3, logging_steps=5, save_strategy="no", seed=42)
    result = fit(config, tokenizer=tokenizer, template=template,
                 splits={name: r.dataset for name, r in tokenized.items()}, cutoff_len=preprocess.cutoff_len,
                 progress=False)
    print(f"Step 7: {result.global_step} steps on {result.device}: loss {result.first_loss:.3f} -> "
          f"{result.last_loss:.3f}, eval loss {result.eval_metrics.get('eval_loss', float('nan')):.3f}; saved to {out}")
    return {
        "rows": {"read": loaded.rows_in, "kept": len(filtered.kept), "train": len(split.train),
                 "validation": len(split.validation)},
        "bucket_sizes": dict(Counter(split.report.get("buckets", {}).get("all", {}))),
        "losses": result.losses,
        "output_dir": out,
    }


if __name__ == "__main__":
    main()
