/**
 * Input validation shared by every kernel: shapes, dtypes, options. Each error names the
 * argument, the expected and the received shape, before anything reaches the GPU.
 *
 * @module
 */

import { validateDocumentStarts } from "./documents.ts";
import { assertTensor, formatShape, sizeOf, type Tensor } from "./tensor.ts";
import type { MlstmInputs, MlstmOptions, TensorLike } from "./types.ts";

/** The problem dimensions read off validated inputs. */
export interface MlstmDims {
  /** Batch size. */
  B: number;
  /** Number of heads. */
  NH: number;
  /** Sequence length. */
  S: number;
  /** Query/key head dimension. */
  DQK: number;
  /** Value head dimension. */
  DHV: number;
  /** Whether initial states were given. */
  hasInitialStates: boolean;
}

/** Whether a tensor-like value is a CPU tensor (holds its data). */
export function isCpuTensor(t: TensorLike): t is Tensor {
  return "data" in t;
}

function checkTensorLike(t: unknown, name: string): asserts t is TensorLike {
  if (typeof t === "object" && t !== null && !("data" in t) && "shape" in t && "read" in t) {
    const shape = (t as { shape: unknown }).shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new TypeError(`Argument ${name} has an invalid shape ${JSON.stringify(shape)}`);
    }
    return;
  }
  assertTensor(t, name);
}

function expectShape(
  t: TensorLike,
  name: string,
  expected: readonly number[],
  labels: string,
): void {
  const ok = t.shape.length === expected.length && t.shape.every((d, j) => d === expected[j]);
  if (!ok) {
    throw new RangeError(
      `Argument ${name} must have shape ${labels} = ${formatShape(expected)}, received ${
        formatShape(t.shape)
      }`,
    );
  }
}

function expectRank(t: TensorLike, name: string, rank: number, labels: string): void {
  if (t.shape.length !== rank) {
    throw new RangeError(
      `Argument ${name} must have rank ${rank} ${labels}, received shape ${formatShape(t.shape)}`,
    );
  }
}

/**
 * Checks the inputs and options of an mLSTM pass and returns the problem dimensions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateMlstmInputs } from "./validate.ts";
 * const z = (...shape: number[]) => ({ shape, data: new Float64Array(shape.reduce((a, b) => a * b, 1)) });
 * const dims = validateMlstmInputs({ q: z(1, 2, 5, 4), k: z(1, 2, 5, 4), v: z(1, 2, 5, 8), i: z(1, 2, 5), f: z(1, 2, 5) });
 * assert.ok(dims.S === 5 && dims.DHV === 8 && !dims.hasInitialStates);
 * ```
 *
 * @param inputs q, k, v, i, f and optional initial states.
 * @param options Options to check (`chunkSize`, `eps`).
 * @returns B, NH, S, DQK, DHV and whether initial states were given.
 * @throws {TypeError | RangeError} Naming the argument, the expected and the received shape.
 */
