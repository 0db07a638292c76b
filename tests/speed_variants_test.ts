// The speed variants of issue #14 (tile options that are not defaults yet, so that the GPU run can
// pick the fastest) against the float64 references, like the defaults in chunkwise_test.ts:
// fresh seeds, odd S, hot gates, chunk sizes 64 to 512, f32 and f16 storage, NaN-poisoned outputs.
// Each forward variant is also compared with today's default tiles on the same inputs. The
// backward variants (trimmed, fused stats+dq, trimmed score grid) are checked in
// tests/backward_test.ts ("issue #14") with its sensitivity-based tolerances, and here on packed
// sequences.
//
// Tolerances (relative L2): f32 1e-5 (the conditioning-aware bound of tests/_gpu_checks.ts for the
// hot exponential gates, as in chunkwise_test.ts), f16 storage 2e-3 against the reference on the
// f16-rounded q, k, v.

import assert from "node:assert/strict";
import {
  getMlstmKernel,
  type InputGate,
  type MlstmOptions,
  randomMlstmInputs,
  type Tensor,
} from "../mod.ts";
import { chunkwiseKernels, type ChunkwiseOptions } from "../kernels/chunkwise/mod.ts";
import {
  setBackwardFuseStatsDq,
  setBackwardTrimDiagonal,
  setBackwardTrimScores,
} from "../kernels/backward/backward.ts";
import { randomTensor } from "../mod.ts";
import { assertDeviation, type Comparison } from "./_deviation_log.ts";
import { conditionedTolerance, dimsOf, type Inputs, roundInputs } from "./_gpu_checks.ts";
import { assertNoUncapturedErrors, gpuMissing, needGpu } from "./_gpu.ts";
import { rngOf } from "./_seed.ts";

const ignore = await gpuMissing();
const TOL = { f32: 1e-5, f16: 2e-3 } as const;
type Out = { h: Tensor; last?: { c: Tensor; n: Tensor; m: Tensor } };

const refName = (gate: InputGate) => `reference--chunkwise${gate === "sig" ? "_siging" : ""}`;
const kernels = [
  { name: "chunkwise--xl_chunk", gate: "exp" as const, chunks: [64, 128, 256, 512] },
  { name: "chunkwise--xl_chunk_siging", gate: "sig" as const, chunks: [64, 128, 256, 512] },
  { name: "chunkwise--limit_chunk", gate: "exp" as const, chunks: [64, 48] },
];

/**
 * Forward tile variants under test (the ones bench/speed_ab.ts times); `hot`: also run with hot
 * gates and on packed sequences.
 */
const forwardVariants: { tag: string; tiles: ChunkwiseOptions["tiles"]; hot?: boolean }[] = [
  { tag: "trimDiagonal", tiles: { parallel: { trimDiagonal: true } }, hot: true },
  {
    tag: "rows8: 8 rows per thread, 16x8 threads, trimDiagonal",
    tiles: { parallel: { TY: 8, rowsPerThread: 8, trimDiagonal: true } },
    hot: true,
  },
  {
    tag: "rows8i: 8 rows per thread, 16x8 threads, trimDiagonal, interleaved columns",
    tiles: { parallel: { TY: 8, rowsPerThread: 8, trimDiagonal: true, interleaveColumns: true } },
    hot: true,
  },
  {
    // TN 8 on 8 threads along DHV: the second vec4 of thread 0 is column 32 (DHV 36 has 36).
    tag: "interleaved columns: trimDiagonal, 8x8 threads, TN 8, BD 8",
    tiles: {
      parallel: { TX: 8, TY: 8, TN: 8, BD: 8, trimDiagonal: true, interleaveColumns: true },
    },
  },
  {
    tag: "rows8: 8 rows per thread, 16x8 threads, untrimmed, fused, prefetch, BD 8",
    tiles: {
      parallel: { TY: 8, rowsPerThread: 8, trimDiagonal: false, fuse: true, prefetch: true, BD: 8 },
    },
  },
  {
    tag: "rows8: 8 rows per thread, 8x8 threads (8 x 8 scores per thread), TN 8, BD 8, trimmed",
    tiles: { parallel: { TX: 8, TY: 8, TN: 8, BD: 8, rowsPerThread: 8, trimDiagonal: true } },
  },
  {
    tag: "trimDiagonal, 8x8 threads (no remap), BD 8",
    tiles: { parallel: { TX: 8, TY: 8, TN: 4, BD: 8, trimDiagonal: true } },
  },
  {
    tag: "trimDiagonal, fused, prefetch",
    tiles: { parallel: { fuse: true, prefetch: true, trimDiagonal: true, BD: 16 } },
  },
  {
    tag: "prefetchInter: the inter-chunk loop prefetched, default tiles",
    tiles: { parallel: { prefetchInter: true } },
    hot: true,
  },
  {
    // Speed variant tn16bd32, scaled to 8x8 threads (20.9 KiB, so that lavapipe runs it): DQK
    // staged 32 deep, the value product 16 keys deep, P in the staging array behind V.
    tag: "valueDepth 16 below BD 32 (P behind V), 8x8 threads, TN 16",
    tiles: {
      parallel: {
        TX: 8,
        TY: 8,
        TN: 16,
        BD: 32,
        valueDepth: 16,
        trimDiagonal: true,
        interleaveColumns: true,
      },
    },
    hot: true,
  },
  {
    // Speed variant st8bj64 at TN 4 (32 KiB): the state kernel stages a whole 64-step chunk.
    tag: "state kernel: 64 keys per step (BJ 64), TN 4",
    tiles: { state: { TN: 4, BJ: 64, interleaveColumns: true } },
    hot: true,
  },
  {
    tag: "prefetchInter with prefetch, 8x8 threads, TN 8, BD 8",
    tiles: {
      parallel: { TX: 8, TY: 8, TN: 8, BD: 8, prefetch: true, prefetchInter: true },
    },
  },
];

