// recurrent--sequence and step--fused on WebGPU against the float64 recurrent reference: odd S,
// DQK ≠ DHV, B and NH > 1, with and without initial states, hot gates, both input gates, f32 and f16
// storage; a sequence in pieces with carried states equals one call; steps equal the sequence.
// Tolerances: the base of tests/_gpu_checks.ts (f32 1e-5, f16 2e-3), the conditioning-aware bound
// only for the exp iMean = 20 case.

import assert from "node:assert/strict";
import {
  type InputGate,
  type MlstmOptions,
  mlstmRecurrentReference,
  mlstmStepReference,
  type RandomInputsConfig,
  randomMlstmInputs,
  type Tensor,
} from "../mod.ts";
import {
  mlstmRecurrentResidentWebGpu,
  mlstmRecurrentWebGpu,
  mlstmStepWebGpu,
  recurrentKernels,
  setStepKernelTiles,
} from "../kernels/recurrent.ts";
import { GpuTensor, readTensors, setPoisonOutputs } from "../kernels/runtime.ts";
import { assertNoUncapturedErrors, gpuMissing, needGpu } from "./_gpu.ts";
import { check, conditionedTolerance, type Inputs, roundInputs, tolerance } from "./_gpu_checks.ts";
import { rngOf } from "./_seed.ts";

const ignore = await gpuMissing();
setPoisonOutputs(true);

const sfx = (gate: InputGate) => (gate === "sig" ? "_siging" : "");
type Case = RandomInputsConfig & {
  gate: InputGate;
  dtype: "f32" | "f16";
  normalize?: boolean;
  /** Ill-conditioned normalizer: use conditionedTolerance() (measured 1.44e-5 > 1e-5). */
  conditioned?: boolean;
  seed: number;
  label: string;
};

const cases: Case[] = [
  { label: "S=1", B: 2, NH: 3, S: 1, DQK: 16, DHV: 24, gate: "exp", dtype: "f32", seed: 11 },
  {
    label: "S=7 states",
    B: 2,
    NH: 2,
    S: 7,
    DQK: 8,
    DHV: 20,
    withInitialStates: true,
    gate: "exp",
    dtype: "f32",
    seed: 12,
  },
  {
    label: "S=100 states",
    B: 1,
    NH: 2,
    S: 100,
    DQK: 32,
    DHV: 16,
    withInitialStates: true,
    gate: "exp",
    dtype: "f32",
    seed: 13,
  },
  { label: "DQK=5 DHV=3", B: 2, NH: 2, S: 7, DQK: 5, DHV: 3, gate: "exp", dtype: "f32", seed: 14 },
  {
    label: "DQK=128 DHV=256",
    B: 1,
    NH: 1,
    S: 3,
    DQK: 128,
    DHV: 256,
    gate: "exp",
    dtype: "f32",
    seed: 15,
  },
  { label: "S=257", B: 1, NH: 2, S: 257, DQK: 16, DHV: 8, gate: "exp", dtype: "f32", seed: 25 },
  {
    label: "S=257 states",
    B: 1,
    NH: 2,
    S: 257,
    DQK: 8,
    DHV: 16,
    withInitialStates: true,
    gate: "exp",
    dtype: "f32",
    seed: 26,
  },
  { label: "sig S=257", B: 1, NH: 2, S: 257, DQK: 16, DHV: 8, gate: "sig", dtype: "f32", seed: 27 },
  {
    label: "sig S=257 states",
    B: 1,
    NH: 2,
    S: 257,
    DQK: 8,
    DHV: 16,
    withInitialStates: true,
    gate: "sig",
    dtype: "f32",
    seed: 28,
  },
  {
    label: "DQK=16 DHV=512 states",
    B: 1,
    NH: 1,
    S: 5,
    DQK: 16,
    DHV: 512,
    withInitialStates: true,
    gate: "exp",
    dtype: "f32",
    seed: 29,
  },
  {
    label: "DQK=512 DHV=512",
    B: 1,
    NH: 1,
    S: 3,
    DQK: 512,
    DHV: 512,
    gate: "exp",
    dtype: "f32",
    seed: 30,
  },
  {
    label: "hot iMean=20",
    B: 2,
    NH: 2,
    S: 7,
    DQK: 16,
    DHV: 12,
    iMean: 20,
    withInitialStates: true,
    gate: "exp",
    dtype: "f32",
    conditioned: true,
    seed: 16,
  },
  {
    label: "hot fMean=-10",
    B: 2,
    NH: 2,
    S: 7,
    DQK: 16,
    DHV: 12,
    fMean: -10,
    withInitialStates: true,
    gate: "exp",
    dtype: "f32",
    seed: 17,
  },
  {
    label: "hot fMean=10",
    B: 2,
    NH: 2,
    S: 7,
    DQK: 16,
    DHV: 12,
    fMean: 10,
    withInitialStates: true,
    gate: "exp",
    dtype: "f32",
    seed: 18,
  },
  {
    label: "sig states",
    B: 2,
    NH: 2,
    S: 7,
    DQK: 16,
    DHV: 8,
    withInitialStates: true,
    gate: "sig",
    dtype: "f32",
    seed: 19,
  },
  {
    label: "sig unnormalized",
    B: 2,
    NH: 2,
    S: 7,
    DQK: 16,
    DHV: 8,
    gate: "sig",
    normalize: false,
    dtype: "f32",
    seed: 20,
  },
  {
    label: "sig hot iMean=20",
    B: 1,
    NH: 2,
    S: 7,
    DQK: 8,
    DHV: 8,
    iMean: 20,
    gate: "sig",
    dtype: "f32",
    seed: 21,
  },
  {
    label: "f16 states",
    B: 2,
    NH: 2,
    S: 7,
    DQK: 16,
    DHV: 24,
    withInitialStates: true,
    gate: "exp",
    dtype: "f16",
    seed: 22,
  },
  {
    label: "f16 S=100",
    B: 1,
    NH: 2,
    S: 100,
    DQK: 16,
    DHV: 8,
    gate: "exp",
    dtype: "f16",
    seed: 23,
  },
  // A prime DQK: no divisor gives a short unroll, so the rows are split in ragged row groups
  // (the last group's rows past DQK skipped); the resident variant also narrows its column tiles.
  {
    label: "DQK=257 ragged row groups",
    B: 1,
    NH: 2,
    S: 6,
    DQK: 257,
    DHV: 12,
    withInitialStates: true,
    gate: "exp",
    dtype: "f32",
    seed: 25,
  },
  {
    label: "sig DQK=131 DHV=7 ragged row groups",
    B: 2,
    NH: 1,
    S: 4,
    DQK: 131,
    DHV: 7,
    withInitialStates: true,
    gate: "sig",
    dtype: "f32",
    seed: 26,
  },
  {
    label: "f16 sig hot fMean=10",
    B: 1,
    NH: 3,
    S: 7,
    DQK: 8,
    DHV: 12,
    fMean: 10,
    withInitialStates: true,
    gate: "sig",
    dtype: "f16",
    seed: 24,
  },
];

