/**
 * Every WGSL variant the kernel generators can emit, as a list of families: the input of the
 * portability checks (tests/wgsl_portability_test.ts compiles each one with Naga in Deno and with
 * Tint in headless Chromium; `deno run -A tools/wgsl_variants.ts <dir>` writes them as files).
 *
 * A family enumerates the parameter space of one generator: every switch (gate, normalization,
 * storage dtype, tiles, vec4/scalar access, prefetch, fusion, head groups, backward modes) crossed
 * with head dimensions that take different code paths (multiples of 4 and of 64, and neither), so
 * that each code path of the generator appears at least once. Head groups (the backward's and the
 * chunkwise forward's split of heads over dispatches) change only uniforms (`H0`, `bh0`), not the
 * WGSL, so they need no variants of their own. Adding a kernel family is one entry
 * in {@linkcode WGSL_FAMILIES}: `family("name", function* () { yield v("key", wgsl(...)); })`.
 *
 * @module
 */

import {
  gatesWgsl as cwGatesWgsl,
  limitChunkTiles,
  parallelTiles,
  parallelWgsl as cwParallelWgsl,
  statesCopyWgsl,
  stateTiles,
  stateWgsl,
} from "../kernels/chunkwise/_wgsl.ts";
import type { ParallelTiles, StateTiles } from "../kernels/chunkwise/_wgsl.ts";
import {
  type BwParams,
  gatesWgsl as bwGatesWgsl,
  gatesWideWgsl as bwGatesWideWgsl,
  outerWgsl,
  prepWgsl,
  scanWgsl,
  type TileGeometry,
  tileGeometry,
  tileWgsl,
} from "../kernels/backward/_wgsl.ts";
import { blockDepth, blockWgsl, outerBlockWgsl } from "../kernels/backward/_block_wgsl.ts";
import { stateScanWgsl } from "../kernels/backward/_state_scan_wgsl.ts";
import { stateTermWgsl } from "../kernels/backward/_state_term_wgsl.ts";
import { parallelKernelParams, parallelWgsl } from "../kernels/parallel.ts";
import { setStepKernelTiles, stepKernelParams, stepWgsl } from "../kernels/recurrent.ts";
import { elementwiseWgsl } from "../kernels/layers/elementwise.ts";
import { gatherWgsl } from "../kernels/layers/gather.ts";
import { gemmWgsl } from "../kernels/layers/gemm.ts";
import { toHeadsWgsl } from "../kernels/layers/heads.ts";
import { normWgsl } from "../kernels/layers/norm.ts";
import { randomFillWgsl } from "../kernels/layers/random.ts";
import { opaqueUniforms } from "../kernels/_opaque.ts";
import { matvecParams, matvecWgsl, setMatvecTileTable } from "../kernels/layers/matvec.ts";
import { samplingWgsl } from "../kernels/layers/sampling.ts";
import { decodeSplitWgsl } from "../models/xlstm_large/decode.ts";
import {
  backwardWgsl as slstmBackwardWgsl,
  drReduceWgsl,
  drWgsl,
  forwardWgsl as slstmForwardWgsl,
  rCopyWgsl,
  type RPlace,
} from "../kernels/slstm/_wgsl.ts";

/** One generated shader. */
export interface WgslVariant {
  /** Family and parameters, unique in the whole list (used in messages and file names). */
  key: string;
  /** The WGSL source. */
  code: string;
  /** Whether it needs the `shader-f16` feature (`enable f16;`). */
  f16: boolean;
}

/** One generator's variants. */
export interface WgslFamily {
  /** The family's name (a kernel file or generator). */
  name: string;
  /** Enumerates the variants (lazily: generating them all takes a few seconds). */
  variants: () => Iterable<WgslVariant>;
}

/** Builds a variant from its key and code (f16 is read from the code). */
function v(key: string, code: string): WgslVariant {
  return { key, code, f16: /^\s*enable f16;/m.test(code) };
}

function family(name: string, variants: () => Iterable<WgslVariant>): WgslFamily {
  return { name, variants };
}

const GATES = [
  { gate: "exp", normalize: true },
  { gate: "sig", normalize: true },
  { gate: "sig", normalize: false },
] as const;
const DTYPES = ["f32", "f16"] as const;
const BOOLS = [false, true] as const;
/** Workgroup storage of WebGPU's default device (16 KiB), lavapipe (32 KiB) and NVIDIA (48 KiB). */
const STORAGES = [16384, 32768, 49152];
/** Head dimensions with different code paths: multiples of 64, of 4 only, and of neither. */
const HEAD_DIMS: readonly [number, number][] = [[64, 64], [64, 128], [16, 24], [12, 20], [6, 10]];

function uniqueBy<T>(xs: T[], key: (x: T) => string): T[] {
  const seen = new Set<string>();
  return xs.filter((x) => !seen.has(key(x)) && (seen.add(key(x)), true));
}

const tag = (o: object) =>
  Object.entries(o).map(([k, x]) => `${k}=${x === true ? 1 : x === false ? 0 : x}`).join(",");

