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
