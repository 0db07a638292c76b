// parallel--stablef and parallel--siging on WebGPU against the float64 parallel references: odd S,
// DQK ≠ DHV, B and NH > 1, hot gates, both input gates (normalized and not), f32 and f16 storage,
// device tensors in and out; states are rejected. Tolerances: the base of tests/_gpu_checks.ts
// (f32 1e-5, f16 2e-3), the conditioning-aware bound only for the exp iMean = 20 case.

import assert from "node:assert/strict";
import {
  type InputGate,
  type MlstmOptions,
  mlstmParallelReference,
  type RandomInputsConfig,
  randomMlstmInputs,
  type Tensor,
} from "../mod.ts";
import { mlstmParallelWebGpu, parallelKernels } from "../kernels/parallel.ts";
import { GpuTensor, setPoisonOutputs } from "../kernels/runtime.ts";
import { assertNoUncapturedErrors, gpuMissing, needGpu } from "./_gpu.ts";
import { check, conditionedTolerance, roundInputs, tolerance } from "./_gpu_checks.ts";
import { rngOf } from "./_seed.ts";

const ignore = await gpuMissing();
setPoisonOutputs(true);

const nameOf = (gate: InputGate) => (gate === "exp" ? "parallel--stablef" : "parallel--siging");
const refOf = (gate: InputGate) => `reference--parallel${gate === "sig" ? "_siging" : ""}`;
type Case = RandomInputsConfig & {
  gate: InputGate;
  dtype: "f32" | "f16";
  normalize?: boolean;
  /** Ill-conditioned normalizer: use conditionedTolerance() (measured 3.9e-5 > 1e-5). */
  conditioned?: boolean;
  seed: number;
  label: string;
};

const cases: Case[] = [
  { label: "S=1", B: 2, NH: 3, S: 1, DQK: 16, DHV: 24, gate: "exp", dtype: "f32", seed: 51 },
  { label: "S=7", B: 2, NH: 2, S: 7, DQK: 8, DHV: 20, gate: "exp", dtype: "f32", seed: 52 },
  { label: "S=100", B: 1, NH: 2, S: 100, DQK: 32, DHV: 64, gate: "exp", dtype: "f32", seed: 53 },
  {
    label: "S=37 DQK=5 DHV=3",
    B: 2,
    NH: 1,
    S: 37,
    DQK: 5,
    DHV: 3,
    gate: "exp",
    dtype: "f32",
    seed: 54,
  },
  {
    label: "DQK=128 DHV=256",
    B: 1,
    NH: 1,
    S: 17,
    DQK: 128,
    DHV: 256,
    gate: "exp",
    dtype: "f32",
    seed: 55,
  },
  {
    label: "DQK=512 DHV=16",
    B: 1,
    NH: 1,
    S: 9,
    DQK: 512,
    DHV: 16,
    gate: "exp",
    dtype: "f32",
    seed: 56,
  },
  { label: "S=257", B: 1, NH: 2, S: 257, DQK: 16, DHV: 8, gate: "exp", dtype: "f32", seed: 67 },
  {
    label: "DQK=16 DHV=512",
    B: 1,
    NH: 1,
    S: 9,
    DQK: 16,
    DHV: 512,
    gate: "exp",
    dtype: "f32",
    seed: 68,
  },
  {
    label: "DQK=512 DHV=512",
    B: 1,
    NH: 1,
    S: 5,
    DQK: 512,
    DHV: 512,
    gate: "exp",
    dtype: "f32",
    seed: 69,
  },
  {
    label: "hot iMean=20",
    B: 2,
    NH: 2,
    S: 33,
    DQK: 16,
    DHV: 12,
    iMean: 20,
    gate: "exp",
    dtype: "f32",
    conditioned: true,
    seed: 57,
  },
  {
    label: "hot fMean=-10",
    B: 2,
    NH: 2,
    S: 33,
    DQK: 16,
    DHV: 12,
    fMean: -10,
    gate: "exp",
    dtype: "f32",
    seed: 58,
  },
  {
    label: "hot fMean=10",
    B: 2,
    NH: 2,
    S: 33,
    DQK: 16,
    DHV: 12,
    fMean: 10,
    gate: "exp",
    dtype: "f32",
    seed: 59,
  },
  { label: "S=7", B: 2, NH: 2, S: 7, DQK: 16, DHV: 8, gate: "sig", dtype: "f32", seed: 60 },
  { label: "S=257", B: 1, NH: 2, S: 257, DQK: 8, DHV: 16, gate: "sig", dtype: "f32", seed: 71 },
  {
    label: "DQK=16 DHV=512",
    B: 1,
    NH: 1,
    S: 9,
    DQK: 16,
    DHV: 512,
    gate: "sig",
    dtype: "f32",
    seed: 72,
  },
  {
    label: "S=50 unnormalized",
    B: 1,
    NH: 2,
    S: 50,
    DQK: 16,
    DHV: 8,
    gate: "sig",
    normalize: false,
    dtype: "f32",
    seed: 61,
  },
  {
    label: "S=33 hot fMean=10",
    B: 1,
    NH: 2,
    S: 33,
    DQK: 8,
    DHV: 16,
    fMean: 10,
    gate: "sig",
    dtype: "f32",
    seed: 62,
  },
  {
    label: "S=33 hot iMean=20",
    B: 1,
    NH: 2,
    S: 33,
    DQK: 8,
    DHV: 16,
    iMean: 20,
    gate: "sig",
    dtype: "f32",
    seed: 63,
  },
  { label: "f16 S=7", B: 2, NH: 2, S: 7, DQK: 16, DHV: 24, gate: "exp", dtype: "f16", seed: 64 },
  {
    label: "f16 S=100",
    B: 1,
    NH: 2,
    S: 100,
    DQK: 16,
    DHV: 32,
    gate: "exp",
    dtype: "f16",
    seed: 65,
  },
  {
    label: "f16 S=33 hot fMean=-10",
    B: 1,
    NH: 2,
    S: 33,
    DQK: 8,
    DHV: 12,
    fMean: -10,
    gate: "sig",
    dtype: "f16",
    seed: 66,
  },
];

