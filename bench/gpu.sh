#!/usr/bin/env bash
# The GPU bench under a hard 10-minute limit (bench/gpu.py keeps its own 570 s budget inside it,
# so the table is printed before the limit; rows that did not fit say "skipped").
#   bench/gpu.sh                          # 0.5B and 7B shapes; LoRA, QLoRA, full; packed and
#                                         # unpacked; estimate vs measured peak for each row
#   bench/gpu.sh --models 0.5b            # any bench/gpu.py option passes through
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3; fi
export PYTHONUNBUFFERED=1
exec timeout --signal=INT --kill-after=15 600 "$PY" bench/gpu.py --budget 570 "$@"
