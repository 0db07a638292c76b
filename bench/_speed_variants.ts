// The speed variants of issue #14 that bench/speed_ab.ts times against today's kernels (`base`),
// and that tests/speed_variants_test.ts and tests/backward_test.ts check against the float64
// references. A variant is a set of options (tile overrides) and, for the backward, a
// setup/teardown pair of module switches around each call. To make a variant the default, change
// the default named in its `doc` (one line each).

import type { ChunkwiseOptions } from "../kernels/chunkwise/mod.ts";
import {
  setBackwardF16ReuseU,
  setBackwardFuseStatsDq,
  setBackwardTrimDiagonal,
  setBackwardTrimScores,
} from "../kernels/backward/backward.ts";

/** One variant: its name in the CSV, what it changes, and how a call selects it. */
export interface SpeedVariant {
  /** Column name in speed_ab.csv (`base` = today's defaults). */
  name: string;
  /** What it changes, and where its default lives. */
  doc: string;
  /** Options merged into every forward call (the backward gets only the chunk size). */
  options?: ChunkwiseOptions;
  /** Passes it applies to (a backward-only variant is skipped in `fw`). @default {both} */
  passes?: ("fw" | "fwbw")[];
  /** Storage types it applies to. @default {both} */
  dtypes?: ("f32" | "f16")[];
  /**
   * Acts only on the register-blocked backward kernels (head dimensions multiples of 64, at most
   * 256): skipped on other shapes (the xLSTM 7B head's DHV 512), where it would equal `base`.
   */
  blockedOnly?: boolean;
  /** Called before each call (module switches). */
  setup?: () => void;
  /** Called after each call. */
  teardown?: () => void;
}

const trimFw: ChunkwiseOptions = { tiles: { parallel: { trimDiagonal: true } } };

/** The variants, `base` first. */
export const SPEED_VARIANTS: SpeedVariant[] = [
  { name: "base", doc: "today's defaults" },
  {
    name: "trim",
    doc: "forward parallel kernel: skip the products above the diagonal of the diagonal key " +
      "block (tiles.parallel.trimDiagonal; default: `PARALLEL_TRIM_DIAGONAL = false` in " +
      "kernels/chunkwise/_wgsl.ts)",
    options: trimFw,
  },
  {
    name: "bwtrim",
    doc: "backward register-blocked dq/dkdv: skip zero-weight row groups of the diagonal block " +
      "(setBackwardTrimDiagonal; default: `let trimDiagonal = false` in kernels/backward/backward.ts)",
    passes: ["fwbw"],
    blockedOnly: true,
    setup: () => setBackwardTrimDiagonal(true),
    teardown: () => setBackwardTrimDiagonal(false),
  },
  {
    name: "bwtrim2",
    doc: "bwtrim + the blocked stats/dq/dkdv form their score blocks on a grid where whole " +
      "subgroups of the diagonal block skip masked products (setBackwardTrimScores; default: " +
      "`let trimScores = false` in kernels/backward/backward.ts)",
    passes: ["fwbw"],
    blockedOnly: true,
    setup: () => {
      setBackwardTrimDiagonal(true);
      setBackwardTrimScores(true);
    },
    teardown: () => {
      setBackwardTrimDiagonal(false);
      setBackwardTrimScores(false);
    },
  },
  {
    name: "f16recompute",
    doc: "f16 storage: dq recomputes U = dh·Cᵀ as before issue #14 (today's default reuses it " +
      "through dq's f32 buffer like f32 storage: `let reuseUF16 = true` in " +
      "kernels/backward/backward.ts); times the f16 fix",
    passes: ["fwbw"],
    dtypes: ["f16"],
    blockedOnly: true,
    setup: () => setBackwardF16ReuseU(false),
    teardown: () => setBackwardF16ReuseU(true),
  },
  {
    name: "fuse",
    doc: "backward: the blocked stats kernel also computes dq, no dq dispatch " +
      "(setBackwardFuseStatsDq; default: `let fuseStatsDq = false` in kernels/backward/backward.ts)",
    passes: ["fwbw"],
    blockedOnly: true,
    setup: () => setBackwardFuseStatsDq(true),
    teardown: () => setBackwardFuseStatsDq(false),
  },
  {
    name: "all",
    doc: "trim + bwtrim2 + fuse",
    options: trimFw,
    passes: ["fwbw"],
    blockedOnly: true,
    setup: () => {
      setBackwardTrimDiagonal(true);
      setBackwardTrimScores(true);
      setBackwardFuseStatsDq(true);
    },
    teardown: () => {
      setBackwardTrimDiagonal(false);
      setBackwardTrimScores(false);
      setBackwardFuseStatsDq(false);
    },
  },
];
