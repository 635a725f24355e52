#!/usr/bin/env bash
# Build the TRL virtual environment that checks `templates-hub export trl` (never the project's own .venv).
#
# Why a separate venv: TRL is not a dependency of templates-hub, and its `trl sft|dpo|kto` command must be
# run as a user runs it. tests/test_export_trl_live.py (TEMPLATES_HUB_TRL_PYTHON) exports data for every
# TRL trainer, has TRL tokenize it (scripts/trl_reference.py) and trains two steps with the printed command.
#
# Recipe:
#   1. python -m venv VENV; pip install torch (CPU wheel)
#   2. trl + peft (the exported configs train LoRA adapters: ModelConfig.use_peft) at the verified versions,
#      constrained to that torch
#   3. templates-hub itself, editable, so `templates-hub export trl` can run there too (it then checks the
#      config keys against the installed TRL instead of its built-in TRL 1.16.0 lists)
#
# Usage: scripts/make_trl_venv.sh [VENV_DIR]      (default /work/trl-venv; must be outside the repo)
# Idempotent: a finished venv (stamp file + a working import check) is left as it is; FORCE=1 rebuilds.
# Env: PYTHON (base interpreter, default python3); TRL_VERSION (default the verified 1.16.0).
# Last line printed: `export TEMPLATES_HUB_TRL_PYTHON=VENV/bin/python`.
set -euo pipefail

VENV="${1:-/work/trl-venv}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="2.13.0"
TRL_VERSION="${TRL_VERSION:-1.16.0}"
# Verified together (tests/test_export_trl_live.py passes with these).
DEPS=("trl==${TRL_VERSION}" "peft==0.21.2" "transformers==5.24.0" "datasets==5.2.0" "accelerate==1.15.0")
STAMP_CONTENT="torch==${TORCH_VERSION} ${DEPS[*]} templates-hub(editable)"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$(realpath -m "$VENV")"
case "$VENV/" in
  "$REPO_ROOT"/*) echo "error: $VENV is inside the repository $REPO_ROOT; choose a path outside it" >&2; exit 2 ;;
esac

PY="$VENV/bin/python"
STAMP="$VENV/.templates_hub_trl_stamp"

check() {
  # What the live test uses, offline: the trl command, the trainers, peft and templates-hub.
  HF_HUB_OFFLINE=1 "$PY" - <<'EOF'
import importlib.metadata as md
import os, sys
import trl, peft  # noqa: F401
from trl import SFTTrainer, DPOTrainer, KTOTrainer, get_peft_config  # noqa: F401
import templates_hub  # noqa: F401
assert os.path.exists(os.path.join(os.path.dirname(sys.executable), "trl")), "the trl command is missing"
print(" ".join(f"{name} {md.version(name)}" for name in ("trl", "transformers", "datasets", "peft", "accelerate", "torch")))
EOF
}

if [[ "${FORCE:-0}" != "1" && -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_CONTENT" ]] \
   && found="$(check 2>/dev/null)"; then
  echo "TRL venv already complete at $VENV: $found" >&2
  echo "export TEMPLATES_HUB_TRL_PYTHON=$PY"
  exit 0
fi

SECONDS=0
step() { echo "[$(printf '%4d' "$SECONDS")s] $*" >&2; }

if [[ ! -x "$PY" ]]; then
  step "creating venv $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$PY" -m pip --disable-pip-version-check)
# pip warns once per package about this machine's unused local index folders: noise, filtered out.
pip_() { "${PIP[@]}" "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
rm -f "$STAMP"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
printf 'torch==%s\n' "$TORCH_VERSION" >"$WORK/constraints.txt"

step "torch==$TORCH_VERSION"
pip_ install -q "torch==$TORCH_VERSION" -c "$WORK/constraints.txt"

step "${DEPS[*]} (constrained to torch==$TORCH_VERSION)"
pip_ install -q -c "$WORK/constraints.txt" "${DEPS[@]}"

step "templates-hub (editable, from $REPO_ROOT)"
pip_ install -q -c "$WORK/constraints.txt" -e "$REPO_ROOT"

step "import check"
check >&2
echo "$STAMP_CONTENT" >"$STAMP"
step "done"
echo "export TEMPLATES_HUB_TRL_PYTHON=$PY"
