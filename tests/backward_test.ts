// The WebGPU backward passes (parallel--stablef, parallel--siging, chunkwise--xl_chunk,
// chunkwise--xl_chunk_siging, chunkwise--limit_chunk) against the float64 reference backward passes,
// on fresh random inputs: odd S, DQK ≠ DHV (and head dimensions that are not multiples of 4), hot
// gates, both gates, sig normalize on/off, both gradient conventions, with and without initial
// states, chunk sizes up to 512; f16 storage; device tensors; forwardBackward; split sequences; and
// the errors raised on bad input.
//
// Tolerances (relative L2 per gradient): f32 1e-4, f16 storage 5e-3, against the reference on the
// inputs rounded to the storage type (what the GPU computes with). Outputs are NaN-poisoned.
// - Gradients that are zero by construction (dnInitial when the denominator is held constant or the
//   output is unnormalized; dmInitial for the sigmoid gate) have an all-zero reference: the metric
//   is then the absolute L2 norm of the output (core/metrics.ts), which must be ≤ the same tolerance.
// - Reference values below f32's smallest normal number (1.18e-38) are flushed to zero before the
//   comparison: no f32 kernel can represent them (e.g. dnInitial after 37 steps of σ(f) ≈ e^-10,
//   about 1e-73). The metric then becomes the absolute L2 norm of the output, as above.
// - A hot input gate (iMean 20) on random q, k makes the exponential-gate problem ill-conditioned:
//   the stabilizer's lower bound exp(-m) ≈ e^-20 no longer guards the normalizer, |b_t| can come
//   arbitrarily close to 0, and perturbing the inputs by one f32 rounding (relative 2^-24) moves
//   the float64 gradients by 1e-5 to 1e-4 already. Those cases are asserted against 10 times that
//   measured sensitivity (at least 1e-4) and logged with it; the same hot gate on well-conditioned
//   inputs (q, k offset by +1, so that b_t stays away from 0) is asserted at 1e-4.

import assert from "node:assert/strict";
import {
  deviation,
  getMlstmKernel,
  type InputGate,
  type MlstmGradients,
  type MlstmInputs,
  type MlstmKernel,
  type MlstmOptions,
  Random,
  randomMlstmInputs,
  randomTensor,
  type Tensor,
} from "../mod.ts";
import {
  attachBackwards,
  setBackwardBlockDepth,
  setBackwardGroupLimit,
  setBackwardPoison,
} from "../kernels/backward/backward.ts";
import { chunkwiseKernels } from "../kernels/chunkwise/mod.ts";
import { parallelKernels } from "../kernels/parallel.ts";
import { GpuTensor } from "../kernels/runtime.ts";
import { forwardBackward } from "../kernels/train.ts";
import { assertDeviation } from "./_deviation_log.ts";
import { assertNoUncapturedErrors, gpuMissing, needGpu } from "./_gpu.ts";

const ignore = await gpuMissing();
setBackwardPoison(true);
const TOL = { f32: 1e-4, f16: 5e-3 } as const;
type Dtype = "f32" | "f16";
type Inputs = MlstmInputs<Tensor>;
type Grads = MlstmGradients<Tensor>;

const own = new Map(
  attachBackwards([...parallelKernels, ...chunkwiseKernels]).map((k) => [k.name, k]),
);
/** The registry's kernel once the lead wired the backward passes in; ours until then. */
function kernel(name: string): MlstmKernel {
  try {
    const k = getMlstmKernel(name);
    if (k.backward) return k;
  } catch { /* not registered yet */ }
  return own.get(name)!;
}

const F16 = (globalThis as unknown as { Float16Array: Float32ArrayConstructor }).Float16Array;
const roundTo = (t: Tensor, dtype: Dtype): Tensor => ({
  shape: t.shape,
  data: Float64Array.from(dtype === "f16" ? F16.from(t.data) : Float32Array.from(t.data)),
});
function asStored(x: Inputs, dtype: Dtype): Inputs {
  const out: Inputs = {
    q: roundTo(x.q, dtype),
    k: roundTo(x.k, dtype),
    v: roundTo(x.v, dtype),
    i: roundTo(x.i, "f32"),
    f: roundTo(x.f, "f32"),
  };
  if (x.cInitial) {
    out.cInitial = roundTo(x.cInitial, "f32");
    out.nInitial = roundTo(x.nInitial!, "f32");
    out.mInitial = roundTo(x.mInitial!, "f32");
  }
  return out;
}

