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

import { enableF16, WGSL_GATES } from "../_common.ts";

/** Storage dtype of a device tensor. */
export type Dtype = "f32" | "f16";

/** Parameters shared by every backward kernel variant. */
export interface BwParams {
  /** Storage dtype of q, k, v, dh and of dq, dk, dv. */
  dtype: Dtype;
  /** Storage dtype of i, f and of di, df. */
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
}

const d4 = (d: number) => Math.ceil(d / 4);

/** Picks the tile geometry: ≤ 8 vec4 registers per operand slice, ≤ 256 threads. */
export function tileGeometry(DQK: number, DHV: number, maxWorkgroupBytes: number): TileGeometry {
  const G = Math.max(1, Math.ceil(Math.max(d4(DQK), d4(DHV)) / 8));
  const BT = Math.max(1, Math.min(32, Math.floor(256 / G)));
  let BS = 16;
  while (BS > 4 && tileSharedBytes({ G, BT, BS, SQ: 0, SV: 0 }) > maxWorkgroupBytes) BS /= 2;
  return { G, BT, BS, SQ: Math.ceil(d4(DQK) / G), SV: Math.ceil(d4(DHV) / G) };
}

/** Workgroup storage of the row/column kernels, bytes. */
export function tileSharedBytes(t: TileGeometry): number {
  return 4 * (2 * t.BT * t.BS * t.G + 2 * t.BT * t.BS);
}

const UNIFORMS = `
struct U { S: u32, L: u32, NC: u32, BH: u32, scale: f32, eps: f32, p0: u32, p1: u32 }
fn bdiff(a: vec4f, b: vec4f) -> f32 { return (a.x - b.x) + (a.w - b.w); }
`;

/** Packs the uniforms of every backward kernel (32 bytes). */
export function packUniforms(
  S: number,
  L: number,
  NC: number,
  BH: number,
  scale: number,
  eps: number,
): ArrayBuffer {
  const u = new ArrayBuffer(32);
  const dv = new DataView(u);
  dv.setUint32(0, S, true);
  dv.setUint32(4, L, true);
  dv.setUint32(8, NC, true);
  dv.setUint32(12, BH, true);
  dv.setFloat32(16, scale, true);
  dv.setFloat32(20, eps, true);
  return u;
}

