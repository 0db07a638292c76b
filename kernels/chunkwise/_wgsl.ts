// WGSL generators of the chunkwise mLSTM forward (one template function per kernel family).
// Variants (input gate, storage dtype, tile sizes, normalization) are parameters; every inner loop
// over a register tile or a staged sub-block is unrolled here in TypeScript, with vec4 registers,
// because the driver does not unroll what Naga emits (notes/webgpu_perf.md §3).
//
// Four kernel families make one forward (see forward.ts for the dispatch order):
//   gates    one workgroup per (chunk, head): logsig(f), cumulative b, suffix sums a, chunk totals,
//            and the exact row maxima of the intra-chunk gate matrix (exp gate)
//   states   init / copy-out of the chunk-boundary states (initial states in, last states out)
//   state    the recurrent state kernel over chunks: one workgroup per (DQK tile, DHV tile, head)
//   parallel the tiled intra-chunk kernel: one workgroup per (DHV tile, query block, chunk, head)
//
// Stabilizer: TFLA keeps a running row max while it walks the key blocks and rescales its
// accumulators. Here the gate kernel computes each row's exact max of the intra-chunk log gate
// matrix up front (O(L²) scalar work per chunk, about 1/(DQK + DHV) of the matrix work, evaluated
// with the same f32 expression and summation order as the parallel kernel), so the parallel kernel
// knows the final m_t before its first key block: no rescaling, and exp(logD - m_t) ≤ 1 exactly.

import { WGSL_LOGSIG, WGSL_OPAQUE } from "../_common.ts";

/** Storage type of q, k, v, h (and of the gate pre-activations). */
export type StorageDtype = "f32" | "f16";

/** The uniform block shared by every chunkwise kernel (12 × 4 bytes). */
export const UNIFORM_WGSL = `struct U {
  S: u32, L: u32, NC: u32, BH: u32,
  bh0: u32, DQK: u32, DHV: u32, keep: u32,
  eps: f32, scale: f32, p0: u32, p1: u32,
}`;

/** Number of u32/f32 words in the uniform block. */
export const UNIFORM_WORDS = 12;

/** Values of the uniform block of one dispatch. */
export interface UniformValues {
  S: number;
  L: number;
  NC: number;
  BH: number;
  bh0: number;
  DQK: number;
  DHV: number;
  keep: number;
  eps: number;
  scale: number;
  /** Heads per batch row (word p0; read by the gate kernel with document starts). */
  NH?: number;
}

/** Packs the uniform block into 48 bytes. */
export function packUniforms(u: UniformValues): ArrayBuffer {
  const buf = new ArrayBuffer(UNIFORM_WORDS * 4);
  const w = new Uint32Array(buf), f = new Float32Array(buf);
  w[0] = u.S;
  w[1] = u.L;
  w[2] = u.NC;
  w[3] = u.BH;
  w[4] = u.bh0;
  w[5] = u.DQK;
  w[6] = u.DHV;
  w[7] = u.keep;
  f[8] = u.eps;
  f[9] = u.scale;
  w[10] = u.NH ?? 0;
  return buf;
}

/**
 * Number of per-step sections of the gate scratch buffer (b̂, ĩ, a, mIntra, mComb, nrm, ŝ, lf).
 */
export const GATE_STEP_SECTIONS = 8;

/**
 * Floor of a log gate (logsig(f), and logsig(i) of the sigmoid gate): −∞ and anything below −1e30
 * become −1e30, which keeps every sum of log gates finite (no −∞ − (−∞)) and still wipes the state
 * exactly (exp(−1e30 + x) is 0 for any |x| < 1e29).
 */
export const LOG_GATE_FLOOR = -1e30;

const header = (dtype: StorageDtype) =>
  `${dtype === "f16" ? "enable f16;\n" : ""}alias T = ${dtype};\n${UNIFORM_WGSL}\n`;

// log(sigmoid(x)), accurate for every x and floored at LOG_GATE_FLOOR: the one implementation of
// all kernels (see WGSL_LOGSIG in _common.ts).
const LOGSIG_WGSL = WGSL_LOGSIG;

/** Parameters of the gate-preprocessing kernel. */
export interface GatesParams {
  gate: "exp" | "sig";
  /** Storage type of i and f. */
  dtype: StorageDtype;
  /** Chunk size (the workgroup arrays hold one chunk). */
  L: number;
  /** Query block of the parallel kernel: b is accumulated from the start of each block. */
  BQ: number;
  /**
   * Packed sequences: a fifth binding holds per (batch row, step) a u32 flag, 1 where a document
   * starts (states zeroed before the step); the uniform word `p0` holds NH. @default {false}
   */
  resets?: boolean;
  /**
   * Staged layout (issue #14): the two sequential passes run on two threads at once (the prefix
   * sums on thread 0, the suffix sums on thread 32) into workgroup arrays, written out by all
   * threads at once (coalesced) instead of one scalar store per step from one thread; the exp
   * gate's diagonal-block sums of whole sub-blocks (`mid`) come from a table of running sums
   * instead of a loop per row and sub-block. Every value is formed by the same f32 operations in
   * the same order as in the unstaged kernel, so the outputs are bit-identical.
   * @default {true where it fits 16 KiB of workgroup storage ({@linkcode gatesStagedFits})}
   */
  staged?: boolean;
  /**
   * Staged kernel: chunks per workgroup (64 threads each). The sequential passes of the group's
   * chunks run on neighbouring lanes of one subgroup, so that one instruction advances all of
   * them. @default {the largest of 4, 2, 1 that fits 16 KiB ({@linkcode gatesChunksPerGroup})}
   */
  chunksPerGroup?: 1 | 2 | 4;
}

/** Workgroup size of the gate kernel. */
export const GATES_WG = 64;

/** Workgroup storage in bytes of the gate kernel. */
export function gatesStorageBytes(p: GatesParams): number {
  const NB = Math.ceil(p.L / p.BQ);
  if (!gatesStaged(p)) return ((p.resets ? 3 : 2) * p.L + NB) * 4;
  return stagedGatesBytes(p, gatesChunksPerGroup(p));
}

// Staged, per chunk of the group: lfs, igs, b̂, ŝ, a per step ([zs] with resets), padded to L + 1
// words (no bank conflicts between the lanes of the sequential passes), the block totals, 2 chunk
// totals and, for the exp gate, the table of sub-block sums (NB·SB² floats, SB = BQ/4).
function stagedGatesBytes(p: GatesParams, G: number): number {
  const NB = Math.ceil(p.L / p.BQ), SB = p.BQ / 4;
  const perChunk = (p.resets ? 6 : 5) * (p.L + 1) + NB + 2 + (p.gate === "exp" ? NB * SB * SB : 0);
  return G * perChunk * 4;
}

/**
 * Whether the staged gate kernel ({@linkcode GatesParams.staged}) fits WebGPU's guaranteed 16 KiB
 * of workgroup storage (chunk sizes up to 455 at query blocks of 64): its default. Larger chunks
 * keep the unstaged layout, so the largest chunk size a device allows is unchanged.
 */
export function gatesStagedFits(p: GatesParams): boolean {
  return p.BQ % 4 === 0 && stagedGatesBytes(p, 1) <= 16384;
}

/**
 * Chunks per workgroup of the gate kernel: {@linkcode GatesParams.chunksPerGroup} of the staged
 * kernel (default: the largest of 4, 2, 1 that fits 16 KiB), 1 for the unstaged one. The grid is
 * (ceil(NC / G), B·NH), 64·G threads per workgroup.
 */
export function gatesChunksPerGroup(p: GatesParams): number {
  if (!gatesStaged(p)) return 1;
  if (p.chunksPerGroup !== undefined) {
    if (![1, 2, 4].includes(p.chunksPerGroup)) {
      throw new RangeError(
        `gatesWgsl: chunksPerGroup must be 1, 2 or 4, received ${p.chunksPerGroup}`,
      );
    }
    return p.chunksPerGroup;
  }
  for (const G of [4, 2]) if (stagedGatesBytes(p, G) <= 16384) return G;
  return 1;
}

/** Whether {@linkcode gatesWgsl} emits the staged kernel for these parameters. */
export function gatesStaged(p: GatesParams): boolean {
  if (p.staged === false) return false;
  if (p.staged && p.BQ % 4 !== 0) {
    throw new RangeError(
      `gatesWgsl: the staged gate kernel needs BQ a multiple of 4, received ${p.BQ}`,
    );
  }
  return p.staged ?? gatesStagedFits(p);
}

/** Offset (in f32) of the per-block totals in the gate buffer; `NB` blocks per chunk follow. */
export function gateBlockTotalsOffset(BH: number, S: number, NC: number): number {
  return GATE_STEP_SECTIONS * BH * S + 2 * BH * NC;
}

/**
 * The gate kernel. Grid (NC, B·NH); bindings 0 i, 1 f, 2 gates (f32, written), [resets: 3 the
 * document-start flags], uniforms.
 * Gate buffer sections (N = B·NH·S, index bh·S + t): 0 b̂ (cumulative logsig(f) from the start of
 * the step's query block of BQ steps), 1 ĩ (i or logsig(i)), 2 a (suffix sum of logsig(f) after
 * the step to the chunk's end, plus ĩ), 3 mIntra (exp gate: the row maximum of the intra-chunk log
 * gate matrix, by the very f32 expressions of the parallel kernel, and with document starts the
 * log gate of the zero state at the row's document start), 4 mComb (0 for the sigmoid gate) and 5
 * nrm (the normalizer without eps; 1 for the unnormalized sigmoid gate), written by the parallel
 * kernel when asked to keep them, 6 ŝ (sum of logsig(f) after the step to the end of its query
 * block), 7 logsig(f) itself; then per chunk (index (bh·NC + k)·2): g (the chunk's total log
 * forget gate), max_j a_j (and the zero state's log gate); then the block totals of b̂ (index
 * (bh·NC + k)·NB + x, NB = ceil(L / BQ)).
 *
 * Exactness for any forget gate: a range sum Σ_{s<r≤t} logsig(f_r) is never taken as a difference
 * of two cumulative sums (which loses |b|·2^-24 absolutely, all of it when a term is −1e30 or −∞).
 * Every log gate is a sum of same-sign terms: b̂_t + ŝ_s + (block totals between) across query
 * blocks; inside a block, sub-blocks of 4 steps (prefix of t's sub-block + the steps between +
 * suffix of s's sub-block), and the steps themselves inside a sub-block. All log gates are floored
 * at LOG_GATE_FLOOR. A document start wipes logsig(f) at its step to the floor (nothing crosses
 * it); the zero state's own log gate (logsig(f) of the start step and the steps after it) enters
 * the stabilizer, as in a separate call from m = 0.
 */
export function gatesWgsl(p: GatesParams): string {
  if (gatesStaged(p)) return stagedGatesWgsl(p);
  const exp = p.gate === "exp";
  const rs = p.resets ?? false;
  const BQ = p.BQ;
  const n: PassNames = { lc: "lc", at: "", ts: "", base: "base", rbase: "rbase" };
  return `${gatesBindings(p)}var<workgroup> lfs: array<f32, ${p.L}>;
var<workgroup> igs: array<f32, ${p.L}>;
var<workgroup> ts: array<f32, ${Math.ceil(p.L / BQ)}>;
${rs ? `var<workgroup> zs: array<f32, ${p.L}>;\n` : ""}${LOGSIG_WGSL}
@compute @workgroup_size(${GATES_WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let k = wg.x;
  let bh = wg.y;
  let t0 = k * u.L;
  let lc = min(u.L, u.S - t0);
  let base = bh * u.S + t0;
  let N = u.BH * u.S;
${rs ? "  let rbase = (bh / u.p0) * u.S + t0;\n" : ""}${
    gatesLoad(p, "", "lid")
  }  workgroupBarrier();
  if (lid == 0u) {
${
    prefixPass(BQ, false, rs, n, (v) =>
      `      gates[base + j] = ${v};
      gates[N + base + j] = igs[j];
      gates[7u * N + base + j] = lfs[j];
`)
  }    ts[(lc - 1u) / ${BQ}u] = loc;
    let nb = (lc + ${BQ - 1}u) / ${BQ}u;
    let tb = ${GATE_STEP_SECTIONS}u * N + 2u * u.BH * u.NC + (bh * u.NC + k) * ${
    Math.ceil(p.L / BQ)
  }u;
    for (var x = 0u; x < nb; x++) {
      gates[tb + x] = ts[x];
    }
${
    suffixPass(
      BQ,
      false,
      n,
      (v) => `      gates[6u * N + base + j] = ${v};\n`,
      "      gates[2u * N + base + j] = a;\n",
    )
  }    let ci = ${GATE_STEP_SECTIONS}u * N + (bh * u.NC + k) * 2u;
    gates[ci] = acc;
    gates[ci + 1u] = ${rs ? "max(amax, zs[lc - 1u])" : "amax"};
  }
  // b̂ and ŝ are read back from the gate buffer (kept out of workgroup memory, so long chunks fit).
  workgroupBarrier();
  storageBarrier();
${exp ? rowMaxWgsl(BQ, rs, "gates[base + r]", "gates[6u * N + base + c]") : ""}
}
`;
}

