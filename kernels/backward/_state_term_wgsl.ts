// The rows' chunk-state product of the chunkwise backward as its own batched GEMM (issue #14):
// U = dh·Cᵀ, for every chunk its rows' dh (L × DHV) times the transposed state before the chunk
// (C: DQK × DHV), written into dq's f32 buffer. The fused stats + dq kernel (`blockWgsl` option
// `stateTermIn`) reads its rows of U there instead of forming the product, and later overwrites
// them with dq. Inside the fused kernel the product ran at 4 × 8 outputs per thread with the whole
// kernel's register count (224 on an H100: one workgroup per SM); alone it needs a fraction of
// that, and at 8 rows per thread it issues 4 FMAs per staged float instead of 2.7.
//
// A workgroup owns 64 rows of one chunk of one head: 16 × (64 / TM) threads, each TM rows × DQK/16
// columns (vec4 columns tx + 16·c, the fused kernel's layout). The reduction over DHV is staged
// BK columns at a time into one half of a double buffer (dh's rows and C's rows transposed: vec4
// over 4 rows per reduction index), the next step's operands loaded into registers before the
// current step's products, one barrier per step.

import { enableF16 } from "../_common.ts";
import { type BwParams, chunkStateAddressing, matrix, UNIFORMS } from "./_wgsl.ts";

const range = (n: number) => Array.from({ length: n }, (_, j) => j);
const C = ["x", "y", "z", "w"];

/** Tiles of {@linkcode stateTermWgsl}. */
export interface StateTermTiles {
  /** Rows per thread: 4 (256 threads) or 8 (128 threads; DQK ≤ 128). */
  TM: 4 | 8;
  /** Reduction (DHV) columns staged per step: 16 or 32. */
  BK: 16 | 32;
}

/** Default tiles of {@linkcode stateTermWgsl}: 8 rows per thread where DQK ≤ 128, 16 deep. */
export function stateTermTiles(DQK: number): StateTermTiles {
  return { TM: DQK <= 128 ? 8 : 4, BK: 16 };
}

/** Threads of one {@linkcode stateTermWgsl} workgroup. */
export function stateTermThreads(t: StateTermTiles): number {
  return 16 * (64 / t.TM);
}

/** Workgroup storage of {@linkcode stateTermWgsl} in bytes (two halves). */
export function stateTermSharedBytes(DQK: number, t: StateTermTiles): number {
  return 2 * 16 * t.BK * (16 + DQK / 4);
}

/**
 * The state term's GEMM (DQK, DHV multiples of 64). Bindings: dh, st (the states before every
 * chunk: recomputed `cprev` or, with `savedStates`, the forward's `statesC`; see
 * `chunkStateAddressing`), dq (f32, written: U at the chunk's rows), uniforms. Grid: (64-row tiles
 * per chunk, NC, heads of the group).
 */
