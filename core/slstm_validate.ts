/**
 * Checks of sLSTM inputs, output gradients and options (SPEC §8 shapes), with messages that name
 * the argument and the expected shape, and random inputs for tests and benchmarks.
 *
 * @module
 */

import { assertTensor, formatShape, type Tensor } from "./tensor.ts";
import type { TensorLike } from "./types.ts";
import { assertFinite, isCpuTensor } from "./validate.ts";
import type { SlstmInputs, SlstmOptions } from "./slstm_types.ts";
import type { Random } from "./random.ts";
import { randomTensor } from "./random.ts";

/** Dimensions of an sLSTM problem. */
export interface SlstmDims {
  /** Batch size. */
  B: number;
  /** Sequence length. */
  S: number;
  /** Heads. */
  NH: number;
  /** Head size. */
  DH: number;
  /** Whether initial states (all four) were given. */
  hasInitialStates: boolean;
}

/** The names of the initial states, in the order y, c, n, m. */
export const SLSTM_STATE_NAMES = ["yInitial", "cInitial", "nInitial", "mInitial"] as const;

function tensorLike(t: unknown, name: string): asserts t is TensorLike {
  if (typeof t === "object" && t !== null && !("data" in t) && "shape" in t && "read" in t) {
    const shape = (t as { shape: unknown }).shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new TypeError(`Argument ${name} has an invalid shape ${JSON.stringify(shape)}`);
    }
    return;
  }
  assertTensor(t, name);
}

function expect(t: TensorLike, name: string, shape: readonly number[], labels: string): void {
  if (t.shape.length !== shape.length || !t.shape.every((d, j) => d === shape[j])) {
    throw new RangeError(
      `Argument ${name} must have shape ${labels} = ${formatShape(shape)}, received ${
        formatShape(t.shape)
      }`,
    );
  }
}

/**
 * Checks the options of an sLSTM pass: `dtype` "f32" or "f16", `rStorage` one of its names.
 *
 * @example
 * ```ts
 * import { validateSlstmOptions } from "./slstm_validate.ts";
 * validateSlstmOptions({ dtype: "f16", rStorage: "global" });
 * ```
 *
 * @param options The options.
 * @throws {TypeError | RangeError} Naming the option and the value received.
 */
export function validateSlstmOptions(options: SlstmOptions): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Argument options must be an object, received ${options}`);
  }
  const { dtype, rStorage } = options;
  if (dtype !== undefined && dtype !== "f32" && dtype !== "f16") {
    throw new RangeError(`Option dtype must be "f32" or "f16", received ${JSON.stringify(dtype)}`);
  }
  const storages = ["auto", "registers", "workgroup", "workgroup-f16", "global", "global-f16"];
  if (rStorage !== undefined && !storages.includes(rStorage)) {
    throw new RangeError(
      `Option rStorage must be one of ${storages.map((s) => `"${s}"`).join(", ")}, received ${
        JSON.stringify(rStorage)
      }`,
    );
  }
}

/**
 * Checks the inputs and options of an sLSTM pass and returns the problem dimensions: wx
 * (B, S, 4, NH, DH), r (NH, DH, 4, DH), bias (NH, 4, DH), initial states (B, NH, DH) all four or
 * none. Runs before anything reaches a GPU.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateSlstmInputs } from "./slstm_validate.ts";
 * const z = (...shape: number[]) => ({ shape, data: new Float64Array(shape.reduce((a, b) => a * b, 1)) });
 * const dims = validateSlstmInputs({ wx: z(2, 5, 4, 3, 6), r: z(3, 6, 4, 6), bias: z(3, 4, 6) });
 * assert.ok(dims.S === 5 && dims.DH === 6 && !dims.hasInitialStates);
 * assert.throws(() => validateSlstmInputs({ wx: z(2, 5, 4, 3, 6), r: z(3, 6, 4, 5), bias: z(3, 4, 6) }), {
 *   message: "Argument r must have shape (NH, DH, 4, DH) = (3, 6, 4, 6), received (3, 6, 4, 5)",
 * });
 * ```
 *
 * @param inputs wx, r, bias and optional initial states.
 * @param options Options to check.
 * @returns B, S, NH, DH and whether initial states were given.
 * @throws {TypeError | RangeError} Naming the argument, the expected and the received shape.
 */
