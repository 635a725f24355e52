#!/usr/bin/env bash
# GPU smoke test of the built-in Trainer runner: the offline demo recipe on CUDA, no network.
#
#   bash scripts/gpu_smoke.sh                # from the repository root, on a machine with an NVIDIA GPU
#   PYTHON=.venv/bin/python bash scripts/gpu_smoke.sh
#
# Three short runs (about 1-2 minutes in all on one H100/H200, most of it imports and data preparation):
#   1. demo      - examples/demo/recipe.yaml as shipped (tiny random Llama, demo tokenizer), bf16 auto;
#   2. larger    - a ~30M-parameter random Llama, neat packing (4-D block-diagonal mask in bf16), 120 steps;
#   3. lora      - the same model with a LoRA adapter, 60 steps.
# Each prints the device, the dtype, the first/last/eval loss and the throughput; the script fails when a run
# did not use CUDA, did not train in bf16 (where the GPU supports it) or its loss did not go down.
#
# Python packages: templates-hub's dependencies (datasets, pydantic, ...). If they are not installed, put
# their wheels in .whl/ (see docs/training.md, "GPU smoke test") and this script installs them to /tmp/site.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT_DIR=${SMOKE_OUT:-/tmp/templates_hub_gpu_smoke}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1
export HF_DATASETS_CACHE="$OUT_DIR/hf_cache"

if ! "$PYTHON" -c "import datasets, pydantic, templates_hub" 2>/dev/null; then
  if compgen -G ".whl/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
  fi
  export PYTHONPATH="$PWD/src:${PYTHONPATH:-}"
fi

rm -rf "$OUT_DIR" && mkdir -p "$OUT_DIR"
"$PYTHON" - "$OUT_DIR" <<'EOF'
import json
import os
import sys
import time
from pathlib import Path

import torch

out = Path(sys.argv[1])
cpu_check = os.environ.get("SMOKE_ALLOW_CPU") == "1"  # check this script itself on a CPU: 3 steps per run
cuda = torch.cuda.is_available()
print(f"torch {torch.__version__}, CUDA available: {cuda}", flush=True)
if not cuda and not cpu_check:
    sys.exit("no CUDA device: this is the GPU smoke test (SMOKE_ALLOW_CPU=1 checks the script on a CPU)")
if cuda:
    print(f"device: {torch.cuda.get_device_name(0)} (capability {torch.cuda.get_device_capability(0)}), "
          f"bf16 supported: {torch.cuda.is_bf16_supported()}", flush=True)

import transformers

import templates_hub
from templates_hub.run import run

print(f"transformers {transformers.__version__}, templates-hub {templates_hub.__version__}", flush=True)
larger = out / "larger_model.json"
larger.write_text(json.dumps({"model_type": "llama", "hidden_size": 512, "intermediate_size": 1536,
                              "num_hidden_layers": 8, "num_attention_heads": 8, "num_key_value_heads": 8,
                              "max_position_embeddings": 1024}))
RECIPE = "examples/demo/recipe.yaml"
RUNS = {
    "demo": [],
    "larger": [f"train.model={larger}", "train.max_steps=120", "train.per_device_train_batch_size=4",
               "train.learning_rate=1e-3", "preprocess.packing=true", "preprocess.neat_packing=true",
               "preprocess.cutoff_len=1024"],
    "lora": [f"train.model={larger}", "train.max_steps=60", "train.per_device_train_batch_size=16",
             "train.learning_rate=5e-3", "train.lora.r=16", "train.lora.alpha=32"],
}
rows, failures = [], []
for name, overrides in RUNS.items():
    start = time.perf_counter()
    if cpu_check:
        overrides = [*overrides, "train.max_steps=3", "train.logging_steps=1", "train.per_device_train_batch_size=2"]
    result = run(RECIPE, overrides=[f"train.output_dir={out / name}", "train.save_strategy=no", *overrides],
                 progress=False)
    wall = time.perf_counter() - start
    t = result.train
    tokens = t.train_metrics.get("num_input_tokens_seen", 0.0)
    runtime = t.train_metrics.get("train_runtime", 0.0) or 1e-9
    args = torch.load(out / name / "training_args.bin", weights_only=False)
    row = {"run": name, "device": t.device, "bf16": args.bf16, "params": t.total_params, "trained": t.trainable_params,
           "steps": t.global_step, "first_loss": round(t.first_loss, 4), "last_loss": round(t.last_loss, 4),
           "eval_loss": round(t.eval_metrics.get("eval_loss", float("nan")), 4),
           "tokens_per_s": round(tokens / runtime), "train_s": round(runtime, 1), "wall_s": round(wall, 1),
           "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None}
    rows.append(row)
    print(json.dumps(row), flush=True)
    if cuda and not t.device.startswith("cuda"):
        failures.append(f"{name}: trained on {t.device}, not CUDA")
    if cuda and torch.cuda.is_bf16_supported() and not args.bf16:
        failures.append(f"{name}: bf16 was not enabled on a bf16 GPU")
    if not t.last_loss < t.first_loss:
        failures.append(f"{name}: loss did not go down ({t.first_loss} -> {t.last_loss})")
    if cuda:
        torch.cuda.reset_peak_memory_stats()

print("\nrun      device   bf16  params      trained     steps  loss first -> last (eval)      tokens/s   train s")
for r in rows:
    print(f"{r['run']:<8} {r['device']:<8} {str(r['bf16']):<5} {r['params']:<11,} {r['trained']:<11,} {r['steps']:<6} "
          f"{r['first_loss']:.3f} -> {r['last_loss']:.3f} ({r['eval_loss']:.3f})    {r['tokens_per_s']:<10,} {r['train_s']}")
(out / "gpu_smoke.json").write_text(json.dumps(rows, indent=2))
if failures:
    sys.exit("FAILED:\n  " + "\n  ".join(failures))
print("gpu smoke: OK")
EOF
