/**
 * Float64 references of the layers around the mLSTM cell in xLSTM Large (the xLSTM 7B
 * architecture): token embedding, linear map, RMSNorm, per-head LayerNorm, soft cap, SwiGLU and
 * the sigmoid output gate. Each one computes in float64 from float32 or float64 inputs and
 * returns a new float64 tensor; the WebGPU layer kernels are checked against these.
 *
 * Shapes: activations are row-major `(..., features)`; a linear weight is `(out, in)` as in
 * PyTorch checkpoints.
 *
 * @module
 */

import { assertTensor, formatShape, sizeOf, type Tensor } from "../core/tensor.ts";

/** log(1 + exp(-|x|)) based stable sigmoid, identical to the cell references' helper. */
function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

function lastDim(t: Tensor, name: string): number {
  if (t.shape.length === 0) {
    throw new RangeError(`Argument ${name} must have at least one dimension, received a scalar`);
  }
  return t.shape[t.shape.length - 1];
}

function assertVector(t: Tensor | undefined, name: string, n: number): void {
  if (t === undefined) return;
  assertTensor(t, name);
  if (t.shape.length !== 1 || t.shape[0] !== n) {
    throw new RangeError(
      `Argument ${name} must have shape (${n}), received ${formatShape(t.shape)}`,
    );
  }
}

function assertEps(eps: number, name = "eps"): void {
  if (!Number.isFinite(eps) || eps < 0) {
    throw new RangeError(`Argument ${name} must be a finite number ≥ 0, received ${eps}`);
  }
}

/**
 * A linear map `y = x Wᵀ + b` in float64, with the weight in PyTorch's `(out, in)` layout.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linearReference } from "./layers.ts";
 * const x = { shape: [1, 2], data: new Float64Array([1, 2]) };
 * const w = { shape: [3, 2], data: new Float64Array([1, 0, 0, 1, 1, 1]) };
 * const b = { shape: [3], data: new Float64Array([0, 0, 0.5]) };
 * assert.deepEqual([...linearReference(x, w, b).data], [1, 2, 3.5]);
 * ```
 *
 * @param x Input `(..., in)`.
 * @param weight Weight `(out, in)`.
 * @param bias Optional bias `(out)`.
 * @returns `(..., out)` in float64.
 * @throws {RangeError} If the shapes disagree.
 */
export function linearReference(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  assertTensor(x, "x");
  assertTensor(weight, "weight");
  const inF = lastDim(x, "x");
  if (weight.shape.length !== 2 || weight.shape[1] !== inF) {
    throw new RangeError(
      `Argument weight must have shape (out, ${inF}) to match x ${formatShape(x.shape)}, received ${
        formatShape(weight.shape)
      }`,
    );
  }
  const outF = weight.shape[0];
  assertVector(bias, "bias", outF);
  const rows = sizeOf(x.shape) / Math.max(inF, 1);
  const y = new Float64Array(rows * outF);
  const xd = x.data, wd = weight.data;
  for (let r = 0; r < rows; r++) {
    const xo = r * inF;
    for (let o = 0; o < outF; o++) {
      const wo = o * inF;
      let acc = bias ? bias.data[o] : 0;
      for (let j = 0; j < inF; j++) acc += xd[xo + j] * wd[wo + j];
      y[r * outF + o] = acc;
    }
  }
  return { shape: [...x.shape.slice(0, -1), outF], data: y };
}

/**
 * RMSNorm over the last dimension: `x / sqrt(mean(x²) + eps) · weight (+ bias)`; the weight
 * multiplies as is (it is initialised to ones, not stored as an offset from one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rmsNormReference } from "./layers.ts";
 * const x = { shape: [2], data: new Float64Array([3, 4]) }; // mean of squares 12.5
 * const y = rmsNormReference(x, { shape: [2], data: new Float64Array([1, 2]) }, 0);
 * assert.ok(Math.abs(y.data[1] - 8 / Math.sqrt(12.5)) < 1e-15);
 * ```
 *
 * @param x Input `(..., D)`.
 * @param weight Optional scale `(D)`; omitted: no scale.
 * @param eps Added to the mean of squares inside the square root. @default {1e-6}
 * @param bias Optional bias `(D)` (only with `use_bias`).
 * @returns `(..., D)` in float64.
 * @throws {RangeError} If the shapes disagree or eps is negative.
 */
export function rmsNormReference(
  x: Tensor,
  weight?: Tensor,
  eps = 1e-6,
  bias?: Tensor,
): Tensor {
  assertTensor(x, "x");
  const D = lastDim(x, "x");
  assertVector(weight, "weight", D);
  assertVector(bias, "bias", D);
  assertEps(eps);
  const rows = D === 0 ? 0 : sizeOf(x.shape) / D;
  const y = new Float64Array(rows * D);
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    let ss = 0;
    for (let j = 0; j < D; j++) ss += x.data[o + j] * x.data[o + j];
    const inv = 1 / Math.sqrt(ss / D + eps);
    for (let j = 0; j < D; j++) {
      let v = x.data[o + j] * inv;
      if (weight) v *= weight.data[j];
      if (bias) v += bias.data[j];
      y[o + j] = v;
    }
  }
  return { shape: [...x.shape], data: y };
}