const dimsOf = (x: Inputs) => ({
  B: x.q.shape[0]!,
  NH: x.q.shape[1]!,
  S: x.q.shape[2]!,
  DQK: x.q.shape[3]!,
  DHV: x.v.shape[3]!,
});
const refName = (form: string, gate: InputGate) =>
  `reference--${form}${gate === "sig" ? "_siging" : ""}`;
const GRADS = ["dq", "dk", "dv", "di", "df", "dcInitial", "dnInitial", "dmInitial"] as const;

interface Case {
  name: string;
  form: "parallel" | "chunkwise";
  gate: InputGate;
  shape: { B: number; NH: number; S: number; DQK: number; DHV: number };
  gates?: { iMean?: number; fMean?: number };
  states?: boolean;
  L?: number;
  normalize?: boolean;
  gradient?: "exact" | "normalizer-constant";
  dtype?: Dtype;
  /** Offset q and k by +1 so that the normalizer stays away from 0. */
  wellConditioned?: boolean;
  /** Assert against 10× the reference's own sensitivity to an f32 rounding of the inputs. */
  sensitivity?: boolean;
  /** Cap on the chunk-state bytes of one head group (forces several head groups). */
  groupLimit?: number;
  /** Forced staging depth of the register-blocked kernels. */
  depth?: 8 | 16;
  seed: number;
}

const F32_MIN_NORMAL = 1.1754944e-38;
const flush = (d: ArrayLike<number>) =>
  Float64Array.from(d, (v) => (Math.abs(v) < F32_MIN_NORMAL ? 0 : v));

function perturb(t: Tensor, rng: Random): Tensor {
  return { shape: t.shape, data: t.data.map((v) => v * (1 + 2 ** -24 * (2 * rng.uniform() - 1))) };
}

function label(c: Case): string {
  const g = (c.gates ? Object.entries(c.gates).map(([k, v]) => `${k}=${v}`).join(",") : "cold") +
    (c.wellConditioned ? " well-conditioned" : "") + (c.sensitivity ? " vs-sensitivity" : "");
  return `${c.name} S=${c.shape.S} ${c.shape.DQK}x${c.shape.DHV}${c.L ? ` L=${c.L}` : ""} ${g}${
    c.normalize === false ? " raw" : ""
  } ${c.gradient ?? "exact"}${c.states ? " states" : ""} ${c.dtype ?? "f32"}`;
}

async function check(c: Case): Promise<void> {
  const gpu = await needGpu();
  const rng = new Random(c.seed);
  const dtype = c.dtype ?? "f32";
  const raw = randomMlstmInputs(
    { ...c.shape, ...c.gates, withInitialStates: c.states ?? false },
    rng,
  );
  if (c.wellConditioned) {
    raw.q = { shape: raw.q.shape, data: raw.q.data.map((v) => v + 1) };
    raw.k = { shape: raw.k.shape, data: raw.k.data.map((v) => v + 1) };
  }
  const x = asStored(raw, dtype);
  const d = dimsOf(x);
  const dh = roundTo(randomTensor([d.B, d.NH, d.S, d.DHV], rng), dtype);
  const o: MlstmOptions = { gradient: c.gradient ?? "exact", dtype };
  if (c.L !== undefined) o.chunkSize = c.L;
  if (c.normalize !== undefined) o.normalize = c.normalize;
  const ref = await getMlstmKernel(refName(c.form, c.gate)).backward!(x, dh, o) as Grads;
  setBackwardGroupLimit(c.groupLimit);
  setBackwardBlockDepth(c.depth);
  let out: Grads;
  try {
    out = await kernel(c.name).backward!(x, dh, o) as Grads;
  } finally {
    setBackwardGroupLimit(undefined);
    setBackwardBlockDepth(undefined);
  }
  assertNoUncapturedErrors(gpu);
  let sens: Grads | undefined;
  if (c.sensitivity) {
    const pr = new Random(c.seed + 7);
    const xp = Object.fromEntries(
      Object.entries(x).map(([k, t]) => [k, perturb(t as Tensor, pr)]),
    ) as unknown as Inputs;
    sens = await getMlstmKernel(refName(c.form, c.gate)).backward!(xp, perturb(dh, pr), o) as Grads;
  }
  for (const g of GRADS) {
    const r = ref[g];
    if (!r) {
      assert.equal(out[g], undefined, `${g} returned without initial states`);
      continue;
    }
    assert.ok(out[g], `${g} missing`);
    assert.deepEqual([...out[g]!.shape], [...r.shape], `${g} shape`);
    let tolerance: number = TOL[dtype];
    if (sens) tolerance = Math.max(tolerance, 10 * deviation(sens[g]!.data, r.data).relL2);
    assertDeviation(
      {
        test: `backward ${label(c)}`,
        kernel: c.name,
        baseline: refName(c.form, c.gate),
        output: g,
        dims: d,
        dtype,
        tolerance,
        ...(c.L !== undefined ? { chunkSize: c.L } : {}),
      },
      out[g]!.data,
      flush(r.data),
    );
  }
}