/** Declaration plus vec4 load/store helpers for a (rows × D) matrix binding. */
function matrix(
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
 * The per-segment gate scan: one thread per (head, segment) walks the segment's rows and writes
 * gi[t] = (b_t, ĩ_t, mI_t, 0). Bindings: i, f (gate dtype), gi (f32 vec4), uniforms.
 */
export function prepWgsl(p: BwParams): string {
  const T = p.gateDtype === "f16" ? "f16" : "f32";
  const it = p.gate === "exp" ? "x" : "logsig(x)";
  return `${enableF16(p.gateDtype)}${WGSL_GATES}${UNIFORMS}
@group(0) @binding(0) var<storage, read> ig: array<${T}>;
@group(0) @binding(1) var<storage, read> fg: array<${T}>;
@group(0) @binding(2) var<storage, read_write> gi: array<vec4f>;
@group(0) @binding(3) var<uniform> u: U;
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
  for (var j = 0u; j < n; j++) {
    let lf = logsig(f32(fg[t0 + j]));
    let ii = itilde(f32(ig[t0 + j]));
    // TwoSum: b + lo carries the cumulative sum to about twice f32's precision, so that
    // b_t - b_s stays accurate to f32 relative to itself on long segments (the stable forget gate).
    let sum_ = b + lf;
    let bp = sum_ - b;
    lo += (b - (sum_ - bp)) + (lf - bp);
    b = sum_;
    mI = select(max(mI + lf, ii), ii, j == 0u);
    gi[t0 + j] = vec4f(b, ii, mI, lo);
  }
}
`;
}

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
 * - stats: outputs rs.
 * - dq: outputs dq, rsum: Σ_{s<t} dlogD[t,s] + the state term's share of Σ q⊙dq (the row sum
 *   without the diagonal, so that df does not subtract two O(1) diagonals in f32).
 * - dkdv: outputs dk, dv, csum: [Σ k⊙dk per row (for di) | Σ_{t>s} dlogD[t,s] + the state-gradient
 *   term's share (for df)], 2·B·NH·S floats.
 * With `inter`, "stats"/"dq" read the state before the chunk (C | n, f32) and "dkdv" the state
 * gradient after it; mp holds the chunk-boundary stabilizers (NC+1 per head).
 */
export function tileWgsl(p: BwParams, mode: TileMode, t: TileGeometry): string {
  const { DQK, DHV, gate } = p;
  const { G, BT, BS, SQ, SV } = t;
  const DQ4 = d4(DQK), DV4 = d4(DHV);
  const gq = SQ * G > DQ4, gv = SV * G > DV4;
  const E = DQK * DHV + DQK;
  const rows = mode !== "dkdv";
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
  if (p.inter) {
    decl.push(`@group(0) @binding(${b++}) var<storage, read> st: array<f32>;`);
    decl.push(`@group(0) @binding(${b++}) var<storage, read> mp: array<f32>;`);
  }
  if (mode === "stats") {
    decl.push(`@group(0) @binding(${b++}) var<storage, read_write> rso: array<vec4f>;`);
  } else if (mode === "dq") {
    decl.push(matrix("dq", b++, DQK, p.dtype, "read_write", gq));
    decl.push(`@group(0) @binding(${b++}) var<storage, read_write> rsum: array<f32>;`);
  } else {
    decl.push(matrix("dk", b++, DQK, p.dtype, "read_write", gq));
    decl.push(matrix("dv", b++, DHV, p.dtype, "read_write", gv));
    decl.push(`@group(0) @binding(${b++}) var<storage, read_write> csum: array<f32>;`);
  }
  decl.push(`@group(0) @binding(${b++}) var<uniform> u: U;`);

  // Own-row registers: the operands whose dot products with the other side we need.
  const ownA = rows ? "q" : "k", ownB = rows ? "dh" : "v";
  const othA = rows ? "k" : "q", othB = rows ? "v" : "dh";
  const c4q = (j: number) => `${j}u * ${G}u + g`;
  const loadOwn = [
    ...range(SQ).map((j) => `  let a${j} = ld_${ownA}(rowC, ${c4q(j)});`),
    ...range(SV).map((j) => `  let e${j} = ld_${ownB}(rowC, ${c4q(j)});`),
  ].join("\n");
  const px = sum(range(SQ).map((j) => `dot(a${j}, ld_${othA}(oc, ${c4q(j)}))`));
  const py = sum(range(SV).map((j) => `dot(e${j}, ld_${othB}(oc, ${c4q(j)}))`));

  const lower = gate === "exp" ? "exp(-mc)" : "1.0";
  // Row stabilizer and state weight for "stats".
  const rowInit = gate === "exp"
    ? (p.inter
      ? `let mprev = mp[bh * (u.NC + 1u) + seg];
  let mc = max((gown.x + gown.w) + mprev, gown.z);
  let beta = exp((gown.x + gown.w) + mprev - mc);`
      : `let mc = gown.z;
  let beta = 0.0;`)
    : (p.inter
      ? `let mc = 0.0;\n  let beta = exp(gown.x + gown.w);`
      : `let mc = 0.0;\n  let beta = 0.0;`);

  const accDecl = mode === "stats"
    ? `  var den = 0.0;\n  var hd = 0.0;`
    : mode === "dq"
    ? [...range(SQ).map((j) => `  var acc${j} = vec4f(0.0);`), `  var offp = 0.0;`].join("\n")
    : [
      `  var offp = 0.0;`,
      ...range(SQ).map((j) => `  var acc${j} = vec4f(0.0);`),
      ...range(SV).map((j) => `  var accv${j} = vec4f(0.0);`),
    ].join("\n");

  // Phase B: pointwise weights.
  let phaseB: string;
  if (mode === "stats") {
    phaseB = `
      if (ok) {
        let go = gi[rowBase + o];
        let st_ = u.scale * X * exp(bdiff(gown, go) + go.y - mc);
        den += st_;
        hd += st_ * Y;
      }`;
  } else if (mode === "dq") {
    phaseB = `
      var w = 0.0;
      if (ok) {
        let go = gi[rowBase + o];
        w = u.scale * (rown.y * Y + rown.z) * exp(bdiff(gown, go) + go.y - rown.x);
        if (o < own) { offp += w * X; }
      }
      ws[j * ${BT}u + r] = w;`;
  } else {
    phaseB = `
      var wk = 0.0;
      var wv = 0.0;
      if (ok) {
        let go = gi[rowBase + o];
        let ro = rs[rowBase + o];
        let dd = exp(bdiff(go, gown) + gown.y - ro.x);
        wk = u.scale * (ro.y * Y + ro.z) * dd;
        wv = u.scale * X * dd * ro.y;
        if (o > own) { offp += wk * X; }
      }
      ws[j * ${BT}u + r] = wk;
      ws2[j * ${BT}u + r] = wv;`;
  }
  const phaseC = mode === "stats" ? "" : mode === "dq"
    ? `
    for (var j = 0u; j < ${BS}u; j++) {
      let oc = min(o0 + j, segEnd - 1u) + rowBase;
      let w = ws[j * ${BT}u + r];
${range(SQ).map((jj) => `      acc${jj} += w * ld_k(oc, ${c4q(jj)});`).join("\n")}
    }`
    : `
    for (var j = 0u; j < ${BS}u; j++) {
      let oc = min(o0 + j, segEnd - 1u) + rowBase;
      let w = ws[j * ${BT}u + r];
      let w2 = ws2[j * ${BT}u + r];
${range(SQ).map((jj) => `      acc${jj} += w * ld_q(oc, ${c4q(jj)});`).join("\n")}
${range(SV).map((jj) => `      accv${jj} += w2 * ld_dh(oc, ${c4q(jj)});`).join("\n")}
    }`;

  // Loop range over the other side.
  const loopRange = rows
    ? `let oBegin = segStart;\n  let oEnd = min(segEnd, tileFirst + ${BT}u);`
    : `let oBegin = tileFirst;\n  let oEnd = segEnd;`;

  // State terms. Component-wise over the thread's DQK slice: C row a dotted with a DHV vector.
  const comps = ["x", "y", "z", "w"];
  const stBase = rows ? `(bh * u.NC + seg) * ${E}u` : `(bh * (u.NC + 1u) + seg) * ${E}u`;
  // One vec4 of a state row at float offset `o` (the row's start), vec4 column c4.
  const ldC = (o: string, c4: string, _abs: boolean) =>
    DHV % 4 === 0
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
  // Offsets of the thread's DQK rows of the state (clamped in range; out-of-range rows masked).
  const aOf = (j: number, c: number) => `(${c4q(j)}) * 4u + ${c}u`;
  const needMask = DQK % 4 !== 0 || gq;
  const offsets = range(SQ).flatMap((j) =>
    range(4).map((c) => `  let o${j}${c} = sb + min(${aOf(j, c)}, ${DQK - 1}u) * ${DHV}u;`)
  );
  const masks = needMask
    ? range(SQ).map((j) =>
      `  let mk${j} = vec4f(${
        range(4).map((c) => `select(0.0, 1.0, ${aOf(j, c)} < ${DQK}u)`).join(", ")
      });`
    )
    : [];
  const mask = (j: number, e: string) => (needMask ? `(${e}) * mk${j}` : e);
  const nVec = (j: number) =>
    `vec4f(${
      range(4).map((c) => `st[sb + ${DQK * DHV}u + min(${aOf(j, c)}, ${DQK - 1}u)]`).join(", ")
    })`;
  // Σ_c C[a,c] x_c for the thread's rows a, one fused loop over c.
  const rowDots = (x: string) => [
    ...range(SQ).map((j) => `  var uc${j} = vec4f(0.0);`),
    `  for (var c4 = 0u; c4 < ${DV4}u; c4++) {`,
    `    let xv = ${x}(rowC, c4);`,
    ...range(SQ).map((j) =>
      `    uc${j} += vec4f(${
        range(4).map((c) => `dot(${ldC(`o${j}${c}`, "c4", true)}, xv)`).join(", ")
      });`
    ),
    `  }`,
  ];
  if (p.inter && rows) {
    // uc[a] = C[a,:]·dh_own and nn[a] = n[a] for the thread's a.
    const lines: string[] = [`  let sb = ${stBase};`, ...offsets, ...masks, ...rowDots("ld_dh")];
    for (let j = 0; j < SQ; j++) {
      lines.push(`  let nn${j} = ${mask(j, nVec(j))};`);
      lines.push(`  let ucm${j} = ${mask(j, `uc${j}`)};`);
    }
    if (mode === "stats") {
      lines.push(
        `  den += u.scale * beta * (${sum(range(SQ).map((j) => `dot(a${j}, nn${j})`))});`,
      );
      lines.push(
        `  hd += u.scale * beta * (${sum(range(SQ).map((j) => `dot(a${j}, ucm${j})`))});`,
      );
    } else {
      for (let j = 0; j < SQ; j++) {
        lines.push(`  {
    let sc = u.scale * rown.w * (rown.y * ucm${j} + rown.z * nn${j});
    acc${j} += sc;
    offp += dot(a${j}, sc);
  }`);
      }
    }
    interCode = lines.join("\n");
  } else if (p.inter && !rows) {
    // dk[a] += ā (dC[a,:]·v_own + dn[a]); dv[c] += ā Σ_a k_own[a] dC[a,c].
    const lines: string[] = [
      `  let sb = ${stBase};`,
      `  let gEnd = gi[rowBase + segEnd - 1u];`,
      gate === "exp"
        ? `  let abar = exp(bdiff(gEnd, gown) + gown.y - mp[bh * (u.NC + 1u) + seg + 1u]);`
        : `  let abar = exp(bdiff(gEnd, gown) + gown.y);`,
      ...offsets,
      ...masks,
      ...rowDots("ld_v"),
    ];
    for (let j = 0; j < SQ; j++) {
      lines.push(`  {
    let sc = abar * (${mask(j, `uc${j} + ${nVec(j)}`)});
    acc${j} += sc;
    offp += dot(a${j}, sc);
  }`);
    }
    lines.push(...range(SV).map((j) => `  var sv${j} = vec4f(0.0);`));
    lines.push(`  for (var a = 0u; a < ${DQK}u; a++) {
    let kk = ld_k(rowC, a / 4u)[a % 4u];
    let oa = sb + a * ${DHV}u;
${
      range(SV).map((j) => `    sv${j} += kk * ${ldC("oa", `min(${c4q(j)}, ${DV4 - 1}u)`, true)};`)
        .join("\n")
    }
  }`);
    lines.push(...range(SV).map((j) => `  accv${j} += abar * sv${j};`));
    interCode = lines.join("\n");
  }

  // Final reductions and stores.
  let finish: string;
  if (mode === "stats") {
    const nrm = p.normalize
      ? `let nrm = max(abs(dsum), ${lower});
      let inv = 1.0 / (nrm + u.eps);
      var dden = 0.0;
      ${p.exact ? `if (abs(dsum) > ${lower}) { dden = -inv * (inv * hsum) * sign(dsum); }` : ""}`
      : `let inv = 1.0;\n      let dden = 0.0;`;
    finish = `
  xs[r * ${G}u + g] = den;
  ys[r * ${G}u + g] = hd;
  workgroupBarrier();
  if (g == 0u && valid) {
    var dsum = 0.0;
    var hsum = 0.0;
    for (var gg = 0u; gg < ${G}u; gg++) { dsum += xs[r * ${G}u + gg]; hsum += ys[r * ${G}u + gg]; }
    {
      ${nrm}
      rso[rowBase + own] = vec4f(mc, inv, dden, beta);
    }
  }`;
  } else if (mode === "dq") {
    finish = `
  if (valid) {
${range(SQ).map((j) => `    st_dq(rowBase + own, ${c4q(j)}, acc${j});`).join("\n")}
  }
  xs[r * ${G}u + g] = offp;
  workgroupBarrier();
  if (g == 0u && valid) {
    var s_ = 0.0;
    for (var gg = 0u; gg < ${G}u; gg++) { s_ += xs[r * ${G}u + gg]; }
    rsum[rowBase + own] = s_;
  }`;
  } else {
    finish = `
  if (valid) {
${range(SQ).map((j) => `    st_dk(rowBase + own, ${c4q(j)}, acc${j});`).join("\n")}
${range(SV).map((j) => `    st_dv(rowBase + own, ${c4q(j)}, accv${j});`).join("\n")}
  }
  xs[r * ${G}u + g] = ${sum(range(SQ).map((j) => `dot(a${j}, acc${j})`))};
  ys[r * ${G}u + g] = offp;
  workgroupBarrier();
  if (g == 0u && valid) {
    var s_ = 0.0;
    var o_ = 0.0;
    for (var gg = 0u; gg < ${G}u; gg++) { s_ += xs[r * ${G}u + gg]; o_ += ys[r * ${G}u + gg]; }
    csum[rowBase + own] = s_;
    csum[u.BH * u.S + rowBase + own] = o_;
  }`;
  }

  const ownRowData = mode === "stats"
    ? `  let gown = gi[rowC];\n  ${rowInit}`
    : mode === "dq"
    ? `  let gown = gi[rowC];\n  let rown = rs[rowC];`
    : `  let gown = gi[rowC];`;

  return `${enableF16(p.dtype, p.gateDtype)}${UNIFORMS}
${decl.join("\n")}
${ldstFn}
var<workgroup> xs: array<f32, ${BT * BS * G}>;
var<workgroup> ys: array<f32, ${BT * BS * G}>;
var<workgroup> ws: array<f32, ${BT * BS}>;
var<workgroup> ws2: array<f32, ${BT * BS}>;

@compute @workgroup_size(${BT * G})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let seg = wid.y;
  let bh = wid.z;
  let r = lid / ${G}u;
  let g = lid % ${G}u;
  let segStart = seg * u.L;
  let segEnd = min(u.S, segStart + u.L);
  let tileFirst = segStart + wid.x * ${BT}u;
  let own = tileFirst + r;
  let valid = own < segEnd;
  let rowBase = bh * u.S;
  let rowC = rowBase + min(own, segEnd - 1u);
${loadOwn}
${ownRowData}
${accDecl}
  ${loopRange}
  for (var o0 = oBegin; o0 < oEnd; o0 += ${BS}u) {
    for (var j = 0u; j < ${BS}u; j++) {
      let oc = min(o0 + j, segEnd - 1u) + rowBase;
      xs[(j * ${BT}u + r) * ${G}u + g] = ${px};
      ys[(j * ${BT}u + r) * ${G}u + g] = ${py};
    }
    workgroupBarrier();
    for (var j = g; j < ${BS}u; j += ${G}u) {
      let o = o0 + j;
      var X = 0.0;
      var Y = 0.0;
      for (var gg = 0u; gg < ${G}u; gg++) {
        X += xs[(j * ${BT}u + r) * ${G}u + gg];
        Y += ys[(j * ${BT}u + r) * ${G}u + gg];
      }
      let ok = valid && o < segEnd && ${rows ? "o <= own" : "o >= own"};${phaseB}
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
  let bh = wid.z;
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
  let ob = (bh * (u.NC + 1u) + seg) * ${E}u;
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
export function scanWgsl(p: BwParams, dir: "fwd" | "bwd", withInit: boolean): string {
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
  let bh = gid.y;
  let live = gid.x < ${E}u;
  ${init}
  if (gid.x == 0u) { mp[bh * (u.NC + 1u)] = m; }
  for (var k = 0u; k < u.NC; k++) {
    let ob = (bh * u.NC + k) * ${E}u;
    let oc = (bh * (u.NC + 1u) + k) * ${E}u;
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
    if (gid.x == 0u) { mp[bh * (u.NC + 1u) + k + 1u] = m; }
  }
}
`;
  }
  return `${UNIFORMS}
@group(0) @binding(0) var<storage, read> gi: array<vec4f>;
@group(0) @binding(1) var<storage, read> mp: array<f32>;
@group(0) @binding(2) var<storage, read_write> da: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= ${E}u) { return; }
  let e = gid.x;
  let bh = gid.y;
  var acc = 0.0;
  for (var kk = u.NC; kk > 0u; kk--) {
    let k = kk - 1u;
    let ob = (bh * (u.NC + 1u) + k) * ${E}u;
    let gk = da[ob + e];
    da[ob + e] = acc;
    let last = bh * u.S + min(u.S, (k + 1u) * u.L) - 1u;
    let gl = gi[last];
    let decay = ${
    exp
      ? "exp((gl.x + gl.w) + mp[bh * (u.NC + 1u) + k] - mp[bh * (u.NC + 1u) + k + 1u])"
      : "exp(gl.x + gl.w)"
  };
    acc = decay * acc + gk;
  }
  da[(bh * (u.NC + 1u) + u.NC) * ${E}u + e] = acc;
  _ = mp[0];
}
`;
}