// The names one chunk's sequential pass uses: its step count, the offset of its per-step words
// and of its block totals in the workgroup arrays, its row bases in i/f and in the reset flags.
interface PassNames {
  lc: string;
  at: string;
  ts: string;
  base: string;
  rbase: string;
}

// The gate kernels' bindings (i, f, the gate scratch, [document-start flags], uniforms) and opaque().
function gatesBindings(p: GatesParams): string {
  const rs = p.resets ?? false;
  return `${header(p.dtype)}
@group(0) @binding(0) var<storage, read> iin: array<T>;
@group(0) @binding(1) var<storage, read> fin: array<T>;
@group(0) @binding(2) var<storage, read_write> gates: array<f32>;
${rs ? "@group(0) @binding(3) var<storage, read> rst: array<u32>;\n" : ""}@group(0) @binding(${
    rs ? 4 : 3
  }) var<uniform> u: U;
${WGSL_OPAQUE}
`;
}

// A chunk's logsig(f) (floored at document starts) and ĩ into lfs and igs (words at `at`),
// thread `t` of GATES_WG.
function gatesLoad(p: GatesParams, at: string, t: string): string {
  const rs = p.resets ?? false;
  return `  for (var j = ${t}; j < lc; j += ${GATES_WG}u) {
    lfs[${at}j] = ${
    rs
      ? `select(logsig(f32(fin[base + j])), ${LOG_GATE_FLOOR.toExponential()}, rst[rbase + j] != 0u)`
      : "logsig(f32(fin[base + j]))"
  };
    igs[${at}j] = ${p.gate === "exp" ? "f32(iin[base + j])" : "logsig(f32(iin[base + j]))"};
  }
`;
}

// The prefix pass over one chunk: the chunk's total log forget gate `acc` and, restarted at each
// query block, b̂ (`loc`; the same chain as acc where the chunk is one block: `one`), the block
// totals into ts, [the zero state's log gate into zs]. `store(v)` stores b̂ = v of step j.
function prefixPass(
  BQ: number,
  one: boolean,
  rs: boolean,
  n: PassNames,
  store: (v: string) => string,
): string {
  return `    // Compensated (Kahan) same-sign sums; all values are finite (floored log gates).
    var acc = 0.0;
    var comp = 0.0;
${one ? "" : "    var loc = 0.0;\n    var lcomp = 0.0;\n"}${
    rs ? "    var zv = 0.0;\n    var zon = false;\n" : ""
  }    for (var j = 0u; j < ${n.lc}; j++) {
${
    one ? "" : `      if (j % ${BQ}u == 0u && j > 0u) {
        ts[${n.ts}j / ${BQ}u - 1u] = loc;
        loc = 0.0;
        lcomp = 0.0;
      }
`
  }      let y = lfs[${n.at}j] - comp;
      let t = opaque(acc + y);
      comp = opaque(t - acc) - y;
      acc = t;
${
    one ? "" : `      let yl = lfs[${n.at}j] - lcomp;
      let tl = opaque(loc + yl);
      lcomp = opaque(tl - loc) - yl;
      loc = tl;
`
  }${store(one ? "acc" : "loc")}${
    rs
      ? `      // The zero state of a document start: its log gate is logsig(f) from the start on.
      if (rst[${n.rbase} + j] != 0u) {
        zv = logsig(f32(fin[${n.base} + j]));
        zon = true;
      } else {
        zv = zv + lfs[${n.at}j];
      }
      zs[${n.at}j] = select(-3.0e38, zv, zon);
`
      : ""
  }    }
`;
}

// The suffix pass over one chunk, backwards: ŝ (restarted at each query block; the chunk's own
// suffix where it is one block: `one`) and a = suffix + ĩ with its maximum amax. `shat(v)` stores
// ŝ = v of step j, `a` stores a.
function suffixPass(
  BQ: number,
  one: boolean,
  n: Pick<PassNames, "lc" | "at">,
  shat: (v: string) => string,
  a: string,
): string {
  return `    var suf = 0.0;
    var sc = 0.0;
${one ? "" : "    var bsuf = 0.0;\n    var bsc = 0.0;\n"}    var amax = -3.0e38;
    for (var jj = 0u; jj < ${n.lc}; jj++) {
      let j = ${n.lc} - 1u - jj;
${
    one ? "" : `      if ((j + 1u) % ${BQ}u == 0u) {
        bsuf = 0.0;
        bsc = 0.0;
      }
`
  }${shat(one ? "suf" : "bsuf")}      let a = suf + igs[${n.at}j];
${a}      amax = max(amax, a);
      let y = lfs[${n.at}j] - sc;
      let t = opaque(suf + y);
      sc = opaque(t - suf) - y;
      suf = t;
${
    one ? "" : `      let yb = lfs[${n.at}j] - bsc;
      let tb2 = opaque(bsuf + yb);
      bsc = opaque(tb2 - bsuf) - yb;
      bsuf = tb2;
`
  }    }
`;
}

// The exp gate's row maxima of the intra-chunk log gate matrix (section 3), one row per thread:
// `br` is b̂ of row r, `shat` ŝ of step c, and the diagonal block's sums of whole sub-blocks
// between key sub-block cb and the row's sub-block sb come from `midTable` (staged) or a loop.
function rowMaxWgsl(
  BQ: number,
  rs: boolean,
  br: string,
  shat: string,
  midTable?: string,
  // Grouped staged kernel: offsets of the chunk's per-step and per-block words, its thread index.
  at: { step: string; block: string; thread: string } = { step: "", block: "", thread: "lid" },
): string {
  const os = at.step, ob = at.block;
  const mid = midTable === undefined
    ? `      var mid = 0.0;
      for (var x = cb + 4u; x < sb; x++) {
        mid += lfs[${os}x];
      }
`
    : `      let mid = ${midTable};\n`;
  return `  for (var r = ${at.thread}; r < lc; r += ${GATES_WG}u) {
    let br = ${br};
    let qb = r / ${BQ}u;
    var mi = -3.0e38;
    // Key blocks before the query block: (b̂_t + ŝ_s) + block totals between, + ĩ_s.
    for (var kb = 0u; kb < qb; kb++) {
      var D = 0.0;
      for (var x = kb + 1u; x < qb; x++) {
        D += ts[${ob}x];
      }
      for (var c = kb * ${BQ}u; c < kb * ${BQ}u + ${BQ}u; c++) {
        mi = max(mi, ((br + ${shat}) + D) + igs[${os}c]);
      }
    }
    // The diagonal block, by sub-blocks of 4 steps.
    let blk = qb * ${BQ}u;
    let sb = blk + ((r - blk) / 4u) * 4u;
    var p4 = lfs[${os}sb];
    for (var x = sb + 1u; x <= r; x++) {
      p4 = p4 + lfs[${os}x];
    }
    for (var cb = blk; cb < sb; cb += 4u) {
${mid}      let pm = p4 + mid;
      let l1 = lfs[${os}cb + 1u];
      let l2 = lfs[${os}cb + 2u];
      let l3 = lfs[${os}cb + 3u];
      mi = max(mi, (pm + (l1 + (l2 + l3))) + igs[${os}cb]);
      mi = max(mi, (pm + (l2 + l3)) + igs[${os}cb + 1u]);
      mi = max(mi, (pm + l3) + igs[${os}cb + 2u]);
      mi = max(mi, (pm + 0.0) + igs[${os}cb + 3u]);
    }
    for (var c = sb; c <= r; c++) {
      var rsum = 0.0;
      for (var x = c + 1u; x <= r; x++) {
        rsum = rsum + lfs[${os}x];
      }
      mi = max(mi, rsum + igs[${os}c]);
    }
${rs ? `    mi = max(mi, zs[${os}r]);\n` : ""}    gates[3u * N + base + r] = mi;
  }`;
}

// The staged gate kernel (GatesParams.staged): the same values as gatesWgsl's, by the same f32
// operations in the same order. Why: the unstaged kernel wrote ~5 scalar values per step from one
// thread (one memory transaction each) and summed each row's sub-blocks again for every row, and
// its two sequential passes cost a whole subgroup's instruction each per step. Here G chunks share
// a workgroup (64 threads each): the prefix passes of the G chunks run on lanes 0..G-1, the suffix
// passes on lanes 32..32+G-1, the other threads build the table of sub-block sums; then every
// thread writes its chunk's words (coalesced) and one row maximum.
function stagedGatesWgsl(p: GatesParams): string {
  const exp = p.gate === "exp";
  const rs = p.resets ?? false;
  const BQ = p.BQ, NB = Math.ceil(p.L / BQ), SB = BQ / 4;
  const G = gatesChunksPerGroup(p);
  const W = GATES_WG * G;
  // Per-step words of chunk c start at c·P (P = L + 1: the lanes of one pass, a chunk each, fall
  // in different banks).
  const P = p.L + 1;
  // One query block per chunk (L ≤ BQ): the block sums b̂ and ŝ are the chunk sums themselves,
  // term for term (no block restarts), so one compensated chain per pass forms both.
  const one = p.L <= BQ;
  // The chunk c's step count (0 past the last chunk), its rows, its document-start flags.
  const chunkOf = (c: string, v: string) =>
    `let ${v}k = wg.x * ${G}u + ${c};
    let ${v}lc = select(0u, min(u.L, u.S - min(${v}k * u.L, u.S)), ${v}k < u.NC);
    let ${v}base = bh * u.S + ${v}k * u.L;
    let ${v}o = ${c} * ${P}u;${rs ? `\n    let ${v}rbase = (bh / u.p0) * u.S + ${v}k * u.L;` : ""}`;
  const chains = G * NB * SB;
  const workers = W - 2 * G;
  const table = `
  if (lid >= ${G}u && (lid < 32u || lid >= ${32 + G}u)) {
    // mids[(c·NB + qb)·SB² + cs·SB + s]: Σ lfs over the sub-blocks strictly between key sub-block
    // cs and row sub-block s of query block qb of chunk c, summed from the left from 0.0 as the
    // per-row loop of the unstaged kernel did.
    let w = lid - select(${G}u, ${2 * G}u, lid >= 32u);
    for (var e = w; e < ${chains}u; e += ${workers}u) {
      let c = e / ${NB * SB}u;
      ${chunkOf("c", "c")}
      let blk = ((e % ${NB * SB}u) / ${SB}u) * ${BQ}u;
      let cs = e % ${SB}u;
      var mid = 0.0;
      for (var s = cs + 1u; s < ${SB}u && blk + 4u * s < clc; s++) {
        mids[e * ${SB}u + s] = mid;
        for (var x = blk + 4u * s; x < min(blk + 4u * s + 4u, clc); x++) {
          mid += lfs[co + x];
        }
      }
    }
  }`;
  return `${gatesBindings(p)}var<workgroup> lfs: array<f32, ${G * P}>;
var<workgroup> igs: array<f32, ${G * P}>;
var<workgroup> ts: array<f32, ${G * NB}>;
var<workgroup> bhs: array<f32, ${G * P}>;
var<workgroup> shs: array<f32, ${G * P}>;
var<workgroup> as_: array<f32, ${G * P}>;
var<workgroup> tot: array<f32, ${2 * G}>;
${rs ? `var<workgroup> zs: array<f32, ${G * P}>;\n` : ""}${
    exp ? `var<workgroup> mids: array<f32, ${G * NB * SB * SB}>;\n` : ""
  }${LOGSIG_WGSL}
@compute @workgroup_size(${W})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bh = wg.y;
  let N = u.BH * u.S;
  // This thread's chunk g and its index li in it (loads, stores, row maxima).
  let g = lid / ${GATES_WG}u;
  let li = lid % ${GATES_WG}u;
  let k = wg.x * ${G}u + g;
  let lc = select(0u, min(u.L, u.S - min(k * u.L, u.S)), k < u.NC);
  let base = bh * u.S + k * u.L;
  let o = g * ${P}u;
${rs ? "  let rbase = (bh / u.p0) * u.S + k * u.L;\n" : ""}${
    gatesLoad(p, "o + ", "li")
  }  workgroupBarrier();
  if (lid < ${G}u) {
    ${chunkOf("lid", "p")}
${
    prefixPass(BQ, one, rs, {
      lc: "plc",
      at: "po + ",
      ts: `lid * ${NB}u + `,
      base: "pbase",
      rbase: "prbase",
    }, (v) => `      bhs[po + j] = ${v};\n`)
  }    if (plc > 0u) {
      ts[lid * ${NB}u + (plc - 1u) / ${BQ}u] = ${one ? "acc" : "loc"};
    }
    tot[2u * lid] = acc;
  }
  if (lid >= 32u && lid < ${32 + G}u) {
    let c = lid - 32u;
    ${chunkOf("c", "s")}
${
    suffixPass(
      BQ,
      one,
      { lc: "slc", at: "so + " },
      (v) => `      shs[so + j] = ${v};\n`,
      "      as_[so + j] = a;\n",
    )
  }    tot[2u * c + 1u] = amax;
  }${exp ? table : ""}
  workgroupBarrier();
  for (var j = li; j < lc; j += ${GATES_WG}u) {
    gates[base + j] = bhs[o + j];
    gates[N + base + j] = igs[o + j];
    gates[2u * N + base + j] = as_[o + j];
    gates[6u * N + base + j] = shs[o + j];
    gates[7u * N + base + j] = lfs[o + j];
  }
  let nb = (lc + ${BQ - 1}u) / ${BQ}u;
  let tb = ${GATE_STEP_SECTIONS}u * N + 2u * u.BH * u.NC + (bh * u.NC + k) * ${NB}u;
  for (var x = li; x < nb; x += ${GATES_WG}u) {
    gates[tb + x] = ts[g * ${NB}u + x];
  }
  if (li == 0u && lc > 0u) {
    let ci = ${GATE_STEP_SECTIONS}u * N + (bh * u.NC + k) * 2u;
    gates[ci] = tot[2u * g];
    gates[ci + 1u] = ${rs ? "max(tot[2u * g + 1u], zs[o + lc - 1u])" : "tot[2u * g + 1u]"};
  }
${
    exp
      ? rowMaxWgsl(
        BQ,
        rs,
        "bhs[o + r]",
        "shs[o + c]",
        `mids[((g * ${NB}u + qb) * ${SB}u + (cb - blk) / 4u) * ${SB}u + (sb - blk) / 4u]`,
        { step: "o + ", block: `g * ${NB}u + `, thread: "li" },
      )
      : ""
  }
}
`;
}

