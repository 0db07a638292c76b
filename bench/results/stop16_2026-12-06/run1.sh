#!/usr/bin/env bash
# Stop 16, device call 1 (most decisive first; packed after every step): one training step (f32,
# TFLA shape) with today's defaults (`reuse`) against the rows' state term U = dh·Cᵀ in its own
# kernel (`ut`: 8 rows per thread, 16 deep; `ut4`, `ut8k32`, `ut4k32`); its test; the driver's
# register counts with `ut` (bench/shader_stats.ts); per-dispatch profiles of `reuse` and `ut`.
# Results under $1, packed into $2.
R=${1:-/tmp/r}
PACK=${2:-/tmp/r.tgz}
mkdir -p "$R"
export REQUIRE_GPU=1 NO_COLOR=1
pack() { tar czf "$PACK" -C "$R" .; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$R/gpu.txt"
deno run -A bench/speed_ab.ts --shapes tfla8k --kernels xl_chunk --chunks 64 --passes fwbw \
  --dtypes f32 --variants reuse,ut,ut4,ut8k32,ut4k32 --rounds 3 --budget-s 90 \
  --out "$R/fwbw" > "$R/fwbw.log" 2>&1
grep "^\[" "$R/fwbw.log"
pack
deno test -A tests/backward_test.ts --filter "state term in its own" > "$R/gpu_tests_ut.log" 2>&1
grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests_ut.log" | tail -3
pack
deno run -A bench/shader_stats.ts --dtype f32 --variant ut --out "$R/shader_stats_ut" \
  > "$R/shader_stats_ut.log" 2>&1
grep -iE "regist|error" "$R/shader_stats_ut.log" | head -30
pack
deno run -A bench/speed_ab.ts --no-sweep --profile --variants reuse,ut --profile-chunk 64 \
  --dtypes f32 --out "$R/profile" > "$R/profile.log" 2>&1
tail -5 "$R/profile.log"
pack
