// The WebGPU layer kernels (kernels/layers/) against their float64 twins (reference/layers.ts) on
// fresh random inputs: odd shapes (tails in every tile dimension, K not a multiple of 4), f32 and
// f16 weights, every GEMM epilogue, row-block splitting of weights, poisoned outputs, and the
// hash random fill against its CPU twin. Every comparison goes into the deviation log.
//
// Tolerances (relative L2): f32 1e-6 for the GEMM and norms (f32 accumulation of K ≤ 300 terms:
// measured ~1e-7), f16 weights: the reference is given the same f16-rounded weights, so f16 only
// changes the storage, and the bound stays 1e-6.

import assert from "node:assert/strict";
import type { Tensor } from "../core/tensor.ts";
import { hashUniform } from "../core/hash_random.ts";
import { f16ToF32, toF16Bits } from "../io/dtype.ts";
import { DispatchBatch, GpuTensor, setPoisonOutputs } from "../kernels/runtime.ts";
import {
  destroyLinearWeight,
  encodeElementwise,
  encodeGather,
  encodeGemm,
  encodeNorm,
  encodeRandomFill,
  encodeToHeads,
  type GemmTiles,
  linearWeightFromTensor,
  uploadTokenIds,
  type WeightDtype,
} from "../kernels/layers/mod.ts";
import {
  embeddingReference,
  headLayerNormReference,
  linearReference,
  outputGateReference,
  rmsNormReference,
  softCapReference,
  swigluReference,
} from "../reference/layers.ts";
import { assertDeviation } from "./_deviation_log.ts";
import { assertNoUncapturedErrors, gpuMissing, needGpu } from "./_gpu.ts";
import { rngOf } from "./_seed.ts";

const ignore = await gpuMissing();
const F16 = (globalThis as unknown as { Float16Array: Float32ArrayConstructor }).Float16Array;