const forward = (name: string, x: Inputs, o: ChunkwiseOptions) =>
  chunkwiseKernels.find((k) => k.name === name)!.forward(x, {
    ...o,
    poisonOutputs: true,
  } as MlstmOptions) as Promise<Out>;

/** h within `tol` of the float64 reference and the last states within TOL.f32. */
function assertForwardMatches(
  c: Omit<Comparison, "output" | "tolerance">,
  out: Out,
  ref: Out,
  tol: number,
): void {
  assertDeviation({ ...c, output: "h", tolerance: tol }, out.h.data, ref.h.data);
  for (const s of ["c", "n", "m"] as const) {
    assertDeviation(
      { ...c, output: `last ${s}`, tolerance: TOL.f32 },
      out.last![s].data,
      ref.last![s].data,
    );
  }
}

Deno.test({
  name:
    "speed variants: forward tile variants match the float64 reference (chunks 64-512, f32/f16)",
  ignore,
  fn: async (t) => {
    let seed = 14000;
    for (const v of forwardVariants) {
      for (const k of kernels) {
        for (const L of k.chunks) {
          for (const dtype of ["f32", "f16"] as const) {
            if (dtype === "f16" && L !== 128 && L !== 48) continue; // f16 is slow on lavapipe
            const tag = `${v.tag} ${k.name} L=${L} ${dtype}`;
            await t.step(tag, async () => {
              const gpu = await needGpu();
              const S = L >= 256 ? 2 * L + 37 : 3 * L - 5;
              const x = randomMlstmInputs(
                { B: 1, NH: 2, S, DQK: 20, DHV: 36, withInitialStates: true },
                rngOf(seed++),
              );
              const o: ChunkwiseOptions = { chunkSize: L, returnLastStates: true, dtype };
              const out = await forward(k.name, x, { ...o, tiles: v.tiles });
              const base = await forward(k.name, x, o);
              const refIn = dtype === "f16" ? roundInputs(x, "f16") : x;
              const ref = await getMlstmKernel(refName(k.gate)).forward(refIn, o) as Out;
              const c = {
                test: `speed variant ${v.tag}`,
                kernel: k.name,
                baseline: refName(k.gate),
                dims: dimsOf(x),
                chunkSize: L,
                dtype,
              };
              assertForwardMatches(c, out, ref, TOL[dtype]);
              assertDeviation(
                { ...c, baseline: `${k.name} default tiles`, output: "h", tolerance: TOL[dtype] },
                out.h.data,
                base.h.data,
              );
              assertNoUncapturedErrors(gpu);
            });
          }
        }
      }
    }
  },
});

