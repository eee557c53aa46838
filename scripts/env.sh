#!/usr/bin/env bash
# Create or reuse the project's virtual environment and install what lmforge needs into it.
# Sourced by scripts/quickstart.sh and scripts/test.sh; safe to run again (a stamp skips a fresh install).
#   LMFORGE_VENV     where the venv lives (default: .venv in the repository)
#   LMFORGE_EXTRAS   pip extras to install (default: test for the tests, hf for the quickstart)
#   LMFORGE_TORCH    torch requirement installed first (default: torch==2.13.0, a CPU build; set to e.g.
#                    "torch" on a CUDA machine)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${LMFORGE_VENV:-$repo/.venv}"
extras="${LMFORGE_EXTRAS:-test}"
torch_req="${LMFORGE_TORCH:-torch==2.13.0}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  echo "[lmforge] creating virtual environment in $venv"
  "$python" -m venv "$venv"
fi
stamp="$venv/.lmforge-install-stamp"
want="$(cat "$repo/pyproject.toml" | sha256sum | cut -c1-16)-$extras-$torch_req"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[lmforge] installing lmforge[$extras] into $venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  # torch first, pinned, so no dependency resolution ever pulls a multi-GB CUDA build by accident.
  "$venv/bin/python" -c "import torch" 2>/dev/null || "$venv/bin/python" -m pip install -q "$torch_req"
  "$venv/bin/python" -m pip install -q -e "$repo[$extras]"
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
export VIRTUAL_ENV="$venv"
