#!/usr/bin/env bash
# Stop 13, device call 6 (call 5's script shortened after a failed machine start left 261 s):
# the forward's deeper staging against the defaults at the TFLA shape, the full-size float64
# tests of those tiles, and forward+backward.
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
ab fw --shapes tfla8k --kernels xl_chunk,xl_chunk_siging --chunks 64 --passes fw \
  --dtypes f32 --variants defaults,tn16bd32,st8bj64,bd32bj64 --rounds 3 --budget-s 40
deno test -A tests/speed_variants_test.ts --filter "/full size/" > "$R/gpu_tests.log" 2>&1
grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests.log" | tail -3
pack
ab fwbw --shapes tfla8k --kernels xl_chunk --chunks 64 --passes fwbw --dtypes f32 \
  --variants defaults,bd32bj64 --rounds 2 --budget-s 30
