// Register-blocked row/column kernels of the backward passes (the fast path of `stats`, `dq`,
// `dkdv`): same bindings, same outputs and the same formulas as `tileWgsl` in `_wgsl.ts`, laid out
// like a batched GEMM. A workgroup of 256 threads (16 × 16) owns 64 rows of one segment of one head;
// for every 64-row block on the other side it
//   1. forms the two 64 × 64 score blocks X = A·Bᵀ (q·k) and Y (dh·v) with 4 × 4 scores per thread,
//      operands staged through workgroup memory 16 columns at a time, transposed so that each
//      thread reads one vec4 of 4 owned rows and one vec4 of 4 other rows per column;
//   2. turns them into weights in registers (one exp per pair) and writes the weight block to
//      workgroup memory (stats only accumulates its row sums);
//   3. accumulates the weighted other-side rows into the owned rows' gradient tile (4 rows ×
//      D/16 columns per thread as vec4, D = head dimension), other-side rows staged 8 at a time.
// The chunk-state terms are small GEMMs of the same shape done once per workgroup before the loop.
// Everything is unrolled by the generator except the loops over blocks and over the head
// dimension. Requires DQK and DHV multiples of 64 ({@linkcode blockDepth}).
//
// Split dkdv (modes "dk" and "dv"; the only layout above DHV 256, a switch below): "dk" forms X
// and Y and accumulates dk (and the row sums of csum), "dv" forms X only and accumulates dv over a
// column tile of {@linkcode dvTile} columns (the grid's x holds row tile × column tile), so that
// no kernel keeps more than 4 × 256 / 16 accumulator floats per thread (64 vec4 components).
// Above DHV 256 the workgroup staging is sized per mode (the widest operand it stages), so that
// DQK 256 / DHV 512 fits 26 KiB at depth 8 (lavapipe's 32 KiB) and 36 KiB at 16.

import { enableF16 } from "../_common.ts";
import {
  type BwParams,
  CHUNK_TILE_PROLOGUE,
  chunkStateAddressing,
  dmtStore,
  matrix,
  mPath,
  type TileMode,
  UNIFORMS,
} from "./_wgsl.ts";

const range = (n: number) => Array.from({ length: n }, (_, j) => j);
const C = ["x", "y", "z", "w"];
/**
 * Kernel phases as marked in the WGSL (comments only): `// phase NAME {` and `// phase NAME }`
 * around code that nothing outside it depends on but its outputs' values, so that a profiling
 * rewrite can drop one phase at a time (bench/phase_ablation.ts).
 */
export const BLOCK_PHASES = ["state", "scores", "share", "accum"] as const;
const phase = (name: (typeof BLOCK_PHASES)[number], lines: string[]): string[] => [
  `  // phase ${name} {`,
  ...lines,
  `  // phase ${name} }`,
];

/**
 * The WGSL with one marked phase (see {@linkcode BLOCK_PHASES}) removed, and how many marked
 * blocks went: a profiling rewrite, whose kernels compute wrong results by design.
 *
 * @example
 * ```ts
 * import { removeBlockPhase } from "./_block_wgsl.ts";
 * const code = "a;\n  // phase state {\n  b;\n  // phase state }\nc;";
 * console.log(removeBlockPhase(code, "state").removed); // 1
 * ```
 */
export function removeBlockPhase(wgsl: string, name: string): { wgsl: string; removed: number } {
  // Every binding stays statically used (phony assignments of pointers), so that the pipeline's
  // automatic layout keeps the bindings the host binds.
  const bindings = [...wgsl.matchAll(/@binding\(\d+\)\s+var(?:<[^>]*>)?\s+(\w+)/g)].map((m) =>
    m[1]
  );
  const keep = bindings.map((b) => `  _ = &${b};`).join("\n");
  const re = new RegExp(
    `^[ \\t]*// phase ${name} \\{$[\\s\\S]*?^[ \\t]*// phase ${name} \\}$`,
    "gm",
  );
  let removed = 0;
  const code = wgsl.replace(re, () => {
    removed++;
    return `  // phase ${name} removed\n${keep}`;
  });
  return { wgsl: code, removed };
}
/** Rows per workgroup and per other-side block. */
export const BLOCK_ROWS = 64;

/** The modes of {@linkcode blockWgsl}: those of `tileWgsl` plus dkdv split in two. */
export type BlockMode = TileMode | "dk" | "dv";

/**
 * Columns (DHV) of one "dv" workgroup: the largest multiple of 64 up to 256 that divides DHV
 * (DHV 512: 256, two column tiles).
 */
export function dvTile(DHV: number): number {
  for (let t = 256; t > 64; t -= 64) if (DHV % t === 0) return t;
  return 64;
}

/**
 * Workgroup storage of {@linkcode blockWgsl} with state-product depth KC, bytes: of the given
 * mode, or (no mode) of the unsplit stats, dq and dkdv up to DHV 256.
 */
export function blockSharedBytes(
  DQK: number,
  DHV: number,
  KC: number,
  mode?: BlockMode,
  stateDepth = KC,
  doubleState = false,
): number {
  const stg = stagingVec4(DQK, DHV, KC, mode);
  const state = stateDepth > KC || doubleState
    ? (doubleState ? 2 : 1) * stateStagingVec4(DQK, DHV, stateDepth)
    : 0;
  return 16 * Math.max(1024 + stg, state);
}

// The state products' staging at depth SKC: SKC·16 vec4 of the owned rows, SKC rows of the state
// (up to max(DQK, DHV) columns: the widest product's output).
function stateStagingVec4(DQK: number, DHV: number, SKC: number): number {
  return SKC * 16 + SKC * (Math.max(DQK, DHV) / 4);
}

function stagingVec4(DQK: number, DHV: number, KC: number, mode?: BlockMode): number {
  // Up to DHV 256 stats, dq and dkdv size it for the wider head dimension (as before the split);
  // otherwise each mode for the widest operand it stages (dq's k rows, dv's column tile of dh).
  const legacy = mode === undefined || (DHV <= 256 && mode !== "dk" && mode !== "dv");
  const D = legacy || mode === "dkdv" ? Math.max(DQK, DHV) : mode === "dv" ? dvTile(DHV) : DQK;
  const D4 = D / 4;
  // KC = 16 goes with 32-deep score staging and 16-row output slices; KC = 8 with 16 and 8.
  return Math.max(KC * 64, KC * D4, KC * 16 + KC * D4);
}

/** Layout options of {@linkcode blockDepth}. */
export interface BlockLayout {
  /** Serve DHV above 256 (up to 512; DQK up to 256), with dkdv split. @default {false} */
  large?: boolean;
  /** Split dkdv into "dk" and "dv" (always above DHV 256). @default {false} */
  split?: boolean;
}

/** The modes one blocked backward pass runs (stats and dq, then dkdv or dk and dv). */
export function blockModes(DHV: number, split = false): BlockMode[] {
  return split || DHV > 256 ? ["stats", "dq", "dk", "dv"] : ["stats", "dq", "dkdv"];
}

/**
 * The depth (16 or 8 columns per staging step) of the blocked kernels' state products, or 0 when
 * the blocked kernels do not serve these head dimensions on a device with this workgroup storage
 * (every mode of {@linkcode blockModes} must fit).
 */
export function blockDepth(
  DQK: number,
  DHV: number,
  maxWorkgroupBytes: number,
  only?: number,
  layout: BlockLayout = {},
): number {
  const maxDHV = layout.large ? 512 : 256;
  if (DQK % 64 !== 0 || DHV % 64 !== 0 || DQK > 256 || DHV > maxDHV) return 0;
  const modes = blockModes(DHV, layout.split);
  for (const KC of only ? [only] : [16, 8]) {
    if (modes.every((m) => blockSharedBytes(DQK, DHV, KC, m) <= maxWorkgroupBytes)) return KC;
  }
  return 0;
}

/**
 * Register prefetch in {@linkcode blockWgsl} (speed variant of issue #14): which staging loops
 * load their next step's operands into registers before multiplying the current step.
 */
export interface BlockPrefetch {
  /** The chunk-state products (dh·Cᵀ; v·dCᵀ and k·dC). */
  state?: boolean;
  /** The weighted accumulation of the other side's rows. */
  accum?: boolean;
  /** The score blocks q·kᵀ and dh·vᵀ. */
  scores?: boolean;
}

