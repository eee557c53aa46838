#!/usr/bin/env bash
# The main job end to end on built-in data: set up the venv, then `lmforge quickstart`.
#   bash scripts/quickstart.sh [--output DIR] [--minutes M]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LMFORGE_EXTRAS="${LMFORGE_EXTRAS:-hf,curate}" source "$repo/scripts/env.sh"
exec lmforge quickstart "$@"
