// WGSL templates of the backward passes (parallel and chunkwise share them). One generator per
// family, every variant a parameter: storage dtype, head dimensions, gate, normalization, gradient
// convention, whether a chunk-boundary state term is present. Register tiles are named variables
// (`qv0`, `acc3`, ...) in unrolled code: no loops over private arrays. Not exported from mod.ts.
//
// Vocabulary (per head; rows t, s of one segment = one chunk, or the whole sequence for the
// parallel form):
//   gi[t] = (b_t, ĩ_t, mI_t, lo_t): b + lo the segment-local cumulative log forget gate (through
//           t) as an unevaluated sum (b_t - b_s is taken as (b_t - b_s) + (lo_t - lo_s)),
//           ĩ the log input gate (i, or logsig(i) for the sigmoid gate), mI_t = max_{s≤t}(b_t-b_s+ĩ_s).
//   rs[t] = (mComb_t, inv_t, dden_t, β_t): the row's stabilizer, 1/(nrm_t+eps), the gradient
//           reaching the denominator (0 for "normalizer-constant"), and the weight of the state term.
//   D[t,s] = exp(b_t - b_s + ĩ_s - mComb_t), S̃ = scale q·k D, Y = dh_t·v_s.
//   dmt[t] (exact convention, exponential gate; issue #10): the gradient reaching the stabilizer
//           m_t = mComb_t directly, -eps·inv_t·(dh_t·h_t) (unstabilized, h_t = num_t /
//           (max(|den_t|, 1) + eps·exp(m_t))); the gates kernel routes it back through
//           m_t = max(logsig(f_t) + m_{t-1}, ĩ_t).

import { enableF16, WGSL_GATES, WGSL_OPAQUE } from "../_common.ts";

/** Storage dtype of a device tensor. */
export type Dtype = "f32" | "f16";

/** Parameters shared by every backward kernel variant. */
export interface BwParams {
  /** Storage dtype of q, k, v, dh (dq, dk, dv are f32 always). */
  dtype: Dtype;
  /** Storage dtype of i, f (di, df are f32 always). */
  gateDtype: Dtype;
  DQK: number;
  DHV: number;
  gate: "exp" | "sig";
  /** Divide by the normalizer (always for the exponential gate). */
  normalize: boolean;
  /** "exact" differentiates the normalizer; false holds it constant. */
  exact: boolean;
  /** Chunkwise: rows also see the state before their chunk (and keys the state gradient after). */
  inter: boolean;
  /**
   * Packed sequences: `prep` and `gates` read the (B, S) u32 document-start flags (the uniform
   * word p1 holds NH); see {@linkcode prepWgsl} and {@linkcode gatesWgsl}. @default {false}
   */
  resets?: boolean;
}

/**
 * Whether the pass differentiates the stabilizer m (SPEC §3): the exact convention with the
 * exponential gate. Then `stats` also writes dmt and `gates` routes it through the max recurrence.
 */
export function mPath(p: BwParams): boolean {
  return p.exact && p.gate === "exp";
}

/** The stats kernels' store of dmt[row] = ∂L/∂m_t = -eps·inv·(dh·h), with h·dh = inv·hsum. */
export const dmtStore = (row: string): string => `dmt[${row}] = -u.eps * inv * (inv * hsum);`;

/**
 * Where the register-blocked chunkwise kernels find the chunk-boundary states of head `lb` of the
 * group (WGSL expressions), recomputed by the backward or kept by the forward (`savedStates`):
 * - recomputed: binding `st` holds `cprev`, NC packed [C | n] slots of E = DQK·DHV + DQK floats
 *   per head (slot lb·NC + k: the state before chunk k), and `mp` the NC + 1 stabilizers per head
 *   (index lb·(NC + 1) + k);
 * - saved (the forward's `statesC` and `statesNM` bound in their place): `st` holds NC + 1 slots of
 *   DQK·DHV floats per head (C, slot lb·(NC + 1) + k), `mp` NC + 1 slots of DQK + 1 floats (n,
 *   then m).
 * The shared score blocks (stats → dkdv) go into the C part of chunk k's slot either way.
 */
export interface ChunkStateAddressing {
  /** Whether the states are the forward's. */
  saved: boolean;
  /** vec4 offset in `st` of the state before chunk `k` (its C part). */
  cSlot4(k: string): string;
  /** The stabilizer m at chunk boundary `k` (before chunk k; NC + 1 boundaries). */
  m(k: string): string;
}

/**
 * The {@linkcode ChunkStateAddressing} of a head shape. The recomputed layout's expressions are
 * those the kernels used before saved states existed (their WGSL is unchanged).
 */
export function chunkStateAddressing(
  DQK: number,
  DHV: number,
  saved: boolean,
): ChunkStateAddressing {
  const E4 = (DQK * DHV + DQK) / 4;
  return saved
    ? {
      saved,
      cSlot4: (k) => `(lb * (u.NC + 1u) + ${k}) * ${(DQK * DHV) / 4}u`,
      m: (k) => `mp[(lb * (u.NC + 1u) + ${k}) * ${DQK + 1}u + ${DQK}u]`,
    }
    : {
      saved,
      cSlot4: (k) => `(lb * u.NC + ${k}) * ${E4}u`,
      m: (k) => `mp[lb * (u.NC + 1u) + ${k}]`,
    };
}

/** Tile geometry of the row/column kernels. */
export interface TileGeometry {
  /** Threads per row, each owning the vec4 columns g, g+G, g+2G, ... */
  G: number;
  /** Rows per workgroup (one row per G threads). */
  BT: number;
  /** Other-side rows per inner tile. */
  BS: number;
  /** vec4 registers per thread over DQK. */
  SQ: number;
  /** vec4 registers per thread over DHV. */
  SV: number;
  /** Rows per thread (register blocking: each vector loaded from the other side serves RT rows). */
  RT: number;
  /**
   * Chunkwise state terms: read the (C | n) state as vec4s (one 16-byte load per 4 columns instead
   * of four scalar ones) where DQK and DHV are multiples of 4. The state-term loops read C rows
   * 4·G floats apart across a warp's threads (uncoalesced), so at DHV 512 their scalar loads
   * dominate the backward on NVIDIA; see {@linkcode stateVec4Default}. @default {false}
   */
  stVec4?: boolean;
  /**
   * With {@linkcode TileGeometry.stVec4}: the row-side state products (Σ_col C[a, col]·x[col]) stage
   * two vec4 columns of C for all DQK rows in workgroup memory, transposed (coalesced global reads
   * once per workgroup instead of once per warp; each thread then reads its 4 rows as one vec4,
   * conflict-free). Adds {@linkcode stagedStateBytes} of workgroup storage. @default {false}
   */
  stStaged?: boolean;
  /**
   * Rolled loops (large heads; see {@linkcode tileUnrollDefault}): the loops over a tile's BS
   * other rows (phases A and C) run `rows` rows per iteration and the sums over a row's G partial
   * dot products `sums` terms per iteration, each as a loop whose trip count the compiler cannot
   * see (so that it does not unroll it fully; the generator unrolls the body that many steps).
   * Undefined: constant trip counts, which drivers unroll fully (the code before issue #11's
   * compile-time fix; at DHV 512 lavapipe then spends 2-3 s compiling each of stats, dq, dkdv).
   */
  unroll?: TileUnroll;
}

/** Steps per iteration of the row-sliced kernels' rolled loops ({@linkcode TileGeometry.unroll}). */
export interface TileUnroll {
  /** Other rows per iteration of phases A and C (of BS). */
  rows: number;
  /** Partial sums per iteration of the reductions over G. */
  sums: number;
}

/** Workgroup storage of the staged state columns: 8 columns × SQ·G vec4s of rows. */
export function stagedStateBytes(t: TileGeometry): number {
  return 16 * 8 * t.SQ * t.G;
}

/**
 * How the row-sliced kernels read the state by default: for DHV above 256 (the xLSTM 7B head, DHV
 * 512), where the blocked kernels do not run, as vec4s with the row-side state columns staged in
 * workgroup memory (measured on an H100 at B 2, NH 8, S 4096, DQK 256, DHV 512, chunk 64:
 * forward+backward 65.9 ms with scalar loads, 27.7 with vec4 loads, 21.0 staged; bench/bw7b_ab.ts).
 * Smaller heads keep the scalar loads (and their WGSL) unchanged.
 */
export function stateVec4Default(DQK: number, DHV: number): "staged" | false {
  return DHV > 256 && DQK % 4 === 0 && DHV % 4 === 0 ? "staged" : false;
}

/**
 * Issue #11: whether the row-sliced kernels roll their inner loops ({@linkcode TileGeometry.unroll})
 * by default: for head dimensions above 256 (the xLSTM 7B head, DQK 256, DHV 512, where the
 * register-blocked kernels do not run), 2 other rows and 4 partial sums per iteration. There, with
 * constant trip counts, lavapipe unrolls the loops fully and compiled the chunkwise backward in
 * 8 s (stats 2.1, dq 2.2, dkdv 3.3); rolled, about 0.5, 0.6 and 0.9 s. Smaller heads keep the
 * constant trip counts (and their WGSL) unchanged.
 */
export function tileUnrollDefault(DQK: number, DHV: number): TileUnroll | undefined {
  return Math.max(DQK, DHV) > 256 ? { rows: 2, sums: 4 } : undefined;
}

const d4 = (d: number) => Math.ceil(d / 4);

/**
 * Picks the tile geometry: 2 rows per thread, ≤ 4 vec4 registers per operand slice (so a thread
 * holds at most 2·(4 + 4) operand and 2·(4 + 4) accumulator vec4s), ≤ 256 threads, 32 rows per
 * workgroup (fewer for head dimensions above 256), and the largest inner tile (16, 8 or 4 rows)
 * whose workgroup storage fits the device.
 */
