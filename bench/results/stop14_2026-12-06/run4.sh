#!/usr/bin/env bash
# Stop 14, device call 4: per-dispatch profiles of one training step (forwardBackward) at the
# timed TFLA case (B 8, S 8192, chunk 64), today's defaults (`reuse`) and stop 13's tiles
# (`stop13`), f16 again (call 3's f16 profile of `reuse` ran at lowered clocks), now the fastest of three profiles each. Results under $1, packed into $2.
R=${1:-/tmp/r}
PACK=${2:-/tmp/r.tgz}
mkdir -p "$R"
export REQUIRE_GPU=1 NO_COLOR=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$R/gpu.txt"
deno run -A bench/speed_ab.ts --no-sweep --profile --variants reuse,stop13 --profile-chunk 64 \
  --dtypes f16 --out "$R/prof" > "$R/prof.log" 2>&1
grep -A12 "^profile_fwbw_f16" "$R/prof.log"
tar czf "$PACK" -C "$R" .
