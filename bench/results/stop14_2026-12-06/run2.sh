#!/usr/bin/env bash
# Stop 14, device call 2: the new defaults (the parallel kernel's DQK 32 deep with P behind V at
# DHV 256; 16 deep at DHV 512) against stop 13's (variant `stop13`) in forward+backward, then the
# whole GPU test suite with the new defaults, its files in parallel (16 CPU cores: the float64
# oracles are CPU work), files that fail rerun one by one. Results under $1, packed into $2 after
# every step.
R=${1:-/tmp/r}
PACK=${2:-/tmp/r.tgz}
mkdir -p "$R"
export REQUIRE_GPU=1 NO_COLOR=1
pack() { tar czf "$PACK" -C "$R" .; }
ab() {
  local name=$1; shift
  deno run -A bench/speed_ab.ts "$@" --out "$R/$name" > "$R/$name.log" 2>&1
  grep "^\[" "$R/$name.log"
  pack
}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$R/gpu.txt"
ab fwbw --shapes tfla8k --kernels xl_chunk,xl_chunk_siging --chunks 64 --passes fwbw \
  --dtypes f32,f16 --variants reuse,stop13 --rounds 3 --budget-s 90
# At the 7B head `reuse` does not apply (blocked kernels only); tn16bd32 is today's tiles through
# forwardBackward, as stop13.
ab b7 --shapes 7b8k --kernels xl_chunk --chunks 64 --passes fwbw --dtypes f32,f16 \
  --variants tn16bd32,stop13 --rounds 2 --budget-s 50
IGN=tests/browser_test.ts,tests/wgsl_portability_test.ts,tests/bundle_test.ts,tests/notebooks_test.ts
DENO_JOBS=8 timeout 380 deno test -A --parallel tests/ --ignore=$IGN > "$R/gpu_tests.log" 2>&1
echo "suite rc $?" >> "$R/gpu_tests.log"
grep -E "^ok \||^FAILED \||^error|suite rc" "$R/gpu_tests.log" | tail -3
pack
failed=$(grep -oE "=> \./tests/[a-z0-9_]+\.ts" "$R/gpu_tests.log" | sed 's/=> //' | sort -u | tr '\n' ' ')
if [ -n "$failed" ]; then
  echo "rerun one by one: $failed"
  deno test -A $failed > "$R/gpu_tests_rerun.log" 2>&1
  grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests_rerun.log" | tail -3
  pack
fi