export function validateSlstmInputs(inputs: SlstmInputs, options: SlstmOptions = {}): SlstmDims {
  if (typeof inputs !== "object" || inputs === null) {
    throw new TypeError(
      "Argument inputs must be an object { wx, r, bias, yInitial?, cInitial?, nInitial?, mInitial? }",
    );
  }
  for (const name of ["wx", "r", "bias"] as const) {
    if (inputs[name] === undefined) {
      throw new TypeError(`Argument ${name} is missing: inputs need wx, r and bias`);
    }
    tensorLike(inputs[name], name);
  }
  const { wx, r, bias } = inputs;
  if (wx.shape.length !== 5 || wx.shape[2] !== 4) {
    throw new RangeError(
      `Argument wx must have shape (B, S, 4, NH, DH) (gates i, f, z, o), received ${
        formatShape(wx.shape)
      }`,
    );
  }
  const [B, S, , NH, DH] = wx.shape as [number, number, number, number, number];
  if (B < 1 || S < 1 || NH < 1 || DH < 1) {
    throw new RangeError(
      `Argument wx must have B, S, NH, DH >= 1, received shape ${formatShape(wx.shape)}`,
    );
  }
  expect(r, "r", [NH, DH, 4, DH], "(NH, DH, 4, DH)");
  expect(bias, "bias", [NH, 4, DH], "(NH, 4, DH)");
  const given = SLSTM_STATE_NAMES.filter((n) => inputs[n] !== undefined);
  if (given.length !== 0 && given.length !== 4) {
    const missing = SLSTM_STATE_NAMES.filter((n) => !given.includes(n));
    throw new TypeError(
      `Initial states must be given together: missing ${missing.join(", ")} (each (B, NH, DH) = ${
        formatShape([B, NH, DH])
      })`,
    );
  }
  for (const name of given) {
    tensorLike(inputs[name], name);
    expect(inputs[name]!, name, [B, NH, DH], "(B, NH, DH)");
  }
  validateSlstmOptions(options);
  if (options.checkFinite) {
    for (const name of ["wx", "r", "bias", ...SLSTM_STATE_NAMES] as const) {
      const t = inputs[name];
      if (t !== undefined && isCpuTensor(t)) assertFinite(t, name);
    }
  }
  return { B, S, NH, DH, hasInitialStates: given.length === 4 };
}

/**
 * Checks an output gradient dy against the problem: (B, S, NH, DH).
 *
 * @example
 * ```ts
 * import { validateSlstmDy } from "./slstm_validate.ts";
 * validateSlstmDy({ shape: [1, 2, 3, 4], data: new Float64Array(24) }, { B: 1, S: 2, NH: 3, DH: 4, hasInitialStates: false });
 * ```
 *
 * @param dy The output gradient.
 * @param dims The problem's dimensions.
 * @throws {TypeError | RangeError} Naming dy and the expected shape.
 */
export function validateSlstmDy(dy: TensorLike, dims: SlstmDims): void {
  if (dy === undefined) throw new TypeError("Argument dy is missing: backward needs dL/dy");
  tensorLike(dy, "dy");
  expect(dy, "dy", [dims.B, dims.S, dims.NH, dims.DH], "(B, S, NH, DH)");
}

/** How {@linkcode randomSlstmInputs} draws its tensors. */
export interface RandomSlstmConfig {
  /** Batch size. */
  B: number;
  /** Sequence length. */
  S: number;
  /** Heads. */
  NH: number;
  /** Head size. */
  DH: number;
  /** Also draw initial states (y, c normal; n uniform in [0.5, 2]; m normal). @default {false} */
  states?: boolean;
  /** Mean of the input gate's wx (hot gates: large). @default {0} */
  iMean?: number;
  /** Mean of the forget gate's wx. @default {0} */
  fMean?: number;
  /** Standard deviation of r's entries. @default {1/√DH} */
  rStd?: number;
}

/**
 * Random float64 sLSTM inputs: wx standard normal (i and f shifted by `iMean`, `fMean`), r normal
 * with standard deviation 1/√DH, bias normal with standard deviation 0.5.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Random } from "./random.ts";
 * import { randomSlstmInputs } from "./slstm_validate.ts";
 * const x = randomSlstmInputs({ B: 1, S: 3, NH: 2, DH: 5, states: true }, new Random(0));
 * assert.ok(x.wx.shape.join() === "1,3,4,2,5" && x.mInitial!.shape.join() === "1,2,5");
 * ```
 *
 * @param config Shapes and gate means.
 * @param rng The generator.
 * @returns The inputs (CPU tensors, float64).
 */
export function randomSlstmInputs(config: RandomSlstmConfig, rng: Random): SlstmInputs<Tensor> {
  const { B, S, NH, DH, iMean = 0, fMean = 0 } = config;
  const wx = randomTensor([B, S, 4, NH, DH], rng);
  const per = NH * DH;
  for (let bt = 0; bt < B * S; bt++) {
    for (let j = 0; j < per; j++) {
      wx.data[bt * 4 * per + j] += iMean;
      wx.data[bt * 4 * per + per + j] += fMean;
    }
  }
  const r = randomTensor([NH, DH, 4, DH], rng, { std: config.rStd ?? 1 / Math.sqrt(DH) });
  const bias = randomTensor([NH, 4, DH], rng, { std: 0.5 });
  const out: SlstmInputs<Tensor> = { wx, r, bias };
  if (config.states) {
    out.yInitial = randomTensor([B, NH, DH], rng, { std: 0.5 });
    out.cInitial = randomTensor([B, NH, DH], rng);
    out.nInitial = randomTensor([B, NH, DH], rng, { dist: "uniform", mean: 1.25, std: 0.75 });
    out.mInitial = randomTensor([B, NH, DH], rng);
  }
  return out;
}
