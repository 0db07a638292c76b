#!/usr/bin/env bash
# Stop 17, device call 2: the new defaults (U = dh·Cᵀ in its own kernel at 4 rows per thread, the
# forward's score blocks read by stats) in one training step against stop 15's defaults
# (`stop15`) and stop 16's 8-row tiles with the score blocks (`utfwx`), both kernels, f32 and
# f16; the forward and the 7B head's training step for the README table; the whole GPU suite with
# the new defaults (files in parallel); the driver's register counts; per-dispatch profiles of
# `reuse` and `stop15`. Results under $1, packed into $2 after every step.
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
  --dtypes f32,f16 --variants reuse,stop15,utfwx --rounds 3 --budget-s 90
ab fw --shapes tfla8k,7b8k --kernels xl_chunk,xl_chunk_siging --chunks 64 --passes fw \
  --dtypes f32,f16 --variants defaults --rounds 3 --budget-s 60
# At the 7B head the blocked kernels do not run (`reuse`, `stop15` do not apply); tn16bd32 is
# today's tiles through forwardBackward.
ab b7 --shapes 7b8k --kernels xl_chunk --chunks 64 --passes fwbw --dtypes f32,f16 \
  --variants tn16bd32 --rounds 2 --budget-s 40
IGN=tests/browser_test.ts,tests/wgsl_portability_test.ts,tests/bundle_test.ts,tests/notebooks_test.ts
DENO_JOBS=8 timeout 300 deno test -A --parallel tests/ --ignore=$IGN > "$R/gpu_tests.log" 2>&1
echo "suite rc $?" >> "$R/gpu_tests.log"
grep -E "^ok \||^FAILED \||^error|suite rc" "$R/gpu_tests.log" | tail -3
pack
deno run -A bench/shader_stats.ts --dtype f32 --out "$R/shader_stats" > "$R/shader_stats.log" 2>&1
grep -iE "regist|error" "$R/shader_stats.log" | head -30
pack
deno run -A bench/speed_ab.ts --no-sweep --profile --variants reuse,stop15 --profile-chunk 64 \
  --dtypes f32,f16 --out "$R/profile" > "$R/profile.log" 2>&1
tail -5 "$R/profile.log"
pack
