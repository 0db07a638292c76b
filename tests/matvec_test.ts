// The decoding matrix-vector kernels (kernels/layers/matvec.ts) against their float64 twin: f32 and
// f16 weights (the twin gets the f16-rounded weights, so only the f32 accumulation differs), K a
// multiple of 8 (vector loads) and odd K (scalar loads), batch 1 to 16, bias, the accumulate and
// soft-cap epilogues, column offsets into wider x and y, and weights split into row blocks.
// Outputs are poisoned (NaN) first. Tolerance: rel L2 1e-5 (f32 accumulation over K ≤ 1000 of
// O(1) terms is ~1e-7).

import assert from "node:assert/strict";
import { randomTensor, type Tensor } from "../mod.ts";
import {
  destroyLinearWeight,
  type LinearWeight,
  linearWeightFromTensor,
} from "../kernels/layers/gemm.ts";
import {
  encodeMatvec,
  encodeMatvecSplit,
  matvec,
  matvecParams,
  type MatvecTiles,
  resetMatvecTiles,
  setMatvecTiles,
  setMatvecTileTable,
} from "../kernels/layers/matvec.ts";
import { matvecReference } from "../reference/matvec.ts";
import {
  DispatchBatch,
  type Gpu,
  GpuTensor,
  readTensors,
  setPoisonOutputs,
} from "../kernels/runtime.ts";
import { assertNoUncapturedErrors, gpuMissing, needGpu } from "./_gpu.ts";
import { assertDeviation } from "./_deviation_log.ts";
import { rngOf } from "./_seed.ts";

const ignore = await gpuMissing();
setPoisonOutputs(true);

const F16 = (globalThis as unknown as { Float16Array: Float32ArrayConstructor }).Float16Array;
const roundTo = (t: Tensor, dtype: "f32" | "f16"): Tensor => ({
  shape: t.shape,
  data: Float64Array.from(dtype === "f16" ? F16.from(t.data) : Float32Array.from(t.data)),
});

/** A LinearWeight in blocks of `rows` rows (the device splits only above its binding limit). */
function blockedWeight(
  gpu: Gpu,
  w: Tensor,
  dtype: "f32" | "f16",
  rows: number,
  bias?: Tensor,
): LinearWeight {
  const [N, K] = w.shape as [number, number];
  const blocks: GpuTensor[] = [], biases: GpuTensor[] = [];
  for (let n0 = 0; n0 < N; n0 += rows) {
    const nb = Math.min(rows, N - n0);
    blocks.push(
      GpuTensor.fromTensor(
        gpu,
        { shape: [nb, K], data: w.data.subarray(n0 * K, (n0 + nb) * K) },
        dtype,
      ),
    );
    if (bias) {
      biases.push(
        GpuTensor.fromTensor(gpu, { shape: [nb], data: bias.data.subarray(n0, n0 + nb) }),
      );
    }
  }
  return { N, K, dtype, blocks, ...(bias ? { bias: biases } : {}) };
}

interface Case {
  N: number;
  K: number;
  B: number;
  dtype: "f32" | "f16";
  seed: number;
  blockRows?: number;
  bias?: boolean;
  cap?: number;
}
const cases: Case[] = [
  { N: 37, K: 64, B: 1, dtype: "f32", seed: 1 },
  { N: 37, K: 64, B: 1, dtype: "f16", seed: 2, bias: true },
  { N: 19, K: 29, B: 3, dtype: "f32", seed: 3, bias: true },
  { N: 19, K: 29, B: 3, dtype: "f16", seed: 4 },
  { N: 70, K: 136, B: 16, dtype: "f16", seed: 5, cap: 2 },
  { N: 70, K: 136, B: 8, dtype: "f32", seed: 6, cap: 30 },
  { N: 5, K: 1000, B: 2, dtype: "f16", seed: 7 },
  { N: 45, K: 48, B: 2, dtype: "f32", seed: 8, blockRows: 10, bias: true },
  { N: 45, K: 48, B: 5, dtype: "f16", seed: 9, blockRows: 16, cap: 1.5 },
];

