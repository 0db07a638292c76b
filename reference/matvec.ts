/**
 * Float64 twin of the matrix-vector kernels (`kernels/layers/matvec.ts`):
 * `y[b, n] = Σ_k W[n, k] · x[b, k]`, optionally added to an existing y.
 *
 * @module
 */

import { formatShape, type Tensor } from "../core/tensor.ts";

/**
 * `y = W·x` per batch row (or `y0 + W·x` when `y0` is given), in float64.
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
 * @param y0 Optional (B, N) to add the product to.
 * @returns y (B, N), Float64Array data.
 * @throws {RangeError} If the shapes do not match.
 */
export function matvecReference(w: Tensor, x: Tensor, y0?: Tensor): Tensor {
  const [N, K] = w.shape as [number, number];
  const [B, Kx] = x.shape as [number, number];
  if (w.shape.length !== 2 || x.shape.length !== 2 || K !== Kx) {
    throw new RangeError(
      `matvecReference needs w (N, K) and x (B, K), received ${formatShape(w.shape)} and ${
        formatShape(x.shape)
      }`,
    );
  }
  if (y0 && (y0.shape[0] !== B || y0.shape[1] !== N)) {
    throw new RangeError(`y0 must have shape (${B}, ${N}), received ${formatShape(y0.shape)}`);
  }
  const y = new Float64Array(B * N);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      let s = y0 ? y0.data[b * N + n]! : 0;
      for (let k = 0; k < K; k++) s += w.data[n * K + k]! * x.data[b * K + k]!;
      y[b * N + n] = s;
    }
  }
  return { shape: [B, N], data: y };
}
