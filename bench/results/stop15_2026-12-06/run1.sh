#!/usr/bin/env bash
# Stop 15, device call 1 (most decisive first; packed after every step): one training step (f32,
# TFLA shape) with today's defaults (`reuse`) against the double-buffered staging (`dbstate`,
# `dbscores`, `dball`), every head group's state kernel first (`statesfirst`) and both
# (`dballsf`); the tests of those; the driver's register counts of every pipeline
# (bench/shader_stats.ts); where the backward's blocked kernels spend their time
# (bench/phase_ablation.ts). Results under $1, packed into $2.
R=${1:-/tmp/r}
PACK=${2:-/tmp/r.tgz}
mkdir -p "$R"
export REQUIRE_GPU=1 NO_COLOR=1
pack() { tar czf "$PACK" -C "$R" .; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$R/gpu.txt"
deno run -A bench/speed_ab.ts --shapes tfla8k --kernels xl_chunk --chunks 64 --passes fwbw \
  --dtypes f32 --variants reuse,dbstate,dbscores,dball,statesfirst,dballsf --rounds 3 \
  --budget-s 80 --out "$R/fwbw" > "$R/fwbw.log" 2>&1
grep "^\[" "$R/fwbw.log"
pack
deno test -A tests/backward_test.ts --filter "double-buffered" > "$R/gpu_tests_db.log" 2>&1
grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests_db.log" | tail -3
deno test -A tests/chunkwise_test.ts tests/phase_ablation_test.ts > "$R/gpu_tests.log" 2>&1
grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests.log" | tail -3
pack
deno run -A bench/shader_stats.ts --dtype f32 --out "$R/shader_stats" > "$R/shader_stats.log" 2>&1
grep -iE "regist|spill|error" "$R/shader_stats.log" | head -40
pack
deno run -A bench/phase_ablation.ts --dtypes f32 --out "$R/ablation" > "$R/ablation.log" 2>&1
sed -n '/^## f32/,$p' "$R/ablation/phase_ablation.md"
pack
