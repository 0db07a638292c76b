#!/usr/bin/env bash
# For the next device call (prepared at stop 13, not run: no device time was left). The forward's
# deeper staging (tn16bd32: the parallel kernel's DQK 32 deep with P behind V, tn32bd16 at the 7B
# head; st8bj64: the state kernel 64 keys per step; bd32bj64: both) against the defaults; in
# forward+backward (through forwardBackward, against `reuse`) also the fused state scans 32 rows
# per step (scan32) and the blocked kernels' state products 32 deep (sd32, sd32scan32); their
# float64 tests at full size on the GPU. Each variant that wins becomes a default (parallelTiles,
# stateTiles, setBackwardScanRows, setBackwardStateDepth), after which the whole GPU suite should
# run again.
R=${1:-/tmp/r}
PACK=${2:-/tmp/r.tgz}
mkdir -p "$R"
export REQUIRE_GPU=1 NO_COLOR=1
pack() { tar czf "$PACK" -C "$R" .; }
ab() {
  local name=$1; shift
  deno run -A bench/speed_ab.ts "$@" --out "$R/$name" > "$R/$name.log" 2>&1
  grep "^| " "$R/$name/speed_ab.md" | grep -v "^| ---" | grep -v "| L |" | head -12
  pack
}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$R/gpu.txt"
ab fw --shapes tfla8k,7b8k --kernels xl_chunk,xl_chunk_siging --chunks 64 --passes fw \
  --dtypes f32,f16 --variants defaults,tn16bd32,st8bj64,bd32bj64 --rounds 3 --budget-s 100
ab fwbw --shapes tfla8k --kernels xl_chunk --chunks 64 --passes fwbw --dtypes f32,f16 \
  --variants reuse,bd32bj64,scan32,sd32,sd32scan32 --rounds 3 --budget-s 120
deno test -A tests/speed_variants_test.ts > "$R/gpu_tests.log" 2>&1
deno test -A tests/backward_test.ts --filter "/32 rows per step|32 deep/" >> "$R/gpu_tests.log" 2>&1
grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests.log" | tail -4
pack
ab b7 --shapes 7b8k --kernels xl_chunk --chunks 64 --passes fwbw --dtypes f32 \
  --variants reuse,tn16bd32,scan32 --rounds 2 --budget-s 60
# With any time left: a profile of the winners (B 16, S 4096, chunk 64).
ab prof --no-sweep --profile --variants reuse,bd32bj64,sd32scan32 --profile-chunk 64