const HOT: Pick<Case, "gates" | "wellConditioned" | "sensitivity">[] = [
  { gates: { iMean: 20 }, wellConditioned: true },
  { gates: { iMean: 20 }, sensitivity: true },
  { gates: { fMean: -10 } },
  { gates: { fMean: 10 } },
];
const VARIANTS: { gate: InputGate; normalize?: boolean }[] = [
  { gate: "exp" },
  { gate: "sig" },
  { gate: "sig", normalize: false },
];
const CONV = ["exact", "normalizer-constant"] as const;

Deno.test({
  name: "parallel backward equals the float64 reference (both gates, both conventions)",
  ignore,
  async fn(t) {
    let seed = 100;
    for (const v of VARIANTS) {
      const name = v.gate === "exp" ? "parallel--stablef" : "parallel--siging";
      for (const gradient of CONV) {
        const shapes = [
          { B: 1, NH: 2, S: 7, DQK: 8, DHV: 12 },
          { B: 2, NH: 1, S: 37, DQK: 6, DHV: 5 },
        ];
        for (const shape of shapes) {
          const c: Case = { name, form: "parallel", ...v, shape, gradient, seed: seed++ };
          await t.step(label(c), () => check(c));
        }
        for (const hot of HOT) {
          const shape = { B: 1, NH: 2, S: 37, DQK: 8, DHV: 4 };
          const c: Case = { name, form: "parallel", ...v, shape, ...hot, gradient, seed: seed++ };
          await t.step(label(c), () => check(c));
        }
      }
    }
  },
});

Deno.test({
  name: "chunkwise backward equals the float64 reference (gates, conventions, states)",
  ignore,
  async fn(t) {
    let seed = 200;
    const kernels: { name: string; gate: InputGate; normalize?: boolean }[] = [
      { name: "chunkwise--xl_chunk", gate: "exp" },
      { name: "chunkwise--xl_chunk_siging", gate: "sig" },
      { name: "chunkwise--xl_chunk_siging", gate: "sig", normalize: false },
      { name: "chunkwise--limit_chunk", gate: "exp" },
    ];
    for (const k of kernels) {
      for (const gradient of CONV) {
        for (const states of [false, true]) {
          const c: Case = {
            ...k,
            form: "chunkwise",
            shape: { B: 2, NH: 1, S: 37, DQK: 8, DHV: 12 },
            L: 16,
            states,
            gradient,
            seed: seed++,
          };
          await t.step(label(c), () => check(c));
        }
      }
      for (const hot of HOT) {
        const c: Case = {
          ...k,
          form: "chunkwise",
          shape: { B: 1, NH: 2, S: 37, DQK: 4, DHV: 8 },
          L: 8,
          ...hot,
          states: true,
          seed: seed++,
        };
        await t.step(label(c), () => check(c));
      }
    }
    const odd: Case = {
      name: "chunkwise--xl_chunk",
      gate: "exp",
      form: "chunkwise",
      shape: { B: 1, NH: 1, S: 7, DQK: 6, DHV: 5 },
      L: 3,
      states: true,
      seed: seed++,
    };
    await t.step(label(odd), () => check(odd));
    const many: Case = {
      name: "chunkwise--xl_chunk_siging",
      gate: "sig",
      form: "chunkwise",
      shape: { B: 2, NH: 3, S: 21, DQK: 8, DHV: 4 },
      L: 8,
      states: true,
      seed: seed++,
    };
    await t.step(label(many), () => check(many));
    // 6 heads, 3 chunks of E = 40 floats: 640 bytes of states per head, 2 heads per group.
    const grouped: Case = { ...many, name: "chunkwise--xl_chunk", gate: "exp", groupLimit: 1300 };
    await t.step(label(grouped) + " head groups", () => check(grouped));
  },
});

