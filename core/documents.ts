/**
 * Packed sequences: several documents in one batch row, separated by state resets
 * (`MlstmOptions.documentStarts`). At each document start t the states are replaced by zeros
 * (C = 0, n = 0, m = 0) before step t, exactly as if the document were run by a separate call.
 *
 * @module
 */

/**
 * Converts FLA-style cumulative sequence offsets (`cu_seqlens`: 0, then the end of each document,
 * the last one the sequence length S) of one packed batch row (B = 1) into the `documentStarts`
 * option: `[[offsets[1], …, offsets[D − 1]]]`.
 *
 * @example Three documents of lengths 3, 5 and 2 packed into S = 10
 * ```ts
 * import assert from "node:assert/strict";
 * import { documentStartsFromOffsets } from "./documents.ts";
 * assert.deepEqual(documentStartsFromOffsets([0, 3, 8, 10]), [[3, 8]]);
 * assert.deepEqual(documentStartsFromOffsets([0, 10]), [[]]);
 * ```
 *
 * @param cuSeqlens Cumulative offsets: starts at 0, strictly increasing integers (no empty
 * document); the last entry is the packed length S.
 * @returns The `documentStarts` option for a batch of one row.
 * @throws {RangeError} If the offsets do not start at 0, are not strictly increasing integers, or
 * hold fewer than two entries; the message names the entry.
 */
export function documentStartsFromOffsets(cuSeqlens: ArrayLike<number>): number[][] {
  if (
    cuSeqlens === null || typeof cuSeqlens !== "object" || typeof cuSeqlens.length !== "number"
  ) {
    throw new TypeError(
      `Argument cuSeqlens must be an array of offsets [0, ..., S], received ${cuSeqlens}`,
    );
  }
  const n = cuSeqlens.length;
  if (n < 2) {
    throw new RangeError(
      `Argument cuSeqlens must hold at least two offsets [0, S], received ${n}`,
    );
  }
  if (cuSeqlens[0] !== 0) {
    throw new RangeError(`Argument cuSeqlens[0] must be 0, received ${cuSeqlens[0]}`);
  }
  for (let j = 1; j < n; j++) {
    const x = cuSeqlens[j]!;
    if (!Number.isInteger(x) || x <= cuSeqlens[j - 1]!) {
      throw new RangeError(
        `Argument cuSeqlens[${j}] must be an integer above cuSeqlens[${j - 1}] = ${
          cuSeqlens[j - 1]
        } (documents are not empty), received ${x}`,
      );
    }
  }
  return [Array.from({ length: n - 2 }, (_, j) => cuSeqlens[j + 1]!)];
}

/**
 * Checks the `documentStarts` option against the batch size and the sequence length: one list per
 * batch row, each strictly increasing integers t with 0 < t < S.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateDocumentStarts } from "./documents.ts";
 * validateDocumentStarts([[3, 8], []], 2, 10);
 * assert.throws(() => validateDocumentStarts([[8, 3]], 1, 10), {
 *   message: "Option documentStarts[0][1] must be above documentStarts[0][0] = 8 (strictly increasing), received 3",
 * });
 * ```
 *
 * @param starts The option's value (undefined: nothing to check).
 * @param B Batch size.
 * @param S Sequence length.
 * @throws {TypeError | RangeError} Naming `documentStarts`, the entry and the expected range.
 */
export function validateDocumentStarts(
  starts: unknown,
  B: number,
  S: number,
): void {
  if (starts === undefined) return;
  if (!Array.isArray(starts)) {
    throw new TypeError(
      `Option documentStarts must be an array of ${B} lists (one per batch row) of positions 0 < t < S, received ${typeof starts}`,
    );
  }
  if (starts.length !== B) {
    throw new RangeError(
      `Option documentStarts must hold one list per batch row (B = ${B}), received ${starts.length}`,
    );
  }
  starts.forEach((row: unknown, b) => {
    if (!Array.isArray(row)) {
      throw new TypeError(
        `Option documentStarts[${b}] must be an array of positions 0 < t < S = ${S}, received ${row}`,
      );
    }
    row.forEach((t: unknown, j) => {
      if (typeof t !== "number" || !Number.isInteger(t) || t <= 0 || t >= S) {
        throw new RangeError(
          `Option documentStarts[${b}][${j}] must be an integer with 0 < t < S = ${S}, received ${t}`,
        );
      }
      if (j > 0 && t <= row[j - 1]) {
        throw new RangeError(
          `Option documentStarts[${b}][${j}] must be above documentStarts[${b}][${j - 1}] = ${
            row[j - 1]
          } (strictly increasing), received ${t}`,
        );
      }
    });
  });
}

/**
 * The documents of each batch row as half-open step ranges [start, end), in order; a row without
 * document starts is one document [0, S). Expects a validated option.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { documentRanges } from "./documents.ts";
 * assert.deepEqual(documentRanges([[3]], 1, 5), [[[0, 3], [3, 5]]]);
 * assert.deepEqual(documentRanges(undefined, 1, 5), [[[0, 5]]]);
 * ```
 *
 * @param starts The `documentStarts` option (undefined: one document per row).
 * @param B Batch size.
 * @param S Sequence length.
 * @returns Per batch row, the list of [start, end) ranges.
 */
export function documentRanges(
  starts: readonly (readonly number[])[] | undefined,
  B: number,
  S: number,
): [number, number][][] {
  return Array.from({ length: B }, (_, b) => {
    const cuts = [0, ...(starts?.[b] ?? []), S];
    return cuts.slice(0, -1).map((s, j) => [s, cuts[j + 1]!] as [number, number]);
  });
}

/**
 * Per step, 1 where a document starts (a state reset before the step), else 0: a (B, S) array, the
 * layout the WebGPU kernels read. Position 0 is 0 (the initial states seed the first document).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { documentStartFlags } from "./documents.ts";
 * assert.deepEqual([...documentStartFlags([[2], [1, 3]], 2, 4)], [0, 0, 1, 0, 0, 1, 0, 1]);
 * ```
 *
 * @param starts The `documentStarts` option (validated).
 * @param B Batch size.
 * @param S Sequence length.
 * @returns The flags, B·S entries.
 */
export function documentStartFlags(
  starts: readonly (readonly number[])[] | undefined,
  B: number,
  S: number,
): Uint32Array<ArrayBuffer> {
  const out = new Uint32Array(B * S);
  starts?.forEach((row, b) => {
    for (const t of row) out[b * S + t] = 1;
  });
  return out;
}

/**
 * Whether the option names at least one document start (an empty list per row is the default).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasDocumentStarts } from "./documents.ts";
 * assert.ok(!hasDocumentStarts([[], []]) && hasDocumentStarts([[], [4]]));
 * ```
 *
 * @param starts The `documentStarts` option.
 * @returns True if some row has a start.
 */
export function hasDocumentStarts(starts: readonly (readonly number[])[] | undefined): boolean {
  // Tolerates unvalidated values (the registry asks before the kernel validates).
  return Array.isArray(starts) && starts.some((r) => Array.isArray(r) && r.length > 0);
}
