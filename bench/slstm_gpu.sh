#!/usr/bin/env bash
# sLSTM on the GPU machine, one command: the sLSTM tests on the real adapter (REQUIRE_GPU=1), the
# WebGPU speed and accuracy script, and the PyTorch loop with the float64 autograd check, all
# writing under $OUT (default bench_outputs/slstm):
#
#   OUT=/path/to/out bash bench/slstm_gpu.sh [--tiny]
#
# Produces tests.txt, slstm_webgpu.csv, slstm_accuracy.csv, slstm_torch.csv,
# slstm_autograd_check.csv, and the logs webgpu.txt, torch.txt.
set -u -o pipefail
OUT="${OUT:-bench_outputs/slstm}"
mkdir -p "$OUT"
export OUT DENO_WEBGPU_BACKEND="${DENO_WEBGPU_BACKEND:-vulkan}" XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}" NO_COLOR=1
DENO="${DENO:-$(command -v deno || echo npx deno)}"
status=0
REQUIRE_GPU=1 MLSTM_TEST_OUTPUTS="$OUT/test_outputs" $DENO test -A tests/slstm_test.ts >"$OUT/tests.txt" 2>&1 || status=1
tail -3 "$OUT/tests.txt"
$DENO run -A bench/slstm_gpu.ts "$@" 2>&1 | tee "$OUT/webgpu.txt" || status=1
python3 bench/slstm_torch.py --out "$OUT" "$@" 2>&1 | tee "$OUT/torch.txt" || status=1
exit $status