Deno.test({
  name: "chunkwise backward is right at chunk sizes 64, 128, 256 and 512",
  ignore,
  async fn(t) {
    let seed = 300;
    for (const L of [64, 128, 256, 512]) {
      for (const gate of ["exp", "sig"] as const) {
        const c: Case = {
          name: gate === "exp" ? "chunkwise--xl_chunk" : "chunkwise--xl_chunk_siging",
          gate,
          form: "chunkwise",
          shape: { B: 1, NH: 1, S: 2 * L + 37, DQK: 4, DHV: 4 },
          L,
          states: true,
          seed: seed++,
        };
        await t.step(label(c), () => check(c));
      }
    }
  },
});

Deno.test({
  name: "parallel backward stays accurate on a long sequence (stable forget-gate sums)",
  ignore,
  async fn(t) {
    for (const gate of ["exp", "sig"] as const) {
      const c: Case = {
        name: gate === "exp" ? "parallel--stablef" : "parallel--siging",
        gate,
        form: "parallel",
        shape: { B: 1, NH: 1, S: 1000, DQK: 4, DHV: 4 },
        gates: { fMean: 1 },
        seed: 350,
      };
      await t.step(label(c), () => check(c));
    }
  },
});

Deno.test({
  name: "backward with f16 storage stays within 5e-3 of the reference",
  ignore,
  async fn(t) {
    const gpu = await needGpu();
    if (!gpu.hasF16) return;
    const cases: Case[] = [
      {
        name: "parallel--stablef",
        gate: "exp",
        form: "parallel",
        shape: { B: 1, NH: 2, S: 19, DQK: 8, DHV: 12 },
        dtype: "f16",
        seed: 400,
      },
      {
        name: "chunkwise--xl_chunk",
        gate: "exp",
        form: "chunkwise",
        shape: { B: 1, NH: 2, S: 37, DQK: 8, DHV: 12 },
        L: 16,
        states: true,
        dtype: "f16",
        seed: 401,
      },
    ];
    for (const c of cases) await t.step(label(c), () => check(c));
  },
});

Deno.test({
  name: "backward of GpuTensors returns GpuTensors equal to the CPU path",
  ignore,
  async fn() {
    const gpu = await needGpu();
    const rng = new Random(500);
    const x = randomMlstmInputs(
      { B: 1, NH: 2, S: 21, DQK: 8, DHV: 4, withInitialStates: true },
      rng,
    );
    const dh = randomTensor([1, 2, 21, 4], rng);
    const o = { chunkSize: 8 };
    const cpu = await kernel("chunkwise--xl_chunk").backward!(x, dh, o) as Grads;
    const up = (t: Tensor) => GpuTensor.fromTensor(gpu, t);
    const dev = {
      q: up(x.q),
      k: up(x.k),
      v: up(x.v),
      i: up(x.i),
      f: up(x.f),
      cInitial: up(x.cInitial!),
      nInitial: up(x.nInitial!),
      mInitial: up(x.mInitial!),
    };
    const g = await kernel("chunkwise--xl_chunk").backward!(dev, up(dh), o);
    for (const name of GRADS) {
      const t = g[name];
      assert.ok(t instanceof GpuTensor, `${name} is a GpuTensor`);
      const a = (await t.read()).data, b = cpu[name]!.data;
      assert.deepEqual(Array.from(a), Array.from(b), name);
    }
  },
});

Deno.test({
  name: "forwardBackward() returns the forward's h and the backward's gradients",
  ignore,
  async fn(t) {
    for (
      const [name, L, states] of [
        ["parallel--stablef", undefined, false],
        ["parallel--siging", undefined, false],
        ["chunkwise--xl_chunk", 8, true],
        ["chunkwise--xl_chunk_siging", 8, true],
      ] as const
    ) {
      await t.step(name, async () => {
        const rng = new Random(600);
        const x = asStored(
          randomMlstmInputs(
            { B: 1, NH: 2, S: 19, DQK: 8, DHV: 12, withInitialStates: states },
            rng,
          ),
          "f32",
        );
        const dh = roundTo(randomTensor([1, 2, 19, 12], rng), "f32");
        const o: MlstmOptions = { returnLastStates: states };
        if (L) o.chunkSize = L;
        const r = await forwardBackward(name, x, dh, o);
        const fw = await kernel(name).forward(x, o);
        const bw = await kernel(name).backward!(x, dh, o) as Grads;
        assert.deepEqual(Array.from((r.h as Tensor).data), Array.from((fw.h as Tensor).data));
        for (const g of GRADS) {
          if (!bw[g]) continue;
          assert.deepEqual(Array.from((r.grads[g] as Tensor).data), Array.from(bw[g]!.data), g);
        }
        if (states) assert.ok(r.last && (r.last.c as Tensor).data.length === 2 * 8 * 12);
      });
    }
  },
});