/** Parameters of the state copy kernels. */
export interface StatesCopyParams {
  /** "init": initial states (or zeros) into slot 0; "last": slot NC out to the last states. */
  mode: "init-zero" | "init" | "last";
  gate: "exp" | "sig";
  /** Storage type of the user's initial states (mode "init"). */
  dtype: StorageDtype;
}

/** Workgroup size of the state copy kernels. */
export const COPY_WG = 256;

/**
 * Copies states between the user's tensors and the per-chunk-boundary state buffers.
 * Grid (ceil(max(DQK·DHV, DQK + 1) / 256), heads of the group). States buffers (f32):
 * C (BHg, NC + 1, DQK, DHV) and nm (BHg, NC + 1, DQK + 1) with m after the DQK entries of n.
 * Bindings, "init": 0 cInitial, 1 nInitial, 2 mInitial, 3 C, 4 nm, 5 uniforms;
 * "init-zero": 0 C, 1 nm, 2 uniforms; "last": 0 C, 1 nm, 2 cLast, 3 nLast, 4 mLast, 5 uniforms.
 */
export function statesCopyWgsl(p: StatesCopyParams): string {
  const main = `@compute @workgroup_size(${COPY_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let bhl = gid.y;
  let bh = u.bh0 + bhl;
  let CQ = u.DQK * u.DHV;
  let NC1 = u.NC + 1u;`;
  if (p.mode === "init-zero") {
    return `${header("f32")}
@group(0) @binding(0) var<storage, read_write> sc: array<f32>;
@group(0) @binding(1) var<storage, read_write> snm: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${main}
  if (e < CQ) { sc[bhl * NC1 * CQ + e] = 0.0; }
  if (e <= u.DQK) { snm[bhl * NC1 * (u.DQK + 1u) + e] = 0.0; }
}
`;
  }
  if (p.mode === "init") {
    // The sigmoid gate has no stabilizer: m stays 0 (mInitial is read so that it stays bound).
    const m = p.gate === "exp" ? "f32(mi[bh])" : "0.0";
    const use = p.gate === "exp" ? "" : "\n  _ = mi[bh];";
    return `${header(p.dtype)}
@group(0) @binding(0) var<storage, read> ci: array<T>;
@group(0) @binding(1) var<storage, read> ni: array<T>;
@group(0) @binding(2) var<storage, read> mi: array<T>;
@group(0) @binding(3) var<storage, read_write> sc: array<f32>;
@group(0) @binding(4) var<storage, read_write> snm: array<f32>;
@group(0) @binding(5) var<uniform> u: U;
${main}${use}
  if (e < CQ) { sc[bhl * NC1 * CQ + e] = f32(ci[bh * CQ + e]); }
  if (e < u.DQK) { snm[bhl * NC1 * (u.DQK + 1u) + e] = f32(ni[bh * u.DQK + e]); }
  if (e == u.DQK) { snm[bhl * NC1 * (u.DQK + 1u) + e] = ${m}; }
}
`;
  }
  return `${header("f32")}
@group(0) @binding(0) var<storage, read> sc: array<f32>;
@group(0) @binding(1) var<storage, read> snm: array<f32>;
@group(0) @binding(2) var<storage, read_write> cl: array<f32>;
@group(0) @binding(3) var<storage, read_write> nl: array<f32>;
@group(0) @binding(4) var<storage, read_write> ml: array<f32>;
@group(0) @binding(5) var<uniform> u: U;
${main}
  let sNM = (bhl * NC1 + u.NC) * (u.DQK + 1u);
  if (e < CQ) { cl[bh * CQ + e] = sc[(bhl * NC1 + u.NC) * CQ + e]; }
  if (e < u.DQK) { nl[bh * u.DQK + e] = snm[sNM + e]; }
  if (e == u.DQK) { ml[bh] = snm[sNM + e]; }
}
`;
}

/** Tile parameters of the recurrent state kernel. */
export interface StateParams {
  gate: "exp" | "sig";
  /** Storage type of k and v. */
  dtype: StorageDtype;
  /** Threads along DHV (columns of C). */
  TX: number;
  /** Threads along DQK (rows of C); each thread holds 4 rows. */
  TY: number;
  /** Columns of C per thread (multiple of 4). */
  TN: number;
  /** Keys staged per sub-block. */
  BJ: number;
  /**
   * Software pipelining: the next sub-block of keys and values (across chunk boundaries) is
   * loaded into registers while the current one is multiplied. @default {false}
   */
  prefetch?: boolean;
  /**
   * DQK and DHV are multiples of 4: k, v and the states are read and written as vec4 (one 16-byte
   * access instead of four scalar ones). @default {false}
   */
  vec4io?: boolean;
  /**
   * The thread's TN/4 vec4 columns of C lie TX vec4s apart (tx + j·TX) instead of side by side
   * (tx·TN/4 + j): consecutive threads read consecutive vec4s of the staged values (no bank
   * conflicts at TN ≥ 8). Opt-in (issue #14, speed variants `st8i`, `st16i`). @default {false}
   */
  interleaveColumns?: boolean;
  /**
   * Start from zero states and write them to slot 0 itself instead of reading slot 0 (written
   * by the `init-zero` copy kernel), so that the state kernels of several head groups, each
   * writing its own buffers, follow each other with no barrier between them (issue #14, speed
   * variant `statesfirst`). @default {false}
   */
  zeroInit?: boolean;
}

/** Tile sizes of the state kernel (see {@linkcode StateParams}). */
export type StateTiles = Pick<
  StateParams,
  "TX" | "TY" | "TN" | "BJ" | "prefetch" | "interleaveColumns"
>;

/**
 * Default tiles of the state kernel: for 64 < DHV ≤ 256 a 64 × 128 tile of C per workgroup of 256
 * threads, 4 × 8 per thread with interleaved columns (H100, stop 11, TFLA shape, chunk 64: the
 * forward in 8.66 against 9.58 ms with 4 × 4; before the interleave, on the H200, 4 × 8 side by
 * side ran 20–35 % slower than 4 × 4); otherwise (DHV ≤ 64, and DHV 512, where 4 × 8 was 1 %
 * slower) a 64 × 64 tile, 4 × 4 per thread. 32 keys staged at a time where the workgroup storage
 * allows, else 16, no register prefetch (it made the kernel 15–20 % slower on the H200).
 */
export function stateTiles(DHV: number, workgroupStorage: number): StateTiles {
  const wide = DHV > 64 && DHV <= 256;
  const t: StateTiles = wide
    ? { TX: 16, TY: 16, TN: 8, BJ: 32, prefetch: false, interleaveColumns: true }
    : { TX: 16, TY: 16, TN: 4, BJ: 32, prefetch: false };
  if (stateStorageBytes({ gate: "exp", dtype: "f32", ...t }) > workgroupStorage) t.BJ = 16;
  return t;
}

/** Rows (BK) and columns (BV) of C held by one workgroup of the state kernel. */
export function stateTile(p: StateParams): { BK: number; BV: number; threads: number } {
  return { BK: 4 * p.TY, BV: p.TX * p.TN, threads: p.TX * p.TY };
}

/** Workgroup storage in bytes of the state kernel. */
export function stateStorageBytes(p: StateParams): number {
  const { BK, BV } = stateTile(p);
  return (p.BJ * BK + p.BJ * BV) * 4;
}

const XYZW = ["x", "y", "z", "w"];

// One staged vec4 of a thread: `setup` declares x4 (the vec4 index) and the element's row/col
// variables, `target` is the workgroup-array index, `comps` the 4 component expressions.
interface StageElem {
  guard: string | undefined;
  setup: string;
  target: string;
  comps: string[];
  /** The whole vec4 expression (vec4 global loads), replacing `comps`. */
  vec?: string;
  /** The row (row-major) or column (transposed) variable of the element. */
  row: string;
  /** Custom store of the vec4 `val` into `arr` (transposed staging from vec4 loads). */
  write?: (arr: string, val: string) => string;
}

// Plans unrolled staging of a (rows × cols) block from global memory into a workgroup array of
// vec4: row-major (4 consecutive columns per vec4) or transposed ([col][row], 4 consecutive rows
// per vec4). `load(row, col)` gives the f32 expression of one element and `ok(row, col)` its
// in-range condition.
function stagePlan(
  layout: "rows" | "transposed",
  rows: number,
  cols: number,
  threads: number,
  elem: (row: string, col: string) => { value: string; ok: string },
  elem4?: Elem4,
): StageElem[] {
  const total = (rows * cols) / 4;
  const per = Math.ceil(total / threads);
  const out: StageElem[] = [];
  for (let e = 0; e < per; e++) {
    const idx = `lid + ${e * threads}u`;
    const guard = (e + 1) * threads > total ? `${idx} < ${total}u` : undefined;
    const comps: string[] = [];
    if (layout === "rows") {
      const c4 = cols / 4;
      for (let c = 0; c < 4; c++) {
        const { value, ok } = elem("rr", `(cc + ${c}u)`);
        comps.push(`select(0.0, ${value}, ${ok})`);
      }
      const v4 = elem4?.("rr", "cc");
      out.push({
        guard,
        setup: `let x4 = ${idx}; let rr = x4 / ${c4}u; let cc = (x4 % ${c4}u) * 4u;`,
        target: "x4",
        comps,
        ...(v4 ? { vec: `select(vec4<f32>(0.0), ${v4.value}, ${v4.ok})` } : {}),
        row: "rr",
      });
    } else {
      const r4 = rows / 4;
      for (let r = 0; r < 4; r++) {
        const { value, ok } = elem(`(rr + ${r}u)`, "cc");
        comps.push(`select(0.0, ${value}, ${ok})`);
      }
      const v4 = elem4?.("rr", "cc");
      if (v4) {
        // vec4 loads along the row (4 consecutive columns, coalesced), 4 scalar stores into the
        // transposed array.
        // Thread order: pairs of column groups (32 contiguous bytes of a row: whole sectors), then
        // rows, so that a warp's scalar stores into the transposed array hit 16 distinct banks
        // (2-way conflicts instead of 8-way with the row-major order).
        const c4 = cols / 4;
        const setup = c4 % 2 === 0
          ? `let x4 = ${idx}; let rr = (x4 / 2u) % ${rows}u; let cc = ((x4 / ${
            2 * rows
          }u) * 2u + x4 % 2u) * 4u;`
          : `let x4 = ${idx}; let rr = x4 / ${c4}u; let cc = (x4 % ${c4}u) * 4u;`;
        out.push({
          guard,
          setup,
          target: "",
          comps,
          vec: `select(vec4<f32>(0.0), ${v4.value}, ${v4.ok})`,
          row: "rr",
          write: (arr, val) =>
            `let w4 = ${val}; ${
              [0, 1, 2, 3].map((c) =>
                `${arr}[(cc + ${c}u) * ${r4}u + rr / 4u][rr % 4u] = w4.${XYZW[c]};`
              )
                .join(" ")
            }`,
        });
        continue;
      }
      out.push({
        guard,
        setup: `let x4 = ${idx}; let cc = x4 % ${cols}u; let rr = (x4 / ${cols}u) * 4u;`,
        target: `cc * ${r4}u + rr / 4u`,
        comps,
        row: "cc",
      });
    }
  }
  return out;
}

