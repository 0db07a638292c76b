#!/usr/bin/env bash
# Stop 13, device call 1: time `pfinter` (forward) and run the GPU test suite with the stop-12
# defaults. Run from the repository root after `source .device/gpu-env.sh` with node_modules in
# place; results under $1, packed into $2 after every step.
R=${1:-/tmp/r}
PACK=${2:-/tmp/r.tgz}
mkdir -p "$R"
export REQUIRE_GPU=1 NO_COLOR=1
pack() { tar czf "$PACK" -C "$R" .; }
ab() {
  local name=$1; shift
  deno run -A bench/speed_ab.ts "$@" --out "$R/$name" > "$R/$name.log" 2>&1
  grep "^| " "$R/$name/speed_ab.md" | grep -v "^| ---" | head -30
  pack
}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$R/gpu.txt"
# 1. The forward parallel kernel's inter-chunk prefetch, TFLA shape and 7B head, f32 and f16.
ab fw --shapes tfla8k,7b8k --kernels xl_chunk,xl_chunk_siging --chunks 64 --passes fw \
  --dtypes f32,f16 --variants defaults,pfinter --rounds 3 --budget-s 150
# 2. The test suite's cross-checks on this GPU, with the stop-12 defaults (no Chromium, Jupyter
#    or bundler here: those three tests and the WGSL portability test, which is CPU-only, left out).
deno test -A tests/ --ignore=tests/browser_test.ts,tests/wgsl_portability_test.ts,tests/bundle_test.ts,tests/notebooks_test.ts > "$R/gpu_tests.log" 2>&1
grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests.log" | tail -5
pack