/** Options of {@linkcode headLayerNormReference}. */
export interface HeadLayerNormOptions {
  /** Number of heads NH; the last dimension is NH·DH with the heads outermost. */
  numHeads: number;
  /** Added to the (biased) variance inside the square root. @default {1e-6} */
  eps?: number;
  /** Optional scale of size NH·DH. */
  weight?: Tensor;
  /** Optional bias of size NH·DH (only with `use_bias`). */
  bias?: Tensor;
}

/**
 * The per-head LayerNorm of the mLSTM layer's output ("MultiHeadLayerNorm"): the last dimension
 * NH·DH is split into NH heads of DH, each head is centred on its mean and divided by
 * `sqrt(var + eps)` with the biased variance (divide by DH), then the whole NH·DH vector is
 * multiplied by the weight (and the bias added).
 *
 * @example Two heads of two
 * ```ts
 * import assert from "node:assert/strict";
 * import { headLayerNormReference } from "./layers.ts";
 * const x = { shape: [4], data: new Float64Array([1, 3, 10, 10]) };
 * const y = headLayerNormReference(x, { numHeads: 2, eps: 0 });
 * assert.deepEqual([...y.data].slice(0, 2), [-1, 1]);
 * assert.ok(Number.isNaN(y.data[2])); // a constant head with eps 0 divides 0 by 0
 * ```
 *
 * @param x Input `(..., NH·DH)`, e.g. h of shape (B, S, NH·DHV).
 * @param options numHeads, eps, weight, bias.
 * @returns `(..., NH·DH)` in float64.
 * @throws {RangeError} If the last dimension is not a multiple of numHeads or shapes disagree.
 */
export function headLayerNormReference(x: Tensor, options: HeadLayerNormOptions): Tensor {
  assertTensor(x, "x");
  const { numHeads: NH, eps = 1e-6, weight, bias } = options;
  const F = lastDim(x, "x");
  if (!Number.isInteger(NH) || NH < 1 || F % NH !== 0) {
    throw new RangeError(
      `Option numHeads must be a positive integer dividing the last dimension of x ${
        formatShape(x.shape)
      }, received ${NH}`,
    );
  }
  assertVector(weight, "weight", F);
  assertVector(bias, "bias", F);
  assertEps(eps);
  const DH = F / NH;
  const rows = F === 0 ? 0 : sizeOf(x.shape) / F;
  const y = new Float64Array(rows * F);
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < NH; h++) {
      const o = r * F + h * DH;
      let mean = 0;
      for (let j = 0; j < DH; j++) mean += x.data[o + j];
      mean /= DH;
      let v = 0;
      for (let j = 0; j < DH; j++) v += (x.data[o + j] - mean) ** 2;
      const inv = 1 / Math.sqrt(v / DH + eps);
      for (let j = 0; j < DH; j++) {
        const c = h * DH + j;
        let z = (x.data[o + j] - mean) * inv;
        if (weight) z *= weight.data[c];
        if (bias) z += bias.data[c];
        y[o + j] = z;
      }
    }
  }
  return { shape: [...x.shape], data: y };
}

/**
 * The soft cap `cap · tanh(x / cap)` applied elementwise (gate pre-activations with
 * `gate_soft_cap` 15, logits with `output_logit_soft_cap` 30).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { softCapReference } from "./layers.ts";
 * const y = softCapReference({ shape: [2], data: new Float64Array([0, 1e9]) }, 15);
 * assert.deepEqual([...y.data], [0, 15]);
 * ```
 *
 * @param x Input of any shape.
 * @param cap The cap, > 0.
 * @returns A float64 tensor of the same shape.
 * @throws {RangeError} If cap is not a positive finite number.
 */
export function softCapReference(x: Tensor, cap: number): Tensor {
  assertTensor(x, "x");
  if (!(cap > 0) || !Number.isFinite(cap)) {
    throw new RangeError(`Argument cap must be a positive finite number, received ${cap}`);
  }
  const y = new Float64Array(x.data.length);
  for (let j = 0; j < y.length; j++) y[j] = cap * Math.tanh(x.data[j] / cap);
  return { shape: [...x.shape], data: y };
}

function assertSameShape(a: Tensor, b: Tensor, an: string, bn: string): void {
  assertTensor(a, an);
  assertTensor(b, bn);
  if (a.shape.length !== b.shape.length || a.shape.some((d, j) => d !== b.shape[j])) {
    throw new RangeError(
      `Argument ${bn} must have the shape of ${an} ${formatShape(a.shape)}, received ${
        formatShape(b.shape)
      }`,
    );
  }
}

