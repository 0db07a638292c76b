#!/usr/bin/env bash
# Stop 13, device call 2: the staged gate kernel (defaults) against stop 12's (variant `stop12`),
# forward and forward+backward, per-dispatch profiles, and the tests of the changed kernels.
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
# 1. Bit-identity of the staged gate kernel on this GPU, and the forward's float64 cross-checks.
deno test -A tests/chunkwise_gates_test.ts tests/chunkwise_test.ts tests/resets_test.ts > "$R/gpu_tests.log" 2>&1
grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests.log" | tail -3
pack
# 2. Forward: defaults (staged gates) against stop12.
ab fw --shapes tfla8k,7b8k --kernels xl_chunk,xl_chunk_siging --chunks 64 --passes fw \
  --dtypes f32,f16 --variants defaults,stop12 --rounds 3 --budget-s 150
# 3. Forward+backward through forwardBackward: reuse (defaults) against stop12.
ab fwbw --shapes tfla8k --kernels xl_chunk,xl_chunk_siging --chunks 64 --passes fwbw \
  --dtypes f32,f16 --variants reuse,stop12 --rounds 3 --budget-s 150
# 4. Per-dispatch profiles (B 16, S 4096, chunk 64), defaults and stop12.
ab prof --no-sweep --profile --variants defaults,stop12 --profile-chunk 64
# 5. The speed variants against float64 (stop12 included).
deno test -A tests/speed_variants_test.ts > "$R/gpu_tests2.log" 2>&1
grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests2.log" | tail -3
pack