/** Chunkwise forward: gate scan, state copies, the recurrent state kernel, the parallel kernel. */
function* chunkwiseForward(): Generator<WgslVariant> {
  // Tile sets the launchers pick (default, small devices, limit_chunk) plus a non-default one.
  const pTiles: ParallelTiles[] = uniqueBy([
    ...[64, 128, 256, 512].flatMap((DHV) => STORAGES.map((s) => parallelTiles(DHV, s))),
    ...[64, 128, 256].flatMap((DHV) => STORAGES.map((s) => limitChunkTiles(DHV, s)))
      .filter((t): t is ParallelTiles => t !== undefined),
    { TX: 4, TY: 4, TN: 12, BD: 4, fuse: true, prefetch: true },
    // 8 query rows per thread (issue #14 speed variants rows8, rows8bd16, rows8i): 16 × 8 threads
    // with the remapped trimmed score grid, untrimmed with interleaved columns, and 8 × 8 threads
    // (8 × 8 scores per thread).
    {
      TX: 16,
      TY: 8,
      TN: 8,
      BD: 32,
      fuse: false,
      prefetch: false,
      trimDiagonal: true,
      rowsPerThread: 8,
    },
    {
      TX: 16,
      TY: 8,
      TN: 4,
      BD: 16,
      fuse: false,
      prefetch: false,
      rowsPerThread: 8,
      interleaveColumns: true,
    },
    // The value product shallower than BD with P behind V (speed variants tn16bd32, tn32bd16),
    // trimmed with interleaved columns and untrimmed with prefetch.
    {
      TX: 16,
      TY: 16,
      TN: 16,
      BD: 32,
      valueDepth: 16,
      fuse: false,
      prefetch: false,
      trimDiagonal: true,
      interleaveColumns: true,
    },
    { TX: 16, TY: 16, TN: 32, BD: 16, valueDepth: 8, fuse: false, prefetch: true },
    // The defaults as the launcher completes them (trimmed, interleaved columns): 4 × 16 per
    // thread at DHV 256 (NVIDIA) and 4 × 8 (speed variant trimi).
    { ...parallelTiles(256, 49152), trimDiagonal: true, interleaveColumns: true },
    { ...parallelTiles(128, 49152), trimDiagonal: true, interleaveColumns: true },
    { TX: 16, TY: 16, TN: 16, BD: 8, fuse: false, prefetch: false, interleaveColumns: true },
    { ...parallelTiles(512, 49152), trimDiagonal: true, interleaveColumns: true },
    {
      TX: 8,
      TY: 8,
      TN: 8,
      BD: 8,
      fuse: true,
      prefetch: false,
      trimDiagonal: true,
      rowsPerThread: 8,
    },
  ], (t) => tag({ ...t, fuse: 0, prefetch: 0 }));
  const sTiles: StateTiles[] = uniqueBy([
    ...STORAGES.map((s) => stateTiles(256, s)),
    { TX: 4, TY: 8, TN: 8, BJ: 8, prefetch: false },
    // Interleaved columns (speed variants st8i, st16i).
    { TX: 16, TY: 16, TN: 8, BJ: 32, prefetch: false, interleaveColumns: true },
    { TX: 16, TY: 16, TN: 16, BJ: 16, prefetch: false, interleaveColumns: true },
    // A whole 64-step chunk per staging step (speed variant st8bj64).
    { TX: 16, TY: 16, TN: 8, BJ: 64, prefetch: false, interleaveColumns: true },
  ], (t) => tag({ ...t, prefetch: 0 }));
  for (const dtype of DTYPES) {
    for (const gate of ["exp", "sig"] as const) {
      for (const L of [1, 20, 64, 128]) {
        for (const BQ of [16, 32, 64]) {
          for (const resets of BOOLS) {
            // Staged (the default, issue #14) and unstaged (larger chunks).
            for (const staged of BOOLS) {
              const p = { gate, dtype, L, BQ, resets, staged };
              yield v(`chunkwise-gates:${tag(p)}`, cwGatesWgsl(p));
            }
          }
        }
      }
      yield v(
        `chunkwise-init:${tag({ gate, dtype })}`,
        statesCopyWgsl({ mode: "init", gate, dtype }),
      );
      for (const t of sTiles) {
        for (const prefetch of BOOLS) {
          for (const vec4io of BOOLS) {
            const p = { gate, dtype, ...t, prefetch, vec4io };
            yield v(`chunkwise-state:${tag(p)}`, stateWgsl(p));
          }
        }
        // Starting from zero states (speed variant statesfirst).
        const z = { gate, dtype, ...t, vec4io: true, zeroInit: true };
        yield v(`chunkwise-state:${tag(z)}`, stateWgsl(z));
      }
    }
    for (const g of GATES) {
      let fwxFirst = true;
      for (const [ti, t] of pTiles.entries()) {
        // Every switch crossed on the default tiles, the switches one at a time on the others.
        const combos = ti === 0
          ? BOOLS.flatMap((fuse) =>
            BOOLS.flatMap((prefetch) =>
              BOOLS.flatMap((vec4io) => BOOLS.map((vec4qk) => ({ fuse, prefetch, vec4io, vec4qk })))
            )
          )
          : [
            { fuse: t.fuse, prefetch: false, vec4io: false, vec4qk: false },
            { fuse: !t.fuse, prefetch: true, vec4io: true, vec4qk: true },
          ];
        for (const c of combos) {
          const p = { ...g, dtype, ...t, ...c };
          yield v(`chunkwise-parallel:${tag(p)}`, cwParallelWgsl(p));
        }
        // The inter-chunk loop prefetched (speed variant pfinter), with vec4 loads and without.
        for (const vec4 of BOOLS) {
          const p = {
            ...g,
            dtype,
            ...t,
            fuse: false,
            prefetch: ti !== 0,
            prefetchInter: true,
            vec4io: vec4,
            vec4qk: vec4,
          };
          yield v(`chunkwise-parallel:${tag(p)}`, cwParallelWgsl(p));
        }
        // The raw score blocks written for the backward (speed variant fwx): 64-row query
        // blocks of 4 rows per thread; the tiles' own trim, and on the first such tiles
        // untrimmed with every other switch flipped too.
        if ((t.rowsPerThread ?? 4) === 4 && t.TY === 16) {
          const combos = [
            { trimDiagonal: t.trimDiagonal ?? true, vec4io: true, vec4qk: true },
            ...(fwxFirst
              ? [{
                trimDiagonal: false,
                fuse: !t.fuse,
                prefetch: true,
                vec4io: false,
                vec4qk: false,
              }]
              : []),
          ];
          fwxFirst = false;
          for (const c of combos) {
            const p = { ...g, dtype, ...t, ...c, scoresOut: true };
            yield v(`chunkwise-parallel:${tag(p)}`, cwParallelWgsl(p));
          }
        }
      }
    }
  }
  yield v("chunkwise-init-zero", statesCopyWgsl({ mode: "init-zero", gate: "exp", dtype: "f32" }));
  yield v("chunkwise-last", statesCopyWgsl({ mode: "last", gate: "exp", dtype: "f32" }));
}