Deno.test({
  name:
    "chunkwise backward of a sequence split into two calls (states carried forward, state gradients backward) matches the single call",
  ignore,
  async fn(t) {
    for (const name of ["chunkwise--xl_chunk", "chunkwise--xl_chunk_siging"]) {
      await t.step(name, () => splitCase(name));
    }
  },
});

async function splitCase(name: string) {
  const rng = new Random(700);
  const S = 37, S1 = 16, D = { B: 1, NH: 2, DQK: 8, DHV: 4 };
  const x = asStored(randomMlstmInputs({ ...D, S, withInitialStates: true }, rng), "f32");
  const dh = roundTo(randomTensor([1, 2, S, 4], rng), "f32");
  const slice = (t: Tensor, a: number, b: number) => {
    const [B, NH, , ...rest] = t.shape;
    const inner = rest.reduce((p, q) => p * q, 1);
    const data = new Float64Array(B! * NH! * (b - a) * inner);
    for (let h = 0; h < B! * NH!; h++) {
      data.set(
        t.data.subarray((h * S + a) * inner, (h * S + b) * inner),
        h * (b - a) * inner,
      );
    }
    return { shape: [B!, NH!, b - a, ...rest], data };
  };
  const part = (a: number, b: number): Inputs => ({
    q: slice(x.q, a, b),
    k: slice(x.k, a, b),
    v: slice(x.v, a, b),
    i: slice(x.i, a, b),
    f: slice(x.f, a, b),
  });
  const k = kernel(name);
  const o = { chunkSize: 8 };
  const full = await k.backward!(x, dh, o) as Grads;
  const first = await k.forward(
    { ...part(0, S1), cInitial: x.cInitial, nInitial: x.nInitial, mInitial: x.mInitial },
    { ...o, returnLastStates: true },
  );
  const last = first.last as { c: Tensor; n: Tensor; m: Tensor };
  const second = await k.backward!(
    { ...part(S1, S), cInitial: last.c, nInitial: last.n, mInitial: last.m },
    slice(dh, S1, S),
    o,
  ) as Grads;
  // The first call, differentiated with the second call's initial-state gradients flowing into
  // its last states (the stabilizer m is held constant, so only C and n carry gradients).
  const firstGrads = await k.backward!(
    { ...part(0, S1), cInitial: x.cInitial, nInitial: x.nInitial, mInitial: x.mInitial },
    slice(dh, 0, S1),
    { ...o, lastStateGradients: { c: second.dcInitial!, n: second.dnInitial! } } as MlstmOptions,
  ) as Grads;
  const cmp = (test: string, g: string, out: Tensor, ref: Tensor, S_: number) =>
    assertDeviation(
      {
        test,
        kernel: name,
        baseline: `${name} single call`,
        output: g,
        dims: { ...D, S: S_ },
        chunkSize: 8,
        dtype: "f32",
        tolerance: TOL.f32,
      },
      out.data,
      ref.data,
    );
  for (const g of ["dq", "dk", "dv", "di", "df"] as const) {
    cmp("split sequence, second call", g, second[g], slice(full[g], S1, S), S - S1);
    cmp("split sequence, first call", g, firstGrads[g], slice(full[g], 0, S1), S1);
  }
  for (const g of ["dcInitial", "dnInitial", "dmInitial"] as const) {
    cmp("split sequence, first call", g, firstGrads[g]!, full[g]!, S1);
  }
}

