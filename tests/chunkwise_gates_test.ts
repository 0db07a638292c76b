// The chunkwise forward's gate kernel (kernels/chunkwise/_wgsl.ts, `gatesWgsl`): the staged kernel
// (two sequential passes on two threads, coalesced writes, a table of sub-block sums; issue #14)
// against the unstaged one, bit for bit, on every word of the gate scratch: both gates, with and
// without document starts, query blocks of 16/32/64, chunks that do and do not divide S, hot,
// cold and wiped (−∞) forget gates. The unstaged kernel is the one the float64 cross-checks of
// tests/chunkwise_test.ts validated before; those tests now run the staged kernel (the default).

import assert from "node:assert/strict";
import { DispatchBatch, getPipeline, GpuTensor } from "../kernels/runtime.ts";
import {
  gateBlockTotalsOffset,
  gatesChunksPerGroup,
  gatesStaged,
  gatesStagedFits,
  gatesStorageBytes,
  gatesWgsl,
  packUniforms,
} from "../kernels/chunkwise/_wgsl.ts";
import { documentStartFlags } from "../core/documents.ts";
import { assertNoUncapturedErrors, gpuMissing, needGpu } from "./_gpu.ts";
import { rngOf } from "./_seed.ts";

const ignore = await gpuMissing();

interface Case {
  gate: "exp" | "sig";
  L: number;
  BQ: number;
  S: number;
  resets: boolean;
  /** Forget gate pre-activations: "hot" (≈ +8, log gates near 0), "cold" (≈ −8), "mixed". */
  f: "hot" | "cold" | "mixed";
}

/** The whole gate scratch after one gate kernel (poisoned first: unwritten words stay NaN). */
async function runGates(
  c: Case,
  staged: boolean,
  seed: number,
  chunksPerGroup?: 1 | 2 | 4,
): Promise<Uint32Array> {
  const gpu = await needGpu();
  const B = 2, NH = 3, BH = B * NH;
  const NC = Math.ceil(c.S / c.L);
  const rng = rngOf(seed);
  const i = new Float32Array(BH * c.S), f = new Float32Array(BH * c.S);
  for (let j = 0; j < i.length; j++) {
    i[j] = 6 * rng.normal();
    const g = c.f === "hot"
      ? 8 + rng.normal()
      : c.f === "cold"
      ? -8 + rng.normal()
      : 10 * rng.normal();
    // A few wiped steps (f = −∞: logsig floored) wherever the case is mixed.
    f[j] = c.f === "mixed" && rng.uniform() < 0.02 ? -Infinity : g;
  }
  const starts = c.resets
    ? Array.from({ length: B }, () => [0, 1 + Math.floor(rng.uniform() * (c.S - 1))])
    : undefined;
  const p = {
    gate: c.gate,
    dtype: "f32" as const,
    L: c.L,
    BQ: c.BQ,
    resets: c.resets,
    staged,
    chunksPerGroup,
  };
  assert.equal(gatesStaged(p), staged);
  const len = gateBlockTotalsOffset(BH, c.S, NC) + BH * NC * Math.ceil(c.L / c.BQ);
  const ig = GpuTensor.fromTensor(gpu, { shape: [BH * c.S], data: i });
  const fg = GpuTensor.fromTensor(gpu, { shape: [BH * c.S], data: f });
  const gates = GpuTensor.empty(gpu, [len], "f32", { poison: true });
  const rst = starts ? GpuTensor.empty(gpu, [B, c.S], "f32") : undefined;
  if (rst) gpu.device.queue.writeBuffer(rst.buffer, 0, documentStartFlags(starts, B, c.S));
  const pipeline = await getPipeline(
    gpu,
    `test-chunkwise-gates:${JSON.stringify(p)}`,
    () => gatesWgsl(p),
  );
  const batch = new DispatchBatch(gpu);
  batch.dispatch({
    label: "gates",
    pipeline,
    buffers: rst ? [ig, fg, gates, rst] : [ig, fg, gates],
    uniforms: packUniforms({
      S: c.S,
      L: c.L,
      NC,
      BH,
      bh0: 0,
      DQK: 4,
      DHV: 4,
      keep: 0,
      eps: 1e-6,
      scale: 0.5,
      NH,
    }),
    workgroups: [Math.ceil(NC / gatesChunksPerGroup(p)), BH],
  });
  await batch.submit();
  const out = await gates.read();
  for (const t of [ig, fg, gates, rst]) t?.destroy();
  assertNoUncapturedErrors(gpu);
  return new Uint32Array(Float32Array.from(out.data).buffer);
}

