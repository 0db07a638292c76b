// WGSL of the sLSTM kernels (SPEC §8), one generator per kernel of the family, all unrolled by
// TypeScript: the forward loop over time, the backward loop over time in reverse, and the
// reduction of dR and dbias over batch and time. Not exported from mod.ts (the launchers are).
//
// Thread layout of the two time loops: one workgroup per (batch, head), DH·P threads; thread
// (j, p) (index p·DH + j, so neighbouring threads take neighbouring j and loads coalesce) owns
// state element j and the slice d ∈ [p·L, (p+1)·L) of the recurrent sum, L = DH/P. Every thread of
// element j computes the pointwise part itself (no broadcast of the gates needed); the P partial
// sums meet in workgroup memory.

import { enableF16, WGSL_GATES } from "../_common.ts";
import type { StorageDtype } from "../runtime.ts";

/** Where r lives during the loop over time (the resolved form of the `rStorage` option). */
export type RPlace = "registers" | "workgroup" | "workgroup-f16" | "global" | "global-f16";

/** Everything that changes the WGSL of the two time loops. */
export interface SlstmLoopParams {
  /** Heads. */
  NH: number;
  /** Head size. */
  DH: number;
  /** Threads per state element (they split the recurrent sum over d). */
  P: number;
  /** Storage of wx, y (forward) and dy, dwx (backward). */
  dtype: StorageDtype;
  /** Where r lives. */
  place: RPlace;
  /** Forward only: also write the trace (raw gates, c, n, m per step) the backward reads. */
  save: boolean;
}

/** Workgroup storage of the time loops, bytes. */
export function loopWorkgroupBytes(p: SlstmLoopParams, backward: boolean): number {
  const { DH, P, place } = p;
  const rBytes = place === "workgroup"
    ? 4 * DH * (4 * DH + 1)
    : place === "workgroup-f16"
    ? Math.ceil((2 * DH * (4 * DH + 1)) / 4) * 4
    : 0;
  const shared = backward ? 4 * (4 * DH + P * DH) : 4 * (2 * DH + (P > 1 ? 4 * P * DH : 0));
  return rBytes + shared + 4;
}

/** Row stride of r in workgroup memory: one pad element per d-row keeps the backward's reads of
 * r[d, g, ·] along d (neighbouring threads, neighbouring d) off a single bank. */
const rowStride = (DH: number) => 4 * DH + 1;

/** Declarations and the cooperative load of r into workgroup memory (workgroup places only). */
function rPrelude(p: SlstmLoopParams): { decl: string; load: string } {
  const { DH, P, place } = p;
  if (place !== "workgroup" && place !== "workgroup-f16") return { decl: "", load: "" };
  const et = place === "workgroup" ? "f32" : "f16";
  const n = 4 * DH * DH;
  return {
    decl: `var<workgroup> rs: array<${et}, ${DH * rowStride(DH)}>;`,
    load: `  for (var e = tid; e < ${n}u; e += ${DH * P}u) {
    let d = e / ${4 * DH}u;
    rs[d * ${rowStride(DH)}u + e % ${4 * DH}u] = ${et}(r[h * ${n}u + e]);
  }
  workgroupBarrier();`,
  };
}

/** WGSL expression of r[h, d, g, j] for the place (d, j as WGSL expressions). */
function rAt(p: SlstmLoopParams, d: string, g: number, j: string): string {
  const { DH } = p;
  if (p.place === "global") return `r[rBase + (${d}) * ${4 * DH}u + ${g * DH}u + ${j}]`;
  if (p.place === "global-f16") {
    return `f32(r[rBase + (${d}) * ${4 * DH}u + ${g * DH}u + ${j}])`;
  }
  if (p.place === "workgroup") return `rs[(${d}) * ${rowStride(DH)}u + ${g * DH}u + ${j}]`;
  return `f32(rs[(${d}) * ${rowStride(DH)}u + ${g * DH}u + ${j}])`;
}

