// Shared plumbing of the float64 references: gate math, reading inputs as Float64Arrays,
// per-head offsets. Not exported from mod.ts.

import type { Tensor } from "../core/tensor.ts";
import type { InputGate, MlstmInputs, MlstmOptions, TensorLike } from "../core/types.ts";
import {
  isCpuTensor,
  type MlstmDims,
  validateMlstmInputs,
  validateOptions,
} from "../core/validate.ts";

/** log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), stable for any x. */
export function logsig(x: number): number {
  return Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x)));
}

/** sigmoid(x), stable for any x. */
export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** The inputs as float64 arrays plus their dimensions. */
export interface F64Inputs extends MlstmDims {
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  i: Float64Array;
  f: Float64Array;
  c0?: Float64Array;
  n0?: Float64Array;
  m0?: Float64Array;
}

async function f64(t: TensorLike): Promise<Float64Array> {
  const cpu: Tensor = isCpuTensor(t) ? t : await t.read();
  return cpu.data instanceof Float64Array ? cpu.data : Float64Array.from(cpu.data);
}

/** Validates and widens the inputs (device tensors are read back). */
export async function readInputs(
  inputs: MlstmInputs,
  options: MlstmOptions,
): Promise<F64Inputs> {
  const dims = validateMlstmInputs(inputs, options);
  const out: F64Inputs = {
    ...dims,
    q: await f64(inputs.q),
    k: await f64(inputs.k),
    v: await f64(inputs.v),
    i: await f64(inputs.i),
    f: await f64(inputs.f),
  };
  if (dims.hasInitialStates) {
    out.c0 = await f64(inputs.cInitial!);
    out.n0 = await f64(inputs.nInitial!);
    out.m0 = await f64(inputs.mInitial!);
  }
  return out;
}

/** Reads a tensor-like value as float64 data. */
export const readF64 = f64;

/** Resolved numeric options. */
export interface Resolved {
  eps: number;
  gate: InputGate;
  normalize: boolean;
  scale: number;
}

/**
 * Fills defaults: eps 1e-6, normalize true, scale DQK^-1/2. The exponential gate always normalizes:
 * `normalize: false` with it is an error here as in every kernel.
 */
export function resolve(options: MlstmOptions, gate: InputGate, DQK: number): Resolved {
  validateOptions(options, { inputGate: gate });
  return {
    eps: options.eps ?? 1e-6,
    gate,
    normalize: gate === "exp" ? true : (options.normalize ?? true),
    scale: 1 / Math.sqrt(DQK),
  };
}

/** Throws if the output holds non-finite values and `checkFinite` is set. */
export function checkOutputs(options: MlstmOptions, named: Record<string, Tensor>): void {
  if (!options.checkFinite) return;
  for (const [name, t] of Object.entries(named)) {
    const j = t.data.findIndex((x) => !Number.isFinite(x));
    if (j >= 0) {
      throw new RangeError(
        `Output ${name} holds a non-finite value ${t.data[j]} at flat index ${j}: ` +
          "the inputs overflow float64 or are themselves non-finite",
      );
    }
  }
}

/** The lower bound of the normalizer: exp(-m) for the exponential gate, 1 for the sigmoid gate. */
export function lowerBound(gate: InputGate, m: number): number {
  return gate === "exp" ? Math.exp(-m) : 1;
}
