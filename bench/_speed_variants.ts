// The speed variants of issue #14 that bench/speed_ab.ts times against the kernels before them (`base`),
// and that tests/speed_variants_test.ts and tests/backward_test.ts check against the float64
// references. A variant is a set of options (tile overrides) and, for the backward, a
// setup/teardown pair of module switches around each call (every variant sets all of them, then
// restores the library's defaults).

import type { ChunkwiseOptions } from "../kernels/chunkwise/mod.ts";
import { parallelStorageBytes } from "../kernels/chunkwise/_wgsl.ts";
import {
  setBackwardBlockDepth,
  setBackwardBlockedLarge,
  setBackwardColumnStateTerms,
  setBackwardDoubleBuffer,
  setBackwardF16ReuseU,
  setBackwardFuseStateScan,
  setBackwardFuseStatsDq,
  setBackwardGatesWide,
  setBackwardPrefetch,
  setBackwardRowFirst,
  setBackwardScanRows,
  setBackwardScoresFromForward,
  setBackwardShareScores,
  setBackwardSplitDkdv,
  setBackwardStateDepth,
  setBackwardStateTerm,
  setBackwardStateVec4,
  setBackwardTileUnroll,
  setBackwardTrimDiagonal,
  setBackwardTrimScores,
} from "../kernels/backward/backward.ts";
import { setOpaqueLoopBounds } from "../kernels/runtime.ts";
import { setForwardGatesStaged, setForwardStatesFirst } from "../kernels/chunkwise/forward.ts";

/** One variant: its name in the CSV, what it changes, and how a call selects it. */
export interface SpeedVariant {
  /** Column name in speed_ab.csv (`base` = the kernels before issue #14's variants). */
  name: string;
  /** What it changes, and where its default lives. */
  doc: string;
  /**
   * Options merged into every forward call (the backward gets only the chunk size; through
   * `forwardBackward`, tiles go to its forward), or a function of the head's DHV and the device's
   * workgroup storage giving them.
   */
  options?: ChunkwiseOptions | ((DHV: number, workgroupStorage: number) => ChunkwiseOptions);
  /** Passes it applies to (a backward-only variant is skipped in `fw`). @default {both} */
  passes?: ("fw" | "fwbw")[];
  /** Storage types it applies to. @default {both} */
  dtypes?: ("f32" | "f16")[];
  /**
   * Acts only on the register-blocked backward kernels (head dimensions multiples of 64, at most
   * 256): skipped on other shapes (the xLSTM 7B head's DHV 512), where it would equal `base`.
   */
  blockedOnly?: boolean;
  /** Acts only on the row-sliced backward kernels (the shapes `blockedOnly` skips). */
  rowSlicedOnly?: boolean;
  /**
   * Acts only where the row-sliced backward kernels roll their inner loops by default (head
   * dimensions above 256: the xLSTM 7B head; `tileUnrollDefault` in kernels/backward/_wgsl.ts):
   * skipped on other shapes, where it would equal the variant it is compared with.
   */
  largeHeadOnly?: boolean;
  /**
   * `fwbw` runs through `forwardBackward` (kernels/train.ts), which has the forward keep its
   * chunk states for the backward (`keepForBackward` / `savedStates`) where that takes no more
   * memory, instead of a forward call and a backward call that recomputes them.
   * @default {false}
   */
  forwardBackward?: boolean;
  /** Called before each call (module switches). */
  setup?: () => void;
  /** Called after each call. */
  teardown?: () => void;
}

/**
 * The parallel kernel's tile columns before stop 11: 4 × 8 per thread (4 × 4 at DHV ≤ 64), DQK
 * staged 32 deep where that fits, else 16 (the default is 4 × 16 at DHV ≥ 256 since).
 */
function tn8(DHV: number, workgroupStorage: number): { TN: number; BD: number } {
  const TN = DHV > 64 ? 8 : 4;
  const p = {
    gate: "exp",
    normalize: true,
    dtype: "f32",
    TX: 16,
    TY: 16,
    TN,
    fuse: false,
  } as const;
  return { TN, BD: parallelStorageBytes({ ...p, BD: 32 }) <= workgroupStorage ? 32 : 16 };
}
/**
 * The forward's tiles before stop 11 (the state kernel's too: 4 × 4 per thread) with the given
 * diagonal trim and column interleave of the parallel kernel.
 */
const fwBefore = (trimDiagonal: boolean, interleaveColumns = false) =>
(
  DHV: number,
  wgs: number,
): ChunkwiseOptions => ({
  tiles: {
    parallel: { ...tn8(DHV, wgs), trimDiagonal, interleaveColumns },
    state: { TN: 4, interleaveColumns: false },
  },
});
const trimFw = fwBefore(true);
const untrimmedFw = fwBefore(false);

