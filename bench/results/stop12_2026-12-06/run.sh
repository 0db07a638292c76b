#!/usr/bin/env bash
# The device call of stop 12 (one call: the device budget allowed one). Run from the repository
# root after `source .device/gpu-env.sh` with node_modules in place; results under $1.
R=${1:-/tmp/r}
mkdir -p "$R"
export REQUIRE_GPU=1 NO_COLOR=1
ab() { local name=$1; shift; deno run -A bench/speed_ab.ts "$@" --out "$R/$name" > "$R/$name.log" 2>&1; grep "^| " "$R/$name/speed_ab.md" | grep -v "^| ---" | head -30; }
# 1. Backward variants at the TFLA shape, f32 (interleaved, 3 rounds).
ab pf --shapes tfla8k --kernels xl_chunk --chunks 64 --passes fwbw --dtypes f32 \
  --variants defaults,pfstate,pfaccum,pfscores,pfscan,pfall,rowfirst,pfrow,reuse,pfrowreuse --rounds 3
# 2. Forward: the state kernel with prefetch.
ab fw --shapes tfla8k --kernels xl_chunk,xl_chunk_siging --chunks 64 --passes fw --dtypes f32,f16 \
  --variants defaults,st8ipf --rounds 3
# 3. f16 and siging forward+backward; the 7B head.
ab f16sig --shapes tfla8k --kernels xl_chunk,xl_chunk_siging --chunks 64 --passes fwbw --dtypes f16,f32 \
  --variants defaults,pfrow,pfrowreuse --rounds 3
ab b7 --shapes 7b8k --kernels xl_chunk --chunks 64 --passes fwbw --dtypes f32,f16 \
  --variants defaults,pfall --rounds 2
# 4. Per-dispatch profiles (chunk 128: the profile shape keeps states only from chunk 128).
ab prof --no-sweep --profile --variants defaults,pfrow --profile-chunk 64
# 5. The new paths' tests on this GPU.
deno test -A tests/backward_test.ts --filter "/register prefetch|row statistics first|savedStates|forward's states|forwardBackward|register-blocked|speed variants/" > "$R/gpu_tests.log" 2>&1
grep -E "^ok|FAILED|^error" "$R/gpu_tests.log" | tail -5
deno test -A tests/chunkwise_test.ts tests/speed_variants_test.ts > "$R/gpu_tests2.log" 2>&1
grep -E "^ok|FAILED|^error" "$R/gpu_tests2.log" | tail -5