/** Element type of the r binding: f16 for the global-f16 placement (an f16 copy of r). */
const rType = (p: SlstmLoopParams) => (p.place === "global-f16" ? "f16" : "f32");

const header = (p: SlstmLoopParams, key: string) =>
  `${
    enableF16(p.dtype, p.place.endsWith("f16") ? "f16" : "f32")
  }// ${key}\nstruct Uniforms { S: u32, B: u32, pad0: u32, pad1: u32 }\n`;

const GATE_FNS = `${WGSL_GATES}
fn sigm(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn tanh_(x: f32) -> f32 { return tanh(clamp(x, -15.0, 15.0)); }
`;

/**
 * The indices both time loops start with: batch row and head of the workgroup, state element j and
 * recurrent-sum slice p of the thread, and where r and the states begin.
 */
function loopIndices({ NH, DH, P }: SlstmLoopParams): string {
  const L = DH / P;
  return `  let bh = wid.x;
  let b = bh / ${NH}u;
  let h = bh % ${NH}u;
  let j = tid % ${DH}u;
  let p = tid / ${DH}u;
  let p0 = p * ${L}u;
  let rBase = h * ${4 * DH * DH}u;
  let sIdx = bh * ${DH}u + j;
  let sStride = u.B * ${NH * DH}u;
`;
}

/**
 * The forward time loop: bindings wx, r, bias, s0 (4, B, NH, DH: y, c, n, m before the first step),
 * y, sLast (4, B, NH, DH), [trace (B, S, 7, NH, DH): raw i, f, z, o, then c, n, m], uniforms.
 * Workgroups: (B·NH).
 */