// Tile variants: the default (tree reduction) and many rows per thread with the transposed
// reduction (2, 4 and 8 rows per thread group).
const tileVariants: (MatvecTiles & { name: string })[] = [
  { name: "", threadsPerRow: 64, rowsPerWorkgroup: 4, rowsPerThread: 0 },
  { name: " tiles 32x4x4", threadsPerRow: 32, rowsPerWorkgroup: 4, rowsPerThread: 4 },
  { name: " tiles 64x2x8", threadsPerRow: 64, rowsPerWorkgroup: 2, rowsPerThread: 8 },
  { name: " tiles 128x1x2", threadsPerRow: 128, rowsPerWorkgroup: 1, rowsPerThread: 2 },
  // Loads in flight: 4 and 8 per thread (tree and transposed), and 1.
  { name: " tiles 32x8 u4", threadsPerRow: 32, rowsPerWorkgroup: 8, loadsInFlight: 4 },
  { name: " tiles 32x8", threadsPerRow: 32, rowsPerWorkgroup: 8 },
  {
    name: " tiles 32x4x2 u8",
    threadsPerRow: 32,
    rowsPerWorkgroup: 4,
    rowsPerThread: 2,
    loadsInFlight: 8,
  },
  { name: " tiles 64x4 u1", threadsPerRow: 64, rowsPerWorkgroup: 4, loadsInFlight: 1 },
];
const withTiles = async (t: MatvecTiles, fn: () => Promise<void>) => {
  // Both defaults: the plain matvecs' and those with the RMSNorm prologue.
  setMatvecTiles(t);
  setMatvecTiles(t, { norm: true });
  try {
    await fn();
  } finally {
    resetMatvecTiles();
  }
};

for (const tv of tileVariants) {
  for (const c of cases) {
    const label = `matvec() N ${c.N} K ${c.K} B ${c.B} ${c.dtype}${tv.name}${
      c.bias ? " bias" : ""
    }${c.cap ? ` softcap ${c.cap}` : ""}${c.blockRows ? " row blocks" : ""}`;
    Deno.test(
      { name: `${label} equals the float64 twin`, ignore },
      () =>
        withTiles(tv, async () => {
          const gpu = await needGpu();
          const rng = rngOf(c.seed);
          const w = randomTensor([c.N, c.K], rng, { std: 3 / Math.sqrt(c.K) });
          const x = randomTensor([c.B, c.K], rng);
          const bias = c.bias ? randomTensor([c.N], rng) : undefined;
          const weight = c.blockRows
            ? blockedWeight(gpu, w, c.dtype, c.blockRows, bias)
            : linearWeightFromTensor(gpu, w, c.dtype, bias);
          if (c.blockRows) {
            assert.ok(weight.blocks.length > 1, "the weight was split");
          }
          const xg = GpuTensor.fromTensor(gpu, x);
          const y = await matvec(xg, weight, {
            poison: true,
            ...(c.cap ? { epilogue: "softcap", cap: c.cap } : {}),
          });
          const ref = matvecReference(roundTo(w, c.dtype), roundTo(x, "f32"), {
            ...(bias ? { bias: roundTo(bias, "f32") } : {}),
            ...(c.cap ? { cap: c.cap } : {}),
          });
          assertDeviation(
            {
              test: label,
              kernel: "matvec",
              baseline: "reference--matvec",
              output: "y",
              dims: { B: c.B, NH: 1, S: c.N, DQK: c.K, DHV: 1 },
              dtype: c.dtype,
              tolerance: 1e-5,
            },
            (await y.read()).data,
            ref.data,
          );
          destroyLinearWeight(weight);
          xg.destroy();
          y.destroy();
          assertNoUncapturedErrors(gpu);
        }),
    );
  }
}