export function validateMlstmInputs(
  inputs: MlstmInputs,
  options: MlstmOptions = {},
): MlstmDims {
  if (typeof inputs !== "object" || inputs === null) {
    throw new TypeError("Argument inputs must be an object { q, k, v, i, f, cInitial?, ... }");
  }
  for (const name of ["q", "k", "v", "i", "f"] as const) {
    if (inputs[name] === undefined) {
      throw new TypeError(`Argument ${name} is missing: inputs need q, k, v, i and f`);
    }
    checkTensorLike(inputs[name], name);
  }
  const { q, k, v, i, f } = inputs;
  expectRank(q, "q", 4, "(B, NH, S, DQK)");
  const [B, NH, S, DQK] = q.shape as [number, number, number, number];
  if (S < 1) {
    throw new RangeError(`Argument q must have S >= 1, received shape ${formatShape(q.shape)}`);
  }
  if (DQK < 1) {
    throw new RangeError(`Argument q must have DQK >= 1, received shape ${formatShape(q.shape)}`);
  }
  expectShape(k, "k", [B, NH, S, DQK], "(B, NH, S, DQK)");
  expectRank(v, "v", 4, "(B, NH, S, DHV)");
  const DHV = v.shape[3];
  if (DHV < 1) {
    throw new RangeError(`Argument v must have DHV >= 1, received shape ${formatShape(v.shape)}`);
  }
  expectShape(v, "v", [B, NH, S, DHV], "(B, NH, S, DHV)");
  expectShape(i, "i", [B, NH, S], "(B, NH, S)");
  expectShape(f, "f", [B, NH, S], "(B, NH, S)");

  const given = (["cInitial", "nInitial", "mInitial"] as const).filter((n) =>
    inputs[n] !== undefined
  );
  if (given.length !== 0 && given.length !== 3) {
    const expected = {
      cInitial: `(B, NH, DQK, DHV) = ${formatShape([B, NH, DQK, DHV])}`,
      nInitial: `(B, NH, DQK) = ${formatShape([B, NH, DQK])}`,
      mInitial: `(B, NH) = ${formatShape([B, NH])}`,
    };
    const missing = (["cInitial", "nInitial", "mInitial"] as const)
      .filter((n) => !given.includes(n))
      .map((n) => `${n} ${expected[n]}`);
    throw new TypeError(`Initial states must be given together: missing ${missing.join(" and ")}`);
  }
  if (given.length === 3) {
    checkTensorLike(inputs.cInitial, "cInitial");
    checkTensorLike(inputs.nInitial, "nInitial");
    checkTensorLike(inputs.mInitial, "mInitial");
    expectShape(inputs.cInitial, "cInitial", [B, NH, DQK, DHV], "(B, NH, DQK, DHV)");
    expectShape(inputs.nInitial, "nInitial", [B, NH, DQK], "(B, NH, DQK)");
    const m = inputs.mInitial;
    const okM = (m.shape.length === 2 && m.shape[0] === B && m.shape[1] === NH) ||
      (m.shape.length === 3 && m.shape[0] === B && m.shape[1] === NH && m.shape[2] === 1);
    if (!okM) {
      throw new RangeError(
        `Argument mInitial must have shape (B, NH) = ${
          formatShape([B, NH])
        } or (B, NH, 1), received ${formatShape(m.shape)}`,
      );
    }
  }
  validateOptions(options);
  validateDocumentStarts(options.documentStarts, B, S);
  if (options.checkFinite) {
    for (const name of ["q", "k", "v", "i", "f", "cInitial", "nInitial", "mInitial"] as const) {
      const t = inputs[name];
      if (t !== undefined && isCpuTensor(t)) assertFinite(t, name);
    }
  }
  return { B, NH, S, DQK, DHV, hasInitialStates: given.length === 3 };
}

/**
 * Checks option values: `chunkSize` a positive integer, `eps` a finite number ≥ 0.
 *
 * @example
 * ```ts
 * import { validateOptions } from "./validate.ts";
 * validateOptions({ chunkSize: 64, eps: 1e-6 });
 * ```
 *
 * @param options The options.
 * @throws {RangeError} Naming the option and the value received.
 */
export function validateOptions(options: MlstmOptions): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Argument options must be an object, received ${options}`);
  }
  const { chunkSize, eps, gradient } = options;
  if (chunkSize !== undefined && !(Number.isInteger(chunkSize) && chunkSize > 0)) {
    throw new RangeError(`Option chunkSize must be a positive integer, received ${chunkSize}`);
  }
  if (eps !== undefined && !(typeof eps === "number" && Number.isFinite(eps) && eps >= 0)) {
    throw new RangeError(`Option eps must be a finite number >= 0, received ${eps}`);
  }
  if (gradient !== undefined && gradient !== "exact" && gradient !== "normalizer-constant") {
    throw new RangeError(
      `Option gradient must be "exact" or "normalizer-constant", received ${
        JSON.stringify(gradient)
      }`,
    );
  }
}

/**
 * Throws if a CPU tensor holds NaN or ±Infinity, naming the first bad element.
 *
 * @example
 * ```ts
 * import { assertFinite } from "./validate.ts";
 * assertFinite({ shape: [2], data: new Float64Array([1, 2]) }, "q");
 * ```
 *
 * @param t The tensor.
 * @param name Its name in the message.
 * @throws {RangeError} If an element is not finite.
 */
export function assertFinite(t: Tensor, name: string): void {
  const d = t.data;
  for (let j = 0; j < d.length; j++) {
    if (!Number.isFinite(d[j])) {
      throw new RangeError(
        `Argument ${name} ${formatShape(t.shape)} holds a non-finite value ${
          d[j]
        } at flat index ${j}`,
      );
    }
  }
}

/** One time step's tensors (the layout of the step kernels): q (B, NH, DQK), v (B, NH, DHV), ... */
export interface StepShapesLike {
  /** (B, NH, DQK) */
  q: TensorLike;
  /** (B, NH, DQK) */
  k: TensorLike;
  /** (B, NH, DHV) */
  v: TensorLike;
  /** (B, NH) or (B, NH, 1) */
  i: TensorLike;
  /** (B, NH) or (B, NH, 1) */
  f: TensorLike;
  /** State C (B, NH, DQK, DHV), where the step takes its states here. */
  c?: TensorLike;
  /** State n (B, NH, DQK). */
  n?: TensorLike;
  /** State m (B, NH) or (B, NH, 1). */
  m?: TensorLike;
}

/**
 * Checks the shapes of one time step's tensors against q (B, NH, DQK) and v (B, NH, DHV): k, the
 * gates and, with `withStates`, the states c, n, m (all required then). Shapes only; data lengths
 * are the caller's (CPU tensors: {@linkcode assertTensor}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateStepShapes } from "./validate.ts";
 * const t = (...shape: number[]) => ({ shape, data: new Float64Array(shape.reduce((a, b) => a * b, 1)) });
 * const dims = validateStepShapes({ q: t(2, 3, 4), k: t(2, 3, 4), v: t(2, 3, 6), i: t(2, 3), f: t(2, 3, 1) }, false);
 * assert.deepEqual(dims, { B: 2, NH: 3, DQK: 4, DHV: 6 });
 * assert.throws(() => validateStepShapes({ q: t(2, 3, 4), k: t(2, 3, 5), v: t(2, 3, 6), i: t(2, 3), f: t(2, 3) }, false),
 *   { message: "Argument k must have shape (B, NH, DQK) = (2, 3, 4), received (2, 3, 5)" });
 * ```
 *
 * @param x The step's tensors.
 * @param withStates Whether c, n and m belong to the step (and must be given).
 * @returns The dimensions.
 * @throws {TypeError} If a required argument is missing.
 * @throws {RangeError} Naming the argument, the expected and the received shape.
 */