/** The options of variant `v` for a head of DHV columns on a device with this workgroup storage. */
export function variantOptions(
  v: SpeedVariant,
  DHV: number,
  workgroupStorage: number,
): ChunkwiseOptions {
  return typeof v.options === "function" ? v.options(DHV, workgroupStorage) : v.options ?? {};
}
/** trim + 8 query rows per thread on 16 × 8 threads (64-row blocks), with extra overrides. */
const rows8Fw = (more: { BD?: number; interleaveColumns?: boolean } = {}): ChunkwiseOptions => ({
  tiles: { parallel: { trimDiagonal: true, TY: 8, TN: 8, BD: 32, rowsPerThread: 8, ...more } },
});

/** The backward's module switches (kernels/backward/backward.ts). */
interface Switches {
  trimDiagonal: boolean;
  trimScores: boolean;
  fuseStatsDq: boolean;
  reuseUF16: boolean;
  /** Row-sliced backward state loads (setBackwardStateVec4; undefined: the default). */
  stateVec4: boolean | "staged" | undefined;
  /**
   * Row-sliced backward loops (setBackwardTileUnroll): undefined, the default (rolled above head
   * dimension 256, issue #11), or "full" (unrolled fully, before).
   */
  tileUnroll?: "full";
  /** Blocked path: the chunk states recomputed in one fused pass (setBackwardFuseStateScan). */
  fuseStateScan: boolean;
  /** Blocked path, chunk ≤ 64: dkdv reads stats' score blocks (setBackwardShareScores). */
  shareScores: boolean;
  /** Blocked kernels above DHV 256 (setBackwardBlockedLarge; undefined: false, as before). */
  blockedLarge?: boolean | "auto";
  /** Blocked dkdv split into dk and dv up to DHV 256 (setBackwardSplitDkdv; default no). */
  splitDkdv?: boolean;
  /**
   * Register prefetch in the blocked kernels (setBackwardPrefetch; undefined: none, as before
   * stop 12; the library's default is all four).
   */
  prefetch?: Parameters<typeof setBackwardPrefetch>[0];
  /** Fused stats + dq: row statistics first (setBackwardRowFirst; undefined: off, as before stop 12). */
  rowFirst?: boolean;
  /**
   * The forward's staged gate kernel (setForwardGatesStaged; undefined: the default, staged where
   * it fits; false: unstaged, as before stop 13).
   */
  gatesStaged?: boolean;
  /** Rows the fused state scans stage per step (setBackwardScanRows; undefined: 16). */
  scanRows?: 16 | 32;
  /** The blocked kernels' state products 32 deep (setBackwardStateDepth; undefined: KC). */
  stateDepth?: 32;
  /**
   * Every head group's state kernel first (setForwardStatesFirst; undefined: off, as before
   * stop 15; the library's default is on).
   */
  statesFirst?: boolean;
  /**
   * Staging loops double-buffered (setBackwardDoubleBuffer; undefined: none, as before stop 15;
   * the library's default is both).
   */
  doubleBuffer?: Parameters<typeof setBackwardDoubleBuffer>[0];
  /**
   * The backward's 256-thread gate kernel (setBackwardGatesWide; undefined: the default, on;
   * false: the 64-thread kernel, as before stop 13).
   */
  gatesWide?: boolean;
  /**
   * The rows' state term in its own kernel (setBackwardStateTerm; undefined: off, as before
   * stop 17; the library's default is on, with the default tiles).
   */
  stateTerm?: Parameters<typeof setBackwardStateTerm>[0];
  /** dkdv's state products in their own kernels (setBackwardColumnStateTerms; undefined: off). */
  columnStateTerms?: boolean;
  /**
   * A training step's backward reads the forward's raw score blocks q·kᵀ from its dk buffer
   * (setBackwardScoresFromForward; undefined: off, as before stop 17; the library's default is on).
   */
  scoresFromForward?: boolean;
}
/** The library's defaults since the H100 run of 2026-12-06 (`all` won every case). */
const DEFAULTS: Switches = {
  trimDiagonal: true,
  trimScores: true,
  fuseStatsDq: true,
  reuseUF16: true,
  stateVec4: undefined,
  fuseStateScan: true,
  shareScores: true,
  blockedLarge: "auto",
  prefetch: { state: true, accum: true, scores: true, scan: true },
  rowFirst: true,
  gatesStaged: undefined,
  gatesWide: true,
  doubleBuffer: { state: true, scores: true },
  statesFirst: true,
  stateTerm: true,
  scoresFromForward: true,
};
/** The defaults of stop 15: U = dh·Cᵀ formed in the fused stats, which forms q·kᵀ too. */
const STOP15: Switches = { ...DEFAULTS, stateTerm: undefined, scoresFromForward: undefined };
/** The defaults of stop 14: no double-buffered staging, the state kernels per head group. */
const STOP14: Switches = { ...STOP15, doubleBuffer: undefined, statesFirst: false };
/** The defaults of stop 11: no register prefetch, two accumulators in the fused stats + dq. */
const STOP11: Switches = {
  ...STOP15,
  doubleBuffer: undefined,
  statesFirst: false,
  prefetch: {},
  rowFirst: false,
  gatesStaged: false,
  gatesWide: false,
};
/** The defaults of stop 12: the forward's gate kernel unstaged, the backward's 64 threads wide. */
const STOP12: Switches = {
  ...STOP15,
  gatesStaged: false,
  gatesWide: false,
  doubleBuffer: undefined,
  statesFirst: false,
};
/**
 * The kernels before issue #14's variants (f16 keeps the U reuse; `f16recompute` drops it), with
 * issue #11's rolled loops in the row-sliced backward (the default above head dim 256;
 * `bwunroll` unrolls them fully as before).
 */
