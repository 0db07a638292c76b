/**
 * A minimal row-major CPU tensor: a shape and a flat typed array.
 *
 * Every public function of the toolkit accepts plain objects of this form, so
 * `{ shape: [2, 3], data: new Float64Array(6) }` is a tensor.
 *
 * @module
 */

/** The element arrays a CPU tensor may hold. */
export type TensorData = Float64Array | Float32Array;

/**
 * A row-major, contiguous tensor on the CPU.
 *
 * @example Build a 2×3 tensor by hand
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Tensor } from "./tensor.ts";
 * const t: Tensor = { shape: [2, 3], data: new Float64Array([1, 2, 3, 4, 5, 6]) };
 * assert.ok(t.data[1 * 3 + 2] === 6);
 * ```
 */
export interface Tensor {
  /** Extent of each dimension, outermost first. */
  readonly shape: readonly number[];
  /** The elements in row-major order; `data.length` equals the product of `shape`. */
  readonly data: TensorData;
}

/**
 * Number of elements of a shape (1 for a scalar shape `[]`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sizeOf } from "./tensor.ts";
 * assert.ok(sizeOf([2, 3, 4]) === 24);
 * ```
 *
 * @param shape The shape.
 * @returns The product of the extents.
 */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Formats a shape the way error messages print it: `(2, 3, 4)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatShape } from "./tensor.ts";
 * assert.ok(formatShape([2, 3]) === "(2, 3)");
 * ```
 *
 * @param shape The shape.
 * @returns The shape in parentheses.
 */
export function formatShape(shape: readonly number[]): string {
  return `(${shape.join(", ")})`;
}

/**
 * Creates a float64 tensor filled with zeros (or copied from `data`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensor } from "./tensor.ts";
 * const t = tensor([2, 2], [1, 2, 3, 4]);
 * assert.ok(t.data instanceof Float64Array && t.data[3] === 4);
 * ```
 *
 * @param shape The shape.
 * @param data Optional elements in row-major order; their count must match the shape.
 * @returns A new tensor with its own Float64Array.
 * @throws {RangeError} If `data` has the wrong length or the shape is not made of non-negative integers.
 */
export function tensor(
  shape: readonly number[],
  data?: ArrayLike<number>,
): Tensor {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new RangeError(
        `Invalid shape ${formatShape(shape)}: every extent must be a non-negative integer`,
      );
    }
  }
  const n = sizeOf(shape);
  if (data !== undefined && data.length !== n) {
    throw new RangeError(
      `Data of length ${data.length} does not fit shape ${formatShape(shape)} (${n} elements)`,
    );
  }
  const out = new Float64Array(n);
  if (data !== undefined) out.set(data);
  return { shape: [...shape], data: out };
}

/**
 * Returns a float64 copy of a tensor (float32 data is widened exactly).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toFloat64 } from "./tensor.ts";
 * const t = toFloat64({ shape: [2], data: new Float32Array([0.5, 2]) });
 * assert.ok(t.data instanceof Float64Array && t.data[0] === 0.5);
 * ```
 *
 * @param t The tensor.
 * @returns A new tensor with a Float64Array.
 */
export function toFloat64(t: Tensor): Tensor {
  return { shape: [...t.shape], data: Float64Array.from(t.data) };
}

/**
 * Returns a float32 copy of a tensor (float64 data is rounded to nearest).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toFloat32 } from "./tensor.ts";
 * const t = toFloat32({ shape: [1], data: new Float64Array([0.1]) });
 * assert.ok(t.data instanceof Float32Array);
 * ```
 *
 * @param t The tensor.
 * @returns A new tensor with a Float32Array.
 */
export function toFloat32(t: Tensor): Tensor {
  return { shape: [...t.shape], data: Float32Array.from(t.data) };
}

/**
 * Checks that a value is a tensor whose data length matches its shape.
 *
 * @example
 * ```ts
 * import { assertTensor } from "./tensor.ts";
 * assertTensor({ shape: [2], data: new Float64Array(2) }, "q");
 * ```
 *
 * @param t The value to check.
 * @param name The argument's name, used in the error message.
 * @throws {TypeError} If `t` is not a `{ shape, data }` tensor or its data length does not match.
 */
export function assertTensor(t: unknown, name: string): asserts t is Tensor {
  if (typeof t !== "object" || t === null) {
    throw new TypeError(`Argument ${name} must be a tensor { shape, data }, received ${t}`);
  }
  const { shape, data } = t as { shape?: unknown; data?: unknown };
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new TypeError(
      `Argument ${name} must have a shape of non-negative integers, received ${
        JSON.stringify(shape)
      }`,
    );
  }
  if (!(data instanceof Float64Array || data instanceof Float32Array)) {
    throw new TypeError(
      `Argument ${name} must hold a Float64Array or Float32Array, received ${
        (data as object | undefined)?.constructor?.name ?? typeof data
      }`,
    );
  }
  const n = sizeOf(shape);
  if (data.length !== n) {
    throw new RangeError(
      `Argument ${name} has shape ${
        formatShape(shape)
      } (${n} elements) but its data holds ${data.length} elements`,
    );
  }
}