export function tileGeometry(DQK: number, DHV: number, maxWorkgroupBytes: number): TileGeometry {
  const RT = 2;
  const G = Math.max(1, Math.ceil(Math.max(d4(DQK), d4(DHV)) / 4));
  const NR = Math.max(1, Math.min(16, Math.floor(256 / G)));
  const t = { G, BT: NR * RT, BS: 16, SQ: Math.ceil(d4(DQK) / G), SV: Math.ceil(d4(DHV) / G), RT };
  while (t.BS > 4 && tileSharedBytes(t) > maxWorkgroupBytes) t.BS /= 2;
  return t;
}

/** Workgroup storage of the row/column kernels, bytes. */
export function tileSharedBytes(t: TileGeometry): number {
  return 4 * (2 * t.BT * t.BS * t.G + 2 * t.BT * t.BS);
}

export const UNIFORMS = `
struct U { S: u32, L: u32, NC: u32, BH: u32, scale: f32, eps: f32, H0: u32, p1: u32 }
fn bdiff(a: vec4f, b: vec4f) -> f32 { return (a.x - b.x) + (a.w - b.w); }
`;

/**
 * Packs the uniforms of every backward kernel (32 bytes). H0 is the first head of the dispatch's head
 * group: rows are indexed by the global head H0 + z, the per-chunk state buffers by the local z.
 * NH (word p1) maps a head to its batch row in the document-start flags.
 */
export function packUniforms(
  S: number,
  L: number,
  NC: number,
  BH: number,
  scale: number,
  eps: number,
  H0 = 0,
  NH = 1,
): ArrayBuffer {
  const u = new ArrayBuffer(32);
  const dv = new DataView(u);
  dv.setUint32(0, S, true);
  dv.setUint32(4, L, true);
  dv.setUint32(8, NC, true);
  dv.setUint32(12, BH, true);
  dv.setFloat32(16, scale, true);
  dv.setFloat32(20, eps, true);
  dv.setUint32(24, H0, true);
  dv.setUint32(28, NH, true);
  return u;
}

/**
 * The first lines of the register-blocked chunkwise kernels' `main` (256 or 128 threads as
 * 16-wide rows, grid (tiles, NC, heads of the group)): the chunk `seg`, the group's head `lb`
 * and its global index `bh`, the thread's row `ty` and column `tx`, and the chunk's rows
 * [segStart, segEnd).
 */
export const CHUNK_TILE_PROLOGUE = `  let seg = wid.y;
  let lb = wid.z;
  let bh = u.H0 + lb;
  let ty = lid / 16u;
  let tx = lid % 16u;
  let segStart = seg * u.L;
  let segEnd = min(u.S, segStart + u.L);`;

/** Declaration plus vec4 load/store helpers for a (rows × D) matrix binding. */
export function matrix(
  name: string,
  binding: number,
  D: number,
  dtype: Dtype,
  access: "read" | "read_write",
  guard: boolean,
): string {
  const T = dtype === "f16" ? "f16" : "f32";
  const D4 = d4(D);
  const g = guard ? `if (c4 >= ${D4}u) { return vec4f(0.0); }\n  ` : "";
  const gs = guard ? `if (c4 >= ${D4}u) { return; }\n  ` : "";
  if (D % 4 === 0) {
    let s = `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<vec4<${T}>>;
fn ld_${name}(row: u32, c4: u32) -> vec4f {
  ${g}return vec4f(${name}[row * ${D4}u + c4]);
}
`;
    if (access === "read_write") {
      s += `fn st_${name}(row: u32, c4: u32, x: vec4f) {
  ${gs}${name}[row * ${D4}u + c4] = vec4<${T}>(x);
}
`;
    }
    return s;
  }
  const comps = ["x", "y", "z", "w"];
  let s = `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${T}>;
fn ld_${name}(row: u32, c4: u32) -> vec4f {
  ${g}let o = row * ${D}u + c4 * 4u;
  var r = vec4f(0.0);
${
    comps.map((c, j) => `  if (c4 * 4u + ${j}u < ${D}u) { r.${c} = f32(${name}[o + ${j}u]); }`)
      .join("\n")
  }
  return r;
}
`;
  if (access === "read_write") {
    s += `fn st_${name}(row: u32, c4: u32, x: vec4f) {
  ${gs}let o = row * ${D}u + c4 * 4u;
${
      comps.map((c, j) => `  if (c4 * 4u + ${j}u < ${D}u) { ${name}[o + ${j}u] = ${T}(x.${c}); }`)
        .join("\n")
    }
}
`;
  }
  return s;
}

/** `x0 + x1 + ...` of named registers, or `init` when there are none. */
const sum = (terms: string[], init = "0.0") => (terms.length ? terms.join(" + ") : init);
const range = (n: number) => Array.from({ length: n }, (_, j) => j);

/**
 * `for (var v = 0u; v < n; v++) { body }` rolled: the trip count is opaque to the compiler, so
 * that it keeps the loop, and each iteration runs `d` steps unrolled by the generator (steps past
 * n skipped). `body` is indented for a loop at `ind`. The opaque count is
 * select(n, 0, wid.z == 0xFFFFFFFF) (a dispatch has fewer than 2^32 workgroups per dimension, so
 * it is always n), not one derived from the uniforms: with select(n, 0, u.S == 0xFFFFFFFF) or
 * min(n, u.S + n) every dispatch on lavapipe (Mesa 22, LLVM 15) took ~2 s at DHV 512, as if it
 * inlined the uniforms that bound a loop into a shader variant (unrolling the loop after all) at
 * each dispatch. It did (Mesa's "inline uniforms"); on lavapipe every kernel's uniforms are now
 * read through this select (`opaqueUniforms` in kernels/_opaque.ts, applied by getPipeline).
 */
function rolled(v: string, n: number, d: number, ind: string, body: string): string {
  const dd = Math.max(1, Math.min(d, n));
  const tail = n % dd !== 0;
  const lines = body.split("\n").map((l) => `${tail ? "    " : "  "}${l}`).join("\n");
  const steps = range(dd).map((k) =>
    `${ind}  {
${ind}    let ${v} = ${v}0 + ${k}u;
${tail ? `${ind}    if (${v} < ${n}u) {\n${lines}\n${ind}    }` : lines}
${ind}  }`
  );
  return `${ind}for (var ${v}0 = 0u; ${v}0 < select(${n}u, 0u, wid.z == 0xFFFFFFFFu); ${v}0 += ${dd}u) {
${steps.join("\n")}
${ind}}`;
}

/**
 * The per-segment gate scan: one thread per (head, segment) walks the segment's rows and writes
 * gi[t] = (b_t, ĩ_t, mI_t, lo_t). Bindings: i, f (gate dtype), gi (f32 vec4), [resets: the (B, S)
 * u32 document-start flags], uniforms.
 *
 * Packed sequences ({@linkcode BwParams.resets}): at a document start nothing crosses. The
 * document's own cumulative log forget gate restarts from zero (a TwoSum pair, as without starts)
 * and is stored on a new base, {@linkcode SEPARATION} = 2^16 below every earlier row's b of the
 * segment: (b, lo) = TwoSum(base + sum), the remainder (≤ ulp(b)/2) folded into lo. Two rows of
 * one document share the base, so (b_t − b_s) + (lo_t − lo_s) is their own sum (b_t − b_s exact,
 * the remainders good to ulp(ulp(b)): |b|·2^-47); a pair across a start gets ≤ −2^16, a zero
 * weight, and so do the state terms (b_t from the segment start, the chunk's total log gate g) of
 * every row after a start. A floored forget gate (logsig(f) = −1e30: f = −∞ or about −1e30) inside
 * a document restarts the pair the same way (nothing crosses it either; summed into b, −1e30 would
 * swallow the base and the document's own sums). mI restarts at a start.
 * The chunkwise exponential-gate pass also folds the zero state's stabilizer term into mI (the
 * zero state of a document start carries m = 0, so its log gate is logsig(f) summed from the start
 * step on, as in a separate call; the forward's gate kernel does the same): mI_t = max(mI_t, z_t),
 * which stats (the row stabilizer), the outer product and the forward scan (the chunk-end
 * stabilizer) then use unchanged. The first document of a segment keeps the TwoSum pair.
 */
export function prepWgsl(p: BwParams): string {
  const T = p.gateDtype === "f16" ? "f16" : "f32";
  const it = p.gate === "exp" ? "x" : "logsig(x)";
  const rs = p.resets ?? false;
  // The zero state's stabilizer term: chunkwise (a state term) with the exponential gate only.
  const zt = rs && p.inter && p.gate === "exp";
  const body = rs
    ? `  var base = 0.0;
  var xlast = 0.0;
  var zon = false;
  var z = 0.0;
  let rb = (bh / u.p1) * u.S + seg * u.L;
  for (var j = 0u; j < n; j++) {
    let lf = logsig(f32(fg[t0 + j]));
    let ii = itilde(f32(ig[t0 + j]));
    let start = rst[rb + j] != 0u;
    if (start || lf <= -1.0e30) {
      // A document starts (or a floored forget gate, which nothing crosses either): a new base
      // ${SEPARATION} below every earlier row (x never increases along a segment), the sum from zero.
      base = opaque(xlast - ${SEPARATION}.0);
      b = 0.0;
      lo = 0.0;
    } else {
      let sum_ = opaque(b + lf);
      let bp = opaque(sum_ - b);
      lo += (b - opaque(sum_ - bp)) + (lf - bp);
      b = sum_;
    }
    if (start) {
      // The zero state's log gate: logsig(f) from the start step on.
      z = lf;
      zon = true;
    } else {
      z = z + lf;
    }
    mI = select(max(mI + lf, ii), ii, j == 0u || start);
    let mz = ${zt ? "select(mI, max(mI, z), zon)" : "mI"};
    // x = base + b by TwoSum, the remainder (|r| ≤ ulp(x)/2) and lo in w; before the segment's
    // first start (base 0) exactly the pair without starts.
    let xs = opaque(base + b);
    let bq = opaque(xs - base);
    let r = (base - opaque(xs - bq)) + (b - bq);
    gi[t0 + j] = vec4f(xs, ii, mz, opaque(r + lo));
    xlast = min(xlast, xs);
  }`
    : `  for (var j = 0u; j < n; j++) {
    let lf = logsig(f32(fg[t0 + j]));
    let ii = itilde(f32(ig[t0 + j]));
    // TwoSum: b + lo carries the cumulative sum to about twice f32's precision, so that
    // b_t - b_s stays accurate to f32 relative to itself on long segments (the stable forget gate).
    let sum_ = opaque(b + lf);
    let bp = opaque(sum_ - b);
    lo += (b - opaque(sum_ - bp)) + (lf - bp);
    b = sum_;
    mI = select(max(mI + lf, ii), ii, j == 0u);
    gi[t0 + j] = vec4f(b, ii, mI, lo);
  }`;
  return `${enableF16(p.gateDtype)}${WGSL_GATES}${UNIFORMS}
@group(0) @binding(0) var<storage, read> ig: array<${T}>;
@group(0) @binding(1) var<storage, read> fg: array<${T}>;
@group(0) @binding(2) var<storage, read_write> gi: array<vec4f>;
${rs ? "@group(0) @binding(3) var<storage, read> rst: array<u32>;\n" : ""}@group(0) @binding(${
    rs ? 4 : 3
  }) var<uniform> u: U;
${WGSL_OPAQUE}
fn itilde(x: f32) -> f32 { return ${it}; }
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let job = gid.x;
  if (job >= u.BH * u.NC) { return; }
  let bh = job / u.NC;
  let seg = job % u.NC;
  let t0 = bh * u.S + seg * u.L;
  let n = min(u.L, u.S - seg * u.L);
  var b = 0.0;
  var lo = 0.0;
  var mI = 0.0;
${body}
}
`;
}

