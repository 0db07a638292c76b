/**
 * Deviation metrics between an output and its reference: max abs error, relative L2 error and
 * percentiles of |out − ref|, computed in float64.
 *
 * @module
 */

/** The deviation of an output from its reference. */
export interface Deviation {
  /** max |out − ref|. */
  maxAbs: number;
  /** ‖out − ref‖₂ / ‖ref‖₂ (‖out − ref‖₂ when the reference is all zeros). */
  relL2: number;
  /** 50th percentile of |out − ref|. */
  p50: number;
  /** 99th percentile of |out − ref|. */
  p99: number;
  /** 100th percentile of |out − ref| (= maxAbs). */
  p100: number;
  /** Number of non-finite elements in the output (NaN or ±Infinity). */
  nonFinite: number;
}

/**
 * Compares an output with its reference. Non-finite outputs make every metric NaN, so that no
 * tolerance check can pass on them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deviation } from "./metrics.ts";
 * const d = deviation(new Float32Array([1, 2.5]), new Float64Array([1, 2]));
 * assert.ok(d.maxAbs === 0.5 && Math.abs(d.relL2 - 0.5 / Math.sqrt(5)) < 1e-15);
 * ```
 *
 * @param out The output.
 * @param ref The reference, same length.
 * @returns The metrics.
 * @throws {RangeError} If the lengths differ.
 */
export function deviation(out: ArrayLike<number>, ref: ArrayLike<number>): Deviation {
  if (out.length !== ref.length) {
    throw new RangeError(`Output has ${out.length} elements but the reference has ${ref.length}`);
  }
  const abs = new Float64Array(out.length);
  let num = 0, den = 0, nonFinite = 0;
  for (let j = 0; j < out.length; j++) {
    if (!Number.isFinite(out[j])) nonFinite++;
    const d = out[j] - ref[j];
    abs[j] = Math.abs(d);
    num += d * d;
    den += ref[j] * ref[j];
  }
  if (nonFinite > 0) {
    return { maxAbs: NaN, relL2: NaN, p50: NaN, p99: NaN, p100: NaN, nonFinite };
  }
  abs.sort();
  const pct = (p: number) =>
    abs.length === 0 ? 0 : abs[Math.min(abs.length - 1, Math.ceil((p / 100) * abs.length) - 1)];
  const maxAbs = abs.length ? abs[abs.length - 1] : 0;
  return {
    maxAbs,
    relL2: den > 0 ? Math.sqrt(num / den) : Math.sqrt(num),
    p50: pct(50),
    p99: pct(99),
    p100: maxAbs,
    nonFinite,
  };
}