Deno.test({
  name: "speed variants: forward tile variants with hot gates (fMean ±10, iMean 20) match (f32)",
  ignore,
  fn: async (t) => {
    const hot = [
      { tag: "forget gate -10", fMean: -10, conditioned: false },
      { tag: "forget gate +10", fMean: 10, conditioned: true },
      { tag: "input gate +20", iMean: 20, conditioned: true },
    ];
    let seed = 14500;
    for (const v of forwardVariants.filter((v) => v.hot)) {
      for (const k of kernels) {
        for (const h of hot) {
          await t.step(`${v.tag} ${k.name} ${h.tag}`, async () => {
            const gpu = await needGpu();
            const { tag: _, conditioned, ...gates } = h;
            const x = randomMlstmInputs(
              {
                B: 1,
                NH: 2,
                S: 141,
                DQK: 16,
                DHV: 32,
                gateStd: 2,
                withInitialStates: true,
                ...gates,
              },
              rngOf(seed++),
            );
            const L = k.chunks[1]!;
            const o: ChunkwiseOptions = { chunkSize: L, returnLastStates: true };
            const out = await forward(k.name, x, { ...o, tiles: v.tiles });
            const x32 = roundInputs(x, "f32");
            const ref = await getMlstmKernel(refName(k.gate)).forward(x32, o) as Out;
            const kappa = conditioned && k.gate === "exp";
            const c = {
              test: `speed variant ${v.tag}, hot gates ${h.tag}`,
              kernel: k.name,
              baseline: `${refName(k.gate)} (f32-rounded inputs)`,
              dims: dimsOf(x),
              chunkSize: L,
              dtype: "f32",
            };
            const tol = kappa ? conditionedTolerance("f32", x, k.gate) : TOL.f32;
            assertForwardMatches(c, out, ref, tol);
            assertNoUncapturedErrors(gpu);
          });
        }
      }
    }
  },
});

// The hot forward variants on packed sequences and resets (documentStarts, f = -inf and -1e30 inside
// a chunk), chunk 64 and 256 (several query blocks per chunk), as in tests/resets_test.ts.
Deno.test({
  name: "speed variants: forward tile variants on packed sequences and resets match (f32)",
  ignore,
  fn: async (t) => {
    const S = 300;
    const x0 = randomMlstmInputs(
      { B: 2, NH: 2, S, DQK: 8, DHV: 12, withInitialStates: true },
      rngOf(14700),
    );
    x0.i.data.forEach((v, k) => (x0.i.data[k] = v - 6));
    const x = roundInputs(x0, "f32");
    x.f.data[77] = -Infinity;
    x.f.data[S + 140] = -1e30;
    const starts = [[5, 64, 65, 100, 127, 128, 200, 299], [31, 150, 255]];
    for (const v of forwardVariants.filter((v) => v.hot)) {
      for (const k of kernels.slice(0, 2)) {
        for (const L of [64, 256]) {
          await t.step(`${v.tag} ${k.name} L=${L}`, async () => {
            const gpu = await needGpu();
            const o: MlstmOptions = {
              chunkSize: L,
              returnLastStates: true,
              documentStarts: starts,
              eps: 1e-2,
            };
            const out = await forward(k.name, x, { ...o, tiles: v.tiles });
            const ref = await getMlstmKernel(refName(k.gate)).forward(x, o) as Out;
            const c = {
              test: `speed variant ${v.tag}, packed sequences`,
              kernel: k.name,
              baseline: refName(k.gate),
              dims: dimsOf(x),
              chunkSize: L,
              dtype: "f32",
              tolerance: TOL.f32,
            };
            assertDeviation({ ...c, output: "h" }, out.h.data, ref.h.data);
            for (const s of ["c", "n"] as const) {
              assertDeviation({ ...c, output: `last ${s}` }, out.last![s].data, ref.last![s].data);
            }
            assertNoUncapturedErrors(gpu);
          });
        }
      }
    }
  },
});