export function forwardWgsl(p: SlstmLoopParams, key: string): string {
  const { NH, DH, P, dtype, place, save } = p;
  const L = DH / P;
  const SD = dtype;
  const bindings: [string, string, string][] = [
    ["wx", "read", SD],
    ["r", "read", rType(p)],
    ["bias", "read", "f32"],
    ["s0", "read", "f32"],
    ["y", "read_write", SD],
    ["sLast", "read_write", "f32"],
    ...(save ? [["trace", "read_write", "f32"] as [string, string, string]] : []),
  ];
  const decl = bindings.map(([n, a, t], k) =>
    `@group(0) @binding(${k}) var<storage, ${a}> ${n}: array<${t}>;`
  ).join("\n");
  const { decl: rDecl, load: rLoad } = rPrelude(p);
  // r in registers: the thread's slice, loaded once before the loop.
  const rRegs = place === "registers"
    ? Array.from(
      { length: L },
      (_, k) =>
        [0, 1, 2, 3].map((g) =>
          `  let r${k}_${g} = r[rBase + (p0 + ${k}u) * ${4 * DH}u + ${g * DH}u + j];`
        ).join("\n"),
    ).join("\n")
    : "";
  const rv = (k: number, g: number) =>
    place === "registers" ? `r${k}_${g}` : rAt(p, `p0 + ${k}u`, g, "j");
  // Two accumulators per gate (even and odd k) halve the chain of dependent FMAs per step.
  const acc = (k: number) => (k % 2 === 0 ? "a" : "e");
  const dot = Array.from({ length: L }, (_, k) =>
    `    {
      let yd = ys[yb + p0 + ${k}u];
      ${acc(k)}0 += yd * ${rv(k, 0)};
      ${acc(k)}1 += yd * ${rv(k, 1)};
      ${acc(k)}2 += yd * ${rv(k, 2)};
      ${acc(k)}3 += yd * ${rv(k, 3)};
    }`).join("\n") +
    "\n    a0 += e0;\n    a1 += e1;\n    a2 += e2;\n    a3 += e3;";
  const sum = (g: number) =>
    P > 1
      ? Array.from({ length: P }, (_, q) => `part[${(g * P + q) * DH}u + j]`).join(" + ")
      : `a${g}`;
  const partWrite = P > 1
    ? `    part[${0 * P * DH}u + p * ${DH}u + j] = a0;
    part[${1 * P * DH}u + p * ${DH}u + j] = a1;
    part[${2 * P * DH}u + p * ${DH}u + j] = a2;
    part[${3 * P * DH}u + p * ${DH}u + j] = a3;
    workgroupBarrier();`
    : "";
  const traceWrite = save
    ? `      let tb = (b * u.S + t) * ${7 * NH * DH}u + h * ${DH}u + j;
      trace[tb] = rawI;
      trace[tb + ${NH * DH}u] = rawF;
      trace[tb + ${2 * NH * DH}u] = rawZ;
      trace[tb + ${3 * NH * DH}u] = rawO;
      trace[tb + ${4 * NH * DH}u] = c;
      trace[tb + ${5 * NH * DH}u] = n;
      trace[tb + ${6 * NH * DH}u] = m;`
    : "";
  return `${header(p, key)}${decl}
@group(0) @binding(${bindings.length}) var<uniform> u: Uniforms;
${GATE_FNS}
var<workgroup> ys: array<f32, ${2 * DH}>;
${P > 1 ? `var<workgroup> part: array<f32, ${4 * P * DH}>;` : ""}
${rDecl}
var<workgroup> anyN: atomic<u32>;

fn loadWx(xb: u32) -> vec4<f32> {
  return vec4<f32>(f32(wx[xb]), f32(wx[xb + ${NH * DH}u]), f32(wx[xb + ${2 * NH * DH}u]),
    f32(wx[xb + ${3 * NH * DH}u]));
}

@compute @workgroup_size(${DH * P})
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3u) {
${loopIndices(p)}  var c = s0[sIdx + sStride];
  var n = s0[sIdx + 2u * sStride];
  var m = s0[sIdx + 3u * sStride];
  if (tid == 0u) { atomicStore(&anyN, 0u); }
  if (p == 0u) { ys[j] = s0[sIdx]; }
  workgroupBarrier();
  if (p == 0u && n != 0.0) { atomicOr(&anyN, 1u); }
${rLoad}
  workgroupBarrier();
  // m_t = raw_i at a step whose n_{t-1} is all zeros: only the first step can be one (n ≥ 0 stays
  // nonzero: one of fa, ia is 1 at every later step), so the test runs once, on the initial n.
  var zeroN = atomicLoad(&anyN) == 0u;
  let bI = bias[h * ${4 * DH}u + j];
  let bF = bias[h * ${4 * DH}u + ${DH}u + j];
  let bZ = bias[h * ${4 * DH}u + ${2 * DH}u + j];
  let bO = bias[h * ${4 * DH}u + ${3 * DH}u + j];
${rRegs}
  var yOut = s0[sIdx];
  // wx of the next step is loaded one step ahead: its latency hides behind this step's work.
  var xNext = loadWx(b * u.S * ${4 * NH * DH}u + h * ${DH}u + j);
  for (var t = 0u; t < u.S; t++) {
    let xI = xNext.x;
    let xF = xNext.y;
    let xZ = xNext.z;
    let xO = xNext.w;
    if (t + 1u < u.S) { xNext = loadWx((b * u.S + t + 1u) * ${4 * NH * DH}u + h * ${DH}u + j); }
    let yb = (t & 1u) * ${DH}u;
    var a0 = 0.0;
    var a1 = 0.0;
    var a2 = 0.0;
    var a3 = 0.0;
    var e0 = 0.0;
    var e1 = 0.0;
    var e2 = 0.0;
    var e3 = 0.0;
${dot}
${partWrite}
    let rawI = xI + bI + ${sum(0)};
    let rawF = xF + bF + ${sum(1)};
    let rawZ = xZ + bZ + ${sum(2)};
    let rawO = xO + bO + ${sum(3)};
    let lfm = logsig(rawF) + m;
    let mt = select(max(rawI, lfm), rawI, zeroN);
    let ia = min(exp(rawI - mt), 1.0);
    let fa = min(exp(lfm - mt), 1.0);
    c = fa * c + ia * tanh_(rawZ);
    n = fa * n + ia;
    m = mt;
    zeroN = false;
    yOut = sigm(rawO) * c / n;
    if (p == 0u) {
      ys[${DH}u - yb + j] = yOut;
      y[(b * u.S + t) * ${NH * DH}u + h * ${DH}u + j] = ${SD}(yOut);
${traceWrite}
    }
    workgroupBarrier();
  }
  if (p == 0u) {
    sLast[sIdx] = yOut;
    sLast[sIdx + sStride] = c;
    sLast[sIdx + 2u * sStride] = n;
    sLast[sIdx + 3u * sStride] = m;
  }
}
`;
}

