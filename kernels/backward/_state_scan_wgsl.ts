// The chunkwise backward's state recomputation in one pass (issue #14): the register-blocked outer
// product of every chunk (`outerBlockWgsl` "state") and the forward scan over chunks (`scanWgsl`
// "fwd") fused, as the forward's state kernel does. A workgroup owns a 64 × 128 (or 64 × 64) tile of
// C (and the tile's 64 entries of n) of one head and walks the chunks in order with the state in
// registers: it writes the state before chunk k (cprev, and the stabilizer mp), scales it by the
// chunk's decay and adds the chunk's weighted k vᵀ. The per-chunk products Ĉ are never written, so
// the Ĉ write and read of the two-pass form (2 × 4·NC·E bytes per head) are saved.
//
// The reverse pass (`dir` "bwd") fuses `outerBlockWgsl` "dstate" and `scanWgsl` "bwd" the same way:
// walking the chunks backwards it writes the state gradient after chunk k (da slot k), scales it by
// the chunk's decay and adds the chunk's Σ_t q_t (w_t dh_t)ᵀ; slot NC gets the initial state's.
//
// Same bindings as scan "fwd" with k, v in front of them, same outputs: cprev (NC states per head,
// E = DQK·DHV + DQK floats each), mp (NC + 1 stabilizers per head), clast with `withLast`. The
// weights: exponential gate, m_k+1 = max(g_k + m_k, mloc_k), C ← exp(g_k + m_k − m_k+1) C +
// Σ_j exp(b_L − b_j + ĩ_j − m_k+1) k_j v_jᵀ (the two-pass form multiplies exp(mloc − m_k+1) by
// exp(b_L − b_j + ĩ_j − mloc) instead); sigmoid gate, C ← exp(g_k) C + Σ_j exp(b_L − b_j + ĩ_j) k_j
// v_jᵀ.

import { enableF16 } from "../_common.ts";
import { type BwParams, chunkStateAddressing, matrix, UNIFORMS } from "./_wgsl.ts";
import { outerCols, stagedOuterProducts } from "./_block_wgsl.ts";

const range = (n: number) => Array.from({ length: n }, (_, j) => j);

/** Workgroups of {@linkcode stateScanWgsl} per head. */
export function stateScanTiles(DQK: number, DHV: number): number {
  return (DQK / 64) * (DHV / outerCols(DHV));
}

/** Workgroup storage of {@linkcode stateScanWgsl} in bytes, staging `rows` rows at a time. */
export function stateScanSharedBytes(DHV: number, rows = 16): number {
  return 8 * 64 + 16 * rows * 16 + 16 * rows * (outerCols(DHV) / 4);
}

/**
 * Storage buffers {@linkcode stateScanWgsl} binds (devices with fewer per shader stage run the
 * two-pass form).
 */
export function stateScanStorageBuffers(
  dir: "fwd" | "bwd",
  withInit: boolean,
  withLast: boolean,
): number {
  return dir === "fwd" ? 5 + (withInit ? 3 : 0) + (withLast ? 1 : 0) : 6 + (withLast ? 2 : 0);
}

/**
 * The fused state recomputation (DQK, DHV multiples of 64). Bindings, "fwd": k, v, gi, [c0, n0,
 * m0], cprev, mp, [clast] (withInit, withLast), uniforms; "bwd": q, dh, gi, rs, mp, [dlc, dln]
 * (withLast), da, uniforms. Grid: (stateScanTiles, 1, heads of the group). `prefetch`: the
 * next 16 rows' loads are issued before the current rows' products (speed variant of issue #14).
 * `savedStates` ("bwd" only): `mp` is the forward's `statesNM`, m read from its slots
 * (`chunkStateAddressing` in `_wgsl.ts`). `rows`: the chunk's rows staged 16 (the default) or 32
 * at a time (issue #14, speed variant `scan32`: half the barriers, 24 KiB at DHV 128·k).
 */
