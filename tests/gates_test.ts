// The WGSL gate math every kernel family shares (kernels/_common.ts): logsig(f) = log(sigmoid(f))
// on the GPU against float64, relative to itself, over f in [-100, 100]. For f >= 15 logsig(f) is
// -exp(-f) (tiny), where an absolute error of 6e-8 (the former log1p of 1 + e) was 100% relative.

import assert from "node:assert/strict";
import { DispatchBatch, GpuTensor } from "../kernels/runtime.ts";
import { getPipeline } from "../kernels/runtime.ts";
import { WGSL_GATES, WGSL_LOGSIG } from "../kernels/_common.ts";
import { logsig } from "../reference/_common.ts";
import { logDeviation } from "./_deviation_log.ts";
import { assertNoUncapturedErrors, gpuMissing, needGpu } from "./_gpu.ts";
import { rngOf } from "./_seed.ts";

const ignore = await gpuMissing();

/** Smallest normal f32: below it the GPU may give a subnormal or 0. */
const F32_MIN_NORMAL = 2 ** -126;
/** The bound: 16 ulp of f32 relative (ulp = 2^-23 at the bottom of a binade). */
const ULP16 = 16 * 2 ** -23;

async function gpuLogsig(xs: Float32Array): Promise<Float32Array> {
  const gpu = await needGpu();
  const n = xs.length;
  const x = GpuTensor.fromTensor(gpu, { shape: [n], data: xs });
  const y = GpuTensor.empty(gpu, [n], "f32", { poison: true });
  const pipeline = await getPipeline(gpu, "test-logsig", () =>
    `${WGSL_GATES}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < ${n}u) { y[g.x] = logsig(x[g.x]); }
}`);
  const batch = new DispatchBatch(gpu);
  batch.dispatch({ label: "logsig", pipeline, buffers: [x, y], workgroups: [Math.ceil(n / 64)] });
  await batch.submit();
  const out = await y.read();
  x.destroy();
  y.destroy();
  assertNoUncapturedErrors(gpu);
  return Float32Array.from(out.data);
}

Deno.test("WGSL_GATES shares the one accurate logsig (WGSL_LOGSIG) of every kernel family", () => {
  assert.ok(WGSL_GATES.includes(WGSL_LOGSIG));
});

Deno.test({
  name: "logsig() on the GPU is within 16 ulp relative of float64 for f in [-100, 100]",
  ignore,
  async fn() {
    const rng = rngOf(1100);
    const xs: number[] = [0, -0, 1e-8, -1e-8, 1e-3, 15, 15.5, 20, 30, 50, 80, 87, 87.3, 88, 100];
    for (let f = -100; f <= 100; f += 0.03125) xs.push(f);
    for (let j = 0; j < 4096; j++) xs.push(200 * rng.uniform() - 100);
    for (let j = 0; j < 1024; j++) xs.push(15 + 72 * rng.uniform()); // the tiny-result range
    const x32 = Float32Array.from(xs);
    const got = await gpuLogsig(x32);
    const ref = Float64Array.from(x32, (f) => logsig(f));
    let worst = 0, worstAt = 0;
    const bad: string[] = [];
    for (let j = 0; j < x32.length; j++) {
      const r = ref[j]!, g = got[j]!;
      if (!Number.isFinite(g)) {
        bad.push(`f = ${x32[j]}: ${g}`);
        continue;
      }
      if (Math.abs(r) < F32_MIN_NORMAL) {
        // Subnormal results (f > 87.3): a subnormal or a flush to zero, nothing else.
        if (Math.abs(g - r) > F32_MIN_NORMAL) bad.push(`f = ${x32[j]}: ${g} vs ${r}`);
        continue;
      }
      const rel = Math.abs(g - r) / Math.abs(r);
      if (rel > worst) [worst, worstAt] = [rel, x32[j]!];
      if (rel > ULP16) bad.push(`f = ${x32[j]}: ${g} vs ${r} (relative ${rel.toExponential(2)})`);
    }
    const n = x32.length;
    logDeviation(
      {
        test: "logsig relative accuracy, f in [-100, 100]",
        kernel: "WGSL logsig",
        baseline: "float64 logsig",
        output: "logsig",
        dims: { B: 1, NH: 1, S: n, DQK: 1, DHV: 1 },
        dtype: "f32",
        tolerance: ULP16,
      },
      got,
      ref,
    );
    console.log(
      `logsig: worst relative error ${worst.toExponential(2)} (${
        (worst / 2 ** -23).toFixed(1)
      } ulp) at f = ${worstAt}, ${n} points`,
    );
    assert.deepEqual(bad.slice(0, 10), [], `${bad.length} of ${n} points out of bounds`);
  },
});