/**
 * The backward time loop (reverse): bindings dy, r, trace, s0, dwx, dS0 (4, B, NH, DH: gradients
 * of y, c, n, m before the first step), uniforms. Workgroups: (B·NH).
 */
export function backwardWgsl(p: SlstmLoopParams, key: string): string {
  const { NH, DH, P, dtype, place } = p;
  const L = DH / P;
  const SD = dtype;
  const bindings: [string, string, string][] = [
    ["dy", "read", SD],
    ["r", "read", rType(p)],
    ["trace", "read", "f32"],
    ["s0", "read", "f32"],
    ["dwx", "read_write", SD],
    ["dS0", "read_write", "f32"],
  ];
  const decl = bindings.map(([n, a, t], k) =>
    `@group(0) @binding(${k}) var<storage, ${a}> ${n}: array<${t}>;`
  ).join("\n");
  const { decl: rDecl, load: rLoad } = rPrelude(p);
  // Thread (j, p) here computes, for d = j, the slice j' ∈ [p·L, (p+1)·L) of
  // Σ_{g, j'} r[d, g, j']·draw[g, j'].
  const rRegs = place === "registers"
    ? Array.from(
      { length: L },
      (_, k) =>
        [0, 1, 2, 3].map((g) =>
          `  let r${k}_${g} = r[rBase + j * ${4 * DH}u + ${g * DH}u + p0 + ${k}u];`
        ).join("\n"),
    ).join("\n")
    : "";
  // Global places read the transposed copy rT[h, g, j', d] (neighbouring threads, neighbouring d).
  const rv = (k: number, g: number) =>
    place === "registers"
      ? `r${k}_${g}`
      : place.startsWith("global")
      ? `${place === "global-f16" ? "f32(" : "("}r[rBase + (${g * DH}u + p0 + ${k}u) * ${DH}u + j])`
      : rAt(p, "j", g, `p0 + ${k}u`);
  const dot = Array.from(
    { length: L },
    (_, k) =>
      `    ${k % 2 === 0 ? "acc" : "acc2"} += ${
        [0, 1, 2, 3].map((g) => `ds[${g * DH}u + p0 + ${k}u] * ${rv(k, g)}`).join(" + ")
      };`,
  ).join("\n");
  const dyRec = Array.from({ length: P }, (_, q) => `part[${q * DH}u + j]`).join(" + ");
  return `${header(p, key)}${decl}
@group(0) @binding(${bindings.length}) var<uniform> u: Uniforms;
${GATE_FNS}
var<workgroup> ds: array<f32, ${4 * DH}>;
var<workgroup> part: array<f32, ${P * DH}>;
${rDecl}
var<workgroup> anyN: atomic<u32>;

/** What step t reads: its raw gates, its c, n, m, those before it, and dy. */
struct Step { raw: vec4<f32>, cnm: vec3<f32>, prev: vec3<f32>, dy: f32 }

fn loadStep(b: u32, h: u32, j: u32, t: u32, sIdx: u32, sStride: u32) -> Step {
  let tb = (b * u.S + t) * ${7 * NH * DH}u + h * ${DH}u + j;
  var st: Step;
  st.raw = vec4<f32>(trace[tb], trace[tb + ${NH * DH}u], trace[tb + ${2 * NH * DH}u],
    trace[tb + ${3 * NH * DH}u]);
  st.cnm = vec3<f32>(trace[tb + ${4 * NH * DH}u], trace[tb + ${5 * NH * DH}u],
    trace[tb + ${6 * NH * DH}u]);
  if (t > 0u) {
    let pb = tb - ${7 * NH * DH}u;
    st.prev = vec3<f32>(trace[pb + ${4 * NH * DH}u], trace[pb + ${5 * NH * DH}u],
      trace[pb + ${6 * NH * DH}u]);
  } else {
    st.prev = vec3<f32>(s0[sIdx + sStride], s0[sIdx + 2u * sStride], s0[sIdx + 3u * sStride]);
  }
  st.dy = f32(dy[(b * u.S + t) * ${NH * DH}u + h * ${DH}u + j]);
  return st;
}

@compute @workgroup_size(${DH * P})
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3u) {
${loopIndices(p)}  if (tid == 0u) { atomicStore(&anyN, 0u); }
  part[p * ${DH}u + j] = 0.0;
  workgroupBarrier();
  if (p == 0u && s0[sIdx + 2u * sStride] != 0.0) { atomicOr(&anyN, 1u); }
${rLoad}
  workgroupBarrier();
  let zeroN0 = atomicLoad(&anyN) == 0u;
${rRegs}
  var dc = 0.0;
  var dn = 0.0;
  var dm = 0.0;
  // Everything a step reads that does not depend on the recurrence is loaded one step ahead.
  var next = loadStep(b, h, j, u.S - 1u, sIdx, sStride);
  for (var s = 0u; s < u.S; s++) {
    let t = u.S - 1u - s;
    let cur = next;
    if (t > 0u) { next = loadStep(b, h, j, t - 1u, sIdx, sStride); }
    let rawI = cur.raw.x;
    let rawF = cur.raw.y;
    let rawZ = cur.raw.z;
    let rawO = cur.raw.w;
    let ct = cur.cnm.x;
    let nt = cur.cnm.y;
    let mt = cur.cnm.z;
    let cp = cur.prev.x;
    let np = cur.prev.y;
    let mp = cur.prev.z;
    let zero = zeroN0 && t == 0u;
    let lfm = logsig(rawF) + mp;
    let eI = exp(rawI - mt);
    let eF = exp(lfm - mt);
    let ia = min(eI, 1.0);
    let fa = min(eF, 1.0);
    let zt = tanh_(rawZ);
    let og = sigm(rawO);
    let dyt = cur.dy + ${dyRec};
    let dcT = dc + dyt * og / nt;
    let dnT = dn - dyt * og * ct / (nt * nt);
    let dia = dcT * zt + dnT;
    let dfa = dcT * cp + dnT * np;
    var diR = 0.0;
    var da = 0.0;
    var dmT = dm;
    if (eI <= 1.0) { diR += dia * ia; dmT -= dia * ia; }
    if (eF <= 1.0) { da += dfa * fa; dmT -= dfa * fa; }
    if (zero || rawI >= lfm) { diR += dmT; } else { da += dmT; }
    let dI = diR;
    let dF = da * sigm(-rawF);
    let dZ = dcT * ia * (1.0 - zt * zt);
    let dO = dyt * (ct / nt) * og * (1.0 - og);
    dc = dcT * fa;
    dn = dnT * fa;
    dm = da;
    if (p == 0u) {
      let xb = (b * u.S + t) * ${4 * NH * DH}u + h * ${DH}u + j;
      dwx[xb] = ${SD}(dI);
      dwx[xb + ${NH * DH}u] = ${SD}(dF);
      dwx[xb + ${2 * NH * DH}u] = ${SD}(dZ);
      dwx[xb + ${3 * NH * DH}u] = ${SD}(dO);
      ds[j] = dI;
      ds[${DH}u + j] = dF;
      ds[${2 * DH}u + j] = dZ;
      ds[${3 * DH}u + j] = dO;
    }
    workgroupBarrier();
    var acc = 0.0;
    var acc2 = 0.0;
${dot}
    part[p * ${DH}u + j] = acc + acc2;
    workgroupBarrier();
  }
  if (p == 0u) {
    dS0[sIdx] = ${dyRec};
    dS0[sIdx + sStride] = dc;
    dS0[sIdx + 2u * sStride] = dn;
    dS0[sIdx + 3u * sStride] = dm;
  }
}
`;
}