/**
 * How far below every earlier row of its segment a document's base is put (packed sequences): a
 * pair across a start gets a log weight ≤ −2^16 + ĩ_s − m_t, zero in f32 while input gates differ
 * by less than ~6.5e4, and the base costs b_t − b_s about |base|·2^-47 ≈ (documents so far in the
 * segment)·2^-31 absolute.
 */
export const SEPARATION = 2 ** 16;

/** What a row/column kernel computes. */
export type TileMode = "stats" | "dq" | "dkdv";

/**
 * The row/column kernel family (one template, three modes). A workgroup owns BT rows of one
 * segment of one head (queries for "stats" and "dq", keys for "dkdv"); G threads share a row, each
 * holding its vec4 slices of the row's operands in registers. For each tile of BS rows on the other
 * side: (A) partial dot products q·k and dh·v over the thread's slices into workgroup memory,
 * (B) reduction and the pointwise weights, (C) the weighted accumulation of the output slices.
 *
 * Bindings (in order): q, k, v, dh, gi, [rs], [state, mp], outputs, uniforms.
 * - stats: outputs rs, and dmt with {@linkcode mPath}.
 * - dq: outputs dq, rsum: Σ_{s<t} dlogD[t,s] + the state term's share of Σ q⊙dq (the row sum
 *   without the diagonal, so that df does not subtract two O(1) diagonals in f32).
 * - dkdv: outputs dk, dv, csum: [Σ k⊙dk per row (for di) | Σ_{t>s} dlogD[t,s] + the state-gradient
 *   term's share (for df)], 2·B·NH·S floats.
 * With `inter`, "stats"/"dq" read the state before the chunk (C | n, f32) and "dkdv" the state
 * gradient after it; mp holds the chunk-boundary stabilizers (NC+1 per head).
 */
