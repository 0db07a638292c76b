/**
 * Random mLSTM inputs for tests, demos and notebooks: q, k, v normal, gate pre-activations with
 * chosen offsets ("cold" gates near 0, "hot" gates as in the SPEC's stress cases), optional states.
 *
 * @module
 */

import { type Random, randomTensor } from "./random.ts";
import type { Tensor } from "./tensor.ts";
import type { MlstmInputs } from "./types.ts";

/** Shape and gate settings of {@linkcode randomMlstmInputs}. */
export interface RandomInputsConfig {
  /** Batch size. */
  B: number;
  /** Heads. */
  NH: number;
  /** Sequence length. */
  S: number;
  /** Query/key head dimension. */
  DQK: number;
  /** Value head dimension. */
  DHV: number;
  /** Mean of the input-gate pre-activations. @default {0} */
  iMean?: number;
  /** Mean of the forget-gate pre-activations. @default {3} */
  fMean?: number;
  /** Spread (std) of the gate pre-activations. @default {1} */
  gateStd?: number;
  /** Standard deviation of q, k, v. @default {1} */
  qkvStd?: number;
  /** Also draw initial states (C, n normal; m normal around 0). @default {false} */
  withInitialStates?: boolean;
}

/**
 * Draws float64 mLSTM inputs. Hot gates: `{ iMean: 20 }` or `{ fMean: -10 }` or `{ fMean: 10 }`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Random, randomMlstmInputs } from "../mod.ts";
 * const x = randomMlstmInputs({ B: 2, NH: 3, S: 5, DQK: 4, DHV: 6, withInitialStates: true }, new Random(1));
 * assert.ok(x.cInitial!.shape.join() === "2,3,4,6" && x.mInitial!.shape.join() === "2,3");
 * ```
 *
 * @param config Shapes and gate settings.
 * @param rng The generator.
 * @returns The inputs (CPU float64 tensors).
 */
export function randomMlstmInputs(config: RandomInputsConfig, rng: Random): MlstmInputs<Tensor> {
  const { B, NH, S, DQK, DHV, iMean = 0, fMean = 3, gateStd = 1, qkvStd = 1 } = config;
  const x: MlstmInputs<Tensor> = {
    q: randomTensor([B, NH, S, DQK], rng, { std: qkvStd }),
    k: randomTensor([B, NH, S, DQK], rng, { std: qkvStd }),
    v: randomTensor([B, NH, S, DHV], rng, { std: qkvStd }),
    i: randomTensor([B, NH, S], rng, { mean: iMean, std: gateStd }),
    f: randomTensor([B, NH, S], rng, { mean: fMean, std: gateStd }),
  };
  if (config.withInitialStates) {
    x.cInitial = randomTensor([B, NH, DQK, DHV], rng, { std: 0.5 });
    x.nInitial = randomTensor([B, NH, DQK], rng, { std: 0.5 });
    x.mInitial = randomTensor([B, NH], rng, { std: 1 });
  }
  return x;
}

/**
 * Steps `from` (inclusive) to `to` (exclusive) of a (B, NH, S, ...) tensor, along S: how a long
 * sequence is fed to a kernel in pieces (with the last states of one piece as the next one's
 * initial states).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sliceSequence } from "../mod.ts";
 * const t = { shape: [1, 1, 4, 2], data: new Float64Array([0, 1, 2, 3, 4, 5, 6, 7]) };
 * assert.deepEqual([...sliceSequence(t, 1, 3).data], [2, 3, 4, 5]);
 * ```
 *
 * @param t A tensor of rank ≥ 3 with the sequence on axis 2.
 * @param from First step.
 * @param to One past the last step.
 * @returns A new float64 tensor (B, NH, to − from, ...).
 * @throws {RangeError} If the range is empty or outside [0, S].
 */
export function sliceSequence(t: Tensor, from: number, to: number): Tensor {
  const [B, NH, S] = t.shape as [number, number, number];
  if (
    t.shape.length < 3 || !(Number.isInteger(from) && Number.isInteger(to)) || from < 0 || to > S ||
    from >= to
  ) {
    throw new RangeError(
      `Cannot slice steps [${from}, ${to}) of a tensor of shape (${t.shape.join(", ")})`,
    );
  }
  const inner = t.shape.slice(3).reduce((a, b) => a * b, 1);
  const out = new Float64Array(B * NH * (to - from) * inner);
  for (let bh = 0; bh < B * NH; bh++) {
    out.set(
      t.data.subarray((bh * S + from) * inner, (bh * S + to) * inner),
      bh * (to - from) * inner,
    );
  }
  return { shape: [B, NH, to - from, ...t.shape.slice(3)], data: out };
}

/**
 * Steps `from` to `to` of q, k, v, i, f (initial states are not carried over: pass the previous
 * piece's last states).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Random, randomMlstmInputs, sliceMlstmInputs } from "../mod.ts";
 * const x = randomMlstmInputs({ B: 1, NH: 2, S: 10, DQK: 4, DHV: 4 }, new Random(0));
 * assert.deepEqual(sliceMlstmInputs(x, 4, 10).v.shape, [1, 2, 6, 4]);
 * ```
 *
 * @param x The inputs.
 * @param from First step.
 * @param to One past the last step.
 * @returns The sliced q, k, v, i, f.
 */
export function sliceMlstmInputs(
  x: MlstmInputs<Tensor>,
  from: number,
  to: number,
): MlstmInputs<Tensor> {
  return {
    q: sliceSequence(x.q, from, to),
    k: sliceSequence(x.k, from, to),
    v: sliceSequence(x.v, from, to),
    i: sliceSequence(x.i, from, to),
    f: sliceSequence(x.f, from, to),
  };
}