/**
 * The SwiGLU product of the feed-forward block, elementwise: `silu(gate) · up` with
 * `silu(g) = g · sigmoid(g)`; `gate = proj_up_gate(x)`, `up = proj_up(x)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { swigluReference } from "./layers.ts";
 * const g = { shape: [2], data: new Float64Array([0, 2]) };
 * const u = { shape: [2], data: new Float64Array([5, 3]) };
 * const y = swigluReference(g, u);
 * assert.ok(y.data[0] === 0 && Math.abs(y.data[1] - 6 / (1 + Math.exp(-2))) < 1e-15);
 * ```
 *
 * @param gate The gate projection, any shape.
 * @param up The up projection, the same shape.
 * @returns silu(gate)·up in float64.
 * @throws {RangeError} If the shapes differ.
 */
export function swigluReference(gate: Tensor, up: Tensor): Tensor {
  assertSameShape(gate, up, "gate", "up");
  const y = new Float64Array(gate.data.length);
  for (let j = 0; j < y.length; j++) {
    const g = gate.data[j];
    y[j] = g * sigmoid(g) * up.data[j];
  }
  return { shape: [...gate.shape], data: y };
}

/**
 * The mLSTM layer's output gate, elementwise: `sigmoid(o) · h` with `o = ogate_preact(x)` and h
 * the per-head normalized cell output, both `(..., v_dim)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { outputGateReference } from "./layers.ts";
 * const y = outputGateReference({ shape: [1], data: new Float64Array([0]) }, { shape: [1], data: new Float64Array([4]) });
 * assert.ok(y.data[0] === 2);
 * ```
 *
 * @param o Output-gate pre-activations.
 * @param h The values to gate, same shape.
 * @returns sigmoid(o)·h in float64.
 * @throws {RangeError} If the shapes differ.
 */
export function outputGateReference(o: Tensor, h: Tensor): Tensor {
  assertSameShape(o, h, "o", "h");
  const y = new Float64Array(o.data.length);
  for (let j = 0; j < y.length; j++) y[j] = sigmoid(o.data[j]) * h.data[j];
  return { shape: [...o.shape], data: y };
}

/**
 * Token embedding: gathers the rows of a `(V, D)` table for token ids given per batch row; all
 * rows must have the same length S.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { embeddingReference } from "./layers.ts";
 * const table = { shape: [3, 2], data: new Float64Array([0, 0, 1, 1, 2, 2]) };
 * const x = embeddingReference([[2, 1]], table);
 * assert.deepEqual(x.shape, [1, 2, 2]);
 * assert.deepEqual([...x.data], [2, 2, 1, 1]);
 * ```
 *
 * @param ids Token ids, B rows of S integers in [0, V).
 * @param table The embedding table `(V, D)`.
 * @returns `(B, S, D)` in float64.
 * @throws {RangeError} If a row's length differs, an id is out of range, or the table is not 2-D.
 */
export function embeddingReference(
  ids: readonly (readonly number[])[],
  table: Tensor,
): Tensor {
  assertTensor(table, "table");
  if (table.shape.length !== 2) {
    throw new RangeError(
      `Argument table must have shape (V, D), received ${formatShape(table.shape)}`,
    );
  }
  const [V, D] = table.shape;
  const { B, S } = validateTokenIds(ids, V);
  const out = new Float64Array(B * S * D);
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < S; s++) {
      const id = ids[b][s];
      for (let j = 0; j < D; j++) out[(b * S + s) * D + j] = table.data[id * D + j];
    }
  }
  return { shape: [B, S, D], data: out };
}

/**
 * Checks token ids: at least one row, rows of equal length S ≥ 1, integers in [0, V).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateTokenIds } from "./layers.ts";
 * assert.deepEqual(validateTokenIds([[1, 2], [3, 4]], 10), { B: 2, S: 2 });
 * assert.throws(() => validateTokenIds([[1, 10]], 10), /ids\[0\]\[1\]/);
 * ```
 *
 * @param ids Token ids per batch row.
 * @param V Vocabulary size.
 * @returns The batch size B and sequence length S.
 * @throws {RangeError} Naming the first bad entry.
 */
export function validateTokenIds(
  ids: readonly (readonly number[])[],
  V: number,
): { B: number; S: number } {
  if (!Array.isArray(ids) || ids.length === 0 || !Array.isArray(ids[0])) {
    throw new RangeError("Argument ids must be a non-empty array of token-id rows (B, S)");
  }
  const B = ids.length, S = ids[0].length;
  if (S === 0) throw new RangeError("Argument ids must hold at least one token per row (S ≥ 1)");
  for (let b = 0; b < B; b++) {
    const row = ids[b];
    if (!Array.isArray(row) || row.length !== S) {
      throw new RangeError(
        `Argument ids must have rows of equal length: ids[0] has ${S} tokens, ids[${b}] has ${
          Array.isArray(row) ? row.length : "no array"
        }`,
      );
    }
    for (let s = 0; s < S; s++) {
      const id = row[s];
      if (!Number.isInteger(id) || id < 0 || id >= V) {
        throw new RangeError(
          `Argument ids[${b}][${s}] must be an integer token id in [0, ${V}), received ${id}`,
        );
      }
    }
  }
  return { B, S };
}