const BEFORE: Switches = {
  trimDiagonal: false,
  trimScores: false,
  fuseStatsDq: false,
  reuseUF16: true,
  stateVec4: false,
  fuseStateScan: false,
  shareScores: false,
  gatesStaged: false,
  gatesWide: false,
};
type Tiles = NonNullable<ChunkwiseOptions["tiles"]>;
/** The parallel kernel's tiles of stop 13 (DQK 16 deep at DHV ≥ 256, 8 at DHV ≥ 512). */
function stop13Tiles(DHV: number): ChunkwiseOptions {
  return DHV >= 512
    ? { tiles: { parallel: { TN: 32, BD: 8 } } }
    : DHV >= 256
    ? { tiles: { parallel: { TN: 16, BD: 16 } } }
    : {};
}
/** `tn16bd32`'s parallel tiles (DQK 32 deep, P behind V; at DHV ≥ 512 16 deep), or none. */
function deepParallel(DHV: number): Tiles {
  return DHV >= 512
    ? { parallel: { TN: 32, BD: 16, valueDepth: 8 } }
    : DHV >= 256
    ? { parallel: { TN: 16, BD: 32, valueDepth: 16 } }
    : {};
}
/** `st8bj64`'s state tiles (a whole 64-step chunk per step at 64 < DHV ≤ 256), or none. */
function deepState(DHV: number): Tiles {
  return DHV > 64 && DHV <= 256 ? { state: { TN: 8, BJ: 64, interleaveColumns: true } } : {};
}

function use(s: Switches): void {
  setBackwardTrimDiagonal(s.trimDiagonal);
  setBackwardTrimScores(s.trimScores);
  setBackwardFuseStatsDq(s.fuseStatsDq);
  setBackwardF16ReuseU(s.reuseUF16);
  setBackwardStateVec4(s.stateVec4);
  setBackwardTileUnroll(s.tileUnroll);
  setBackwardFuseStateScan(s.fuseStateScan);
  setBackwardShareScores(s.shareScores);
  setBackwardBlockedLarge(s.blockedLarge ?? false);
  setBackwardSplitDkdv(s.splitDkdv);
  setBackwardPrefetch(s.prefetch ?? {});
  setBackwardRowFirst(s.rowFirst ?? false);
  setForwardGatesStaged(s.gatesStaged);
  setBackwardScanRows(s.scanRows);
  setBackwardStateDepth(s.stateDepth);
  setBackwardDoubleBuffer(s.doubleBuffer ?? {});
  setForwardStatesFirst(s.statesFirst ?? false);
  setBackwardGatesWide(s.gatesWide ?? true);
  setBackwardStateTerm(s.stateTerm ?? false);
  setBackwardColumnStateTerms(s.columnStateTerms ?? false);
  setBackwardScoresFromForward(s.scoresFromForward ?? false);
}
/** Every variant sets all switches explicitly and restores the defaults afterwards. */
const switches = (s: Partial<Switches>) => ({
  setup: () => use({ ...BEFORE, ...s }),
  teardown: () => use(DEFAULTS),
});