// Emits the plan's statements: `body(e, j)` is the statement for element e (j-th of the plan).
function emitPlan(
  plan: StageElem[],
  body: (e: StageElem, j: number) => string,
  indent: string,
): string {
  return plan.map((e, j) => {
    const b = `{ ${e.setup} ${body(e, j)} }`;
    return `${indent}${e.guard ? `if (${e.guard}) ` : ""}${b}\n`;
  }).join("");
}

const vec4Of = (e: StageElem) => e.vec ?? `vec4<f32>(${e.comps.join(", ")})`;
const writeOf = (e: StageElem, arr: string, val: string) =>
  e.write ? e.write(arr, val) : `${arr}[${e.target}] = ${val};`;

// A vec4 element (4 consecutive columns starting at `col`, a multiple of 4) of a row-major block:
// its vec4<f32> expression and its in-range condition (all 4 columns are in range together).
type Elem4 = (row: string, col: string) => { value: string; ok: string };

// Staging straight into the workgroup array.
function stageRowMajor(
  arr: string,
  rows: number,
  cols: number,
  threads: number,
  elem: (row: string, col: string) => { value: string; ok: string },
  indent = "    ",
  elem4?: Elem4,
): string {
  const plan = stagePlan("rows", rows, cols, threads, elem, elem4);
  return emitPlan(plan, (e) => writeOf(e, arr, vec4Of(e)), indent);
}

function stageTransposed(
  arr: string,
  rows: number,
  cols: number,
  threads: number,
  elem: (row: string, col: string) => { value: string; ok: string },
  indent = "    ",
  elem4?: Elem4,
): string {
  const plan = stagePlan("transposed", rows, cols, threads, elem, elem4);
  return emitPlan(plan, (e) => writeOf(e, arr, vec4Of(e)), indent);
}

// Register prefetch (software pipelining) of a staged block: `decl` declares one vec4 register
// per staged element (`pf_<name><j>`), `load` fills them from global memory (issued before the
// compute on the previous block, so that its latency hides behind it), `store` writes them to
// the workgroup array (optionally transformed by `map`).
function prefetchStage(
  name: string,
  arr: string,
  plan: StageElem[],
  indent: string,
  map: (reg: string, e: StageElem, j: number) => string = (r) => r,
): { decl: string; load: string; store: string } {
  const reg = (j: number) => `pf_${name}${j}`;
  return {
    decl: plan.map((_, j) => `  var ${reg(j)} = vec4<f32>(0.0);\n`).join(""),
    load: emitPlan(plan, (e, j) => `${reg(j)} = ${vec4Of(e)};`, indent),
    store: emitPlan(plan, (e, j) => writeOf(e, arr, map(reg(j), e, j)), indent),
  };
}

/**
 * The recurrent state kernel. Grid (ceil(DQK/BK), ceil(DHV/BV), heads of the group); bindings
 * 0 k, 1 v, 2 gates, 3 C states, 4 nm states, 5 uniforms. Each workgroup keeps a BK × BV tile of C
 * in registers (4 × TN per thread), the matching slice of n (DHV tile 0 only) and m, and walks the
 * chunks in order: C_k = exp(g + m_{k-1} - m_k) C_{k-1} + Σ_j exp(a_j - m_k) k_j v_jᵀ, keys staged
 * BJ at a time (already weighted) with the values; it writes every chunk-boundary state (slot k + 1).
 */
export function stateWgsl(p: StateParams): string {
  const { BK, BV, threads } = stateTile(p);
  const exp = p.gate === "exp";
  const TN4 = p.TN / 4;
  const v4 = p.vec4io ?? false;
  const regs: string[] = [];
  for (let i = 0; i < 4; i++) for (let j = 0; j < TN4; j++) regs.push(`c${i}_${j}`);
  // Element (row i, vec4 column j) of the register tile: row a0 + ty*4 + i, cols c0 + tx*TN + 4j
  // (interleaved: c0 + (tx + j·TX)·4).
  const il = p.interleaveColumns ?? false;
  const rowOf = (i: number) => `(a0 + ty * 4u + ${i}u)`;
  const colOf = (j: number, c: number) =>
    il ? `(c0 + tx * 4u + ${4 * j * p.TX + c}u)` : `(c0 + tx * ${p.TN}u + ${4 * j + c}u)`;
  const vCol = (jv: number) => il ? `tx${jv ? ` + ${jv * p.TX}u` : ""}` : `tx * ${TN4}u + ${jv}u`;
  let load = "", zload = "", store = "", decay = "", fma = "";
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < TN4; j++) {
      zload += `  var c${i}_${j} = vec4<f32>(0.0);\n`;
      const comps = [0, 1, 2, 3].map((c) =>
        `select(0.0, sc[slot0 + ${rowOf(i)} * DHV + ${colOf(j, c)}], ${rowOf(i)} < DQK && ${
          colOf(j, c)
        } < DHV)`
      );
      if (v4) {
        const at = (slot: string) => `(${slot} + ${rowOf(i)} * DHV + ${colOf(j, 0)}) / 4u`;
        const ok = `${rowOf(i)} < DQK && ${colOf(j, 0)} < DHV`;
        load += `  var c${i}_${j} = select(vec4<f32>(0.0), sc[${at("slot0")}], ${ok});\n`;
        store += `    if (${ok}) { sc[${at("slot")}] = c${i}_${j}; }\n`;
      } else {
        load += `  var c${i}_${j} = vec4<f32>(${comps.join(", ")});\n`;
        for (let c = 0; c < 4; c++) {
          store += `    if (${rowOf(i)} < DQK && ${colOf(j, c)} < DHV) { sc[slot + ${
            rowOf(i)
          } * DHV + ${colOf(j, c)}] = c${i}_${j}.${XYZW[c]}; }\n`;
        }
      }
      decay += `    c${i}_${j} *= decay;\n`;
    }
  }
  for (let j = 0; j < p.BJ; j++) {
    fma += `      {\n        let kv = ks[${j * (BK / 4)}u + ty];\n`;
    for (let jv = 0; jv < TN4; jv++) {
      fma += `        let v${jv} = vs[${j * (BV / 4)}u + ${vCol(jv)}];\n`;
    }
    for (let i = 0; i < 4; i++) {
      for (let jv = 0; jv < TN4; jv++) fma += `        c${i}_${jv} += kv.${XYZW[i]} * v${jv};\n`;
    }
    fma += `      }\n`;
  }
  const stageK = stageRowMajor(
    "ks",
    p.BJ,
    BK,
    threads,
    (r, c) => ({
      value:
        `f32(kin[(rowBase + j0 + ${r}) * DQK + a0 + ${c}]) * exp(gates[2u * N + rowBase + j0 + ${r}] - mNew)`,
      ok: `j0 + ${r} < lc && a0 + ${c} < DQK`,
    }),
    "      ",
    v4
      ? (r, c) => ({
        value:
          `vec4<f32>(kin[((rowBase + j0 + ${r}) * DQK + a0 + ${c}) / 4u]) * exp(gates[2u * N + rowBase + j0 + ${r}] - mNew)`,
        ok: `j0 + ${r} < lc && a0 + ${c} < DQK`,
      })
      : undefined,
  );
  const stageV = stageRowMajor(
    "vs",
    p.BJ,
    BV,
    threads,
    (r, c) => ({
      value: `f32(vin[(rowBase + j0 + ${r}) * DHV + c0 + ${c}])`,
      ok: `j0 + ${r} < lc && c0 + ${c} < DHV`,
    }),
    "      ",
    v4
      ? (r, c) => ({
        value: `vec4<f32>(vin[((rowBase + j0 + ${r}) * DHV + c0 + ${c}) / 4u])`,
        ok: `j0 + ${r} < lc && c0 + ${c} < DHV`,
      })
      : undefined,
  );
  // Prefetched staging: raw keys and their log weights a (exp(a - mNew) applied at the store,
  // when the chunk's stabilizer is known), values; the position (nRow, nj, nlc) is the next
  // sub-block's. Rows past the chunk get a = -3e38 (weight 0, never inf · 0).
  const planK = stagePlan(
    "rows",
    p.BJ,
    BK,
    threads,
    (r, c) => ({
      value: `f32(kin[(nRow + nj + ${r}) * DQK + a0 + ${c}])`,
      ok: `nj + ${r} < nlc && a0 + ${c} < DQK`,
    }),
    v4
      ? (r, c) => ({
        value: `vec4<f32>(kin[((nRow + nj + ${r}) * DQK + a0 + ${c}) / 4u])`,
        ok: `nj + ${r} < nlc && a0 + ${c} < DQK`,
      })
      : undefined,
  );
  const planV = stagePlan(
    "rows",
    p.BJ,
    BV,
    threads,
    (r, c) => ({
      value: `f32(vin[(nRow + nj + ${r}) * DHV + c0 + ${c}])`,
      ok: `nj + ${r} < nlc && c0 + ${c} < DHV`,
    }),
    v4
      ? (r, c) => ({
        value: `vec4<f32>(vin[((nRow + nj + ${r}) * DHV + c0 + ${c}) / 4u])`,
        ok: `nj + ${r} < nlc && c0 + ${c} < DHV`,
      })
      : undefined,
  );
  const pfK = prefetchStage(
    "k",
    "ks",
    planK,
    "        ",
    (reg, _e, j) => `${reg} * exp(pf_a${j} - mNew)`,
  );
  const pfV = prefetchStage("v", "vs", planV, "        ");
  const pfA = {
    decl: planK.map((_, j) => `  var pf_a${j} = -3.0e38;\n`).join(""),
    load: emitPlan(
      planK,
      (e, j) =>
        `pf_a${j} = select(-3.0e38, gates[2u * N + nRow + nj + ${e.row}], nj + ${e.row} < nlc);`,
      "        ",
    ),
  };
  const prefetchLoad = (ind: string) => (pfK.load + pfA.load + pfV.load).replaceAll(/^ {8}/gm, ind);
  const pre = p.prefetch ?? false;
  const subLoop = pre
    ? `    for (var j0 = 0u; j0 < lc; j0 += ${p.BJ}u) {
${pfK.store.replaceAll(/^ {8}/gm, "      ")}${
      pfV.store.replaceAll(/^ {8}/gm, "      ")
    }      workgroupBarrier();
      // Prefetch the next sub-block (of this chunk, else of the next chunk).
      var nj = j0 + ${p.BJ}u;
      var kn = k;
      if (nj >= lc) {
        nj = 0u;
        kn = k + 1u;
      }
      if (kn < u.NC) {
        let nlc = min(u.L, S - kn * u.L);
        let nRow = bh * S + kn * u.L;
${prefetchLoad("        ")}      }
`
    : `    for (var j0 = 0u; j0 < lc; j0 += ${p.BJ}u) {
${stageK}${stageV}      workgroupBarrier();
`;
  const prologue = pre
    ? `${pfK.decl}${pfA.decl}${pfV.decl}  {
    let nj = 0u;
    let nlc = min(u.L, S);
    let nRow = bh * S;
${prefetchLoad("    ")}  }
`
    : "";
  return `${header(p.dtype)}
@group(0) @binding(0) var<storage, read> kin: array<${v4 ? "vec4<T>" : "T"}>;
@group(0) @binding(1) var<storage, read> vin: array<${v4 ? "vec4<T>" : "T"}>;
@group(0) @binding(2) var<storage, read> gates: array<f32>;
@group(0) @binding(3) var<storage, read_write> sc: array<${v4 ? "vec4<f32>" : "f32"}>;
@group(0) @binding(4) var<storage, read_write> snm: array<f32>;
@group(0) @binding(5) var<uniform> u: U;
var<workgroup> ks: array<vec4<f32>, ${(p.BJ * BK) / 4}>;
var<workgroup> vs: array<vec4<f32>, ${(p.BJ * BV) / 4}>;
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tx = lid % ${p.TX}u;
  let ty = lid / ${p.TX}u;
  let a0 = wg.x * ${BK}u;
  let c0 = wg.y * ${BV}u;
  let bhl = wg.z;
  let bh = u.bh0 + bhl;
  let DQK = u.DQK;
  let DHV = u.DHV;
  let S = u.S;
  let N = u.BH * S;
  let NC1 = u.NC + 1u;
  let CQ = DQK * DHV;
  let slot0 = bhl * NC1 * CQ;
  let nm0 = bhl * NC1 * (DQK + 1u);
  let ownsN = wg.y == 0u && lid < ${BK}u && a0 + lid < DQK;
  let ownsM = wg.x == 0u && wg.y == 0u && lid == 0u;
${
    p.zeroInit
      ? `${zload}  var nReg = 0.0;
  var m = 0.0;
  {
    let slot = slot0;
${store}  }
  if (ownsN) { snm[nm0 + a0 + lid] = 0.0; }
  if (ownsM) { snm[nm0 + DQK] = 0.0; }