export function tileWgsl(p: BwParams, mode: TileMode, t: TileGeometry): string {
  const { DQK, DHV, gate } = p;
  const { G, BT, BS, SQ, SV, RT } = t;
  const un = t.unroll;
  // A loop over the G partial sums (gg) or the BS other rows of a tile (j), body indented for a
  // loop at `ind`: constant trip count, or rolled ({@linkcode TileGeometry.unroll}).
  const sumsLoop = (ind: string, body: string) =>
    un
      ? rolled("gg", G, un.sums, ind, body)
      : `${ind}for (var gg = 0u; gg < ${G}u; gg++) {\n${body}\n${ind}}`;
  const rowsLoop = (body: string) =>
    un
      ? rolled("j", BS, un.rows, "    ", body)
      : `    for (var j = 0u; j < ${BS}u; j++) {\n${body}\n    }`;
  const NR = BT / RT; // row groups: thread (r, g) owns rows r, r + NR, ..., r + (RT-1)·NR
  const DQ4 = d4(DQK), DV4 = d4(DHV);
  const gq = SQ * G > DQ4, gv = SV * G > DV4;
  const E = DQK * DHV + DQK;
  const rows = mode !== "dkdv";
  const U = range(RT);
  let b = 0;
  const decl: string[] = [];
  decl.push(matrix("q", b++, DQK, p.dtype, "read", gq));
  decl.push(matrix("k", b++, DQK, p.dtype, "read", gq));
  decl.push(matrix("v", b++, DHV, p.dtype, "read", gv));
  decl.push(matrix("dh", b++, DHV, p.dtype, "read", gv));
  decl.push(`@group(0) @binding(${b++}) var<storage, read> gi: array<vec4f>;`);
  if (mode !== "stats") {
    decl.push(`@group(0) @binding(${b++}) var<storage, read> rs: array<vec4f>;`);
  }
  const sv4 = p.inter && (t.stVec4 ?? false) && DQK % 4 === 0 && DHV % 4 === 0;
  const staged = sv4 && (t.stStaged ?? false);
  const SQG = SQ * G;
  if (p.inter) {
    decl.push(
      sv4
        ? `@group(0) @binding(${b++}) var<storage, read> st: array<vec4f>;
fn stf(i: u32) -> f32 { return st[i / 4u][i % 4u]; }`
        : `@group(0) @binding(${b++}) var<storage, read> st: array<f32>;`,
    );
    decl.push(`@group(0) @binding(${b++}) var<storage, read> mp: array<f32>;`);
  }
  if (mode === "stats") {
    decl.push(`@group(0) @binding(${b++}) var<storage, read_write> rso: array<vec4f>;`);
    if (mPath(p)) decl.push(`@group(0) @binding(${b++}) var<storage, read_write> dmt: array<f32>;`);
  } else if (mode === "dq") {
    decl.push(matrix("dq", b++, DQK, "f32", "read_write", gq));
    decl.push(`@group(0) @binding(${b++}) var<storage, read_write> rsum: array<f32>;`);
  } else {
    decl.push(matrix("dk", b++, DQK, "f32", "read_write", gq));
    decl.push(matrix("dv", b++, DHV, "f32", "read_write", gv));
    decl.push(`@group(0) @binding(${b++}) var<storage, read_write> csum: array<f32>;`);
  }
  decl.push(`@group(0) @binding(${b++}) var<uniform> u: U;`);

  // Own-row registers (per owned row u): the operands whose dot products with the other side we need.
  const ownA = rows ? "q" : "k", ownB = rows ? "dh" : "v";
  const othA = rows ? "k" : "q", othB = rows ? "v" : "dh";
  const c4q = (j: number) => `${j}u * ${G}u + g`;
  const slot = (x: number) => `(${x}u * ${NR}u + r)`; // row slot of owned row x in the tile
  const perRow = U.map((x) =>
    [
      `  let own${x} = tileFirst + ${slot(x)};`,
      `  let valid${x} = own${x} < segEnd;`,
      `  let rowC${x} = rowBase + min(own${x}, segEnd - 1u);`,
      ...range(SQ).map((j) => `  let a${x}_${j} = ld_${ownA}(rowC${x}, ${c4q(j)});`),
      ...range(SV).map((j) => `  let e${x}_${j} = ld_${ownB}(rowC${x}, ${c4q(j)});`),
      `  let gown${x} = gi[rowC${x}];`,
      ...(mode === "dq" ? [`  let rown${x} = rs[rowC${x}];`] : []),
      ...(mode === "stats"
        ? [
          gate === "exp"
            ? (p.inter
              ? `  let mc${x} = max((gown${x}.x + gown${x}.w) + mprev, gown${x}.z);
  let beta${x} = exp((gown${x}.x + gown${x}.w) + mprev - mc${x});`
              : `  let mc${x} = gown${x}.z;\n  let beta${x} = 0.0;`)
            : (p.inter
              ? `  let mc${x} = 0.0;\n  let beta${x} = exp(gown${x}.x + gown${x}.w);`
              : `  let mc${x} = 0.0;\n  let beta${x} = 0.0;`),
          `  var den${x} = 0.0;\n  var hd${x} = 0.0;`,
        ]
        : []),
      ...(mode !== "stats"
        ? [`  var offp${x} = 0.0;`, ...range(SQ).map((j) => `  var acc${x}_${j} = vec4f(0.0);`)]
        : []),
      ...(mode === "dkdv" ? range(SV).map((j) => `  var accv${x}_${j} = vec4f(0.0);`) : []),
    ].join("\n")
  ).join("\n");
  const mprevDecl = mode === "stats" && gate === "exp" && p.inter
    ? `  let mprev = mp[lb * (u.NC + 1u) + seg];`
    : "";

  // Phase A: the other row's vectors loaded once, dotted with every owned row's slices.
  const phaseA = [
    ...range(SQ).map((j) => `      let xo${j} = ld_${othA}(oc, ${c4q(j)});`),
    ...range(SV).map((j) => `      let yo${j} = ld_${othB}(oc, ${c4q(j)});`),
    ...U.map((x) =>
      `      xs[(j * ${BT}u + ${slot(x)}) * ${G}u + g] = ${
        sum(range(SQ).map((j) => `dot(a${x}_${j}, xo${j})`))
      };
      ys[(j * ${BT}u + ${slot(x)}) * ${G}u + g] = ${
        sum(range(SV).map((j) => `dot(e${x}_${j}, yo${j})`))
      };`
    ),
  ].join("\n");

  // Phase B: reduction over g and the pointwise weights, per owned row.
  const phaseB = U.map((x) => {
    const red = `        var X = 0.0;
        var Y = 0.0;
${
      sumsLoop(
        "        ",
        `          X += xs[(j * ${BT}u + ${slot(x)}) * ${G}u + gg];
          Y += ys[(j * ${BT}u + ${slot(x)}) * ${G}u + gg];`,
      )
    }
        let ok = valid${x} && o < segEnd && ${rows ? `o <= own${x}` : `o >= own${x}`};`;
    if (mode === "stats") {
      return `      {
${red}
        if (ok) {
          let st_ = u.scale * X * exp(bdiff(gown${x}, go) + go.y - mc${x});
          den${x} += st_;
          hd${x} += st_ * Y;
        }
      }`;
    }
    if (mode === "dq") {
      return `      {
${red}
        var w = 0.0;
        if (ok) {
          w = u.scale * (rown${x}.y * Y + rown${x}.z) * exp(bdiff(gown${x}, go) + go.y - rown${x}.x);
          if (o < own${x}) { offp${x} += w * X; }
        }
        ws[j * ${BT}u + ${slot(x)}] = w;
      }`;
    }
    return `      {
${red}
        var wk = 0.0;
        var wv = 0.0;
        if (ok) {
          let dd = exp(bdiff(go, gown${x}) + gown${x}.y - ro.x);
          wk = u.scale * (ro.y * Y + ro.z) * dd;
          wv = u.scale * X * dd * ro.y;
          if (o > own${x}) { offp${x} += wk * X; }
        }
        ws[j * ${BT}u + ${slot(x)}] = wk;
        ws2[j * ${BT}u + ${slot(x)}] = wv;
      }`;
  }).join("\n");
  const otherRowData = `      let go = gi[rowBase + min(o, segEnd - 1u)];${
    mode === "dkdv" ? `\n      let ro = rs[rowBase + min(o, segEnd - 1u)];` : ""
  }`;

  // Phase C: the weighted accumulation; other vectors loaded once for all owned rows.
  const phaseC = mode === "stats" ? "" : mode === "dq"
    ? `
${
      rowsLoop(`      let oc = min(o0 + j, segEnd - 1u) + rowBase;
${range(SQ).map((jj) => `      let ko${jj} = ld_k(oc, ${c4q(jj)});`).join("\n")}
${
        U.map((x) =>
          `      {
        let w = ws[j * ${BT}u + ${slot(x)}];
${range(SQ).map((jj) => `        acc${x}_${jj} += w * ko${jj};`).join("\n")}
      }`
        ).join("\n")
      }`)
    }`
    : `
${
      rowsLoop(`      let oc = min(o0 + j, segEnd - 1u) + rowBase;
${range(SQ).map((jj) => `      let qo${jj} = ld_q(oc, ${c4q(jj)});`).join("\n")}
${range(SV).map((jj) => `      let ho${jj} = ld_dh(oc, ${c4q(jj)});`).join("\n")}
${
        U.map((x) =>
          `      {
        let w = ws[j * ${BT}u + ${slot(x)}];
        let w2 = ws2[j * ${BT}u + ${slot(x)}];
${range(SQ).map((jj) => `        acc${x}_${jj} += w * qo${jj};`).join("\n")}
${range(SV).map((jj) => `        accv${x}_${jj} += w2 * ho${jj};`).join("\n")}
      }`
        ).join("\n")
      }`)
    }`;

  // Loop range over the other side.
  const loopRange = rows
    ? `let oBegin = segStart;\n  let oEnd = min(segEnd, tileFirst + ${BT}u);`
    : `let oBegin = tileFirst;\n  let oEnd = segEnd;`;

  // State terms, per owned row: one fused loop over the DHV columns for the thread's DQK rows.
  const comps = ["x", "y", "z", "w"];
  const stBase = rows ? `(lb * u.NC + seg) * ${E}u` : `(lb * (u.NC + 1u) + seg) * ${E}u`;
  // One vec4 of a state row at float offset `o` (the row's start), vec4 column c4.
  const ldC = (o: string, c4: string) =>
    sv4
      ? `st[(${o}) / 4u + ${c4}]`
      : DHV % 4 === 0
      ? `vec4f(st[${o} + ${c4} * 4u], st[${o} + ${c4} * 4u + 1u], st[${o} + ${c4} * 4u + 2u], st[${o} + ${c4} * 4u + 3u])`
      : `ldst(${o}, ${c4})`;
  const ldstFn = DHV % 4 === 0 || !p.inter ? "" : `
fn ldst(o: u32, c4: u32) -> vec4f {
  var r = vec4f(0.0);
${
    comps.map((c, j) => `  if (c4 * 4u + ${j}u < ${DHV}u) { r.${c} = st[o + c4 * 4u + ${j}u]; }`)
      .join("\n")
  }
  return r;
}`;
  let interCode = "";
  const aOf = (j: number, c: number) => `(${c4q(j)}) * 4u + ${c}u`;
  const needMask = DQK % 4 !== 0 || gq;
  const common = p.inter
    ? [
      `  let sb = ${stBase};`,
      ...range(SQ).flatMap((j) =>
        range(4).map((c) => `  let o${j}${c} = sb + min(${aOf(j, c)}, ${DQK - 1}u) * ${DHV}u;`)
      ),
      ...(needMask
        ? range(SQ).map((j) =>
          `  let mk${j} = vec4f(${
            range(4).map((c) => `select(0.0, 1.0, ${aOf(j, c)} < ${DQK}u)`).join(", ")
          });`
        )
        : []),
      ...range(SQ).map((j) =>
        `  let nn${j} = ${
          (needMask ? (e: string) => `(${e}) * mk${j}` : (e: string) => e)(
            `vec4f(${
              range(4).map((c) =>
                `${sv4 ? "stf(" : "st["}sb + ${DQK * DHV}u + min(${aOf(j, c)}, ${DQK - 1}u)${
                  sv4 ? ")" : "]"
                }`
              )
                .join(", ")
            })`,
          )
        };`
      ),
    ]
    : [];
  const mask = (j: number, e: string) => (needMask ? `(${e}) * mk${j}` : e);
  // uc{x}_j[c] = Σ_col C[a_jc, col] · vec_x[col] for every owned row x, one fused loop.
  // Staged: columns c0, c0+1 (vec4s) of C for rows a < SQ·G·4 (zeros past DQK), transposed into
  // cst[(cc·4 + comp)·SQG + a/4][a%4]; thread g then reads rows 4(jG+g)..+3 of a column as one vec4.
  const stagedDots = (vec: string) => [
    ...U.flatMap((x) => range(SQ).map((j) => `  var uc${x}_${j} = vec4f(0.0);`)),
    `  for (var c0 = 0u; c0 < ${DV4}u; c0 += 2u) {`,
    `    workgroupBarrier();`,
    `    for (var a = lid; a < ${SQG * 4}u; a += ${NR * G}u) {`,
    `      let ar = (sb + min(a, ${DQK - 1}u) * ${DHV}u) / 4u;`,
    ...range(2).flatMap((cc) => [
      `      let v${cc} = select(vec4f(0.0), st[ar + min(c0 + ${cc}u, ${
        DV4 - 1
      }u)], a < ${DQK}u && c0 + ${cc}u < ${DV4}u);`,
      ...range(4).map((c) =>
        `      cst[${cc * 4 + c}u * ${SQG}u + a / 4u][a % 4u] = v${cc}.${comps[c]};`
      ),
    ]),
    `    }`,
    `    workgroupBarrier();`,
    ...range(2).flatMap((cc) => [
      `    {`,
      `      let c4 = min(c0 + ${cc}u, ${DV4 - 1}u);`,
      ...U.map((x) => `      let xv${x} = ld_${vec}(rowC${x}, c4);`),
      ...range(4).flatMap((c) =>
        range(SQ).flatMap((j) => [
          `      {`,
          `        let cv = cst[${cc * 4 + c}u * ${SQG}u + ${j}u * ${G}u + g];`,
          ...U.map((x) => `        uc${x}_${j} += cv * xv${x}.${comps[c]};`),
          `      }`,
        ])
      ),
      `    }`,
    ]),
    `  }`,
  ];
  const rowDots = (vec: string) =>
    staged ? stagedDots(vec) : [
      ...U.flatMap((x) => range(SQ).map((j) => `  var uc${x}_${j} = vec4f(0.0);`)),
      `  for (var c4 = 0u; c4 < ${DV4}u; c4++) {`,
      ...range(SQ).flatMap((j) =>
        range(4).map((c) => `    let cc${j}${c} = ${ldC(`o${j}${c}`, "c4")};`)
      ),
      ...U.flatMap((x) => [
        `    let xv${x} = ld_${vec}(rowC${x}, c4);`,
        ...range(SQ).map((j) =>
          `    uc${x}_${j} += vec4f(${range(4).map((c) => `dot(cc${j}${c}, xv${x})`).join(", ")});`
        ),
      ]),
      `  }`,
    ];
  if (p.inter && rows) {
    const lines: string[] = [...common, ...rowDots("dh")];
    for (const x of U) {
      const ucm = (j: number) => mask(j, `uc${x}_${j}`);
      if (mode === "stats") {
        lines.push(
          `  den${x} += u.scale * beta${x} * (${
            sum(range(SQ).map((j) => `dot(a${x}_${j}, nn${j})`))
          });`,
          `  hd${x} += u.scale * beta${x} * (${
            sum(range(SQ).map((j) => `dot(a${x}_${j}, ${ucm(j)})`))
          });`,
        );
      } else {
        for (let j = 0; j < SQ; j++) {
          lines.push(`  {
    let sc = u.scale * rown${x}.w * (rown${x}.y * ${ucm(j)} + rown${x}.z * nn${j});
    acc${x}_${j} += sc;
    offp${x} += dot(a${x}_${j}, sc);
  }`);
        }
      }
    }
    interCode = lines.join("\n");
  } else if (p.inter && !rows) {
    // dk[a] += ā (dC[a,:]·v_own + dn[a]); dv[c] += ā Σ_a k_own[a] dC[a,c].
    const lines: string[] = [
      ...common,
      `  let gEnd = gi[rowBase + segEnd - 1u];`,
      ...(gate === "exp" ? [`  let mAfter = mp[lb * (u.NC + 1u) + seg + 1u];`] : []),
      ...rowDots("v"),
    ];
    for (const x of U) {
      lines.push(
        gate === "exp"
          ? `  let abar${x} = exp(bdiff(gEnd, gown${x}) + gown${x}.y - mAfter);`
          : `  let abar${x} = exp(bdiff(gEnd, gown${x}) + gown${x}.y);`,
      );
      for (let j = 0; j < SQ; j++) {
        lines.push(`  {
    let sc = abar${x} * (${mask(j, `uc${x}_${j} + nn${j}`)});
    acc${x}_${j} += sc;
    offp${x} += dot(a${x}_${j}, sc);
  }`);
      }
      lines.push(...range(SV).map((j) => `  var sv${x}_${j} = vec4f(0.0);`));
    }
    lines.push(`  for (var a = 0u; a < ${DQK}u; a++) {
    let oa = sb + a * ${DHV}u;
${range(SV).map((j) => `    let dc${j} = ${ldC("oa", `min(${c4q(j)}, ${DV4 - 1}u)`)};`).join("\n")}
${
      U.map((x) =>
        `    {
      let kk = ld_k(rowC${x}, a / 4u)[a % 4u];
${range(SV).map((j) => `      sv${x}_${j} += kk * dc${j};`).join("\n")}
    }`
      ).join("\n")
    }
  }`);
    for (const x of U) {
      lines.push(...range(SV).map((j) => `  accv${x}_${j} += abar${x} * sv${x}_${j};`));
    }
    interCode = lines.join("\n");
  }

  // Final reductions and stores.
  const red = (vals: (x: number) => string[], arrays: string[]) =>
    U.map((x) => vals(x).map((v, k) => `  ${arrays[k]}[${slot(x)} * ${G}u + g] = ${v};`).join("\n"))
      .join("\n");
  let finish: string;
  if (mode === "stats") {
    const lower = gate === "exp" ? (x: number) => `exp(-mc${x})` : () => "1.0";
    finish = `${red((x) => [`den${x}`, `hd${x}`], ["xs", "ys"])}
  workgroupBarrier();
${
      U.map((x) =>
        `  if (g == 0u && valid${x}) {
    var dsum = 0.0;
    var hsum = 0.0;
${
          sumsLoop(
            "    ",
            `      dsum += xs[${slot(x)} * ${G}u + gg];
      hsum += ys[${slot(x)} * ${G}u + gg];`,
          )
        }
    ${
          p.normalize
            ? `let nrm = max(abs(dsum), ${lower(x)});
    let inv = 1.0 / (nrm + u.eps);
    var dden = 0.0;${
              p.exact
                ? `\n    if (abs(dsum) > ${lower(x)}) { dden = -inv * (inv * hsum) * sign(dsum); }`
                : ""
            }`
            : `let inv = 1.0;\n    let dden = 0.0;`
        }
    rso[rowBase + own${x}] = vec4f(mc${x}, inv, dden, beta${x});${
          mPath(p) ? `\n    ${dmtStore(`rowBase + own${x}`)}` : ""
        }
  }`
      ).join("\n")
    }`;
  } else if (mode === "dq") {
    finish = `${
      U.map((x) =>
        `  if (valid${x}) {
${range(SQ).map((j) => `    st_dq(rowBase + own${x}, ${c4q(j)}, acc${x}_${j});`).join("\n")}
  }`
      ).join("\n")
    }
${red((x) => [`offp${x}`], ["xs"])}
  workgroupBarrier();
${
      U.map((x) =>
        `  if (g == 0u && valid${x}) {
    var s_ = 0.0;
${
          un
            ? sumsLoop("    ", `      s_ += xs[${slot(x)} * ${G}u + gg];`)
            : `    for (var gg = 0u; gg < ${G}u; gg++) { s_ += xs[${slot(x)} * ${G}u + gg]; }`
        }
    rsum[rowBase + own${x}] = s_;
  }`
      ).join("\n")
    }`;
  } else {
    finish = `${
      U.map((x) =>
        `  if (valid${x}) {
${range(SQ).map((j) => `    st_dk(rowBase + own${x}, ${c4q(j)}, acc${x}_${j});`).join("\n")}
${range(SV).map((j) => `    st_dv(rowBase + own${x}, ${c4q(j)}, accv${x}_${j});`).join("\n")}
  }`
      ).join("\n")
    }
${
      red((x) => [sum(range(SQ).map((j) => `dot(a${x}_${j}, acc${x}_${j})`)), `offp${x}`], [
        "xs",
        "ys",
      ])
    }
  workgroupBarrier();
${
      U.map((x) =>
        `  if (g == 0u && valid${x}) {
    var s_ = 0.0;
    var o_ = 0.0;
${
          sumsLoop(
            "    ",
            `      s_ += xs[${slot(x)} * ${G}u + gg];
      o_ += ys[${slot(x)} * ${G}u + gg];`,
          )
        }
    csum[rowBase + own${x}] = s_;
    csum[u.BH * u.S + rowBase + own${x}] = o_;
  }`
      ).join("\n")
    }`;
  }

  return `${enableF16(p.dtype, p.gateDtype)}${UNIFORMS}
${decl.join("\n")}
${ldstFn}
var<workgroup> xs: array<f32, ${BT * BS * G}>;
var<workgroup> ys: array<f32, ${BT * BS * G}>;
var<workgroup> ws: array<f32, ${BT * BS}>;
var<workgroup> ws2: array<f32, ${BT * BS}>;
${staged ? `var<workgroup> cst: array<vec4f, ${8 * SQG}>;\n` : ""}
@compute @workgroup_size(${NR * G})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let seg = wid.y;
  let lb = wid.z;
  let bh = u.H0 + lb;
  let r = lid / ${G}u;
  let g = lid % ${G}u;
  let segStart = seg * u.L;
  let segEnd = min(u.S, segStart + u.L);
  let tileFirst = segStart + wid.x * ${BT}u;
  let rowBase = bh * u.S;
${mprevDecl}
${perRow}
  ${loopRange}
  for (var o0 = oBegin; o0 < oEnd; o0 += ${BS}u) {
${rowsLoop(`      let oc = min(o0 + j, segEnd - 1u) + rowBase;\n${phaseA}`)}
    workgroupBarrier();
    for (var j = g; j < ${BS}u; j += ${G}u) {
      let o = o0 + j;
${otherRowData}
${phaseB}
    }
    workgroupBarrier();${phaseC}
  }
${interCode}
${finish}
  _ = &ws;
  _ = &ws2;${p.inter ? "\n  _ = mp[0];" : ""}
}
`;
}

