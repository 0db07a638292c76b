// The speed variants of issue #14 that bench/speed_ab.ts times against today's kernels (`base`),
// and that tests/speed_variants_test.ts checks against the float64 references. A variant is a set
// of options (tile overrides) and, for kernels without an option yet, a setup/teardown pair around
// each call. To make a variant the default, change the default named in its `doc`.

import type { ChunkwiseOptions } from "../kernels/chunkwise/mod.ts";
import { setBackwardTrimDiagonal } from "../kernels/backward/backward.ts";

/** One variant: its name in the CSV, what it changes, and how a call selects it. */
export interface SpeedVariant {
  /** Column name in speed_ab.csv (`base` = today's defaults). */
  name: string;
  /** What it changes, and where its default lives. */
  doc: string;
  /** Options merged into every forward and backward call. */
  options?: ChunkwiseOptions;
  /** Passes it applies to (a backward-only variant is skipped in `fw`). @default {both} */
  passes?: ("fw" | "fwbw")[];
  /** Called before each call (global test hooks). */
  setup?: () => void;
  /** Called after each call. */
  teardown?: () => void;
}

/** The variants, `base` first. */
export const SPEED_VARIANTS: SpeedVariant[] = [
  { name: "base", doc: "today's defaults" },
  {
    name: "trim",
    doc: "forward parallel kernel: skip the products above the diagonal of the diagonal key " +
      "block (tiles.parallel.trimDiagonal; default in parallelTiles, kernels/chunkwise/_wgsl.ts)",
    options: { tiles: { parallel: { trimDiagonal: true } } },
  },
  {
    name: "bwtrim",
    doc: "backward register-blocked dq/dkdv: skip zero-weight row groups of the diagonal block " +
      "(setBackwardTrimDiagonal; default `trimDiagonal` in kernels/backward/backward.ts)",
    passes: ["fwbw"],
    setup: () => setBackwardTrimDiagonal(true),
    teardown: () => setBackwardTrimDiagonal(false),
  },
  {
    name: "alltrim",
    doc: "trim + bwtrim",
    options: { tiles: { parallel: { trimDiagonal: true } } },
    passes: ["fwbw"],
    setup: () => setBackwardTrimDiagonal(true),
    teardown: () => setBackwardTrimDiagonal(false),
  },
];
