/**
 * CPU twins of the token-choice kernels (`kernels/layers/sampling.ts`): greedy argmax, the sampling
 * decision (temperature, top-k, top-p) for a given uniform number, and the counter-based generator
 * (Philox4x32-10) that gives the kernels their uniform numbers, so that a seed reproduces a run and a
 * test can recompute every choice.
 *
 * The sampling rule (the same on the GPU):
 * 1. z_i = logit_i / temperature (in f32).
 * 2. top-k: keep the tokens with z_i ≥ the k-th largest z (ties at the threshold are all kept, as in
 *    Hugging Face's `TopKLogitsWarper`).
 * 3. top-p: with p_i ∝ exp(z_i − max z) over the kept tokens, keep token i when the probability mass
 *    of the kept tokens with a larger z is below `topP` (the smallest set of top tokens whose mass
 *    reaches `topP`; ties kept together; the most likely token is always kept).
 * 4. Choose the first token id i (in id order) whose running sum of p over the kept tokens exceeds
 *    u · (their total), for the uniform number u ∈ [0, 1).
 *
 * @module
 */

/** Sampling parameters (see {@linkcode sampleReference}). */
export interface SamplingParams {
  /** Divides the logits; > 0. */
  temperature: number;
  /** Keep the k most likely tokens (ties included). @default {all} */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches topP, in (0, 1]. @default {1} */
  topP?: number;
}

/**
 * The index of the largest logit; ties go to the lowest index, NaN is never chosen (all NaN: 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { argmaxReference } from "./sampling.ts";
 * assert.equal(argmaxReference([1, 3, 3, 2]), 1);
 * ```
 *
 * @param logits The logits of one sequence.
 * @returns The token id.
 */
export function argmaxReference(logits: ArrayLike<number>): number {
  let best = 0, bestV = -Infinity, found = false;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (v > bestV || (!found && v === -Infinity)) {
      bestV = v;
      best = i;
      found = true;
    }
  }
  return best;
}

/**
 * The token the sampling rule (module doc) picks for the uniform number `u`, computed in float64
 * (the temperature division in f32, as on the GPU).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sampleReference } from "./sampling.ts";
 * // top-k = 1 is greedy whatever u is
 * assert.equal(sampleReference([0, 2, 1], { temperature: 1, topK: 1 }, 0.99), 1);
 * // two equal logits: u < 0.5 picks the first, u ≥ 0.5 the second
 * assert.equal(sampleReference([0, 0], { temperature: 1 }, 0.25), 0);
 * assert.equal(sampleReference([0, 0], { temperature: 1 }, 0.75), 1);
 * ```
 *
 * @param logits The logits of one sequence.
 * @param params Temperature, top-k, top-p.
 * @param u A uniform number in [0, 1).
 * @returns The token id.
 */
export function sampleReference(
  logits: ArrayLike<number>,
  params: SamplingParams,
  u: number,
): number {
  const V = logits.length;
  const z = new Float64Array(V);
  let zmax = -Infinity;
  for (let i = 0; i < V; i++) {
    const v = Math.fround(Math.fround(logits[i]!) / Math.fround(params.temperature));
    z[i] = Number.isNaN(v) ? -Infinity : v;
    if (z[i]! > zmax) zmax = z[i]!;
  }
  const keep = new Uint8Array(V).fill(1);
  const k = Math.min(params.topK ?? V, V);
  if (k < V) {
    const kth = Float64Array.from(z).sort().reverse()[k - 1]!;
    for (let i = 0; i < V; i++) if (z[i]! < kth) keep[i] = 0;
  }
  const w = new Float64Array(V);
  for (let i = 0; i < V; i++) w[i] = keep[i] ? Math.exp(z[i]! - zmax) : 0;
  const topP = params.topP ?? 1;
  if (topP < 1) {
    let total = 0;
    for (let i = 0; i < V; i++) total += w[i]!;
    // Mass of strictly larger z, per distinct value: sort the kept ids by z, descending.
    const order = [...Array(V).keys()].filter((i) => keep[i]).sort((a, b) => z[b]! - z[a]!);
    let above = 0;
    for (let j = 0; j < order.length;) {
      let e = j, tied = 0;
      while (e < order.length && z[order[e]!] === z[order[j]!]) tied += w[order[e++]!]!;
      if (above >= topP * total) { for (let q = j; q < e; q++) keep[order[q]!] = 0; }
      above += tied;
      j = e;
    }
    for (let i = 0; i < V; i++) if (!keep[i]) w[i] = 0;
  }
  let total = 0;
  for (let i = 0; i < V; i++) total += w[i]!;
  const target = u * total;
  let run = 0, last = 0;
  for (let i = 0; i < V; i++) {
    if (w[i]! <= 0) continue;
    run += w[i]!;
    last = i;
    if (run > target) return i;
  }
  return last;
}

const M0 = 0xd2511f53n, M1 = 0xcd9e8d57n, W0 = 0x9e3779b9, W1 = 0xbb67ae85;
const MASK = 0xffffffffn;

/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): the block
 * of four 32-bit words for a 128-bit counter and a 64-bit key.
 *
 * @example Known-answer test (Random123's `kat_vectors`)
 * ```ts
 * import assert from "node:assert/strict";
 * import { philox4x32 } from "./sampling.ts";
 * assert.deepEqual(philox4x32([0, 0, 0, 0], [0, 0]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
 * ```
 *
 * @param counter Four u32 words.
 * @param key Two u32 words.
 * @returns Four u32 words.
 */
export function philox4x32(
  counter: readonly [number, number, number, number],
  key: readonly [number, number],
): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((x) => x >>> 0) as [number, number, number, number];
  let [k0, k1] = key.map((x) => x >>> 0) as [number, number];
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const p0 = M0 * BigInt(c0), p1 = M1 * BigInt(c2);
    const hi0 = Number(p0 >> 32n), lo0 = Number(p0 & MASK);
    const hi1 = Number(p1 >> 32n), lo1 = Number(p1 & MASK);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

/**
 * The uniform number in [0, 1) the sampling kernel uses for sequence `row` at generation step
 * `step` under `seed`: the first word of Philox4x32-10 at counter (step, row, 0, 0) and key
 * (seed mod 2³², ⌊seed / 2³²⌋), top 24 bits, times 2⁻²⁴ (exact in f32).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { samplingUniform } from "./sampling.ts";
 * const u = samplingUniform(42, 0, 0);
 * assert.ok(u >= 0 && u < 1 && u === samplingUniform(42, 0, 0) && u !== samplingUniform(42, 1, 0));
 * ```
 *
 * @param seed A non-negative safe integer.
 * @param step The generation step (0 for the first new token).
 * @param row The sequence in the batch.
 * @returns u.
 */
export function samplingUniform(seed: number, step: number, row: number): number {
  const x = philox4x32([step, row, 0, 0], [seed % 2 ** 32, Math.floor(seed / 2 ** 32)])[0];
  return (x >>> 8) / 2 ** 24;
}
