/**
 * The sLSTM registry contract (SPEC §8): inputs, options, results, gradients and the kernel object,
 * shared by the float64 reference and the WebGPU kernel.
 *
 * @module
 */

import type { TensorLike } from "./types.ts";

/**
 * Inputs of an sLSTM forward pass (SPEC §8): the input projections wx (B, S, 4, NH, DH) with the
 * gates in the order i, f, z, o; the per-head recurrent matrix r (NH, DH, 4, DH); the bias
 * (NH, 4, DH); optional initial states y, c, n, m (each (B, NH, DH)), all four or none (zeros
 * when not given).
 */
export interface SlstmInputs<T = TensorLike> {
  /** Input projections (B, S, 4, NH, DH), gates i, f, z, o. */
  wx: T;
  /** Recurrent matrix (NH, DH, 4, DH): raw_g[j] += Σ_d y[d]·r[h, d, g, j]. */
  r: T;
  /** Bias (NH, 4, DH). */
  bias: T;
  /** Output before the first step (B, NH, DH). */
  yInitial?: T;
  /** Cell state before the first step (B, NH, DH), stabilized convention. */
  cInitial?: T;
  /**
   * Normalizer before the first step (B, NH, DH), stabilized convention. Where it is all zero for a
   * (batch row, head), the first step takes m = raw_i (SPEC §8). Every n this cell produces is
   * positive, so the WebGPU kernel tests the rule at the first step only; the float64 reference
   * tests it at every step (they differ only for an initial n with negative entries that cancel).
   */
  nInitial?: T;
  /** Stabilizer before the first step (B, NH, DH). */
  mInitial?: T;
}

/** Where the WebGPU kernel keeps the recurrent matrix during its loop over time. */
export type SlstmRStorage =
  | "auto"
  | "registers"
  | "workgroup"
  | "workgroup-f16"
  | "global"
  | "global-f16";

/** Options of an sLSTM forward or backward pass. */
export interface SlstmOptions {
  /** Also return the last states (y, c, n, m). @default {false} */
  returnLastStates?: boolean;
  /**
   * WebGPU only: storage type of wx, y (and of dy, dwx in the backward) on the device. Arithmetic,
   * states, r, bias and their gradients stay f32. For device-tensor inputs the dtype of wx decides,
   * and a different `dtype` option is an error. @default {"f32"}
   */
  dtype?: "f32" | "f16";
  /** Throw if an input or output holds NaN or ±Infinity. @default {false} */
  checkFinite?: boolean;
  /**
   * WebGPU only: where r lives during the loop over time. `"registers"`: each thread holds its
   * slice of r (DH ≤ 64); `"workgroup"`: r in workgroup memory as f32 (4·DH²·4 bytes must fit the
   * device's limit: DH ≤ 48 under 48 KiB); `"workgroup-f16"`: r rounded to f16 in workgroup memory
   * (DH ≤ 64 under 48 KiB); `"global"`: r read from its storage buffer at every step (served by
   * the caches; any DH); `"global-f16"`: likewise from an f16 copy of r (half the bytes per step).
   * The f16 placements change the function: r is rounded to f16 (its gradient stays f32). `"auto"`
   * picks registers for DH ≤ 64, then workgroup; then, when `dtype` is f16, workgroup-f16 or
   * global-f16; else global. @default {"auto"}
   */
  rStorage?: SlstmRStorage;
}

/** The states of an sLSTM after a sequence (each (B, NH, DH)); they seed the next call. */
export interface SlstmStates<T = TensorLike> {
  /** Last output y_S. */
  y: T;
  /** Cell state c_S (stabilized). */
  c: T;
  /** Normalizer n_S (stabilized). */
  n: T;
  /** Stabilizer m_S. */
  m: T;
}

/** What an sLSTM forward pass resolves to. */
export interface SlstmForwardResult<T = TensorLike> {
  /** Output (B, S, NH, DH). */
  y: T;
  /** Last states, when `returnLastStates` was set. */
  last?: SlstmStates<T>;
}

/** Gradients of a loss with respect to every sLSTM input, given dL/dy. */
export interface SlstmGradients<T = TensorLike> {
  /** (B, S, 4, NH, DH) */
  dwx: T;
  /** (NH, DH, 4, DH) */
  dr: T;
  /** (NH, 4, DH) */
  dbias: T;
  /** (B, NH, DH), when initial states were given. */
  dyInitial?: T;
  /** (B, NH, DH), when initial states were given. */
  dcInitial?: T;
  /** (B, NH, DH), when initial states were given. */
  dnInitial?: T;
  /** (B, NH, DH), when initial states were given. */
  dmInitial?: T;
}

/** An sLSTM kernel as its registry hands it out. */
export interface SlstmKernel {
  /** Registry name: `"slstm--fused"` or `"reference--slstm"`. */
  readonly name: string;
  /** Where it runs. */
  readonly backend: "cpu-float64" | "webgpu";
  /** Runs the forward pass. */
  forward(inputs: SlstmInputs, options?: SlstmOptions): Promise<SlstmForwardResult>;
  /** Runs the backward pass for the output gradient `dy` (B, S, NH, DH), recomputing the forward. */
  backward(inputs: SlstmInputs, dy: TensorLike, options?: SlstmOptions): Promise<SlstmGradients>;
}