/** The variants, `base` first. */
export const SPEED_VARIANTS: SpeedVariant[] = [
  {
    name: "base",
    doc: "the kernels before issue #14's variants (forward untrimmed, backward switches off)",
    options: untrimmedFw,
    ...switches({}),
  },
  {
    name: "trim",
    doc: "forward parallel kernel: skip the products above the diagonal of the diagonal key " +
      "block (tiles.parallel.trimDiagonal; default `PARALLEL_TRIM_DIAGONAL` in " +
      "kernels/chunkwise/_wgsl.ts)",
    options: trimFw,
    ...switches({}),
  },
  {
    name: "rows8",
    doc: "trim + the forward parallel kernel with 8 query rows per thread in its value products " +
      "(two vec4s of q̃ or P per step: 1 B of workgroup memory per FMA instead of 1.5) on 16 × 8 " +
      "threads, the same 64-row blocks (tiles.parallel.rowsPerThread 8, TY 8; default 4)",
    options: rows8Fw(),
    ...switches({}),
  },
  {
    name: "rows8bd16",
    doc: "rows8 staging DQK 16 at a time (29 instead of 41 KiB of workgroup memory: more " +
      "workgroups per SM where registers allow)",
    options: rows8Fw({ BD: 16 }),
    ...switches({}),
  },
  {
    name: "rows8i",
    doc: "rows8 with the thread's output vec4s 16 vec4s apart instead of side by side " +
      "(tiles.parallel.interleaveColumns: no 2-way bank conflicts of the staged C and V loads)",
    options: rows8Fw({ interleaveColumns: true }),
    ...switches({}),
  },
  {
    name: "trimi",
    doc: "trim with interleaveColumns (rowsPerThread 4): the bank-conflict fix alone",
    options: fwBefore(true, true),
    ...switches({}),
  },
  {
    name: "tn16",
    doc: "trimi with 16 output columns per thread (4 × 16, TN 16, BD 16): one workgroup spans " +
      "256 columns, so at DHV 256 the score block is formed once per chunk instead of twice " +
      "(1.25 B of workgroup memory per FMA in the value products instead of 1.5); the default " +
      "at DHV ≥ 256 since stop 11",
    options: {
      tiles: { parallel: { trimDiagonal: true, interleaveColumns: true, TN: 16, BD: 16 } },
    },
    ...switches({}),
  },
  {
    name: "tn32",
    doc: "trimi with 32 output columns per thread (4 × 32, TN 32, BD 8): at DHV 512 (the xLSTM " +
      "7B head) one workgroup spans all 512 columns (register-heavy: 128 accumulators)",
    options: {
      tiles: { parallel: { trimDiagonal: true, interleaveColumns: true, TN: 32, BD: 8 } },
    },
    ...switches({}),
  },
  {
    name: "bd16",
    doc: "trimi staging DQK 16 at a time (less workgroup memory: more workgroups per SM)",
    options: (DHV, wgs) => ({
      tiles: {
        parallel: { ...tn8(DHV, wgs), BD: 16, trimDiagonal: true, interleaveColumns: true },
      },
    }),
    ...switches({}),
  },
  {
    name: "prefetch",
    doc: "trimi with register prefetch of the next staged sub-block (tiles.parallel.prefetch)",
    options: (DHV, wgs) => ({
      tiles: {
        parallel: { ...tn8(DHV, wgs), trimDiagonal: true, interleaveColumns: true, prefetch: true },
      },
    }),
    ...switches({}),
  },
  {
    name: "st4",
    doc: "defaults with the forward's state kernel at 4 × 4 per thread (64 × 64 tiles of C), the " +
      "default before stop 11 (now 4 × 8 interleaved for 64 < DHV ≤ 256)",
    options: { tiles: { state: { TN: 4, interleaveColumns: false } } },
    setup: () => use(DEFAULTS),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "st8i",
    doc: "defaults with the forward's state kernel at 4 × 8 per thread (64 × 128 tiles of C) " +
      "and interleaved columns (tiles.state TN 8, interleaveColumns; the default for 64 < DHV " +
      "≤ 256 since stop 11)",
    options: { tiles: { state: { TN: 8, interleaveColumns: true } } },
    setup: () => use(DEFAULTS),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "st16i",
    doc: "st8i at 4 × 16 per thread (64 × 256 tiles of C, 16 keys staged)",
    options: { tiles: { state: { TN: 16, BJ: 16, interleaveColumns: true } } },
    setup: () => use(DEFAULTS),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "pfinter",
    doc: "defaults with register prefetch in the forward parallel kernel's inter-chunk loop " +
      "(q̃·C: the next DQK sub-block of Q, C and n loaded while the current one is multiplied; " +
      "tiles.parallel.prefetchInter)",
    options: { tiles: { parallel: { prefetchInter: true } } },
    passes: ["fw"],
  },
  {
    name: "st8ipf",
    doc: "defaults (st8i) with register prefetch in the forward's state kernel: the next staged " +
      "keys and values (across chunk boundaries) loaded while the current ones are multiplied " +
      "(tiles.state.prefetch)",
    options: { tiles: { state: { TN: 8, interleaveColumns: true, prefetch: true } } },
    passes: ["fw"],
  },
  {
    name: "st8bj16",
    doc: "st8i staging 16 keys at a time instead of 32",
    options: { tiles: { state: { TN: 8, BJ: 16, interleaveColumns: true } } },
    setup: () => use(DEFAULTS),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "tn16bd8",
    doc: "defaults with the parallel kernel's 4 × 16 tiles staging DQK 8 deep (27.4 instead of " +
      "37.7 KiB of workgroup memory)",
    options: { tiles: { parallel: { TN: 16, BD: 8 } } },
    setup: () => use(DEFAULTS),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "tn16fuse",
    doc: "defaults with the parallel kernel's inter-chunk product fused into the diagonal " +
      "block's DQK loop (Q staged once for both; tiles.parallel.fuse)",
    options: { tiles: { parallel: { TN: 16, BD: 16, fuse: true } } },
    setup: () => use(DEFAULTS),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "tn16pf",
    doc: "defaults with register prefetch in the parallel kernel (tiles.parallel.prefetch)",
    options: { tiles: { parallel: { TN: 16, BD: 16, prefetch: true } } },
    setup: () => use(DEFAULTS),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "bwtrim",
    doc: "backward register-blocked dq/dkdv: skip zero-weight row groups of the diagonal block " +
      "(setBackwardTrimDiagonal)",
    options: untrimmedFw,
    passes: ["fwbw"],
    blockedOnly: true,
    ...switches({ trimDiagonal: true }),
  },
  {
    name: "bwtrim2",
    doc: "bwtrim + the blocked stats/dq/dkdv form their score blocks on a grid where whole " +
      "subgroups of the diagonal block skip masked products (setBackwardTrimScores)",
    options: untrimmedFw,
    passes: ["fwbw"],
    blockedOnly: true,
    ...switches({ trimDiagonal: true, trimScores: true }),
  },
  {
    name: "f16recompute",
    doc: "f16 storage: dq recomputes U = dh·Cᵀ as before issue #14 (the default reuses it " +
      "through dq's f32 buffer like f32 storage: setBackwardF16ReuseU); times the f16 fix",
    options: untrimmedFw,
    passes: ["fwbw"],
    dtypes: ["f16"],
    blockedOnly: true,
    ...switches({ reuseUF16: false }),
  },
  {
    name: "fuse",
    doc: "backward: the blocked stats kernel also computes dq, no dq dispatch " +
      "(setBackwardFuseStatsDq)",
    options: untrimmedFw,
    passes: ["fwbw"],
    blockedOnly: true,
    ...switches({ fuseStatsDq: true }),
  },
  {
    name: "all",
    doc: "trim + bwtrim2 + fuse: the defaults of 2026-12-06 (stop 9)",
    options: trimFw,
    passes: ["fwbw"],
    blockedOnly: true,
    ...switches({ trimDiagonal: true, trimScores: true, fuseStatsDq: true }),
  },
  {
    name: "defaults",
    doc: "the library's defaults, no overrides: today `all` with the forward's interleaveColumns " +
      "(`trimi`, the default since stop 11) and, at DHV 512, `staged`",
    setup: () => use(DEFAULTS),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "stop11",
    doc: "the defaults of stop 11: today's without register prefetch (setBackwardPrefetch({})) " +
      "and with the fused stats + dq's two accumulators (setBackwardRowFirst(false))",
    passes: ["fwbw"],
    setup: () => use(STOP11),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "tn16bd32",
    doc: "the default tiles since stop 14 (compare `stop13`), given explicitly: " +
      "the parallel kernel staging DQK 32 deep instead of 16 (DHV ≥ 512: 16 " +
      "instead of 8), half the barriers of its inter-chunk and score loops, the value product " +
      "keeping 16 (8) keys per step so that P fits behind V in the staging array " +
      "(tiles.parallel.valueDepth; 40.9 KiB, 36.8 KiB at DHV 512); fwbw through " +
      "forwardBackward (the tiles go to its forward), so compare with `reuse`",
    options: (DHV) => ({ tiles: deepParallel(DHV) }),
    forwardBackward: true,
    setup: () => use(DEFAULTS),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "hg32",
    doc: "diagnostic: the defaults with at most 32 heads per group of dispatches " +
      "(maxHeadsPerGroup), so that the forward's state kernel runs in more, smaller " +
      "dispatches (128 workgroups each at the TFLA shape instead of 256): whether its time " +
      "per dispatch follows its workgroups (throughput-bound) or not (latency-bound, so that " +
      "more concurrent workgroups would pay); forward only",
    options: { maxHeadsPerGroup: 32 },
    passes: ["fw"],
    setup: () => use(DEFAULTS),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "hg16",
    doc: "diagnostic: as hg32 with at most 16 heads per group (64 state workgroups per " +
      "dispatch); forward only",
    options: { maxHeadsPerGroup: 16 },
    passes: ["fw"],
    setup: () => use(DEFAULTS),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "st8bj64",
    doc: "defaults with the forward's state kernel staging a whole 64-step chunk per step (BJ " +
      "64 instead of 32: 48 KiB, half its barriers) at 64 < DHV ≤ 256; fwbw through " +
      "forwardBackward, as `tn16bd32`",
    options: (DHV) => ({ tiles: deepState(DHV) }),
    forwardBackward: true,
    setup: () => use(DEFAULTS),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "bd32bj64",
    doc: "tn16bd32 and st8bj64 together; fwbw through forwardBackward, as `tn16bd32`",
    options: (DHV) => ({ tiles: { ...deepParallel(DHV), ...deepState(DHV) } }),
    forwardBackward: true,
    setup: () => use(DEFAULTS),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "scan32",
    doc: "defaults with the fused state scans staging 32 rows per step instead of 16 " +
      "(setBackwardScanRows(32): half their barriers, 24 KiB); forward+backward through " +
      "forwardBackward, so compare with `reuse`",
    passes: ["fwbw"],
    blockedOnly: true,
    forwardBackward: true,
    setup: () => use({ ...DEFAULTS, scanRows: 32 }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "sd32",
    doc: "defaults with the register-blocked kernels' chunk-state products staged 32 deep " +
      "instead of 16 (setBackwardStateDepth(32): half their barriers, 40 KiB with the weight " +
      "block sharing the staging array; DQK ≤ 128); forward+backward through forwardBackward, " +
      "so compare with `reuse`",
    passes: ["fwbw"],
    blockedOnly: true,
    forwardBackward: true,
    setup: () => use({ ...DEFAULTS, stateDepth: 32 }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "dbstate",
    doc:
      "stop 14's defaults with the register-blocked kernels' prefetched chunk-state products staged " +
      "into two alternating halves (setBackwardDoubleBuffer({ state: true }): one barrier per " +
      "step instead of two, no more registers, 40 KiB with the weight block overlapping the " +
      "halves); forward+backward through forwardBackward, so compare with `stop14`",
    passes: ["fwbw"],
    blockedOnly: true,
    forwardBackward: true,
    setup: () => use({ ...STOP14, doubleBuffer: { state: true } }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "statesfirst",
    doc:
      "stop 14's defaults with every head group's forward state kernel dispatched first, starting " +
      "from zero states itself (setForwardStatesFirst(true): no barrier between the groups' " +
      "state kernels, which may then run side by side; kept states only, so " +
      "forward+backward through forwardBackward: compare with `stop14`)",
    passes: ["fwbw"],
    forwardBackward: true,
    setup: () => use({ ...STOP14, statesFirst: true }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "stop15",
    doc: "stop 15's defaults: U = dh·Cᵀ and q·kᵀ formed in the fused stats + dq " +
      "(setBackwardStateTerm(false), setBackwardScoresFromForward(false)); forward+backward " +
      "through forwardBackward, so compare with `reuse`",
    passes: ["fwbw"],
    blockedOnly: true,
    forwardBackward: true,
    setup: () => use(STOP15),
    teardown: () => use(DEFAULTS),
  },
  ...([
    ["ut", { TM: 8, BK: 16 }, "8 rows per thread (128 threads), 16 deep: stop 16's default"],
    [
      "ut4",
      { TM: 4, BK: 16 },
      "4 rows per thread (256 threads), 16 deep: the default since stop 17",
    ],
    ["ut8k32", { TM: 8, BK: 32 }, "8 rows per thread, 32 deep (48 KiB)"],
    ["ut4k32", { TM: 4, BK: 32 }, "4 rows per thread, 32 deep"],
  ] as const).map(([name, stateTerm, tiles]): SpeedVariant => ({
    name,
    doc: "stop 15's defaults with the rows' state term U = dh·Cᵀ in its own kernel before the " +
      `fused stats + dq (setBackwardStateTerm(${JSON.stringify(stateTerm)}): ${tiles}), which ` +
      "reads U from dq's buffer; forward+backward through forwardBackward, so compare with `stop15`",
    passes: ["fwbw"],
    blockedOnly: true,
    forwardBackward: true,
    setup: () => use({ ...STOP15, stateTerm }),
    teardown: () => use(DEFAULTS),
  })),
  {
    name: "utdk",
    doc: "ut, and dkdv's state products v·dCᵀ and k·dC in their own kernels too " +
      "(setBackwardColumnStateTerms(true)), which dkdv reads from dk's and dv's buffers; " +
      "forward+backward through forwardBackward, so compare with `stop15`",
    passes: ["fwbw"],
    blockedOnly: true,
    forwardBackward: true,
    setup: () => use({ ...STOP15, stateTerm: { TM: 8, BK: 16 }, columnStateTerms: true }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "utc",
    doc: "stop 15's defaults with dkdv's state products alone in their own kernels " +
      "(setBackwardColumnStateTerms(true), the default tiles); forward+backward through " +
      "forwardBackward, so compare with `stop15`",
    passes: ["fwbw"],
    blockedOnly: true,
    forwardBackward: true,
    setup: () => use({ ...STOP15, columnStateTerms: true }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "fwx",
    doc: "stop 15's defaults with the forward's parallel kernel writing each chunk's raw score " +
      "block q·kᵀ (64 × 64 f32) into the backward's dk buffer, allocated before the forward, and " +
      "the fused stats + dq reading it there instead of forming it " +
      "(setBackwardScoresFromForward(true); chunk 64, the forward's kept states); " +
      "forward+backward through forwardBackward, so compare with `stop15`",
    passes: ["fwbw"],
    blockedOnly: true,
    forwardBackward: true,
    setup: () => use({ ...STOP15, scoresFromForward: true }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "utfwx",
    doc: "ut and fwx together (8 rows per thread); forward+backward through forwardBackward, so " +
      "compare with `stop15` and `reuse` (the defaults since stop 17: 4 rows per thread)",
    passes: ["fwbw"],
    blockedOnly: true,
    forwardBackward: true,
    setup: () => use({ ...STOP15, stateTerm: { TM: 8, BK: 16 }, scoresFromForward: true }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "utdkfwx",
    doc:
      "utdk and fwx together; forward+backward through forwardBackward, so compare with `stop15`",
    passes: ["fwbw"],
    blockedOnly: true,
    forwardBackward: true,
    setup: () =>
      use({
        ...STOP15,
        stateTerm: { TM: 8, BK: 16 },
        columnStateTerms: true,
        scoresFromForward: true,
      }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "ut4k32fwx",
    doc: "the defaults with U's kernel staged 32 deep (setBackwardStateTerm({ TM: 4, BK: 32 })); " +
      "forward+backward through forwardBackward, so compare with `reuse`",
    passes: ["fwbw"],
    blockedOnly: true,
    forwardBackward: true,
    setup: () => use({ ...DEFAULTS, stateTerm: { TM: 4, BK: 32 } }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "dballsf",
    doc:
      "dball and statesfirst together (the defaults since stop 15); forward+backward through forwardBackward",
    passes: ["fwbw"],
    blockedOnly: true,
    forwardBackward: true,
    setup: () => use({ ...STOP14, doubleBuffer: { state: true, scores: true }, statesFirst: true }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "dbscores",
    doc:
      "stop 14's defaults with the blocked kernels' prefetched score blocks (q·kᵀ, dh·vᵀ) staged into " +
      "two alternating halves (setBackwardDoubleBuffer({ scores: true }): one barrier per " +
      "step, no more storage); forward+backward through forwardBackward, so compare with `stop14`",
    passes: ["fwbw"],
    blockedOnly: true,
    forwardBackward: true,
    setup: () => use({ ...STOP14, doubleBuffer: { scores: true } }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "dball",
    doc: "dbstate and dbscores together (stop 14's defaults otherwise); forward+backward through " +
      "forwardBackward",
    passes: ["fwbw"],
    blockedOnly: true,
    forwardBackward: true,
    setup: () => use({ ...STOP14, doubleBuffer: { state: true, scores: true } }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "sd32scan32",
    doc: "sd32 and scan32 together; forward+backward through forwardBackward",
    passes: ["fwbw"],
    blockedOnly: true,
    forwardBackward: true,
    setup: () => use({ ...DEFAULTS, stateDepth: 32, scanRows: 32 }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "stop14",
    doc: "the defaults of stop 14 (no double-buffered staging in the backward, the forward's " +
      "state kernels dispatched per head group); fw as is, fwbw through forwardBackward, so " +
      "compare its fwbw with `reuse` and its fw with `defaults`",
    forwardBackward: true,
    setup: () => use(STOP14),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "stop13",
    doc: "the defaults of stop 13: today's with the parallel kernel staging DQK 16 deep at " +
      "DHV ≥ 256 (8 at DHV ≥ 512) and P in its own array (tiles.parallel BD 16 / 8, no " +
      "valueDepth); forward+backward through forwardBackward, so compare its fwbw with `reuse` " +
      "and its fw with `defaults`",
    options: stop13Tiles,
    forwardBackward: true,
    setup: () => use(DEFAULTS),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "stop12",
    doc: "the defaults of stop 12: stop13's with the forward's gate kernel unstaged " +
      "(setForwardGatesStaged(false)) and the backward's gate kernel 64 threads wide " +
      "(setBackwardGatesWide(false)); forward+backward through forwardBackward, so compare " +
      "its fwbw with `reuse` and its fw with `defaults`",
    options: stop13Tiles,
    forwardBackward: true,
    setup: () => use(STOP12),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "bwgates0",
    doc: "today's defaults with the backward's gate kernel of 64 threads per head, each walking " +
      "⌈S/64⌉ rows twice (setBackwardGatesWide(false)) instead of 256 threads on coalesced " +
      "tiles with log-depth scans; forward+backward through forwardBackward, so compare its " +
      "fwbw with `reuse`",
    passes: ["fwbw"],
    forwardBackward: true,
    setup: () => use({ ...DEFAULTS, gatesWide: false }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "reuse",
    doc: "defaults with forward+backward through forwardBackward: the forward keeps its chunk " +
      "states and the backward reads them (savedStates) instead of recomputing them in its " +
      "state scan, where that takes no more peak memory (kernels/train.ts; the default of " +
      "forwardBackward); compare with `defaults`, which calls forward and backward separately",
    passes: ["fwbw"],
    blockedOnly: true,
    forwardBackward: true,
    setup: () => use(DEFAULTS),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "twopass",
    doc: "defaults with the blocked backward recomputing the chunk states in two passes (outer " +
      "products written, then scanned; before stop 11) instead of one fused pass " +
      "(setBackwardFuseStateScan(false))",
    passes: ["fwbw"],
    blockedOnly: true,
    setup: () => use({ ...DEFAULTS, fuseStateScan: false }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "noshare",
    doc: "defaults with dkdv forming its score blocks itself at chunk ≤ 64 instead of reading " +
      "those stats wrote (setBackwardShareScores(false); before stop 11)",
    passes: ["fwbw"],
    blockedOnly: true,
    setup: () => use({ ...DEFAULTS, shareScores: false }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "kc8",
    doc: "defaults with the blocked backward staging its state products 8 columns deep instead " +
      "of 16 (setBackwardBlockDepth(8): 26.6 instead of 36.9 KiB of workgroup memory at the " +
      "TFLA shape)",
    passes: ["fwbw"],
    blockedOnly: true,
    setup: () => {
      use(DEFAULTS);
      setBackwardBlockDepth(8);
    },
    teardown: () => {
      setBackwardBlockDepth(undefined);
      use(DEFAULTS);
    },
  },
  {
    name: "staged",
    doc: "trim + the row-sliced backward (the xLSTM 7B head, DHV 512) reads the chunk states " +
      "as vec4s and stages their columns in workgroup memory (setBackwardStateVec4; the default " +
      "`stateVec4Default` since 2026-12-06)",
    options: trimFw,
    passes: ["fwbw"],
    rowSlicedOnly: true,
    ...switches({ stateVec4: "staged" }),
  },
  {
    name: "bwunroll",
    doc: "staged with the row-sliced backward's loops over a tile's other rows and a row's " +
      "partial sums unrolled fully (constant trip counts), as before issue #11; compare with " +
      "`staged`, which rolls them above head dim 256 (2 rows and 4 sums per iteration, the " +
      "default, so that lavapipe compiles the 7B backward in 1.3-2.7 s instead of 5.6-8.2 s: " +
      "setBackwardTileUnroll)",
    options: trimFw,
    passes: ["fwbw"],
    rowSlicedOnly: true,
    largeHeadOnly: true,
    ...switches({ stateVec4: "staged", tileUnroll: "full" }),
  },
  {
    name: "blocked512",
    doc: "the defaults with the register-blocked backward serving DHV above 256 (the xLSTM 7B " +
      "head: stats and dq unfused, dkdv split into dk and dv, dv over column tiles of 256; " +
      "setBackwardBlockedLarge(true); the default on GPUs since stop 11: `defaults` there); " +
      "compare with `staged`, the row-sliced kernels",
    passes: ["fwbw"],
    rowSlicedOnly: true,
    largeHeadOnly: true,
    setup: () => use({ ...DEFAULTS, blockedLarge: true }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "splitdkdv",
    doc: "the defaults with the register-blocked dkdv split into dk (forms q·kᵀ and dh·vᵀ) and " +
      "dv (q·kᵀ again, column tiles of up to 256): fewer registers per thread " +
      "(setBackwardSplitDkdv); compare with `defaults`",
    passes: ["fwbw"],
    blockedOnly: true,
    setup: () => use({ ...DEFAULTS, splitDkdv: true }),
    teardown: () => use(DEFAULTS),
  },
  ...([
    ["pfstate", { state: true }, "the chunk-state products of stats and dkdv"],
    ["pfaccum", { accum: true }, "the weighted accumulation of the other side's rows"],
    ["pfscores", { scores: true }, "the score blocks (stats; dkdv where it forms them)"],
    ["pfscan", { scan: true }, "the fused state scans' per-chunk outer products"],
    ["pfall", { state: true, accum: true, scores: true, scan: true }, "all four"],
  ] as const).map(([name, pf, what]): SpeedVariant => ({
    name,
    doc: `stop 11's defaults with register prefetch in ${what} (setBackwardPrefetch): each ` +
      "staging step's global loads issued one step ahead, before the current step's products " +
      "(all four: the default since stop 12)",
    passes: ["fwbw"],
    setup: () => use({ ...STOP11, prefetch: pf }),
    teardown: () => use(DEFAULTS),
  })),
  {
    name: "rowfirst",
    doc: "stop 11's defaults with the fused stats + dq reducing the row statistics first at " +
      "chunk ≤ 64 (setBackwardRowFirst; the default since stop 12): dq's weights formed in " +
      "registers, k accumulated once into one accumulator instead of twice into two",
    passes: ["fwbw"],
    blockedOnly: true,
    setup: () => use({ ...STOP11, rowFirst: true }),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "pfrowreuse",
    doc: "pfall + rowfirst + reuse (forwardBackward with the forward's kept states): the " +
      "defaults since stop 12, as `reuse` is",
    passes: ["fwbw"],
    blockedOnly: true,
    forwardBackward: true,
    setup: () => use(DEFAULTS),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "pfrow",
    doc: "pfall + rowfirst: the defaults since stop 12 (as `defaults` is)",
    passes: ["fwbw"],
    setup: () => use(DEFAULTS),
    teardown: () => use(DEFAULTS),
  },
  {
    name: "opaquebounds",
    doc: "base with the kernels reading their uniforms through an opaque select " +
      "(`opaqueUniforms` in kernels/_opaque.ts; setOpaqueLoopBounds(true)), the default only on " +
      "lavapipe, where it keeps the driver from recompiling a shader for the uniforms' values at " +
      "each of a kernel's first calls: what it would cost on this GPU (on an H200 the forward " +
      "ran 1.04× slower with it, the only reason it is not the default everywhere)",
    options: untrimmedFw,
    setup: () => {
      use(BEFORE);
      setOpaqueLoopBounds(true);
    },
    teardown: () => {
      setOpaqueLoopBounds("auto");
      use(DEFAULTS);
    },
  },
];
