/**
 * Input validation shared by every kernel: shapes, dtypes, options. Each error names the
 * argument, the expected and the received shape, before anything reaches the GPU.
 *
 * @module
 */

import { validateDocumentStarts } from "./documents.ts";
import { assertTensor, formatShape, sizeOf, type Tensor } from "./tensor.ts";
import type { InputGate, MlstmInputs, MlstmOptions, TensorLike } from "./types.ts";

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

function expectPositive(t: TensorLike, name: string, labels: readonly string[]): void {
  t.shape.forEach((d, j) => {
    if (d < 1) {
      throw new RangeError(
        `Argument ${name} must have ${labels[j]} >= 1, received shape ${formatShape(t.shape)}`,
      );
    }
  });
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
 * @example An unknown input or option names the nearest valid one
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateMlstmInputs } from "./validate.ts";
 * const z = (...shape: number[]) => ({ shape, data: new Float64Array(shape.reduce((a, b) => a * b, 1)) });
 * const x = { q: z(1, 1, 2, 4), k: z(1, 1, 2, 4), v: z(1, 1, 2, 4), i: z(1, 1, 2), f: z(1, 1, 2) };
 * assert.throws(() => validateMlstmInputs({ ...x, c_initial: z(1, 1, 4, 4) } as never),
 *   { message: "Unknown input c_initial: did you mean cInitial?" });
 * assert.throws(() => validateMlstmInputs(x, { chunk_size: 16 } as never),
 *   { message: "Unknown option chunk_size: did you mean chunkSize?" });
 * ```
 *
 * @param inputs q, k, v, i, f and optional initial states.
 * @param options Options to check: every key and type (see {@linkcode validateOptions}).
 * @param context The kernel's input gate, name and own option keys, where known (see
 *   {@linkcode validateOptions}).
 * @returns B, NH, S, DQK, DHV and whether initial states were given.
 * @throws {TypeError | RangeError} Naming the argument, the expected and the received shape;
 *   naming an unknown input or option key and the nearest valid one.
 */
export function validateMlstmInputs(
  inputs: MlstmInputs,
  options: MlstmOptions = {},
  context: OptionContext = {},
): MlstmDims {
  if (typeof inputs !== "object" || inputs === null) {
    throw new TypeError("Argument inputs must be an object { q, k, v, i, f, cInitial?, ... }");
  }
  checkKeys(inputs, INPUT_NAMES, "input");
  for (const name of ["q", "k", "v", "i", "f"] as const) {
    if (inputs[name] === undefined) {
      throw new TypeError(`Argument ${name} is missing: inputs need q, k, v, i and f`);
    }
    checkTensorLike(inputs[name], name);
  }
  const { q, k, v, i, f } = inputs;
  expectRank(q, "q", 4, "(B, NH, S, DQK)");
  const [B, NH, S, DQK] = q.shape as [number, number, number, number];
  expectPositive(q, "q", ["B", "NH", "S", "DQK"]);
  expectShape(k, "k", [B, NH, S, DQK], "(B, NH, S, DQK)");
  expectRank(v, "v", 4, "(B, NH, S, DHV)");
  const DHV = v.shape[3]!;
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
  validateOptions(options, context);
  validateDocumentStarts(options.documentStarts, B, S);
  if (options.checkFinite) {
    for (const name of ["q", "k", "v", "i", "f", "cInitial", "nInitial", "mInitial"] as const) {
      const t = inputs[name];
      if (t === undefined || !isCpuTensor(t)) continue;
      assertFinite(t, name);
      if (context.backend === "webgpu") {
        const qkv = name === "q" || name === "k" || name === "v";
        assertStorable(t, name, qkv ? options.dtype ?? "f32" : "f32");
      }
    }
  }
  return { B, NH, S, DQK, DHV, hasInitialStates: given.length === 3 };
}

/** The names of {@linkcode MlstmInputs}' fields. */
const INPUT_NAMES = ["q", "k", "v", "i", "f", "cInitial", "nInitial", "mInitial"] as const;

/** How each option of {@linkcode MlstmOptions} is checked; a missing entry fails type-checking. */
const OPTION_CHECKS: { readonly [K in keyof Required<MlstmOptions>]: (v: unknown) => string } = {
  returnLastStates: (v) => typeof v === "boolean" ? "" : "a boolean",
  eps: (v) => typeof v === "number" && Number.isFinite(v) && v >= 0 ? "" : "a finite number >= 0",
  chunkSize: (v) => Number.isSafeInteger(v) && (v as number) > 0 ? "" : "a positive integer",
  normalize: (v) => typeof v === "boolean" ? "" : "a boolean",
  checkFinite: (v) => typeof v === "boolean" ? "" : "a boolean",
  gradient: (v) =>
    v === "exact" || v === "normalizer-constant" ? "" : '"exact" or "normalizer-constant"',
  dtype: (v) => v === "f32" || v === "f16" ? "" : '"f32" or "f16"',
  // Checked against the inputs' B and S by validateDocumentStarts (core/documents.ts).
  documentStarts: () => "",
};

/** The names of {@linkcode MlstmOptions}' fields. */
export const MLSTM_OPTION_NAMES: readonly (keyof MlstmOptions)[] = Object.keys(
  OPTION_CHECKS,
) as (keyof MlstmOptions)[];

/** What a kernel adds to the checks of its options: its input gate, its name, its own options. */
export interface OptionContext {
  /** The kernel's input gate, where known: the exponential gate rejects `normalize: false`. */
  readonly inputGate?: InputGate;
  /** The kernel's name, for messages. @default {"The exponential input gate"} */
  readonly name?: string;
  /**
   * Where the kernel runs: for `"webgpu"`, `checkFinite` also names CPU values that are finite in
   * float64 but would overflow to ±Infinity on upload (beyond f32, or beyond f16 for q, k, v, dh
   * with `dtype: "f16"`). @default {"cpu-float64"}
   */
  readonly backend?: "cpu-float64" | "webgpu";
  /** Option keys the kernel takes beyond {@linkcode MlstmOptions}' (checked by the kernel). @default {[]} */
  readonly extraOptions?: readonly string[];
}

/** Edit distance (insertions, deletions, substitutions), case and `_`/`-` ignored. */
function distance(a: string, b: string): number {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, "");
  const x = norm(a), y = norm(b);
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      row[j] = Math.min(
        prev[j]! + 1,
        row[j - 1]! + 1,
        prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[y.length]!;
}

/**
 * The valid name nearest to `key` (case and underscores ignored), if it is near enough to be a
 * misspelling (at most a third of the key's letters differ), else undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nearestName } from "./validate.ts";
 * assert.equal(nearestName("returnLastState", ["eps", "returnLastStates"]), "returnLastStates");
 * assert.equal(nearestName("zzz", ["eps", "returnLastStates"]), undefined);
 * ```
 *
 * @param key The unknown name.
 * @param valid The valid names.
 * @returns The nearest valid name, or undefined.
 */