`
      : `${load}  var nReg = select(0.0, snm[nm0 + a0 + lid], ownsN);
  var m = snm[nm0 + DQK];
`
  }${prologue}  for (var k = 0u; k < u.NC; k++) {
    let t0 = k * u.L;
    let lc = min(u.L, S - t0);
    let rowBase = bh * S + t0;
    let ci = ${GATE_STEP_SECTIONS}u * N + (bh * u.NC + k) * 2u;
    let g = gates[ci];
${
    exp
      ? `    let mNew = max(g + m, gates[ci + 1u]);
    let decay = exp(g + m - mNew);`
      : `    let mNew = 0.0;
    let decay = exp(g);`
  }
${decay}    nReg *= decay;
${subLoop}${fma}      if (ownsN) {
${
    [...Array(p.BJ).keys()].map((j) =>
      `        nReg += ks[${j * (BK / 4)}u + lid / 4u][lid % 4u];\n`
    )
      .join("")
  }      }
      workgroupBarrier();
    }
    m = mNew;
    let slot = slot0 + (k + 1u) * CQ;
${store}    let nmk = nm0 + (k + 1u) * (DQK + 1u);
    if (ownsN) { snm[nmk + a0 + lid] = nReg; }
    if (ownsM) { snm[nmk + DQK] = m; }
  }
}
`;
}

/** Tile parameters of the parallel (intra-chunk) kernel. */
export interface ParallelParams {
  gate: "exp" | "sig";
  /** Sigmoid gate: divide by max(|den|, 1) + eps. Always true for the exponential gate. */
  normalize: boolean;
  /** Storage type of q, k, v, h. */
  dtype: StorageDtype;
  /** Threads along DHV (and along keys of the gate block). */
  TX: number;
  /**
   * Threads along query rows; each holds 4 rows (8 with `rowsPerThread` 8). Query and key blocks
   * are 4·TY (8·TY) long.
   */
  TY: number;
  /** Output columns per thread (multiple of 4). */
  TN: number;
  /** DQK sub-block staged at a time (and key sub-block of the value product). */
  BD: number;
  /**
   * Key sub-block of the value product P·V (issue #14; the default tiles' since stop 14, speed
   * variant `tn16bd32`), when it differs from BD. Below BD, where V's sub-block and the BQ × BQ weight block P fit the workgroup array
   * that stages C and K (BD·BV words), P lives there behind V instead of in its own array, so that
   * DQK can be staged 32 deep at 4 × 16 per thread within 48 KiB. @default {BD}
   */
  valueDepth?: number;
  /**
   * Fuse the inter-chunk product into the DQK loop of the diagonal key block (Q staged once for
   * both; the key blocks are visited from the diagonal down). Needs K and C staged side by side.
   */
  fuse: boolean;
  /**
   * Software pipelining: the next DQK sub-block of Q, K (and C) and the next key sub-block of V
   * are loaded into registers while the current one is multiplied. @default {false}
   */
  prefetch?: boolean;
  /**
   * Software pipelining of the inter-chunk product q̃·C (not fused): the next DQK sub-block of
   * Q, C and n is loaded into registers while the current one is multiplied (issue #14, speed
   * variant `pfinter`; the backward's state products gained most from the same). @default {false}
   */
  prefetchInter?: boolean;
  /**
   * DHV is a multiple of 4: v, C and h are read and written as vec4 (one 16-byte access instead
   * of four scalar ones). @default {false}
   */
  vec4io?: boolean;
  /**
   * DQK is a multiple of 4: q and k are read as vec4 along DQK and transposed into workgroup
   * memory by 4 scalar stores. @default {false}
   */
  vec4qk?: boolean;
  /**
   * Trim the work above the diagonal of the diagonal key block. The value product skips groups
   * of 8 keys that lie above every row of the thread (with TX = 16 and 32-lane subgroups the two
   * rows of 4 of one subgroup share the decision, so whole subgroups skip); the score product
   * maps the gate block's 4 × 4 sub-blocks to threads so that a subgroup owns 4 × 8 of them
   * (TX a multiple of 8, 256 threads), and subgroups whose sub-blocks all lie above the
   * diagonal skip their products. Masked entries are zero either way, so the result does not
   * depend on the subgroup size. @default {PARALLEL_TRIM_DIAGONAL} (true)
   */
  trimDiagonal?: boolean;
  /**
   * Query rows per thread in the value products (the inter-chunk q̃·C and P·V) and the output:
   * 4 (one vec4 of q̃ or P per step, TN/4 vec4s of C or V: 1.5 B of workgroup memory per FMA at
   * TN 8) or 8 (two vec4s per step: 1 B per FMA at TN 8). With 8, the query and key blocks are
   * 8·TY long (BQ = 8·TY) and each thread also forms an 8 × (8·TY/TX) block of the scores (two
   * rows of 4 × 4 sub-blocks with the same f32 expressions; 8·TY/TX must be 4 or 8, TX ≥ 8).
   * Opt-in (issue #14; speed variants `rows8`, `rows8bd16`). @default {4}
   */
  rowsPerThread?: 4 | 8;
  /**
   * The thread's TN/4 output vec4s lie TX vec4s apart (column vec4 tx + j·TX of the tile) instead
   * of side by side (tx·TN/4 + j): consecutive threads read consecutive vec4s of the staged C and
   * V, where at TN 8 the 16-byte loads of 8 threads span 256 bytes (2-way bank conflicts), and
   * write consecutive vec4s of h. @default {PARALLEL_INTERLEAVE_COLUMNS} (true)
   */
  interleaveColumns?: boolean;
  /**
   * Issue #14 (`setBackwardScoresFromForward`, speed variant `fwx`): the kernel also writes each
   * chunk's raw score block X = q·kᵀ (unscaled, f32: the diagonal key block's registers g) into
   * a (B, NH, S, DQK) f32 buffer bound after h (binding 7, the uniforms at 8), where the
   * backward's fused stats kernel reads it instead of forming it: the block of chunk c of head
   * bh starts at float (bh·S + c·64)·DQK, X[i][j] (query row i, key j of the chunk) at i·64 + j
   * of it; rows past the chunk's end are not written. The workgroups of the first column tile
   * write it (sub-blocks skipped by `trimDiagonal` as the zeros they hold). Needs 64-step chunks
   * in one query block: rowsPerThread 4, TY 16 (the host passes it only then), and DQK ≥ 64.
   * @default {false}
   */
  scoresOut?: boolean;
}

/**
 * Default of {@linkcode ParallelParams.interleaveColumns} where `tiles.parallel.interleaveColumns`
 * is not given: on since the H100 run of stop 11 (bench/speed_ab.ts, variant `trimi` against
 * `trim`: the TFLA-shape forward at chunk 64 in 10.91 against 11.85 ms with f32 storage, 10.53
 * against 11.42 ms with f16, the same memory).
 */
export const PARALLEL_INTERLEAVE_COLUMNS = true;

/**
 * Default of {@linkcode ParallelParams.trimDiagonal} where `tiles.parallel.trimDiagonal` is not
 * given: on since the H100 run of 2026-12-06 (bench/speed_ab.ts, variant `trim`: the forward
 * 1.018–1.031× faster in every case, the same memory).
 */
export const PARALLEL_TRIM_DIAGONAL = true;

/** Tile sizes of the parallel kernel (see {@linkcode ParallelParams}). */
export type ParallelTiles = Pick<
  ParallelParams,
  | "TX"
  | "TY"
  | "TN"
  | "BD"
  | "valueDepth"
  | "fuse"
  | "prefetch"
  | "prefetchInter"
  | "trimDiagonal"
  | "rowsPerThread"
  | "interleaveColumns"
>;

/**
 * Default tiles of the parallel kernel: 64 query rows per workgroup of 256 threads, 64 × 64 gate
 * blocks (4 × 4 per thread), output tiles of 256 columns (4 × 16 per thread) for DHV ≥ 256 with DQK
 * staged 32 at a time and the value product 16 keys per step, P behind V in the staging array
 * (40.9 KiB), or DQK staged 16 at a time (37.7 KiB), where they fit the workgroup storage, else 128
 * columns (4 × 8 per thread; 64 columns, 4 × 4, for DHV ≤ 64), DQK staged 32 at a time where it
 * fits, else 16, the inter-chunk product in its own DQK loop (not fused into the diagonal block),
 * no register prefetch. Staging DQK 32 deep halves the barriers of the inter-chunk and score loops:
 * on an H100 (stop 14, chunk 64, B·S 65,536, bench/results/stop14_2026-12-06) the TFLA-shape
 * forward ran 7.87 against 8.42 ms (f32) and 7.60 against 8.06 (f16), the 7B head (4 × 32 per
 * thread, DQK 16 deep, the value product 8 keys per step: 36.8 KiB) 13.24 against 14.40 ms.
 * On an H100 (stop 11, TFLA shape, f32, with interleaveColumns) 4 × 16 ran the forward in
 * 9.56 ms at chunk 64 against 10.95 ms with 4 × 8 (the score block is formed once per chunk
 * instead of twice, 1.25 B of workgroup memory per FMA instead of 1.5); at DHV ≥ 512 (the xLSTM
 * 7B head) 4 × 32 per thread with DQK staged 8 deep (35.6 KiB): 14.57 against 15.32 ms for 4 × 16
 * and 17.49 for 4 × 8 (H100, f32, chunk 64, B·S 65,536). Measured on the H200
 * (TFLA shape, DHV 256, L 64, interleaved A/B, with vec4 loads): this tiling ran the kernel in
 * 7.9 ms; with prefetch 8.2; BD 16 9.5; 4 × 16 with BD 16 9.9; before vec4 loads, the former
 * default 4 × 16 fused with BD 16 took 12.7 ms and 4 × 4 14.0. Devices with less than 25 KiB
 * get 32 × 32 tiles of 64 threads.
 */
export function parallelTiles(DHV: number, workgroupStorage: number): ParallelTiles {
  const fits = (t: ParallelTiles) =>
    parallelStorageBytes({ gate: "exp", normalize: true, dtype: "f32", ...t }) <= workgroupStorage;
  // DHV ≥ 512: 4 × 32 per thread (512 columns per workgroup), DQK staged 16 deep and the value
  // product 8 keys per step (P behind V), else DQK 8 deep; DHV ≥ 256: 4 × 16 per thread (256
  // columns), DQK staged 32 deep and the value product 16 keys per step, else DQK 16 deep; where
  // they fit.
  if (DHV >= 512) {
    const deep = { TX: 16, TY: 16, TN: 32, BD: 16, valueDepth: 8, fuse: false, prefetch: false };
    if (fits(deep)) return deep;
    const t = { TX: 16, TY: 16, TN: 32, BD: 8, fuse: false, prefetch: false };
    if (fits(t)) return t;
  }
  if (DHV >= 256) {
    const deep = { TX: 16, TY: 16, TN: 16, BD: 32, valueDepth: 16, fuse: false, prefetch: false };
    if (fits(deep)) return deep;
    const t = { TX: 16, TY: 16, TN: 16, BD: 16, fuse: false, prefetch: false };
    if (fits(t)) return t;
  }
  const TN = DHV > 64 ? 8 : 4;
  for (const fuse of [false, true]) {
    for (const BD of [32, 16]) {
      const t = { TX: 16, TY: 16, TN, BD, fuse, prefetch: false };
      if (fits(t)) return t;
    }
  }
  // Small devices (WebGPU's default 16 KiB): 32 query rows, 64 threads.
  for (const fuse of [false, true]) {
    const t = { TX: 8, TY: 8, TN: 4, BD: 16, fuse, prefetch: false };
    if (fits(t)) return t;
  }
  return { TX: 8, TY: 8, TN: 4, BD: 8, fuse: false, prefetch: false };
}

/**
 * The default tiles with a caller's overrides. The default value-product depth goes with the
 * default BD: a caller's other BD without a valueDepth of its own gets valueDepth = BD (P in its
 * own array), so that `{ BD: 8 }` does not fail on a depth it never set.
 *
 * @example
 * ```ts
 * import { overrideParallelTiles, parallelTiles } from "./_wgsl.ts";
 * const t = overrideParallelTiles(parallelTiles(256, 49152), { BD: 8 });
 * console.log(t.BD, t.valueDepth); // 8 undefined
 * ```
 */
