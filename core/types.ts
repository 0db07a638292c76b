/**
 * The registry contract shared by the float64 references and the WebGPU kernels:
 * inputs, options, results, gradients and the kernel object.
 *
 * @module
 */

import type { Tensor } from "./tensor.ts";

/**
 * A tensor that lives on a GPU (implemented by the WebGPU runtime's `GpuTensor`).
 * Kernels given device tensors return device tensors; given CPU tensors, CPU tensors.
 */
export interface DeviceTensor {
  /** Extent of each dimension, outermost first. */
  readonly shape: readonly number[];
  /** Storage type on the device. */
  readonly dtype: "f32" | "f16";
  /** Copies the elements back to the CPU (one GPU round trip, ~11 ms in Deno). */
  read(): Promise<Tensor>;
}

/** A CPU tensor or a device tensor. */
export type TensorLike = Tensor | DeviceTensor;

/**
 * Inputs of an mLSTM forward pass (shapes in SPEC.md): q, k (B, NH, S, DQK); v (B, NH, S, DHV);
 * i, f (B, NH, S) gate pre-activations; optional initial states C (B, NH, DQK, DHV),
 * n (B, NH, DQK), m (B, NH) or (B, NH, 1), all three or none.
 */
export interface MlstmInputs<T = TensorLike> {
  /** Queries (B, NH, S, DQK). */
  q: T;
  /** Keys (B, NH, S, DQK). */
  k: T;
  /** Values (B, NH, S, DHV). */
  v: T;
  /** Input-gate pre-activations (B, NH, S). */
  i: T;
  /** Forget-gate pre-activations (B, NH, S). */
  f: T;
  /** Initial matrix memory (B, NH, DQK, DHV), stabilized convention. */
  cInitial?: T;
  /** Initial normalizer (B, NH, DQK), stabilized convention. */
  nInitial?: T;
  /** Initial stabilizer (B, NH) or (B, NH, 1); ignored by the sigmoid input gate. */
  mInitial?: T;
}

/** Which gradient a backward pass computes (SPEC §3). */
export type GradientConvention = "exact" | "normalizer-constant";

/**
 * Options of a forward or backward pass. Every kernel checks them alike (`validateOptions` in
 * core/validate.ts): an unknown key is an error naming the nearest valid one, and values must have
 * their type (no coercion: `normalize: "false"` is an error, not `true`).
 */
export interface MlstmOptions {
  /** Also return the last states (C, n, m). @default {false} */
  returnLastStates?: boolean;
  /** Added to the normalizer after the max. @default {1e-6} */
  eps?: number;
  /** Chunk size of the chunkwise forms (any positive integer for the reference). @default {64} */
  chunkSize?: number;
  /**
   * Sigmoid input gate only: divide by max(|q·n|, 1) + eps. The exponential-gate kernels always
   * normalize and reject `false` (forward and backward alike). @default {true}
   */
  normalize?: boolean;
  /** Throw if an input or output holds NaN or ±Infinity. @default {false} */
  checkFinite?: boolean;
  /** Backward only: the gradient convention. @default {"exact"} */
  gradient?: GradientConvention;
  /**
   * WebGPU kernels only: storage type of q, k, v and h on the device. `"f16"` halves their memory
   * traffic (needs `shader-f16`); arithmetic, accumulation, gates, states and gradients stay f32. For
   * device-tensor inputs their own dtype decides, and a different `dtype` option is an error.
   * @default {"f32"}
   */
  dtype?: "f32" | "f16";
  /**
   * Packed sequences: for each batch row, the positions (0 < t < S, strictly increasing) where a
   * new document starts. At each such t the states are replaced by zeros (C = 0, n = 0, m = 0)
   * before step t, exactly as if the document were run by a separate call from zero states; no
   * output, state or gradient crosses a document boundary. Initial states seed only the first
   * document of a row. `documentStartsFromOffsets` converts FLA-style cumulative sequence offsets
   * (`cu_seqlens`) for B = 1. @default {undefined} (one document per row)
   */
  documentStarts?: readonly (readonly number[])[];
}

/** The last states of a sequence, in the stabilized convention; they seed the next call. */
export interface MlstmStates<T = TensorLike> {
  /** Matrix memory (B, NH, DQK, DHV). */
  c: T;
  /** Normalizer (B, NH, DQK). */
  n: T;
  /** Stabilizer (B, NH); zeros for the sigmoid input gate. */
  m: T;
}

/** What a forward pass resolves to. */
export interface MlstmForwardResult<T = TensorLike> {
  /** Output (B, NH, S, DHV). */
  h: T;
  /** Last states, when `returnLastStates` was set. */
  last?: MlstmStates<T>;
}

/**
 * What a backward pass resolves to: the gradient of a loss with respect to each input. WebGPU
 * kernels return every gradient in f32, whatever the storage of the inputs (f16 gradients would
 * overflow or flush to zero silently).
 */
export interface MlstmGradients<T = TensorLike> {
  /** (B, NH, S, DQK) */
  dq: T;
  /** (B, NH, S, DQK) */
  dk: T;
  /** (B, NH, S, DHV) */
  dv: T;
  /** (B, NH, S) */
  di: T;
  /** (B, NH, S) */
  df: T;
  /** (B, NH, DQK, DHV), when initial states were given. */
  dcInitial?: T;
  /** (B, NH, DQK), when initial states were given. */
  dnInitial?: T;
  /** (B, NH), when initial states were given (exponential gate only). */
  dmInitial?: T;
}

/** The form of an mLSTM kernel. */
export type MlstmForm = "recurrent" | "parallel" | "chunkwise" | "step";

/** The input gate: exponential (mLSTMexp) or sigmoid (mLSTMsig). */
export type InputGate = "exp" | "sig";

/** A kernel as the registry hands it out. */
export interface MlstmKernel {
  /** Registry name, e.g. `"chunkwise--xl_chunk"` or `"reference--parallel"`. */
  readonly name: string;
  /** Where it runs. */
  readonly backend: "cpu-float64" | "webgpu";
  /** The form it computes. */
  readonly form: MlstmForm;
  /** The input gate. */
  readonly inputGate: InputGate;
  /** Whether it accepts initial states and returns last states. */
  readonly supportsStates: boolean;
  /** Runs the forward pass. */
  forward(inputs: MlstmInputs, options?: MlstmOptions): Promise<MlstmForwardResult>;
  /**
   * Runs the backward pass for the output gradient `dh`, where the kernel has one. It recomputes
   * what it needs from the inputs; for a kernel from the registry, a backward on the `inputs`
   * object of a forward call must get that forward's `eps`, `chunkSize`, `normalize` and `dtype`
   * (where they apply; a `TypeError` otherwise).
   */
  backward?(
    inputs: MlstmInputs,
    dh: TensorLike,
    options?: MlstmOptions,
  ): Promise<MlstmGradients>;
}