/** Code-layout options of {@linkcode blockWgsl} (issue #14; the library's defaults set both). */
export interface BlockOptions {
  /** Register prefetch in the staging loops. @default {none} */
  prefetch?: BlockPrefetch;
  /**
   * Fused stats + dq at chunk ≤ 64 (one block of other rows; the caller guarantees it): the row
   * statistics (inv, dden) are reduced before the weighted accumulation, so that dq's weights
   * inv·(e·Y) + dden·e are formed in registers and k is accumulated once into one accumulator
   * instead of twice into two. @default {false}
   */
  rowFirst?: boolean;
  /**
   * Depth of the chunk-state products' staging (issue #14, speed variant `sd32`): 32 instead of
   * KC (16) halves their barriers. Their staging then overlaps the weight block's array `ws`, which
   * is not live before the row/column loop (the state products come first), so the workgroup
   * storage grows to {@linkcode blockSharedBytes} with this depth (40 KiB at DQK 128, DHV 256)
   * instead of 16 KiB more. Needs DQK ≤ 128 (one staging load per thread). @default {KC}
   */
  stateDepth?: number;
  /**
   * Double-buffered staging of the prefetched chunk-state products (issue #14, speed variant
   * `dbstate`): step n stages into half n mod 2 while the others may still read half n − 1, so
   * that one barrier per step suffices instead of two; no more registers. The two halves overlap
   * the weight block's array `ws` as `stateDepth` does (40 KiB at DQK 128, DHV 256). Needs
   * `prefetch.state`. @default {false}
   */
  doubleState?: boolean;
  /**
   * Double-buffered staging of the prefetched score blocks q·kᵀ and dh·vᵀ (speed variant
   * `dbscores`): one barrier per step, the halves overlapping the weight block as with
   * `doubleState` (2 · 2 · 2·KC · 16 vec4, within the staging and the weight block's storage at
   * any shape). Needs `prefetch.scores`. @default {false}
   */
  doubleScores?: boolean;
  /**
   * The fused stats + dq reads the state term's product U = dh·Cᵀ from dq's buffer, written
   * there by its own kernel (`stateTermWgsl`, issue #14), instead of forming it; dq is written
   * over it at the end. Likewise dkdv (not split) reads v·dCᵀ from dk's buffer and k·dC from
   * dv's. Fused stats and dkdv only. @default {false}
   */
  stateTermIn?: boolean;
  /**
   * The fused stats at chunk size 64 with shared score blocks (`shareScores` "out") reads the
   * raw score block X = q·kᵀ that the forward's parallel kernel wrote (`ParallelParams.scoresOut`
   * in kernels/chunkwise/_wgsl.ts) from the dk buffer (binding `xf` after rsum: the block of the
   * chunk at float (bh·S + chunk start)·DQK, X[i][j] at i·64 + j) instead of forming it, 4 vec4
   * per thread on the score grid (rows past the chunk's end stay zero); Y = dh·vᵀ is still
   * formed (issue #14, speed variant `fwx`). The caller guarantees one 64-row block per chunk
   * and a dk buffer that dkdv writes only after this kernel. @default {false}
   */
  scoresFromForward?: boolean;
}

/**
 * The blocked row/column kernel. Bindings (as `tileWgsl`): q, k, v, dh, gi, [rs], [st, mp],
 * outputs (stats: rso; dq: dq, rsum; dkdv: dk, dv, csum; dk: dk, csum; dv (no v binding): dv),
 * uniforms. "dv" runs {@linkcode dvTile}-column tiles: DHV / dvTile(DHV) workgroups per row tile
 * along x. With `reuseU` (chunkwise, f32
 * storage) stats also writes U = dh Cᵀ (the state term's product, S × DQK) into dq (binding after rso),
 * which dq reads back instead of recomputing it, then overwrites (dq is f32 whatever the storage). With {@linkcode mPath} stats also
 * writes dmt (last output binding): the gradient reaching the stabilizer m_t directly.
 * `savedStates` (chunkwise): `st` and `mp` of the row modes and `mp` and `sci` of the column
 * modes are the forward's `statesC` and `statesNM` ({@linkcode chunkStateAddressing}).
 */