export function overrideParallelTiles(
  base: ParallelTiles,
  over: Partial<ParallelTiles>,
): ParallelTiles {
  const t = { ...base, ...over };
  if (over.BD !== undefined && over.BD !== base.BD && !("valueDepth" in over)) {
    delete t.valueDepth;
  }
  return t;
}

/**
 * Tiles of `chunkwise--limit_chunk`'s parallel kernel: one workgroup computes a whole chunk (64
 * query rows ≥ L, and all DHV columns: TN = DHV / 16 rounded up to a multiple of 4), staging DQK
 * as deep as workgroup storage allows. Undefined where no such tile fits the device (WebGPU's
 * 16 KiB default); the launcher then uses {@linkcode parallelTiles}.
 */
export function limitChunkTiles(DHV: number, workgroupStorage: number): ParallelTiles | undefined {
  const TN = Math.max(4, 4 * Math.ceil(DHV / 64));
  for (const BD of [32, 16, 8, 4]) {
    const t = { TX: 16, TY: 16, TN, BD, fuse: false, prefetch: false };
    const bytes = parallelStorageBytes({ gate: "exp", normalize: true, dtype: "f32", ...t });
    if (bytes <= workgroupStorage) return t;
  }
  return undefined;
}

/**
 * Checks tile sizes: the gate block must be square (TX = TY; with 8 rows per thread TX = TY or
 * 2·TY, TX ≥ 8), TN a multiple of 4, BD (and valueDepth, at most BD) dividing the key block (4·TY,
 * or 8·TY), and the state kernel needs TX ≥ 4.
 */
export function checkTiles(p: ParallelTiles, s: StateTiles): void {
  const bad = (what: string) => {
    throw new RangeError(`Option tiles: ${what}`);
  };
  const {
    fuse,
    prefetch,
    prefetchInter,
    trimDiagonal,
    rowsPerThread,
    interleaveColumns,
    ...numbers
  } = p;
  const { prefetch: sPrefetch, interleaveColumns: sInterleave, ...sNumbers } = s;
  if (typeof fuse !== "boolean") bad(`parallel fuse must be a boolean, received ${fuse}`);
  for (
    const [k, v] of Object.entries({
      prefetch,
      prefetchInter,
      trimDiagonal,
      interleaveColumns,
      "state prefetch": sPrefetch,
      "state interleaveColumns": sInterleave,
    })
  ) {
    if (v !== undefined && typeof v !== "boolean") bad(`${k} must be a boolean, received ${v}`);
  }
  for (const [k, v] of Object.entries({ ...numbers, ...sNumbers })) {
    if (k === "valueDepth" && v === undefined) continue;
    if (!Number.isInteger(v) || v < 1) bad(`${k} must be a positive integer, received ${v}`);
  }
  const rows = rowsPerThread ?? 4;
  if (rows !== 4 && rows !== 8) bad(`parallel rowsPerThread must be 4 or 8, received ${rows}`);
  if (rows === 4 && p.TX !== p.TY) {
    bad(`parallel TX must equal TY (square gate blocks), received ${p.TX}, ${p.TY}`);
  }
  if (rows === 8 && ((p.TX !== p.TY && p.TX !== 2 * p.TY) || p.TX < 8)) {
    bad(
      `parallel rowsPerThread 8 needs TX = TY or TX = 2·TY (score blocks of 8 × 8 or 8 × 4 per thread) and TX ≥ 8, received ${p.TX}, ${p.TY}`,
    );
  }
  if (p.TN % 4 || s.TN % 4) bad(`TN must be a multiple of 4, received ${p.TN}, ${s.TN}`);
  if ((rows * p.TY) % p.BD) {
    bad(`parallel BD must divide ${rows}·TY = ${rows * p.TY}, received ${p.BD}`);
  }
  const BJ = p.valueDepth;
  if (BJ !== undefined && ((rows * p.TY) % BJ || BJ > p.BD)) {
    bad(
      `parallel valueDepth must divide ${rows}·TY = ${
        rows * p.TY
      } and be at most BD ${p.BD}, received ${BJ}`,
    );
  }
  if (s.TX < 4) bad(`state TX must be at least 4, received ${s.TX}`);
}

/** Query rows (BQ = key block), output columns (BV) and threads of the parallel kernel. */
export function parallelTile(p: ParallelParams): { BQ: number; BV: number; threads: number } {
  return { BQ: (p.rowsPerThread ?? 4) * p.TY, BV: p.TX * p.TN, threads: p.TX * p.TY };
}

/** Workgroup storage in bytes of the parallel kernel. */
export function parallelStorageBytes(p: ParallelParams): number {
  const { BQ, BV } = parallelTile(p);
  const stage = p.fuse ? p.BD * BQ + p.BD * BV : Math.max(p.BD * BQ, p.BD * BV);
  return (p.BD * BQ + stage + (parallelAliasP(p) ? 0 : BQ * BQ) + 3 * BQ + p.BD) * 4;
}

/**
 * Whether the parallel kernel keeps its weight block P in the staging array behind V's sub-block
 * (see {@linkcode ParallelParams.valueDepth}).
 */
function parallelAliasP(p: ParallelParams): boolean {
  const { BQ, BV } = parallelTile(p);
  const BJ = p.valueDepth ?? p.BD;
  return !p.fuse && BJ < p.BD && BJ * BV + BQ * BQ <= Math.max(p.BD * BQ, p.BD * BV);
}

/**
 * The parallel kernel. Grid (ceil(DHV/BV), ceil(L/BQ), NC · heads of the group); bindings 0 q, 1 k,
 * 2 v, 3 gates, 4 C states, 5 nm states, 6 h, 7 uniforms (with `scoresOut`: 7 the score blocks, 8
 * uniforms). One workgroup computes a BQ × BV tile of h
 * of one chunk: the inter-chunk part (q̃ C_{k-1} and q̃·n_{k-1}, DQK staged BD at a time), then the
 * causal key blocks up to the diagonal (G = Q Kᵀ, gate weights exp(b_t - b_s + ĩ_s - m_t) with the
 * row's final stabilizer m_t known up front from the gate kernel's exact row maxima, P staged in
 * workgroup memory, H += P V), then the normalizer. The normalizer's sums are accumulated as vec4
 * by every thread of a row (no cross-thread reductions).
 */
export function parallelWgsl(p: ParallelParams): string {
  const { BQ, BV, threads } = parallelTile(p);
  const exp = p.gate === "exp";
  // Key sub-block of the value product, and where P lives (valueDepth).
  const BJ = p.valueDepth ?? p.BD;
  const aliasP = parallelAliasP(p);
  const TN4 = p.TN / 4;
  const v4 = p.vec4io ?? false;
  const qk4 = p.vec4qk ?? false;
  const qk4Elem = (src: string, row0: string, d: string): Elem4 | undefined =>
    qk4
      ? (r, c) => ({
        value: `vec4<f32>(${src}[((rowBase + ${row0} + ${r}) * DQK + ${d} + ${c}) / 4u])`,
        ok: `${row0} + ${r} < lc && ${d} + ${c} < DQK`,
      })
      : undefined;
  const c4Elem = (d: string): Elem4 | undefined =>
    v4
      ? (r, c) => ({
        value: `sc[(slotC + (${d} + ${r}) * DHV + c0 + ${c}) / 4u]`,
        ok: `${d} + ${r} < DQK && c0 + ${c} < DHV`,
      })
      : undefined;
  const v4Elem = (j: string): Elem4 | undefined =>
    v4
      ? (r, c) => ({
        value: `vec4<f32>(vin[((rowBase + kr0 + ${j} + ${r}) * DHV + c0 + ${c}) / 4u])`,
        ok: `kr0 + ${j} + ${r} < lc && c0 + ${c} < DHV`,
      })
      : undefined;
  const BKV = BQ;
  // Row groups of 4 per thread (R = rowsPerThread / 4): the value products and the output hold
  // rows ty·4R + 4a + i (a < R, i < 4) in the registers h{4a+i}_{j}; the row vectors of group a
  // (bq, mc, fi, den, nrm, inv) carry the suffix a where R = 2 (none where R = 1: the code of
  // rowsPerThread 4 is the former one).
  const R = (p.rowsPerThread ?? 4) / 4;
  if (R !== 1 && R !== 2) throw new RangeError("parallelWgsl needs rowsPerThread 4 or 8");
  const RPT = 4 * R;
  const G = [...Array(R).keys()];
  const sx = (a: number) => R === 1 ? "" : `${a}`;
  const rowGroup = (a: number, t = "ty") => R === 1 ? t : `${t} * 2u${a ? ` + ${a}u` : ""}`;
  const TNG = BKV / p.TX; // gate-block columns per thread
  if (R === 1 && TNG !== 4) {
    throw new RangeError("parallelWgsl needs 4·TY = 4·TX (square gate blocks)");
  }
  if (R === 2 && ((TNG !== 4 && TNG !== 8) || BKV > threads)) {
    throw new RangeError("parallelWgsl with 8 rows per thread needs TX = TY or 2·TY, TX ≥ 8");
  }
  // Key groups of 4 per thread in the score block (R = 2): gx + b·TX (b < NB; consecutive
  // threads read consecutive vec4s of K).
  const NB = TNG / 4;
  const gName = (a: number, b: number, i: number) => R === 1 ? `g${i}` : `g${a}_${b}_${i}`;
  const Q4 = BQ / 4, V4 = BV / 4;
  // Column vec4 j of the thread in the tile (see interleaveColumns).
  const il = p.interleaveColumns ?? false;
  const colV4 = (j: number) => il ? `tx${j ? ` + ${j * p.TX}u` : ""}` : `tx * ${TN4}u + ${j}u`;
  const kArr = p.fuse ? "ks" : "st";
  let zero = "", inter = "", intra = "", pv = "", fin = "";
  for (let i = 0; i < RPT; i++) {
    for (let j = 0; j < TN4; j++) zero += `  var h${i}_${j} = vec4<f32>(0.0);\n`;
  }
  for (let d = 0; d < p.BD; d++) {
    inter += `      {\n`;
    for (const a of G) inter += `        let a${sx(a)} = qs[${d * Q4}u + ${rowGroup(a)}];\n`;
    for (let j = 0; j < TN4; j++) {
      inter += `        let c${j} = st[${d * V4}u + ${colV4(j)}];\n`;
    }
    for (const a of G) {
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < TN4; j++) {
          inter += `        h${4 * a + i}_${j} += a${sx(a)}.${XYZW[i]} * c${j};\n`;
        }
      }
    }
    for (const a of G) inter += `        den${sx(a)} += a${sx(a)} * ns[${d}];\n`;
    inter += `      }\n`;
    if (R === 1) {
      intra += `        {\n          let a = qs[${d * Q4}u + ty];\n          let kv = ${kArr}[${
        d * (BKV / 4)
      }u + tx];\n`;
      for (let i = 0; i < 4; i++) intra += `          g${i} += a.${XYZW[i]} * kv;\n`;
      intra += `        }\n`;
      continue;
    }
    intra += `        {\n`;
    for (const a of G) intra += `          let a${a} = qs[${d * Q4}u + ${rowGroup(a, "gy")}];\n`;
    for (let b = 0; b < NB; b++) {
      intra += `          let kv${b} = ${kArr}[${d * (BKV / 4)}u + gx${
        b ? ` + ${b * p.TX}u` : ""
      }];\n`;
    }
    for (const a of G) {
      for (let b = 0; b < NB; b++) {
        for (let i = 0; i < 4; i++) {
          intra += `          ${gName(a, b, i)} += a${a}.${XYZW[i]} * kv${b};\n`;
        }
      }
    }
    intra += `        }\n`;
  }
  const trim = p.trimDiagonal ?? false;
  // The diagonal block's raw scores for the backward (scoresOut): g{i} holds row (grid y)·4 + i,
  // keys (grid x)·4 .. + 3 of the block, on the remapped grid where the diagonal is trimmed.
  const xOut = p.scoresOut ?? false;
  if (xOut && (R !== 1 || BQ !== 64)) {
    throw new RangeError("parallelWgsl: scoresOut needs 64-row query blocks of 4 rows per thread");
  }
  const [xsx, xsy] = trim ? ["gx", "gy"] : ["tx", "ty"];
  const xStore = xOut
    ? `    if (kb == qb && wg.x == 0u) {
      let xb4 = rowBase * (DQK / 4u);
${
      [0, 1, 2, 3].map((i) =>
        `      if (qr0 + ${xsy} * 4u + ${i}u < lc) { xout[xb4 + (qr0 + ${xsy} * 4u + ${i}u) * 16u + kr0 / 4u + ${xsx}] = g${i}; }