Deno.test({
  name: "recurrent--sequence() and recurrent--sequence_resident() match reference--recurrent",
  ignore,
  fn: async (t) => {
    const gpu = await needGpu();
    for (const variant of ["recurrent--sequence", "recurrent--sequence_resident"]) {
      for (const c of cases) {
        await t.step(`${variant} ${c.gate} ${c.dtype} ${c.label}`, async () => {
          const raw = randomMlstmInputs(c, rngOf(c.seed));
          const x = roundInputs(raw, c.dtype);
          const o: MlstmOptions = { returnLastStates: true, dtype: c.dtype };
          if (c.normalize !== undefined) o.normalize = c.normalize;
          const kernel = recurrentKernels.find((k) => k.name === `${variant}${sfx(c.gate)}`)!;
          const out = await kernel.forward(raw, o);
          const ref = await mlstmRecurrentReference(x, o, c.gate);
          const name = `recurrent ${c.gate} ${c.label}`;
          const tol = c.conditioned
            ? conditionedTolerance(c.dtype, x, c.gate, c.normalize)
            : tolerance(c.dtype);
          const base = `reference--recurrent${sfx(c.gate)}`;
          const cmp = (output: string, a: Tensor, b: Tensor, tl: number) =>
            check(name, kernel.name, base, output, x, c.dtype, a.data, b.data, tl);
          assert.ok(out.h.shape.join() === ref.h.shape.join());
          cmp("h", out.h as Tensor, ref.h, tol);
          // States are f32 throughout: their bound is the f32 one (plus f16 input rounding, which
          // the reference sees too).
          const stol = c.dtype === "f16" ? 1e-4 : 1e-5;
          cmp("c", out.last!.c as Tensor, ref.last!.c as Tensor, stol);
          cmp("n", out.last!.n as Tensor, ref.last!.n as Tensor, stol);
          cmp("m", out.last!.m as Tensor, ref.last!.m as Tensor, stol);
        });
      }
    }
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "recurrent--sequence() at the benchmark shape (B=16, NH=16, DQK=128, DHV=256), S=2",
  ignore,
  fn: async () => {
    const gpu = await needGpu();
    const cfg = { B: 16, NH: 16, S: 2, DQK: 128, DHV: 256, withInitialStates: true };
    const x = roundInputs(randomMlstmInputs(cfg, rngOf(77)), "f32");
    const out = await mlstmRecurrentWebGpu(x, { returnLastStates: true });
    const ref = await mlstmRecurrentReference(x, { returnLastStates: true });
    const k = "recurrent--sequence", b = "reference--recurrent", name = "recurrent benchmark shape";
    const tol = tolerance("f32");
    check(name, k, b, "h", x, "f32", (out.h as Tensor).data, ref.h.data, tol);
    check(name, k, b, "c", x, "f32", (out.last!.c as Tensor).data, ref.last!.c.data, 1e-5);
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "recurrent--sequence() in pieces with carried states equals one call",
  ignore,
  fn: async (t) => {
    const gpu = await needGpu();
    for (
      const [gate, run] of [
        ["exp", mlstmRecurrentWebGpu],
        ["sig", mlstmRecurrentWebGpu],
        ["exp", mlstmRecurrentResidentWebGpu],
      ] as const
    ) {
      await t.step(`${gate} ${run.name}`, async () => {
        const raw = randomMlstmInputs(
          { B: 2, NH: 2, S: 30, DQK: 12, DHV: 8, withInitialStates: true },
          rngOf(31),
        );
        const x = roundInputs(raw, "f32");
        const whole = await run(x, { returnLastStates: true }, gate);
        const cut = (tt: Tensor, a: number, b: number, D: number) => {
          const [B, NH, S] = tt.shape as [number, number, number];
          const out = new Float64Array(B * NH * (b - a) * D);
          for (let bh = 0; bh < B * NH; bh++) {
            out.set(tt.data.subarray((bh * S + a) * D, (bh * S + b) * D), bh * (b - a) * D);
          }
          return { shape: D === 1 ? [B, NH, b - a] : [B, NH, b - a, D], data: out };
        };
        const piece = (a: number, b: number): Inputs => ({
          q: cut(x.q, a, b, 12),
          k: cut(x.k, a, b, 12),
          v: cut(x.v, a, b, 8),
          i: cut(x.i, a, b, 1),
          f: cut(x.f, a, b, 1),
        });
        // Device tensors end to end: the states never leave the GPU.
        const up = (tt: Tensor) => GpuTensor.fromTensor(gpu, tt);
        const p1 = piece(0, 11), p2 = piece(11, 30);
        const r1 = await run(
          {
            q: up(p1.q),
            k: up(p1.k),
            v: up(p1.v),
            i: up(p1.i),
            f: up(p1.f),
            cInitial: up(x.cInitial!),
            nInitial: up(x.nInitial!),
            mInitial: up(x.mInitial!),
          },
          { returnLastStates: true },
          gate,
        );
        assert.ok(r1.h instanceof GpuTensor && r1.last!.c instanceof GpuTensor);
        const r2 = await run(
          {
            q: up(p2.q),
            k: up(p2.k),
            v: up(p2.v),
            i: up(p2.i),
            f: up(p2.f),
            cInitial: r1.last!.c,
            nInitial: r1.last!.n,
            mInitial: r1.last!.m,
          },
          { returnLastStates: true },
          gate,
        );
        const [h1, h2, c2, n2, m2] = await readTensors(
          [r1.h, r2.h, r2.last!.c, r2.last!.n, r2.last!.m] as GpuTensor[],
        );
        const w = whole.h as Tensor;
        const name = `recurrent pieces ${gate}`;
        const k = `recurrent--sequence${run === mlstmRecurrentWebGpu ? "" : "_resident"}${
          sfx(gate)
        }`;
        const pp = (a: number, b: number) => piece(a, b);
        check(
          name,
          k,
          `${k} one call`,
          "h[0:11]",
          pp(0, 11),
          "f32",
          h1!.data,
          cut(w, 0, 11, 8).data,
          1e-6,
        );
        check(
          name,
          k,
          `${k} one call`,
          "h[11:30]",
          pp(11, 30),
          "f32",
          h2!.data,
          cut(w, 11, 30, 8).data,
          1e-6,
        );
        check(
          name,
          k,
          `${k} one call`,
          "c",
          x,
          "f32",
          c2!.data,
          (whole.last!.c as Tensor).data,
          1e-6,
        );
        check(
          name,
          k,
          `${k} one call`,
          "n",
          x,
          "f32",
          n2!.data,
          (whole.last!.n as Tensor).data,
          1e-6,
        );
        check(
          name,
          k,
          `${k} one call`,
          "m",
          x,
          "f32",
          m2!.data,
          (whole.last!.m as Tensor).data,
          1e-6,
        );
      });
    }
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "step--fused() matches mlstmStepReference and, stepped, equals recurrent--sequence",
  ignore,
  fn: async (t) => {
    const gpu = await needGpu();
    for (const [gate, dtype] of [["exp", "f32"], ["sig", "f32"], ["exp", "f16"]] as const) {
      await t.step(`${gate} ${dtype}`, async () => {
        const B = 2, NH = 3, S = 7, DQK = 16, DHV = 20;
        const raw = randomMlstmInputs(
          { B, NH, S, DQK, DHV, withInitialStates: true },
          rngOf(41 + dtype.length),
        );
        const x = roundInputs(raw, dtype);
        const at = (tt: Tensor, s: number, D: number) => {
          const out = new Float64Array(B * NH * D);
          for (let bh = 0; bh < B * NH; bh++) {
            out.set(tt.data.subarray((bh * S + s) * D, (bh * S + s + 1) * D), bh * D);
          }
          return { shape: D === 1 ? [B, NH] : [B, NH, D], data: out };
        };
        // One step from the initial states, CPU in and out, against the float64 step.
        const s0 = {
          q: at(x.q, 0, DQK),
          k: at(x.k, 0, DQK),
          v: at(x.v, 0, DHV),
          i: at(x.i, 0, 1),
          f: at(x.f, 0, 1),
          c: x.cInitial!,
          n: x.nInitial!,
          m: x.mInitial!,
        };
        const g = await mlstmStepWebGpu(s0, { dtype }, gate);
        const r = mlstmStepReference(s0, {}, gate);
        const name = `step ${gate} ${dtype}`;
        const k = `step--fused${sfx(gate)}`;
        const one = { ...x, q: { shape: [B, NH, 1, DQK], data: s0.q.data } } as Inputs;
        const tol = dtype === "f16" ? 2e-3 : 1e-5;
        check(name, k, "mlstmStepReference", "h", one, dtype, (g.h as Tensor).data, r.h.data, tol);
        check(name, k, "mlstmStepReference", "c", one, dtype, (g.c as Tensor).data, r.c.data, 1e-5);
        check(name, k, "mlstmStepReference", "n", one, dtype, (g.n as Tensor).data, r.n.data, 1e-5);
        check(name, k, "mlstmStepReference", "m", one, dtype, (g.m as Tensor).data, r.m.data, 1e-5);
        // S steps on device tensors through the registry kernel equal recurrent--sequence.
        const kernel = recurrentKernels.find((kk) => kk.name === k)!;
        let c: GpuTensor = GpuTensor.fromTensor(gpu, x.cInitial!);
        let n: GpuTensor = GpuTensor.fromTensor(gpu, x.nInitial!);
        let m: GpuTensor = GpuTensor.fromTensor(gpu, x.mInitial!);
        const hs: GpuTensor[] = [];
        for (let s = 0; s < S; s++) {
          const out = await kernel.forward({
            q: GpuTensor.fromTensor(gpu, at(x.q, s, DQK), dtype),
            k: GpuTensor.fromTensor(gpu, at(x.k, s, DQK), dtype),
            v: GpuTensor.fromTensor(gpu, at(x.v, s, DHV), dtype),
            i: GpuTensor.fromTensor(gpu, at(x.i, s, 1)),
            f: GpuTensor.fromTensor(gpu, at(x.f, s, 1)),
            cInitial: c,
            nInitial: n,
            mInitial: m,
          }, { returnLastStates: true });
          assert.deepEqual(out.h.shape, [B, NH, DHV]);
          hs.push(out.h as GpuTensor);
          c = out.last!.c as GpuTensor;
          n = out.last!.n as GpuTensor;
          m = out.last!.m as GpuTensor;
        }
        const hsRead = await readTensors(hs);
        const seq = await mlstmRecurrentWebGpu(x, { returnLastStates: true, dtype }, gate);
        const hSeq = (seq.h as Tensor).data;
        const stepped = new Float64Array(hSeq.length);
        for (let s = 0; s < S; s++) {
          for (let bh = 0; bh < B * NH; bh++) {
            stepped.set(hsRead[s]!.data.subarray(bh * DHV, (bh + 1) * DHV), (bh * S + s) * DHV);
          }
        }
        const seqName = `recurrent--sequence${sfx(gate)}`;
        check(name, k, seqName, "h (stepped)", x, dtype, stepped, hSeq, 1e-6);
        const [cR] = await readTensors([c]);
        check(
          name,
          k,
          seqName,
          "c (stepped)",
          x,
          dtype,
          cR!.data,
          (seq.last!.c as Tensor).data,
          1e-6,
        );
      });
    }
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "recurrent--sequence() rejects bad shapes and mixed CPU/GPU inputs before the GPU",
  ignore,
  fn: async () => {
    const gpu = await needGpu();
    const x = randomMlstmInputs({ B: 1, NH: 1, S: 3, DQK: 4, DHV: 4 }, rngOf(1));
    await assert.rejects(
      () => mlstmRecurrentWebGpu({ ...x, v: { shape: [1, 1, 2, 4], data: new Float64Array(8) } }),
      /Argument v must have shape/,
    );
    await assert.rejects(
      () => mlstmRecurrentWebGpu({ ...x, q: GpuTensor.fromTensor(gpu, x.q) }),
      /all CPU tensors or all GpuTensors/,
    );
    const step = recurrentKernels.find((k) => k.name === "step--fused")!;
    await assert.rejects(() => step.forward(x), /one time step/);
    const z = (...s: number[]) => ({ shape: s, data: new Float32Array(s.reduce((a, b) => a * b)) });
    const good = {
      q: z(2, 3, 4),
      k: z(2, 3, 4),
      v: z(2, 3, 8),
      i: z(2, 3),
      f: z(2, 3, 1),
      c: z(2, 3, 4, 8),
      n: z(2, 3, 4),
      m: z(2, 3),
    };
    await assert.rejects(
      () => mlstmStepWebGpu({ ...good, c: z(2, 3, 8, 4) }),
      {
        message:
          "Argument c must have shape (B, NH, DQK, DHV) = (2, 3, 4, 8), received (2, 3, 8, 4)",
      },
    );
    await assert.rejects(
      () => mlstmStepWebGpu({ ...good, i: z(3, 2) }),
      { message: "Argument i must have shape (B, NH) = (2, 3) or (B, NH, 1), received (3, 2)" },
    );
    const ok = await mlstmStepWebGpu(good);
    assert.deepEqual(ok.h.shape, [2, 3, 8]);
    assert.deepEqual(ok.m.shape, [2, 3]);
  },
});

Deno.test({
  name: "setStepKernelTiles() changes the tiles, not the results",
  ignore,
  fn: async () => {
    const gpu = await needGpu();
    const x = roundInputs(
      randomMlstmInputs(
        { B: 1, NH: 2, S: 9, DQK: 64, DHV: 32, withInitialStates: true },
        rngOf(90),
      ),
      "f32",
    );
    const ref = await mlstmRecurrentReference(x, { returnLastStates: true });
    const tol = tolerance("f32");
    try {
      for (const tiles of [{ maxColumnVectors: 2, maxThreads: 32 }, { maxStateFloats: 4 }]) {
        setStepKernelTiles(tiles);
        for (const run of [mlstmRecurrentWebGpu, mlstmRecurrentResidentWebGpu]) {
          const out = await run(x, { returnLastStates: true });
          const name = `tiles ${JSON.stringify(tiles)}`;
          const k = run === mlstmRecurrentWebGpu
            ? "recurrent--sequence"
            : "recurrent--sequence_resident";
          check(
            name,
            k,
            "reference--recurrent",
            "h",
            x,
            "f32",
            (out.h as Tensor).data,
            ref.h.data,
            tol,
          );
          check(
            name,
            k,
            "reference--recurrent",
            "c",
            x,
            "f32",
            (out.last!.c as Tensor).data,
            ref.last!.c.data,
            1e-5,
          );
        }
      }
    } finally {
      setStepKernelTiles(null);
    }
    assert.throws(() => setStepKernelTiles({ maxThreads: 0 }), /positive integer/);
    assertNoUncapturedErrors(gpu);
  },
});