/**
 * The gate gradients from the row sums Σ q⊙dq and the column sums Σ k⊙dk, one workgroup of 64
 * threads per head: di_s = csum_s (times σ(-i_s) for the sigmoid gate) and
 * df_r = σ(-f_r) Σ_{t≥r} (rsum_t - csumOff_t), a reverse cumulative sum done as 64 contiguous
 * segments. With initial states it also writes dcInitial, dnInitial (from the scan's last slot)
 * and, for the exponential gate, dmInitial = Σ dC0⊙C0 + dn0·n0.
 * Bindings: i, f, rsum, csum, di, df, [da, c0, n0, dc0, dn0, dm0], uniforms.
 */
export function gatesWgsl(p: BwParams, withInit: boolean): string {
  const T = p.gateDtype === "f16" ? "f16" : "f32";
  const { DQK, DHV } = p;
  const E = DQK * DHV + DQK;
  let b = 0;
  const decl = [
    `@group(0) @binding(${b++}) var<storage, read> ig: array<${T}>;`,
    `@group(0) @binding(${b++}) var<storage, read> fg: array<${T}>;`,
    `@group(0) @binding(${b++}) var<storage, read> rsum: array<f32>;`,
    `@group(0) @binding(${b++}) var<storage, read> csum: array<f32>;`,
    `@group(0) @binding(${b++}) var<storage, read_write> di: array<${T}>;`,
    `@group(0) @binding(${b++}) var<storage, read_write> df: array<${T}>;`,
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
  decl.push(`@group(0) @binding(${b++}) var<uniform> u: U;`);
  const initCode = withInit
    ? `
  let ob = (bh * (u.NC + 1u) + u.NC) * ${E}u;
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
    dm0[bh] = ${p.gate === "exp" ? "s_" : "0.0 * s_"};
  }`
    : "";
  return `${enableF16(p.gateDtype)}${WGSL_GATES}${UNIFORMS}
${decl.join("\n")}
var<workgroup> red: array<f32, 64>;
fn sigm(x: f32) -> f32 { return select(exp(x) / (1.0 + exp(x)), 1.0 / (1.0 + exp(-x)), x >= 0.0); }
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let bh = wid.x;
  let per = (u.S + 63u) / 64u;
  let t0 = min(u.S, lid * per);
  let t1 = min(u.S, t0 + per);
  let base = bh * u.S;
  var loc = 0.0;
  let off = u.BH * u.S;
  for (var t = t0; t < t1; t++) { loc += rsum[base + t] - csum[off + base + t]; }
  red[lid] = loc;
  workgroupBarrier();
  var acc = 0.0;
  for (var j = lid + 1u; j < 64u; j++) { acc += red[j]; }
  for (var tt = t1; tt > t0; tt--) {
    let t = tt - 1u;
    let cs = csum[base + t];
    acc += rsum[base + t] - csum[off + base + t];
    df[base + t] = ${T}(sigm(-f32(fg[base + t])) * acc);
    di[base + t] = ${T}(${p.gate === "exp" ? "cs" : "cs * sigm(-f32(ig[base + t]))"});
  }${initCode}
  _ = ig[0];
}
`;
}