/**
 * Per-chunk outer products Σ_j w_j x_j y_jᵀ (DQK × DHV) and Σ_j w'_j x_j (DQK), packed as
 * [C | n] (f32) per (head, chunk), NC + 1 slots per head (the last one unused here). Mode "state": x = k, y = v, w = w' = exp(a_j - mloc) with
 * a_j = g - b_j + ĩ_j (the chunk's contribution to the next state, under its own stabilizer
 * mloc = max_j a_j). Mode "dstate": x = q, y = dh, w = scale β inv, w' = scale β dden (the chunk's
 * contribution to the gradient of the state before it).
 * Bindings: x, y, gi, [rs], out, uniforms. Workgroup: 64 threads over a 16 (DQK) × 64 (DHV) tile.
 */
export function outerWgsl(p: BwParams, mode: "state" | "dstate"): string {
  const { DQK, DHV } = p;
  const E = DQK * DHV + DQK;
  const DQ4 = d4(DQK), DV4 = d4(DHV);
  const xn = mode === "state" ? "k" : "q", yn = mode === "state" ? "v" : "dh";
  let b = 0;
  const decl = [
    matrix(xn, b++, DQK, p.dtype, "read", true),
    matrix(yn, b++, DHV, p.dtype, "read", true),
    `@group(0) @binding(${b++}) var<storage, read> gi: array<vec4f>;`,
    mode === "dstate" ? `@group(0) @binding(${b++}) var<storage, read> rs: array<vec4f>;` : "",
    `@group(0) @binding(${b++}) var<storage, read_write> out: array<f32>;`,
    `@group(0) @binding(${b++}) var<uniform> u: U;`,
  ];
  const weight = mode === "state"
    ? (p.gate === "exp"
      ? `let gl = gi[rowBase + segEnd - 1u];
      let gg = gi[rowBase + jr];
      w = exp(bdiff(gl, gg) + gg.y - gl.z);
      wn = w;`
      : `let gl = gi[rowBase + segEnd - 1u];
      let gg = gi[rowBase + jr];
      w = exp(bdiff(gl, gg) + gg.y);
      wn = w;`)
    : `let rr = rs[rowBase + jr];
      w = u.scale * rr.w * rr.y;
      wn = u.scale * rr.w * rr.z;`;
  const comps = ["x", "y", "z", "w"];
  return `${enableF16(p.dtype)}${UNIFORMS}
${decl.join("\n")}
var<workgroup> wsh: array<vec2f, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let seg = wid.y;
  let lb = wid.z;
  let bh = u.H0 + lb;
  let aTiles = ${Math.ceil(DQK / 16)}u;
  let aTile = wid.x % aTiles;
  let cTile = wid.x / aTiles;
  let ar = lid / 16u;
  let a4 = aTile * 4u + ar;
  let c4 = cTile * 16u + lid % 16u;
  let segStart = seg * u.L;
  let segEnd = min(u.S, segStart + u.L);
  let rowBase = bh * u.S;
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  var nacc = vec4f(0.0);
  for (var j0 = segStart; j0 < segEnd; j0 += 64u) {
    {
      let jr = j0 + lid;
      var w = 0.0;
      var wn = 0.0;
      if (jr < segEnd) {
      ${weight}
      }
      wsh[lid] = vec2f(w, wn);
    }
    workgroupBarrier();
    let n = min(64u, segEnd - j0);
    for (var jj = 0u; jj < n; jj++) {
      let row = rowBase + j0 + jj;
      let wv = wsh[jj];
      let x = ld_${xn}(row, a4);
      let y = ld_${yn}(row, c4);
      acc0 += (wv.x * x.x) * y;
      acc1 += (wv.x * x.y) * y;
      acc2 += (wv.x * x.z) * y;
      acc3 += (wv.x * x.w) * y;
      nacc += wv.y * x;
    }
    workgroupBarrier();
  }
  let ob = (lb * (u.NC + 1u) + seg) * ${E}u;
${
    range(4).map((r) =>
      `  {
    let a = a4 * 4u + ${r}u;
    if (a < ${DQK}u && c4 < ${DV4}u) {
${
        comps.map((c, j) =>
          `      if (c4 * 4u + ${j}u < ${DHV}u) { out[ob + a * ${DHV}u + c4 * 4u + ${j}u] = acc${r}.${c}; }`
        ).join("\n")
      }
    }
    if (a < ${DQK}u && cTile == 0u && lid % 16u == 0u) { out[ob + ${DQK * DHV}u + a] = nacc.${
        comps[r]
      }; }
  }`
    ).join("\n")
  }
  _ = ${DQ4}u;
  _ = gi[0];
}
`;
}