`
      ).join("")
    }    }
`
    : "";
  // Groups of 8 keys: skipped where they lie above all rows of the thread (diagonal block).
  const PG = Math.min(8, BJ);
  for (let j = 0; j < BJ; j++) {
    if (trim && j % PG === 0) {
      pv += `        if (kb < qb || j0 + ${j}u <= ty * ${RPT}u + ${RPT - 1}u) {\n`;
    }
    pv += `        {\n`;
    for (const a of G) {
      pv += `          let a${sx(a)} = ps[(j0 + ${j}u) * ${Q4}u + ${rowGroup(a)}];\n`;
    }
    for (let jv = 0; jv < TN4; jv++) {
      pv += `          let v${jv} = st[${j * V4}u + ${colV4(jv)}];\n`;
    }
    for (const a of G) {
      for (let i = 0; i < 4; i++) {
        for (let jv = 0; jv < TN4; jv++) {
          pv += `          h${4 * a + i}_${jv} += a${sx(a)}.${XYZW[i]} * v${jv};\n`;
        }
      }
    }
    for (const a of G) pv += `          den${sx(a)} += a${sx(a)};\n`;
    pv += `        }\n`;
    if (trim && (j % PG === PG - 1 || j === BJ - 1)) pv += `        }\n`;
  }
  const stageQ = stageTransposed(
    "qs",
    BQ,
    p.BD,
    threads,
    (r, c) => ({
      value: `f32(qin[(rowBase + qr0 + ${r}) * DQK + d0 + ${c}])`,
      ok: `qr0 + ${r} < lc && d0 + ${c} < DQK`,
    }),
    "      ",
    qk4Elem("qin", "qr0", "d0"),
  );
  const stageC = stageRowMajor(
    "st",
    p.BD,
    BV,
    threads,
    (r, c) => ({
      value: `sc[slotC + (d0 + ${r}) * DHV + c0 + ${c}]`,
      ok: `d0 + ${r} < DQK && c0 + ${c} < DHV`,
    }),
    "      ",
    c4Elem("d0"),
  );
  const stageK = stageTransposed(
    kArr,
    BKV,
    p.BD,
    threads,
    (r, c) => ({
      value: `f32(kin[(rowBase + kr0 + ${r}) * DQK + d0 + ${c}])`,
      ok: `kr0 + ${r} < lc && d0 + ${c} < DQK`,
    }),
    "        ",
    qk4Elem("kin", "kr0", "d0"),
  );
  const stageQi = stageQ.replaceAll("\n      ", "\n        ").replace(/^ {6}/, "        ");
  const stageV = stageRowMajor(
    "st",
    BJ,
    BV,
    threads,
    (r, c) => ({
      value: `f32(vin[(rowBase + kr0 + j0 + ${r}) * DHV + c0 + ${c}])`,
      ok: `kr0 + j0 + ${r} < lc && c0 + ${c} < DHV`,
    }),
    "        ",
    v4Elem("j0"),
  );
  // Gate weights of this thread's 4 × 4 block of the BQ × BKV gate block, stored transposed. The
  // log gates R (Σ_{s<r≤t} logsig(f_r)) are sums of same-sign terms, never differences of
  // cumulative sums (see gatesWgsl; the gate kernel's row maxima use the same expressions):
  // earlier key blocks (b̂_t + ŝ_s) + totals between; the diagonal block by sub-blocks of 4.
  let gate =
    `      let ki4 = vec4<f32>(kis[tx * 4u], kis[tx * 4u + 1u], kis[tx * 4u + 2u], kis[tx * 4u + 3u]);
      let key = vec4<u32>(kr0 + tx * 4u) + vec4<u32>(0u, 1u, 2u, 3u);
      var R0: vec4<f32>;
      var R1: vec4<f32>;
      var R2: vec4<f32>;
      var R3: vec4<f32>;
      if (kb < qb) {
        let ks4 = vec4<f32>(kss[tx * 4u], kss[tx * 4u + 1u], kss[tx * 4u + 2u], kss[tx * 4u + 3u]);
${
      [0, 1, 2, 3].map((i) => `        R${i} = (vec4<f32>(bq.${XYZW[i]}) + ks4) + vec4<f32>(dq);\n`)
        .join("")
    }      } else {
        let lq = vec4<f32>(kls[ty * 4u], kls[ty * 4u + 1u], kls[ty * 4u + 2u], kls[ty * 4u + 3u]);
        if (tx < ty) {
          let lk = vec4<f32>(kls[tx * 4u], kls[tx * 4u + 1u], kls[tx * 4u + 2u], kls[tx * 4u + 3u]);
          var mid = 0.0;
          for (var x = tx * 4u + 4u; x < ty * 4u; x++) {
            mid += kls[x];
          }
          let p01 = lq.x + lq.y;
          let p012 = p01 + lq.z;
          let p4 = vec4<f32>(lq.x, p01, p012, p012 + lq.w);
          let s23 = lk.z + lk.w;
          let s4 = vec4<f32>(lk.y + s23, s23, lk.w, 0.0);
${
      [0, 1, 2, 3].map((i) => `          R${i} = vec4<f32>(p4.${XYZW[i]} + mid) + s4;\n`).join("")
    }        } else {
          let q23 = lq.y + lq.z;
          R0 = vec4<f32>(0.0);
          R1 = vec4<f32>(lq.y, 0.0, 0.0, 0.0);
          R2 = vec4<f32>(q23, lq.z, 0.0, 0.0);
          R3 = vec4<f32>(q23 + lq.w, lq.z + lq.w, lq.w, 0.0);
        }
      }
`;
  for (let i = 0; i < 4; i++) {
    const w = exp ? `exp((R${i} + ki4) - mc.${XYZW[i]})` : `exp(R${i} + ki4)`;
    gate +=
      `      let p${i} = select(vec4<f32>(0.0), g${i} * (${w} * u.scale), (key <= vec4<u32>(qr0 + ty * 4u + ${i}u)) & (key < vec4<u32>(lc)));\n`;
  }
  for (let jj = 0; jj < 4; jj++) {
    gate += `      ps[(tx * 4u + ${jj}u) * ${Q4}u + ty] = vec4<f32>(p0.${XYZW[jj]}, p1.${
      XYZW[jj]
    }, p2.${XYZW[jj]}, p3.${XYZW[jj]});\n`;
  }
  const rows8Grid = R === 2 && trim && p.TX % 8 === 0 && p.TY % 4 === 0 && threads % 32 === 0;
  if (R === 2) {
    // The thread's R × NB sub-blocks of 4 × 4 (row group gy·2 + a, key group gx + b·TX), each by
    // the expressions of the 4-row kernel (tx, ty there are the sub-block's key and row groups).
    const [bqN, mcN] = rows8Grid ? ["bqG", "mcG"] : ["bq", "mc"];
    const one = gate;
    gate = "";
    for (const a of G) {
      for (let b = 0; b < NB; b++) {
        const t = one.replace(/\btx\b/g, b ? `(gx + ${b * p.TX}u)` : "gx")
          .replace(/\bty\b/g, `(${rowGroup(a, "gy")})`)
          .replace(/\bg([0-3])\b/g, (_, i) => gName(a, b, Number(i)))
          .replace(/\bbq\./g, `${bqN}${a}.`)
          .replace(/\bmc\./g, `${mcN}${a}.`);
        gate += `      {\n${t.replace(/^(?=.)/gm, "  ")}      }\n`;
      }
    }
  }
  const nrmOf = (s: string) =>
    exp
      ? `max(abs(den${s}), exp(-mc${s}))`
      : p.normalize
      ? `max(abs(den${s}), vec4<f32>(1.0))`
      : "vec4<f32>(1.0)";
  const invOf = (s: string) =>
    exp || p.normalize ? `1.0 / (nrm${s} + vec4<f32>(u.eps))` : "vec4<f32>(1.0)";
  for (let i = 0; i < RPT; i++) {
    const inv = `inv${sx(i >> 2)}`;
    for (let j = 0; j < TN4; j++) {
      if (v4) {
        const col = il ? `(c0 + (${colV4(j)}) * 4u)` : `(c0 + tx * ${p.TN}u + ${4 * j}u)`;
        fin +=
          `  if (r${i} < lc && ${col} < DHV) { hout[((rowBase + r${i}) * DHV + ${col}) / 4u] = vec4<T>(h${i}_${j} * ${inv}.${
            XYZW[i % 4]
          }); }\n`;
        continue;
      }
      for (let c = 0; c < 4; c++) {
        const col = il
          ? `(c0 + (${colV4(j)}) * 4u + ${c}u)`
          : `(c0 + tx * ${p.TN}u + ${4 * j + c}u)`;
        fin +=
          `  if (r${i} < lc && ${col} < DHV) { hout[(rowBase + r${i}) * DHV + ${col}] = T(h${i}_${j}.${
            XYZW[c]
          } * ${inv}.${XYZW[i % 4]}); }\n`;
      }
    }
  }
  // Trimmed diagonal: the score product and the gate weights run on the remapped thread grid
  // (gx, gy), the value product and the output on (tx, ty).
  const remap = trim && p.TX % 8 === 0 && p.TY % 4 === 0 && threads % 32 === 0;
  let gridG = "";
  if (R === 2) {
    if (trim) intra = `        if (kb < qb || gx <= gy * 2u + 1u) {\n${intra}        }\n`;
    gridG = rows8Grid
      ? `  let gy = (lid / 32u) % ${p.TY / 4}u * 4u + (lid % 32u) / 8u;
  let gx = (lid / 32u) / ${p.TY / 4}u * 8u + lid % 8u;
`
      : "  let gx = tx;\n  let gy = ty;\n";
  } else if (trim) {
    const g = (t: string) => t.replace(/\btx\b/g, "gx").replace(/\bty\b/g, "gy");
    intra = `        if (kb < qb || gx <= gy) {\n${intra}        }\n`;
    intra = g(intra);
    gate = g(gate);
    if (remap) gate = gate.replace(/\bbq\./g, "bqG.").replace(/\bmc\./g, "mcG.");
    gridG = remap
      ? `  let gy = (lid / 32u) % ${p.TY / 4}u * 4u + (lid % 32u) / 8u;
  let gx = (lid / 32u) / ${p.TY / 4}u * 8u + lid % 8u;
`
      : "  let gx = tx;\n  let gy = ty;\n";
  }
  // The row statistics of the gate grid's rows (gy) for the remapped score product.
  const rowG = (sec: string) =>
    `vec4<f32>(${
      [0, 1, 2, 3].map((i) =>
        `select(0.0, gates[${sec}rowBase + qr0 + gy * 4u + ${i}u], qr0 + gy * 4u + ${i}u < lc)`
      ).join(", ")
    })`;
  let rowStatsG = `  let bqG = ${rowG("")};
` + (exp
    ? `  let mcG = max(bqG + vec4<f32>(pq) + vec4<f32>(mPrev), ${rowG("3u * N + ")});
`
    : "");
  if (R === 2) {
    const rowG2 = (sec: string, a: number) =>
      `vec4<f32>(${
        [0, 1, 2, 3].map((i) => {
          const r = `qr0 + gy * 8u + ${4 * a + i}u`;
          return `select(0.0, gates[${sec}rowBase + ${r}], ${r} < lc)`;
        }).join(", ")
      })`;
    rowStatsG = G.map((a) =>
      `  let bqG${a} = ${rowG2("", a)};\n` +
      (exp
        ? `  let mcG${a} = max(bqG${a} + vec4<f32>(pq) + vec4<f32>(mPrev), ${
          rowG2("3u * N + ", a)
        });\n`
        : "")
    ).join("");
  }
  // Prefetched staging (software pipelining): the loads of the next sub-block go to registers
  // before the current one is multiplied. Loop A (DQK sub-blocks at nd): Q, K, and for the
  // diagonal block of the fused kernel C and n; loop B (key sub-blocks at nj): V.
  const pre = p.prefetch ?? false;
  // Q's and C's sub-blocks at DQK offset nd (loop A here, the inter-chunk loop with prefetchInter).
  const planQ = stagePlan("transposed", BQ, p.BD, threads, (r, c) => ({
    value: `f32(qin[(rowBase + qr0 + ${r}) * DQK + nd + ${c}])`,
    ok: `qr0 + ${r} < lc && nd + ${c} < DQK`,
  }), qk4Elem("qin", "qr0", "nd"));
  const planC = stagePlan("rows", p.BD, BV, threads, (r, c) => ({
    value: `sc[slotC + (nd + ${r}) * DHV + c0 + ${c}]`,
    ok: `nd + ${r} < DQK && c0 + ${c} < DHV`,
  }), c4Elem("nd"));
  const pfQ = prefetchStage("q", "qs", planQ, "        ");
  const pfK = prefetchStage(
    "k",
    kArr,
    stagePlan("transposed", BKV, p.BD, threads, (r, c) => ({
      value: `f32(kin[(rowBase + kr0 + ${r}) * DQK + nd + ${c}])`,
      ok: `kr0 + ${r} < lc && nd + ${c} < DQK`,
    }), qk4Elem("kin", "kr0", "nd")),
    "        ",
  );
  const pfC = prefetchStage("c", "st", planC, "          ");
  const pfV = prefetchStage(
    "v",
    "st",
    stagePlan("rows", BJ, BV, threads, (r, c) => ({
      value: `f32(vin[(rowBase + kr0 + nj + ${r}) * DHV + c0 + ${c}])`,
      ok: `kr0 + nj + ${r} < lc && c0 + ${c} < DHV`,
    }), v4Elem("nj")),
    "        ",
  );
  const pfLoadA = (ind: string) => {
    let t = (pfQ.load + pfK.load).replaceAll(/^ {8}/gm, ind);
    if (p.fuse) {
      t += `${ind}if (kk == 0u) {\n${
        pfC.load.replaceAll(/^ {10}/gm, ind + "  ")
      }${ind}  ${`pf_n = select(0.0, snm[slotNM + nd + lid], lid < ${p.BD}u && nd + lid < DQK);`}\n${ind}}\n`;
    }
    return t;
  };
  const loopA = `    {
      let nd = 0u;
${pfLoadA("      ")}    }
    for (var d0 = 0u; d0 < DQK; d0 += ${p.BD}u) {
${pfQ.store}${pfK.store}${
    p.fuse
      ? `        if (kk == 0u) {\n${pfC.store}          if (lid < ${p.BD}u) { ns[lid] = pf_n; }\n        }\n`
      : ""
  }        workgroupBarrier();
        let nd = d0 + ${p.BD}u;
        if (nd < DQK) {
${pfLoadA("          ")}        }
`;
  const pfLoadB = (ind: string) => pfV.load.replaceAll(/^ {8}/gm, ind);
  const loopBPrologue = `    {
      let nj = 0u;
${pfLoadB("      ")}    }
`;
  const loopB = `    for (var j0 = 0u; j0 < ${BKV}u; j0 += ${BJ}u) {
${pfV.store}        workgroupBarrier();
        let nj = j0 + ${BJ}u;
        if (nj < ${BKV}u) {
${pfLoadB("          ")}        }
`;
  const pfDecl = pre
    ? pfQ.decl + pfK.decl + (p.fuse ? pfC.decl + "  var pf_n = 0.0;\n" : "") + pfV.decl
    : "";
  const nsStage = (ind: string) =>
    `${ind}if (lid < ${p.BD}u) { ns[lid] = select(0.0, snm[slotNM + d0 + lid], d0 + lid < DQK); }\n`;
  // prefetchInter: the inter-chunk loop's next Q and C (and n) sub-blocks go to registers
  // before the current ones are multiplied (its own registers, so it combines with `prefetch`).
  const pfIQ = prefetchStage("iq", "qs", planQ, "      ");
  const pfIC = prefetchStage("ic", "st", planC, "      ");
  const pfInterLoad = (ind: string) =>
    (pfIQ.load + pfIC.load).replaceAll(/^ {6}/gm, ind) +
    `${ind}pf_in = select(0.0, snm[slotNM + nd + lid], lid < ${p.BD}u && nd + lid < DQK);\n`;
  const interLoop = p.prefetchInter
    ? `${pfIQ.decl}${pfIC.decl}  var pf_in = 0.0;
  {
    let nd = 0u;
${pfInterLoad("    ")}  }
  for (var d0 = 0u; d0 < DQK; d0 += ${p.BD}u) {
${pfIQ.store}${pfIC.store}      if (lid < ${p.BD}u) { ns[lid] = pf_in; }
      workgroupBarrier();
      {
        let nd = d0 + ${p.BD}u;
        if (nd < DQK) {
${pfInterLoad("          ")}        }
      }
${inter}      workgroupBarrier();
  }
`
    : `  for (var d0 = 0u; d0 < DQK; d0 += ${p.BD}u) {
${stageQ}${stageC}${nsStage("      ")}      workgroupBarrier();
${inter}      workgroupBarrier();
  }
`;
  const scaleInter =
    [...Array(RPT).keys()].map((i) =>
      [...Array(TN4).keys()].map((j) => `  h${i}_${j} *= fi${sx(i >> 2)}.${XYZW[i % 4]};\n`)
        .join("")
    ).join("") + G.map((a) => `  den${sx(a)} *= fi${sx(a)};\n`).join("");
  const fusedStage = `        if (kk == 0u) {
${stageC.replaceAll("\n      ", "\n          ").replace(/^ {6}/, "          ")}${
    nsStage("          ")
  }        }
`;
  let keep = "";
  for (let i = 0; i < RPT; i++) {
    const mcv = exp ? `mc${sx(i >> 2)}.${XYZW[i % 4]}` : "0.0";
    keep +=
      `    if (r${i} < lc) { gates[4u * N + rowBase + r${i}] = ${mcv}; gates[5u * N + rowBase + r${i}] = nrm${
        sx(i >> 2)
      }.${XYZW[i % 4]}; }\n`;
  }
  // Row vectors of the thread's row groups (rows r{4a}..r{4a+3}).
  const rowVec = (sec: string, a: number) =>
    `vec4<f32>(${
      [0, 1, 2, 3].map((i) =>
        `select(0.0, gates[${sec}rowBase + r${4 * a + i}], r${4 * a + i} < lc)`
      )
        .join(", ")
    })`;
  const rowDecl = [...Array(RPT).keys()].map((i) =>
    i ? `  let r${i} = r0 + ${i}u;\n` : `  let r0 = qr0 + ty * ${RPT}u;\n`
  ).join("");
  const bqDecl = G.map((a) => `  let bq${sx(a)} = ${rowVec("", a)};\n`).join("");
  const bAbsDecl = G.map((a) => `  let bAbs${sx(a)} = bq${sx(a)} + vec4<f32>(pq);\n`).join("");
  const miDecl = exp
    ? G.map((a) => `  let mi${sx(a)} = ${rowVec("3u * N + ", a)};\n`).join("") +
      "  let mPrev = snm[slotNM + DQK];\n" +
      G.map((a) => `  let mc${sx(a)} = max(bAbs${sx(a)} + vec4<f32>(mPrev), mi${sx(a)});\n`)
        .join("") +
      G.map((a) =>
        `  let fi${sx(a)} = exp(bAbs${sx(a)} + vec4<f32>(mPrev) - mc${sx(a)}) * u.scale;\n`
      ).join("")
    : G.map((a) => `  let fi${sx(a)} = exp(bAbs${sx(a)}) * u.scale;\n`).join("");
  const gDecl = G.flatMap((a) =>
    [...Array(NB).keys()].flatMap((b) =>
      [0, 1, 2, 3].map((i) => `    var ${gName(a, b, i)} = vec4<f32>(0.0);\n`)
    )
  ).join("");
  const nrmDecl = G.map((a) =>
    `  let nrm${sx(a)} = ${nrmOf(sx(a))};\n  let inv${sx(a)} = ${invOf(sx(a))};\n`
  ).join("");
  const wgsl = `${header(p.dtype)}
@group(0) @binding(0) var<storage, read> qin: array<${qk4 ? "vec4<T>" : "T"}>;
@group(0) @binding(1) var<storage, read> kin: array<${qk4 ? "vec4<T>" : "T"}>;
@group(0) @binding(2) var<storage, read> vin: array<${v4 ? "vec4<T>" : "T"}>;
@group(0) @binding(3) var<storage, read_write> gates: array<f32>;
@group(0) @binding(4) var<storage, read> sc: array<${v4 ? "vec4<f32>" : "f32"}>;
@group(0) @binding(5) var<storage, read> snm: array<f32>;
@group(0) @binding(6) var<storage, read_write> hout: array<${v4 ? "vec4<T>" : "T"}>;
${
    xOut
      ? "@group(0) @binding(7) var<storage, read_write> xout: array<vec4<f32>>;\n@group(0) @binding(8)"
      : "@group(0) @binding(7)"
  } var<uniform> u: U;
var<workgroup> qs: array<vec4<f32>, ${(p.BD * BQ) / 4}>;
${
    p.fuse
      ? `var<workgroup> ks: array<vec4<f32>, ${(p.BD * BKV) / 4}>;
