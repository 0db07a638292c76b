#!/usr/bin/env bash
# The device call of stop 12 (one call: the device budget allowed one). Run from the repository
# root after `source .device/gpu-env.sh` with node_modules in place; results under $1, packed
# into $2 (a .tgz, rewritten after every step so that a call cut short keeps what it measured).
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
# 1. Backward variants at the TFLA shape, f32 (interleaved, 3 rounds).
ab pf --shapes tfla8k --kernels xl_chunk --chunks 64 --passes fwbw --dtypes f32 \
  --variants defaults,pfstate,pfaccum,pfscores,pfscan,pfall,rowfirst,pfrow,reuse,pfrowreuse --rounds 3
# 2. The new paths' tests on this GPU.
deno test -A tests/backward_test.ts --filter "/register prefetch|row statistics first|savedStates|forward's states|forwardBackward|register-blocked|speed variants/" > "$R/gpu_tests.log" 2>&1
grep -E "^ok|FAILED|^error" "$R/gpu_tests.log" | tail -5
pack
# 3. f16 and siging forward+backward.
ab f16sig --shapes tfla8k --kernels xl_chunk,xl_chunk_siging --chunks 64 --passes fwbw --dtypes f16,f32 \
  --variants defaults,pfrow,pfrowreuse --rounds 3
# 4. Forward: the state kernel with prefetch.
ab fw --shapes tfla8k --kernels xl_chunk,xl_chunk_siging --chunks 64 --passes fw --dtypes f32,f16 \
  --variants defaults,st8ipf --rounds 3
# 5. The 7B head.
ab b7 --shapes 7b8k --kernels xl_chunk --chunks 64 --passes fwbw --dtypes f32,f16 \
  --variants defaults,pfall --rounds 2
# 6. Per-dispatch profiles.
ab prof --no-sweep --profile --variants defaults,pfrow --profile-chunk 64
deno test -A tests/chunkwise_test.ts tests/speed_variants_test.ts > "$R/gpu_tests2.log" 2>&1
grep -E "^ok|FAILED|^error" "$R/gpu_tests2.log" | tail -5
pack