export function stateTermWgsl(
  p: BwParams,
  savedStates: boolean,
  tiles: StateTermTiles = stateTermTiles(p.DQK),
): string {
  const { DQK, DHV, dtype } = p;
  const { TM, BK } = tiles;
  if (DQK % 64 !== 0 || DHV % 64 !== 0) {
    throw new RangeError(`stateTermWgsl: DQK and DHV must be multiples of 64 (${DQK}, ${DHV})`);
  }
  if ((TM !== 4 && TM !== 8) || (BK !== 16 && BK !== 32) || (TM === 8 && DQK > 128)) {
    throw new RangeError(`stateTermWgsl: TM 4 or 8 (8 needs DQK ≤ 128), BK 16 or 32: ${TM}, ${BK}`);
  }
  const T = stateTermThreads(tiles);
  const DQ4 = DQK / 4, DV4 = DHV / 4, BK4 = BK / 4, NO = DQK / 64, G = TM / 4;
  const at = chunkStateAddressing(DQK, DHV, savedStates);
  // Staging pairs (4 rows × one vec4 of the reduction): dh's 16·BK4, then C's DQ4·BK4; the row
  // group varies fastest, so that consecutive threads store consecutive vec4s.
  const NA = 16 * BK4, NP = NA + DQ4 * BK4, NPT = Math.ceil(NP / T);
  const HALF = 16 * BK + DQ4 * BK; // vec4 per half: dh's BK × 16, C's BK × DQ4
  const pairs = range(NPT).map((n) => ({ n, id: n * T }));
  const load = (k0: string) =>
    pairs.flatMap(({ n, id }) => {
      const L: string[] = [];
      const any = (lo: number, hi: number) => id < hi && id + T > lo; // some thread's id in [lo, hi)
      if (any(0, NA)) {
        L.push(
          `  if (lid + ${id}u < ${NA}u) {`,
          `    let rg = (lid + ${id}u) % 16u;`,
          `    let cg = (lid + ${id}u) / 16u;`,
          ...range(4).map((i) =>
            `    p${n}_${i} = ld_dh(rowBase + min(tileFirst + rg * 4u + ${i}u, segEnd - 1u), ${k0} + cg);`
          ),
          `  }`,
        );
      }
      if (any(NA, NP)) {
        L.push(
          `  ${any(0, NA) ? "else " : ""}if (lid + ${id}u < ${NP}u) {`,
          `    let j = lid + ${id}u - ${NA}u;`,
          `    let og = j % ${DQ4}u;`,
          `    let cg = j / ${DQ4}u;`,
          ...range(4).map((i) =>
            `    p${n}_${i} = st[sb4 + (og * 4u + ${i}u) * ${DV4}u + ${k0} + cg];`
          ),
          `  }`,
        );
      }
      return L;
    });
  const store = pairs.flatMap(({ n, id }) => {
    const vec = (c: number) => `vec4f(${range(4).map((i) => `p${n}_${i}.${C[c]}`).join(", ")})`;
    const L: string[] = [];
    if (id < NA) {
      L.push(
        `  if (lid + ${id}u < ${NA}u) {`,
        `    let rg = (lid + ${id}u) % 16u;`,
        `    let cg = (lid + ${id}u) / 16u;`,
        ...range(4).map((c) => `    stg[hb + (cg * 4u + ${c}u) * 16u + rg] = ${vec(c)};`),
        `  }`,
      );
    }
    if (id + T > NA && id < NP) {
      L.push(
        `  ${id < NA ? "else " : ""}if (lid + ${id}u < ${NP}u) {`,
        `    let j = lid + ${id}u - ${NA}u;`,
        `    let og = j % ${DQ4}u;`,
        `    let cg = j / ${DQ4}u;`,
        ...range(4).map((c) =>
          `    stg[hb + ${16 * BK}u + (cg * 4u + ${c}u) * ${DQ4}u + og] = ${vec(c)};`
        ),
        `  }`,
      );
    }
    return L;
  });
  const products: string[] = [];
  for (let kk = 0; kk < BK; kk++) {
    products.push(`    {`);
    for (let g = 0; g < G; g++) {
      products.push(
        `      let a${g} = stg[hb + ${kk * 16}u + ty${G > 1 ? ` * ${G}u + ${g}u` : ""}];`,
      );
    }
    for (let c = 0; c < NO; c++) {
      products.push(`      let b${c} = stg[hb + ${16 * BK + kk * DQ4}u + tx + ${16 * c}u];`);
      for (let r = 0; r < TM; r++) {
        products.push(`      acc${r}_${c} += a${r >> 2}.${C[r & 3]} * b${c};`);
      }
    }
    products.push(`    }`);
  }
  const accs = range(TM).flatMap((r) => range(NO).map((c) => `  var acc${r}_${c} = vec4f(0.0);`));
  const regs = pairs.flatMap(({ n }) => range(4).map((i) => `  var p${n}_${i} = vec4f(0.0);`));
  const stores = range(TM).flatMap((r) => [
    `  if (tileFirst + ty * ${TM}u + ${r}u < segEnd) {`,
    ...range(NO).map((c) =>
      `    st_dq(rowBase + tileFirst + ty * ${TM}u + ${r}u, tx + ${16 * c}u, acc${r}_${c});`
    ),
    `  }`,
  ]);
  return `${enableF16(dtype)}${UNIFORMS}
${matrix("dh", 0, DHV, dtype, "read", false)}
@group(0) @binding(1) var<storage, read> st: array<vec4f>;
${matrix("dq", 2, DQK, "f32", "read_write", false)}
@group(0) @binding(3) var<uniform> u: U;
var<workgroup> stg: array<vec4f, ${2 * HALF}>;
@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let seg = wid.y;
  let lb = wid.z;
  let bh = u.H0 + lb;
  let ty = lid / 16u;
  let tx = lid % 16u;
  let segStart = seg * u.L;
  let segEnd = min(u.S, segStart + u.L);
  let tileFirst = segStart + wid.x * 64u;
  let rowBase = bh * u.S;
  let sb4 = ${at.cSlot4("seg")};
${accs.join("\n")}
${regs.join("\n")}
${load("0u").join("\n")}
  for (var k0 = 0u; k0 < ${DV4}u; k0 += ${BK4}u) {
    // Double buffering: step n's half is free once every thread passed step n − 1's barrier,
    // which it reaches only after step n − 2's products (the last reads of that half).
    let hb = ((k0 / ${BK4}u) % 2u) * ${HALF}u;
${store.map((l) => "  " + l).join("\n")}
    workgroupBarrier();
    if (k0 + ${BK4}u < ${DV4}u) {
${load(`k0 + ${BK4}u`).map((l) => "    " + l).join("\n")}
    }
${products.join("\n")}
  }
${stores.join("\n")}
}
`;
}