export function stateScanWgsl(
  p: BwParams,
  withInit: boolean,
  withLast: boolean,
  dir: "fwd" | "bwd" = "fwd",
  prefetch = false,
  savedStates = false,
  rows = 16,
): string {
  const { DQK, DHV } = p;
  const fwd = dir === "fwd";
  if (fwd && savedStates) throw new RangeError("savedStates: the reverse scan only");
  const exp = p.gate === "exp";
  const E4 = (DQK * DHV + DQK) / 4;
  const DV4 = DHV / 4;
  const TC = outerCols(DHV), NCC = TC / 64, TC4 = TC / 4;
  const I = range(4);
  // The forward pass: the states before each chunk from k, v (one weight per row: wsh is f32);
  // the reverse pass: the state gradients from q, dh (C's and n's weights differ: vec2f).
  const [xn, yn] = fwd ? ["k", "v"] : ["q", "dh"];
  const [out, initC, initN] = fwd ? ["cprev", "c0", "n0"] : ["da", "dlc", "dln"];
  const withStart = fwd ? withInit : withLast;
  const [wT, wX, wN] = fwd ? ["f32", "", ""] : ["vec2f", ".x", ".y"];
  let b = 0;
  const rd = (name: string, t = "vec4f") =>
    `@group(0) @binding(${b++}) var<storage, read> ${name}: array<${t}>;`;
  const rw = (name: string, t = "vec4f") =>
    `@group(0) @binding(${b++}) var<storage, read_write> ${name}: array<${t}>;`;
  const decl = [
    matrix(xn, b++, DQK, p.dtype, "read", false),
    matrix(yn, b++, DHV, p.dtype, "read", false),
    rd("gi"),
    ...(fwd
      ? [
        ...(withInit ? [rd("c0"), rd("n0"), rd("m0", "f32")] : []),
        rw("cprev"),
        rw("mp", "f32"),
        ...(withLast ? [rw("clast")] : []),
      ]
      : [rd("rs"), rd("mp", "f32"), ...(withLast ? [rd("dlc"), rd("dln")] : []), rw("da")]),
    `@group(0) @binding(${b++}) var<uniform> u: U;`,
  ];
  // Element (i, c) of the thread's tile: C row aTile·64 + ty·4 + i, vec4 column cTile·TC4 + tx + 16c.
  const cAt = (i: number, c: number) =>
    `(aTile * 64u + ty * 4u + ${i}u) * ${DV4}u + cTile * ${TC4}u + tx + ${16 * c}u`;
  const nAt = `aTile * 16u + ty`;
  const init = withStart
    ? [
      ...I.flatMap((i) =>
        range(NCC).map((c) => `  var acc${i}_${c} = ${initC}[bh * ${DQK * DV4}u + ${cAt(i, c)}];`)
      ),
      `  var nacc = ${initN}[bh * ${DQK / 4}u + ${nAt}];`,
    ]
    : [
      ...I.flatMap((i) => range(NCC).map((c) => `  var acc${i}_${c} = vec4f(0.0);`)),
      `  var nacc = vec4f(0.0);`,
    ];
  if (fwd) {
    init.push(`  var m = ${withInit && exp ? "m0[bh]" : "0.0"};`);
    if (withInit && !exp) init.push(`  _ = m0[0];`);
  }
  const store = (buf: string, base: string) => [
    ...I.flatMap((i) =>
      range(NCC).map((c) => `    ${buf}[${base} + ${cAt(i, c)}] = acc${i}_${c};`)
    ),
    `    if (cTile == 0u && tx == 0u) { ${buf}[${base} + ${DQK * DV4}u + ${nAt}] = nacc; }`,
  ];
  const mAt = chunkStateAddressing(DQK, DHV, savedStates).m;
  // The chunk: where its state (gradient) goes, its decay (and the forward's new stabilizer).
  // Forward: chunks in order, NC slots per head; reverse: backwards, NC + 1 slots.
  const loopHead = fwd
    ? `  if (wid.x == 0u && lid == 0u) { mp[lb * (u.NC + 1u)] = m; }
  for (var k = 0u; k < u.NC; k++) {
    let ob4 = (lb * u.NC + k) * ${E4}u;`
    : `  for (var kr = u.NC; kr > 0u; kr--) {
    let k = kr - 1u;
    let ob4 = (lb * (u.NC + 1u) + k) * ${E4}u;`;
  const decay = fwd
    ? (exp
      ? `let g = gl.x + gl.w;
    let mn = max(g + m, gl.z);
    let decay = exp(g + m - mn);`
      : `let mn = 0.0;\n    let decay = exp(gl.x + gl.w);`)
    : `let decay = ${
      exp ? `exp((gl.x + gl.w) + ${mAt("k")} - ${mAt("k + 1u")})` : "exp(gl.x + gl.w)"
    };`;
  const chunkHead = `${loopHead}
${store(out, "ob4").join("\n")}
    let segStart = k * u.L;
    let segEnd = min(u.S, segStart + u.L);
    let gl = gi[rowBase + segEnd - 1u];
    ${decay}`;
  const afterDecay = fwd
    ? `\n    m = mn;\n    if (wid.x == 0u && lid == 0u) { ${mAt("k + 1u")} = m; }`
    : "";
  // A row's weight(s): the forward's decay to the chunk's end, the reverse pass's row statistics.
  const weight = fwd
    ? `        var w = 0.0;
        if (jr < segEnd) {
          let gg = gi[rowBase + jr];
          w = exp(bdiff(gl, gg) + gg.y${exp ? " - mn" : ""});
        }`
    : `        var w = vec2f(0.0);
        if (jr < segEnd) {
          let rr = rs[rowBase + jr];
          w = u.scale * rr.w * rr.yz;
        }`;
  const tail = fwd
    ? (withLast
      ? `\n  {\n    let lbase = bh * ${E4}u;\n${store("clast", "lbase").join("\n")}\n  }`
      : "")
    : `\n  {\n    let ob4 = (lb * (u.NC + 1u) + u.NC) * ${E4}u;\n${
      store(out, "ob4").join("\n")
    }\n  }\n  _ = ${mAt("0u")};`;
  return `${enableF16(p.dtype)}${UNIFORMS}
${decl.join("\n")}
var<workgroup> wsh: array<${wT}, 64>;
var<workgroup> xs: array<vec4f, ${rows * 16}>;
var<workgroup> ys: array<vec4f, ${rows * TC4}>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let lb = wid.z;
  let bh = u.H0 + lb;
  let aTile = wid.x % ${DQK / 64}u;
  let cTile = wid.x / ${DQK / 64}u;
  let ty = lid / 16u;
  let tx = lid % 16u;
  let rowBase = bh * u.S;
${init.join("\n")}
${chunkHead}
${I.flatMap((i) => range(NCC).map((c) => `    acc${i}_${c} *= decay;`)).join("\n")}
    nacc *= decay;${afterDecay}
    for (var j0 = segStart; j0 < segEnd; j0 += 64u) {
      if (lid < 64u) {
        let jr = j0 + lid;
${weight}
        wsh[lid] = w;
      }
      workgroupBarrier();
${stagedOuterProducts(xn, yn, NCC, TC4, "      ", wX, wN, prefetch, rows)}
    }
  }${tail}
}
`;
}