/** Tile of the dR reduction: TM rows (d) × TN columns (g·DH + j) per thread, 64 threads. */
export interface SlstmDrParams {
  /** Heads. */
  NH: number;
  /** Head size. */
  DH: number;
  /** Storage of y and dwx. */
  dtype: StorageDtype;
  /** Rows per thread (divides DH). */
  TM: number;
  /** Columns per thread (divides 4·DH). */
  TN: number;
}

/** Elements of one split's partial sums: dR (NH·DH·4·DH) then dbias (NH·4·DH). */
export const drPartSize = (NH: number, DH: number) => NH * 4 * DH * DH + NH * 4 * DH;

/**
 * Partial sums of dR[h, d, g, j] = Σ_{b,t} y_{t-1}[b, h, d]·draw_t[b, g, h, j] and dbias[h, g, j] =
 * Σ_{b,t} draw_t[b, g, h, j] over one split of the B·S rows (rows [z·u.chunk, (z+1)·u.chunk)):
 * bindings y, s0 (its y part is y before the first step), dwx, part (splits × drPartSize),
 * uniforms. Workgroups: (⌈tiles / 64⌉, NH, splits). Splitting the rows gives the GPU enough threads
 * (one tile of a head alone would loop over all B·S rows); {@linkcode drReduceWgsl} adds the splits
 * in a fixed order, so the result is deterministic.
 */