// The backward variants on packed sequences (documentStarts, one pass over the packed rows): the
// blocked kernels see document starts only through the gate statistics, so trimming and fusing
// must hold there too. Base tolerance of tests/backward_test.ts (1e-4, f32; cold gates).
Deno.test({
  name: "speed variants: backward trimmed + fused on packed sequences match the float64 reference",
  ignore,
  fn: async (t) => {
    let seed = 14900;
    for (const k of kernels.slice(0, 2)) {
      for (const L of [64, 128]) {
        await t.step(`${k.name} L=${L}`, async () => {
          const gpu = await needGpu();
          const rng = rngOf(seed++);
          const x = randomMlstmInputs({ B: 2, NH: 1, S: 200, DQK: 64, DHV: 128 }, rng);
          const dh = randomTensor([2, 1, 200, 128], rng);
          const o: MlstmOptions = { chunkSize: L, documentStarts: [[37, 130], [64, 65, 199]] };
          const ref = await getMlstmKernel(refName(k.gate)).backward!(x, dh, o);
          setBackwardTrimDiagonal(true);
          setBackwardTrimScores(true);
          setBackwardFuseStatsDq(true);
          let out;
          try {
            out = await getMlstmKernel(k.name).backward!(x, dh, o);
          } finally {
            setBackwardTrimDiagonal(false);
            setBackwardTrimScores(false);
            setBackwardFuseStatsDq(false);
          }
          for (const g of ["dq", "dk", "dv", "di", "df"] as const) {
            assertDeviation(
              {
                test: "speed variants: packed backward, trimmed + fused",
                kernel: k.name,
                baseline: refName(k.gate),
                output: g,
                dims: dimsOf(x),
                chunkSize: L,
                dtype: "f32",
                tolerance: 1e-4,
              },
              (out[g] as Tensor).data,
              (ref[g] as Tensor).data,
            );
          }
          assertNoUncapturedErrors(gpu);
        });
      }
    }
  },
});

Deno.test({
  name: "speed variants tn16bd32, tn32bd16 and st8bj64 at full size: float64 where they fit, " +
    "else a clear error",
  ignore,
  fn: async (t) => {
    const gpu = await needGpu();
    const storage = gpu.device.limits.maxComputeWorkgroupStorageSize;
    const tn16bd32 = { TN: 16, BD: 32, valueDepth: 16 };
    const st8bj64 = { TN: 8, BJ: 64 };
    const cases: { tag: string; DHV: number; need: number; tiles: ChunkwiseOptions["tiles"] }[] = [
      { tag: "tn16bd32", DHV: 256, need: 41856, tiles: { parallel: tn16bd32 } },
      {
        tag: "tn32bd16",
        DHV: 512,
        need: 37696,
        tiles: { parallel: { TN: 32, BD: 16, valueDepth: 8 } },
      },
      { tag: "st8bj64", DHV: 256, need: 49152, tiles: { state: st8bj64 } },
      {
        tag: "bd32bj64",
        DHV: 256,
        need: 49152,
        tiles: { parallel: tn16bd32, state: st8bj64 },
      },
    ];
    let seed = 14900;
    for (const c of cases) {
      for (const k of kernels.filter((k) => k.name !== "chunkwise--limit_chunk")) {
        for (const [L, dtype] of [[64, "f32"], [128, "f32"], [64, "f16"]] as const) {
          const tag = `${c.tag} ${k.name} L=${L} ${dtype} (${c.need} bytes, device ${storage})`;
          await t.step(tag, async () => {
            const x = randomMlstmInputs(
              { B: 1, NH: 1, S: 2 * L + 22, DQK: 64, DHV: c.DHV, withInitialStates: true },
              rngOf(seed++),
            );
            const o: ChunkwiseOptions = { chunkSize: L, returnLastStates: true, dtype };
            if (c.need > storage) {
              await assert.rejects(
                () => forward(k.name, x, { ...o, tiles: c.tiles }),
                /maxComputeWorkgroupStorageSize/,
              );
              return;
            }
            const out = await forward(k.name, x, { ...o, tiles: c.tiles });
            const refIn = dtype === "f16" ? roundInputs(x, "f16") : x;
            const ref = await getMlstmKernel(refName(k.gate)).forward(refIn, o) as Out;
            const d = {
              test: `speed variant ${c.tag}`,
              kernel: k.name,
              baseline: refName(k.gate),
              dims: dimsOf(x),
              chunkSize: L,
              dtype,
            };
            assertForwardMatches(d, out, ref, TOL[dtype]);
            assertNoUncapturedErrors(gpu);
          });
        }
      }
    }
  },
});