/** Every BwParams combination at one head shape (dtype pairs, gates, gradient, form). */
function* bwParams(
  DQK: number,
  DHV: number,
  dtypes: readonly ("f32" | "f16")[] = DTYPES,
): Generator<BwParams> {
  for (const dtype of dtypes) {
    for (const gateDtype of dtypes) {
      for (const g of GATES) {
        for (const exact of BOOLS) {
          for (const inter of BOOLS) yield { dtype, gateDtype, DQK, DHV, ...g, exact, inter };
        }
      }
    }
  }
}

const bwTag = (p: BwParams) =>
  `${p.dtype}/${p.gateDtype}:${p.DQK}x${p.DHV}:${p.gate}${p.normalize ? "" : "-raw"}:${
    p.exact ? "exact" : "nc"
  }:${p.inter ? "chunkwise" : "parallel"}`;

/** Backward (row-sliced kernels): prep, stats/dq/dkdv tiles, outer products, scans, gates. */
function* backwardSliced(): Generator<WgslVariant> {
  for (const [DQK, DHV] of HEAD_DIMS) {
    // f16 crossed on one shape (the dtype only changes loads and stores).
    for (const p of bwParams(DQK, DHV, DQK === 16 ? DTYPES : ["f32"])) {
      const k = bwTag(p);
      yield v(`bw-prep:${k}`, prepWgsl(p));
      const geos = uniqueBy(STORAGES.map((s) => tileGeometry(DQK, DHV, s)), tag);
      for (const geo of geos) {
        for (const mode of ["stats", "dq", "dkdv"] as const) {
          yield v(`bw-${mode}:${k}:${tag(geo)}`, tileWgsl(p, mode, geo));
        }
      }
      // Rolled loops (issue #11; the default above head dim 256), with steps per iteration that
      // divide BS and G or leave a remainder, and the chunkwise state terms as vec4s / staged.
      const vec4 = p.inter && DQK % 4 === 0 && DHV % 4 === 0;
      const extras: [string, TileGeometry][] = [
        ["unroll=3x3", { ...geos[0]!, unroll: { rows: 3, sums: 3 } }],
        ["unroll=2x4", { ...geos[0]!, unroll: { rows: 2, sums: 4 } }],
        ...(vec4
          ? [
            ["stVec4=1", { ...geos[0]!, stVec4: true }],
            ["stVec4=staged", { ...geos[0]!, stVec4: true, stStaged: true }],
            ["stVec4=staged,unroll=2x4", {
              ...geos[0]!,
              stVec4: true,
              stStaged: true,
              unroll: { rows: 2, sums: 4 },
            }],
          ] as [string, TileGeometry][]
          : []),
      ];
      for (const [x, geo] of extras) {
        for (const mode of ["stats", "dq", "dkdv"] as const) {
          yield v(`bw-${mode}:${k}:${tag(geos[0]!)},${x}`, tileWgsl(p, mode, geo));
        }
      }
      for (const withInit of BOOLS) {
        for (const withLast of BOOLS) {
          if (!p.inter && (withInit || withLast)) continue;
          // Packed sequences (document starts) change only the gate and prep kernels.
          for (const resets of BOOLS) {
            const q = { ...p, resets };
            const x = `${k}:init=${+withInit},last=${+withLast}${resets ? ",resets" : ""}`;
            yield v(`bw-gates:${x}`, bwGatesWgsl(q, withInit, withLast));
            yield v(`bw-gates-wide:${x}`, bwGatesWideWgsl(q, withInit, withLast));
          }
        }
      }
      if (!p.inter) continue;
      for (const mode of ["state", "dstate"] as const) {
        yield v(`bw-outer-${mode}:${k}`, outerWgsl(p, mode));
      }
      for (const withInit of BOOLS) {
        for (const withLast of BOOLS) {
          yield v(
            `bw-scanf:${k}:init=${+withInit},last=${+withLast}`,
            scanWgsl(p, "fwd", withInit, withLast),
          );
        }
        yield v(`bw-scanb:${k}:last=${+withInit}`, scanWgsl(p, "bwd", false, withInit));
      }
    }
  }
}

