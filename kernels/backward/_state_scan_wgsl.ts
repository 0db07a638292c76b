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
import { type BwParams, matrix, UNIFORMS } from "./_wgsl.ts";

const range = (n: number) => Array.from({ length: n }, (_, j) => j);
const C = ["x", "y", "z", "w"];

/** Columns (DHV) of one {@linkcode stateScanWgsl} tile (as `outerBlockWgsl`'s). */
function tileCols(DHV: number): number {
  return DHV % 128 === 0 ? 128 : 64;
}

/** Workgroups of {@linkcode stateScanWgsl} per head. */
export function stateScanTiles(DQK: number, DHV: number): number {
  return (DQK / 64) * (DHV / tileCols(DHV));
}

/** Workgroup storage of {@linkcode stateScanWgsl} in bytes. */
export function stateScanSharedBytes(DHV: number): number {
  return 8 * 64 + 16 * 16 * 16 + 16 * 16 * (tileCols(DHV) / 4);
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
 * (withLast), da, uniforms. Grid: (stateScanTiles, 1, heads of the group).
 */
export function stateScanWgsl(
  p: BwParams,
  withInit: boolean,
  withLast: boolean,
  dir: "fwd" | "bwd" = "fwd",
): string {
  if (dir === "bwd") return reverseWgsl(p, withLast);
  const { DQK, DHV } = p;
  const exp = p.gate === "exp";
  const E4 = (DQK * DHV + DQK) / 4;
  const DV4 = DHV / 4;
  const TC = tileCols(DHV), NCC = TC / 64, TC4 = TC / 4;
  const I = range(4);
  let b = 0;
  const decl = [
    matrix("k", b++, DQK, p.dtype, "read", false),
    matrix("v", b++, DHV, p.dtype, "read", false),
    `@group(0) @binding(${b++}) var<storage, read> gi: array<vec4f>;`,
    ...(withInit
      ? [
        `@group(0) @binding(${b++}) var<storage, read> c0: array<vec4f>;`,
        `@group(0) @binding(${b++}) var<storage, read> n0: array<vec4f>;`,
        `@group(0) @binding(${b++}) var<storage, read> m0: array<f32>;`,
      ]
      : []),
    `@group(0) @binding(${b++}) var<storage, read_write> cprev: array<vec4f>;`,
    `@group(0) @binding(${b++}) var<storage, read_write> mp: array<f32>;`,
    ...(withLast
      ? [`@group(0) @binding(${b++}) var<storage, read_write> clast: array<vec4f>;`]
      : []),
    `@group(0) @binding(${b++}) var<uniform> u: U;`,
  ];
  // Element (i, c) of the thread's tile: C row aTile·64 + ty·4 + i, vec4 column cTile·TC4 + tx + 16c.
  const cAt = (i: number, c: number) =>
    `(aTile * 64u + ty * 4u + ${i}u) * ${DV4}u + cTile * ${TC4}u + tx + ${16 * c}u`;
  const nAt = `aTile * 16u + ty`;
  const init = withInit
    ? [
      ...I.flatMap((i) =>
        range(NCC).map((c) => `  var acc${i}_${c} = c0[bh * ${DQK * DV4}u + ${cAt(i, c)}];`)
      ),
      `  var nacc = n0[bh * ${DQK / 4}u + ${nAt}];`,
      `  var m = ${exp ? "m0[bh]" : "0.0"};`,
      exp ? "" : `  _ = m0[0];`,
    ]
    : [
      ...I.flatMap((i) => range(NCC).map((c) => `  var acc${i}_${c} = vec4f(0.0);`)),
      `  var nacc = vec4f(0.0);`,
      `  var m = 0.0;`,
    ];
  const store = (buf: string, base: string) => [
    ...I.flatMap((i) =>
      range(NCC).map((c) => `    ${buf}[${base} + ${cAt(i, c)}] = acc${i}_${c};`)
    ),
    `    if (cTile == 0u && tx == 0u) { ${buf}[${base} + ${DQK * DV4}u + ${nAt}] = nacc; }`,
  ];
  const inner: string[] = [];
  for (let j = 0; j < 16; j++) {
    inner.push(
      `        {\n          let a = xs[${j * 16}u + ty];\n          let wn = wsh[sub + ${j}u];`,
    );
    for (let c = 0; c < NCC; c++) {
      inner.push(`          let y${c} = ys[${j * TC4}u + tx + ${16 * c}u];`);
      for (const i of I) inner.push(`          acc${i}_${c} += a.${C[i]} * y${c};`);
    }
    inner.push(`          nacc += wn * a;\n        }`);
  }
  return `${enableF16(p.dtype)}${UNIFORMS}
${decl.join("\n")}
var<workgroup> wsh: array<f32, 64>;
var<workgroup> xs: array<vec4f, ${16 * 16}>;
var<workgroup> ys: array<vec4f, ${16 * TC4}>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let lb = wid.z;
  let bh = u.H0 + lb;
  let aTile = wid.x % ${DQK / 64}u;
  let cTile = wid.x / ${DQK / 64}u;
  let ty = lid / 16u;
  let tx = lid % 16u;
  let rowBase = bh * u.S;
${init.filter((l) => l !== "").join("\n")}
  if (wid.x == 0u && lid == 0u) { mp[lb * (u.NC + 1u)] = m; }
  for (var k = 0u; k < u.NC; k++) {
    let ob4 = (lb * u.NC + k) * ${E4}u;
${store("cprev", "ob4").join("\n")}
    let segStart = k * u.L;
    let segEnd = min(u.S, segStart + u.L);
    let gl = gi[rowBase + segEnd - 1u];
    ${
    exp
      ? `let g = gl.x + gl.w;
    let mn = max(g + m, gl.z);
    let decay = exp(g + m - mn);`
      : `let mn = 0.0;\n    let decay = exp(gl.x + gl.w);`
  }
${I.flatMap((i) => range(NCC).map((c) => `    acc${i}_${c} *= decay;`)).join("\n")}
    nacc *= decay;
    m = mn;
    if (wid.x == 0u && lid == 0u) { mp[lb * (u.NC + 1u) + k + 1u] = m; }
    for (var j0 = segStart; j0 < segEnd; j0 += 64u) {
      if (lid < 64u) {
        let jr = j0 + lid;
        var w = 0.0;
        if (jr < segEnd) {
          let gg = gi[rowBase + jr];
          w = exp(bdiff(gl, gg) + gg.y${exp ? " - mn" : ""});
        }
        wsh[lid] = w;
      }
      workgroupBarrier();
      for (var sub = 0u; sub < 64u; sub += 16u) {
        {
          let r = lid / 16u;
          let row = rowBase + min(j0 + sub + r, segEnd - 1u);
          xs[lid] = ld_k(row, aTile * 16u + lid % 16u);
${
    range(NCC).map((c) =>
      `          ys[r * ${TC4}u + tx + ${
        16 * c
      }u] = wsh[sub + r] * ld_v(row, cTile * ${TC4}u + tx + ${16 * c}u);`
    ).join("\n")
  }
        }
        workgroupBarrier();
${inner.join("\n")}
        workgroupBarrier();
      }
    }
  }${
    withLast
      ? `
  {
    let lbase = bh * ${E4}u;
${store("clast", "lbase").join("\n")}
  }`
      : ""
  }
}
`;
}

/** The reverse pass of {@linkcode stateScanWgsl} (outer "dstate" products + scan "bwd"). */
function reverseWgsl(p: BwParams, withLast: boolean): string {
  const { DQK, DHV } = p;
  const exp = p.gate === "exp";
  const E4 = (DQK * DHV + DQK) / 4;
  const DV4 = DHV / 4;
  const TC = tileCols(DHV), NCC = TC / 64, TC4 = TC / 4;
  const I = range(4);
  let b = 0;
  const decl = [
    matrix("q", b++, DQK, p.dtype, "read", false),
    matrix("dh", b++, DHV, p.dtype, "read", false),
    `@group(0) @binding(${b++}) var<storage, read> gi: array<vec4f>;`,
    `@group(0) @binding(${b++}) var<storage, read> rs: array<vec4f>;`,
    `@group(0) @binding(${b++}) var<storage, read> mp: array<f32>;`,
    ...(withLast
      ? [
        `@group(0) @binding(${b++}) var<storage, read> dlc: array<vec4f>;`,
        `@group(0) @binding(${b++}) var<storage, read> dln: array<vec4f>;`,
      ]
      : []),
    `@group(0) @binding(${b++}) var<storage, read_write> da: array<vec4f>;`,
    `@group(0) @binding(${b++}) var<uniform> u: U;`,
  ];
  const cAt = (i: number, c: number) =>
    `(aTile * 64u + ty * 4u + ${i}u) * ${DV4}u + cTile * ${TC4}u + tx + ${16 * c}u`;
  const nAt = `aTile * 16u + ty`;
  const init = withLast
    ? [
      ...I.flatMap((i) =>
        range(NCC).map((c) => `  var acc${i}_${c} = dlc[bh * ${DQK * DV4}u + ${cAt(i, c)}];`)
      ),
      `  var nacc = dln[bh * ${DQK / 4}u + ${nAt}];`,
    ]
    : [
      ...I.flatMap((i) => range(NCC).map((c) => `  var acc${i}_${c} = vec4f(0.0);`)),
      `  var nacc = vec4f(0.0);`,
    ];
  const store = (base: string) => [
    ...I.flatMap((i) => range(NCC).map((c) => `    da[${base} + ${cAt(i, c)}] = acc${i}_${c};`)),
    `    if (cTile == 0u && tx == 0u) { da[${base} + ${DQK * DV4}u + ${nAt}] = nacc; }`,
  ];
  const inner: string[] = [];
  for (let j = 0; j < 16; j++) {
    inner.push(
      `        {\n          let a = xs[${j * 16}u + ty];\n          let wn = wsh[sub + ${j}u].y;`,
    );
    for (let c = 0; c < NCC; c++) {
      inner.push(`          let y${c} = ys[${j * TC4}u + tx + ${16 * c}u];`);
      for (const i of I) inner.push(`          acc${i}_${c} += a.${C[i]} * y${c};`);
    }
    inner.push(`          nacc += wn * a;\n        }`);
  }
  const mAt = (k: string) => `mp[lb * (u.NC + 1u) + ${k}]`;
  return `${enableF16(p.dtype)}${UNIFORMS}
${decl.join("\n")}
var<workgroup> wsh: array<vec2f, 64>;
var<workgroup> xs: array<vec4f, ${16 * 16}>;
var<workgroup> ys: array<vec4f, ${16 * TC4}>;
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
  for (var kr = u.NC; kr > 0u; kr--) {
    let k = kr - 1u;
    let ob4 = (lb * (u.NC + 1u) + k) * ${E4}u;
${store("ob4").join("\n")}
    let segStart = k * u.L;
    let segEnd = min(u.S, segStart + u.L);
    let gl = gi[rowBase + segEnd - 1u];
    let decay = ${exp ? `exp((gl.x + gl.w) + ${mAt("k")} - ${mAt("k + 1u")})` : "exp(gl.x + gl.w)"};
${I.flatMap((i) => range(NCC).map((c) => `    acc${i}_${c} *= decay;`)).join("\n")}
    nacc *= decay;
    for (var j0 = segStart; j0 < segEnd; j0 += 64u) {
      if (lid < 64u) {
        let jr = j0 + lid;
        var w = vec2f(0.0);
        if (jr < segEnd) {
          let rr = rs[rowBase + jr];
          w = u.scale * rr.w * rr.yz;
        }
        wsh[lid] = w;
      }
      workgroupBarrier();
      for (var sub = 0u; sub < 64u; sub += 16u) {
        {
          let r = lid / 16u;
          let row = rowBase + min(j0 + sub + r, segEnd - 1u);
          xs[lid] = ld_q(row, aTile * 16u + lid % 16u);
${
    range(NCC).map((c) =>
      `          ys[r * ${TC4}u + tx + ${
        16 * c
      }u] = wsh[sub + r].x * ld_dh(row, cTile * ${TC4}u + tx + ${16 * c}u);`
    ).join("\n")
  }
        }
        workgroupBarrier();
${inner.join("\n")}
        workgroupBarrier();
      }
    }
  }
  {
    let ob4 = (lb * (u.NC + 1u) + u.NC) * ${E4}u;
${store("ob4").join("\n")}
  }
  _ = ${mAt("0u")};
}
`;
}