export function validateStepShapes(
  x: StepShapesLike,
  withStates: boolean,
): { B: number; NH: number; DQK: number; DHV: number } {
  const names = withStates
    ? ["q", "k", "v", "i", "f", "c", "n", "m"] as const
    : ["q", "k", "v", "i", "f"] as const;
  for (const name of names) {
    if (x[name] === undefined) {
      throw new TypeError(
        `Argument ${name} is missing: a step needs ${
          withStates ? "q, k, v, i, f, c, n and m" : "q, k, v, i and f"
        }`,
      );
    }
  }
  for (const [name, labels] of [["q", "(B, NH, DQK)"], ["v", "(B, NH, DHV)"]] as const) {
    expectRank(x[name], name, 3, labels);
  }
  const [B, NH, DQK] = x.q.shape as [number, number, number];
  const DHV = x.v.shape[2]!;
  expectShape(x.k, "k", [B, NH, DQK], "(B, NH, DQK)");
  expectShape(x.v, "v", [B, NH, DHV], "(B, NH, DHV)");
  if (withStates) {
    expectShape(x.c!, "c", [B, NH, DQK, DHV], "(B, NH, DQK, DHV)");
    expectShape(x.n!, "n", [B, NH, DQK], "(B, NH, DQK)");
  }
  const same = (t: TensorLike, e: readonly number[]) =>
    t.shape.length === e.length && t.shape.every((d, j) => d === e[j]);
  for (const name of withStates ? ["i", "f", "m"] as const : ["i", "f"] as const) {
    const t = x[name]!;
    if (!same(t, [B, NH]) && !same(t, [B, NH, 1])) {
      throw new RangeError(
        `Argument ${name} must have shape (B, NH) = ${
          formatShape([B, NH])
        } or (B, NH, 1), received ${formatShape(t.shape)}`,
      );
    }
  }
  return { B, NH, DQK, DHV };
}

/**
 * Checks that `dh` has the shape of h, (B, NH, S, DHV).
 *
 * @example
 * ```ts
 * import { validateDh } from "./validate.ts";
 * validateDh({ shape: [1, 1, 3, 2], data: new Float64Array(6) }, { B: 1, NH: 1, S: 3, DQK: 4, DHV: 2, hasInitialStates: false });
 * ```
 *
 * @param dh The output gradient.
 * @param dims The dimensions of the forward inputs.
 * @throws {RangeError} If the shape differs.
 */
export function validateDh(dh: TensorLike, dims: MlstmDims): void {
  checkTensorLike(dh, "dh");
  expectShape(dh, "dh", [dims.B, dims.NH, dims.S, dims.DHV], "(B, NH, S, DHV)");
}

/** Number of elements of a tensor-like value. */
export function numel(t: TensorLike): number {
  return sizeOf(t.shape);
}
