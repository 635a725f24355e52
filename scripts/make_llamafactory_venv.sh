#!/usr/bin/env bash
# Build the LLaMA-Factory 0.9.5 *reference* virtual environment (never the project's own .venv).
#
# Why a separate venv: LLaMA-Factory 0.9.5 pins transformers<=5.6 and datasets<=4.0, while templates-hub
# runs on transformers 5.24 / datasets 5.2. The reference venv lets scripts/llamafactory_reference.py run
# LLaMA-Factory's own data pipeline so that tests can compare token ids with it.
#
# Recipe (see ../shared/reference/llamafactory.md, last section):
#   1. python -m venv VENV; pip install torch==2.13.0 (CPU wheel from the machine's local wheel store)
#   2. pip download --no-deps llamafactory==0.9.5 and pip install --no-deps that wheel: its declared
#      dependencies pull torchvision/torchaudio, gradio and a multi-GB CUDA torch, none needed for data work
#   3. the dependencies the data path needs, pinned, with a constraints file that pins torch==2.13.0
#   4. torchaudio==2.11.1 --no-deps with its native libraries renamed away: llamafactory.data imports
#      torchaudio at module import, and no torchaudio build matches torch 2.13 (audio is then unusable,
#      text data is unaffected)
#
# Usage: scripts/make_llamafactory_venv.sh [VENV_DIR]      (default /work/lf-venv; must be outside the repo)
# Idempotent: a finished venv (stamp file + a working import check) is left as it is; FORCE=1 rebuilds.
# Env: PYTHON (base interpreter, default python3).
# Last line printed: `export TEMPLATES_HUB_LF_PYTHON=VENV/bin/python`.
set -euo pipefail

VENV="${1:-/work/lf-venv}"
PYTHON="${PYTHON:-python3}"
LF_VERSION="0.9.5"
TORCH_VERSION="2.13.0"
TORCHAUDIO_VERSION="2.11.1"
# The data path's dependencies, at the versions the reference was verified with.
DEPS=(
  "transformers==5.5.4" "datasets==4.0.0" "accelerate==1.11.0" "peft==0.18.1" "trl==0.24.0"
  tokenizers omegaconf pyyaml numpy pandas scipy sentencepiece tiktoken protobuf pydantic fire einops
  safetensors pillow packaging "tyro<0.9.0"
)
STAMP_CONTENT="llamafactory==${LF_VERSION} torch==${TORCH_VERSION} torchaudio==${TORCHAUDIO_VERSION}+stubbed ${DEPS[*]}"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$(realpath -m "$VENV")"
case "$VENV/" in
  "$REPO_ROOT"/*) echo "error: $VENV is inside the repository $REPO_ROOT; choose a path outside it" >&2; exit 2 ;;
esac

PY="$VENV/bin/python"
STAMP="$VENV/.templates_hub_lf_stamp"

check() {
  # Import the exact entry points llamafactory_reference.py uses, offline.
  HF_HUB_OFFLINE=1 "$PY" - <<'EOF'
import importlib.metadata as md
import llamafactory
from llamafactory.hparams import get_train_args  # noqa: F401
from llamafactory.model import load_tokenizer  # noqa: F401
from llamafactory.data import get_dataset, get_template_and_fix_tokenizer  # noqa: F401
import sentencepiece, tiktoken, google.protobuf  # noqa: F401  (llama-2/mistral/llama-3 tokenizers)
print("llamafactory", llamafactory.__version__, "transformers", md.version("transformers"),
      "datasets", md.version("datasets"), "torch", md.version("torch"))
EOF
}

if [[ "${FORCE:-0}" != "1" && -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_CONTENT" ]] \
   && found="$(check 2>/dev/null)"; then
  echo "LLaMA-Factory reference venv already complete at $VENV: $found" >&2
  echo "export TEMPLATES_HUB_LF_PYTHON=$PY"
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

step "torch==$TORCH_VERSION (CPU wheel)"
pip_ install -q "torch==$TORCH_VERSION" -c "$WORK/constraints.txt"

step "llamafactory==$LF_VERSION (wheel only, --no-deps)"
pip_ download -q --no-deps "llamafactory==$LF_VERSION" -d "$WORK/lf"
pip_ install -q --no-deps "$WORK"/lf/llamafactory-"$LF_VERSION"-*.whl

step "data-path dependencies (constrained to torch==$TORCH_VERSION); pip will list llamafactory's other requirements (gradio, torchvision, ...) as missing: expected, they are left out on purpose"
pip_ install -q -c "$WORK/constraints.txt" "${DEPS[@]}"

step "torchaudio==$TORCHAUDIO_VERSION --no-deps, native libraries renamed away"
pip_ install -q --no-deps "torchaudio==$TORCHAUDIO_VERSION"
TA_DIR="$("$PY" -c 'import importlib.util, os; s = importlib.util.find_spec("torchaudio"); print(os.path.dirname(s.origin))')"
shopt -s nullglob
for so in "$TA_DIR"/lib/*.so "$TA_DIR"/*.so; do
  mv "$so" "$so.disabled"
done
shopt -u nullglob

step "import check"
check >&2
echo "$STAMP_CONTENT" >"$STAMP"
step "done"
echo "export TEMPLATES_HUB_LF_PYTHON=$PY"
