#!/usr/bin/env bash
# Stop 15, device call 1: where the backward's blocked kernels spend their time (stop 14's run5.sh:
# bench/phase_ablation.ts, f32), then one training step with today's defaults against stop
# 13's and with the double-buffered staging (`dbstate`, `dbscores`, `dball`) on this card (f32,
# TFLA shape), the forward with smaller head groups (hg32, hg16: is the state kernel
# latency-bound?), the driver's register counts, every head group's state kernel first
# (statesfirst), then the tests of what changed after stop 14's call 2 and of the double
# buffering.
# Results under $1, packed into $2 after every step.
R=${1:-/tmp/r}
PACK=${2:-/tmp/r.tgz}
mkdir -p "$R"
export REQUIRE_GPU=1 NO_COLOR=1
pack() { tar czf "$PACK" -C "$R" .; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$R/gpu.txt"
deno run -A bench/phase_ablation.ts --dtypes f32 --out "$R/ablation" > "$R/ablation.log" 2>&1
sed -n '/^## f32/,$p' "$R/ablation/phase_ablation.md"
pack
deno run -A bench/speed_ab.ts --shapes tfla8k --kernels xl_chunk --chunks 64 --passes fwbw \
  --dtypes f32 --variants reuse,stop13,dbstate,dbscores,dball --rounds 3 --budget-s 100 --out "$R/fwbw" > "$R/fwbw.log" 2>&1
grep "^\[" "$R/fwbw.log"
pack
# Diagnostic: the forward with smaller head groups (the state kernel's time per dispatch against
# its workgroups).
deno run -A bench/speed_ab.ts --shapes tfla8k --kernels xl_chunk --chunks 64 --passes fw \
  --dtypes f32 --variants defaults,hg32,hg16 --rounds 3 --budget-s 40 --out "$R/hg" > "$R/hg.log" 2>&1
grep "^\[" "$R/hg.log"
pack
# The driver's shader statistics (registers per thread, spills) of every pipeline of one training
# step (profiling/shader_stats.ts; new, first run on NVIDIA).
deno run -A profiling/shader_stats.ts --dtype f32,f16 --out "$R/shader_stats" > "$R/shader_stats.log" 2>&1
grep -iE "regist|spill|error" "$R/shader_stats.log" | head -40
pack
deno run -A bench/speed_ab.ts --shapes tfla8k --kernels xl_chunk --chunks 64 --passes fwbw \
  --dtypes f32 --variants reuse,statesfirst --rounds 3 --budget-s 50 --out "$R/sf" > "$R/sf.log" 2>&1
grep "^\[" "$R/sf.log"
pack
deno test -A tests/backward_test.ts --filter "double-buffered" > "$R/gpu_tests_dbs.log" 2>&1
grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests_dbs.log" | tail -3
pack
deno test -A tests/phase_ablation_test.ts tests/chunkwise_test.ts tests/shader_stats_test.ts > "$R/gpu_tests.log" 2>&1
grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests.log" | tail -3
pack