/** Workgroups of {@linkcode outerWgsl} per (chunk, head). */
export function outerTiles(DQK: number, DHV: number): number {
  return Math.ceil(DQK / 16) * Math.ceil(d4(DHV) / 16);
}

/**
 * The scans over chunk boundaries, one thread per element of the packed [C | n] state.
 * "fwd": from the initial state (or zeros), C_k = exp(g + m - m') C_{k-1} + exp(mloc - m') Ĉ_k;
 * writes the state before every chunk (NC slots) and the stabilizers mp (NC+1 per head).
 * Bindings: chat (NC + 1 slots per head), gi, [c0, n0, m0], cprev (NC slots), mp, uniforms.
 * "bwd", in place: slot k holds Ĝ_k (from the outer kernel) and becomes dA_k (gradient of the
 * state after chunk k), k = NC-1..0 from dA_{NC-1} = 0: dA_{k-1} = exp(g_k + mp_k - mp_{k+1}) dA_k
 * + Ĝ_k; slot NC receives the initial-state gradient. Bindings: gi, mp, dA, uniforms.
 */
export function scanWgsl(
  p: BwParams,
  dir: "fwd" | "bwd",
  withInit: boolean,
  withLast = false,
): string {
  const { DQK, DHV } = p;
  const E = DQK * DHV + DQK;
  const exp = p.gate === "exp";
  if (dir === "fwd") {
    let b = 0;
    const decl = [
      `@group(0) @binding(${b++}) var<storage, read> chat: array<f32>;`,
      `@group(0) @binding(${b++}) var<storage, read> gi: array<vec4f>;`,
      ...(withInit
        ? [
          `@group(0) @binding(${b++}) var<storage, read> c0: array<f32>;`,
          `@group(0) @binding(${b++}) var<storage, read> n0: array<f32>;`,
          `@group(0) @binding(${b++}) var<storage, read> m0: array<f32>;`,
        ]
        : []),
      `@group(0) @binding(${b++}) var<storage, read_write> cprev: array<f32>;`,
      `@group(0) @binding(${b++}) var<storage, read_write> mp: array<f32>;`,
      ...(withLast
        ? [`@group(0) @binding(${b++}) var<storage, read_write> clast: array<f32>;`]
        : []),
      `@group(0) @binding(${b++}) var<uniform> u: U;`,
    ];
    const init = withInit
      ? `var acc = select(n0[bh * ${DQK}u + max(e, ${DQK * DHV}u) - ${DQK * DHV}u], c0[bh * ${
        DQK * DHV
      }u + min(e, ${DQK * DHV - 1}u)], e < ${DQK * DHV}u);
  _ = m0[0];
  var m = ${exp ? "m0[bh]" : "0.0"};`
      : `var acc = 0.0;\n  var m = 0.0;`;
    return `${UNIFORMS}
${decl.join("\n")}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let e = min(gid.x, ${E - 1}u);
  let lb = gid.y;
  let bh = u.H0 + lb;
  let live = gid.x < ${E}u;
  ${init}
  if (gid.x == 0u) { mp[lb * (u.NC + 1u)] = m; }
  for (var k = 0u; k < u.NC; k++) {
    let ob = (lb * u.NC + k) * ${E}u;
    let oc = (lb * (u.NC + 1u) + k) * ${E}u;
    if (live) { cprev[ob + e] = acc; }
    let last = bh * u.S + min(u.S, (k + 1u) * u.L) - 1u;
    let gl = gi[last];
    ${
      exp
        ? `let g = gl.x + gl.w;
    let mn = max(g + m, gl.z);
    acc = exp(g + m - mn) * acc + exp(gl.z - mn) * chat[oc + e];
    m = mn;`
        : `acc = exp(gl.x + gl.w) * acc + chat[oc + e];`
    }
    if (gid.x == 0u) { mp[lb * (u.NC + 1u) + k + 1u] = m; }
  }${
      withLast
        ? `
  if (live) { clast[bh * ${E}u + e] = acc; }`
        : ""
    }
}
`;
  }
  const lastDecl = withLast
    ? `@group(0) @binding(2) var<storage, read> dlc: array<f32>;
@group(0) @binding(3) var<storage, read> dln: array<f32>;
`
    : "";
  const nb = withLast ? 4 : 2;
  const init = withLast
    ? `var acc = select(dln[bh * ${DQK}u + max(e, ${DQK * DHV}u) - ${DQK * DHV}u], dlc[bh * ${
      DQK * DHV
    }u + min(e, ${DQK * DHV - 1}u)], e < ${DQK * DHV}u);`
    : `var acc = 0.0;`;
  return `${UNIFORMS}
@group(0) @binding(0) var<storage, read> gi: array<vec4f>;
@group(0) @binding(1) var<storage, read> mp: array<f32>;
${lastDecl}@group(0) @binding(${nb}) var<storage, read_write> da: array<f32>;
@group(0) @binding(${nb + 1}) var<uniform> u: U;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= ${E}u) { return; }
  let e = gid.x;
  let lb = gid.y;
  let bh = u.H0 + lb;
  ${init}
  // Batches of 8 chunks: all loads of a batch before its stores, so that the in-place reads do
  // not wait behind the writes of the previous chunk (one memory latency per chunk otherwise).
  var kk = u.NC;
  while (kk > 0u) {
    let nb = min(8u, kk);
${
    range(8).map((j) =>
      `    var g${j} = 0.0;
    if (${j}u < nb) { g${j} = da[(lb * (u.NC + 1u) + kk - ${j + 1}u) * ${E}u + e]; }`
    ).join("\n")
  }
${
    range(8).map((j) =>
      `    if (${j}u < nb) {
      let k = kk - ${j + 1}u;
      da[(lb * (u.NC + 1u) + k) * ${E}u + e] = acc;
      let gl = gi[bh * u.S + min(u.S, (k + 1u) * u.L) - 1u];
      let decay = ${
        exp
          ? "exp((gl.x + gl.w) + mp[lb * (u.NC + 1u) + k] - mp[lb * (u.NC + 1u) + k + 1u])"
          : "exp(gl.x + gl.w)"
      };
      acc = decay * acc + g${j};
    }`
    ).join("\n")
  }
    kk -= nb;
  }
  da[(lb * (u.NC + 1u) + u.NC) * ${E}u + e] = acc;
  _ = mp[0];
}
`;
}

/** The bindings of {@linkcode gatesWgsl} and {@linkcode gatesWideWgsl} (the same buffers). */
function gatesBindings(p: BwParams, withInit: boolean, withLast: boolean): string[] {
  const T = p.gateDtype === "f16" ? "f16" : "f32";
  let b = 0;
  const decl = [
    `@group(0) @binding(${b++}) var<storage, read> ig: array<${T}>;`,
    `@group(0) @binding(${b++}) var<storage, read> fg: array<${T}>;`,
    `@group(0) @binding(${b++}) var<storage, read> rsum: array<f32>;`,
    `@group(0) @binding(${b++}) var<storage, read> csum: array<f32>;`,
    // Gradients are f32 whatever the inputs' storage (f16 would overflow or flush them).
    `@group(0) @binding(${b++}) var<storage, read_write> di: array<f32>;`,
    `@group(0) @binding(${b++}) var<storage, read_write> df: array<f32>;`,
  ];
  if (withInit) {
    decl.push(
      `@group(0) @binding(${b++}) var<storage, read> da: array<f32>;`,
      `@group(0) @binding(${b++}) var<storage, read> c0: array<f32>;`,
      `@group(0) @binding(${b++}) var<storage, read> n0: array<f32>;`,
      `@group(0) @binding(${b++}) var<storage, read_write> dc0: array<f32>;`,
      `@group(0) @binding(${b++}) var<storage, read_write> dn0: array<f32>;`,
      `@group(0) @binding(${b++}) var<storage, read_write> dm0: array<f32>;`,
    );
  }
  if (withLast) {
    decl.push(
      `@group(0) @binding(${b++}) var<storage, read> dlc: array<f32>;`,
      `@group(0) @binding(${b++}) var<storage, read> dln: array<f32>;`,
      `@group(0) @binding(${b++}) var<storage, read> clast: array<f32>;`,
    );
  }
  if (mPath(p)) {
    decl.push(
      `@group(0) @binding(${b++}) var<storage, read> gi: array<vec4f>;`,
      `@group(0) @binding(${b++}) var<storage, read> rs: array<vec4f>;`,
      `@group(0) @binding(${b++}) var<storage, read> dmt: array<f32>;`,
    );
    if (withLast) decl.push(`@group(0) @binding(${b++}) var<storage, read> dlm: array<f32>;`);
  }
  if (p.resets) decl.push(`@group(0) @binding(${b++}) var<storage, read> rst: array<u32>;`);
  decl.push(`@group(0) @binding(${b++}) var<uniform> u: U;`);
  return decl;
}