Deno.test({
  name: "parallel--stablef() and parallel--siging() match reference--parallel(_siging)",
  ignore,
  fn: async (t) => {
    const gpu = await needGpu();
    for (const c of cases) {
      await t.step(`${nameOf(c.gate)} ${c.dtype} ${c.label}`, async () => {
        const raw = randomMlstmInputs(c, rngOf(c.seed));
        const x = roundInputs(raw, c.dtype);
        const o: MlstmOptions = { dtype: c.dtype };
        if (c.normalize !== undefined) o.normalize = c.normalize;
        const kernel = parallelKernels.find((k) => k.name === nameOf(c.gate))!;
        const out = await kernel.forward(raw, o);
        const ref = await mlstmParallelReference(x, o, c.gate);
        assert.deepEqual(out.h.shape, ref.h.shape);
        check(
          `parallel ${c.gate} ${c.label}`,
          kernel.name,
          refOf(c.gate),
          "h",
          x,
          c.dtype,
          (out.h as Tensor).data,
          ref.h.data,
          c.conditioned
            ? conditionedTolerance(c.dtype, x, c.gate, c.normalize)
            : tolerance(c.dtype),
        );
      });
    }
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "parallel--stablef() keeps device tensors on the device",
  ignore,
  fn: async () => {
    const gpu = await needGpu();
    const raw = randomMlstmInputs({ B: 1, NH: 2, S: 20, DQK: 8, DHV: 16 }, rngOf(70));
    const x = roundInputs(raw, "f16");
    const up = (tt: Tensor, dt: "f32" | "f16") => GpuTensor.fromTensor(gpu, tt, dt);
    const out = await mlstmParallelWebGpu({
      q: up(x.q, "f16"),
      k: up(x.k, "f16"),
      v: up(x.v, "f16"),
      i: up(x.i, "f16"),
      f: up(x.f, "f16"),
    });
    assert.ok(out.h instanceof GpuTensor && out.h.dtype === "f16");
    // Gates stored in f16 too: the reference sees the same rounded gates.
    const F16 = (globalThis as unknown as { Float16Array: Float32ArrayConstructor }).Float16Array;
    const r16 = (tt: Tensor) => ({ shape: tt.shape, data: Float64Array.from(F16.from(tt.data)) });
    const xr = { ...x, i: r16(x.i), f: r16(x.f) };
    const ref = await mlstmParallelReference(xr);
    check(
      "parallel device tensors",
      "parallel--stablef",
      "reference--parallel",
      "h",
      xr,
      "f16",
      (await out.h.read()).data,
      ref.h.data,
      tolerance("f16"),
    );
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "parallel--stablef() rejects states and returnLastStates like the reference",
  ignore,
  fn: async () => {
    const x = randomMlstmInputs(
      { B: 1, NH: 1, S: 3, DQK: 4, DHV: 4, withInitialStates: true },
      rngOf(2),
    );
    await assert.rejects(() => mlstmParallelWebGpu(x), /takes no initial states/);
    const { q, k, v, i, f } = x;
    await assert.rejects(
      () => mlstmParallelWebGpu({ q, k, v, i, f }, { returnLastStates: true }),
      /returns no last states/,
    );
  },
});

Deno.test({
  name: "parallel--stablef() with checkFinite rejects an output that overflows f16 storage",
  ignore,
  fn: async () => {
    const x = randomMlstmInputs({ B: 1, NH: 1, S: 5, DQK: 8, DHV: 8 }, rngOf(80));
    const times = (t: Tensor, by: number) => ({ shape: t.shape, data: t.data.map((y) => y * by) });
    // An input beyond f16 is named before upload.
    await assert.rejects(
      () => mlstmParallelWebGpu({ ...x, v: times(x.v, 1e6) }, { dtype: "f16", checkFinite: true }),
      /Argument v \(1, 1, 5, 8\) holds .* beyond the f16 range/,
    );
    // Inputs within f16's range whose output is not: the unnormalized sigmoid gate sums
    // (q·k)/√DQK · v, about 1e2 · 3e4 here.
    const big = { ...x, q: times(x.q, 10), k: times(x.k, 10), v: times(x.v, 1e4) };
    const raw = { dtype: "f16", normalize: false } as const;
    await assert.rejects(
      () => mlstmParallelWebGpu(big, { ...raw, checkFinite: true }, "sig"),
      /Output h holds a non-finite value/,
    );
    const out = await mlstmParallelWebGpu(big, raw, "sig");
    assert.ok((out.h as Tensor).data.some((y) => !Number.isFinite(y)));
    await mlstmParallelWebGpu(x, { dtype: "f16", checkFinite: true });
  },
});