export function blockWgsl(
  p: BwParams,
  mode: BlockMode,
  reuseU = false,
  KC = 8,
  trimDiagonal = false,
  fuseDq = false,
  trimScores = false,
  shareScores?: "out" | "in",
  opts: BlockOptions = {},
  savedStates = false,
): string {
  // Fused stats + dq (speed variant of issue #14): the stats kernel also accumulates dq from the
  // same score blocks. dq's weights are linear in the row statistics that stats is computing,
  // w = inv·(e·Y) + dden·e with e = scale·exp(b_ts + ĩ_s − m_t), so two accumulators (of e·Y·k
  // and e·k) are kept and combined once the row's inv and dden are known.
  const fused = fuseDq && mode === "stats";
  if (fused) reuseU = false;
  // Row statistics first (one accumulator; chunk ≤ 64: the caller guarantees one block).
  const rowFirst = fused && (opts.rowFirst ?? false);
  const uIn = opts.stateTermIn ?? false;
  if (uIn && !((fused || mode === "dkdv") && p.inter)) {
    throw new RangeError("blockWgsl: stateTermIn needs the fused chunkwise stats or dkdv");
  }
  const xIn = opts.scoresFromForward ?? false;
  if (xIn && !(fused && p.inter && shareScores === "out")) {
    throw new RangeError(
      "blockWgsl: scoresFromForward needs the fused chunkwise stats sharing scores",
    );
  }
  const prefetch = opts.prefetch ?? {};
  const { DQK, DHV, gate } = p;
  const DQ4 = DQK / 4, DV4 = DHV / 4, NQ = DQK / 64;
  const E4 = (DQK * DHV + DQK) / 4;
  const rows = mode === "stats" || mode === "dq";
  if (savedStates && !p.inter) throw new RangeError("savedStates: chunkwise only");
  const at = chunkStateAddressing(DQK, DHV, savedStates);
  // Column modes: dkdv accumulates dk and dv; the split's dk and dv one of them each.
  const hasDk = mode === "dkdv" || mode === "dk", hasDv = mode === "dkdv" || mode === "dv";
  // dv's column tile (vec4 offset cb4 in the grid's x); dkdv spans DHV.
  const TV = mode === "dv" ? dvTile(DHV) : DHV, TV4 = TV / 4, NVT = DHV / TV, NV = TV / 64;
  const I = range(4);
  let b = 0;
  const decl: string[] = [];
  decl.push(matrix("q", b++, DQK, p.dtype, "read", false));
  decl.push(matrix("k", b++, DQK, p.dtype, "read", false));
  if (mode !== "dv") decl.push(matrix("v", b++, DHV, p.dtype, "read", false));
  decl.push(matrix("dh", b++, DHV, p.dtype, "read", false));
  decl.push(`@group(0) @binding(${b++}) var<storage, read> gi: array<vec4f>;`);
  if (mode !== "stats") {
    decl.push(`@group(0) @binding(${b++}) var<storage, read> rs: array<vec4f>;`);
  }
  // Shared score blocks (chunk ≤ 64 rows, issue #14): stats writes its raw blocks X and Y into the
  // slot of the chunk's state in `st` (the states before each chunk, which nothing reads after
  // stats), and dkdv reads them there (binding `sci`) instead of forming them again.
  if (shareScores === "out" && mode !== "stats") throw new RangeError("shareScores out: stats");
  if (shareScores === "in" && mode !== "dkdv") throw new RangeError("shareScores in: dkdv");
  if (shareScores && (!p.inter || 2 * 64 * 64 > DQK * DHV)) {
    throw new RangeError("shareScores needs chunk states of at least 2·64·64 floats");
  }
  if (p.inter) {
    const stAccess = shareScores === "out" ? "read_write" : "read";
    decl.push(`@group(0) @binding(${b++}) var<storage, ${stAccess}> st: array<vec4f>;`);
    decl.push(`@group(0) @binding(${b++}) var<storage, read> mp: array<f32>;`);
    if (shareScores === "in") {
      decl.push(`@group(0) @binding(${b++}) var<storage, read> sci: array<vec4f>;`);
    }
  }
  if (mode === "stats") {
    decl.push(`@group(0) @binding(${b++}) var<storage, read_write> rso: array<vec4f>;`);
    if (reuseU) decl.push(`@group(0) @binding(${b++}) var<storage, read_write> ucs: array<vec4f>;`);
    if (mPath(p)) decl.push(`@group(0) @binding(${b++}) var<storage, read_write> dmt: array<f32>;`);
    if (fused) {
      decl.push(matrix("dq", b++, DQK, "f32", "read_write", false));
      decl.push(`@group(0) @binding(${b++}) var<storage, read_write> rsum: array<f32>;`);
    }
    if (xIn) decl.push(`@group(0) @binding(${b++}) var<storage, read> xf: array<vec4f>;`);
  } else if (mode === "dq") {
    decl.push(matrix("dq", b++, DQK, "f32", "read_write", false));
    decl.push(`@group(0) @binding(${b++}) var<storage, read_write> rsum: array<f32>;`);
  } else {
    if (hasDk) decl.push(matrix("dk", b++, DQK, "f32", "read_write", false));
    if (hasDv) decl.push(matrix("dv", b++, DHV, "f32", "read_write", false));
    if (hasDk) decl.push(`@group(0) @binding(${b++}) var<storage, read_write> csum: array<f32>;`);
  }
  decl.push(`@group(0) @binding(${b++}) var<uniform> u: U;`);

  const own1 = rows ? "q" : "k", oth1 = rows ? "k" : "q";
  const own2 = rows ? "dh" : "v", oth2 = rows ? "v" : "dh";
  const STG = stagingVec4(DQK, DHV, KC, mode);
  // The state products' depth (stateDepth): their staging, and whether it overlaps ws.
  const SKC = opts.stateDepth ?? KC, SKC4 = SKC / 4, SSB = SKC * 16;
  if (SKC !== KC && (SKC !== 32 || KC !== 16 || DQK > 128)) {
    throw new RangeError(
      `blockWgsl: stateDepth 32 needs KC 16 and DQK ≤ 128, received ${SKC}, KC ${KC}, DQK ${DQK}`,
    );
  }
  const dbl = opts.doubleState ?? false;
  if (dbl && !prefetch.state) throw new RangeError("blockWgsl: doubleState needs prefetch.state");
  // Double buffering: the halves' size (the widest state product's staging) and base of step k0.
  const HS = stateStagingVec4(DQK, DHV, SKC);
  const dblScores = opts.doubleScores ?? false;
  if (dblScores && !prefetch.scores) {
    throw new RangeError("blockWgsl: doubleScores needs prefetch.scores");
  }
  const wsAlias = SKC > KC || dbl || dblScores;
  const BK = 2 * KC, BK4 = BK / 4, OS = KC; // score staging depth, output slice rows
  const col = (c: number) => `tx + ${16 * c}u`;

  // Per owned row i (row ty*4 + i of the tile).
  const head: string[] = [];
  // Row i of the thread's 4 on grid row `y`: index, validity, clamped row, gates, the row's
  // offset sum (and for dq its row sum), names suffixed by `g` ("G" on the trimmed score grid).
  const rowHead = (i: number, y: string, g: string) => {
    head.push(
      `  let own${g}${i} = tileFirst + ${y} * 4u + ${i}u;`,
      `  let valid${g}${i} = own${g}${i} < segEnd;`,
      `  let rc${g}${i} = rowBase + min(own${g}${i}, segEnd - 1u);`,
      `  let gown${g}${i} = gi[rc${g}${i}];`,
      `  var offp${g}${i} = 0.0;`,
    );
    if (mode === "dq") head.push(`  let rown${g}${i} = rs[rc${g}${i}];`);
  };
  for (const i of I) {
    rowHead(i, "ty", "");
    if (mode === "stats") {
      head.push(
        gate === "exp"
          ? (p.inter
            ? `  let mc${i} = max((gown${i}.x + gown${i}.w) + mprev, gown${i}.z);
  let beta${i} = exp((gown${i}.x + gown${i}.w) + mprev - mc${i});`
            : `  let mc${i} = gown${i}.z;\n  let beta${i} = 0.0;`)
          : (p.inter
            ? `  let mc${i} = 0.0;\n  let beta${i} = exp(gown${i}.x + gown${i}.w);`
            : `  let mc${i} = 0.0;\n  let beta${i} = 0.0;`),
        `  var den${i} = 0.0;\n  var hd${i} = 0.0;`,
      );
    }
    if (mode === "dq" || hasDk || fused) {
      head.push(...range(NQ).map((c) => `  var acc${i}_${c} = vec4f(0.0);`));
    }
    if (fused) {
      if (!rowFirst) head.push(...range(NQ).map((c) => `  var acq${i}_${c} = vec4f(0.0);`));
      head.push(`  var pa${i} = 0.0;\n  var pb${i} = 0.0;`);
      if (rowFirst) head.push(`  var rr${i} = vec4f(0.0);\n  var rrG${i} = vec4f(0.0);`);
    }
    if (hasDv) head.push(...range(NV).map((c) => `  var accv${i}_${c} = vec4f(0.0);`));
  }
  // Trimmed score products (speed variant of issue #14): the score blocks and their weights run on
  // a second thread grid (gx, gy) in which a 32-lane subgroup owns 4 × 8 of the 16 × 16 sub-blocks
  // of 4 × 4, so that in the diagonal block whole subgroups above (rows) or below (columns) the
  // diagonal skip their products. The owned rows of that grid (gy) get their own row values and
  // row-sum accumulators, reduced with those of the output grid (ty) at the end.
  const G = (t: string) =>
    t.replace(/\b(own|valid|rc|gown|rown|mc|beta|den|hd|offp|pa|pb)(\d)/g, "$1G$2")
      .replace(/\btx \* 4u/g, "gx * 4u");
  if (trimScores) {
    head.push(
      `  let gy = (lid / 32u) % 4u * 4u + (lid % 32u) / 8u;`,
      `  let gx = (lid / 32u) / 4u * 8u + lid % 8u;`,
    );
    for (const i of I) {
      rowHead(i, "gy", "G");
      if (mode === "stats") {
        head.push(
          G(
            gate === "exp"
              ? (p.inter
                ? `  let mc${i} = max((gown${i}.x + gown${i}.w) + mprev, gown${i}.z);`
                : `  let mc${i} = gown${i}.z;`)
              : `  let mc${i} = 0.0;`,
          ),
          `  var denG${i} = 0.0;\n  var hdG${i} = 0.0;`,
        );
      }
      if (fused) head.push(`  var paG${i} = 0.0;\n  var pbG${i} = 0.0;`);
    }
  }

  // Register prefetch (speed variant of issue #14): each staging step's global loads go to
  // registers one step ahead, issued before the step's products, so that their latency hides
  // behind the products instead of stalling the workgroup between the two barriers.
  const stateProducts = (out: string, Dout4: number, NO: number, hb = ""): string[] => {
    const L: string[] = [];
    for (let kk = 0; kk < SKC; kk++) {
      L.push(`    {\n      let a = stg[${hb}${kk * 16}u + ty];`);
      for (let c = 0; c < NO; c++) {
        L.push(`      let b${c} = stg[${hb}${SSB + kk * Dout4}u + ${col(c)}];`);
        for (const i of I) L.push(`      ${out}${i}_${c} += a.${C[i]} * b${c};`);
      }
      L.push(`    }`);
    }
    return L;
  };
  const prefetchedStateGemm = (
    out: string,
    ownMat: string,
    trans: boolean,
    Din4: number,
    Dout4: number,
    NO: number,
    cOff: string,
  ): string[] => {
    const P = `${out}P`;
    const NN = Math.ceil((SKC * Dout4) / 256);
    const L: string[] = [
      `  let ${P}rg = lid / ${SKC4}u;`,
      `  let ${P}cg = lid % ${SKC4}u;`,
      ...I.map((i) => `  var ${P}a${i} = vec4f(0.0);`),
      ...(trans
        ? I.map((i) => `  var ${P}m${i} = vec4f(0.0);`)
        : range(NN).map((n) => `  var ${P}n${n} = vec4f(0.0);`)),
    ];
    const load = (k0: string) => {
      const R = [
        `    if (lid < ${16 * SKC4}u) {`,
        ...I.map((i) =>
          `      ${P}a${i} = ld_${ownMat}(rowBase + min(tileFirst + ${P}rg * 4u + ${i}u, segEnd - 1u), ${k0} + ${P}cg);`
        ),
        `    }`,
      ];
      if (trans) {
        R.push(
          `    if (lid < ${Dout4 * SKC4}u) {`,
          ...I.map((i) =>
            `      ${P}m${i} = st[sb4 + (${P}rg * 4u + ${i}u) * ${DV4}u + ${k0} + ${P}cg];`
          ),
          `    }`,
        );
      } else {
        for (let n = 0; n < NN; n++) {
          R.push(`    {
      let id = lid + ${256 * n}u;
      if (id < ${SKC * Dout4}u) {
        ${P}n${n} = st[sb4 + ((${k0}) * 4u + id / ${Dout4}u) * ${DV4}u + ${cOff}id % ${Dout4}u];
      }
    }`);
        }
      }
      return R;
    };
    const hb = dbl ? "hb + " : "";
    const store = [
      `    if (lid < ${16 * SKC4}u) {`,
      ...I.map((c) =>
        `      stg[${hb}(${P}cg * 4u + ${c}u) * 16u + ${P}rg] = vec4f(${
          I.map((i) => `${P}a${i}.${C[c]}`).join(", ")
        });`
      ),
      `    }`,
    ];
    if (trans) {
      store.push(
        `    if (lid < ${Dout4 * SKC4}u) {`,
        ...I.map((c) =>
          `      stg[${hb}${SSB}u + (${P}cg * 4u + ${c}u) * ${Dout4}u + ${P}rg] = vec4f(${
            I.map((i) => `${P}m${i}.${C[c]}`).join(", ")
          });`
        ),
        `    }`,
      );
    } else {
      for (let n = 0; n < NN; n++) {
        store.push(
          `    if (lid + ${256 * n}u < ${SKC * Dout4}u) { stg[${hb}${SSB}u + lid + ${
            256 * n
          }u] = ${P}n${n}; }`,
        );
      }
    }
    L.push(...load("0u").map((l) => l.slice(2)));
    L.push(`  for (var k0 = 0u; k0 < ${Din4}u; k0 += ${SKC4}u) {`);
    // Double buffering: step n's half is free once every thread passed step n − 1's barrier,
    // which it reaches only after step n − 2's products (the last reads of that half).
    if (dbl) L.push(`    let hb = ((k0 / ${SKC4}u) % 2u) * ${HS}u;`);
    L.push(...store, `    workgroupBarrier();`);
    L.push(
      `    if (k0 + ${SKC4}u < ${Din4}u) {`,
      ...load(`k0 + ${SKC4}u`).map((l) => "  " + l),
      `    }`,
    );
    L.push(...stateProducts(out, Dout4, NO, hb));
    L.push(dbl ? `  }\n  workgroupBarrier();` : `    workgroupBarrier();\n  }`);
    return L;
  };

  // out_i_c (4 owned rows × Dout/64 vec4) = Σ_k own[r, k] · M(k, o) over Din; M is the chunk state
  // (DQK × DHV at vec4 offset sb4): trans → M(k, o) = St[o, k] (Din = DHV, Dout = DQK), else St[k, o].
  // Not transposed, dv's column tile: M(k, o) = St[k, cb4·4 + o], o < TV.
  const stateGemm = (out: string, ownMat: string, trans: boolean): string[] => {
    const Din4 = trans ? DV4 : DQ4, Dout = trans ? DQK : TV, Dout4 = Dout / 4, NO = Dout / 64;
    const cOff = !trans && mode === "dv" ? "cb4 + " : "";
    const L: string[] = [];
    for (const i of I) L.push(...range(NO).map((c) => `  var ${out}${i}_${c} = vec4f(0.0);`));
    if (prefetch.state) {
      L.push(...phase("state", prefetchedStateGemm(out, ownMat, trans, Din4, Dout4, NO, cOff)));
      return L;
    }
    const decls = L.length;
    L.push(`  for (var k0 = 0u; k0 < ${Din4}u; k0 += ${SKC4}u) {`);
    L.push(`    if (lid < ${16 * SKC4}u) {
      let rg = lid / ${SKC4}u;
      let cg = lid % ${SKC4}u;
${
      I.map((i) =>
        `      let a${i} = ld_${ownMat}(rowBase + min(tileFirst + rg * 4u + ${i}u, segEnd - 1u), k0 + cg);`
      ).join("\n")
    }
${
      I.map((c) =>
        `      stg[(cg * 4u + ${c}u) * 16u + rg] = vec4f(a0.${C[c]}, a1.${C[c]}, a2.${C[c]}, a3.${
          C[c]
        });`
      )
        .join("\n")
    }
    }`);
    if (trans) {
      L.push(`    if (lid < ${Dout4 * SKC4}u) {
      let og = lid / ${SKC4}u;
      let cg = lid % ${SKC4}u;
${I.map((i) => `      let m${i} = st[sb4 + (og * 4u + ${i}u) * ${DV4}u + k0 + cg];`).join("\n")}
${
        I.map((c) =>
          `      stg[${SSB}u + (cg * 4u + ${c}u) * ${Dout4}u + og] = vec4f(m0.${C[c]}, m1.${
            C[c]
          }, m2.${C[c]}, m3.${C[c]});`
        ).join("\n")
      }
    }`);
    } else {
      for (let n = 0; n * 256 < SKC * Dout4; n++) {
        L.push(`    {
      let id = lid + ${256 * n}u;
      if (id < ${SKC * Dout4}u) {
        stg[${SSB}u + id] = st[sb4 + (k0 * 4u + id / ${Dout4}u) * ${DV4}u + ${cOff}id % ${Dout4}u];
      }
    }`);
      }
    }
    L.push(`    workgroupBarrier();`);
    L.push(...stateProducts(out, Dout4, NO));
    L.push(`    workgroupBarrier();\n  }`);
    return [...L.slice(0, decls), ...phase("state", L.slice(decls))];
  };

  // The chunk's n (vec4 c of the thread's columns): rows read the state before the chunk (the
  // forward's statesNM with saved states: DQK scalars at the slot's start, bound as mp), columns
  // the packed state gradient after it; `nb` / `sb4` hold the slot's base.
  const nBase = `(lb * (u.NC + 1u) + seg) * ${DQK + 1}u`;
  const nLoad = (c: number) =>
    rows && at.saved
      ? `vec4f(${I.map((j) => `mp[nb + (${col(c)}) * 4u${j ? ` + ${j}u` : ""}]`).join(", ")})`
      : `st[sb4 + ${DQK * DV4}u + ${col(c)}]`;
  let inter: string[] = [];
  if (p.inter) {
    // Rows: the state before the chunk; columns: the state gradient after it (da, packed).
    inter.push(
      `  let sb4 = ${rows ? at.cSlot4("seg") : `(lb * (u.NC + 1u) + seg) * ${E4}u`};`,
    );
    if (rows && at.saved) inter.push(`  let nb = ${nBase};`);
    if (mode !== "dv") inter.push(...range(NQ).map((c) => `  let nn${c} = ${nLoad(c)};`));
    if (rows) {
      if ((reuseU && mode === "dq") || uIn) {
        // U read back where an earlier kernel wrote it (each thread its own entries, before
        // dq is written over them at the end).
        for (const i of I) {
          inter.push(...range(NQ).map((c) => `  let uc${i}_${c} = ld_dq(rc${i}, ${col(c)});`));
        }
      } else {
        inter.push(...stateGemm("uc", "dh", true));
      }
      if (reuseU && mode === "stats") {
        for (const i of I) {
          inter.push(
            `  if (valid${i}) {`,
            ...range(NQ).map((c) => `    ucs[rc${i} * ${DQ4}u + ${col(c)}] = uc${i}_${c};`),
            `  }`,
          );
        }
      }
      for (const i of I) {
        for (let c = 0; c < NQ; c++) {
          inter.push(`  {\n    let qo = ld_q(rc${i}, ${col(c)});`);
          if (mode === "stats") {
            inter.push(
              `    den${i} += u.scale * beta${i} * dot(qo, nn${c});`,
              `    hd${i} += u.scale * beta${i} * dot(qo, uc${i}_${c});`,
            );
            if (fused) {
              inter.push(
                `    let su = u.scale * beta${i} * uc${i}_${c};`,
                `    let sn = u.scale * beta${i} * nn${c};`,
                `    acc${i}_${c} += su;`,
                ...(rowFirst ? [] : [`    acq${i}_${c} += sn;`]),
                `    pa${i} += dot(qo, su);`,
                `    pb${i} += dot(qo, sn);`,
              );
            }
          } else {
            inter.push(
              `    let sc = u.scale * rown${i}.w * (rown${i}.y * uc${i}_${c} + rown${i}.z * nn${c});`,
              `    acc${i}_${c} += sc;`,
              `    offp${i} += dot(qo, sc);`,
            );
          }
          inter.push(`  }`);
        }
      }
    } else {
      inter.push(`  let gEnd = gi[rowBase + segEnd - 1u];`);
      if (gate === "exp") inter.push(`  let mAfter = ${at.m("seg + 1u")};`);
      for (const i of I) {
        inter.push(
          gate === "exp"
            ? `  let abar${i} = exp(bdiff(gEnd, gown${i}) + gown${i}.y - mAfter);`
            : `  let abar${i} = exp(bdiff(gEnd, gown${i}) + gown${i}.y);`,
        );
      }
      // stateTermIn: the products read back from dk and dv (stateTermWgsl "dk", "dv").
      const readBack = (name: string, mat: string, n: number) =>
        I.flatMap((i) =>
          range(n).map((c) => `  let ${name}${i}_${c} = ld_${mat}(rc${i}, ${col(c)});`)
        );
      if (hasDk) {
        inter.push(...(uIn ? readBack("uc", "dk", NQ) : stateGemm("uc", "v", true)));
        for (const i of I) {
          for (let c = 0; c < NQ; c++) {
            inter.push(`  {
    let ko = ld_k(rc${i}, ${col(c)});
    let sc = abar${i} * (uc${i}_${c} + nn${c});
    acc${i}_${c} += sc;
    offp${i} += dot(ko, sc);
  }`);
          }
        }
      }
      if (hasDv) {
        inter.push(...(uIn ? readBack("vc", "dv", NV) : stateGemm("vc", "k", false)));
        for (const i of I) {
          inter.push(...range(NV).map((c) => `  accv${i}_${c} += abar${i} * vc${i}_${c};`));
        }
      }
    }
    inter = [`  {`, ...inter.map((l) => "  " + l), `  }`];
  }

  // 1. Score blocks.
  const scoreProducts = (acc: string, hb = ""): string[] => [
    ...(trimScores ? [`      if (o0 != tileFirst || gx ${rows ? "<=" : ">="} gy) {`] : []),
    ...range(BK).flatMap((kk) => [
      `      {`,
      `        let a = stg[${hb}${kk * 16}u + ${trimScores ? "gy" : "ty"}];`,
      `        let b = stg[${hb}${BK * 16 + kk * 16}u + ${trimScores ? "gx" : "tx"}];`,
      ...I.map((i) => `        ${acc}${i} += a.${C[i]} * b;`),
      `      }`,
    ]),
    ...(trimScores ? [`      }`] : []),
  ];
  const prefetchedScoreGemm = (a: string, bm: string, D4: number, acc: string): string[] => {
    const P = `${acc}P`;
    const hb = dblScores ? "hb + " : "";
    const load = (d0: string) => [
      `      if (lid < ${32 * BK4}u) {`,
      `        if (${P}side == 0u) {`,
      ...I.map((i) =>
        `          ${P}${i} = ld_${a}(rowBase + min(${P}base + ${P}rg * 4u + ${i}u, segEnd - 1u), ${d0} + ${P}cg);`
      ),
      `        } else {`,
      ...I.map((i) =>
        `          ${P}${i} = ld_${bm}(rowBase + min(${P}base + ${P}rg * 4u + ${i}u, segEnd - 1u), ${d0} + ${P}cg);`
      ),
      `        }`,
      `      }`,
    ];
    return [
      `    let ${P}side = lid / ${16 * BK4}u;`,
      `    let ${P}rg = (lid % ${16 * BK4}u) / ${BK4}u;`,
      `    let ${P}cg = lid % ${BK4}u;`,
      `    let ${P}base = select(tileFirst, o0, ${P}side == 1u);`,
      ...I.map((i) => `    var ${P}${i} = vec4f(0.0);`),
      ...load("0u").map((l) => l.slice(2)),
      `    for (var d0 = 0u; d0 < ${D4}u; d0 += ${BK4}u) {`,
      // Double buffering as in the state products: one barrier per step.
      ...(dblScores ? [`      let hb = ((d0 / ${BK4}u) % 2u) * ${2 * BK * 16}u;`] : []),
      `      if (lid < ${32 * BK4}u) {`,
      ...I.map((c) =>
        `        stg[${hb}${P}side * ${BK * 16}u + (${P}cg * 4u + ${c}u) * 16u + ${P}rg] = vec4f(${
          I.map((i) => `${P}${i}.${C[c]}`).join(", ")
        });`
      ),
      `      }`,
      `      workgroupBarrier();`,
      `      if (d0 + ${BK4}u < ${D4}u) {`,
      ...load(`d0 + ${BK4}u`).map((l) => "  " + l),
      `      }`,
      ...scoreProducts(acc, hb),
      ...(dblScores
        ? [`    }`, `    workgroupBarrier();`]
        : [`      workgroupBarrier();`, `    }`]),
    ];
  };
  const scoreGemm = (a: string, bm: string, D4: number, acc: string): string[] =>
    phase(
      "scores",
      prefetch.scores ? prefetchedScoreGemm(a, bm, D4, acc) : scoreLoop(a, bm, D4, acc),
    );
  const scoreLoop = (a: string, bm: string, D4: number, acc: string): string[] => [
    `    for (var d0 = 0u; d0 < ${D4}u; d0 += ${BK4}u) {`,
    `      if (lid < ${32 * BK4}u) {
        let side = lid / ${16 * BK4}u;
        let rg = (lid % ${16 * BK4}u) / ${BK4}u;
        let cg = lid % ${BK4}u;
        let base = select(tileFirst, o0, side == 1u);
        var a0: vec4f;
        var a1: vec4f;
        var a2: vec4f;
        var a3: vec4f;
        if (side == 0u) {
${
      I.map((i) =>
        `          a${i} = ld_${a}(rowBase + min(base + rg * 4u + ${i}u, segEnd - 1u), d0 + cg);`
      ).join("\n")
    }
        } else {
${
      I.map((i) =>
        `          a${i} = ld_${bm}(rowBase + min(base + rg * 4u + ${i}u, segEnd - 1u), d0 + cg);`
      ).join("\n")
    }
        }
${
      I.map((c) =>
        `        stg[side * ${BK * 16}u + (cg * 4u + ${c}u) * 16u + rg] = vec4f(a0.${C[c]}, a1.${
          C[c]
        }, a2.${C[c]}, a3.${C[c]});`
      ).join("\n")
    }
      }`,
    `      workgroupBarrier();`,
    ...scoreProducts(acc),
    `      workgroupBarrier();`,
    `    }`,
  ];

  // 2. Weights.
  const J = range(4);
  const wl: string[] = [];
  for (const j of J) {
    wl.push(`    let s${j} = o0 + tx * 4u + ${j}u;`);
    wl.push(`    let gcol${j} = gi[rowBase + min(s${j}, segEnd - 1u)];`);
    if (!rows) wl.push(`    let rcol${j} = rs[rowBase + min(s${j}, segEnd - 1u)];`);
  }
  for (const i of I) {
    for (const j of J) {
      const X = `x${i}.${C[j]}`, Y = `y${i}.${C[j]}`;
      if (fused) {
        wl.push(
          `    let w${i}${j} = select(0.0, u.scale * exp(bdiff(gown${i}, gcol${j}) + gcol${j}.y - mc${i}), valid${i} && s${j} < segEnd && s${j} <= own${i});
    let wy${i}${j} = w${i}${j} * ${Y};
    den${i} += w${i}${j} * ${X};
    hd${i} += wy${i}${j} * ${X};
    pa${i} += select(0.0, wy${i}${j} * ${X}, s${j} < own${i});
    pb${i} += select(0.0, w${i}${j} * ${X}, s${j} < own${i});`,
        );
      } else if (mode === "stats") {
        wl.push(`    {
      let ok = valid${i} && s${j} < segEnd && s${j} <= own${i};
      let e = select(0.0, u.scale * ${X} * exp(bdiff(gown${i}, gcol${j}) + gcol${j}.y - mc${i}), ok);
      den${i} += e;
      hd${i} += e * ${Y};
    }`);
      } else if (mode === "dq") {
        wl.push(
          `    let w${i}${j} = select(0.0, u.scale * (rown${i}.y * ${Y} + rown${i}.z) * exp(bdiff(gown${i}, gcol${j}) + gcol${j}.y - rown${i}.x), valid${i} && s${j} < segEnd && s${j} <= own${i});
    offp${i} += select(0.0, w${i}${j} * ${X}, s${j} < own${i});`,
        );
      } else if (mode === "dk") {
        wl.push(`    var w${i}${j} = 0.0;
    {
      let ok = valid${i} && s${j} < segEnd && s${j} >= own${i};
      let dd = exp(bdiff(gcol${j}, gown${i}) + gown${i}.y - rcol${j}.x);
      w${i}${j} = select(0.0, u.scale * (rcol${j}.y * ${Y} + rcol${j}.z) * dd, ok);
      offp${i} += select(0.0, w${i}${j} * ${X}, s${j} > own${i});
    }`);
      } else if (mode === "dv") {
        wl.push(
          `    let wv${i}${j} = select(0.0, u.scale * ${X} * exp(bdiff(gcol${j}, gown${i}) + gown${i}.y - rcol${j}.x) * rcol${j}.y, valid${i} && s${j} < segEnd && s${j} >= own${i});`,
        );
      } else {
        wl.push(`    var w${i}${j} = 0.0;
    var wv${i}${j} = 0.0;
    {
      let ok = valid${i} && s${j} < segEnd && s${j} >= own${i};
      let dd = exp(bdiff(gcol${j}, gown${i}) + gown${i}.y - rcol${j}.x);
      w${i}${j} = select(0.0, u.scale * (rcol${j}.y * ${Y} + rcol${j}.z) * dd, ok);
      wv${i}${j} = select(0.0, u.scale * ${X} * dd * rcol${j}.y, ok);
      offp${i} += select(0.0, w${i}${j} * ${X}, s${j} > own${i});
    }`);
      }
    }
  }
  const [sx, sy] = trimScores ? ["gx", "gy"] : ["tx", "ty"];
  const storeW = (w: string) =>
    J.map((j) =>
      `    ws[(${sx} * 4u + ${j}u) * 16u + ${sy}] = vec4f(${
        I.map((i) => `${w}${i}${j}`).join(", ")
      });`
    );

  // A row's statistics from its sums r (den, hd) and ws[lid·16] (.z m, .w β): inv, dden.
  const statsRow = () => {
    const lower = gate === "exp" ? "exp(-mcr)" : "1.0";
    return `    let mcr = ws[lid * 16u].z;
    let betar = ws[lid * 16u].w;
    let dsum = r.x;
    let hsum = r.y;
    ${
      p.normalize
        ? `let nrm = max(abs(dsum), ${lower});
    let inv = 1.0 / (nrm + u.eps);
    var dden = 0.0;${
          p.exact
            ? `\n    if (abs(dsum) > ${lower}) { dden = -inv * (inv * hsum) * sign(dsum); }`
            : ""
        }`
        : `let inv = 1.0;\n    let dden = 0.0;\n    _ = hsum;\n    _ = dsum;`
    }`;
  };
  // rowFirst: the row sums of both grids reduced through ws (score grid first), the row's inv
  // and dden written (rso, dmt) and handed to every thread of the row (rr: output grid, rrG:
  // score grid); dq's weights wq = inv·wy + dden·w; the state term's accumulator scaled by inv
  // plus dden times its normalizer part.
  const rowStatsFirst = (): string[] => {
    const L: string[] = [];
    if (trimScores) {
      L.push(
        ...I.map((i) =>
          `    ws[(gy * 4u + ${i}u) * 16u + gx] = vec4f(denG${i}, hdG${i}, 0.0, 0.0);`
        ),
        `    workgroupBarrier();
    var rG = vec4f(0.0);
    if (lid < 64u) {
      for (var t = 0u; t < 16u; t++) { rG += ws[lid * 16u + t]; }
    }
    workgroupBarrier();`,
      );
    }
    L.push(
      ...I.map((i) =>
        `    ws[(ty * 4u + ${i}u) * 16u + tx] = vec4f(den${i}, hd${i}, mc${i}, beta${i});`
      ),
      `    workgroupBarrier();
    if (lid < 64u) {
      var r = ${trimScores ? "rG" : "vec4f(0.0)"};
      for (var t = 0u; t < 16u; t++) { r += ws[lid * 16u + t]; }
  ${statsRow().replaceAll("\n", "\n  ")}
      if (tileFirst + lid < segEnd) {
        let row = rowBase + tileFirst + lid;
        rso[row] = vec4f(mcr, inv, dden, betar);${mPath(p) ? `\n        ${dmtStore("row")}` : ""}
      }
      ws[lid * 16u] = vec4f(inv, dden, 0.0, 0.0);
    }
    workgroupBarrier();`,
    );
    for (const i of I) {
      L.push(`    rr${i} = ws[(ty * 4u + ${i}u) * 16u];`);
      L.push(`    rrG${i} = ${trimScores ? `ws[(gy * 4u + ${i}u) * 16u]` : `rr${i}`};`);
    }
    L.push(`    workgroupBarrier();`);
    for (const i of I) {
      for (const j of J) {
        L.push(`    let wq${i}${j} = rrG${i}.x * wy${i}${j} + rrG${i}.y * w${i}${j};`);
      }
    }
    if (p.inter) {
      L.push(`    {`, `      let ${at.saved ? `nb = ${nBase}` : `sb4 = ${at.cSlot4("seg")}`};`);
      for (let c = 0; c < NQ; c++) {
        L.push(`      let nn${c} = ${nLoad(c)};`);
        for (const i of I) {
          L.push(
            `      acc${i}_${c} = rr${i}.x * acc${i}_${c} + rr${i}.y * (u.scale * beta${i}) * nn${c};`,
          );
        }
      }
      L.push(`    }`);
    }
    return L;
  };

  // 3. Weighted accumulation of the other side's rows (8 at a time).
  const accum = (mat: string, D4: number, acc: string, cOff = ""): string[] => {
    const N = D4 / 16;
    const L: string[] = [];
    const NN = Math.ceil((OS * D4) / 256);
    const P = `${acc}P`;
    const pload = (sl: string) =>
      range(NN).map((n) =>
        `      if (lid + ${256 * n}u < ${
          OS * D4
        }u) { ${P}${n} = ld_${mat}(rowBase + min(o0 + ${sl} + (lid + ${
          256 * n
        }u) / ${D4}u, segEnd - 1u), ${cOff}(lid + ${256 * n}u) % ${D4}u); }`
      );
    if (prefetch.accum) {
      L.push(...range(NN).map((n) => `    var ${P}${n} = vec4f(0.0);`));
      L.push(...pload("0u").map((l) => l.slice(2)));
      L.push(`    for (var sl = 0u; sl < 64u; sl += ${OS}u) {`);
      L.push(
        ...range(NN).map((n) =>
          `      if (lid + ${256 * n}u < ${OS * D4}u) { stg[lid + ${256 * n}u] = ${P}${n}; }`
        ),
      );
      L.push(`      workgroupBarrier();`);
      L.push(
        `      if (sl + ${OS}u < 64u) {`,
        ...pload(`sl + ${OS}u`).map((l) => "  " + l),
        `      }`,
      );
    } else {
      L.push(`    for (var sl = 0u; sl < 64u; sl += ${OS}u) {`);
      for (let n = 0; n * 256 < OS * D4; n++) {
        L.push(`      {
        let id = lid + ${256 * n}u;
        if (id < ${OS * D4}u) {
          stg[id] = ld_${mat}(rowBase + min(o0 + sl + id / ${D4}u, segEnd - 1u), ${cOff}id % ${D4}u);
        }
      }`);
      }
      L.push(`      workgroupBarrier();`);
    }
    for (let ss = 0; ss < OS; ss++) {
      // Trimmed diagonal block: groups of 8 other rows whose weights are all zero for the
      // thread's 4 rows are skipped (the two rows of 4 of a 32-lane subgroup agree).
      if (trimDiagonal && ss % 8 === 0) {
        L.push(
          rows
            ? `      if (o0 < tileFirst || sl + ${ss}u <= ty * 4u + 3u) {`
            : `      if (o0 > tileFirst || sl + ${ss + 7}u >= ty * 4u) {`,
        );
      }
      L.push(`      {\n        let w = ws[(sl + ${ss}u) * 16u + ty];`);
      for (let c = 0; c < N; c++) {
        L.push(`        let o${c} = stg[${ss * D4}u + ${col(c)}];`);
        for (const i of I) L.push(`        ${acc}${i}_${c} += w.${C[i]} * o${c};`);
      }
      L.push(`      }`);
      if (trimDiagonal && (ss % 8 === 7 || ss === OS - 1)) L.push(`      }`);
    }
    L.push(`      workgroupBarrier();\n    }`);
    return phase("accum", L);
  };

  const withY = mode !== "dv"; // dv's weights need X alone
  // The score grid's thread coordinates, and the shared blocks' slot (X at vec4 0, Y at 1024:
  // row t of the chunk (query), vec4 s/4 of its keys).
  const [gxs, gys] = trimScores ? ["gx", "gy"] : ["tx", "ty"];
  const scb4 = at.cSlot4("seg");
  const shared = shareScores === "out"
    ? phase("share", [
      `    {\n      let scb4 = ${scb4};`,
      ...(["x", "y"] as const).flatMap((m, mi) =>
        I.map((i) =>
          `      st[scb4 + ${mi * 1024}u + (${gys} * 4u + ${i}u) * 16u + ${gxs}] = ${m}${i};`
        )
      ),
      `    }`,
    ])
    : [];
  // The forward's X (scoresFromForward): row gys·4 + i, keys gxs·4.. of the chunk's block; the
  // sub-blocks the trimmed grid skips stay zero, as do rows past the chunk's end.
  const xValid = trimScores ? "validG" : "valid";
  const forwardScores = phase("scores", [
    `    {\n      let xb4 = (rowBase + tileFirst) * ${DQ4}u;`,
    ...(trimScores ? [`      if (o0 != tileFirst || gx <= gy) {`] : []),
    ...I.map((i) =>
      `      if (${xValid}${i}) { x${i} = xf[xb4 + (${gys} * 4u + ${i}u) * 16u + ${gxs}]; }`
    ),
    ...(trimScores ? [`      }`] : []),
    `    }`,
  ]);
  const scores = shareScores === "in"
    ? phase("scores", [
      `    {\n      let scb4 = ${scb4};`,
      ...(["x", "y"] as const).flatMap((m, mi) => [
        ...I.map((j) =>
          `      let ${m}t${j} = sci[scb4 + ${mi * 1024}u + (${gxs} * 4u + ${j}u) * 16u + ${gys}];`
        ),
        ...I.map((i) => `      ${m}${i} = vec4f(${I.map((j) => `${m}t${j}.${C[i]}`).join(", ")});`),
      ]),
      `    }`,
    ])
    : [
      ...(xIn ? forwardScores : scoreGemm(own1, oth1, DQ4, "x")),
      ...(withY ? scoreGemm(own2, oth2, DV4, "y") : []),
    ];
  const body: string[] = [
    ...I.map((i) => `    var x${i} = vec4f(0.0);`),
    ...(withY ? I.map((i) => `    var y${i} = vec4f(0.0);`) : []),
    ...scores,
    ...shared,
    ...(trimScores ? wl.map(G) : wl),
  ];
  if (rowFirst) {
    body.push(...rowStatsFirst(), ...storeW("wq"), ...accum("k", DQ4, "acc"));
  } else if (fused) {
    body.push(...storeW("wy"), ...accum("k", DQ4, "acc"));
    body.push(...storeW("w"), ...accum("k", DQ4, "acq"));
  } else if (mode === "dq") {
    body.push(...storeW("w"), ...accum("k", DQ4, "acc"));
  } else if (mode === "dkdv") {
    body.push(...storeW("w"), ...accum("q", DQ4, "acc"));
    body.push(...storeW("wv"), ...accum("dh", DV4, "accv"));
  } else if (mode === "dk") {
    body.push(...storeW("w"), ...accum("q", DQ4, "acc"));
  } else if (mode === "dv") {
    body.push(...storeW("wv"), ...accum("dh", TV4, "accv", "cb4 + "));
  }

  const loop = rows
    ? `  for (var o0 = segStart; o0 < min(segEnd, tileFirst + 64u); o0 += 64u) {`
    : `  for (var o0 = tileFirst; o0 < segEnd; o0 += 64u) {`;

  // Final stores and per-row reductions (through ws: 64 rows × 16 threads).
  const fin: string[] = [];
  if (mode === "dv") {
    // No row sums: dk's kernel writes csum.
    for (const i of I) {
      fin.push(
        `  if (valid${i}) {`,
        ...range(NV).map((c) => `    st_dv(rowBase + own${i}, cb4 + ${col(c)}, accv${i}_${c});`),
        `  }`,
      );
    }
  }
  // Row sums (none for dv), reduced through ws (rowFirst: stats' were reduced in the loop).
  const rowSums = mode !== "dv" && !rowFirst;
  if (rowSums && trimScores) {
    // The row sums of the score grid first (rG), then those of the output grid on top.
    const gv = (i: number) =>
      mode === "stats"
        ? `denG${i}, hdG${i}, 0.0, 0.0`
        : mode === "dq"
        ? `offpG${i}, 0.0, 0.0, 0.0`
        : `0.0, offpG${i}, 0.0, 0.0`;
    fin.push(
      ...I.map((i) => `  ws[(gy * 4u + ${i}u) * 16u + gx] = vec4f(${gv(i)});`),
      `  workgroupBarrier();
  var rG = vec4f(0.0);
  if (lid < 64u) {
    for (var t = 0u; t < 16u; t++) { rG += ws[lid * 16u + t]; }
  }
  workgroupBarrier();`,
    );
  }
  if (!rowSums) {
    // dv writes no row sums; rowFirst reduced them already.
  } else if (mode === "stats") {
    fin.push(
      ...I.map((i) =>
        `  ws[(ty * 4u + ${i}u) * 16u + tx] = vec4f(den${i}, hd${i}, mc${i}, beta${i});`
      ),
    );
  } else if (mode === "dq") {
    for (const i of I) {
      fin.push(
        `  if (valid${i}) {`,
        ...range(NQ).map((c) => `    st_dq(rowBase + own${i}, ${col(c)}, acc${i}_${c});`),
        `  }`,
      );
      fin.push(`  ws[(ty * 4u + ${i}u) * 16u + tx] = vec4f(offp${i}, 0.0, 0.0, 0.0);`);
    }
  } else {
    for (const i of I) {
      fin.push(
        `  if (valid${i}) {`,
        ...range(NQ).map((c) => `    st_dk(rowBase + own${i}, ${col(c)}, acc${i}_${c});`),
        ...(hasDv
          ? range(NV).map((c) => `    st_dv(rowBase + own${i}, ${col(c)}, accv${i}_${c});`)
          : []),
        `  }`,
        `  ws[(ty * 4u + ${i}u) * 16u + tx] = vec4f(${
          range(NQ).map((c) => `dot(ld_k(rc${i}, ${col(c)}), acc${i}_${c})`).join(" + ")
        }, offp${i}, 0.0, 0.0);`,
      );
    }
  }
  if (rowSums) {
    fin.push(`  workgroupBarrier();
  if (lid < 64u && tileFirst + lid < segEnd) {
    var r = ${trimScores ? "rG" : "vec4f(0.0)"};
    for (var t = 0u; t < 16u; t++) { r += ws[lid * 16u + t]; }
    let row = rowBase + tileFirst + lid;`);
  }
  if (!rowSums) {
    // Nothing to reduce.
  } else if (mode === "stats") {
    fin.push(
      statsRow(),
      `    rso[row] = vec4f(mcr, inv, dden, betar);${mPath(p) ? `\n    ${dmtStore("row")}` : ""}`,
    );
    if (fused) fin.push(`    ws[lid * 16u] = vec4f(inv, dden, 0.0, 0.0);`);
  } else if (mode === "dq") {
    fin.push(`    rsum[row] = r.x;`);
  } else {
    fin.push(`    csum[row] = r.x;\n    csum[u.BH * u.S + row] = r.y;`);
  }
  if (rowSums) fin.push(`  }`);
  if (rowFirst) {
    // dq is complete in acc; its row sums as below, with rr and rrG from the loop.
    for (const i of I) {
      fin.push(
        `  if (valid${i}) {`,
        ...range(NQ).map((c) => `    st_dq(rowBase + own${i}, ${col(c)}, acc${i}_${c});`),
        `  }`,
      );
    }
  } else if (fused) {
    // dq = inv·acc + dden·acq, its row sums (q·dq without the diagonal) reduced like dq's.
    fin.push(`  workgroupBarrier();`);
    if (trimScores) {
      fin.push(...I.map((i) => `  let rrG${i} = ws[(gy * 4u + ${i}u) * 16u];`));
    }
    for (const i of I) {
      fin.push(
        `  let rr${i} = ws[(ty * 4u + ${i}u) * 16u];`,
        `  if (valid${i}) {`,
        ...range(NQ).map((c) =>
          `    st_dq(rowBase + own${i}, ${
            col(c)
          }, rr${i}.x * acc${i}_${c} + rr${i}.y * acq${i}_${c});`
        ),
        `  }`,
      );
    }
  }
  if (fused) {
    fin.push(`  workgroupBarrier();`);
    if (trimScores) {
      fin.push(
        ...I.map((i) =>
          `  ws[(gy * 4u + ${i}u) * 16u + gx] = vec4f(rrG${i}.x * paG${i} + rrG${i}.y * pbG${i}, 0.0, 0.0, 0.0);`
        ),
        `  workgroupBarrier();
  var rP = vec4f(0.0);
  if (lid < 64u) {
    for (var t = 0u; t < 16u; t++) { rP += ws[lid * 16u + t]; }
  }
  workgroupBarrier();`,
      );
    }
    for (const i of I) {
      fin.push(
        `  ws[(ty * 4u + ${i}u) * 16u + tx] = vec4f(rr${i}.x * pa${i} + rr${i}.y * pb${i}, 0.0, 0.0, 0.0);`,
      );
    }
    fin.push(`  workgroupBarrier();
  if (lid < 64u && tileFirst + lid < segEnd) {
    var r = ${trimScores ? "rP" : "vec4f(0.0)"};
    for (var t = 0u; t < 16u; t++) { r += ws[lid * 16u + t]; }
    rsum[rowBase + tileFirst + lid] = r.x;
  }`);
  }

  const mprevDecl = mode === "stats" && gate === "exp" && p.inter
    ? `  let mprev = ${at.m("seg")};`
    : "";
  const wgsl = `${enableF16(p.dtype, p.gateDtype)}${UNIFORMS}
${decl.join("\n")}
${
    wsAlias
      ? `var<workgroup> stg: array<vec4f, ${
        Math.max(STG + 1024, (dbl ? 2 : 1) * stateStagingVec4(DQK, DHV, SKC))
      }>;\n`
      : `var<workgroup> stg: array<vec4f, ${STG}>;\nvar<workgroup> ws: array<vec4f, 1024>;\n`
  }
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
${CHUNK_TILE_PROLOGUE}
  let tileFirst = segStart + ${mode === "dv" ? `(wid.x / ${NVT}u)` : "wid.x"} * 64u;${
    mode === "dv" ? `\n  let cb4 = (wid.x % ${NVT}u) * ${TV4}u;` : ""
  }
  let rowBase = bh * u.S;
${mprevDecl}
${head.join("\n")}
${inter.join("\n")}
${loop}
${body.join("\n")}
  }
${fin.join("\n")}${p.inter ? "\n  _ = mp[0];" : ""}${
    // dq reusing stats' U reads nothing else of the saved C (n comes from statesNM).
    rows && at.saved ? "\n  _ = st[0];" : ""}${
    // dkdv reading its state products and shared score blocks reads nothing else of v.
    uIn && mode === "dkdv" ? "\n  _ = &v;" : ""}
}
`;
  // stateDepth above KC or doubleState: the weight block lives in stg behind the other phases'
  // staging.
  return wsAlias ? wgsl.replace(/\bws\[/g, `stg[${STG}u + `) : wgsl;
}

/** Columns (DHV) of one {@linkcode outerBlockWgsl} tile. */
export function outerCols(DHV: number): number {
  return DHV % 128 === 0 ? 128 : 64;
}

/** Workgroups of {@linkcode outerBlockWgsl} per (chunk, head). */
export function outerBlockTiles(DQK: number, DHV: number): number {
  return (DQK / 64) * (DHV / outerCols(DHV));
}

/**
 * The staged outer-product loop of {@linkcode outerBlockWgsl} and the fused state scans
 * (`_state_scan_wgsl.ts`): 64 rows j0… of x (DQK columns of tile aTile) and of y (times the row
 * weight wsh[r]`wX`; TC4 vec4 columns of tile cTile) staged `rows` (16 or 32) at a time, into xs
 * (rows × 16 vec4) and ys (rows × TC4), accumulated into the thread's 4 × NCC vec4s acc{i}_{c} and
 * (weight wsh[r]`wN`) into nacc. Each line starts with `pad`.
 */
export function stagedOuterProducts(
  xn: string,
  yn: string,
  NCC: number,
  TC4: number,
  pad: string,
  wX = ".x",
  wN = ".y",
  prefetch = false,
  rows = 16,
): string {
  if (rows !== 16 && rows !== 32) {
    throw new RangeError(`stagedOuterProducts: rows 16 or 32, received ${rows}`);
  }
  if (prefetch) return prefetchedOuterProducts(xn, yn, NCC, TC4, pad, wX, wN, rows);
  // Thread lid stages row lid / 16 (+ 16·h for the h-th half of 32 rows), vec4 column lid % 16 of x.
  const half = (h: number) => h ? ` + ${16 * h}u` : "";
  const L = [`for (var sub = 0u; sub < 64u; sub += ${rows}u) {`];
  for (let h = 0; h < rows / 16; h++) {
    L.push(
      `  {`,
      `    let r = lid / 16u${half(h)};`,
      `    let row = rowBase + min(j0 + sub + r, segEnd - 1u);`,
      `    xs[lid${h ? ` + ${256 * h}u` : ""}] = ld_${xn}(row, aTile * 16u + lid % 16u);`,
      ...range(NCC).map((c) =>
        `    ys[r * ${TC4}u + tx + ${
          16 * c
        }u] = wsh[sub + r]${wX} * ld_${yn}(row, cTile * ${TC4}u + tx + ${16 * c}u);`
      ),
      `  }`,
    );
  }
  L.push(`  workgroupBarrier();`);
  L.push(...outerSteps(NCC, TC4, wN, rows));
  return L.map((l) => pad + l).join("\n");
}

// The `rows` staged rows' products of stagedOuterProducts (acc, nacc), then the loop's closing
// barrier.
function outerSteps(NCC: number, TC4: number, wN: string, rows = 16): string[] {
  const L: string[] = [];
  for (let j = 0; j < rows; j++) {
    L.push(`  {`, `    let a = xs[${j * 16}u + ty];`, `    let wn = wsh[sub + ${j}u]${wN};`);
    for (let c = 0; c < NCC; c++) {
      L.push(`    let y${c} = ys[${j * TC4}u + tx + ${16 * c}u];`);
      for (const i of range(4)) L.push(`    acc${i}_${c} += a.${C[i]} * y${c};`);
    }
    L.push(`    nacc += wn * a;`, `  }`);
  }
  L.push(`  workgroupBarrier();`, `}`);
  return L;
}

// stagedOuterProducts with register prefetch (speed variant of issue #14): the next `rows` rows'
// loads are issued before the current rows' products.
function prefetchedOuterProducts(
  xn: string,
  yn: string,
  NCC: number,
  TC4: number,
  pad: string,
  wX: string,
  wN: string,
  rows = 16,
): string {
  const H = range(rows / 16);
  // Registers of half h (none suffixed for the first, so that 16 rows read as before).
  const px = (h: number) => h ? `px${h}` : "px";
  const py = (h: number, c: number) => h ? `py${h}_${c}` : `py${c}`;
  const half = (h: number) => h ? ` + ${16 * h}u` : "";
  const load = (sub: string) =>
    H.flatMap((h) => [
      `  {`,
      `    let row = rowBase + min(j0 + ${sub} + lid / 16u${half(h)}, segEnd - 1u);`,
      `    ${px(h)} = ld_${xn}(row, aTile * 16u + lid % 16u);`,
      ...range(NCC).map((c) =>
        `    ${py(h, c)} = ld_${yn}(row, cTile * ${TC4}u + tx + ${16 * c}u);`
      ),
      `  }`,
    ]);
  const L = [
    ...H.flatMap((h) => [
      `var ${px(h)} = vec4f(0.0);`,
      ...range(NCC).map((c) => `var ${py(h, c)} = vec4f(0.0);`),
    ]),
    ...load("0u").map((l) => l.slice(2)),
    `for (var sub = 0u; sub < 64u; sub += ${rows}u) {`,
    ...H.flatMap((h) => [
      `  {`,
      `    let r = lid / 16u${half(h)};`,
      `    xs[lid${h ? ` + ${256 * h}u` : ""}] = ${px(h)};`,
      ...range(NCC).map((c) =>
        `    ys[r * ${TC4}u + tx + ${16 * c}u] = wsh[sub + r]${wX} * ${py(h, c)};`
      ),
      `  }`,
    ]),
    `  workgroupBarrier();`,
    `  if (sub + ${rows}u < 64u) {`,
    ...load(`sub + ${rows}u`).map((l) => "  " + l),
    `  }`,
  ];
  L.push(...outerSteps(NCC, TC4, wN, rows));
  return [`${pad}{`, ...L.map((l) => `${pad}  ${l}`), `${pad}}`].join("\n");
}

/**
 * Register-blocked per-chunk outer products (same bindings and output as `outerWgsl`; DQK, DHV
 * multiples of 64): a 64 (DQK) × 128 (or 64) (DHV) tile per workgroup of 256 threads, 4 × 8 per
 * thread, the chunk's rows staged 16 at a time (x as is, y times the row weight).
 */
export function outerBlockWgsl(p: BwParams, mode: "state" | "dstate"): string {
  const { DQK, DHV } = p;
  const E4 = (DQK * DHV + DQK) / 4;
  const DQ4 = DQK / 4, DV4 = DHV / 4;
  const TC = outerCols(DHV), NCC = TC / 64, TC4 = TC / 4;
  const xn = mode === "state" ? "k" : "q", yn = mode === "state" ? "v" : "dh";
  let b = 0;
  const decl = [
    matrix(xn, b++, DQK, p.dtype, "read", false),
    matrix(yn, b++, DHV, p.dtype, "read", false),
    `@group(0) @binding(${b++}) var<storage, read> gi: array<vec4f>;`,
    mode === "dstate" ? `@group(0) @binding(${b++}) var<storage, read> rs: array<vec4f>;` : "",
    `@group(0) @binding(${b++}) var<storage, read_write> out: array<vec4f>;`,
    `@group(0) @binding(${b++}) var<uniform> u: U;`,
  ];
  const weight = mode === "state"
    ? `let gl = gi[rowBase + segEnd - 1u];
      let gg = gi[rowBase + jr];
      w = exp(bdiff(gl, gg) + gg.y${p.gate === "exp" ? " - gl.z" : ""});
      wn = w;`
    : `let rr = rs[rowBase + jr];
      w = u.scale * rr.w * rr.y;
      wn = u.scale * rr.w * rr.z;`;
  const I = range(4);
  return `${enableF16(p.dtype)}${UNIFORMS}
${decl.join("\n")}
var<workgroup> wsh: array<vec2f, 64>;
var<workgroup> xs: array<vec4f, ${16 * 16}>;
var<workgroup> ys: array<vec4f, ${16 * TC4}>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let seg = wid.y;
  let lb = wid.z;
  let bh = u.H0 + lb;
  let aTile = wid.x % ${DQK / 64}u;
  let cTile = wid.x / ${DQK / 64}u;
  let ty = lid / 16u;
  let tx = lid % 16u;
  let segStart = seg * u.L;
  let segEnd = min(u.S, segStart + u.L);
  let rowBase = bh * u.S;
${I.map((i) => range(NCC).map((c) => `  var acc${i}_${c} = vec4f(0.0);`).join("\n")).join("\n")}
  var nacc = vec4f(0.0);
  for (var j0 = segStart; j0 < segEnd; j0 += 64u) {
    if (lid < 64u) {
      let jr = j0 + lid;
      var w = 0.0;
      var wn = 0.0;
      if (jr < segEnd) {
      ${weight}
      }
      wsh[lid] = vec2f(w, wn);
    }
    workgroupBarrier();
${stagedOuterProducts(xn, yn, NCC, TC4, "    ")}
  }
  let ob4 = (lb * (u.NC + 1u) + seg) * ${E4}u;
${
    I.map((i) =>
      range(NCC).map((c) =>
        `  out[ob4 + (aTile * 64u + ty * 4u + ${i}u) * ${DV4}u + cTile * ${TC4}u + tx + ${
          16 * c
        }u] = acc${i}_${c};`
      ).join("\n")
    ).join("\n")
  }
  if (cTile == 0u && tx == 0u) { out[ob4 + ${DQK * DV4}u + aTile * 16u + ty] = nacc; }
  _ = ${DQ4}u;
  _ = gi[0];
}
`;
}
