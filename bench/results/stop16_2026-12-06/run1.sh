#!/usr/bin/env bash
# Stop 16, device call 1 (most decisive first; packed after every step): one training step (f32,
# TFLA shape) with today's defaults (`reuse`) against the state terms in their own kernels (`ut`:
# U = dh·Cᵀ, 8 rows per thread; `ut4`: 4 rows; `utc`: dkdv's v·dCᵀ, k·dC; `utdk`: all three),
# the forward's score blocks handed to stats (`fwx`) and all of it (`utdkfwx`); their tests; the
# driver's register counts with `utdkfwx`; per-dispatch profiles of `reuse` and `utdkfwx`.
# Results under $1, packed into $2.
R=${1:-/tmp/r}
PACK=${2:-/tmp/r.tgz}
mkdir -p "$R"
export REQUIRE_GPU=1 NO_COLOR=1
pack() { tar czf "$PACK" -C "$R" .; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$R/gpu.txt"
deno run -A bench/speed_ab.ts --shapes tfla8k --kernels xl_chunk --chunks 64 --passes fwbw \
  --dtypes f32 --variants reuse,ut,ut4,utc,utdk,fwx,utdkfwx --rounds 3 --budget-s 100 \
  --out "$R/fwbw" > "$R/fwbw.log" 2>&1
grep "^\[" "$R/fwbw.log"
pack
deno test -A tests/backward_test.ts --filter "/state terms in their own|forward's score blocks/" \
  > "$R/gpu_tests_new.log" 2>&1
grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests_new.log" | tail -3
pack
deno run -A bench/shader_stats.ts --dtype f32 --variant utdkfwx --out "$R/shader_stats" \
  > "$R/shader_stats.log" 2>&1
grep -iE "regist|error" "$R/shader_stats.log" | head -30
pack
deno run -A bench/speed_ab.ts --no-sweep --profile --variants reuse,utdkfwx --profile-chunk 64 \
  --dtypes f32 --out "$R/profile" > "$R/profile.log" 2>&1
tail -5 "$R/profile.log"
pack
