#!/usr/bin/env bash
# Stop 15, device call 2: the new defaults against stop 14's (variant `stop14`) in one training
# step (TFLA shape: both kernels, f32 and f16; the 7B head), then the whole GPU test suite with the
# new defaults, its files in parallel, files that fail rerun one by one. Results under $1, packed
# into $2 after every step.
R=${1:-/tmp/r}
PACK=${2:-/tmp/r.tgz}
mkdir -p "$R"
export REQUIRE_GPU=1 NO_COLOR=1
pack() { tar czf "$PACK" -C "$R" .; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$R/gpu.txt"
deno run -A bench/speed_ab.ts --shapes tfla8k --kernels xl_chunk,xl_chunk_siging --chunks 64 \
  --passes fwbw --dtypes f32,f16 --variants reuse,stop14 --rounds 3 --budget-s 80 \
  --out "$R/fwbw" > "$R/fwbw.log" 2>&1
grep "^\[" "$R/fwbw.log"
pack
IGN=tests/browser_test.ts,tests/wgsl_portability_test.ts,tests/bundle_test.ts,tests/notebooks_test.ts
DENO_JOBS=8 timeout 300 deno test -A --parallel tests/ --ignore=$IGN > "$R/gpu_tests.log" 2>&1
echo "suite rc $?" >> "$R/gpu_tests.log"
grep -E "^ok \||^FAILED \||^error|suite rc" "$R/gpu_tests.log" | tail -3
pack
deno run -A bench/speed_ab.ts --shapes 7b8k --kernels xl_chunk --chunks 64 --passes fwbw \
  --dtypes f32,f16 --variants tn16bd32,stop14 --rounds 2 --budget-s 40 --out "$R/b7" > "$R/b7.log" 2>&1
grep "^\[" "$R/b7.log"
pack
