#!/usr/bin/env bash
# The test command: set up the venv (with the test extra), lint, check formatting, run the test suite.
#   bash scripts/test.sh [pytest args...]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LMFORGE_EXTRAS="${LMFORGE_EXTRAS:-test}" source "$repo/scripts/env.sh"
cd "$repo"
echo "[lmforge] ruff check"
ruff check src tests bench
echo "[lmforge] ruff format --check"
ruff format --check src tests bench
echo "[lmforge] pytest"
python -m pytest "$@"
