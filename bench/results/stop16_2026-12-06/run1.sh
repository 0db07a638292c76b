#!/usr/bin/env bash
# Stop 16's device call, prepared and not yet run (every start failed this session): one training
# step (TFLA shape, both kernels, f32 and f16) with today's defaults (`reuse`) against the new
# opt-in variants: U = dh·Cᵀ in its own kernel (`ut`, and `ut4` with 4 rows per thread), the
# forward's score blocks handed to stats (`fwx`), both (`utfwx`), dkdv's v·dCᵀ and k·dC in their
# own kernels too (`utdk`, `utdkfwx`); the new paths' tests; the whole GPU suite (files in
# parallel); the driver's register counts with `utdkfwx`; per-dispatch profiles of `reuse` and
# `utdkfwx`. Results under $1, packed into $2 after every step (the most decisive first).
R=${1:-/tmp/r}
PACK=${2:-/tmp/r.tgz}
mkdir -p "$R"
export REQUIRE_GPU=1 NO_COLOR=1
pack() { tar czf "$PACK" -C "$R" .; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$R/gpu.txt"
deno run -A bench/speed_ab.ts --shapes tfla8k --kernels xl_chunk --chunks 64 --passes fwbw \
  --dtypes f32 --variants reuse,ut,fwx,utfwx,utdkfwx --rounds 3 --budget-s 60 \
  --out "$R/fwbw" > "$R/fwbw.log" 2>&1
grep "^\[" "$R/fwbw.log"
pack
deno test -A tests/backward_test.ts --filter "/state terms in their own|forward's score blocks/" \
  > "$R/gpu_tests_new.log" 2>&1
grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests_new.log" | tail -3
pack
deno run -A bench/speed_ab.ts --shapes tfla8k --kernels xl_chunk,xl_chunk_siging --chunks 64 \
  --passes fwbw --dtypes f32,f16 --variants reuse,ut4,utdk,utfwx,utdkfwx --rounds 3 \
  --budget-s 100 --out "$R/fwbw2" > "$R/fwbw2.log" 2>&1
grep "^\[" "$R/fwbw2.log"
pack
IGN=tests/browser_test.ts,tests/wgsl_portability_test.ts,tests/bundle_test.ts,tests/notebooks_test.ts
DENO_JOBS=8 timeout 240 deno test -A --parallel tests/ --ignore=$IGN > "$R/gpu_tests.log" 2>&1
echo "suite rc $?" >> "$R/gpu_tests.log"
grep -E "^ok \||^FAILED \||^error|suite rc" "$R/gpu_tests.log" | tail -3
pack
deno run -A bench/shader_stats.ts --dtype f32 --variant utdkfwx --out "$R/shader_stats" \
  > "$R/shader_stats.log" 2>&1
grep -iE "regist|error" "$R/shader_stats.log" | head -30
pack
deno run -A bench/speed_ab.ts --no-sweep --profile --variants reuse,utdkfwx --profile-chunk 64 \
  --dtypes f32 --out "$R/profile" > "$R/profile.log" 2>&1
tail -5 "$R/profile.log"
pack
