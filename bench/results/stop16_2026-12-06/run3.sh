#!/usr/bin/env bash
# Stop 16, last device call (little device time left after failed starts): one training step (TFLA
# shape, xl_chunk, f32, then f16) with the new defaults (`reuse`) against stop 15's (`stop15`),
# each change alone (`ut`, `fwx`) and dkdv's products in their own kernels too (`utdkfwx`); then
# the new paths' tests. Results under $1, packed into $2.
R=${1:-/tmp/r}
PACK=${2:-/tmp/r.tgz}
mkdir -p "$R"
export REQUIRE_GPU=1 NO_COLOR=1
pack() { tar czf "$PACK" -C "$R" .; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$R/gpu.txt"
deno run -A bench/speed_ab.ts --shapes tfla8k --kernels xl_chunk --chunks 64 --passes fwbw \
  --dtypes f32 --variants reuse,stop15,ut,fwx,utdkfwx --rounds 3 --budget-s 40 \
  --out "$R/fwbw" > "$R/fwbw.log" 2>&1
grep "^\[" "$R/fwbw.log"
pack
deno test -A tests/backward_test.ts --filter "/state terms in their own|forward's score blocks/" \
  > "$R/gpu_tests_new.log" 2>&1
grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests_new.log" | tail -3
pack
deno run -A bench/speed_ab.ts --shapes tfla8k --kernels xl_chunk,xl_chunk_siging --chunks 64 \
  --passes fwbw --dtypes f16,f32 --variants reuse,stop15 --rounds 2 --budget-s 40 \
  --out "$R/fwbw2" > "$R/fwbw2.log" 2>&1
grep "^\[" "$R/fwbw2.log"
pack