/** Backward (register-blocked kernels, head dimensions multiples of 64). */
function* backwardBlocked(): Generator<WgslVariant> {
  for (const [DQK, DHV] of HEAD_DIMS) {
    if (blockDepth(DQK, DHV, 1 << 30) === 0) continue;
    for (const p of bwParams(DQK, DHV, DQK === DHV ? DTYPES : ["f32"])) {
      const k = bwTag(p);
      for (const KC of [8, 16]) {
        for (const mode of ["stats", "dq", "dkdv"] as const) {
          for (const reuseU of BOOLS) {
            if (reuseU && (!p.inter || p.dtype !== "f32" || mode === "dkdv")) continue;
            yield v(
              `bw-block-${mode}:${k}:KC=${KC},reuseU=${+reuseU}`,
              blockWgsl(p, mode, reuseU, KC),
            );
          }
        }
      }
      if (!p.inter) continue;
      for (const mode of ["state", "dstate"] as const) {
        yield v(`bw-block-outer-${mode}:${k}`, outerBlockWgsl(p, mode));
      }
      for (const withInit of BOOLS) {
        for (const withLast of BOOLS) {
          yield v(
            `bw-state-scan:${k}:${tag({ withInit, withLast })}`,
            stateScanWgsl(p, withInit, withLast),
          );
        }
        yield v(
          `bw-state-scan-bwd:${k}:${tag({ withLast: withInit })}`,
          stateScanWgsl(p, false, withInit, "bwd"),
        );
      }
      // The forward's states (savedStates): the row modes read C, n, m and the column modes m
      // from statesC / statesNM, and so does the reverse scan; unfused (dq with and without the
      // reused U) and fused stats (one depth: the addressing does not depend on it).
      {
        const o = "KC=8,trim=1,saved";
        for (const mode of ["stats", "dq", "dkdv"] as const) {
          for (const reuseU of BOOLS) {
            if (reuseU && mode === "dkdv") continue;
            yield v(
              `bw-block-${mode}:${k}:${o},reuseU=${+reuseU}`,
              blockWgsl(p, mode, reuseU, 8, true, false, true, undefined, {}, true),
            );
          }
        }
        yield v(
          `bw-block-stats:${k}:${o},fused`,
          blockWgsl(p, "stats", false, 8, true, true, true, undefined, {}, true),
        );
      }
      yield v(`bw-state-scan-bwd:${k}:saved`, stateScanWgsl(p, false, false, "bwd", false, true));
      yield v(
        `bw-state-scan-bwd:${k}:saved,prefetch`,
        stateScanWgsl(p, false, false, "bwd", true, true),
      );
      // The state products 32 deep (speed variant sd32; DQK ≤ 128), fused stats with shared
      // scores and row statistics first, dkdv reading them, and the unfused dq, with and without
      // prefetch.
      if (DQK <= 128 && DQK * DHV >= 2 * 64 * 64) {
        for (const pf of BOOLS) {
          const o = { prefetch: pf ? { state: true, accum: true, scores: true } : {} };
          const tagSd = `KC=16,sd=32,prefetch=${+pf}`;
          yield v(
            `bw-block-stats:${k}:${tagSd},fused,rowFirst,scoresOut`,
            blockWgsl(p, "stats", false, 16, true, true, true, "out", {
              ...o,
              rowFirst: true,
              stateDepth: 32,
            }),
          );
          yield v(
            `bw-block-dkdv:${k}:${tagSd},scoresIn`,
            blockWgsl(p, "dkdv", false, 16, true, false, true, "in", { ...o, stateDepth: 32 }),
          );
          yield v(
            `bw-block-dq:${k}:${tagSd}`,
            blockWgsl(p, "dq", false, 16, true, false, true, undefined, { ...o, stateDepth: 32 }),
          );
        }
      }
      // The state products and score blocks double-buffered (speed variant dball; prefetch
      // needed), at depth 16 and (DQK ≤ 128) 32: fused stats with shared scores, dkdv reading
      // them, the split's dk and dv, the unfused dq.
      for (const sd of DQK <= 128 ? [16, 32] : [16]) {
        const o = {
          prefetch: { state: true, accum: true, scores: true },
          doubleState: true,
          doubleScores: true,
          ...(sd === 32 ? { stateDepth: 32 } : {}),
        };
        const tagDb = `KC=16,sd=${sd},dbs,dbk`;
        if (DQK * DHV >= 2 * 64 * 64) {
          yield v(
            `bw-block-stats:${k}:${tagDb},fused,rowFirst,scoresOut`,
            blockWgsl(p, "stats", false, 16, true, true, true, "out", { ...o, rowFirst: true }),
          );
          yield v(
            `bw-block-dkdv:${k}:${tagDb},scoresIn`,
            blockWgsl(p, "dkdv", false, 16, true, false, true, "in", o),
          );
        }
        for (const mode of ["dq", "dk", "dv"] as const) {
          yield v(
            `bw-block-${mode}:${k}:${tagDb}`,
            blockWgsl(p, mode, false, 16, true, false, true, undefined, o),
          );
        }
      }
      // The rows' state term in its own kernel (speed variant ut): every tile choice that
      // applies, with recomputed and saved states, and the fused stats reading it.
      for (const TM of DQK <= 128 ? [4, 8] as const : [4] as const) {
        for (const BK of [16, 32] as const) {
          for (const saved of BOOLS) {
            yield v(
              `bw-state-term:${k}:TM=${TM},BK=${BK}${saved ? ",saved" : ""}`,
              stateTermWgsl(p, saved, "u", { TM, BK }),
            );
          }
        }
      }
      // dkdv's products (speed variant utdk): 8 rows per thread only for "dv" above DQK 128.
      for (const pr of ["dk", "dv"] as const) {
        for (const TM of DQK <= 128 || pr === "dv" ? [4, 8] as const : [4] as const) {
          for (const BK of [16, 32] as const) {
            yield v(
              `bw-state-term-${pr}:${k}:TM=${TM},BK=${BK}`,
              stateTermWgsl(p, false, pr, { TM, BK }),
            );
          }
        }
      }
      if (DQK * DHV >= 2 * 64 * 64) {
        yield v(
          `bw-block-dkdv:${k}:KC=16,dbs,dbk,scoresIn,stateTermIn`,
          blockWgsl(p, "dkdv", false, 16, true, false, true, "in", {
            prefetch: { state: true, accum: true, scores: true },
            doubleState: true,
            doubleScores: true,
            stateTermIn: true,
          }),
        );
        yield v(
          `bw-block-stats:${k}:KC=16,dbs,dbk,fused,rowFirst,scoresOut,stateTermIn`,
          blockWgsl(p, "stats", false, 16, true, true, true, "out", {
            prefetch: { state: true, accum: true, scores: true },
            doubleState: true,
            doubleScores: true,
            rowFirst: true,
            stateTermIn: true,
          }, true),
        );
        // The forward's raw score blocks read by the fused stats (speed variant fwx), with the
        // forward's states, on the trimmed and the plain score grid; with the state term's kernel.
        const o = {
          prefetch: { state: true, accum: true, scores: true },
          doubleState: true,
          doubleScores: true,
          rowFirst: true,
          scoresFromForward: true,
        };
        for (const trimScores of BOOLS) {
          yield v(
            `bw-block-stats:${k}:KC=16,dbs,dbk,fused,rowFirst,scoresOut,trimScores=${+trimScores},saved,scoresFromForward`,
            blockWgsl(p, "stats", false, 16, true, true, trimScores, "out", o, true),
          );
        }
        yield v(
          `bw-block-stats:${k}:KC=16,fused,scoresOut,stateTermIn,scoresFromForward`,
          blockWgsl(p, "stats", false, 16, true, true, true, "out", {
            rowFirst: false,
            stateTermIn: true,
            scoresFromForward: true,
          }),
        );
      }
      // 32 rows per staging step (speed variant scan32), with and without prefetch.
      for (const pf of BOOLS) {
        yield v(
          `bw-state-scan:${k}:rows=32,prefetch=${+pf},init,last`,
          stateScanWgsl(p, true, true, "fwd", pf, false, 32),
        );
        yield v(
          `bw-state-scan-bwd:${k}:rows=32,prefetch=${+pf},saved`,
          stateScanWgsl(p, false, true, "bwd", pf, true, 32),
        );
      }
      // The defaults at chunk ≤ 64 (trimmed, fused, stats handing its score blocks to dkdv),
      // trimmed and not.
      if (DQK * DHV < 2 * 64 * 64) continue;
      for (const trim of BOOLS) {
        for (const KC of [8, 16]) {
          const o = `KC=${KC},trim=${+trim}`;
          yield v(
            `bw-block-stats:${k}:${o},fused,scoresOut`,
            blockWgsl(p, "stats", false, KC, trim, true, trim, "out"),
          );
          yield v(
            `bw-block-dkdv:${k}:${o},scoresIn`,
            blockWgsl(p, "dkdv", false, KC, trim, false, trim, "in"),
          );
          // The same with the forward's states (savedStates): the score blocks in their C slots.
          if (KC === 8) {
            yield v(
              `bw-block-stats:${k}:${o},fused,scoresOut,saved`,
              blockWgsl(p, "stats", false, KC, trim, true, trim, "out", {}, true),
            );
            yield v(
              `bw-block-dkdv:${k}:${o},scoresIn,saved`,
              blockWgsl(p, "dkdv", false, KC, trim, false, trim, "in", {}, true),
            );
          }
        }
      }
      // Register prefetch in every staging loop (setBackwardPrefetch), trimmed, both depths.
      const pf = { state: true, accum: true, scores: true };
      for (const KC of [8, 16]) {
        const o = `KC=${KC},prefetch`;
        yield v(
          `bw-block-stats:${k}:${o},fused,scoresOut`,
          blockWgsl(p, "stats", false, KC, true, true, true, "out", { prefetch: pf }),
        );
        yield v(
          `bw-block-stats:${k}:${o},reuseU`,
          blockWgsl(p, "stats", true, KC, true, false, true, undefined, { prefetch: pf }),
        );
        yield v(
          `bw-block-dq:${k}:${o},reuseU`,
          blockWgsl(p, "dq", true, KC, true, false, true, undefined, { prefetch: pf }),
        );
        yield v(
          `bw-block-dkdv:${k}:${o},scoresIn`,
          blockWgsl(p, "dkdv", false, KC, true, false, true, "in", { prefetch: pf }),
        );
        yield v(
          `bw-block-dkdv:${k}:${o}`,
          blockWgsl(p, "dkdv", false, KC, true, false, true, undefined, { prefetch: pf }),
        );
      }
      for (const dir of ["fwd", "bwd"] as const) {
        yield v(`bw-state-scan-${dir}:${k}:prefetch`, stateScanWgsl(p, true, true, dir, true));
      }
      // Fused stats with the row statistics first (setBackwardRowFirst), trimmed and not.
      for (const trim of BOOLS) {
        yield v(
          `bw-block-stats:${k}:KC=16,trim=${+trim},fused,scoresOut,rowFirst`,
          blockWgsl(p, "stats", false, 16, trim, true, trim, "out", { rowFirst: true }),
        );
      }
    }
  }
  // dkdv split into dk and dv (setBackwardSplitDkdv) at a blocked shape, and the blocked kernels
  // above DHV 256 (setBackwardBlockedLarge): the xLSTM 7B head (dv over 2 column tiles of 256),
  // DHV 384 (3 of 192), DHV 320 (5 of 64), with the default trims (and, at DQK 128, the fused stats).
  const large: [number, number][] = [[256, 512], [128, 512], [192, 384], [64, 320]];
  for (const [DQK, DHV] of [[64, 128] as [number, number], ...large]) {
    const big = DHV > 256;
    for (const p of bwParams(DQK, DHV, big && DQK === 256 ? DTYPES : ["f32"])) {
      const k = bwTag(p);
      const fuse = DQK <= 128;
      // Both depths and untrimmed only for the 7B head with f32 storage (the code paths; the
      // other shapes and dtypes change sizes and loads).
      const all = DQK === 256 && p.dtype === "f32";
      for (const KC of all ? [8, 16] : [8]) {
        const modes = big ? ["stats", "dq", "dk", "dv"] as const : ["dk", "dv"] as const;
        for (const mode of modes) {
          for (const trim of all ? BOOLS : [true]) {
            for (const reuseU of BOOLS) {
              if (reuseU && (!p.inter || mode === "dk" || mode === "dv")) continue;
              yield v(
                `bw-block-${mode}:${k}:KC=${KC},reuseU=${+reuseU},trim=${+trim}`,
                blockWgsl(p, mode, reuseU, KC, trim, false, trim),
              );
            }
          }
        }
        if (big && fuse && p.inter) {
          yield v(
            `bw-block-stats:${k}:KC=${KC},fused`,
            blockWgsl(p, "stats", false, KC, true, true, true),
          );
        }
        if (p.inter) {
          // Register prefetch (setBackwardPrefetch) in dk and dv's column tiles; the forward's
          // states (savedStates: m from statesNM).
          const pf = { state: true, accum: true, scores: true };
          for (const mode of ["dk", "dv"] as const) {
            yield v(
              `bw-block-${mode}:${k}:KC=${KC},trim=1,prefetch`,
              blockWgsl(p, mode, false, KC, true, false, true, undefined, { prefetch: pf }),
            );
            yield v(
              `bw-block-${mode}:${k}:KC=${KC},trim=1,saved`,
              blockWgsl(p, mode, false, KC, true, false, true, undefined, {}, true),
            );
          }
          if (big) {
            for (const mode of ["stats", "dq"] as const) {
              yield v(
                `bw-block-${mode}:${k}:KC=${KC},reuseU=1,trim=1,saved`,
                blockWgsl(p, mode, true, KC, true, false, true, undefined, {}, true),
              );
            }
          }
        }
      }
      if (big && p.inter) {
        for (const mode of ["state", "dstate"] as const) {
          yield v(`bw-block-outer-${mode}:${k}`, outerBlockWgsl(p, mode));
        }
      }
    }
  }
}