export function nearestName(key: string, valid: readonly string[]): string | undefined {
  let best: string | undefined, bestD = Infinity;
  for (const v of valid) {
    const d = distance(key, v);
    if (d < bestD) [best, bestD] = [v, d];
  }
  return bestD <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

/**
 * Throws for a key of `obj` outside `valid`, naming it and the nearest valid one ("Unknown option
 * chunk_size: did you mean chunkSize?"), or listing the valid ones when none is near.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkKeys } from "./validate.ts";
 * assert.throws(() => checkKeys({ normalise: false }, ["normalize", "eps"], "option"),
 *   { name: "TypeError", message: "Unknown option normalise: did you mean normalize?" });
 * assert.throws(() => checkKeys({ zz: 1 }, ["normalize", "eps"], "option"),
 *   { message: "Unknown option zz: the options are normalize, eps" });
 * ```
 *
 * @param obj The object whose keys are checked.
 * @param valid The valid keys.
 * @param what What a key is, for the message ("option", "input").
 * @throws {TypeError} For the first unknown key.
 */
export function checkKeys(obj: object, valid: readonly string[], what: string): void {
  for (const key of Object.keys(obj)) {
    if (valid.includes(key)) continue;
    const near = nearestName(key, valid);
    throw new TypeError(
      near !== undefined
        ? `Unknown ${what} ${key}: did you mean ${near}?`
        : `Unknown ${what} ${key}: the ${what}s are ${valid.join(", ")}`,
    );
  }
}

function show(v: unknown): string {
  return typeof v === "string"
    ? JSON.stringify(v)
    : Array.isArray(v)
    ? JSON.stringify(v)
    : String(v);
}

/**
 * Checks the options of an mLSTM pass, the same for every kernel (references, WebGPU kernels,
 * backend, backward): every key must be one of {@linkcode MlstmOptions}' (an unknown key is
 * named with the nearest valid one), and every value of its type, strictly (`normalize: "false"`
 * or `0` is rejected, not coerced; `dtype` is `"f32"` or `"f16"`). An option given as `undefined`
 * takes its default. A kernel's own options (`context.extraOptions`) are accepted and left to it.
 * With the exponential input gate (`context.inputGate`), `normalize: false` is an error: that
 * gate always normalizes, and every kernel says so, forward and backward alike.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateOptions } from "./validate.ts";
 * validateOptions({ chunkSize: 64, eps: 1e-6 });
 * assert.throws(() => validateOptions({ returnLastState: true } as never),
 *   { message: "Unknown option returnLastState: did you mean returnLastStates?" });
 * assert.throws(() => validateOptions({ dtype: "float16" } as never),
 *   { message: 'Option dtype must be "f32" or "f16", received "float16"' });
 * assert.throws(() => validateOptions({ normalize: false }, { inputGate: "exp" }), {
 *   message: "The exponential input gate always normalizes: drop normalize: false, which only the sigmoid-gate kernels take",
 * });
 * ```
 *
 * @param options The options.
 * @param context The kernel's input gate, name and own option keys, where known.
 * @throws {TypeError} For an unknown key, a value of the wrong type, or `normalize: false` with
 *   the exponential gate.
 * @throws {RangeError} For a value of the right type out of range or outside its set (`chunkSize`
 *   0, `eps` -1, `dtype` "float16", `gradient` "autograd").
 */
export function validateOptions(options: MlstmOptions, context: OptionContext = {}): void {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(`Argument options must be an object, received ${show(options)}`);
  }
  const extra = context.extraOptions ?? [];
  checkKeys(
    options,
    extra.length ? [...MLSTM_OPTION_NAMES, ...extra] : MLSTM_OPTION_NAMES,
    "option",
  );
  for (const [key, check] of Object.entries(OPTION_CHECKS)) {
    const v = (options as Record<string, unknown>)[key];
    if (v === undefined) continue;
    const expected = check(v);
    if (expected === "") continue;
    // The right JS type outside the allowed set or range is a RangeError (chunkSize 0, dtype
    // "float16"); the wrong type a TypeError (normalize "false", chunkSize "64").
    const numeric = key === "eps" || key === "chunkSize";
    const textual = key === "gradient" || key === "dtype";
    const rightType = (numeric && typeof v === "number") || (textual && typeof v === "string");
    const E = rightType ? RangeError : TypeError;
    throw new E(`Option ${key} must be ${expected}, received ${show(v)}`);
  }
  if (context.inputGate === "exp" && options.normalize === false) {
    throw new TypeError(
      `${
        context.name === undefined
          ? "The exponential input gate always normalizes"
          : `${context.name} always normalizes (exponential input gate)`
      }: drop normalize: false, which only the sigmoid-gate kernels take`,
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

/** Largest finite f32; values at or beyond the rounding midpoint above it become ±Infinity. */
const F32_MAX = 3.4028234663852886e38;
/** The limits of rounding to ±Infinity: half an ulp above the largest finite value. */
const OVERFLOW = { f32: F32_MAX + 2 ** 103, f16: 65520 } as const;
const FINITE_MAX = { f32: F32_MAX, f16: 65504 } as const;

/**
 * Throws if a CPU tensor holds a value that is finite but would become ±Infinity when stored on
 * the device as `dtype` (|x| beyond 3.4028234663852886e38 for f32, 65504 for f16), naming the
 * argument, the value, its index and the range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { assertStorable } from "./validate.ts";
 * assertStorable({ shape: [2], data: new Float64Array([1, 6e4]) }, "q", "f16");
 * assert.throws(() => assertStorable({ shape: [2], data: new Float64Array([1, 1e39]) }, "i", "f32"), {
 *   message: "Argument i (2) holds 1e+39 at flat index 1, beyond the f32 range " +
 *     "(|x| <= 3.4028234663852886e+38) of its device storage: it would become Infinity on upload",
 * });
 * ```
 *
 * @param t The tensor.
 * @param name Its name in the message.
 * @param dtype Its storage type on the device.
 * @throws {RangeError} For the first value out of range.
 */
export function assertStorable(t: Tensor, name: string, dtype: "f32" | "f16"): void {
  const lim = OVERFLOW[dtype];
  const d = t.data;
  for (let j = 0; j < d.length; j++) {
    const x = d[j]!;
    if (Math.abs(x) >= lim && Number.isFinite(x)) {
      throw new RangeError(
        `Argument ${name} ${
          formatShape(t.shape)
        } holds ${x} at flat index ${j}, beyond the ${dtype} range (|x| <= ${
          FINITE_MAX[dtype]
        }) of its device storage: it would become ${x > 0 ? "" : "-"}Infinity on upload`,
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
  // The step layout's own names; without states the caller holds MlstmInputs and checks those.
  if (withStates) checkKeys(x, names, "input");
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
  expectPositive(x.q, "q", ["B", "NH", "DQK"]);
  expectPositive(x.v, "v", ["B", "NH", "DHV"]);
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
 * @param options With `checkFinite`, a CPU dh must be finite (and, for a WebGPU kernel, within
 *   the range of its storage type `dtype`); a device dh is the kernel's to read back and check.
 * @param context Where the kernel runs (see {@linkcode OptionContext}).
 * @throws {RangeError} If the shape differs or a checked value is not finite or storable.
 */
export function validateDh(
  dh: TensorLike,
  dims: MlstmDims,
  options: MlstmOptions = {},
  context: OptionContext = {},
): void {
  checkTensorLike(dh, "dh");
  expectShape(dh, "dh", [dims.B, dims.NH, dims.S, dims.DHV], "(B, NH, S, DHV)");
  if (options.checkFinite && isCpuTensor(dh)) {
    assertFinite(dh, "dh");
    if (context.backend === "webgpu") assertStorable(dh, "dh", options.dtype ?? "f32");
  }
}

/** Number of elements of a tensor-like value. */
export function numel(t: TensorLike): number {
  return sizeOf(t.shape);
}
