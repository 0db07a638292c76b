#!/usr/bin/env bash
# Stop 16, device call (the session's device time nearly spent by failed starts, so run1.sh's
# whole suite does not fit): one training step (TFLA shape, both kernels, f32 and f16) with the
# new defaults (`reuse`: U = dh·Cᵀ in its own kernel, the forward's score blocks handed to stats)
# against stop 15's (`stop15`), each alone on stop 15's (`ut`, `fwx`) and the defaults with
# dkdv's products in their own kernels too (`utdkfwx`); the new paths' tests; the test files
# that exercise the backward's defaults, in parallel. Results under $1, packed into $2.
R=${1:-/tmp/r}
PACK=${2:-/tmp/r.tgz}
mkdir -p "$R"
export REQUIRE_GPU=1 NO_COLOR=1
pack() { tar czf "$PACK" -C "$R" .; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$R/gpu.txt"
deno run -A bench/speed_ab.ts --shapes tfla8k --kernels xl_chunk,xl_chunk_siging --chunks 64 \
  --passes fwbw --dtypes f32,f16 --variants reuse,stop15,ut,fwx,utdkfwx --rounds 3 --budget-s 60 \
  --out "$R/fwbw" > "$R/fwbw.log" 2>&1
grep "^\[" "$R/fwbw.log"
pack
deno test -A tests/backward_test.ts --filter "/state terms in their own|forward's score blocks/" \
  > "$R/gpu_tests_new.log" 2>&1
grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests_new.log" | tail -3
pack
DENO_JOBS=6 timeout 60 deno test -A --parallel tests/backward_test.ts tests/backward_memory_test.ts \
  tests/phase_ablation_test.ts tests/resets_test.ts tests/chunkwise_test.ts tests/long_memory_test.ts \
  > "$R/gpu_tests.log" 2>&1
echo "tests rc $?" >> "$R/gpu_tests.log"
grep -E "^ok \||^FAILED \||^error|tests rc" "$R/gpu_tests.log" | tail -3
pack
