#!/usr/bin/env bash
# GPU run for issue #11 part 1 (resets, packed sequences): the tests on the real GPU (deviation log
# under $OUT/test_outputs) and the timing of bench/resets_bench.ts. Everything goes under $OUT.
#   OUT=/some/dir bash tools/resets_gpu.sh
set -u
: "${OUT:?set OUT to the output directory}"
mkdir -p "$OUT"
export REQUIRE_GPU=1 MLSTM_TEST_OUTPUTS="$OUT/test_outputs" NO_COLOR=1
DENO="${DENO:-npx deno}"
$DENO test -A tests/resets_test.ts > "$OUT/resets_test.log" 2>&1
echo "resets_test: $(tail -n 3 "$OUT/resets_test.log" | grep -E '^(ok|FAILED)')"
$DENO test -A tests/chunkwise_test.ts tests/limit_chunk_test.ts tests/parallel_test.ts \
  tests/recurrent_test.ts tests/backward_test.ts tests/backward_memory_test.ts > "$OUT/kernel_tests.log" 2>&1
echo "kernel tests: $(tail -n 3 "$OUT/kernel_tests.log" | grep -E '^(ok|FAILED)')"
$DENO run -A bench/resets_bench.ts > "$OUT/resets_bench.json" 2> "$OUT/resets_bench.err"
echo "bench: $OUT/resets_bench.json"