const CASES: Case[] = [
  { gate: "exp", L: 64, BQ: 64, S: 200, resets: false, f: "mixed" },
  { gate: "exp", L: 64, BQ: 64, S: 256, resets: false, f: "hot" },
  { gate: "exp", L: 64, BQ: 64, S: 130, resets: true, f: "mixed" },
  { gate: "exp", L: 128, BQ: 64, S: 300, resets: false, f: "cold" },
  { gate: "exp", L: 128, BQ: 32, S: 259, resets: true, f: "mixed" },
  { gate: "exp", L: 50, BQ: 16, S: 123, resets: false, f: "mixed" },
  { gate: "exp", L: 37, BQ: 64, S: 111, resets: true, f: "hot" },
  { gate: "exp", L: 32, BQ: 32, S: 100, resets: false, f: "mixed" },
  { gate: "exp", L: 64, BQ: 64, S: 64, resets: true, f: "cold" },
  { gate: "sig", L: 64, BQ: 64, S: 200, resets: false, f: "mixed" },
  { gate: "sig", L: 96, BQ: 32, S: 190, resets: true, f: "cold" },
];

Deno.test({
  name: "chunkwise gate kernel: staged equals unstaged bit for bit (every gate-scratch word)",
  ignore,
  async fn(t) {
    const seed = 1400;
    for (const c of CASES) {
      await t.step(
        `${c.gate} L ${c.L} BQ ${c.BQ} S ${c.S} ${c.resets ? "resets " : ""}${c.f}`,
        async () => {
          const a = await runGates(c, false, seed);
          // The default grouping and each of 1, 2, 4 chunks per workgroup.
          for (const G of [undefined, 1, 2, 4] as const) {
            const b = await runGates(c, true, seed, G);
            assert.equal(a.length, b.length);
            let diff = 0, first = -1;
            for (let j = 0; j < a.length; j++) {
              if (a[j] !== b[j]) {
                diff++;
                if (first < 0) first = j;
              }
            }
            assert.equal(
              diff,
              0,
              `G ${G}, seed ${seed} (+ MLSTM_TEST_SEED): ${diff} words differ, first at ${first}`,
            );
          }
        },
      );
    }
  },
});

Deno.test("chunkwise gate kernel: staged by default where it fits 16 KiB, unstaged above", () => {
  const p = (L: number, BQ = 64) => ({ gate: "exp" as const, dtype: "f32" as const, L, BQ });
  assert.ok(gatesStaged(p(64)) && gatesStagedFits(p(64)));
  assert.ok(gatesStaged(p(448)));
  assert.ok(!gatesStaged(p(512)));
  // Unstaged chunks keep the old storage (2 words per step and one per query block), so the
  // largest chunk a device allows is unchanged.
  assert.equal(gatesStorageBytes(p(1024, 16)), (2 * 1024 + 64) * 4);
  assert.ok(gatesStorageBytes(p(64)) <= 16384);
  assert.throws(() => gatesWgsl({ ...p(64, 6), staged: true }), /multiple of 4/);
  // Four chunks per workgroup where they fit 16 KiB, fewer for long chunks, one unstaged.
  assert.equal(gatesChunksPerGroup(p(64)), 4);
  assert.equal(gatesChunksPerGroup(p(256)), 1);
  assert.equal(gatesChunksPerGroup({ ...p(64), staged: false }), 1);
  assert.throws(() => gatesChunksPerGroup({ ...p(64), chunksPerGroup: 3 as 4 }), /chunksPerGroup/);
});
