#!/usr/bin/env bash
# One command for the GPU machine: transformers writes small random xLSTM checkpoints and their
# float32/float64 logits (tools/hf_xlstm_compare.py), then XlstmLarge loads each one and compares
# (tools/hf_xlstm_compare.ts). Everything goes to $OUT/hf_xlstm/. Exit status 0 only if every
# checkpoint was written and every target met.
#   OUT=/tmp/out bash tools/hf_xlstm_compare.sh [--device cuda]
set -uo pipefail
: "${OUT:?set OUT to the output folder}"
cd "$(dirname "$0")/.."
mkdir -p "$OUT/hf_xlstm"
export DENO_WEBGPU_BACKEND="${DENO_WEBGPU_BACKEND:-vulkan}" XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
python3 tools/hf_xlstm_compare.py --out "$OUT/hf_xlstm" "$@" 2>&1 | tee "$OUT/hf_xlstm/writer.log"
writer=${PIPESTATUS[0]}
${DENO:-npx deno} run -A tools/hf_xlstm_compare.ts "$OUT/hf_xlstm" 2>&1 | tee "$OUT/hf_xlstm/compare.log"
compare=${PIPESTATUS[0]}
echo "writer exit $writer, compare exit $compare"
[ "$writer" -eq 0 ] && [ "$compare" -eq 0 ]
