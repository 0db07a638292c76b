// Token choice on the GPU (kernels/layers/sampling.ts) against its CPU twin (reference/sampling.ts):
// greedy argmax (ties → lowest id, NaN never chosen), every sampling decision recomputed on the CPU
// from the same Philox uniform, top-k = 1 and a tiny top-p equal greedy, EOS marks a sequence done,
// and the distribution of many draws matches the softmax (with top-k / top-p applied) within a
// chi-square bound at a fixed seed. Philox4x32-10 against Random123's known-answer vectors.

import assert from "node:assert/strict";
import { randomTensor } from "../mod.ts";
import {
  createSamplerState,
  encodeSampling,
  readHistory,
  type Sampling,
  validateSampling,
} from "../kernels/layers/sampling.ts";
import {
  argmaxReference,
  philox4x32,
  sampleReference,
  samplingUniform,
} from "../reference/sampling.ts";
import { DispatchBatch, type Gpu, GpuTensor } from "../kernels/runtime.ts";
import { assertNoUncapturedErrors, gpuMissing, needGpu } from "./_gpu.ts";
import { rngOf } from "./_seed.ts";

const ignore = await gpuMissing();

/** Runs `steps` token choices on fixed logits (B, V); returns the history (steps × B). */
async function run(
  gpu: Gpu,
  logits: Float32Array,
  B: number,
  V: number,
  sampling: Sampling,
  steps: number,
  eos?: number,
  eosList?: number[],
): Promise<number[][]> {
  const l = GpuTensor.fromTensor(gpu, { shape: [B, V], data: logits });
  const state = createSamplerState(
    gpu,
    B,
    V,
    steps,
    sampling,
    eosList ? { eos: eosList } : eos === undefined ? {} : { eos },
  );
  const batch = new DispatchBatch(gpu);
  for (let s = 0; s < steps; s++) await encodeSampling(batch, l, state);
  await batch.submit();
  const h = await readHistory(state, 0, steps);
  state.destroy();
  l.destroy();
  assertNoUncapturedErrors(gpu);
  return h;
}

const rowOf = (x: Float32Array, b: number, V: number) => x.subarray(b * V, (b + 1) * V);

Deno.test("philox4x32() matches Random123's known-answer vectors", () => {
  assert.deepEqual(philox4x32([0, 0, 0, 0], [0, 0]), [
    0x6627e8d5,
    0xe169c58d,
    0xbc57ac4c,
    0x9b00dbd8,
  ]);
  assert.deepEqual(
    philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]),
    [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  );
  assert.deepEqual(
    philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]),
    [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  );
});

Deno.test(
  { name: "encodeSampling() greedy: argmax, ties to the lowest id, NaN skipped", ignore },
  async () => {
    const gpu = await needGpu();
    const V = 1001, B = 5;
    const x = Float32Array.from(randomTensor([B, V], rngOf(301)).data);
    // row 1: a tie between 17 and 900 at the maximum; row 2: a tie at 0 and 1000; row 3: NaN and -inf
    x[V + 17] = 9;
    x[V + 900] = 9;
    x[2 * V] = 7;
    x[2 * V + 1000] = 7;
    x.fill(-Infinity, 3 * V, 4 * V);
    x[3 * V + 3] = NaN;
    x[3 * V + 500] = -1;
    const [first, second] = await run(gpu, x, B, V, "greedy", 2);
    const want = [...Array(B).keys()].map((b) => argmaxReference(rowOf(x, b, V)));
    assert.deepEqual(want.slice(1, 4), [17, 0, 500]);
    assert.deepEqual(first, want);
    assert.deepEqual(second, want);
  },
);

const cases: { label: string; sampling: Exclude<Sampling, "greedy"> }[] = [
  { label: "temperature 1", sampling: { temperature: 1, seed: 7 } },
  { label: "temperature 0.7 top-k 20", sampling: { temperature: 0.7, topK: 20, seed: 8 } },
  {
    label: "temperature 1.3 top-p 0.9",
    sampling: { temperature: 1.3, topP: 0.9, seed: 2 ** 40 + 3 },
  },
  { label: "top-k 50 top-p 0.5", sampling: { temperature: 1, topK: 50, topP: 0.5, seed: 9 } },
];
for (const c of cases) {
  Deno.test(
    { name: `encodeSampling() ${c.label}: every choice equals the CPU twin`, ignore },
    async () => {
      const gpu = await needGpu();
      const V = 777, B = 3, steps = 6;
      const x = Float32Array.from(randomTensor([B, V], rngOf(310), { std: 3 }).data);
      const h = await run(gpu, x, B, V, c.sampling, steps);
      for (let s = 0; s < steps; s++) {
        for (let b = 0; b < B; b++) {
          const u = samplingUniform(c.sampling.seed, s, b);
          assert.equal(
            h[s]![b],
            sampleReference(rowOf(x, b, V), c.sampling, u),
            `step ${s} row ${b}`,
          );
        }
      }
    },
  );
}