export function drWgsl(p: SlstmDrParams, key: string): string {
  const { NH, DH, dtype, TM, TN } = p;
  const tilesN = (4 * DH) / TN;
  const tiles = (DH / TM) * tilesN;
  const acc: string[] = [];
  const loadsY: string[] = [];
  const loadsX: string[] = [];
  for (let a = 0; a < TM; a++) {
    loadsY.push(
      `    let y${a} = select(f32(y[yRow + d0 + ${a}u]), s0[y0Row + d0 + ${a}u], t == 0u);`,
    );
  }
  for (let c = 0; c < TN; c++) {
    loadsX.push(`    let x${c} = f32(dwx[xRow + col${c}]);`);
    for (let a = 0; a < TM; a++) acc.push(`    s${a}_${c} += y${a} * x${c};`);
  }
  const decl = Array.from(
    { length: TM * TN },
    (_, k) => `  var s${Math.floor(k / TN)}_${k % TN} = 0.0;`,
  ).join("\n");
  const cols = Array.from({ length: TN }, (_, c) =>
    `  let n${c} = nb + ${c}u;
  let col${c} = (n${c} / ${DH}u) * ${NH * DH}u + h * ${DH}u + n${c} % ${DH}u;
  var bs${c} = 0.0;`).join("\n");
  const bsum = Array.from({ length: TN }, (_, c) => `    bs${c} += x${c};`).join("\n");
  const stores: string[] = [];
  for (let a = 0; a < TM; a++) {
    for (let c = 0; c < TN; c++) {
      stores.push(
        `  part[pb + h * ${4 * DH * DH}u + (d0 + ${a}u) * ${4 * DH}u + n${c}] = s${a}_${c};`,
      );
    }
  }
  const bstores = Array.from(
    { length: TN },
    (_, c) => `    part[pb + ${NH * 4 * DH * DH}u + h * ${4 * DH}u + n${c}] = bs${c};`,
  ).join("\n");
  return `${enableF16(dtype)}// ${key}
struct Uniforms { S: u32, B: u32, chunk: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> y: array<${dtype}>;
@group(0) @binding(1) var<storage, read> s0: array<f32>;
@group(0) @binding(2) var<storage, read> dwx: array<${dtype}>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;
@group(0) @binding(4) var<uniform> u: Uniforms;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let tile = gid.x;
  if (tile >= ${tiles}u) { return; }
  let h = gid.y;
  let pb = gid.z * ${drPartSize(NH, DH)}u;
  let d0 = (tile / ${tilesN}u) * ${TM}u;
  let nb = (tile % ${tilesN}u) * ${TN}u;
${cols}
${decl}
  let rows = u.B * u.S;
  let first = gid.z * u.chunk;
  let last = min(rows, first + u.chunk);
  for (var bt = first; bt < last; bt++) {
    let b = bt / u.S;
    let t = bt % u.S;
    let y0Row = (b * ${NH}u + h) * ${DH}u;
    let yRow = (bt - select(1u, 0u, t == 0u)) * ${NH * DH}u + h * ${DH}u;
    let xRow = bt * ${4 * NH * DH}u;
${loadsY.join("\n")}
${loadsX.join("\n")}
${acc.join("\n")}
${bsum}
  }
${stores.join("\n")}
  if (d0 == 0u) {
${bstores}
  }
}
`;
}