/**
 * The gate gradients from the row sums Σ q⊙dq and the column sums Σ k⊙dk, one workgroup of 64
 * threads per head: di_s = csum_s (times σ(-i_s) for the sigmoid gate) and
 * df_r = σ(-f_r) Σ_{t≥r} (rsum_t - csumOff_t), a reverse cumulative sum done as 64 contiguous
 * segments. With initial states it also writes dcInitial, dnInitial (from the scan's last slot)
 * and, for the exponential gate, dmInitial = Σ dC0⊙C0 + dn0·n0.
 * With {@linkcode mPath} (issue #10) it also routes the stabilizer's gradient dmt back through
 * m_t = max(logsig(f_t) + m_{t-1}, ĩ_t): G_t = dmt_t + [forget branch won at t+1]·G_{t+1} goes to
 * di_t where the input gate won m_t (m_t == ĩ_t, the same f32 values the forward compared), to
 * dlogsig(f_t) otherwise, and what leaves row 0 to dmInitial. This is a segmented reverse scan,
 * done like df's: each thread reduces its rows to an affine map (a, p), then composes those of the
 * threads after it. With last-state gradients the scan starts from dm_last - R (the stabilized last
 * state C_S = exp(-m_S)·Ĉ_S contributes -R to m_S).
 * Packed sequences ({@linkcode BwParams.resets}): both reverse scans restart at each document
 * start t (a segmented scan: each thread also passes on whether its rows hold a start): df_t gets
 * no pair sum (no pair crosses t; in f32 the document's row and column sums would leave rounding
 * noise), only the stabilizer's forget branch (the zero state's m = 0 plus logsig(f_t)), nothing
 * reaches t − 1, the last-state terms reach only the last document, the initial states only the
 * first.
 * Bindings: i, f, rsum, csum, di, df, [da, c0, n0, dc0, dn0, dm0], [dlc, dln, clast],
 * [gi, rs, dmt, [dlm]], [rst], uniforms.
 */
export function gatesWgsl(p: BwParams, withInit: boolean, withLast = false): string {
  const rs = p.resets ?? false;
  const { DQK, DHV } = p;
  const E = DQK * DHV + DQK;
  const decl = gatesBindings(p, withInit, withLast);
  const mp = mPath(p);
  // With gradients into the last state, every logsig(f_r) also scales the last state: a virtual
  // row after the sequence adds R = Σ dC_last⊙C_last + dn_last·n_last to every df_r.
  const lastCode = withLast
    ? `
  var partL = 0.0;
  for (var e = lid; e < ${E}u; e += 64u) {
    let d = select(dln[bh * ${DQK}u + max(e, ${DQK * DHV}u) - ${DQK * DHV}u], dlc[bh * ${
      DQK * DHV
    }u + min(e, ${DQK * DHV - 1}u)], e < ${DQK * DHV}u);
    partL += d * clast[bh * ${E}u + e];
  }
  red[lid] = partL;
  workgroupBarrier();
  if (lid == 0u) {
    var s_ = 0.0;
    for (var j = 0u; j < 64u; j++) { s_ += red[j]; }
    rvirt = s_;
  }
  workgroupBarrier();
  let rLast = rvirt;`
    : `
  let rLast = 0.0;`;
  const initCode = withInit
    ? `
  let ob = (lb * (u.NC + 1u) + u.NC) * ${E}u;
  var part = 0.0;
  for (var e = lid; e < ${E}u; e += 64u) {
    let x = da[ob + e];
    if (e < ${DQK * DHV}u) {
      dc0[bh * ${DQK * DHV}u + e] = x;
      part += x * c0[bh * ${DQK * DHV}u + e];
    } else {
      dn0[bh * ${DQK}u + e - ${DQK * DHV}u] = x;
      part += x * n0[bh * ${DQK}u + e - ${DQK * DHV}u];
    }
  }
  workgroupBarrier();
  red[lid] = part;
  workgroupBarrier();
  if (lid == 0u) {
    var s_ = 0.0;
    for (var j = 0u; j < 64u; j++) { s_ += red[j]; }
    dm0[bh] = ${p.gate === "exp" ? (mp ? "s_ + ym" : "s_") : "0.0 * s_"};
  }`
    : "";
  // The stabilizer's path: this thread's rows as one affine map y ↦ a + p·y of the carry c·G.
  const mscan = `
  var ya = 0.0;
  var yp = 1.0;
  for (var tt = t1; tt > t0; tt--) {
    let t = tt - 1u;
    let c = fwon(base + t)${rs ? " * select(1.0, 0.0, rst[rb + t] != 0u)" : ""};
    ya = c * (dmt[base + t] + ya);
    yp *= c;
  }
  redA[lid] = ya;
  redP[lid] = yp;`;
  return `${enableF16(p.gateDtype)}${WGSL_GATES}${UNIFORMS}
${decl.join("\n")}
var<workgroup> red: array<f32, 64>;${rs ? "\nvar<workgroup> redO: array<f32, 64>;" : ""}
var<workgroup> rvirt: f32;
fn sigm(x: f32) -> f32 { return select(exp(x) / (1.0 + exp(x)), 1.0 / (1.0 + exp(-x)), x >= 0.0); }${
    mp
      ? `
var<workgroup> redA: array<f32, 64>;
var<workgroup> redP: array<f32, 64>;
// 1 where the forget branch won m_t = max(logsig(f_t) + m_{t-1}, ĩ_t), 0 where the input gate did.
fn fwon(row: u32) -> f32 { return select(1.0, 0.0, rs[row].x == gi[row].y); }`
      : ""
  }
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let lb = wid.x;
  let bh = u.H0 + lb;${lastCode}
  let per = (u.S + 63u) / 64u;
  let t0 = min(u.S, lid * per);
  let t1 = min(u.S, t0 + per);
  let base = bh * u.S;
  var loc = 0.0;
  let off = u.BH * u.S;${
    rs
      ? `
  // Packed sequences: the reverse sums restart at each document start. A thread passes on the sum
  // of its rows before its first start, and what reaches it from the right only without a start.
  let rb = (bh / u.p1) * u.S;
  var open = 1.0;
  for (var t = t0; t < t1; t++) {
    if (rst[rb + t] != 0u) { open = 0.0; }
    loc += open * (rsum[base + t] - csum[off + base + t]);
  }
  red[lid] = loc;
  redO[lid] = open;`
      : `
  for (var t = t0; t < t1; t++) { loc += rsum[base + t] - csum[off + base + t]; }
  red[lid] = loc;`
  }${mp ? mscan : ""}
  workgroupBarrier();
  var acc = rLast;
  ${
    rs
      ? "for (var j = 63u; j > lid; j--) { acc = red[j] + redO[j] * acc; }"
      : "for (var j = lid + 1u; j < 64u; j++) { acc += red[j]; }"
  }${
    mp
      ? `
  var ym = ${withLast ? "dlm[bh] - rLast" : "0.0"};
  for (var j = 63u; j > lid; j--) { ym = redA[j] + redP[j] * ym; }`
      : ""
  }
  for (var tt = t1; tt > t0; tt--) {
    let t = tt - 1u;
    let cs = csum[base + t];
    acc += rsum[base + t] - csum[off + base + t];${
    rs
      ? `
    // A document's first row: no pair crosses it (its forget gate reaches only the stabilizer),
    // and nothing carries on to the previous document.
    let st = rst[rb + t] != 0u;
    let accT = select(acc, 0.0, st);
    acc = accT;`
      : `
    let accT = acc;`
  }${
    mp
      ? `
    let G = dmt[base + t] + ym;
    let c = fwon(base + t);
    ym = c * ${rs ? "select(G, 0.0, st)" : "G"};
    df[base + t] = sigm(-f32(fg[base + t])) * (accT + c * G);
    di[base + t] = cs + (1.0 - c) * G;`
      : `
    df[base + t] = sigm(-f32(fg[base + t])) * accT;
    di[base + t] = ${p.gate === "exp" ? "cs" : "cs * sigm(-f32(ig[base + t]))"};`
  }
  }${initCode}
  _ = ig[0];
  _ = &rvirt;
}
`;
}

/** Threads per workgroup of {@linkcode gatesWideWgsl}. */
export const GATES_WIDE_THREADS = 256;
/** Rows per thread and tile of {@linkcode gatesWideWgsl} (a tile is 256 · 4 = 1024 rows). */
export const GATES_WIDE_ROWS = 4;

/** Workgroup storage in bytes of {@linkcode gatesWideWgsl}: one array per scanned component. */
export function gatesWideSharedBytes(p: BwParams): number {
  const comps = 1 + (mPath(p) ? 2 : p.resets ? 1 : 0);
  return 4 * comps * GATES_WIDE_THREADS * GATES_WIDE_ROWS;
}

/**
 * The gate gradients of {@linkcode gatesWgsl} (the same bindings, math and outputs to f32
 * rounding) with 256 threads per head instead of 64 and coalesced memory access (issue #14: the
 * 64-thread kernel walked ⌈S/64⌉ rows per thread twice, neighbouring threads `per` rows apart, and
 * composed the threads' sums in a serial loop). The head's rows go in tiles of 1024 from the last
 * to the first; in a tile, thread `lid` holds rows tb + 256·j + lid (j = 0..3: every load and
 * store coalesced), each row as a map of the reverse scans' carries: acc ↦ o·(x + acc) for df's
 * sum (x = rsum - csumOff; o = 0 at a document start, else 1) and, with {@linkcode mPath},
 * y ↦ c'·(dmt + y) for the stabilizer's (c' = 1 where the forget branch won m_t and no document
 * starts at t). The 4 sub-tiles of 256 rows are scanned side by side in workgroup memory
 * (Hillis–Steele suffix scans, 8 steps of log depth), maps as (a, bits) with bit 0 = o, bit 1 = c'
 * (both 0 or 1, so composition is a select and an AND); each row then applies the composition of
 * the rows after it in its sub-tile, of the sub-tiles after its own and of the tiles after this one
 * (the carry) to the carry. Last-state and initial-state terms as in {@linkcode gatesWgsl}, their
 * sums reduced as trees of 256.
 */
