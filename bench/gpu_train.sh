#!/usr/bin/env bash
# Check and time `lmforge train` on one CUDA GPU: the olmo_1b preset, bf16, FSDP2 (one rank, per-block
# wrapping), seq 2048, 20 steps on synthetic tokens. Prints tokens/s per GPU and MFU (against the GPU's
# published dense bf16 peak) averaged over steps 6-20 (steps 1-5 include compilation and allocator warm-up).
#
#   bash bench/gpu_train.sh                       # uses .venv/bin/python if it has CUDA torch, else python3
#   PYTHON=/opt/conda/bin/python MICROBATCH=4 COMPILE=0 STEPS=20 bash bench/gpu_train.sh
#
# Needs a Python with a CUDA build of torch plus numpy, pyyaml, fsspec, safetensors, tokenizers, xxhash,
# zstandard (lmforge's runtime dependencies); lmforge itself is used from this checkout (PYTHONPATH=src).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STEPS="${STEPS:-20}"
MICROBATCH="${MICROBATCH:-8}"
ACCUM="${ACCUM:-2}"                      # micro-batches per step: global batch = MICROBATCH * ACCUM
COMPILE="${COMPILE:-1}"
AC="${AC:-none}"                         # activation_checkpointing: none | full | one_in_N
PRESET="${PRESET:-olmo_1b}"
SEQ="${SEQ:-2048}"
DEVICE="${DEVICE:-cuda}"                 # DEVICE=cpu PRESET=tiny SEQ=128 ... smoke-tests this script without a GPU
WORK="${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/lmforge-gpu-train-XXXXXX")}"
mkdir -p "$WORK"

has_cuda_torch() {
  [[ "$DEVICE" == "cpu" ]] && { "$1" -c "import torch" 2>/dev/null; return; }
  "$1" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null
}
if [[ -n "${PYTHON:-}" ]]; then
  PY="$PYTHON"
elif [[ -x "$ROOT/.venv/bin/python" ]] && has_cuda_torch "$ROOT/.venv/bin/python"; then
  PY="$ROOT/.venv/bin/python"
elif has_cuda_torch python3; then
  PY="$(command -v python3)"
else
  echo "gpu_train.sh: no Python with a CUDA build of torch found (set PYTHON=...)" >&2
  exit 2
fi
has_cuda_torch "$PY" || { echo "gpu_train.sh: $PY has no CUDA device" >&2; exit 2; }

missing="$("$PY" - <<'PY'
import importlib.util
mods = ["numpy", "yaml", "fsspec", "safetensors", "tokenizers", "xxhash", "zstandard"]
print(" ".join(m for m in mods if importlib.util.find_spec(m) is None))
PY
)"
if [[ -n "$missing" ]]; then
  echo "gpu_train.sh: installing missing modules: $missing" >&2
  pkgs="${missing/yaml/pyyaml}"
  "$PY" -m pip install --quiet $pkgs || { echo "gpu_train.sh: cannot install $pkgs (offline?)" >&2; exit 2; }
fi
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "import torch; print('torch', torch.__version__, 'on', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')"

GLOBAL=$((MICROBATCH * ACCUM))
TOKENS=$(( (STEPS + 2) * GLOBAL * SEQ + SEQ ))
"$PY" - "$WORK/tokens.npy" "$TOKENS" <<'PY'
import sys
import numpy as np
# Random ids below the OLMo-1 vocabulary (50280): throughput does not depend on what the tokens say.
np.random.default_rng(0).integers(0, 50280, int(sys.argv[2]), dtype=np.uint16).tofile(sys.argv[1])
PY

cat > "$WORK/config.yaml" <<YAML
run_name: gpu-bench-$PRESET
seed: 0
model: {preset: $PRESET, max_sequence_length: $SEQ}
data: {paths: ["$WORK/tokens.npy"], seq_len: $SEQ, dtype: uint16}
global_batch_size: $GLOBAL
microbatch_size: $MICROBATCH
max_steps: $STEPS
optimizer: {lr: 4.0e-4, betas: [0.9, 0.95], eps: 1.0e-5, weight_decay: 0.1}
scheduler: {name: cosine, warmup_steps: 2, alpha_f: 0.1}
max_grad_norm: 1.0
precision: bf16
strategy: fsdp
activation_checkpointing: $AC
compile: $( [[ "$COMPILE" == "1" ]] && echo true || echo false )
device: $DEVICE
save_folder: $WORK/run
save_interval: null
log_interval: 1
YAML

echo "gpu_train.sh: $PRESET bf16 FSDP, seq $SEQ, global batch $GLOBAL x $SEQ tokens (micro-batch $MICROBATCH), $STEPS steps, compile=$COMPILE, AC=$AC; work dir $WORK"
if ! "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 -m lmforge train "$WORK/config.yaml"; then
  if [[ "$COMPILE" == "1" ]]; then
    # A torch.compile failure (toolchain, Triton) should not cost the measurement: retry in eager mode.
    echo "gpu_train.sh: the compiled run failed; retrying with compile: false" >&2
    sed -i 's/^compile: true$/compile: false/' "$WORK/config.yaml"
    rm -rf "$WORK/run"
    "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 -m lmforge train "$WORK/config.yaml"
  else
    exit 1
  fi
fi

"$PY" - "$WORK/run/metrics.jsonl" "$STEPS" "$PRESET" "$SEQ" <<'PY'
import json, math, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
steps = int(sys.argv[2])
assert [r["step"] for r in rows] == list(range(1, steps + 1)), "missing steps in metrics.jsonl"
assert all(r["loss"] is not None and math.isfinite(r["loss"]) for r in rows), "non-finite loss"
assert rows[0]["loss"] > 9.0, f"initial loss {rows[0]['loss']} is not ~ln(vocab)"  # ln(50304) = 10.8
timed = [r for r in rows if r["step"] > 5] or rows
tps = sum(r["tokens_per_s"] for r in timed) / len(timed)
mfu = sum(r["mfu"] for r in timed) / len(timed)
mem = max(r["peak_memory_mb"] for r in rows)
print(f"RESULT {sys.argv[3]} bf16 fsdp seq{sys.argv[4]}: {tps:,.0f} tokens/s per GPU, MFU {100 * mfu:.1f}%, "
      f"peak memory {mem / 1024:.1f} GiB, loss {rows[0]['loss']:.3f} -> {rows[-1]['loss']:.3f}")
PY