function rand(shape: number[], seed: number, scale = 1, dtype: WeightDtype = "f32"): Tensor {
  const rng = rngOf(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float64Array(n);
  for (let j = 0; j < n; j++) d[j] = rng.normal(0, scale);
  const r = dtype === "f16" ? F16.from(d) : Float32Array.from(d);
  return { shape, data: Float64Array.from(r) };
}

const dims = (B: number, S: number, DQK: number, DHV: number, NH = 1) => ({
  B,
  NH,
  S,
  DQK,
  DHV,
});

const poisoned = (gpu: Awaited<ReturnType<typeof needGpu>>, shape: number[]) =>
  GpuTensor.empty(gpu, shape, "f32", { poison: true });

Deno.test({
  name: "encodeGemm() matches linearReference: odd shapes, f32/f16 weights, bias, epilogues",
  ignore,
  async fn(t) {
    const gpu = await needGpu();
    setPoisonOutputs(true);
    const cases: {
      M: number;
      K: number;
      N: number;
      dtype: WeightDtype;
      bias?: boolean;
      epi?: "softcap" | "accumulate";
      tiles?: GemmTiles;
    }[] = [
      { M: 1, K: 8, N: 4, dtype: "f32" },
      { M: 37, K: 52, N: 75, dtype: "f32", bias: true },
      { M: 70, K: 33, N: 19, dtype: "f32" }, // K % 4 ≠ 0, N % 4 ≠ 0
      { M: 130, K: 64, N: 130, dtype: "f32", tiles: { TM: 8, TN: 8, BK: 16 } },
      { M: 129, K: 20, N: 68, dtype: "f32", tiles: { TM: 8, TN: 4, BK: 16 } },
      { M: 140, K: 72, N: 133, dtype: "f32", tiles: { TM: 8, TN: 8, BK: 32 } },
      { M: 60, K: 45, N: 70, dtype: "f16", tiles: { TM: 8, TN: 8, BK: 32 } },
      { M: 45, K: 48, N: 41, dtype: "f16", bias: true },
      { M: 33, K: 27, N: 9, dtype: "f16" },
      { M: 150, K: 40, N: 136, dtype: "f16", tiles: { TM: 8, TN: 8, BK: 8 } },
      { M: 21, K: 36, N: 50, dtype: "f32", epi: "softcap" },
      { M: 23, K: 44, N: 12, dtype: "f16", epi: "accumulate" },
    ];
    let seed = 100;
    for (const c of cases) {
      const label = `M=${c.M} K=${c.K} N=${c.N} ${c.dtype}${c.bias ? " bias" : ""}${
        c.epi ? ` ${c.epi}` : ""
      }${c.tiles ? ` tiles ${c.tiles.TM}x${c.tiles.TN}/${c.tiles.BK}` : ""}`;
      await t.step(label, async () => {
        const x = rand([c.M, c.K], seed++);
        const w = rand([c.N, c.K], seed++, 1 / Math.sqrt(c.K), c.dtype);
        const bias = c.bias ? rand([c.N], seed++) : undefined;
        const r0 = c.epi === "accumulate" ? rand([c.M, c.N], seed++) : undefined;
        let ref = linearReference(x, w, bias);
        if (c.epi === "softcap") {
          for (let j = 0; j < ref.data.length; j++) ref.data[j]! *= 8; // exercise the cap
          ref = softCapReference(ref, 2);
        }
        if (r0) ref = { shape: ref.shape, data: ref.data.map((v, j) => v + r0.data[j]!) };
        const wx = c.epi === "softcap" ? { ...w, data: w.data.map((v) => v * 8) } : w;
        const W = linearWeightFromTensor(gpu, wx, c.dtype, bias);
        const X = GpuTensor.fromTensor(gpu, x);
        const Y = r0 ? GpuTensor.fromTensor(gpu, r0) : poisoned(gpu, [c.M, c.N]);
        const batch = new DispatchBatch(gpu);
        await encodeGemm(batch, X, W, Y, {
          ...(c.epi ? { epilogue: c.epi, cap: 2 } : {}),
          ...(c.tiles ? { tiles: c.tiles } : {}),
        });
        await batch.submit();
        const out = await Y.read();
        assertDeviation(
          {
            test: `gemm ${label}`,
            kernel: "layers--gemm",
            baseline: "reference--linear",
            output: "y",
            dims: dims(1, c.M, c.K, c.N),
            dtype: c.dtype,
            tolerance: 1e-6,
          },
          out.data,
          ref.data,
        );
        destroyLinearWeight(W);
        X.destroy();
        Y.destroy();
      });
    }
    setPoisonOutputs(false);
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "encodeGemm() splits weights above maxStorageBufferBindingSize into row blocks",
  ignore,
  async fn() {
    const gpu = await needGpu();
    // A (V × D) head whose blocks are forced small by an explicit split.
    const M = 5, K = 16, N = 300;
    const x = rand([M, K], 7), w = rand([N, K], 8, 0.25);
    const whole = linearWeightFromTensor(gpu, w, "f32");
    const parts = [0, 128, 256, 300].slice(1).map((end, j, a) => {
      const start = j === 0 ? 0 : a[j - 1]!;
      return GpuTensor.fromTensor(gpu, {
        shape: [end - start, K],
        data: w.data.subarray(start * K, end * K),
      });
    });
    const split = { N, K, dtype: "f32" as const, blocks: parts };
    // The automatic split: a device whose binding limit holds 128 rows of this weight.
    const small = { ...gpu, limits: { ...gpu.limits, maxStorageBufferBindingSize: 128 * K * 4 } };
    const auto = linearWeightFromTensor(small, w, "f32");
    assert.deepEqual(auto.blocks.map((b) => b.shape[0]), [128, 128, 44]);
    const ys: Float32Array[] = [];
    for (const W of [whole, split, auto]) {
      const X = GpuTensor.fromTensor(gpu, x);
      const Y = poisoned(gpu, [M, N]);
      const batch = new DispatchBatch(gpu);
      await encodeGemm(batch, X, W, Y, { epilogue: "softcap", cap: 1.5 });
      await batch.submit();
      ys.push((await Y.read()).data as Float32Array);
      X.destroy();
      Y.destroy();
    }
    const ref = softCapReference(linearReference(x, w), 1.5);
    assertDeviation(
      {
        test: "gemm row blocks 128+128+44",
        kernel: "layers--gemm",
        baseline: "reference--linear",
        output: "y",
        dims: dims(1, M, K, N),
        dtype: "f32",
        tolerance: 1e-6,
      },
      ys[1]!,
      ref.data,
    );
    assert.deepEqual(ys[0], ys[1]);
    assert.deepEqual(ys[0], ys[2]);
    destroyLinearWeight(whole);
    destroyLinearWeight(split);
    destroyLinearWeight(auto);
  },
});

Deno.test({
  name: "encodeNorm() matches rmsNormReference and headLayerNormReference (with the gate)",
  ignore,
  async fn(t) {
    const gpu = await needGpu();
    let seed = 300;
    for (const [M, D] of [[1, 4], [7, 37], [5, 256], [3, 1000]] as const) {
      await t.step(`rms M=${M} D=${D}`, async () => {
        const x = rand([M, D], seed++, 3), w = rand([D], seed++);
        const X = GpuTensor.fromTensor(gpu, x), Wt = GpuTensor.fromTensor(gpu, w);
        const Y = poisoned(gpu, [M, D]);
        const batch = new DispatchBatch(gpu);
        await encodeNorm(batch, X, Y, { kind: "rms", weight: Wt, eps: 1e-6 });
        await batch.submit();
        assertDeviation(
          {
            test: `rms M=${M} D=${D}`,
            kernel: "layers--rmsnorm",
            baseline: "reference--rmsnorm",
            output: "y",
            dims: dims(1, M, D, D),
            dtype: "f32",
            tolerance: 1e-6,
          },
          (await Y.read()).data,
          rmsNormReference(x, w, 1e-6).data,
        );
        for (const g of [X, Wt, Y]) g.destroy();
      });
    }
    for (
      const [B, NH, S, DH, gated] of [
        [1, 2, 3, 8, true],
        [2, 3, 5, 7, true],
        [1, 4, 2, 512, false],
        [2, 1, 9, 20, true],
      ] as const
    ) {
      await t.step(
        `head LayerNorm B=${B} NH=${NH} S=${S} DH=${DH}${gated ? " gated" : ""}`,
        async () => {
          // h head-major (B, NH, S, DH) with an offset mean; o in columns 3… of rows of stride ld.
          const h = rand([B, NH, S, DH], seed++, 2);
          for (let j = 0; j < h.data.length; j++) h.data[j]! += 1.5;
          const w = rand([NH * DH], seed++);
          const ld = NH * DH + 5, off = 3;
          const P = rand([B, S, ld], seed++, 2);
          // Token-major h for the reference.
          const htm = new Float64Array(B * S * NH * DH);
          const o = new Float64Array(B * S * NH * DH);
          for (let b = 0; b < B; b++) {
            for (let s = 0; s < S; s++) {
              for (let hh = 0; hh < NH; hh++) {
                for (let j = 0; j < DH; j++) {
                  const tm = ((b * S + s) * NH + hh) * DH + j;
                  htm[tm] = h.data[((b * NH + hh) * S + s) * DH + j]!;
                  o[tm] = P.data[(b * S + s) * ld + off + hh * DH + j]!;
                }
              }
            }
          }
          const shape = [B, S, NH * DH];
          let ref = headLayerNormReference({ shape, data: htm }, {
            numHeads: NH,
            eps: 1e-6,
            weight: w,
          });
          if (gated) ref = outputGateReference({ shape, data: o }, ref);
          const H = GpuTensor.fromTensor(gpu, h), Wt = GpuTensor.fromTensor(gpu, w);
          const Pg = GpuTensor.fromTensor(gpu, P);
          const Y = poisoned(gpu, shape);
          const batch = new DispatchBatch(gpu);
          await encodeNorm(batch, H, Y, {
            kind: "layer",
            groups: NH,
            headMajor: true,
            weight: Wt,
            eps: 1e-6,
            ...(gated ? { gate: { t: Pg, ld, off } } : {}),
          });
          await batch.submit();
          assertDeviation(
            {
              test: `head layernorm B=${B} NH=${NH} S=${S} DH=${DH} gated=${gated}`,
              kernel: "layers--headnorm",
              baseline: "reference--headLayerNorm",
              output: "y",
              dims: dims(B, S, DH, DH, NH),
              dtype: "f32",
              tolerance: 1e-6,
            },
            (await Y.read()).data,
            ref.data,
          );
          for (const g of [H, Wt, Pg, Y]) g.destroy();
        },
      );
    }
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "encodeElementwise() matches swiglu/outputGate/softCap references and a + b",
  ignore,
  async fn(t) {
    const gpu = await needGpu();
    let seed = 500;
    for (const [M, F, ld] of [[3, 8, 16], [5, 7, 14], [2, 12, 30]] as const) {
      // a at columns 0…F-1, b at columns ld-F… of one (M, ld) tensor: a fused projection.
      const P = rand([M, ld], seed++, 4);
      const col = (off: number) => {
        const d = new Float64Array(M * F);
        for (let m = 0; m < M; m++) {
          for (let j = 0; j < F; j++) d[m * F + j] = P.data[m * ld + off + j]!;
        }
        return { shape: [M, F], data: d };
      };
      const a = col(0), b = col(ld - F);
      const refs = {
        swiglu: swigluReference(a, b),
        sigmoid_gate: outputGateReference(a, b),
        add: { shape: [M, F], data: a.data.map((v, j) => v + b.data[j]!) },
        softcap: softCapReference(a, 3),
      } as const;
      for (const op of ["swiglu", "sigmoid_gate", "add", "softcap"] as const) {
        await t.step(`${op} M=${M} F=${F} ld=${ld}`, async () => {
          const Pg = GpuTensor.fromTensor(gpu, P);
          const Y = poisoned(gpu, [M, F]);
          const batch = new DispatchBatch(gpu);
          await encodeElementwise(
            batch,
            op,
            Y,
            { t: Pg, ld, off: 0 },
            op === "softcap" ? undefined : { t: Pg, ld, off: ld - F },
            3,
          );
          await batch.submit();
          assertDeviation(
            {
              test: `${op} M=${M} F=${F}`,
              kernel: `layers--${op}`,
              baseline: `reference--${op}`,
              output: "y",
              dims: dims(1, M, F, F),
              dtype: "f32",
              tolerance: 1e-6,
            },
            (await Y.read()).data,
            refs[op].data,
          );
          Pg.destroy();
          Y.destroy();
        });
      }
    }
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "encodeGather() matches embeddingReference (f32 and f16 tables, split table)",
  ignore,
  async fn() {
    const gpu = await needGpu();
    for (const [V, D, dtype] of [[11, 8, "f32"], [13, 5, "f16"], [300, 12, "f32"]] as const) {
      const table = rand([V, D], V + D, 1, dtype);
      const rng = rngOf(V);
      const ids = [0, 1].map(() => Array.from({ length: 7 }, () => Math.floor(rng.uniform(0, V))));
      ids[0]![0] = V - 1;
      const T = V === 300
        ? {
          N: V,
          K: D,
          dtype,
          blocks: [
            GpuTensor.fromTensor(gpu, { shape: [128, D], data: table.data.subarray(0, 128 * D) }),
            GpuTensor.fromTensor(gpu, { shape: [172, D], data: table.data.subarray(128 * D) }),
          ],
        }
        : linearWeightFromTensor(gpu, table, dtype);
      const I = uploadTokenIds(gpu, ids, V);
      const Y = poisoned(gpu, [2, 7, D]);
      const batch = new DispatchBatch(gpu);
      await encodeGather(batch, I, T, Y);
      await batch.submit();
      assertDeviation(
        {
          test: `gather V=${V} D=${D}`,
          kernel: "layers--gather",
          baseline: "reference--embedding",
          output: "x",
          dims: dims(2, 7, D, D),
          dtype,
          tolerance: 0,
        },
        (await Y.read()).data,
        embeddingReference(ids, table).data,
      );
      destroyLinearWeight(T);
      I.destroy();
      Y.destroy();
    }
    assert.throws(
      () => uploadTokenIds(gpu, [[1, 11]], 11),
      /ids\[0\]\[1\] must be an integer token id in \[0, 11\)/,
    );
  },
});

Deno.test({
  name: "encodeToHeads() splits a fused projection into head-major q and soft-capped gates",
  ignore,
  async fn() {
    const gpu = await needGpu();
    const B = 2, S = 3, NH = 2, DH = 4, ld = 2 * NH * DH + 2 * NH + 1;
    const P = rand([B, S, ld], 900, 20);
    const Pg = GpuTensor.fromTensor(gpu, P);
    const q = poisoned(gpu, [B, NH, S, DH]), i = poisoned(gpu, [B, NH, S]);
    const batch = new DispatchBatch(gpu);
    await encodeToHeads(batch, Pg, q, { off: NH * DH, cap: 0 });
    await encodeToHeads(batch, Pg, i, { off: 2 * NH * DH + 1, cap: 15 });
    await batch.submit();
    const [qo, io] = [(await q.read()).data, (await i.read()).data];
    const qr = new Float64Array(qo.length), ir = new Float64Array(io.length);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < NH; h++) {
        for (let s = 0; s < S; s++) {
          const row = (b * S + s) * ld;
          for (let j = 0; j < DH; j++) {
            qr[((b * NH + h) * S + s) * DH + j] = P.data[row + NH * DH + h * DH + j]!;
          }
          ir[(b * NH + h) * S + s] = 15 * Math.tanh(P.data[row + 2 * NH * DH + 1 + h]! / 15);
        }
      }
    }
    for (const [name, out, ref] of [["q", qo, qr], ["i", io, ir]] as const) {
      assertDeviation(
        {
          test: `to heads ${name}`,
          kernel: "layers--toheads",
          baseline: "cpu transpose",
          output: name,
          dims: dims(B, S, DH, DH, NH),
          dtype: "f32",
          tolerance: 1e-6,
        },
        out,
        ref,
      );
    }
    for (const g of [Pg, q, i]) g.destroy();
  },
});

Deno.test({
  name: "encodeRandomFill() gives hashUniform's numbers (f32; f16 and f16-rounded f32 storage)",
  ignore,
  async fn() {
    const gpu = await needGpu();
    for (const [dtype, r16] of [["f32", false], ["f32", true], ["f16", true]] as const) {
      const n = 1000, offset = 77, dst = 5;
      const Y = GpuTensor.empty(gpu, [n + dst], dtype, { poison: true });
      const batch = new DispatchBatch(gpu);
      await encodeRandomFill(batch, Y, {
        seed: 42,
        name: "blocks.0.w",
        center: 1,
        half: 0.3,
        offset,
        dstOffset: dst,
        count: n,
        roundToF16: r16,
      });
      await batch.submit();
      const all = (await Y.read()).data;
      assert.ok(
        all.subarray(0, dst).every((v) => Number.isNaN(v)),
        "elements before dstOffset kept",
      );
      const out = all.subarray(dst);
      let ref = hashUniform(42, "blocks.0.w", n + offset, 1, 0.3).subarray(offset);
      if (r16) ref = Float64Array.from(f16ToF32(toF16Bits(ref)));
      // Bit-identical up to a fused multiply-add on the GPU (one f32 ulp before any f16 rounding).
      const d = assertDeviation(
        {
          test: `random fill ${dtype}${r16 ? " rounded to f16" : ""}`,
          kernel: "layers--randomfill",
          baseline: "hashUniform",
          output: "w",
          dims: dims(1, n, 1, 1),
          dtype,
          tolerance: r16 ? 1e-5 : 1e-7,
        },
        out,
        ref,
      );
      assert.ok(d.maxAbs <= (r16 ? 2 ** -10 : 2 ** -23), `max abs ${d.maxAbs}`);
      Y.destroy();
    }
  },
});