Deno.test(
  { name: "encodeSampling() top-k = 1 and a tiny top-p equal greedy", ignore },
  async () => {
    const gpu = await needGpu();
    const V = 300, B = 4;
    const x = Float32Array.from(randomTensor([B, V], rngOf(320), { std: 2 }).data);
    const greedy = (await run(gpu, x, B, V, "greedy", 1))[0];
    const k1 = await run(gpu, x, B, V, { temperature: 2, topK: 1, seed: 1 }, 4);
    const p0 = await run(gpu, x, B, V, { temperature: 2, topP: 1e-6, seed: 2 }, 4);
    for (const r of [...k1, ...p0]) assert.deepEqual(r, greedy);
  },
);

Deno.test({
  name: "encodeSampling() marks a sequence done at EOS and repeats EOS after it",
  ignore,
}, async () => {
  const gpu = await needGpu();
  const V = 4, B = 2;
  // row 0 always picks EOS (id 2) greedily; row 1 never
  const x = new Float32Array([0, 0, 5, 0, 5, 0, 0, 0]);
  const h = await run(gpu, x, B, V, "greedy", 3, 2);
  assert.deepEqual(h, [[2, 0], [2, 0], [2, 0]]);
  // sampling: a uniform row stops at its first EOS, then repeats it
  const y = new Float32Array(2 * 8).fill(0);
  const hs = await run(gpu, y, 2, 8, { temperature: 1, seed: 5 }, 40, 3);
  for (let b = 0; b < 2; b++) {
    const col = hs.map((r) => r[b]!);
    const at = col.indexOf(3);
    assert.ok(at >= 0, "EOS came within 40 draws of 8 equally likely tokens");
    assert.ok(col.slice(at).every((t) => t === 3));
  }
});

Deno.test(
  { name: "encodeSampling() draws follow the softmax (chi-square, fixed seed)", ignore },
  async () => {
    const gpu = await needGpu();
    const V = 12, B = 16, steps = 250; // 4000 draws
    const base = [2, 1.5, 1, 0.5, 0, -0.5, -1, 0.3, 0.8, -2, 1.2, 0.1];
    const x = new Float32Array(B * V);
    for (let b = 0; b < B; b++) x.set(base, b * V);
    for (
      const s of [
        { temperature: 1, seed: 11 },
        { temperature: 0.8, topK: 6, seed: 12 },
        { temperature: 1, topP: 0.8, seed: 13 },
      ] as Exclude<Sampling, "greedy">[]
    ) {
      const h = await run(gpu, x, B, V, s, steps);
      const counts = new Array(V).fill(0);
      for (const r of h) for (const t of r) counts[t]++;
      // expected: the twin's kept set and probabilities (a fine grid of u gives them exactly enough)
      const p = new Array(V).fill(0);
      const G = 200000;
      for (let g = 0; g < G; g++) p[sampleReference(base, s, (g + 0.5) / G)]++;
      let chi2 = 0, df = -1;
      for (let i = 0; i < V; i++) {
        const e = (p[i] / G) * B * steps;
        if (e === 0) {
          assert.equal(counts[i], 0, `token ${i} is outside the kept set`);
          continue;
        }
        chi2 += (counts[i] - e) ** 2 / e;
        df++;
      }
      // 0.999 quantiles of chi-square: df 5 → 20.5, df 11 → 31.3 (bound 3.5·df + 10 covers both)
      assert.ok(df >= 4, `df ${df}`);
      assert.ok(
        chi2 < 3.5 * df + 10,
        `chi-square ${chi2.toFixed(1)} with ${df} df for ${JSON.stringify(s)}`,
      );
    }
  },
);

Deno.test({
  name: "encodeSampling() stops at any of several EOS ids and repeats the first",
  ignore,
}, async () => {
  const gpu = await needGpu();
  // greedy picks: row 0 → 3, row 1 → 1, row 2 → 0 (not an EOS)
  const x = new Float32Array([0, 0, 0, 5, 0, 5, 0, 0, 5, 0, 0, 0]);
  const h = await run(gpu, x, 3, 4, "greedy", 2, undefined, [1, 3]);
  assert.deepEqual(h, [[3, 1, 0], [1, 1, 0]]);
});

Deno.test("validateSampling() names the bad field", () => {
  assert.throws(() => validateSampling({ temperature: -1, seed: 1 }), /sampling.temperature/);
  assert.throws(() => validateSampling({ temperature: 1, topK: 0, seed: 1 }), /sampling.topK/);
  assert.throws(() => validateSampling({ temperature: 1, topP: 1.5, seed: 1 }), /sampling.topP/);
  assert.throws(() => validateSampling({ temperature: 1, seed: -3 }), /sampling.seed/);
  assert.throws(() => validateSampling("top" as never), /sampling must be "greedy"/);
});
