/**
 * Float64 twin of the matrix-vector kernels (`kernels/layers/matvec.ts`):
 * `y[b, n] = Σ_k W[n, k] · x[b, k]`, optionally added to an existing y.
 *
 * @module
 */

import { formatShape, type Tensor } from "../core/tensor.ts";

/** Options of {@linkcode matvecReference}. */
export interface MatvecReferenceOptions {
  /** Bias (N) added to every row. */
  bias?: Tensor;
  /** (B, N) the result is added to (the "accumulate" epilogue). */
  y0?: Tensor;
  /** Soft cap: `cap·tanh(y/cap)` (the "softcap" epilogue). */
  cap?: number;
}

/**
 * `y = W·x (+ bias)` per batch row, then `y0 + y` or `cap·tanh(y/cap)` when asked, in float64.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { matvecReference } from "./matvec.ts";
 * const w = { shape: [2, 3], data: new Float64Array([1, 2, 3, 4, 5, 6]) };
 * const x = { shape: [1, 3], data: new Float64Array([1, 0, -1]) };
 * assert.deepEqual([...matvecReference(w, x).data], [-2, -2]);
 * ```
 *
 * @param w The weight (N, K).
 * @param x Activations (B, K).
 * @param options Bias, y0, cap.
 * @returns y (B, N), Float64Array data.
 * @throws {RangeError} If the shapes do not match.
 */
export function matvecReference(
  w: Tensor,
  x: Tensor,
  options: MatvecReferenceOptions = {},
): Tensor {
  const [N, K] = w.shape as [number, number];
  const [B, Kx] = x.shape as [number, number];
  if (w.shape.length !== 2 || x.shape.length !== 2 || K !== Kx) {
    throw new RangeError(
      `matvecReference needs w (N, K) and x (B, K), received ${formatShape(w.shape)} and ${
        formatShape(x.shape)
      }`,
    );
  }
  const { y0, bias, cap } = options;
  if (y0 && (y0.shape[0] !== B || y0.shape[1] !== N)) {
    throw new RangeError(`y0 must have shape (${B}, ${N}), received ${formatShape(y0.shape)}`);
  }
  if (bias && bias.data.length !== N) {
    throw new RangeError(`bias must have shape (${N}), received ${formatShape(bias.shape)}`);
  }
  const y = new Float64Array(B * N);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      let s = bias ? bias.data[n]! : 0;
      for (let k = 0; k < K; k++) s += w.data[n * K + k]! * x.data[b * K + k]!;
      if (cap !== undefined) s = cap * Math.tanh(s / cap);
      y[b * N + n] = (y0 ? y0.data[b * N + n]! : 0) + s;
    }
  }
  return { shape: [B, N], data: y };
}