/**
 * dR and dbias from the splits' partial sums, added in split order: bindings part, dr, dbias,
 * uniforms { splits }. Workgroups: ⌈drPartSize / 256⌉.
 */
export function drReduceWgsl(NH: number, DH: number, key: string): string {
  const nr = NH * 4 * DH * DH;
  const total = drPartSize(NH, DH);
  return `// ${key}
struct Uniforms { splits: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> dr: array<f32>;
@group(0) @binding(2) var<storage, read_write> dbias: array<f32>;
@group(0) @binding(3) var<uniform> u: Uniforms;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.y * 65535u * 256u + gid.x;
  if (i >= ${total}u) { return; }
  var s = 0.0;
  for (var z = 0u; z < u.splits; z++) { s += part[z * ${total}u + i]; }
  if (i < ${nr}u) { dr[i] = s; } else { dbias[i - ${nr}u] = s; }
}
`;
}

/**
 * The copy of r that the loops read from global memory: rounded to f16 (global-f16) and/or, for the
 * backward, transposed to rT[h, g, j, d] = r[h, d, g, j], so that the backward's threads (one per d)
 * read neighbouring addresses. Bindings r, out; workgroups ⌈NH·4·DH² / 256⌉ (x up to 65535, then y).
 */
export function rCopyWgsl(
  NH: number,
  DH: number,
  f16: boolean,
  transpose: boolean,
  key: string,
): string {
  const n = NH * 4 * DH * DH;
  const et = f16 ? "f16" : "f32";
  // Output index i = ((h·4 + g)·DH + j)·DH + d when transposed; the input index is r's.
  const src = transpose
    ? `let d = i % ${DH}u;
  let j = (i / ${DH}u) % ${DH}u;
  let hg = i / ${DH * DH}u;
  let src = ((hg / 4u) * ${DH}u + d) * ${4 * DH}u + (hg % 4u) * ${DH}u + j;`
    : "let src = i;";
  return `${enableF16(et)}// ${key}
@group(0) @binding(0) var<storage, read> r: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<${et}>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.y * 65535u * 256u + gid.x;
  if (i >= ${n}u) { return; }
  ${src}
  out[i] = ${et}(r[src]);
}
`;
}

/** FLOP of one step of the forward per (batch, head): the 4·DH × DH product (2 per FMA). */
export function forwardStepFlops(DH: number): number {
  return 8 * DH * DH;
}