/** The quadratic parallel kernel (kernels/parallel.ts). */
function* parallel(): Generator<WgslVariant> {
  for (const [DQK, DHV] of HEAD_DIMS) {
    for (const S of [8, 100]) {
      for (const dtype of DTYPES) {
        for (const gateDtype of DTYPES) {
          for (const g of GATES) {
            for (const resets of BOOLS) {
              const p = {
                ...parallelKernelParams(DQK, DHV, S, dtype, gateDtype, g.gate, g.normalize),
                resets,
              };
              yield v(`parallel:${tag(p)}`, parallelWgsl(p));
            }
          }
        }
      }
    }
  }
}

/** The step kernels (kernels/recurrent.ts): in place, C in/out, and resident (time loop). */
function* recurrent(): Generator<WgslVariant> {
  const limits = [undefined, { maxColumnVectors: 4, maxThreads: 64, maxStateFloats: 8 }];
  try {
    for (const lim of limits) {
      setStepKernelTiles(lim ?? null);
      for (const [DQK, DHV] of HEAD_DIMS) {
        for (const dtype of DTYPES) {
          for (const gateDtype of DTYPES) {
            for (const g of GATES) {
              for (const mode of ["inplace", "io", "resident"] as const) {
                for (const resets of BOOLS) {
                  const p = {
                    ...stepKernelParams(
                      DQK,
                      DHV,
                      dtype,
                      gateDtype,
                      g.gate,
                      g.normalize,
                      mode === "inplace",
                      mode === "resident",
                    ),
                    resets,
                  };
                  yield v(`step:${tag(p)}`, stepWgsl(p));
                }
              }
            }
          }
        }
      }
    }
  } finally {
    setStepKernelTiles(null);
  }
}