Deno.test(
  { name: "encodeMatvec() accumulates into column ranges of wider tensors", ignore },
  async () => {
    const gpu = await needGpu();
    const rng = rngOf(20);
    const [B, K1, N1, K2, N2] = [3, 24, 13, 40, 9];
    // x = [pad 4 | x1 (K1) | x2 (K2)], y = [pad 3 | y1 (N1) | y2 (N2) | pad 2]
    const xs = 4 + K1 + K2, ys = 3 + N1 + N2 + 2;
    const x = randomTensor([B, xs], rng), y0 = randomTensor([B, ys], rng);
    const w1 = randomTensor([N1, K1], rng), w2 = randomTensor([N2, K2], rng);
    for (const dtype of ["f32", "f16"] as const) {
      const W1 = linearWeightFromTensor(gpu, w1, dtype);
      const W2 = linearWeightFromTensor(gpu, w2, dtype);
      const xg = GpuTensor.fromTensor(gpu, x), yg = GpuTensor.fromTensor(gpu, y0);
      const batch = new DispatchBatch(gpu);
      await encodeMatvec(batch, xg, W1, yg, { xOffset: 4, yOffset: 3 });
      await encodeMatvec(batch, xg, W2, yg, {
        xOffset: 4 + K1,
        yOffset: 3 + N1,
        epilogue: "accumulate",
      });
      await batch.submit();
      const [got] = await readTensors([yg]);
      const cols = (t: Tensor, from: number, n: number, stride: number): Tensor => {
        const d = new Float64Array(B * n);
        for (let b = 0; b < B; b++) {
          for (let j = 0; j < n; j++) {
            d[b * n + j] = t.data[b * stride + from + j]!;
          }
        }
        return { shape: [B, n], data: d };
      };
      const xr = roundTo(x, "f32");
      const r1 = matvecReference(roundTo(w1, dtype), cols(xr, 4, K1, xs));
      const r2 = matvecReference(roundTo(w2, dtype), cols(xr, 4 + K1, K2, xs), {
        y0: cols(roundTo(y0, "f32"), 3 + N1, N2, ys),
      });
      const ref = Float64Array.from(roundTo(y0, "f32").data);
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < N1; j++) ref[b * ys + 3 + j] = r1.data[b * N1 + j]!;
        for (let j = 0; j < N2; j++) ref[b * ys + 3 + N1 + j] = r2.data[b * N2 + j]!;
      }
      assertDeviation(
        {
          test: "encodeMatvec() column ranges",
          kernel: "matvec",
          baseline: "reference--matvec",
          output: "y",
          dims: { B, NH: 1, S: N1 + N2, DQK: K1 + K2, DHV: 1 },
          dtype,
          tolerance: 1e-5,
        },
        got!.data,
        ref,
      );
      // Padding columns untouched (exactly the f32 inputs).
      for (let b = 0; b < B; b++) {
        for (const j of [0, 1, 2, ys - 2, ys - 1]) {
          assert.equal(got!.data[b * ys + j], Math.fround(y0.data[b * ys + j]!));
        }
      }
      [xg, yg].forEach((t) => t.destroy());
      destroyLinearWeight(W1);
      destroyLinearWeight(W2);
    }
    assertNoUncapturedErrors(gpu);
  },
);