export function gatesWideWgsl(p: BwParams, withInit: boolean, withLast = false): string {
  const rs = p.resets ?? false;
  const mp = mPath(p);
  const flags = rs || mp;
  const { DQK, DHV } = p;
  const E = DQK * DHV + DQK;
  const W = GATES_WIDE_THREADS, R = GATES_WIDE_ROWS, N = W * R;
  const J = range(R);
  const decl = gatesBindings(p, withInit, withLast);
  // Tree reduction of one f32 per thread in sa[0..256); every thread reads the sum after it.
  const reduce = (v: string, sum: string) => `
  sa[lid] = ${v};
  workgroupBarrier();
  for (var w = ${W / 2}u; w > 0u; w >>= 1u) {
    if (lid < w) { sa[lid] += sa[lid + w]; }
    workgroupBarrier();
  }
  let ${sum} = sa[0];
  workgroupBarrier();`;
  const lastCode = withLast
    ? `
  var partL = 0.0;
  for (var e = lid; e < ${E}u; e += ${W}u) {
    let d = select(dln[bh * ${DQK}u + max(e, ${DQK * DHV}u) - ${DQK * DHV}u], dlc[bh * ${
      DQK * DHV
    }u + min(e, ${DQK * DHV - 1}u)], e < ${DQK * DHV}u);
    partL += d * clast[bh * ${E}u + e];
  }${reduce("partL", "rLast")}`
    : `
  let rLast = 0.0;`;
  const initCode = withInit
    ? `
  let ob = (lb * (u.NC + 1u) + u.NC) * ${E}u;
  var part = 0.0;
  for (var e = lid; e < ${E}u; e += ${W}u) {
    let x = da[ob + e];
    if (e < ${DQK * DHV}u) {
      dc0[bh * ${DQK * DHV}u + e] = x;
      part += x * c0[bh * ${DQK * DHV}u + e];
    } else {
      dn0[bh * ${DQK}u + e - ${DQK * DHV}u] = x;
      part += x * n0[bh * ${DQK}u + e - ${DQK * DHV}u];
    }
  }${reduce("part", "s_")}
  if (lid == 0u) {
    dm0[bh] = ${p.gate === "exp" ? (mp ? "s_ + cY" : "s_") : "0.0 * s_"};
  }`
    : "";
  // A map applied to a carry v: a + o·v (o = bit 0; always 1 without resets), y + c'·v (bit 1).
  const applyA = (a: string, bits: string, v: string) =>
    rs ? `select(${a}, ${a} + ${v}, (${bits} & 1u) != 0u)` : `${a} + ${v}`;
  const applyY = (y: string, bits: string, v: string) =>
    `select(${y}, ${y} + ${v}, (${bits} & 2u) != 0u)`;
  const loads = J.map((j) => {
    const lines = [
      `    let r${j} = tb + ${j * W}u + lid;`,
      `    let in${j} = r${j} < u.S;`,
      `    let q${j} = base + min(r${j}, u.S - 1u);`,
      `    let x${j} = select(0.0, rsum[q${j}] - csum[off + q${j}], in${j});`,
      `    let cs${j} = csum[q${j}];`,
      `    let fv${j} = f32(fg[q${j}]);`,
    ];
    if (p.gate === "sig" && !mp) lines.push(`    let iv${j} = f32(ig[q${j}]);`);
    if (rs) lines.push(`    let st${j} = in${j} && rst[rb + min(r${j}, u.S - 1u)] != 0u;`);
    else lines.push(`    let st${j} = false;`);
    if (mp) {
      lines.push(
        `    let d${j} = select(0.0, dmt[q${j}], in${j});`,
        // Outside the sequence: the identity map (c' = 1, nothing added).
        `    let fw${j} = select(1.0, fwon(q${j}), in${j});`,
      );
    }
    // The row's map: a = o·x, bits = o | c'·2.
    lines.push(`    var va${j} = select(x${j}, 0.0, st${j});`);
    if (flags) {
      lines.push(
        `    var vb${j} = select(1u, 0u, st${j})${
          mp ? ` | select(0u, 2u, fw${j} != 0.0 && !st${j})` : ""
        };`,
      );
    }
    if (mp) lines.push(`    var vy${j} = select(0.0, d${j}, (vb${j} & 2u) != 0u);`);
    lines.push(`    sa[${j * W}u + lid] = va${j};`);
    if (mp) lines.push(`    sy[${j * W}u + lid] = vy${j};`);
    if (flags) lines.push(`    sb[${j * W}u + lid] = vb${j};`);
    return lines.join("\n");
  }).join("\n");
  // Hillis–Steele step: compose this element's map (left) with the one w rows further (right).
  const step = `
      let inr = lid + w < ${W}u;
      let nx = min(lid + w, ${W - 1}u);
${
    J.map((j) =>
      [
        `      let na${j} = select(0.0, sa[${j * W}u + nx], inr);`,
        ...(mp ? [`      let ny${j} = select(0.0, sy[${j * W}u + nx], inr);`] : []),
        ...(flags ? [`      let nb${j} = select(3u, sb[${j * W}u + nx], inr);`] : []),
      ].join("\n")
    ).join("\n")
  }
      workgroupBarrier();
${
    J.map((j) =>
      [
        `      va${j} = ${applyA(`va${j}`, `vb${j}`, `na${j}`)};`,
        ...(mp ? [`      vy${j} = ${applyY(`vy${j}`, `vb${j}`, `ny${j}`)};`] : []),
        ...(flags ? [`      vb${j} &= nb${j};`] : []),
        `      sa[${j * W}u + lid] = va${j};`,
        ...(mp ? [`      sy[${j * W}u + lid] = vy${j};`] : []),
        ...(flags ? [`      sb[${j * W}u + lid] = vb${j};`] : []),
      ].join("\n")
    ).join("\n")
  }
      workgroupBarrier();`;
  // After the scan: the exclusive suffix (the element at lid + 1) and the sub-tile's total.
  const finals = J.map((j) =>
    [
      `    let ea${j} = select(0.0, sa[${j * W}u + nx1], ex);`,
      `    let ta${j} = sa[${j * W}u];`,
      ...(mp
        ? [
          `    let ey${j} = select(0.0, sy[${j * W}u + nx1], ex);`,
          `    let ty${j} = sy[${j * W}u];`,
        ]
        : []),
      ...(flags
        ? [
          `    let eb${j} = select(3u, sb[${j * W}u + nx1], ex);`,
          `    let tf${j} = sb[${j * W}u];`,
        ]
        : []),
    ].join("\n")
  ).join("\n");
  // Carries into the sub-tiles, from the last: into sub-tile j, those of j + 1 .. R - 1 applied to
  // the tile's carry.
  const carries = J.slice().reverse().map((j) => {
    if (j === R - 1) return `    let ia${j} = cA;${mp ? `\n    let iy${j} = cY;` : ""}`;
    const t = `${j + 1}`;
    return `    let ia${j} = ${applyA(`ta${t}`, flags ? `tf${t}` : "", `ia${t}`)};${
      mp ? `\n    let iy${j} = ${applyY(`ty${t}`, `tf${t}`, `iy${t}`)};` : ""
    }`;
  }).join("\n");
  const outs = J.map((j) => {
    const accIn = applyA(`ea${j}`, flags ? `eb${j}` : "", `ia${j}`);
    const lines = [
      `    let accT${j} = select(${accIn} + x${j}, 0.0, st${j});`,
    ];
    if (mp) {
      lines.push(
        `    let G${j} = d${j} + ${applyY(`ey${j}`, `eb${j}`, `iy${j}`)};`,
        `    if (in${j}) {`,
        `      df[q${j}] = sigm(-fv${j}) * (accT${j} + fw${j} * G${j});`,
        `      di[q${j}] = cs${j} + (1.0 - fw${j}) * G${j};`,
        `    }`,
      );
    } else {
      lines.push(
        `    if (in${j}) {`,
        `      df[q${j}] = sigm(-fv${j}) * accT${j};`,
        `      di[q${j}] = ${p.gate === "exp" ? `cs${j}` : `cs${j} * sigm(-iv${j})`};`,
        `    }`,
      );
    }
    return lines.join("\n");
  }).join("\n");
  return `${enableF16(p.gateDtype)}${WGSL_GATES}${UNIFORMS}
${decl.join("\n")}
var<workgroup> sa: array<f32, ${N}>;${mp ? `\nvar<workgroup> sy: array<f32, ${N}>;` : ""}${
    flags ? `\nvar<workgroup> sb: array<u32, ${N}>;` : ""
  }
fn sigm(x: f32) -> f32 { return select(exp(x) / (1.0 + exp(x)), 1.0 / (1.0 + exp(-x)), x >= 0.0); }${
    mp
      ? `
// 1 where the forget branch won m_t = max(logsig(f_t) + m_{t-1}, ĩ_t), 0 where the input gate did.
fn fwon(row: u32) -> f32 { return select(1.0, 0.0, rs[row].x == gi[row].y); }`
      : ""
  }
@compute @workgroup_size(${W})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let lb = wid.x;
  let bh = u.H0 + lb;
  let base = bh * u.S;
  let off = u.BH * u.S;${rs ? "\n  let rb = (bh / u.p1) * u.S;" : ""}${lastCode}
  // The carries entering the current tile from the rows after it.
  var cA = rLast;${mp ? `\n  var cY = ${withLast ? "dlm[bh] - rLast" : "0.0"};` : ""}
  let ex = lid + 1u < ${W}u;
  let nx1 = min(lid + 1u, ${W - 1}u);
  for (var k = (u.S + ${N - 1}u) / ${N}u; k > 0u; k--) {
    let tb = (k - 1u) * ${N}u;
${loads}
    workgroupBarrier();
    for (var w = 1u; w < ${W}u; w <<= 1u) {${step}
    }
${finals}
    workgroupBarrier();
${carries}
    cA = ${applyA("ta0", flags ? "tf0" : "", "ia0")};${
    mp ? `\n    cY = ${applyY("ty0", "tf0", "iy0")};` : ""
  }
${outs}
  }${initCode}
  _ = ig[0];
}
`;
}
