#!/usr/bin/env bash
# For the next device call (prepared at stop 14, not run: the device budget was spent): where the
# backward's blocked kernels spend their time (bench/phase_ablation.ts: one training step with
# one marked phase of stats / dkdv removed at a time), f32 and f16; then the tests of what changed
# after the GPU suite of call 2 (tiles overrides, the ablation hook) on this GPU. Results under $1,
# packed into $2 after every step.
R=${1:-/tmp/r}
PACK=${2:-/tmp/r.tgz}
mkdir -p "$R"
export REQUIRE_GPU=1 NO_COLOR=1
pack() { tar czf "$PACK" -C "$R" .; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$R/gpu.txt"
deno run -A bench/phase_ablation.ts --dtypes f32,f16 --out "$R/ablation" > "$R/ablation.log" 2>&1
sed -n '/^## f32/,$p' "$R/ablation/phase_ablation.md"
pack
deno test -A tests/phase_ablation_test.ts tests/chunkwise_test.ts > "$R/gpu_tests.log" 2>&1
grep -E "^ok \||^FAILED \||^error" "$R/gpu_tests.log" | tail -3
pack