Deno.test({ name: "encodeMatvec() rejects bad shapes before anything runs", ignore }, async () => {
  const gpu = await needGpu();
  const W = linearWeightFromTensor(gpu, { shape: [4, 8], data: new Float64Array(32) });
  const batch = new DispatchBatch(gpu);
  const t = (...s: number[]) => GpuTensor.empty(gpu, s);
  await assert.rejects(() => encodeMatvec(batch, t(2, 7), W, t(2, 4)), /does not hold K = 8/);
  await assert.rejects(() => encodeMatvec(batch, t(2, 8), W, t(3, 4)), /B = 2 rows/);
  await assert.rejects(
    () => encodeMatvec(batch, t(17, 8), W, t(17, 4)),
    /Batch B of x must be 1…16/,
  );
  await assert.rejects(
    () => encodeMatvec(batch, GpuTensor.empty(gpu, [1, 8], "f16"), W, t(1, 4)),
    /Argument x must be an f32 GpuTensor/,
  );
  await assert.rejects(
    () => encodeMatvec(batch, t(1, 8), W, t(1, 4), { epilogue: "softcap" }),
    /needs a cap > 0/,
  );
  assert.equal(batch.dispatchCount, 0);
  destroyLinearWeight(W);
});

for (
  const [K, B, dtype] of [[48, 1, "f16"], [48, 5, "f32"], [29, 3, "f16"], [29, 6, "f32"]] as const
) {
  Deno.test({
    name: `encodeMatvec() SwiGLU input (x = silu(gate)·up) K ${K} B ${B} ${dtype}, accumulated`,
    ignore,
    async fn() {
      const gpu = await needGpu();
      const rng = rngOf(30 + K + B);
      const N = 23;
      const U = randomTensor([B, 2 * K + 2], rng, { std: 2 }); // [pad 2 | gate | up]
      const w = randomTensor([N, K], rng, { std: 1 / Math.sqrt(K) });
      const y0 = randomTensor([B, N], rng);
      const W = linearWeightFromTensor(gpu, w, dtype);
      const ug = GpuTensor.fromTensor(gpu, U), yg = GpuTensor.fromTensor(gpu, y0);
      const batch = new DispatchBatch(gpu);
      await encodeMatvec(batch, ug, W, yg, { xOffset: 2, glu: true, epilogue: "accumulate" });
      await batch.submit();
      const Ur = roundTo(U, "f32");
      const x = new Float64Array(B * K);
      for (let b = 0; b < B; b++) {
        for (let k = 0; k < K; k++) {
          const g = Ur.data[b * (2 * K + 2) + 2 + k]!, u = Ur.data[b * (2 * K + 2) + 2 + K + k]!;
          x[b * K + k] = (g / (1 + Math.exp(-g))) * u;
        }
      }
      const ref = matvecReference(roundTo(w, dtype), { shape: [B, K], data: x }, {
        y0: roundTo(y0, "f32"),
      });
      assertDeviation(
        {
          test: `matvec swiglu K ${K} B ${B}`,
          kernel: "matvec glu",
          baseline: "reference--matvec",
          output: "y",
          dims: { B, NH: 1, S: N, DQK: K, DHV: 1 },
          dtype,
          tolerance: 1e-5,
        },
        (await yg.read()).data,
        ref.data,
      );
      await assert.rejects(
        () => encodeMatvec(new DispatchBatch(gpu), ug, W, yg, { xOffset: 4, glu: true }),
        /does not hold 2K = /,
      );
      [ug, yg].forEach((t) => t.destroy());
      destroyLinearWeight(W);
      assertNoUncapturedErrors(gpu);
    },
  });
}

/** RMSNorm of the rows of x (B, K) in float64: x·rsqrt(mean(x²) + eps)·g. */
function rmsNormRows(x: Tensor, g: Tensor, eps: number): Tensor {
  const [B, K] = x.shape as [number, number];
  const out = new Float64Array(B * K);
  for (let b = 0; b < B; b++) {
    let ss = 0;
    for (let k = 0; k < K; k++) ss += x.data[b * K + k]! ** 2;
    const r = 1 / Math.sqrt(ss / K + eps);
    for (let k = 0; k < K; k++) out[b * K + k] = x.data[b * K + k]! * r * g.data[k]!;
  }
  return { shape: [B, K], data: out };
}