/** The model's layer kernels (kernels/layers/): GEMM, norms, elementwise, head split, gather, fill. */
/** The decoding kernels: matvec (every feature and tile kind), token choice, decode split. */
function* decode(): Generator<WgslVariant> {
  const tiles = [
    { threadsPerRow: 64, rowsPerWorkgroup: 4, rowsPerThread: 0 },
    { threadsPerRow: 128, rowsPerWorkgroup: 2, rowsPerThread: 0 },
    { threadsPerRow: 32, rowsPerWorkgroup: 4, rowsPerThread: 2 },
    { threadsPerRow: 64, rowsPerWorkgroup: 1, rowsPerThread: 8 },
    { threadsPerRow: 32, rowsPerWorkgroup: 8, rowsPerThread: 0, loadsInFlight: 4 },
    { threadsPerRow: 32, rowsPerWorkgroup: 4, rowsPerThread: 4, loadsInFlight: 8 },
  ];
  for (const dtype of DTYPES) {
    for (
      const [rows, K, widths] of [[48, 64, [16, 16, 8, 4, 4]], [10, 30, [4, 2, 2, 1, 1]]] as const
    ) {
      for (const B of [1, 3, 8]) {
        const features = [
          { name: "plain" },
          { name: "bias", bias: true },
          { name: "glu", glu: true, xStride: 2 * K },
          { name: "norm", norm: true, normEps: 1e-6 },
          { name: "accumulate", epilogue: "accumulate" as const },
          { name: "softcap", epilogue: "softcap" as const, cap: 30 },
          { name: "split", splitWidths: widths, splitCaps: [0, 0, 0, 15, 15] },
        ];
        for (const t of tiles) {
          // The RMSNorm-prologue matvecs have table entries of their own.
          setMatvecTileTable([{ rows, K, B, tiles: t }, { rows, K, B, norm: true, tiles: t }]);
          for (const { name, ...f } of features) {
            const p = matvecParams({ rows, K, B, dtype, ...f }, 16384, 65535);
            yield v(`matvec:${tag({ dtype, rows, K, B, f: name, ...t })}`, matvecWgsl(p));
          }
        }
        setMatvecTileTable([]);
      }
    }
  }
  for (const [V, B, stride] of [[100, 2, 100], [50304, 1, 50304], [37, 3, 40]] as const) {
    for (const mode of ["greedy", "sample"] as const) {
      yield v(`sampling:${tag({ V, B, stride, mode })}`, samplingWgsl(V, B, stride, mode));
    }
  }
  for (const cap of [0, 15]) {
    const p = { B: 2, NP: 112, qk: 32, v: 32, NH: 2, cap };
    yield v(`decode-split:${tag(p)}`, decodeSplitWgsl(p));
  }
}