var<workgroup> st: array<vec4<f32>, ${(p.BD * BV) / 4}>;`
      : `var<workgroup> st: array<vec4<f32>, ${Math.max(p.BD * BQ, p.BD * BV) / 4}>;`
  }
${
    aliasP
      ? ""
      : `var<workgroup> ps: array<vec4<f32>, ${(BKV * BQ) / 4}>;\n`
  }var<workgroup> kss: array<f32, ${BKV}>;
var<workgroup> kls: array<f32, ${BKV}>;
var<workgroup> kis: array<f32, ${BKV}>;
var<workgroup> ns: array<f32, ${p.BD}>;
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tx = lid % ${p.TX}u;
  let ty = lid / ${p.TX}u;
${gridG}  let c0 = wg.x * ${BV}u;
  let qb = wg.y;
  let k = wg.z % u.NC;
  let bhl = wg.z / u.NC;
  let bh = u.bh0 + bhl;
  let DQK = u.DQK;
  let DHV = u.DHV;
  let S = u.S;
  let N = u.BH * S;
  let t0 = k * u.L;
  let lc = min(u.L, S - t0);
  let qr0 = qb * ${BQ}u;
  if (qr0 >= lc) { return; }
  let rowBase = bh * S + t0;
  let NC1 = u.NC + 1u;
  let slotC = (bhl * NC1 + k) * DQK * DHV;
  let slotNM = (bhl * NC1 + k) * (DQK + 1u);
${rowDecl}${bqDecl}  // Block totals of b̂ of this chunk; b from the chunk start = (totals of the blocks before) + b̂.
  let tb = ${GATE_STEP_SECTIONS}u * N + 2u * u.BH * u.NC + (bh * u.NC + k) * ((u.L + ${
    BQ - 1
  }u) / ${BQ}u);
  var pq = 0.0;
  for (var x = 0u; x < qb; x++) {
    pq += gates[tb + x];
  }
${bAbsDecl}${miDecl}${remap || rows8Grid ? rowStatsG : ""}${zero}${
    G.map((a) => `  var den${sx(a)} = vec4<f32>(0.0);\n`).join("")
  }${pfDecl}${p.fuse ? "" : interLoop}${
    p.fuse ? "" : scaleInter
  }  for (var kk = 0u; kk <= qb; kk++) {
    let kb = ${p.fuse ? "qb - kk" : "kk"};
    let kr0 = kb * ${BKV}u;
    var dq = 0.0;
    for (var x = kb + 1u; x < qb; x++) {
      dq += gates[tb + x];
    }
    if (lid < ${BKV}u) {
      kss[lid] = select(0.0, gates[6u * N + rowBase + kr0 + lid], kr0 + lid < lc);
      kls[lid] = select(0.0, gates[7u * N + rowBase + kr0 + lid], kr0 + lid < lc);
      kis[lid] = select(0.0, gates[N + rowBase + kr0 + lid], kr0 + lid < lc);
    }
${gDecl}${
    pre ? loopA : `    for (var d0 = 0u; d0 < DQK; d0 += ${p.BD}u) {
${stageQi}${stageK}${p.fuse ? fusedStage : ""}        workgroupBarrier();
`
  }${intra}${
    p.fuse
      ? `        if (kk == 0u) {\n${
        inter.replaceAll("\n", "\n  ").replace(/^/, "  ").trimEnd()
      }\n        }\n`
      : ""
  }        workgroupBarrier();
    }
${
    p.fuse
      ? `    if (kk == 0u) {\n${
        scaleInter.replaceAll("\n  ", "\n      ").replace(/^ {2}/, "      ")
      }    }\n`
      : ""
  }${xStore}${pre ? loopBPrologue : ""}${
    gate.replaceAll("\n      ", "\n    ").replace(/^ {6}/, "    ")
  }${
    pre ? loopB : `    for (var j0 = 0u; j0 < ${BKV}u; j0 += ${BJ}u) {
${stageV}        workgroupBarrier();
`
  }${pv}        workgroupBarrier();
    }
  }
${nrmDecl}${fin}  if (u.keep != 0u && wg.x == 0u && tx == 0u) {\n${keep}  }\n}
`;
  // P behind V's sub-block in the staging array (valueDepth below BD).
  return aliasP ? wgsl.replace(/\bps\[/g, `st[${(BJ * BV) / 4}u + `) : wgsl;
}