// The RMSNorm prologue (the norm before a projection, fused) and split outputs (the decode
// projection's q, k, v, o, i, f) against the float64 norm + matvec. Vector and scalar x loads (K
// a multiple of 8 or odd), batch 1 to 16, row blocks (a split output spanning two blocks), x
// scaled far from 1 so that a missing norm cannot pass.
const fusedCases = [
  { N: 37, K: 64, B: 1, dtype: "f16", seed: 31, split: [10, 20, 5], caps: [0, 3, 0] },
  { N: 19, K: 29, B: 3, dtype: "f32", seed: 32, split: [], caps: [] },
  { N: 70, K: 136, B: 8, dtype: "f16", seed: 33, split: [32, 32, 2, 4], caps: [0, 0, 1.5, 2] },
  { N: 45, K: 48, B: 16, dtype: "f32", seed: 34, split: [], caps: [], blockRows: 16 },
  { N: 45, K: 40, B: 5, dtype: "f16", seed: 35, split: [20, 25], caps: [0, 4], blockRows: 16 },
] as const;
for (const tv of tileVariants) {
  for (const c of fusedCases) {
    const label =
      `matvec N ${c.N} K ${c.K} B ${c.B} ${c.dtype}${tv.name} with the RMSNorm prologue${
        c.split.length ? ` split ${c.split.join("+")}` : ""
      }${"blockRows" in c ? " row blocks" : ""}`;
    Deno.test(
      { name: `${label} equals the float64 norm + matvec`, ignore },
      () =>
        withTiles(tv, async () => {
          const gpu = await needGpu();
          const rng = rngOf(c.seed);
          const w = randomTensor([c.N, c.K], rng, { std: 3 / Math.sqrt(c.K) });
          const x0 = randomTensor([c.B, c.K], rng);
          const x = {
            shape: x0.shape,
            data: x0.data.map((v) => 7 * v + 0.5),
          };
          const g = randomTensor([c.K], rng);
          const eps = 1e-5;
          const weight = "blockRows" in c
            ? blockedWeight(gpu, w, c.dtype, c.blockRows)
            : linearWeightFromTensor(gpu, w, c.dtype);
          const xg = GpuTensor.fromTensor(gpu, x), gg = GpuTensor.fromTensor(gpu, g);
          let want: Pick<Tensor, "data"> = matvecReference(
            roundTo(w, c.dtype),
            rmsNormRows(roundTo(x, "f32"), roundTo(g, "f32"), eps),
          );
          const batch = new DispatchBatch(gpu);
          const norm = { weight: gg, eps };
          let got: Float64Array;
          const outs: GpuTensor[] = [];
          if (c.split.length) {
            for (const wd of c.split) {
              outs.push(GpuTensor.empty(gpu, [c.B, wd], "f32", { poison: true }));
            }
            await encodeMatvecSplit(
              batch,
              xg,
              weight,
              outs.map((y, j) => ({ y, cap: c.caps[j]! })),
              { norm },
            );
            await batch.submit();
            const parts = await readTensors(outs);
            // The outputs may leave W's last rows out (a padding): compare the columns they hold.
            const NS = c.split.reduce((a, b) => a + b, 0);
            got = new Float64Array(c.B * NS);
            const cut = new Float64Array(c.B * NS);
            for (let b = 0; b < c.B; b++) {
              cut.set(want.data.subarray(b * c.N, b * c.N + NS), b * NS);
            }
            want = { data: cut };
            // Reassemble (B, N) and cap the reference's columns of the capped outputs.
            let col = 0;
            parts.forEach((t, j) => {
              const wd = c.split[j]!, cap = c.caps[j]!;
              for (let b = 0; b < c.B; b++) {
                for (let n = 0; n < wd; n++) {
                  got[b * NS + col + n] = t.data[b * wd + n]!;
                  if (cap > 0) {
                    const i = b * NS + col + n;
                    want.data[i] = cap * Math.tanh(want.data[i]! / cap);
                  }
                }
              }
              col += wd;
            });
          } else {
            const y = GpuTensor.empty(gpu, [c.B, c.N], "f32", { poison: true });
            outs.push(y);
            await encodeMatvec(batch, xg, weight, y, { norm });
            await batch.submit();
            got = Float64Array.from((await y.read()).data);
          }
          assertDeviation(
            {
              test: label,
              kernel: "matvec--norm",
              baseline: "reference--rmsnorm+matvec",
              output: "y",
              dims: { B: c.B, NH: 1, S: c.N, DQK: c.K, DHV: 1 },
              dtype: c.dtype,
              tolerance: 1e-5,
            },
            got,
            want.data,
          );
          destroyLinearWeight(weight);
          for (const t of [xg, gg, ...outs]) t.destroy();
          assertNoUncapturedErrors(gpu);
        }),
    );
  }
}