function* layers(): Generator<WgslVariant> {
  for (const wDtype of DTYPES) {
    for (const [K, N] of [[64, 192], [30, 10]] as const) {
      for (const bias of BOOLS) {
        for (const epilogue of ["none", "softcap", "accumulate"] as const) {
          for (
            const tiles of [{ TM: 8, TN: 8, BK: 16 }, { TM: 4, TN: 4, BK: 16 }, {
              TM: 8,
              TN: 4,
              BK: 32,
            }]
          ) {
            const cap = epilogue === "softcap" ? 30 : 0;
            const p = { K, N, ldY: N, wDtype, bias, epilogue, cap, ...tiles };
            yield v(`gemm:${tag(p)}`, gemmWgsl(p));
          }
        }
      }
    }
    for (const D of [64, 30]) yield v(`gather:${tag({ D, wDtype })}`, gatherWgsl(D, 100, wDtype));
    for (const round of BOOLS) {
      if (wDtype === "f16" && !round) continue; // f16 storage always rounds (the launcher's rule)
      yield v(`random-fill:${tag({ wDtype, round })}`, randomFillWgsl(wDtype, round));
    }
  }
  const normShapes = [[64, 1, false], [16, 4, true], [7, 1, false], [6, 3, true]] as const;
  for (const kind of ["rms", "layer"] as const) {
    for (const [R, G, headMajor] of normShapes) {
      for (const weight of BOOLS) {
        for (const bias of BOOLS) {
          for (
            const gate of [undefined, { ld: 4 * R * G, off: 4 }, { ld: 4 * R * G + 1, off: 1 }]
          ) {
            const p = { kind, R, G, headMajor, weight, bias, ...(gate ? { gate } : {}), eps: 1e-6 };
            const gk = gate ? `${gate.ld}/${gate.off}` : "none";
            yield v(`norm:${tag({ ...p, gate: gk })}`, normWgsl(p));
          }
        }
      }
    }
  }
  for (const op of ["swiglu", "sigmoid_gate", "add", "softcap"] as const) {
    for (const [F, ldA, offA, ldB, offB] of [[64, 128, 0, 128, 64], [5, 11, 1, 11, 6]]) {
      const un = op === "softcap";
      const p = {
        op,
        F: F!,
        ldA: ldA!,
        offA: offA!,
        ldB: un ? 0 : ldB!,
        offB: un ? 0 : offB!,
        cap: un ? 15 : 0,
      };
      yield v(`elementwise:${tag(p)}`, elementwiseWgsl(p));
    }
  }
  for (const [NH, DH, ld, off] of [[4, 16, 256, 64], [3, 5, 17, 1], [4, 1, 12, 4]]) {
    for (const cap of [0, 15]) {
      const p = { NH: NH!, DH: DH!, ld: ld!, off: off!, cap };
      yield v(`toheads:${tag(p)}`, toHeadsWgsl(p));
    }
  }
}