Deno.test({
  name: "backward errors: wrong dh, no backward, options its forward rejects",
  ignore,
  async fn() {
    const rng = new Random(800);
    const x = randomMlstmInputs({ B: 1, NH: 1, S: 5, DQK: 4, DHV: 4 }, rng);
    const xs = randomMlstmInputs(
      { B: 1, NH: 1, S: 5, DQK: 4, DHV: 4, withInitialStates: true },
      rng,
    );
    const dh = randomTensor([1, 1, 5, 4], rng);
    await assert.rejects(
      () => kernel("parallel--stablef").backward!(x, randomTensor([1, 1, 5, 3], rng)),
      {
        name: "RangeError",
        message:
          "Argument dh must have shape (B, NH, S, DHV) = (1, 1, 5, 4), received (1, 1, 5, 3)",
      },
    );
    await assert.rejects(() => forwardBackward("recurrent--sequence", x, dh), {
      name: "TypeError",
      message: /^Kernel recurrent--sequence has no backward pass; kernels with one: /,
    });
    await assert.rejects(() => forwardBackward("chunkwise--nope", x, dh), {
      name: "RangeError",
      message: /^Unknown mLSTM kernel "chunkwise--nope"/,
    });
    await assert.rejects(() => kernel("parallel--stablef").backward!(xs, dh), {
      name: "TypeError",
      message:
        "parallel--stablef takes no initial states: drop cInitial/nInitial/mInitial or use a chunkwise kernel",
    });
    await assert.rejects(
      () => kernel("chunkwise--xl_chunk").backward!(x, dh, { normalize: false }),
      { name: "TypeError", message: /^chunkwise--xl_chunk always normalizes/ },
    );
    await assert.rejects(
      () => kernel("chunkwise--limit_chunk").backward!(x, dh, { chunkSize: 128 }),
      {
        name: "RangeError",
        message: /^Option chunkSize of chunkwise--limit_chunk must be at most 64/,
      },
    );
    await assert.rejects(
      () => kernel("parallel--siging").backward!(x, dh, { gradient: "autograd" as "exact" }),
      { name: "RangeError", message: /^Option gradient must be "exact" or "normalizer-constant"/ },
    );
    const gpu = await needGpu();
    const up = (t: Tensor) => GpuTensor.fromTensor(gpu, t);
    const dev = { q: up(x.q), k: up(x.k), v: up(x.v), i: up(x.i), f: up(x.f) };
    await assert.rejects(() => kernel("parallel--stablef").backward!(dev, dh), {
      name: "TypeError",
      message: "Argument dh is a CPU tensor but the inputs are GpuTensors: pass both alike",
    });
    await assert.rejects(
      () => kernel("parallel--stablef").backward!(dev, up(dh), { dtype: "f16" }),
      {
        name: "TypeError",
        message: /^Option dtype is "f16" but the GpuTensor inputs are f32/,
      },
    );
  },
});

Deno.test({
  name: "register-blocked kernels (head dimensions multiples of 64) equal the float64 reference",
  ignore,
  async fn(t) {
    let seed = 900;
    const cases: Case[] = [];
    for (const v of VARIANTS) {
      for (const gradient of CONV) {
        const sig = v.gate === "sig";
        cases.push({
          name: sig ? "parallel--siging" : "parallel--stablef",
          form: "parallel",
          ...v,
          shape: { B: 1, NH: 1, S: 100, DQK: 64, DHV: 64 },
          gradient,
          seed: seed++,
        });
        cases.push({
          name: sig ? "chunkwise--xl_chunk_siging" : "chunkwise--xl_chunk",
          form: "chunkwise",
          ...v,
          shape: { B: 1, NH: 2, S: 150, DQK: 64, DHV: 128 },
          L: 64,
          states: true,
          gradient,
          seed: seed++,
        });
      }
    }
    cases.push({
      name: "chunkwise--xl_chunk",
      form: "chunkwise",
      gate: "exp",
      shape: { B: 1, NH: 1, S: 2 * 128 + 37, DQK: 64, DHV: 64 },
      L: 128,
      gates: { iMean: 20 },
      wellConditioned: true,
      seed: seed++,
    });
    cases.push({
      name: "chunkwise--xl_chunk",
      form: "chunkwise",
      gate: "exp",
      shape: { B: 1, NH: 3, S: 100, DQK: 128, DHV: 64 },
      L: 64,
      states: true,
      groupLimit: 2 * 4 * 3 * (128 * 64 + 128),
      seed: seed++,
    });
    cases.push({
      name: "chunkwise--xl_chunk",
      form: "chunkwise",
      gate: "exp",
      shape: { B: 1, NH: 1, S: 90, DQK: 64, DHV: 64 },
      L: 64,
      states: true,
      dtype: "f16",
      seed: seed++,
    });
    // The shallower staging (devices with less workgroup storage).
    for (const gate of ["exp", "sig"] as const) {
      cases.push({
        name: gate === "exp" ? "chunkwise--xl_chunk" : "chunkwise--xl_chunk_siging",
        form: "chunkwise",
        gate,
        shape: { B: 1, NH: 2, S: 150, DQK: 64, DHV: 128 },
        L: 64,
        states: true,
        depth: 8,
        seed: seed++,
      });
    }
    for (const c of cases) {
      await t.step(label(c) + ` blocked${c.depth ? ` depth ${c.depth}` : ""}`, () => check(c));
    }
  },
});
