#!/usr/bin/env bash
# Stop 13, device call 3: the staged forward gate kernel (4 chunks per workgroup) and the
# backward's 256-thread gate kernel (defaults) against stop 12's kernels (`stop12`) and against the
# 64-thread backward gate kernel alone (`bwgates0`); the changed kernels' tests; the 7B head;
# per-dispatch profiles (after a warm-up).
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
# 1. Forward.
ab fw --shapes tfla8k,7b8k --kernels xl_chunk,xl_chunk_siging --chunks 64 --passes fw \
  --dtypes f32,f16 --variants defaults,stop12 --rounds 3 --budget-s 120
# 2. Forward+backward through forwardBackward.
ab fwbw --shapes tfla8k --kernels xl_chunk,xl_chunk_siging --chunks 64 --passes fwbw \
  --dtypes f32,f16 --variants reuse,stop12,bwgates0 --rounds 3 --budget-s 150
# 3. The changed kernels' tests on this GPU.
deno test -A tests/chunkwise_gates_test.ts tests/backward_test.ts > "$R/gpu_tests.log" 2>&1
grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests.log" | tail -3
pack
# 4. The xLSTM 7B head, forward+backward.
ab b7 --shapes 7b8k --kernels xl_chunk --chunks 64 --passes fwbw --dtypes f32,f16 \
  --variants defaults,stop12 --rounds 2 --budget-s 90
# 5. Per-dispatch profiles (B 16, S 4096, chunk 64).
ab prof --no-sweep --profile --variants defaults,stop12 --profile-chunk 64
deno test -A tests/resets_test.ts > "$R/gpu_tests2.log" 2>&1
grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests2.log" | tail -3
pack