/** The sLSTM kernels (kernels/slstm/): time loops, dR, its reduction, the copies of r. */
function* slstm(): Generator<WgslVariant> {
  const places: RPlace[] = ["registers", "workgroup", "workgroup-f16", "global", "global-f16"];
  for (const dtype of DTYPES) {
    for (const DH of [16, 64, 10]) {
      for (const P of [1, 4, 5]) {
        if (DH % P !== 0) continue;
        for (const place of places) {
          if (place === "registers" && DH / P > 16) continue;
          for (const save of BOOLS) {
            const p = { NH: 2, DH, P, dtype, place, save };
            const k = `slstm-forward:${tag(p)}`;
            yield v(k, slstmForwardWgsl(p, k));
          }
          const p = { NH: 2, DH, P, dtype, place, save: false };
          const k = `slstm-backward:${tag(p)}`;
          yield v(k, slstmBackwardWgsl(p, k));
        }
      }
      for (const [TM, TN] of [[4, 4], [2, 4]]) {
        const p = { NH: 2, DH, dtype, TM: TM!, TN: TN! };
        const k = `slstm-dr:${tag(p)}`;
        yield v(k, drWgsl(p, k));
      }
    }
  }
  for (const DH of [16, 10]) {
    const k = `slstm-dr-reduce:DH=${DH}`;
    yield v(k, drReduceWgsl(2, DH, k));
    for (const f16 of BOOLS) {
      for (const transpose of BOOLS) {
        const k2 = `slstm-rcopy:${tag({ DH, f16, transpose })}`;
        yield v(k2, rCopyWgsl(2, DH, f16, transpose, k2));
      }
    }
  }
}

/**
 * The kernel families. Helpers adding kernels (kernels/layers/, kernels/slstm/) add one line each
 * here, e.g. `family("layers/matvec", function* () { yield v("matvec:f16", matvecWgsl({...})); })`.
 */
export const WGSL_FAMILIES: readonly WgslFamily[] = [
  family("chunkwise/forward", chunkwiseForward),
  family("backward/sliced", backwardSliced),
  family("backward/blocked", backwardBlocked),
  family("parallel", parallel),
  family("recurrent", recurrent),
  family("layers", layers),
  family("layers/decode", decode),
  family("slstm", slstm),
];

/**
 * All variants of the given families, deduplicated by code (tile sets that coincide produce the
 * same WGSL), each shader with uniforms also in its opaque-uniform form (key suffix
 * `:opaque-uniforms`); throws if two different shaders share a key.
 *
 * @param families The families. @default {WGSL_FAMILIES}
 * @returns The variants.
 */
export function allWgslVariants(families: readonly WgslFamily[] = WGSL_FAMILIES): WgslVariant[] {
  const byKey = new Map<string, string>();
  const seenCode = new Set<string>();
  const out: WgslVariant[] = [];
  for (const f of families) {
    for (const x of f.variants()) {
      const prev = byKey.get(x.key);
      if (prev !== undefined && prev !== x.code) {
        throw new Error(`Two WGSL variants named ${x.key}`);
      }
      byKey.set(x.key, x.code);
      if (seenCode.has(x.code)) continue;
      seenCode.add(x.code);
      out.push(x);
      // What getPipeline compiles on lavapipe (setOpaqueLoopBounds): the same shader with its
      // uniforms read through the opaque select.
      if (/var<uniform>/.test(x.code)) {
        out.push({ ...x, key: `${x.key}:opaque-uniforms`, code: opaqueUniforms(x.code) });
      }
    }
  }
  return out;
}

if (import.meta.main) {
  const dir = Deno.args[0];
  const all = allWgslVariants();
  const counts = new Map<string, number>();
  for (const x of all) {
    const fam = x.key.split(":")[0]!;
    counts.set(fam, (counts.get(fam) ?? 0) + 1);
  }
  console.log(`${all.length} distinct WGSL variants (${all.filter((x) => x.f16).length} with f16)`);
  for (const [k, n] of counts) console.log(`  ${k}: ${n}`);
  if (dir) {
    Deno.mkdirSync(dir, { recursive: true });
    for (const x of all) {
      Deno.writeTextFileSync(`${dir}/${x.key.replace(/[^A-Za-z0-9=,.-]+/g, "_")}.wgsl`, x.code);
    }
    console.log(`written to ${dir}`);
  }
}