Deno.test(
  { name: "encodeMatvecSplit() rejects bad outputs before anything runs", ignore },
  async () => {
    const gpu = await needGpu();
    const rng = rngOf(36);
    const weight = linearWeightFromTensor(gpu, randomTensor([6, 8], rng), "f32");
    const x = GpuTensor.empty(gpu, [2, 8]);
    const a = GpuTensor.empty(gpu, [2, 4]),
      b = GpuTensor.empty(gpu, [2, 3]),
      c1 = GpuTensor.empty(gpu, [1, 3]);
    const batch = new DispatchBatch(gpu);
    await assert.rejects(
      async () => await encodeMatvecSplit(batch, x, weight, [{ y: a }, { y: b }]),
      /sum to 7, more than/,
    );
    await assert.rejects(
      async () => await encodeMatvecSplit(batch, x, weight, [{ y: a }, { y: c1 }]),
      /rows as x/,
    );
    await assert.rejects(
      async () =>
        await encodeMatvec(batch, x, weight, GpuTensor.empty(gpu, [2, 6]), {
          norm: { weight: GpuTensor.empty(gpu, [7]), eps: 0 },
        }),
      /norm weight/,
    );
    assert.equal(batch.dispatchCount, 0);
    destroyLinearWeight(weight);
    for (const t of [x, a, b, c1]) t.destroy();
  },
);

Deno.test("setMatvecTileTable() keeps the RMSNorm-prologue entries apart from the plain ones", () => {
  const s = { rows: 96, K: 64, B: 1, dtype: "f16" as const };
  try {
    setMatvecTileTable([
      { ...s, tiles: { threadsPerRow: 128, rowsPerWorkgroup: 2 } },
      { ...s, norm: true, tiles: { threadsPerRow: 16, rowsPerWorkgroup: 16, loadsInFlight: 4 } },
    ]);
    const plain = matvecParams(s, 32768, 65535);
    const norm = matvecParams({ ...s, norm: true, normEps: 1e-6 }, 32768, 65535);
    assert.deepEqual([plain.T, plain.R, plain.U], [128, 2, 2]);
    assert.deepEqual([norm.T, norm.R, norm.U], [16, 16, 4]);
    setMatvecTileTable([]);
    // Without entries: the defaults (128x2 below a batch of 4, 32x4x4 from 4 on, 32x8 with the
    // prologue).
    const p1 = matvecParams(s, 32768, 65535), p8 = matvecParams({ ...s, B: 8 }, 32768, 65535);
    assert.deepEqual([p1.T, p1.R, p1.RT, p1.transpose], [128, 2, 1, false]);
    assert.deepEqual([p8.T, p8.R, p8.RT, p8.transpose], [32, 4, 4, true]);
    const n2 = matvecParams({ ...s, norm: true }, 32768, 65535);
    assert.deepEqual([n2.T, n2.R], [32, 8]);
    assert.throws(
      () => setMatvecTileTable([{ ...s, tiles: { loadsInFlight: 3 } }]),
      /loadsInFlight must be 1, 2, 4 or 8, received 3/,
    );
  } finally {
    setMatvecTileTable([]);
  }
});
